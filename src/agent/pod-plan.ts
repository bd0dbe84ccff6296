/**
 * What to do to bring one pod's containers to its spec: the kubelet's `computePodActions`,
 * as a pure function. It reads the pod, what the runtime has for it, the liveness verdicts and
 * the back-off, and answers a plan; the agent carries the plan out and asks again.
 *
 * Rules, as Kubernetes has them:
 * - no ready sandbox: make one and start every container that should run (a pod that is done —
 *   every container exited and not to be restarted — gets no new sandbox);
 * - a container never created starts at attempt 0; one that exited starts again at attempt+1
 *   when the restart policy says so (Always; OnFailure after a failure), unless its back-off
 *   has not expired (then it waits as CrashLoopBackOff);
 * - a running container whose liveness probe failed, or whose image changed, is killed (and
 *   restarted by the rule above);
 * - exited containers beyond the two latest attempts of a name are removed, old sandboxes too.
 */

import type { KubeObject } from '../store/types.js'
import type { Backoff } from './backoff.js'
import { podSpec } from './pod-spec.js'
import type { ContainerStatus, SandboxStatus } from './runtime.js'

/** Why a container is not running now, for its `state.waiting`. */
export interface Waiting {
  reason: string
  message?: string
}

export interface PlanInput {
  pod: KubeObject
  /** This pod's sandboxes, any state. */
  sandboxes: SandboxStatus[]
  /** This pod's containers, any state, any sandbox. */
  containers: ContainerStatus[]
  /** Ids of running containers whose liveness probe failed. */
  livenessFailed: ReadonlySet<string>
  backoff: Backoff
  nowMs: number
}

export interface PodPlan {
  /** Make a new sandbox (its containers are then started into it). */
  createSandbox: boolean
  /** Sandboxes to stop (the pod is done, or they are stale). */
  stopSandboxes: string[]
  /** Containers to start, by name, with the attempt number to give them. */
  start: { name: string; attempt: number; restart: boolean }[]
  /** Running containers to kill, and why (for events and logs). */
  kill: { id: string; name: string; reason: string; message: string }[]
  /** Exited or never-started containers to remove. */
  removeContainers: string[]
  /** Stopped sandboxes to remove (with whatever is left in them). */
  removeSandboxes: string[]
  /** Containers waiting for their back-off. */
  waiting: Map<string, Waiting>
  /** When the plan should be made again (a back-off expires), if any. */
  retryAtMs?: number
}

/** The key of a container's restart back-off. */
export function restartBackoffKey(podUid: string, name: string): string {
  return `${podUid}/${name}`
}

function latestFirst(a: ContainerStatus, b: ContainerStatus): number {
  return b.attempt - a.attempt || b.createdAtMs - a.createdAtMs
}

/** Whether a container that ended with `exitCode` runs again under `policy`. */
export function shouldRestart(policy: string | undefined, exitCode: number | undefined): boolean {
  if (policy === 'Never') return false
  if (policy === 'OnFailure') return exitCode !== 0
  return true
}

/** The containers of a pod by name, latest attempt first. */
export function containersByName(containers: ContainerStatus[]): Map<string, ContainerStatus[]> {
  const byName = new Map<string, ContainerStatus[]>()
  for (const c of containers) {
    const list = byName.get(c.name) ?? []
    list.push(c)
    byName.set(c.name, list)
  }
  for (const list of byName.values()) list.sort(latestFirst)
  return byName
}

/** The sandbox a pod uses now: its newest ready one. */
export function currentSandbox(sandboxes: SandboxStatus[]): SandboxStatus | undefined {
  return sandboxes.filter((s) => s.state === 'ready').sort((a, b) => b.createdAtMs - a.createdAtMs)[0]
}

/** Whether every container has exited and none is to run again: the pod is done. */
export function podIsDone(pod: KubeObject, containers: ContainerStatus[]): boolean {
  const spec = podSpec(pod)
  const byName = containersByName(containers)
  return spec.containers.every((c) => {
    const latest = byName.get(c.name)?.[0]
    return latest?.state === 'exited' && !shouldRestart(spec.restartPolicy, latest.exitCode)
  })
}

export function planPod(input: PlanInput): PodPlan {
  const { pod, nowMs } = input
  const spec = podSpec(pod)
  const uid = pod.metadata.uid ?? ''
  const plan: PodPlan = {
    createSandbox: false,
    stopSandboxes: [],
    start: [],
    kill: [],
    removeContainers: [],
    removeSandboxes: [],
    waiting: new Map(),
  }
  const newest = [...input.sandboxes].sort((a, b) => b.createdAtMs - a.createdAtMs)[0]
  const sandbox = newest?.state === 'ready' ? newest : undefined
  const byName = containersByName(input.containers)
  const specNames = new Set(spec.containers.map((c) => c.name))
  // A pod the store already calls Succeeded or Failed never runs again, whatever is left of it.
  const phase = (pod.status as { phase?: string } | undefined)?.phase
  const done = phase === 'Succeeded' || phase === 'Failed' || podIsDone(pod, input.containers)

  // Older sandboxes go, with their containers (stopped first if still up). The newest stays,
  // even stopped: a finished pod keeps its containers for their logs and exit codes.
  for (const s of input.sandboxes) {
    if (s.id === newest?.id) continue
    if (s.state === 'ready') plan.stopSandboxes.push(s.id)
    plan.removeSandboxes.push(s.id)
  }

  if (!sandbox) {
    if (done) return withGc(plan, byName, specNames)
    // A new sandbox: whatever still runs belongs to a dead network and is killed; every
    // container that should run starts in the new one, without waiting for back-off (as the
    // kubelet does when it recreates a sandbox).
    plan.createSandbox = true
    for (const c of input.containers) {
      if (c.state === 'running')
        plan.kill.push({
          id: c.id,
          name: c.name,
          reason: 'SandboxChanged',
          message: 'Pod sandbox changed, it will be killed and re-created.',
        })
    }
    for (const c of spec.containers) {
      const latest = byName.get(c.name)?.[0]
      if (!latest) plan.start.push({ name: c.name, attempt: 0, restart: false })
      else if (latest.state !== 'exited' || shouldRestart(spec.restartPolicy, latest.exitCode))
        plan.start.push({ name: c.name, attempt: latest.attempt + 1, restart: true })
    }
    return withGc(plan, byName, specNames)
  }

  if (done) {
    if (sandbox.state === 'ready') plan.stopSandboxes.push(sandbox.id)
    return withGc(plan, byName, specNames)
  }

  for (const c of spec.containers) {
    const all = byName.get(c.name) ?? []
    // Only this sandbox's containers count; the others went with their sandbox.
    const latest = all[0]
    if (!latest) {
      plan.start.push({ name: c.name, attempt: 0, restart: false })
      continue
    }
    switch (latest.state) {
      case 'created':
      case 'unknown':
        // Made but never started (the agent died in between, or start failed): start afresh.
        plan.removeContainers.push(latest.id)
        plan.start.push({ name: c.name, attempt: latest.attempt, restart: false })
        break
      case 'running':
        if (input.livenessFailed.has(latest.id)) {
          plan.kill.push({
            id: latest.id,
            name: c.name,
            reason: 'Unhealthy',
            message: `Container ${c.name} failed liveness probe, will be restarted`,
          })
        } else if (latest.image !== c.image) {
          plan.kill.push({
            id: latest.id,
            name: c.name,
            reason: 'Killing',
            message: `Container ${c.name} definition changed, will be restarted`,
          })
        }
        break
      case 'exited': {
        if (!shouldRestart(spec.restartPolicy, latest.exitCode)) break
        const key = restartBackoffKey(uid, c.name)
        const retryAt = input.backoff.retryAtMs(key, latest.finishedAtMs ?? nowMs)
        if (nowMs < retryAt) {
          const delayS = Math.round(input.backoff.delayMs(key) / 1000)
          plan.waiting.set(c.name, {
            reason: 'CrashLoopBackOff',
            message: `back-off ${delayS}s restarting failed container=${c.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${uid})`,
          })
          plan.retryAtMs = Math.min(plan.retryAtMs ?? Number.POSITIVE_INFINITY, retryAt)
        } else {
          plan.start.push({ name: c.name, attempt: latest.attempt + 1, restart: true })
        }
        break
      }
    }
  }
  return withGc(plan, byName, specNames)
}

/** Adds the removal of old attempts (two kept per name) and of containers no longer in the spec. */
function withGc(plan: PodPlan, byName: Map<string, ContainerStatus[]>, specNames: Set<string>): PodPlan {
  const removing = new Set(plan.removeContainers)
  for (const [name, list] of byName) {
    const keep = specNames.has(name) ? 2 : 0
    list.forEach((c, i) => {
      if (i < keep || removing.has(c.id)) return
      if (c.state === 'running') {
        if (!plan.kill.some((k) => k.id === c.id))
          plan.kill.push({
            id: c.id,
            name,
            reason: 'Killing',
            message: `Container ${name} is not in the pod's spec`,
          })
      } else {
        plan.removeContainers.push(c.id)
        removing.add(c.id)
      }
    })
  }
  return plan
}

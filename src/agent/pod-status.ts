/**
 * A pod's status as its node reports it, computed from the runtime's view: the kubelet's
 * `generateAPIPodStatus` and `getPhase`, as a pure function.
 *
 * Phase: Pending while a container waits without having run; Running while one runs (or all
 * exited and will restart); Succeeded when all exited 0 and none restarts; Failed when all
 * exited, at least one failed, and none restarts. Conditions PodScheduled, Initialized,
 * ContainersReady and Ready keep their lastTransitionTime while their status holds.
 */

import type { KubeObject } from '../store/types.js'
import { isoSeconds } from '../util/clock.js'
import { containersByName, currentSandbox, type Waiting } from './pod-plan.js'
import {
  type ContainerStateView,
  type ContainerStatusView,
  type PodCondition,
  type PodStatusView,
  podSpec,
  podStatus,
} from './pod-spec.js'
import type { ContainerStatus, SandboxStatus } from './runtime.js'

export interface StatusInput {
  pod: KubeObject
  sandboxes: SandboxStatus[]
  containers: ContainerStatus[]
  /** Why containers that do not run are waiting (image pulls, back-off, create errors). */
  waiting: ReadonlyMap<string, Waiting>
  /** Readiness verdicts by container id (absent: no verdict yet). */
  readiness: ReadonlyMap<string, boolean>
  hostIP: string
  /** The IP the pod's sandbox last had (kept when it stops: a finished pod shows it still). */
  lastPodIP?: string
  /** The runtime's name, the scheme of containerID (`docker://…`). */
  runtimeName: string
  nowMs: number
}

function terminated(c: ContainerStatus, runtimeName: string): ContainerStateView {
  const t: NonNullable<ContainerStateView['terminated']> = {
    exitCode: c.exitCode ?? 137,
    reason: c.reason ?? (c.exitCode === 0 ? 'Completed' : 'Error'),
    containerID: `${runtimeName}://${c.id}`,
  }
  if (c.exitCode !== undefined && c.exitCode > 128 && c.exitCode < 160) t.signal = c.exitCode - 128
  if (c.message) t.message = c.message
  if (c.startedAtMs !== undefined) t.startedAt = isoSeconds(c.startedAtMs)
  if (c.finishedAtMs !== undefined) t.finishedAt = isoSeconds(c.finishedAtMs)
  return { terminated: t }
}

/** Kubernetes' QoS class of a pod, from its containers' requests and limits. */
export function qosClass(pod: KubeObject): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const containers = podSpec(pod).containers
  let any = false
  let guaranteed = true
  for (const c of containers) {
    const limits = c.resources?.limits ?? {}
    const requests = { ...limits, ...(c.resources?.requests ?? {}) }
    if (Object.keys(limits).length > 0 || Object.keys(c.resources?.requests ?? {}).length > 0) any = true
    for (const r of ['cpu', 'memory']) {
      if (limits[r] === undefined || requests[r] !== limits[r]) guaranteed = false
    }
  }
  if (!any) return 'BestEffort'
  return guaranteed ? 'Guaranteed' : 'Burstable'
}

export function computePodStatus(input: StatusInput): PodStatusView {
  const { pod, runtimeName, nowMs } = input
  const spec = podSpec(pod)
  const old = podStatus(pod)
  const sandbox =
    currentSandbox(input.sandboxes) ?? [...input.sandboxes].sort((a, b) => b.createdAtMs - a.createdAtMs)[0]
  const byName = containersByName(input.containers)

  const statuses: ContainerStatusView[] = spec.containers.map((c) => {
    const [latest, previous] = byName.get(c.name) ?? []
    const waiting = input.waiting.get(c.name)
    const view: ContainerStatusView = {
      name: c.name,
      state: {},
      lastState: {},
      ready: false,
      restartCount: latest?.attempt ?? 0,
      image: c.image,
      imageID: latest?.imageId ?? '',
      started: false,
    }
    if (latest) view.containerID = `${runtimeName}://${latest.id}`
    if (latest?.state === 'running') {
      view.state = { running: { startedAt: isoSeconds(latest.startedAtMs ?? latest.createdAtMs) } }
      view.started = true
      const probe = input.readiness.get(latest.id)
      view.ready = c.readinessProbe ? probe === true : true
      if (previous?.state === 'exited') view.lastState = terminated(previous, runtimeName)
    } else if (latest?.state === 'exited') {
      if (waiting) {
        view.state = {
          waiting: { reason: waiting.reason, ...(waiting.message ? { message: waiting.message } : {}) },
        }
        view.lastState = terminated(latest, runtimeName)
      } else {
        view.state = terminated(latest, runtimeName)
        if (previous?.state === 'exited') view.lastState = terminated(previous, runtimeName)
      }
    } else {
      const w = waiting ?? { reason: 'ContainerCreating' }
      view.state = { waiting: { reason: w.reason, ...(w.message ? { message: w.message } : {}) } }
      const lastExited = (byName.get(c.name) ?? []).find((x) => x.state === 'exited')
      if (lastExited) view.lastState = terminated(lastExited, runtimeName)
    }
    return view
  })

  const phase = podPhase(spec.restartPolicy, statuses)
  const allReady = statuses.length > 0 && statuses.every((s) => s.ready)
  const notReady = statuses.filter((s) => !s.ready).map((s) => s.name)
  const nowIso = isoSeconds(nowMs)
  const condition = (type: string, ok: boolean, reason?: string, message?: string): PodCondition => {
    const prev = (old.conditions ?? []).find((x) => x.type === type)
    const status = ok ? 'True' : 'False'
    const c: PodCondition = {
      type,
      status,
      lastProbeTime: null,
      lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : nowIso,
    }
    if (!ok && reason) c.reason = reason
    if (!ok && message) c.message = message
    return c
  }
  const finished = phase === 'Succeeded' || phase === 'Failed'
  const unreadyReason = finished ? 'PodCompleted' : 'ContainersNotReady'
  const unreadyMessage = finished ? undefined : `containers with unready status: [${notReady.join(' ')}]`
  const conditions = [
    condition('Initialized', true),
    condition('Ready', allReady, unreadyReason, unreadyMessage),
    condition('ContainersReady', allReady, unreadyReason, unreadyMessage),
    condition('PodScheduled', true),
  ]

  const status: PodStatusView = {
    phase,
    conditions,
    hostIP: input.hostIP,
    hostIPs: [{ ip: input.hostIP }],
    startTime: old.startTime ?? nowIso,
    containerStatuses: statuses,
    qosClass: qosClass(pod),
  }
  // A finished pod keeps the IP it had (its sandbox is stopped), as Kubernetes shows it.
  const ip = (sandbox?.state === 'ready' && sandbox.ip) || input.lastPodIP || old.podIP
  if (ip) {
    status.podIP = ip
    status.podIPs = [{ ip }]
  }
  return status
}

/** The kubelet's getPhase, for pods without init containers. */
export function podPhase(
  restartPolicy: string | undefined,
  statuses: ContainerStatusView[],
): PodStatusView['phase'] {
  let running = 0
  let waiting = 0
  let stopped = 0
  let succeeded = 0
  for (const s of statuses) {
    if (s.state.running) running++
    else if (s.state.terminated) {
      stopped++
      if (s.state.terminated.exitCode === 0) succeeded++
    } else if (s.state.waiting) {
      if (s.lastState.terminated) stopped++
      else waiting++
    }
  }
  if (waiting > 0) return 'Pending'
  if (running > 0) return 'Running'
  if (stopped > 0 && stopped === statuses.length) {
    if (restartPolicy === 'Always') return 'Running'
    if (stopped === succeeded) return 'Succeeded'
    if (restartPolicy === 'Never') return 'Failed'
    // OnFailure with a failure: the failed containers restart.
    return 'Running'
  }
  return 'Pending'
}

/**
 * `shoal rolling-update OLD -f NEW.yaml`: replace a replication controller's pods with a new
 * controller's, a pod at a time, as kubectl's rolling-update did (pkg/kubectl/rolling_updater.go,
 * with its defaults maxSurge 1 and maxUnavailable 0): create NEW at 0 replicas (or resume it
 * when it exists from an interrupted update of OLD), then in turns scale NEW up — never more
 * than desired + 1 pods in all — wait for its pods to be ready, sleep --update-period, and scale
 * OLD down as far as keeping `desired` pods available allows; finally delete OLD.
 *
 * The algorithm is `rollingUpdate(io, plan)`, on an injected `RollingUpdateIo` (the API and
 * a clock), so tests run it against a fake; the command is its HTTP shell.
 */

import { setTimeout as sleep } from 'node:timers/promises'
import { Option } from 'clipanion'
import type { KubeObject } from '../src/store/types.js'
import { type Clock, SystemClock } from '../src/util/clock.js'
import { placeManifest, readAllStdin, readManifests } from './manifests.js'
import { ResourceCommand } from './resource-command.js'
import { lookupType, resourcePath } from './resources.js'
import { CommandUsageError } from './shoal-command.js'

/** Annotations kubectl uses to resume an interrupted update (kept for compatibility). */
export const DESIRED_REPLICAS_ANNOTATION = 'kubectl.kubernetes.io/desired-replicas'
export const SOURCE_ID_ANNOTATION = 'kubectl.kubernetes.io/update-source-id'
export const ORIGINAL_REPLICAS_ANNOTATION = 'kubectl.kubernetes.io/original-replicas'

/** Pods over `desired` allowed during the update. */
export const MAX_SURGE = 1
/** Pods under `desired` allowed to be unavailable during the update. */
export const MAX_UNAVAILABLE = 0

/** The update could not go on (exit 1). */
export class RollingUpdateError extends Error {
  override name = 'RollingUpdateError'
}

/**
 * A Go duration (`1m0s`, `3s`, `500ms`, `1h30m`, `0`) in milliseconds, as kubectl's flags take
 * them; anything else is a usage error naming the flag.
 */
export function parseGoDuration(flag: string, value: string): number {
  if (value === '0') return 0
  const units: Record<string, number> = {
    h: 3_600_000,
    m: 60_000,
    s: 1000,
    ms: 1,
    us: 0.001,
    µs: 0.001,
    ns: 1e-6,
  }
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/y
  let total = 0
  let at = 0
  while (at < value.length) {
    re.lastIndex = at
    const m = re.exec(value)
    if (!m) break
    total += Number(m[1]) * units[m[2]!]!
    at = re.lastIndex
  }
  if (value === '' || at !== value.length)
    throw new CommandUsageError(`${flag} ${value}: expected a duration like 1m0s, 3s or 500ms`)
  return Math.round(total)
}

function specOf(rc: KubeObject): { replicas?: number; selector?: Record<string, string> } {
  return (rc.spec ?? {}) as { replicas?: number; selector?: Record<string, string> }
}

/** spec.replicas, 1 when unset (the store's default). */
function replicasOf(rc: KubeObject): number {
  const n = specOf(rc).replicas
  return typeof n === 'number' ? n : 1
}

/** The selector a new RC will have: its own, else its template's labels (the store's default). */
function selectorOf(rc: KubeObject): Record<string, string> {
  const own = specOf(rc).selector
  if (own && Object.keys(own).length > 0) return own
  const template = (rc.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)
    ?.template
  return template?.metadata?.labels ?? {}
}

/**
 * Checks NEW may replace OLD (kubectl's rules): a different name, and a selector with some key
 * of OLD's selector at a different value, so the two never select each other's pods.
 * Throws CommandUsageError.
 */
export function checkReplacement(oldRc: KubeObject, newRc: KubeObject, source: string): void {
  if (newRc.kind !== 'ReplicationController')
    throw new CommandUsageError(`${source} contains a ${newRc.kind} not a ReplicationController`)
  const oldName = oldRc.metadata.name
  if (newRc.metadata.name === oldName)
    throw new CommandUsageError(
      `${source} cannot have the same name as the existing ReplicationController ${oldName}`,
    )
  const next = selectorOf(newRc)
  const differs = Object.entries(specOf(oldRc).selector ?? {}).some(
    ([k, v]) => next[k] !== undefined && next[k] !== v,
  )
  if (!differs)
    throw new CommandUsageError(
      `${source} must specify a matching key with non-equal value in Selector for ${oldName}`,
    )
}

/** Where an update stands: the replicas of both controllers. */
export interface UpdateCounts {
  oldReplicas: number
  newReplicas: number
  /** What NEW ends at. */
  desired: number
}

/** The pods that must stay available: desired − maxUnavailable (0 when desired is 0). */
export function minAvailable(desired: number): number {
  return desired === 0 ? 0 : Math.max(0, desired - MAX_UNAVAILABLE)
}

/**
 * How far to scale NEW up now (kubectl's scaleUp), or null: as far as the surge limit
 * (desired + maxSurge pods in all) allows, all the way once OLD is at 0, never past desired.
 */
export function planScaleUp(c: UpdateCounts): number | null {
  if (c.newReplicas === c.desired) return null
  let increment = c.desired + MAX_SURGE - (c.oldReplicas + c.newReplicas)
  if (c.oldReplicas === 0) increment = c.desired - c.newReplicas
  if (increment <= 0) return null
  return Math.min(c.desired, c.newReplicas + increment)
}

/**
 * How far to scale OLD down now (kubectl's scaleDown), or null: as far as keeping
 * `minAvailable(desired)` pods available allows, counting NEW's unready pods as unavailable;
 * all the way once NEW is complete and available.
 */
export function planScaleDown(c: UpdateCounts & { newAvailable: number }): number | null {
  if (c.oldReplicas === 0) return null
  const all = c.oldReplicas + c.newReplicas
  const newUnavailable = c.newReplicas - c.newAvailable
  const decrement = all - minAvailable(c.desired) - newUnavailable
  if (decrement <= 0) return null
  let target = Math.max(0, c.oldReplicas - decrement)
  if (c.newReplicas === c.desired && c.newAvailable === c.desired) target = 0
  return target
}

/** What the update needs of the API and of time. */
export interface RollingUpdateIo {
  getRc(name: string): Promise<KubeObject | undefined>
  createRc(rc: KubeObject): Promise<KubeObject>
  /** A JSON merge patch of the RC. */
  patchRc(name: string, patch: Record<string, unknown>): Promise<KubeObject>
  /** Sets spec.replicas through the /scale subresource. */
  scaleRc(name: string, replicas: number): Promise<void>
  deleteRc(name: string): Promise<void>
  clock: Pick<Clock, 'now'>
  sleep(ms: number): Promise<void>
  out(line: string): void
}

/** The update to make. */
export interface RollingUpdatePlan {
  oldName: string
  /** NEW as its manifest has it (namespace settled). */
  newRc: KubeObject
  /** Where NEW came from, for messages. */
  source: string
  updatePeriodMs: number
  pollIntervalMs: number
  /** How long the update may go without progress. */
  timeoutMs: number
}

/** Runs a rolling update to its end; throws RollingUpdateError (or the io's errors). */
export async function rollingUpdate(io: RollingUpdateIo, plan: RollingUpdatePlan): Promise<void> {
  let oldRc = await io.getRc(plan.oldName)
  if (!oldRc) throw new RollingUpdateError(`replicationcontroller "${plan.oldName}" not found`)
  checkReplacement(oldRc, plan.newRc, plan.source)
  const newName = plan.newRc.metadata.name!
  const sourceId = `${plan.oldName}:${oldRc.metadata.uid}`

  let newRc = await io.getRc(newName)
  if (newRc) {
    const a = newRc.metadata.annotations ?? {}
    if (a[SOURCE_ID_ANNOTATION] !== sourceId || a[DESIRED_REPLICAS_ANNOTATION] === undefined)
      throw new RollingUpdateError(
        `Missing/unexpected annotations for controller ${newName}, expected ${sourceId}: ${JSON.stringify(a)}`,
      )
    io.out(`Continuing update with existing controller ${newName}.`)
  } else {
    const own = specOf(plan.newRc).replicas
    const desired = typeof own === 'number' && own > 0 ? own : replicasOf(oldRc)
    const body = structuredClone(plan.newRc)
    body.metadata.annotations = {
      ...(body.metadata.annotations ?? {}),
      [DESIRED_REPLICAS_ANNOTATION]: String(desired),
      [SOURCE_ID_ANNOTATION]: sourceId,
    }
    body.spec = { ...(body.spec ?? {}), replicas: 0 }
    newRc = await io.createRc(body)
    io.out(`Created ${newName}`)
  }
  const desired = Number(newRc.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION])
  if (!Number.isInteger(desired) || desired < 0)
    throw new RollingUpdateError(
      `Unable to parse annotation for ${newName}: ${DESIRED_REPLICAS_ANNOTATION}=${newRc.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION]}`,
    )
  if (oldRc.metadata.annotations?.[ORIGINAL_REPLICAS_ANNOTATION] === undefined) {
    oldRc = await io.patchRc(plan.oldName, {
      metadata: { annotations: { [ORIGINAL_REPLICAS_ANNOTATION]: String(replicasOf(oldRc)) } },
    })
  }

  const counts: UpdateCounts = { oldReplicas: replicasOf(oldRc), newReplicas: replicasOf(newRc), desired }
  io.out(
    `Scaling up ${newName} from ${counts.newReplicas} to ${desired}, scaling down ${plan.oldName} from ${counts.oldReplicas} to 0 (keep ${minAvailable(desired)} pods available, don't exceed ${desired + MAX_SURGE} pods)`,
  )
  let deadline = io.clock.now() + plan.timeoutMs
  while (counts.newReplicas !== desired || counts.oldReplicas !== 0) {
    const before = { ...counts }
    const up = planScaleUp(counts)
    if (up !== null) {
      io.out(`Scaling ${newName} up to ${up}`)
      await io.scaleRc(newName, up)
      counts.newReplicas = up
      await waitFor(io, plan, newName, deadline, (s) => s.readyReplicas >= up)
    }
    await io.sleep(plan.updatePeriodMs)
    const newAvailable = readyOf(await mustGet(io, newName))
    const down = planScaleDown({ ...counts, newAvailable })
    if (down !== null) {
      io.out(`Scaling ${plan.oldName} down to ${down}`)
      await io.scaleRc(plan.oldName, down)
      counts.oldReplicas = down
      await waitFor(io, plan, plan.oldName, deadline, (s) => s.replicas <= down)
    }
    const progressed = counts.newReplicas !== before.newReplicas || counts.oldReplicas !== before.oldReplicas
    if (progressed) deadline = io.clock.now() + plan.timeoutMs
    else if (io.clock.now() > deadline)
      throw new RollingUpdateError('timed out waiting for any update progress to be made')
    else await io.sleep(plan.pollIntervalMs)
  }

  await io.patchRc(newName, {
    metadata: { annotations: { [DESIRED_REPLICAS_ANNOTATION]: null, [SOURCE_ID_ANNOTATION]: null } },
  })
  io.out(`Update succeeded. Deleting ${plan.oldName}`)
  await io.deleteRc(plan.oldName)
  io.out(`replicationcontroller/${plan.oldName} rolling updated to ${newName}`)
}

interface SeenStatus {
  replicas: number
  readyReplicas: number
}

/** The RC's status, once it reflects the current spec (observedGeneration); else null. */
function currentStatus(rc: KubeObject): SeenStatus | null {
  const s = (rc.status ?? {}) as { replicas?: number; readyReplicas?: number; observedGeneration?: number }
  if ((s.observedGeneration ?? 0) < (rc.metadata.generation ?? 0)) return null
  return { replicas: s.replicas ?? 0, readyReplicas: s.readyReplicas ?? 0 }
}

function readyOf(rc: KubeObject): number {
  return Math.min(replicasOf(rc), currentStatus(rc)?.readyReplicas ?? 0)
}

async function mustGet(io: RollingUpdateIo, name: string): Promise<KubeObject> {
  const rc = await io.getRc(name)
  if (!rc) throw new RollingUpdateError(`replicationcontroller "${name}" was deleted during the update`)
  return rc
}

/** Polls the RC until its status satisfies `done`, or the progress deadline passes. */
async function waitFor(
  io: RollingUpdateIo,
  plan: RollingUpdatePlan,
  name: string,
  deadline: number,
  done: (s: SeenStatus) => boolean,
): Promise<void> {
  for (;;) {
    const s = currentStatus(await mustGet(io, name))
    if (s && done(s)) return
    if (io.clock.now() >= deadline) return
    await io.sleep(Math.min(plan.pollIntervalMs, Math.max(1, deadline - io.clock.now())))
  }
}

export class RollingUpdateCommand extends ResourceCommand {
  static override paths = [['rolling-update']]
  static override usage = ResourceCommand.Usage({
    description: "replace a replication controller's pods with a new controller's, one at a time",
    details: `
      Creates the controller in the -f manifest at 0 replicas (its replicas default to OLD's),
      then scales it up and OLD down a pod at a time, never running more than the desired
      count plus one, and scaling OLD down only as the new pods become ready. Between steps it
      waits --update-period. When OLD is at 0 it is deleted. The new controller needs its own
      name and a selector that differs from OLD's in the value of at least one label. An
      interrupted update resumes when run again with the same arguments. Fails (exit 1) when
      no step could be made for --timeout.
    `,
    examples: [
      ['Update frontend-v1 to frontend-v2', 'shoal rolling-update frontend-v1 -f frontend-v2.yaml'],
      ['Faster steps', 'shoal rolling-update frontend-v1 -f frontend-v2.yaml --update-period 10s'],
    ],
  })

  filename = Option.String('-f,--filename', { description: 'the new replication controller manifest' })
  updatePeriod = Option.String('--update-period', '1m0s', { description: 'time to wait between steps' })
  pollInterval = Option.String('--poll-interval', '3s', {
    description: 'time between checks of the controllers while waiting',
  })
  timeout = Option.String('--timeout', '5m0s', { description: 'longest time without a step before failing' })
  oldName = Option.String({ name: 'OLD' })

  async runVerb(): Promise<number> {
    const updatePeriodMs = parseGoDuration('--update-period', this.updatePeriod)
    const pollIntervalMs = parseGoDuration('--poll-interval', this.pollInterval)
    const timeoutMs = parseGoDuration('--timeout', this.timeout)
    if (pollIntervalMs <= 0) throw new CommandUsageError('--poll-interval must be more than 0')
    if (!this.filename) throw new CommandUsageError('must specify -f with the new replication controller')
    const oldName = this.oldName.replace(/^(rc|replicationcontrollers?)\//, '')
    const manifests = await readManifests([this.filename], () => readAllStdin(this.context.stdin))
    if (manifests.length !== 1)
      throw new CommandUsageError(
        `${this.filename}: expected one replication controller, found ${manifests.length}`,
      )
    const namespace = this.namespace()
    const placed = placeManifest(manifests[0]!, namespace, this.namespaceOption !== undefined)
    if (!placed.object.metadata.name)
      throw new CommandUsageError(`${placed.source}: metadata.name not set (generateName is not supported)`)
    const type = lookupType('replicationcontrollers')
    const ns = placed.namespace ?? namespace
    const io: RollingUpdateIo = {
      getRc: (name) => this.getOrUndefined(resourcePath(type, ns, name)),
      createRc: async (rc) =>
        (await this.request('POST', resourcePath(type, ns), { body: rc })) as KubeObject,
      patchRc: async (name, patch) =>
        (await this.request('PATCH', resourcePath(type, ns, name), {
          body: patch,
          contentType: 'application/merge-patch+json',
        })) as KubeObject,
      scaleRc: async (name, replicas) => {
        await this.request('PATCH', resourcePath(type, ns, name, 'scale'), {
          body: { spec: { replicas } },
          contentType: 'application/merge-patch+json',
        })
      },
      deleteRc: async (name) => {
        await this.request('DELETE', resourcePath(type, ns, name))
      },
      clock: new SystemClock(),
      // A timer that keeps the process alive (SystemClock's do not): the command waits on it.
      sleep: async (ms) => {
        await sleep(ms)
      },
      out: (line) => this.context.stdout.write(`${line}\n`),
    }
    await rollingUpdate(io, {
      oldName,
      newRc: placed.object,
      source: this.filename,
      updatePeriodMs,
      pollIntervalMs,
      timeoutMs,
    })
    return 0
  }
}

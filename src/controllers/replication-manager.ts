/**
 * ReplicationManager: the replication controller loop (Kubernetes' ReplicationManager), run on
 * the Raft leader. It keeps each ReplicationController's pods at spec.replicas.
 *
 * Watch handlers only enqueue RC keys: an RC's own changes; a pod's change enqueues the RC that
 * controls it (before and after the change), or, for an orphan, every RC whose selector
 * matches it. `sync(key)` then converges one RC against the leader's store: adopt matching
 * orphans and release owned pods that stopped matching (strategic patches of ownerReferences,
 * the pod's uid as precondition); create or delete the difference in slow-start batches
 * (1, 2, 4, … — a batch stops at its first error, so a broken template costs one failed create,
 * not 500); write the status when it changed.
 *
 * Expectations (expectations.ts) keep it from overshooting: after issuing N creates or deletes
 * for an RC it does not create or delete for that RC again until the watch has shown them
 * (or 5 minutes passed). After a leader change a fresh manager starts from the store, which the
 * ControllerManager brought up to date with a barrier; the old leader's late writes are
 * refused by the fence, so nothing it still had in flight lands behind the new one's back.
 *
 * Bounds: one queue entry and one expectation per RC, one small cache entry per pod (the old
 * labels and owner a change is compared with); at most `burstReplicas` creates or deletes per
 * sync, at most `workers` RCs syncing at once.
 */

import type { EventRecorder } from '../store/event-recorder.js'
import type { StoreResult } from '../store/object-store.js'
import { stableStringify } from '../store/object-store.js'
import { watchFromNow } from '../store/store-client.js'
import type { KubeObject } from '../store/types.js'
import type { WatchEvent } from '../store/watch-hub.js'
import { isoSeconds, type TimerHandle } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import { WorkQueue } from '../util/work-queue.js'
import type { Controller, ControllerContext } from './controller.js'
import { ControllerExpectations, EXPECTATIONS_TTL_MS } from './expectations.js'
import {
  adoptPatch,
  availabilityRecheckMs,
  BURST_REPLICAS,
  claimPods,
  computeRcStatus,
  controllerRefOf,
  isPodReady,
  isRcRef,
  type ManageFailure,
  objectKey,
  podFromTemplate,
  podGracePeriodSeconds,
  podNameFor,
  podsToDelete,
  rcSpec,
  releasePatch,
  replicaDiff,
  selectorMatches,
  uidFrom,
} from './replication.js'

const RCS = 'replicationcontrollers'
/** The event source, as Kubernetes names it. */
export const REPLICATION_COMPONENT = 'replication-controller'

/** Tunables of the replication manager. */
export interface ReplicationManagerConfig {
  /** RCs synced at once (Kubernetes' --concurrent-rc-syncs). */
  workers: number
  /** Most creates or deletes one sync issues. */
  burstReplicas: number
  /** Every RC is synced this often even without events (a lost event heals). */
  resyncIntervalMs: number
  /** How long unmet expectations hold an RC back. */
  expectationsTtlMs: number
}

export function defaultReplicationManagerConfig(): ReplicationManagerConfig {
  return {
    workers: 5,
    burstReplicas: BURST_REPLICAS,
    resyncIntervalMs: 30_000,
    expectationsTtlMs: EXPECTATIONS_TTL_MS,
  }
}

export function validateReplicationManagerConfig(c: ReplicationManagerConfig): void {
  for (const field of ['workers', 'burstReplicas', 'resyncIntervalMs', 'expectationsTtlMs'] as const) {
    if (!Number.isInteger(c[field]) || c[field] <= 0)
      throw new RangeError(`replication manager: ${field} must be a positive integer, got ${c[field]}`)
  }
}

/** What the manager remembers of a pod to compare its next change with. */
interface PodSeen {
  uid: string | undefined
  labels: Record<string, string> | undefined
  /** The controlling RC (uid and name), if an RC controls it. */
  rcUid: string | undefined
  rcName: string | undefined
  /** Controlled by something (an RC or another kind). */
  controlled: boolean
  deleting: boolean
  ready: boolean
}

function seen(pod: KubeObject): PodSeen {
  const ref = controllerRefOf(pod)
  const rc = isRcRef(ref) ? ref : undefined
  return {
    uid: pod.metadata.uid,
    labels: pod.metadata.labels,
    rcUid: rc?.uid,
    rcName: rc?.name,
    controlled: ref !== undefined,
    deleting: Boolean(pod.metadata.deletionTimestamp),
    ready: isPodReady(pod),
  }
}

/** How one create or delete went. `unknown`: it threw — it may yet be applied. */
type Outcome =
  | { kind: 'done' }
  | { kind: 'failed'; code: number; message: string }
  | { kind: 'unknown'; message: string }

export class ReplicationManager implements Controller {
  readonly name = 'replication'
  private readonly config: ReplicationManagerConfig
  private ctx: ControllerContext | null = null
  private log: Logger | null = null
  private queue: WorkQueue | null = null
  private events: EventRecorder | null = null
  private expectations: ControllerExpectations | null = null
  private readonly pods = new Map<string, PodSeen>()
  private cancels: (() => void)[] = []
  private resyncTimer: TimerHandle | null = null
  private stopped = false

  constructor(config: Partial<ReplicationManagerConfig> = {}) {
    this.config = { ...defaultReplicationManagerConfig(), ...config }
    validateReplicationManagerConfig(this.config)
  }

  start(ctx: ControllerContext): void {
    if (this.ctx) throw new Error('ReplicationManager: started twice (make a new one per term)')
    this.ctx = ctx
    this.log = ctx.logger
    this.events = ctx.events(REPLICATION_COMPONENT)
    this.expectations = new ControllerExpectations(ctx.clock, this.config.expectationsTtlMs)
    this.queue = new WorkQueue('replication', (key) => this.sync(key), ctx.clock, ctx.logger, {
      concurrency: this.config.workers,
    })
    if (ctx.signal.aborted) {
      this.stop()
      return
    }
    ctx.signal.addEventListener('abort', () => this.stop(), { once: true })
    // Watch from now, then read the current state: both happen before any other write applies.
    this.cancels.push(
      watchFromNow(
        ctx.store,
        RCS,
        () => true,
        (e) => this.onRc(e),
      ),
    )
    this.cancels.push(
      watchFromNow(
        ctx.store,
        'pods',
        () => true,
        (e) => this.onPod(e),
      ),
    )
    for (const pod of ctx.store.list('pods').items) this.pods.set(objectKey(pod), seen(pod))
    this.resync()
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    for (const cancel of this.cancels.splice(0)) cancel()
    this.queue?.stop()
    this.ctx?.clock.clearTimeout(this.resyncTimer)
    this.resyncTimer = null
    this.pods.clear()
  }

  /** Resolves once no sync waits or runs (tests). */
  whenIdle(): Promise<void> {
    return this.queue?.whenIdle() ?? Promise.resolve()
  }

  /** Enqueues every RC, and again after the resync interval. */
  private resync(): void {
    if (this.stopped || !this.ctx) return
    for (const rc of this.ctx.store.list(RCS).items) this.queue!.add(objectKey(rc))
    this.resyncTimer = this.ctx.clock.setTimeout(() => this.resync(), this.config.resyncIntervalMs)
  }

  // ------------------------------------------------------------------ watch handlers

  private onRc(event: WatchEvent): void {
    const key = objectKey(event.object)
    if (event.type === 'DELETED') this.expectations!.forget(key)
    this.queue!.add(key)
  }

  private onPod(event: WatchEvent): void {
    const pod = event.object
    const key = objectKey(pod)
    const before = this.pods.get(key)
    if (event.type === 'DELETED') {
      this.pods.delete(key)
      this.podGone(pod, key)
      return
    }
    const now = seen(pod)
    this.pods.set(key, now)
    if (!before || before.uid !== now.uid) {
      if (before) this.enqueueRcOf(pod.metadata.namespace, before)
      this.podAdded(pod, key, now)
      return
    }
    // Modified.
    if (now.deleting && !before.deleting) this.observeDeletion(pod.metadata.namespace, now, key)
    const ownerChanged = before.rcUid !== now.rcUid || before.controlled !== now.controlled
    const labelsChanged = stableStringify(before.labels ?? {}) !== stableStringify(now.labels ?? {})
    if (ownerChanged) this.enqueueRcOf(pod.metadata.namespace, before)
    if (now.rcUid) {
      const rc = this.enqueueRcOf(pod.metadata.namespace, now)
      // Newly ready with minReadySeconds: look again once it counts as available.
      const minReady = rc ? (rcSpec(rc).minReadySeconds ?? 0) : 0
      if (rc && now.ready && !before.ready && minReady > 0) this.queue!.add(objectKey(rc), minReady * 1000)
    } else if (!now.controlled && (ownerChanged || labelsChanged)) {
      this.enqueueMatching(pod)
    }
  }

  private podAdded(pod: KubeObject, key: string, now: PodSeen): void {
    if (now.deleting) {
      // Created already being deleted (a restore, say): what an RC expects to go, it has.
      this.observeDeletion(pod.metadata.namespace, now, key)
      this.enqueueRcOf(pod.metadata.namespace, now)
      return
    }
    if (now.rcUid) {
      const rc = this.rcOf(pod.metadata.namespace, now)
      if (rc) {
        this.expectations!.creationObserved(objectKey(rc))
        this.queue!.add(objectKey(rc))
      }
      return
    }
    if (!now.controlled) this.enqueueMatching(pod)
  }

  private podGone(pod: KubeObject, key: string): void {
    const s = seen(pod)
    if (!s.rcUid) return
    this.observeDeletion(pod.metadata.namespace, s, key)
    this.enqueueRcOf(pod.metadata.namespace, s)
  }

  private observeDeletion(namespace: string | undefined, s: PodSeen, podKey: string): void {
    const rc = this.rcOf(namespace, s)
    if (rc) this.expectations!.deletionObserved(objectKey(rc), podKey)
  }

  /** The RC a pod's controller reference names, if it still exists with that uid. */
  private rcOf(namespace: string | undefined, s: PodSeen): KubeObject | undefined {
    if (!s.rcUid || !s.rcName) return undefined
    const rc = this.ctx!.store.get(RCS, namespace, s.rcName)
    return rc?.metadata.uid === s.rcUid ? rc : undefined
  }

  private enqueueRcOf(namespace: string | undefined, s: PodSeen): KubeObject | undefined {
    const rc = this.rcOf(namespace, s)
    if (rc) this.queue!.add(objectKey(rc))
    return rc
  }

  /** Enqueues every RC of the pod's namespace whose selector matches it (it may adopt). */
  private enqueueMatching(pod: KubeObject): void {
    const rcs = this.ctx!.store.list(RCS, { namespace: pod.metadata.namespace ?? '' }).items
    for (const rc of rcs) {
      if (selectorMatches(rcSpec(rc).selector, pod.metadata.labels)) this.queue!.add(objectKey(rc))
    }
  }

  // ------------------------------------------------------------------ sync

  private async sync(key: string): Promise<void> {
    if (this.stopped) return
    const ctx = this.ctx!
    const slash = key.indexOf('/')
    const namespace = key.slice(0, slash)
    const name = key.slice(slash + 1)
    const rc = ctx.store.get(RCS, namespace, name)
    if (!rc) {
      // Gone: its pods are the garbage collector's; nothing is created for it again.
      this.expectations!.forget(key)
      return
    }
    if (rc.metadata.deletionTimestamp) return
    const needsSync = this.expectations!.satisfied(key)
    const claim = claimPods(rc, ctx.store.list('pods', { namespace }).items)
    const owned = [...claim.owned]
    for (const pod of claim.adopt) {
      const adopted = await this.patchOwner(rc, pod, 'adopt')
      if (adopted) owned.push(adopted)
    }
    for (const pod of claim.release) await this.patchOwner(rc, pod, 'release')

    let failure: ManageFailure | undefined
    if (needsSync && !this.stopped) failure = await this.manageReplicas(rc, key, owned)
    if (this.stopped) return
    const status = computeRcStatus(rc, owned, ctx.clock.now(), failure)
    if (stableStringify(status) !== stableStringify(rc.status ?? {})) await this.writeStatus(rc, status)
    const recheckMs = availabilityRecheckMs(rc, status)
    if (recheckMs !== null) this.queue!.add(key, recheckMs)
    // A failed create or delete retries with the queue's back-off.
    if (failure) throw new Error(`${key}: ${failure.message}`)
  }

  /** Adopts or releases a pod; answers the patched pod, or null when the pod changed or went. */
  private async patchOwner(
    rc: KubeObject,
    pod: KubeObject,
    how: 'adopt' | 'release',
  ): Promise<KubeObject | null> {
    const ctx = this.ctx!
    const res = await ctx.client.propose({
      op: 'patch',
      resource: 'pods',
      namespace: pod.metadata.namespace,
      name: pod.metadata.name ?? '',
      patchType: 'strategic',
      patch: how === 'adopt' ? adoptPatch(rc, pod) : releasePatch(rc, pod),
      uid: uidFrom(ctx.rng),
      now: isoSeconds(ctx.clock.now()),
    })
    if (!res.ok) {
      // 404 / 409: the pod went or was replaced; the next event brings the RC back here.
      if (res.status.code === 404 || res.status.code === 409) return null
      throw new Error(`${how} pod ${pod.metadata.name}: ${res.status.message ?? res.status.reason}`)
    }
    this.log!.debug(
      { rc: objectKey(rc), pod: pod.metadata.name },
      how === 'adopt' ? 'pod adopted' : 'pod released',
    )
    return res.object
  }

  /** Creates or deletes the difference; answers what failed, if anything did. */
  private async manageReplicas(
    rc: KubeObject,
    key: string,
    owned: KubeObject[],
  ): Promise<ManageFailure | undefined> {
    const diff = replicaDiff(rc, owned.length, this.config.burstReplicas)
    if (diff === 0) return undefined
    const exp = this.expectations!
    if (diff > 0) {
      exp.expectCreations(key, diff)
      this.log!.debug({ rc: key, need: diff }, 'creating pods')
      const { attempted, failure } = await this.slowStart(rc, diff, () => this.createPod(rc))
      // The creates never issued or refused will never show up in the watch.
      for (let i = attempted; i < diff; i++) exp.creationObserved(key)
      return failure === undefined ? undefined : { reason: 'FailedCreate', message: failure }
    }
    const victims = podsToDelete(owned, -diff)
    exp.expectDeletions(
      key,
      victims.map((p) => objectKey(p)),
    )
    this.log!.debug({ rc: key, excess: -diff }, 'deleting pods')
    let i = 0
    const { failure } = await this.slowStart(rc, victims.length, () => this.deletePod(rc, key, victims[i++]!))
    // Those never issued will never show up going (refused ones were lowered as they failed).
    for (const pod of victims.slice(i)) exp.deletionObserved(key, objectKey(pod))
    return failure === undefined ? undefined : { reason: 'FailedDelete', message: failure }
  }

  /**
   * Runs `count` operations in batches of 1, 2, 4, … (Kubernetes' slowStartBatch); a batch
   * with a failure is the last. Stops early when the manager stops or the RC went. `attempted`
   * counts the operations issued and not definitely refused (a refused one is uncounted, so
   * its expectation is lowered).
   */
  private async slowStart(
    rc: KubeObject,
    count: number,
    op: () => Promise<Outcome>,
  ): Promise<{ attempted: number; failure?: string }> {
    let attempted = 0
    let refused = 0
    let failure: string | undefined
    for (let batch = Math.min(1, count); attempted + refused < count; ) {
      if (this.stopped || !this.stillCurrent(rc)) break
      const outcomes = await Promise.all(Array.from({ length: batch }, () => op()))
      for (const o of outcomes) {
        if (o.kind === 'failed') {
          refused += 1
          failure ??= o.message
        } else {
          attempted += 1
          if (o.kind === 'unknown') failure ??= o.message
        }
      }
      if (failure) break
      batch = Math.min(2 * batch, count - attempted - refused)
    }
    return { attempted, failure }
  }

  /** Whether the RC a sync acts for is still there, the same one, and not being deleted. */
  private stillCurrent(rc: KubeObject): boolean {
    const now = this.ctx!.store.get(RCS, rc.metadata.namespace, rc.metadata.name ?? '')
    return now !== undefined && now.metadata.uid === rc.metadata.uid && !now.metadata.deletionTimestamp
  }

  private async createPod(rc: KubeObject): Promise<Outcome> {
    const ctx = this.ctx!
    const pod = podFromTemplate(rc, podNameFor(rc, ctx.rng))
    const outcome = await this.propose(() =>
      ctx.client.propose({
        op: 'create',
        resource: 'pods',
        namespace: rc.metadata.namespace,
        object: pod,
        uid: uidFrom(ctx.rng),
        now: isoSeconds(ctx.clock.now()),
      }),
    )
    if (outcome.kind === 'done')
      void this.events!.record(rc, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`)
    else if (!this.stopped)
      void this.events!.record(rc, 'Warning', 'FailedCreate', `Error creating: ${outcome.message}`)
    return outcome
  }

  private async deletePod(rc: KubeObject, key: string, pod: KubeObject): Promise<Outcome> {
    const ctx = this.ctx!
    const podKey = objectKey(pod)
    const outcome = await this.propose(() =>
      ctx.client.propose({
        op: 'remove',
        resource: 'pods',
        namespace: pod.metadata.namespace,
        name: pod.metadata.name ?? '',
        preconditions: { uid: pod.metadata.uid },
        gracePeriodSeconds: podGracePeriodSeconds(pod),
        now: isoSeconds(ctx.clock.now()),
      }),
    )
    if (outcome.kind === 'done') {
      void this.events!.record(rc, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`)
      return outcome
    }
    if (outcome.kind === 'failed') {
      // Refused: the watch will not show it going (or it went already: 404, or was replaced: 409).
      this.expectations!.deletionObserved(key, podKey)
      if (outcome.code === 404) return { kind: 'done' }
      if (!this.stopped)
        void this.events!.record(rc, 'Warning', 'FailedDelete', `Error deleting: ${outcome.message}`)
    }
    return outcome
  }

  /** Sends one write: `done`, `failed` (a Status: refused, nothing changed) or `unknown` (threw). */
  private async propose(send: () => Promise<StoreResult>): Promise<Outcome> {
    try {
      const res = await send()
      if (res.ok) return { kind: 'done' }
      return {
        kind: 'failed',
        code: res.status.code,
        message: res.status.message || res.status.reason || 'refused',
      }
    } catch (err) {
      // Thrown (leadership lost, a timeout): it may still be committed. The expectation stays
      // until the watch shows it or it expires; the next sync must not act on a guess.
      return { kind: 'unknown', message: (err as Error).message }
    }
  }

  private async writeStatus(rc: KubeObject, status: object): Promise<void> {
    const ctx = this.ctx!
    const res = await ctx.client.propose({
      op: 'update',
      resource: RCS,
      namespace: rc.metadata.namespace,
      name: rc.metadata.name ?? '',
      subresource: 'status',
      object: { ...rc, metadata: { ...rc.metadata }, status: status as Record<string, unknown> },
      now: isoSeconds(ctx.clock.now()),
    })
    // 404 / 409: the RC went or changed since it was read; its own event syncs it again.
    if (!res.ok && res.status.code !== 404 && res.status.code !== 409)
      throw new Error(`status of ${objectKey(rc)}: ${res.status.message ?? res.status.reason}`)
  }
}

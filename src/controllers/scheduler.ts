/**
 * Scheduler: the controller that binds pending pods to nodes (Kubernetes' default-scheduler,
 * cut down; the decisions are in scheduling.ts, the in-memory picture in scheduler-cache.ts).
 *
 * It watches pods, nodes and Services in the leader's store. A pending pod (no nodeName, not
 * being deleted, `schedulerName` default-scheduler or absent) is queued by `namespace/name`;
 * a WorkQueue of concurrency 1 decides pods one at a time, in order, against the cache. A
 * decision *assumes* the pod on its node and sends the `bind` (uid precondition) without
 * waiting for it, so the next decision already counts it: up to `maxInFlightBinds` binds
 * travel at once, and the queue waits for a free slot beyond that. A bind that commits
 * confirms the pod (Event `Scheduled`); one refused with 409 or 404 (bound already, gone,
 * another uid, the fence) is dropped — the store's own events say what became of the pod;
 * any other failure (no leader, a timeout) forgets the assumption and retries the pod after
 * a back-off (`errorBaseDelayMs` doubling to `errorMaxDelayMs`).
 *
 * A pod no node fits gets the condition PodScheduled=False, reason Unschedulable, with
 * Kubernetes' message ("0/3 nodes are available: …"), written only when it changes, and an
 * Event `FailedScheduling` (when the message changes, else at most every `eventRepeatMs`).
 * It is tried again when something could make room — a node added or changed in what the
 * filters read (not a mere heartbeat), a pod deleted, finished or moved — after a per-pod
 * back-off (`retryBaseDelayMs` doubling to `retryMaxDelayMs` since its last attempt), and in
 * any case every `unschedulableRetryMs`. Nothing else wakes it, so it never spins.
 *
 * Bounded: the queue and the unschedulable map hold one entry per pending pod; the cache one
 * per node and per bound pod; at most `maxInFlightBinds` writes (binds and status updates)
 * are in flight; Events go through the EventRecorder's own bound.
 */

import type { EventRecorder } from '../store/event-recorder.js'
import { watchFromNow } from '../store/store-client.js'
import type { KubeObject } from '../store/types.js'
import type { WatchEvent } from '../store/watch-hub.js'
import { isoSeconds, type TimerHandle } from '../util/clock.js'
import { WorkQueue } from '../util/work-queue.js'
import type { Controller, ControllerContext } from './controller.js'
import { SchedulerCache } from './scheduler-cache.js'
import { DEFAULT_SCHEDULER_NAME, isPendingForUs, type PodInfo, schedulePod } from './scheduling.js'

/** The scheduler's tunables. */
export interface SchedulerConfig {
  /** The `spec.schedulerName` this scheduler serves. */
  schedulerName: string
  /** Binds and status writes in flight at once; the queue waits beyond it. */
  maxInFlightBinds: number
  /** Every unschedulable pod is tried again at least this often. */
  unschedulableRetryMs: number
  /** An unschedulable pod woken by a change waits this long after its first failed attempt… */
  retryBaseDelayMs: number
  /** …doubling with each failed attempt, up to this. */
  retryMaxDelayMs: number
  /** A pod whose bind or status write failed (no leader, a timeout) is retried after this… */
  errorBaseDelayMs: number
  /** …doubling, up to this. */
  errorMaxDelayMs: number
  /** A FailedScheduling Event with an unchanged message is repeated at most this often. */
  eventRepeatMs: number
}

/**
 * Kubernetes' defaults where it has them: binds in flight are the bound we chose (256 keeps
 * a Raft batch full without letting a burst of thousands of writes queue up behind each
 * other); unschedulable pods retried every 30 s (Kubernetes: 5 min, issue 7 asks 30 s); the
 * per-pod back-off 1 s to 10 s (Kubernetes' podInitialBackoff/podMaxBackoff).
 */
export function defaultSchedulerConfig(): SchedulerConfig {
  return {
    schedulerName: DEFAULT_SCHEDULER_NAME,
    maxInFlightBinds: 256,
    unschedulableRetryMs: 30_000,
    retryBaseDelayMs: 1000,
    retryMaxDelayMs: 10_000,
    errorBaseDelayMs: 100,
    errorMaxDelayMs: 10_000,
    eventRepeatMs: 30_000,
  }
}

/** Checks a config; throws naming the field and the value. */
export function validateSchedulerConfig(config: SchedulerConfig): SchedulerConfig {
  if (!config.schedulerName) throw new Error(`scheduler: schedulerName must not be empty`)
  const positive: (keyof SchedulerConfig)[] = [
    'maxInFlightBinds',
    'unschedulableRetryMs',
    'retryBaseDelayMs',
    'retryMaxDelayMs',
    'errorBaseDelayMs',
    'errorMaxDelayMs',
  ]
  for (const field of positive) {
    const v = config[field] as number
    if (!Number.isFinite(v) || v <= 0) throw new Error(`scheduler: ${field} must be positive, got ${v}`)
  }
  if (!Number.isInteger(config.maxInFlightBinds))
    throw new Error(`scheduler: maxInFlightBinds must be an integer, got ${config.maxInFlightBinds}`)
  if (config.retryMaxDelayMs < config.retryBaseDelayMs)
    throw new Error(
      `scheduler: retryMaxDelayMs (${config.retryMaxDelayMs}) must be at least retryBaseDelayMs (${config.retryBaseDelayMs})`,
    )
  if (config.errorMaxDelayMs < config.errorBaseDelayMs)
    throw new Error(
      `scheduler: errorMaxDelayMs (${config.errorMaxDelayMs}) must be at least errorBaseDelayMs (${config.errorBaseDelayMs})`,
    )
  if (!(config.eventRepeatMs >= 0))
    throw new Error(`scheduler: eventRepeatMs must be ≥ 0, got ${config.eventRepeatMs}`)
  return config
}

/** A pending pod that fit nowhere at its last attempt. */
interface Unschedulable {
  uid: string
  /** What a change must touch to wake it (spec → generation, or labels); a status write does not. */
  generation: number | undefined
  labels: string
  message: string
  attempts: number
  lastAttemptMs: number
  lastEventMs: number
  lastEventMessage: string
  /** The message of a condition write in flight. */
  writing: string | undefined
}

/** What the scheduler has done, for tests, benchmarks and logs. */
export interface SchedulerStats {
  /** Binds committed. */
  bound: number
  /** Attempts that found no node. */
  unschedulable: number
  /** Binds refused (409/404) and dropped. */
  refused: number
  /** Binds or status writes that failed and were retried. */
  errors: number
  /** Condition writes committed. */
  conditionsWritten: number
}

interface PodConditionView {
  type: string
  status: string
  reason?: string
  message?: string
  lastTransitionTime?: string
}

export class Scheduler implements Controller {
  readonly name = 'scheduler'
  readonly stats: SchedulerStats = { bound: 0, unschedulable: 0, refused: 0, errors: 0, conditionsWritten: 0 }
  private readonly config: SchedulerConfig
  private ctx: ControllerContext | null = null
  private queue: WorkQueue | null = null
  private events: EventRecorder | null = null
  private readonly cache = new SchedulerCache()
  private readonly unschedulable = new Map<string, Unschedulable>()
  private readonly errorCounts = new Map<string, number>()
  private inFlight = 0
  private readonly slotWaiters: (() => void)[] = []
  private readonly cancels: (() => void)[] = []
  private timer: TimerHandle | null = null
  private servicesDirty = false
  private stopped = false

  constructor(config: Partial<SchedulerConfig> = {}) {
    this.config = validateSchedulerConfig({ ...defaultSchedulerConfig(), ...config })
  }

  start(ctx: ControllerContext): void {
    if (this.ctx || this.stopped || ctx.signal.aborted) return
    this.ctx = ctx
    ctx.signal.addEventListener('abort', () => this.stop(), { once: true })
    this.events = ctx.events('default-scheduler')
    this.queue = new WorkQueue('scheduler', (key) => this.sync(key), ctx.clock, ctx.logger, {
      concurrency: 1,
      baseDelayMs: this.config.errorBaseDelayMs,
      maxDelayMs: this.config.errorMaxDelayMs,
    })
    const store = ctx.store
    // Watch first, then list: both read the same resourceVersion (nothing runs in between).
    this.cancels.push(
      watchFromNow(
        store,
        'nodes',
        () => true,
        (e) => this.onNode(e),
      ),
      watchFromNow(
        store,
        'services',
        () => true,
        () => {
          this.servicesDirty = true
        },
      ),
      watchFromNow(
        store,
        'pods',
        () => true,
        (e) => this.onPod(e),
      ),
    )
    for (const node of store.list('nodes').items) this.cache.setNode(node)
    this.cache.setServices(store.list('services').items)
    const pending: string[] = []
    for (const pod of store.list('pods').items) {
      if ((pod.spec as { nodeName?: string } | undefined)?.nodeName) this.cache.updatePod(pod)
      else if (isPendingForUs(pod, this.config.schedulerName)) pending.push(keyOf(pod))
    }
    ctx.logger.info(
      { nodes: store.list('nodes').items.length, bound: this.cache.podCount(), pending: pending.length },
      'scheduler started',
    )
    // The cache is complete before the first decision (adding a key may run a sync at once).
    for (const key of pending) this.queue.add(key)
    this.scheduleFlush()
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.queue?.stop()
    for (const cancel of this.cancels.splice(0)) cancel()
    this.ctx?.clock.clearTimeout(this.timer)
    this.timer = null
    for (const w of this.slotWaiters.splice(0)) w()
  }

  /** How many binds and status writes are in flight. */
  inFlightWrites(): number {
    return this.inFlight
  }

  /** Pods known unschedulable, by `namespace/name`, with their last message. */
  unschedulablePods(): Map<string, string> {
    return new Map([...this.unschedulable].map(([k, v]) => [k, v.message]))
  }

  // ---------------------------------------------------------------- events

  private onNode(e: WatchEvent): void {
    if (e.type === 'DELETED') {
      this.cache.removeNode(e.object.metadata.name ?? '')
      return
    }
    if (this.cache.setNode(e.object)) this.wakeUnschedulable()
  }

  private onPod(e: WatchEvent): void {
    const pod = e.object
    const key = keyOf(pod)
    const uid = pod.metadata.uid ?? ''
    if (e.type === 'DELETED') {
      if (this.unschedulable.get(key)?.uid === uid) this.unschedulable.delete(key)
      this.errorCounts.delete(key)
      if (this.cache.removePod(uid)) this.wakeUnschedulable()
      return
    }
    if ((pod.spec as { nodeName?: string } | undefined)?.nodeName) {
      if (this.unschedulable.get(key)?.uid === uid) this.unschedulable.delete(key)
      if (this.cache.updatePod(pod)) this.wakeUnschedulable()
      return
    }
    if (this.cache.isAssumed(uid)) return // its bind is in flight
    if (!isPendingForUs(pod, this.config.schedulerName)) {
      this.unschedulable.delete(key)
      return
    }
    const known = this.unschedulable.get(key)
    // Our own condition write (or any status change) changes nothing the filters read.
    if (
      known &&
      known.uid === uid &&
      known.generation === pod.metadata.generation &&
      known.labels === labelsJson(pod)
    )
      return
    this.queue?.add(key)
  }

  /** Something may have made room: every unschedulable pod is tried again after its back-off. */
  private wakeUnschedulable(): void {
    if (this.stopped || !this.ctx || !this.queue) return
    const now = this.ctx.clock.now()
    for (const [key, u] of this.unschedulable) {
      const backoffMs = Math.min(
        this.config.retryMaxDelayMs,
        this.config.retryBaseDelayMs * 2 ** Math.min(30, u.attempts - 1),
      )
      this.queue.add(key, Math.max(0, u.lastAttemptMs + backoffMs - now))
    }
  }

  private scheduleFlush(): void {
    if (this.stopped || !this.ctx) return
    this.timer = this.ctx.clock.setTimeout(() => {
      this.timer = null
      if (this.stopped) return
      for (const key of this.unschedulable.keys()) this.queue?.add(key)
      this.scheduleFlush()
    }, this.config.unschedulableRetryMs)
  }

  // ---------------------------------------------------------------- the decision

  private async sync(key: string): Promise<void> {
    const ctx = this.ctx
    if (this.stopped || !ctx) return
    if (this.inFlight >= this.config.maxInFlightBinds) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve))
      if (this.stopped) return
    }
    const pod = this.pendingPod(key)
    if (!pod) return
    if (this.servicesDirty) {
      this.servicesDirty = false
      this.cache.setServices(ctx.store.list('services').items)
    }
    const info = this.cache.podInfo(pod)
    const result = schedulePod(pod, info, this.cache.nodeInfos(), ctx.rng)
    if (result.ok) this.bind(key, pod, info, result.node)
    else this.markUnschedulable(key, pod, result.message)
  }

  /** The pod under `key` if it still waits for this scheduler (and no bind of it is in flight). */
  private pendingPod(key: string): KubeObject | undefined {
    const [namespace, name] = splitKey(key)
    const pod = this.ctx?.store.get('pods', namespace, name)
    if (!pod || !isPendingForUs(pod, this.config.schedulerName)) {
      this.unschedulable.delete(key)
      this.errorCounts.delete(key)
      return undefined
    }
    if (this.cache.isAssumed(pod.metadata.uid ?? '')) return undefined
    return pod
  }

  private bind(key: string, pod: KubeObject, info: PodInfo, node: string): void {
    const ctx = this.ctx!
    this.cache.assume(pod, info, node)
    this.write(
      {
        op: 'bind',
        namespace: info.namespace,
        name: info.name,
        uid: info.uid,
        node,
        now: isoSeconds(ctx.clock.now()),
      },
      (result) => {
        if (result.ok) {
          if (result.object) this.cache.confirm(result.object)
          this.unschedulable.delete(key)
          this.errorCounts.delete(key)
          this.stats.bound += 1
          void this.events?.record(
            result.object ?? pod,
            'Normal',
            'Scheduled',
            `Successfully assigned ${info.namespace}/${info.name} to ${node}`,
          )
          return
        }
        this.cache.forget(info.uid)
        const status = result.status
        if (status.code === 404 && status.details?.kind === 'nodes') {
          // The node left between the decision and the commit: decide again (its watch event
          // has taken it out of the cache).
          this.stats.errors += 1
          this.retryAfterError(key)
          return
        }
        if (status.code === 409 || status.code === 404) {
          // Bound already, deleted, replaced by a pod of another uid, or fenced off: what
          // became of the pod is the store's to tell, through the watch.
          this.stats.refused += 1
          ctx.logger.debug({ pod: key, node, why: status.message }, 'bind refused')
          return
        }
        this.stats.errors += 1
        ctx.logger.debug({ pod: key, node, why: status.message }, 'bind failed')
        this.retryAfterError(key)
      },
      (err) => {
        this.cache.forget(info.uid)
        this.stats.errors += 1
        ctx.logger.debug({ pod: key, node, err: err.message }, 'bind failed')
        this.retryAfterError(key)
      },
    )
  }

  private markUnschedulable(key: string, pod: KubeObject, message: string): void {
    const ctx = this.ctx!
    const now = ctx.clock.now()
    const uid = pod.metadata.uid ?? ''
    const prev = this.unschedulable.get(key)
    const same = prev?.uid === uid ? prev : undefined
    const u: Unschedulable = {
      uid,
      generation: pod.metadata.generation,
      labels: labelsJson(pod),
      message,
      attempts: (same?.attempts ?? 0) + 1,
      lastAttemptMs: now,
      lastEventMs: same?.lastEventMs ?? Number.NEGATIVE_INFINITY,
      lastEventMessage: same?.lastEventMessage ?? '',
      writing: same?.writing,
    }
    this.unschedulable.set(key, u)
    this.stats.unschedulable += 1
    if (u.attempts === 1 || u.lastEventMessage !== message)
      ctx.logger.debug({ pod: key, message }, 'pod unschedulable')
    if (u.lastEventMessage !== message || now - u.lastEventMs >= this.config.eventRepeatMs) {
      u.lastEventMs = now
      u.lastEventMessage = message
      void this.events?.record(pod, 'Warning', 'FailedScheduling', message)
    }
    const conditions = ((pod.status as { conditions?: PodConditionView[] } | undefined)?.conditions ??
      []) as PodConditionView[]
    const current = conditions.find((c) => c.type === 'PodScheduled')
    if (current?.status === 'False' && current.reason === 'Unschedulable' && current.message === message)
      return
    if (u.writing === message) return
    u.writing = message
    const condition = {
      type: 'PodScheduled',
      status: 'False',
      lastProbeTime: null,
      lastTransitionTime:
        current?.status === 'False' && current.lastTransitionTime
          ? current.lastTransitionTime
          : isoSeconds(now),
      reason: 'Unschedulable',
      message,
    }
    const [namespace, name] = splitKey(key)
    const done = (): void => {
      const entry = this.unschedulable.get(key)
      if (entry?.writing === message) entry.writing = undefined
    }
    this.write(
      {
        op: 'update',
        resource: 'pods',
        namespace,
        name,
        subresource: 'status',
        object: {
          apiVersion: 'v1',
          kind: 'Pod',
          // The resourceVersion makes it conditional: a pod that changed meanwhile is decided again.
          metadata: { name, namespace, uid, resourceVersion: pod.metadata.resourceVersion },
          status: {
            ...(pod.status ?? {}),
            conditions: [...conditions.filter((c) => c.type !== 'PodScheduled'), condition],
          },
        },
        now: isoSeconds(now),
      },
      (result) => {
        done()
        if (result.ok) {
          this.stats.conditionsWritten += 1
          return
        }
        if (result.status.code === 404) return // gone: nothing to tell
        // 409: the pod changed since the decision; decide again with what it is now.
        this.retryAfterError(key)
      },
      (err) => {
        done()
        this.stats.errors += 1
        ctx.logger.debug({ pod: key, err: err.message }, 'condition write failed')
        this.retryAfterError(key)
      },
    )
  }

  // ---------------------------------------------------------------- writes

  /** Sends a write counted against the in-flight bound; the callbacks run unless stopped. */
  private write(
    command: Parameters<ControllerContext['client']['propose']>[0],
    onResult: (result: Awaited<ReturnType<ControllerContext['client']['propose']>>) => void,
    onError: (err: Error) => void,
  ): void {
    const ctx = this.ctx!
    this.inFlight += 1
    let promise: ReturnType<ControllerContext['client']['propose']>
    try {
      promise = ctx.client.propose(command)
    } catch (err) {
      promise = Promise.reject(err)
    }
    promise
      .then(
        (result) => {
          if (!this.stopped) onResult(result)
        },
        (err: unknown) => {
          if (!this.stopped) onError(err as Error)
        },
      )
      .catch((err: unknown) => {
        // A bug in a callback: logged loudly rather than left as an unhandled rejection.
        ctx.logger.error({ err: (err as Error).message }, 'scheduler write callback failed')
      })
      .finally(() => {
        this.inFlight -= 1
        this.slotWaiters.shift()?.()
      })
  }

  private retryAfterError(key: string): void {
    const n = (this.errorCounts.get(key) ?? 0) + 1
    this.errorCounts.set(key, n)
    const delayMs = Math.min(
      this.config.errorMaxDelayMs,
      this.config.errorBaseDelayMs * 2 ** Math.min(30, n - 1),
    )
    this.queue?.add(key, delayMs)
  }
}

function keyOf(pod: KubeObject): string {
  return `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('/')
  return [key.slice(0, i), key.slice(i + 1)]
}

function labelsJson(pod: KubeObject): string {
  return JSON.stringify(pod.metadata.labels ?? {})
}

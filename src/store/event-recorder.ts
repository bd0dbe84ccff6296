/**
 * EventRecorder: writes Kubernetes Events (`kubectl get events`, `describe`'s Events section)
 * for what the agent and the controllers decide. Best effort, as Kubernetes' recorder is: an
 * event that cannot be written is dropped (with a debug log), never retried forever, and never
 * holds up the caller.
 *
 * Bounded: at most `maxInFlight` writes at once and `maxQueued` waiting behind them; beyond
 * that, events are dropped and counted (a burst of 5,000 schedulings keeps its events).
 */

import { type Clock, isoSeconds } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import type { StoreClient } from './store-client.js'
import type { KubeObject } from './types.js'

export interface EventSource {
  /** e.g. 'kubelet', 'default-scheduler', 'replication-controller'. */
  component: string
  /** The node, for the node agent. */
  host?: string
}

export class EventRecorder {
  private inFlight = 0
  private readonly queued: (() => Promise<void>)[] = []
  private counter = 0
  /** Events dropped because too many were in flight. */
  dropped = 0

  constructor(
    private readonly client: StoreClient,
    private readonly source: EventSource,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly maxInFlight = 64,
    private readonly maxQueued = 10_000,
  ) {}

  /**
   * Records an event about `object`. `fieldPath` names a part of it (e.g.
   * `spec.containers{web}`). Returns the write's promise (callers normally ignore it).
   */
  record(
    object: KubeObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    fieldPath?: string,
  ): Promise<void> {
    if (this.queued.length >= this.maxQueued) {
      this.dropped += 1
      return Promise.resolve()
    }
    const nowMs = this.clock.now()
    this.counter = (this.counter + 1) % 1_000_000
    const name = object.metadata.name ?? 'unknown'
    // As Kubernetes names them: the object's name and a unique hex suffix.
    const suffix = (BigInt(nowMs) * 1_000_000n + BigInt(this.counter)).toString(16)
    const namespace = object.metadata.namespace ?? 'default'
    const involved: Record<string, string> = {
      kind: object.kind,
      apiVersion: object.apiVersion,
      name,
      uid: object.metadata.uid ?? '',
    }
    if (object.metadata.namespace) involved.namespace = object.metadata.namespace
    if (object.metadata.resourceVersion) involved.resourceVersion = object.metadata.resourceVersion
    if (fieldPath) involved.fieldPath = fieldPath
    const at = isoSeconds(nowMs)
    const event: KubeObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${name}.${suffix}`, namespace },
      involvedObject: involved,
      reason,
      message,
      type,
      source: { component: this.source.component, ...(this.source.host ? { host: this.source.host } : {}) },
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
      reportingComponent: this.source.component,
      reportingInstance: this.source.host ?? '',
    }
    const write = (): Promise<void> =>
      this.client
        .propose({ op: 'create', resource: 'events', namespace, object: event, uid: randomUid(), now: at })
        .then((r) => {
          if (!r.ok) this.logger.debug({ reason, message: r.status.message }, 'event not recorded')
        })
        .catch((err: unknown) => {
          this.logger.debug({ reason, err: (err as Error).message }, 'event not recorded')
        })
    if (this.inFlight < this.maxInFlight) return this.run(write)
    return new Promise((resolve) => {
      this.queued.push(() => write().finally(resolve))
    })
  }

  private run(write: () => Promise<void>): Promise<void> {
    this.inFlight += 1
    return write().finally(() => {
      this.inFlight -= 1
      const next = this.queued.shift()
      if (next) void this.run(next)
    })
  }
}

function randomUid(): string {
  return globalThis.crypto.randomUUID()
}

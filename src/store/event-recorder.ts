/**
 * EventRecorder: writes Kubernetes Events (`kubectl get events`, `describe`'s Events section)
 * for what the agent and the controllers decide. Best effort, as Kubernetes' recorder is: an
 * event that cannot be written is dropped (with a debug log), never retried forever, and never
 * holds up the caller.
 *
 * The writes go through an EventSink, which several recorders may share (a peer's node agents;
 * a leader's controllers): an event goes out at once while fewer than `maxInFlight` writes
 * are in flight; beyond that, events queue, and each write that completes sends everything
 * queued (up to `maxBatch`) as one `batch` command — one Raft entry instead of one per event,
 * which is most of a busy cluster's entries (3 of the ~5 a pod costs to start).
 *
 * Bounded: at most `maxQueued` events wait; beyond that, events are dropped and counted (a
 * burst of 5,000 schedulings keeps its events).
 */

import { type Clock, isoSeconds } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import type { StoreCommand } from './object-store.js'
import { proposeBatch, type StoreClient } from './store-client.js'
import type { KubeObject } from './types.js'

export interface EventSource {
  /** e.g. 'kubelet', 'default-scheduler', 'replication-controller'. */
  component: string
  /** The node, for the node agent. */
  host?: string
}

interface QueuedEvent {
  command: StoreCommand
  reason: string
  done: () => void
}

/** Where recorders' events are written, in batches when they come faster than they go. */
export class EventSink {
  private inFlight = 0
  private readonly queue: QueuedEvent[] = []
  /** Events dropped because too many were waiting. */
  dropped = 0

  constructor(
    private readonly client: StoreClient,
    private readonly logger: Logger,
    private readonly maxInFlight = 8,
    private readonly maxBatch = 256,
    private readonly maxQueued = 10_000,
  ) {}

  /** Queues one event's create command; resolves once it was written (or given up). */
  write(command: StoreCommand, reason: string): Promise<void> {
    if (this.queue.length >= this.maxQueued) {
      this.dropped += 1
      return Promise.resolve()
    }
    return new Promise((done) => {
      this.queue.push({ command, reason, done })
      this.pump()
    })
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch)
      this.inFlight += 1
      // Quiet (even a batch of one): the written events need not come back.
      proposeBatch(
        this.client,
        batch.map((e) => e.command),
        { quiet: true },
      )
        .then((results) => {
          batch.forEach((e, i) => {
            const one = results[i]
            if (one && !one.ok)
              this.logger.debug({ reason: e.reason, message: one.status.message }, 'event not recorded')
          })
        })
        .catch((err: unknown) => {
          this.logger.debug({ events: batch.length, err: (err as Error).message }, 'events not recorded')
        })
        .finally(() => {
          this.inFlight -= 1
          for (const e of batch) e.done()
          this.pump()
        })
    }
  }
}

/**
 * The sequence number in event names, process-wide (two recorders of one process, e.g. two
 * simulated nodes, must not make the same name in the same millisecond), from a random start
 * (nor two processes, e.g. the scheduler's and the node agent's, about the same pod).
 */
let eventCounter = Math.floor(Math.random() * 1_000_000)

export class EventRecorder {
  private readonly sink: EventSink

  constructor(
    client: StoreClient,
    private readonly source: EventSource,
    private readonly clock: Clock,
    logger: Logger,
    /** A sink shared with other recorders; default: one of this recorder's own. */
    sink?: EventSink,
  ) {
    this.sink = sink ?? new EventSink(client, logger)
  }

  /** Events dropped (by this recorder's sink, shared or not) because too many were waiting. */
  get dropped(): number {
    return this.sink.dropped
  }

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
    const nowMs = this.clock.now()
    eventCounter = (eventCounter + 1) % 1_000_000
    const name = object.metadata.name ?? 'unknown'
    // As Kubernetes names them: the object's name and a unique hex suffix.
    const suffix = (BigInt(nowMs) * 1_000_000n + BigInt(eventCounter)).toString(16)
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
    return this.sink.write(
      { op: 'create', resource: 'events', namespace, object: event, uid: randomUid(), now: at },
      reason,
    )
  }
}

function randomUid(): string {
  return globalThis.crypto.randomUUID()
}

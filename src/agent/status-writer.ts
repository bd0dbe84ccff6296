/**
 * StatusWriter: carries pod statuses from the agent to the store, in batches. A status set
 * while another for the same pod waits replaces it (only the newest matters); every
 * `batchDelayMs` the waiting ones go out together, as one `batch` store command (one Raft
 * entry, and one request to the leader from a follower). Several agents of one process may
 * share a writer (pods are keyed by uid). A write that fails for want of a leader is retried
 * with back-off unless a newer status replaced it; one for a pod that is gone (404, or a uid
 * that no longer matches: 409) is dropped.
 *
 * Bounded: one waiting status per pod, at most `maxInFlight` batches of at most `maxBatch`.
 */

import type { StoreCommand, StoreResult } from '../store/object-store.js'
import { proposeBatch, type StoreClient } from '../store/store-client.js'
import type { KubeObject } from '../store/types.js'
import { type Clock, isoSeconds, type TimerHandle } from '../util/clock.js'
import type { Logger } from '../util/logger.js'

interface Pending {
  namespace: string
  name: string
  uid: string
  status: Record<string, unknown>
  attempts: number
}

export class StatusWriter {
  private readonly pending = new Map<string, Pending>()
  private timer: TimerHandle | null = null
  private inFlight = 0
  private stopped = false
  /** Statuses written (tests and metrics). */
  written = 0

  constructor(
    private readonly client: StoreClient,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly batchDelayMs = 10,
    private readonly maxInFlight = 8,
    private readonly maxBatch = 256,
  ) {}

  /** Queues `status` as the pod's newest. */
  set(pod: KubeObject, status: Record<string, unknown>): void {
    const uid = pod.metadata.uid ?? ''
    this.pending.set(uid, {
      namespace: pod.metadata.namespace ?? 'default',
      name: pod.metadata.name ?? '',
      uid,
      status,
      attempts: 0,
    })
    this.schedule(this.batchDelayMs)
  }

  /** Forgets a pod's waiting status (the pod is gone). */
  forget(uid: string): void {
    this.pending.delete(uid)
  }

  /** Whether a status for this pod waits to be written. */
  has(uid: string): boolean {
    return this.pending.has(uid)
  }

  stop(): void {
    this.stopped = true
    this.clock.clearTimeout(this.timer)
    this.timer = null
  }

  private schedule(delayMs: number): void {
    if (this.timer || this.stopped) return
    this.timer = this.clock.setTimeout(() => {
      this.timer = null
      this.flush()
    }, delayMs)
  }

  private flush(): void {
    while (this.inFlight < this.maxInFlight && this.pending.size > 0) {
      const batch: Pending[] = []
      for (const [uid, p] of this.pending) {
        if (batch.length >= this.maxBatch) break
        this.pending.delete(uid)
        batch.push(p)
      }
      this.inFlight += 1
      void this.write(batch).finally(() => {
        this.inFlight -= 1
        if (this.pending.size > 0) this.schedule(this.batchDelayMs)
      })
    }
  }

  private command(p: Pending, now: string): StoreCommand {
    return {
      op: 'update',
      resource: 'pods',
      namespace: p.namespace,
      name: p.name,
      subresource: 'status',
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: p.name, namespace: p.namespace, uid: p.uid },
        status: p.status,
      },
      now,
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    const now = isoSeconds(this.clock.now())
    let results: StoreResult[]
    try {
      // Quiet (even a batch of one): the written pods need not come back.
      results = await proposeBatch(
        this.client,
        batch.map((p) => this.command(p, now)),
        { quiet: true },
      )
    } catch (err) {
      if (this.stopped) return
      // No leader, or it changed under us: try again unless a newer status took the place.
      let retry = 0
      for (const p of batch) {
        if (this.pending.has(p.uid)) continue
        p.attempts += 1
        retry = Math.max(retry, p.attempts)
        this.pending.set(p.uid, p)
      }
      if (retry > 0) {
        this.logger.debug({ pods: batch.length, err: (err as Error).message }, 'pod status writes retried')
        this.clock.clearTimeout(this.timer)
        this.timer = null
        this.schedule(Math.min(5000, 100 * 2 ** Math.min(retry, 6)))
      }
      return
    }
    batch.forEach((p, i) => {
      const r = results[i]
      if (!r) return
      if (r.ok) {
        this.written += 1
        return
      }
      // 404 and 409 (another pod of that name now): the pod this status was for is gone.
      if (r.status.code === 404 || r.status.code === 409) return
      this.logger.warn({ pod: `${p.namespace}/${p.name}`, message: r.status.message }, 'pod status refused')
    })
  }
}

/**
 * WorkQueue: client-go's work queue, on the injected clock. Handlers only `add` a key; the
 * queue runs `sync(key)` for it — one sync per key at a time (a key added while it syncs runs
 * again after), at most `concurrency` keys at once, keys added several times while waiting
 * synced once. A sync that throws is retried after a per-key back-off (`baseDelayMs` doubling
 * to `maxDelayMs`), reset when it succeeds.
 *
 * Bounded by the number of distinct keys (one entry each).
 *
 * Time-sliced: syncs that finish without real I/O chain as microtasks, which would keep
 * timers and sockets waiting (a new leader's controllers starting over thousands of objects
 * held the event loop long enough to lose the Raft lease). So the queues of a process share
 * a slice: once syncs have been started back to back for SLICE_MS, the next ones wait for the
 * event loop's next turn (setImmediate), after the I/O and timers that queued up meanwhile.
 */

import type { Clock, TimerHandle } from './clock.js'
import type { Logger } from './logger.js'

/** How long syncs may be started back to back before the queues let the event loop turn. */
const SLICE_MS = 5
/** When the current slice began (performance.now()), or -1 between slices. */
let sliceStartedAt = -1

/** True when the current slice is used up; starts a slice (ending at the next turn) if none. */
function sliceUsedUp(): boolean {
  const now = performance.now()
  if (sliceStartedAt < 0) {
    sliceStartedAt = now
    setImmediate(() => {
      sliceStartedAt = -1
    })
    return false
  }
  return now - sliceStartedAt > SLICE_MS
}

export interface WorkQueueOptions {
  concurrency?: number
  baseDelayMs?: number
  maxDelayMs?: number
}

export class WorkQueue {
  private readonly waiting = new Set<string>()
  private readonly running = new Set<string>()
  private readonly dirty = new Set<string>()
  private readonly delayed = new Map<string, { dueMs: number; timer: TimerHandle }>()
  private readonly failures = new Map<string, number>()
  private stopped = false
  private resumeScheduled = false
  private readonly idleWaiters: (() => void)[] = []

  constructor(
    private readonly name: string,
    private readonly sync: (key: string) => Promise<void>,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: WorkQueueOptions = {},
  ) {}

  /** Asks for a sync of `key`, now or after `delayMs` (the earlier of two delayed requests wins). */
  add(key: string, delayMs = 0): void {
    if (this.stopped) return
    if (delayMs > 0) {
      const dueMs = this.clock.now() + delayMs
      const existing = this.delayed.get(key)
      if (existing && existing.dueMs <= dueMs) return
      if (existing) this.clock.clearTimeout(existing.timer)
      this.delayed.set(key, {
        dueMs,
        timer: this.clock.setTimeout(() => {
          this.delayed.delete(key)
          this.add(key)
        }, delayMs),
      })
      return
    }
    if (this.running.has(key)) {
      this.dirty.add(key)
      return
    }
    this.waiting.add(key)
    this.pump()
  }

  /** Whether `key` is being synced now. */
  isRunning(key: string): boolean {
    return this.running.has(key)
  }

  /** Whether nothing waits or runs (delayed keys do not count). */
  idle(): boolean {
    return this.waiting.size === 0 && this.running.size === 0
  }

  /** Resolves once the queue is idle. */
  whenIdle(): Promise<void> {
    if (this.idle()) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  stop(): void {
    this.stopped = true
    for (const d of this.delayed.values()) this.clock.clearTimeout(d.timer)
    this.delayed.clear()
    this.waiting.clear()
    this.dirty.clear()
  }

  private pump(): void {
    const max = this.options.concurrency ?? 4
    for (const key of this.waiting) {
      if (this.running.size >= max || this.stopped) break
      if (sliceUsedUp()) {
        if (!this.resumeScheduled) {
          this.resumeScheduled = true
          setImmediate(() => {
            this.resumeScheduled = false
            this.pump()
          })
        }
        return
      }
      this.waiting.delete(key)
      this.running.add(key)
      void this.sync(key)
        .then(() => {
          this.failures.delete(key)
        })
        .catch((err: unknown) => {
          if (this.stopped) return
          const n = (this.failures.get(key) ?? 0) + 1
          this.failures.set(key, n)
          const delayMs = Math.min(
            this.options.maxDelayMs ?? 30_000,
            (this.options.baseDelayMs ?? 100) * 2 ** (n - 1),
          )
          this.logger.debug(
            { queue: this.name, key, err: (err as Error).message, retryInMs: delayMs },
            'sync failed',
          )
          this.add(key, delayMs)
        })
        .finally(() => {
          this.running.delete(key)
          if (this.dirty.delete(key) && !this.stopped) this.waiting.add(key)
          this.pump()
          if (this.idle()) for (const w of this.idleWaiters.splice(0)) w()
        })
    }
  }
}

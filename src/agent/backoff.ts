/**
 * Back-off: per-key exponential delays, as the kubelet keeps them for crashing containers
 * (CrashLoopBackOff) and failing image pulls (ImagePullBackOff).
 *
 * The first retry is immediate; each later one waits twice as long as the one before, from
 * `initialMs` up to `maxMs`. A key that has not failed for `resetAfterMs` (a container that ran
 * that long) starts again from `initialMs`. Pure: the caller passes the time.
 */

export interface BackoffConfig {
  initialMs: number
  maxMs: number
  resetAfterMs: number
}

/** Kubernetes' container restart back-off: 10 s doubling to 5 min, reset after 10 min. */
export const CONTAINER_BACKOFF: BackoffConfig = { initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 }

interface Entry {
  delayMs: number
  lastMs: number
}

export class Backoff {
  private readonly entries = new Map<string, Entry>()

  constructor(private readonly config: BackoffConfig = CONTAINER_BACKOFF) {}

  /**
   * When the next attempt for `key` may run, given that the last one ended (failed) at
   * `failedAtMs`: `failedAtMs` itself when not backing off.
   */
  retryAtMs(key: string, failedAtMs: number): number {
    const e = this.entries.get(key)
    if (!e) return failedAtMs
    return failedAtMs + e.delayMs
  }

  /** Records an attempt made at `nowMs` (after a failure): the next delay doubles. */
  next(key: string, nowMs: number): void {
    const e = this.entries.get(key)
    if (!e || nowMs - e.lastMs > this.config.resetAfterMs) {
      this.entries.set(key, { delayMs: this.config.initialMs, lastMs: nowMs })
      return
    }
    e.delayMs = Math.min(this.config.maxMs, e.delayMs * 2)
    e.lastMs = nowMs
  }

  /** The current delay of `key` (0 when it has none). */
  delayMs(key: string): number {
    return this.entries.get(key)?.delayMs ?? 0
  }

  /** Forgets `key` (its pod is gone). */
  reset(key: string): void {
    this.entries.delete(key)
  }

  /** Forgets every key starting with `prefix`. */
  resetPrefix(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k)
  }

  /** Drops keys idle for longer than the reset period (bounded memory). */
  gc(nowMs: number): void {
    for (const [k, e] of this.entries) if (nowMs - e.lastMs > this.config.resetAfterMs) this.entries.delete(k)
  }
}

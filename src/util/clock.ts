/**
 * Clock: the only source of time in Shoal's logic.
 *
 * Components take a `Clock` instead of calling `Date.now()` or `setTimeout` so that tests can
 * drive time by hand (`ManualClock`) and a simulation replays exactly from a seed.
 */

/** An opaque handle for a scheduled callback. */
export interface TimerHandle {
  readonly id: number
}

/** Time and timers, injected into every component that needs them. */
export interface Clock {
  /** Milliseconds since the Unix epoch (wall clock; use for timestamps and ages). */
  now(): number
  /** Runs `fn` once after `delayMs`. */
  setTimeout(fn: () => void, delayMs: number): TimerHandle
  /** Cancels a timer; a handle that already fired or was cleared is ignored. */
  clearTimeout(handle: TimerHandle | undefined | null): void
}

/** The real clock, backed by Node's timers. Timers do not keep the process alive. */
export class SystemClock implements Clock {
  private nextId = 1
  private readonly timers = new Map<number, NodeJS.Timeout>()

  now(): number {
    return Date.now()
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const id = this.nextId++
    const timer = setTimeout(
      () => {
        this.timers.delete(id)
        fn()
      },
      Math.max(0, delayMs),
    )
    timer.unref()
    this.timers.set(id, timer)
    return { id }
  }

  clearTimeout(handle: TimerHandle | undefined | null): void {
    if (!handle) return
    const timer = this.timers.get(handle.id)
    if (timer) {
      clearTimeout(timer)
      this.timers.delete(handle.id)
    }
  }
}

interface ManualTimer {
  id: number
  dueMs: number
  fn: () => void
}

/**
 * A clock that moves only when told to. Timers fire in due-time order (ties in creation
 * order), and `now()` reads the due time of the timer being fired, so the outcome depends on
 * nothing but the calls made.
 */
export class ManualClock implements Clock {
  private nowMs: number
  private nextId = 1
  // Kept sorted by (dueMs, id); the simulations keep a few hundred timers at most.
  private timers: ManualTimer[] = []

  constructor(startMs = 1_700_000_000_000) {
    this.nowMs = startMs
  }

  now(): number {
    return this.nowMs
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const timer: ManualTimer = { id: this.nextId++, dueMs: this.nowMs + Math.max(0, delayMs), fn }
    // Insert after every timer due at or before this one: stable order for equal due times.
    let lo = 0
    let hi = this.timers.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.timers[mid]!.dueMs <= timer.dueMs) lo = mid + 1
      else hi = mid
    }
    this.timers.splice(lo, 0, timer)
    return { id: timer.id }
  }

  clearTimeout(handle: TimerHandle | undefined | null): void {
    if (!handle) return
    const i = this.timers.findIndex((t) => t.id === handle.id)
    if (i >= 0) this.timers.splice(i, 1)
  }

  /** The due time of the earliest pending timer, or null when none is pending. */
  nextDueMs(): number | null {
    return this.timers.length > 0 ? this.timers[0]!.dueMs : null
  }

  /** How many timers are pending. */
  pendingTimers(): number {
    return this.timers.length
  }

  /**
   * Fires the earliest pending timer if it is due at or before `limitMs`, moving `now()` to
   * its due time. Returns false when there was none.
   */
  fireNext(limitMs = Number.POSITIVE_INFINITY): boolean {
    const first = this.timers[0]
    if (!first || first.dueMs > limitMs) return false
    this.timers.shift()
    if (first.dueMs > this.nowMs) this.nowMs = first.dueMs
    first.fn()
    return true
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const target = this.nowMs + ms
    while (this.fireNext(target)) {
      // each fired timer may schedule more; keep going until none is due by `target`
    }
    this.nowMs = Math.max(this.nowMs, target)
  }
}

/** The last second formatted, and its text: every write stamps the time, most in the same second. */
let lastSecond = Number.NaN
let lastText = ''

/** A time as Kubernetes writes it in objects: RFC 3339 in UTC, to the second. */
export function isoSeconds(ms: number): string {
  const second = Math.floor(ms / 1000)
  if (second !== lastSecond) {
    lastText = new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
    lastSecond = second
  }
  return lastText
}

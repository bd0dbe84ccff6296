/**
 * A token bucket per client address: `ratePerSecond` requests a second on average, bursts of
 * `burst`. Past it the API answers 429. The table of clients is bounded: the oldest idle
 * entries are dropped first.
 */

import type { Clock } from '../util/clock.js'

interface Bucket {
  tokens: number
  atMs: number
}

export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>()

  constructor(
    private readonly clock: Clock,
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly maxClients = 10_000,
  ) {}

  /** Takes one token for `client`; false when its bucket is empty. */
  take(client: string): boolean {
    const now = this.clock.now()
    let b = this.buckets.get(client)
    if (!b) {
      if (this.buckets.size >= this.maxClients) {
        const oldest = this.buckets.keys().next().value
        if (oldest !== undefined) this.buckets.delete(oldest)
      }
      b = { tokens: this.burst, atMs: now }
    } else {
      this.buckets.delete(client)
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.atMs) / 1000) * this.ratePerSecond)
      b.atMs = now
    }
    // Re-inserted last: the map stays ordered by last use, so eviction drops the idlest.
    this.buckets.set(client, b)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }
}

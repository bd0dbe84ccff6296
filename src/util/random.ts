/**
 * Rng: the only source of randomness in Shoal's logic.
 *
 * `SeededRng` is xoshiro128** seeded through splitmix32: fast, small state, and the same
 * sequence for the same seed on every machine, which is what replaying a failing simulation
 * needs. `systemRng()` seeds one from the OS for production use.
 */

import { randomBytes } from 'node:crypto'

/** A source of uniform random numbers. */
export interface Rng {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [0, n). */
  int(n: number): number
  /** An integer in [lo, hi] inclusive. */
  between(lo: number, hi: number): number
  /** True with probability p. */
  chance(p: number): boolean
  /** A new generator whose sequence is derived from this one (for independent sub-streams). */
  fork(): Rng
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x9e3779b9) >>> 0
    let z = a
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

/** A deterministic generator (xoshiro128**) for a 32-bit seed. */
export class SeededRng implements Rng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(readonly seed: number) {
    const sm = splitmix32(seed)
    this.s0 = sm()
    this.s1 = sm()
    this.s2 = sm()
    this.s3 = sm()
  }

  private nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0
    const t = (this.s1 << 9) >>> 0
    this.s2 = (this.s2 ^ this.s0) >>> 0
    this.s3 = (this.s3 ^ this.s1) >>> 0
    this.s1 = (this.s1 ^ this.s2) >>> 0
    this.s0 = (this.s0 ^ this.s3) >>> 0
    this.s2 = (this.s2 ^ t) >>> 0
    this.s3 = rotl(this.s3, 11)
    return result
  }

  next(): number {
    return this.nextU32() / 4294967296
  }

  int(n: number): number {
    if (!(n > 0)) throw new RangeError(`Rng.int: n must be positive, got ${n}`)
    return Math.floor(this.next() * n)
  }

  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  fork(): Rng {
    return new SeededRng(this.nextU32())
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}

/** A generator seeded from the operating system, for production. */
export function systemRng(): Rng {
  return new SeededRng(randomBytes(4).readUInt32LE(0))
}

/**
 * ControllerExpectations: Kubernetes' guard against acting twice on a stale view. Before a
 * controller issues creates or deletes for an owner it records how many pods it expects to
 * see appear and which it expects to see go; the watch lowers them as it shows each one. Until
 * they are met (or `ttlMs` passed since they were set: a lost event must not wedge the owner
 * for ever) the owner must not be acted on again — its view does not yet show its own writes.
 *
 * Deletions are tracked by pod key (`UIDTrackingControllerExpectations`), so a pod seen going
 * twice (marked for deletion, then removed) counts once.
 *
 * Bounded by the number of owners (one entry each); entries go with their owner (`forget`).
 */

import type { Clock } from '../util/clock.js'

/** Kubernetes' ExpectationsTimeout. */
export const EXPECTATIONS_TTL_MS = 5 * 60_000

interface Expectation {
  adds: number
  deletes: Set<string>
  setAtMs: number
}

export class ControllerExpectations {
  private readonly entries = new Map<string, Expectation>()

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = EXPECTATIONS_TTL_MS,
  ) {}

  /** Whether `owner` may be acted on: nothing pending, or what is pending has expired. */
  satisfied(owner: string): boolean {
    const e = this.entries.get(owner)
    if (!e) return true
    if (e.adds <= 0 && e.deletes.size === 0) return true
    return this.clock.now() - e.setAtMs > this.ttlMs
  }

  /** Records `adds` pods to appear (replacing whatever was recorded). */
  expectCreations(owner: string, adds: number): void {
    this.entries.set(owner, { adds, deletes: new Set(), setAtMs: this.clock.now() })
  }

  /** Records these pod keys to go (replacing whatever was recorded). */
  expectDeletions(owner: string, podKeys: readonly string[]): void {
    this.entries.set(owner, { adds: 0, deletes: new Set(podKeys), setAtMs: this.clock.now() })
  }

  /** One expected pod appeared, or one create failed (it never will). */
  creationObserved(owner: string): void {
    const e = this.entries.get(owner)
    if (e) e.adds -= 1
  }

  /** The pod `podKey` was seen going, or its delete failed. */
  deletionObserved(owner: string, podKey: string): void {
    this.entries.get(owner)?.deletes.delete(podKey)
  }

  /** Drops what is recorded for `owner` (it is gone). */
  forget(owner: string): void {
    this.entries.delete(owner)
  }

  /** What is still pending (tests, debug logs). */
  pending(owner: string): { adds: number; deletes: number } | undefined {
    const e = this.entries.get(owner)
    return e ? { adds: e.adds, deletes: e.deletes.size } : undefined
  }
}

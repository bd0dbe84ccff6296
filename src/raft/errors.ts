/**
 * The errors Raft's API rejects with. Match on `err.name` (or `instanceof`).
 *
 * Be honest about ambiguity, as hashicorp/raft is: after `LeadershipLostError` or
 * `TimeoutError` nobody knows whether the write was committed; a client that retries must
 * make its write idempotent.
 */

import type { Peer } from './transport.js'

/** This server is not the leader; `leader` is the one it knows of, if any. */
export class NotLeaderError extends Error {
  override name = 'NotLeaderError'
  constructor(readonly leader: Peer | null) {
    super(
      leader
        ? `not the leader; the leader is ${leader.id} at ${leader.address}`
        : 'not the leader; no leader known',
    )
  }
}

/** Leadership was lost while the operation was in flight: it may or may not have committed. */
export class LeadershipLostError extends Error {
  override name = 'LeadershipLostError'
  constructor() {
    super('leadership lost while the operation was in flight; it may or may not have been committed')
  }
}

/** The operation did not finish in its time; it may still be committed later. */
export class TimeoutError extends Error {
  override name = 'TimeoutError'
  constructor(what: string, timeoutMs: number) {
    super(`${what} timed out after ${timeoutMs} ms`)
  }
}

/** Raft has been shut down. */
export class ShutdownError extends Error {
  override name = 'ShutdownError'
  constructor() {
    super('raft is shut down')
  }
}

/** `bootstrapCluster` on storage that already holds state. */
export class CantBootstrapError extends Error {
  override name = 'CantBootstrapError'
  constructor() {
    super('bootstrap only works on new clusters: this server already has state')
  }
}

/** A leadership transfer is already running; membership changes wait until it ends. */
export class LeadershipTransferInProgressError extends Error {
  override name = 'LeadershipTransferInProgressError'
  constructor() {
    super('leadership transfer in progress')
  }
}

/** A membership change is still waiting to commit; only one runs at a time. */
export class ConfigurationChangePendingError extends Error {
  override name = 'ConfigurationChangePendingError'
  constructor() {
    super('a configuration change is still uncommitted; retry once it commits')
  }
}

/** There is nothing new to snapshot. */
export class NothingNewToSnapshotError extends Error {
  override name = 'NothingNewToSnapshotError'
  constructor() {
    super('nothing new to snapshot')
  }
}

/** Rejected because too many operations are queued: the caller should slow down. */
export class OverloadedError extends Error {
  override name = 'OverloadedError'
  constructor(what: string, limit: number) {
    super(`${what}: more than ${limit} queued`)
  }
}

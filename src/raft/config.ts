/**
 * Raft's tunables, their defaults, and their validation.
 *
 * Why these defaults: on loopback an RPC takes well under a millisecond, so a 50 ms
 * heartbeat costs little (20 small RPCs a second per follower) and lets followers notice a
 * dead leader after 300–600 ms (the randomized election timeout). A pre-vote round and a
 * vote round add a few milliseconds, so failover lands well under one second. Pre-vote and
 * the leader lease keep a partitioned or slow server from disrupting a healthy leader, which
 * is what makes short timeouts safe under load. docs/BENCHMARKS.md has the measurements.
 */

/** Raft's tunables. Units are in the names. */
export interface RaftConfig {
  /** How often a leader sends AppendEntries to an idle follower. */
  heartbeatIntervalMs: number
  /** A follower that hears nothing for a random time in [this, 2 × this) starts an election. */
  electionTimeoutMs: number
  /**
   * Check-quorum: a leader that has not heard from a majority for this long steps down, and
   * a server that heard from a leader within this time refuses votes (the leader lease).
   */
  leaderLeaseTimeoutMs: number
  /** Answer timeout for AppendEntries, votes and TimeoutNow. */
  rpcTimeoutMs: number
  /** Answer timeout for one InstallSnapshot chunk. */
  installSnapshotTimeoutMs: number
  /** Entries in one AppendEntries. */
  maxAppendEntries: number
  /** AppendEntries in flight to one follower before waiting for answers (pipelining depth). */
  maxInflightAppends: number
  /** Proposals the leader writes to disk in one batch (one sync). */
  maxApplyBatch: number
  /** Proposals waiting for their turn; past this, `apply` rejects with OverloadedError. */
  maxPendingApplies: number
  /** Use pre-vote (dissertation §9.6): a candidate first checks it could win. */
  preVote: boolean
  /** A snapshot is due when this many entries were applied since the last one. */
  snapshotThreshold: number
  /** How often to check whether a snapshot is due: after a random time in [this, 2 × this). */
  snapshotIntervalMs: number
  /** Entries kept in the log behind a snapshot, so slow followers catch up without one. */
  trailingLogs: number
  /** Bytes per InstallSnapshot chunk. */
  snapshotChunkBytes: number
  /** How many times `leadershipTransfer` waits for the target to catch up, in election timeouts. */
  leadershipTransferTimeoutMs: number
  /** A non-voter is caught up (and may be promoted) when within this many entries of the leader. */
  nonvoterCatchUpEntries: number
}

/** The defaults; see the file comment for why. */
export function defaultRaftConfig(): RaftConfig {
  return {
    heartbeatIntervalMs: 50,
    electionTimeoutMs: 300,
    leaderLeaseTimeoutMs: 300,
    rpcTimeoutMs: 1000,
    installSnapshotTimeoutMs: 5000,
    maxAppendEntries: 512,
    maxInflightAppends: 64,
    maxApplyBatch: 1024,
    maxPendingApplies: 16_384,
    preVote: true,
    snapshotThreshold: 8192,
    snapshotIntervalMs: 10_000,
    trailingLogs: 10_240,
    snapshotChunkBytes: 256 * 1024,
    leadershipTransferTimeoutMs: 1500,
    nonvoterCatchUpEntries: 256,
  }
}

/** Thrown for a config that cannot work; the message names the field and the value. */
export class RaftConfigError extends Error {
  override name = 'RaftConfigError'
}

/** Fills in defaults for the fields not given and validates the result. */
export function validateRaftConfig(partial: Partial<RaftConfig> = {}): RaftConfig {
  const c: RaftConfig = { ...defaultRaftConfig(), ...partial }
  const positive: (keyof RaftConfig)[] = [
    'heartbeatIntervalMs',
    'electionTimeoutMs',
    'leaderLeaseTimeoutMs',
    'rpcTimeoutMs',
    'installSnapshotTimeoutMs',
    'maxAppendEntries',
    'maxInflightAppends',
    'maxApplyBatch',
    'maxPendingApplies',
    'snapshotThreshold',
    'snapshotIntervalMs',
    'snapshotChunkBytes',
    'leadershipTransferTimeoutMs',
  ]
  for (const key of positive) {
    const v = c[key]
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new RaftConfigError(`raft config: ${key} must be a positive number, got ${String(v)}`)
    }
  }
  if (!Number.isInteger(c.trailingLogs) || c.trailingLogs < 0) {
    throw new RaftConfigError(
      `raft config: trailingLogs must be a non-negative integer, got ${c.trailingLogs}`,
    )
  }
  if (c.heartbeatIntervalMs >= c.electionTimeoutMs) {
    throw new RaftConfigError(
      `raft config: heartbeatIntervalMs (${c.heartbeatIntervalMs}) must be below electionTimeoutMs (${c.electionTimeoutMs})`,
    )
  }
  if (c.leaderLeaseTimeoutMs > c.electionTimeoutMs) {
    throw new RaftConfigError(
      `raft config: leaderLeaseTimeoutMs (${c.leaderLeaseTimeoutMs}) must not exceed electionTimeoutMs (${c.electionTimeoutMs})`,
    )
  }
  return c
}

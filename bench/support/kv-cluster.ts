/**
 * What the process-level benchmarks need from a replicated key-value cluster, so one trial or
 * load procedure runs unchanged against Shoal and against its anchor (etcd). Members are
 * numbered from 1.
 */

/** The answer to one write as the client saw it. */
export interface PutOutcome {
  /** Acknowledged: HTTP 200 with a body. */
  ok: boolean
  /** HTTP status, or 0 when no answer came (connection refused or reset, timeout). */
  status: number
  /** The reason a write failed: a short code or message. */
  error?: string
}

/** Whom one member names as leader, and in which term. */
export interface LeaderView {
  /** The leader's member number, or null when this member knows no leader. */
  leader: number | null
  term: number
}

export interface KvCluster {
  /** 'Shoal' or 'etcd'. */
  readonly name: string
  readonly size: number
  /** Starts every member and waits until they have formed a cluster with a leader. */
  start(): Promise<void>
  /** Whether member `i` is running (it was not killed, or has been restarted since). */
  isLive(i: number): boolean
  /** One durable write through member `i`; never throws. */
  put(i: number, key: string, value: string, timeoutMs: number): Promise<PutOutcome>
  /** One round trip to a trivial endpoint of member `i` (no consensus, no disk); never throws. */
  ping(i: number): Promise<boolean>
  /** Whom member `i` names as leader, or null when it does not answer in time. */
  leaderSeenBy(i: number, timeoutMs: number): Promise<LeaderView | null>
  /**
   * Waits until every live member names the same live leader and has applied what it
   * committed, twice in a row, and a write through the leader succeeds; returns the leader.
   */
  waitStable(timeoutMs: number): Promise<number>
  /** SIGKILLs member `i` now and marks it dead; returns `performance.now()` just before the signal. */
  kill(i: number): number
  /** Restarts a killed member from its data dir and waits until it answers. */
  restart(i: number): Promise<void>
  /** The pids of the running members (for CPU accounting). */
  pids(): number[]
  /** How clients reach the members, e.g. 'HTTPS, cluster CA and bearer token'; known after start(). */
  describeApi(): string
  /** The last `lines` lines of every member's log, to show why a run failed. */
  logTails(lines: number): string
  /** Stops every member and waits for the processes to exit. */
  stop(): Promise<void>
}

/**
 * The RPCs servers exchange, and the `Transport` seam that carries them.
 *
 * The message shapes are the wire contract of every transport (in memory, libp2p): add
 * optional fields freely, never change the meaning of an existing one.
 */

import type { Configuration, ServerAddress, ServerId } from './configuration.js'
import type { LogEntry } from './log.js'

/** Who an RPC is addressed to. */
export interface Peer {
  id: ServerId
  address: ServerAddress
}

/** Every request names its sender, so a receiver knows whom it answers. */
export interface RpcHeader {
  /** The sender's id and address. */
  from: Peer
  term: number
}

export interface AppendEntriesRequest extends RpcHeader {
  prevLogIndex: number
  prevLogTerm: number
  entries: LogEntry[]
  leaderCommit: number
}

export interface AppendEntriesResponse {
  term: number
  success: boolean
  /** The follower's last log index after handling the request. */
  lastLogIndex: number
  /**
   * On a log mismatch (fast back-tracking): the term of the follower's entry at
   * prevLogIndex (0 when it has none there) and the first index it holds for that term, or
   * its last index + 1 when its log is too short.
   */
  conflictTerm?: number
  conflictIndex?: number
  /** False when the follower rejected because its disk failed: the leader backs off. */
  noRetryBackoff?: boolean
}

export interface RequestVoteRequest extends RpcHeader {
  lastLogIndex: number
  lastLogTerm: number
  /**
   * A pre-vote (the dissertation's §9.6): `term` is the term the candidate would use; the
   * receiver answers without changing its own term or vote.
   */
  preVote: boolean
  /** Set when the election follows a TimeoutNow: receivers ignore their leader lease. */
  leadershipTransfer: boolean
}

export interface RequestVoteResponse {
  term: number
  granted: boolean
}

/** One chunk of a snapshot; chunks of one snapshot are sent in order from offset 0. */
export interface InstallSnapshotRequest extends RpcHeader {
  snapshotId: string
  lastIndex: number
  lastTerm: number
  configuration: Configuration
  configurationIndex: number
  /** Total size in bytes. */
  size: number
  offset: number
  data: Uint8Array
  done: boolean
}

export interface InstallSnapshotResponse {
  term: number
  success: boolean
  /** The offset the follower expects next (it restarts at 0 after a gap or a new snapshot). */
  nextOffset: number
}

/** Asks the target to start an election at once (leadership transfer). */
export type TimeoutNowRequest = RpcHeader

export interface TimeoutNowResponse {
  term: number
}

/** What a server does with the RPCs it receives. Raft implements it. */
export interface RpcHandler {
  appendEntries(req: AppendEntriesRequest): Promise<AppendEntriesResponse>
  requestVote(req: RequestVoteRequest): Promise<RequestVoteResponse>
  installSnapshot(req: InstallSnapshotRequest): Promise<InstallSnapshotResponse>
  timeoutNow(req: TimeoutNowRequest): Promise<TimeoutNowResponse>
}

/** Options for one outgoing RPC. */
export interface RpcOptions {
  /** The RPC rejects with `TransportError` when no answer came in this time. */
  timeoutMs: number
}

/**
 * Carries RPCs between servers. Each method sends one request and resolves with the answer,
 * or rejects with `TransportError` (unreachable, timed out, closed). Requests to one target
 * should be delivered in the order they were sent (pipelining relies on it for speed, not
 * for correctness). A transport must not hold more than a bounded number of requests in
 * flight per target; past that it rejects at once.
 */
export interface Transport {
  readonly localAddress: ServerAddress
  /** Installs the handler for incoming RPCs; requests before that are refused. */
  setHandler(handler: RpcHandler): void
  appendEntries(target: Peer, req: AppendEntriesRequest, opts: RpcOptions): Promise<AppendEntriesResponse>
  requestVote(target: Peer, req: RequestVoteRequest, opts: RpcOptions): Promise<RequestVoteResponse>
  installSnapshot(
    target: Peer,
    req: InstallSnapshotRequest,
    opts: RpcOptions,
  ): Promise<InstallSnapshotResponse>
  timeoutNow(target: Peer, req: TimeoutNowRequest, opts: RpcOptions): Promise<TimeoutNowResponse>
  /** Stops sending and receiving; pending outgoing RPCs reject. Idempotent. */
  close(): Promise<void>
}

/** An RPC failed to get an answer. */
export class TransportError extends Error {
  override name = 'TransportError'
  constructor(
    message: string,
    readonly code: 'unreachable' | 'timeout' | 'closed' | 'overloaded' | 'remote',
  ) {
    super(message)
  }
}

/**
 * FakeTransport: a `Transport` for tests that drive one Raft server by hand.
 *
 * The test calls the server's RPC handlers directly (`transport.handler.appendEntries(...)`)
 * and scripts what the other servers answer: every outgoing RPC is recorded in `sent`, and is
 * answered at once when a responder for its kind returns a response, or left pending until
 * the test calls `answer` / `fail` on it.
 */

import type { ServerAddress } from '../../src/raft/configuration.js'
import {
  type AppendEntriesRequest,
  type AppendEntriesResponse,
  type InstallSnapshotRequest,
  type InstallSnapshotResponse,
  type Peer,
  type RequestVoteRequest,
  type RequestVoteResponse,
  type RpcHandler,
  type TimeoutNowRequest,
  type TimeoutNowResponse,
  type Transport,
  TransportError,
} from '../../src/raft/transport.js'

/** Request and response types of each RPC. */
export interface RpcTypes {
  appendEntries: { req: AppendEntriesRequest; resp: AppendEntriesResponse }
  requestVote: { req: RequestVoteRequest; resp: RequestVoteResponse }
  installSnapshot: { req: InstallSnapshotRequest; resp: InstallSnapshotResponse }
  timeoutNow: { req: TimeoutNowRequest; resp: TimeoutNowResponse }
}

export type RpcKind = keyof RpcTypes

/** One RPC the server under test sent. */
export interface SentRpc<K extends RpcKind = RpcKind> {
  kind: K
  target: Peer
  req: RpcTypes[K]['req']
  /** True once answered or failed. */
  settled: boolean
  /** Delivers `resp` to the sender (ignored when already settled). */
  answer(resp: RpcTypes[K]['resp']): void
  /** Rejects the RPC with `err` (a TransportError by default). */
  fail(err?: Error): void
}

/** Answers an RPC at once (a response), or leaves it pending (undefined). */
export type Responder<K extends RpcKind> = (
  target: Peer,
  req: RpcTypes[K]['req'],
) => RpcTypes[K]['resp'] | undefined

export type Responders = { [K in RpcKind]?: Responder<K> }

/** An AppendEntries answer from a follower that stored everything it was sent. */
export function ackAppend(_target: Peer, req: AppendEntriesRequest): AppendEntriesResponse {
  return { term: req.term, success: true, lastLogIndex: req.prevLogIndex + req.entries.length }
}

/** A RequestVote answer that grants the vote (pre-vote or not). */
export function grantVote(_target: Peer, req: RequestVoteRequest): RequestVoteResponse {
  return { term: req.term, granted: true }
}

export class FakeTransport implements Transport {
  /** Every RPC sent, in order. */
  readonly sent: SentRpc[] = []
  /** Per-kind scripted answers; change them at any time (they apply to RPCs sent later). */
  responders: Responders = {}
  closed = false
  private rpcHandler: RpcHandler | null = null

  constructor(readonly localAddress: ServerAddress) {}

  setHandler(handler: RpcHandler): void {
    this.rpcHandler = handler
  }

  /** The server's RPC handlers (set by `raft.start()`). */
  get handler(): RpcHandler {
    if (!this.rpcHandler) throw new Error('fake transport: no handler installed (start the server first)')
    return this.rpcHandler
  }

  appendEntries(target: Peer, req: AppendEntriesRequest): Promise<AppendEntriesResponse> {
    return this.send('appendEntries', target, req, this.responders.appendEntries)
  }

  requestVote(target: Peer, req: RequestVoteRequest): Promise<RequestVoteResponse> {
    return this.send('requestVote', target, req, this.responders.requestVote)
  }

  installSnapshot(target: Peer, req: InstallSnapshotRequest): Promise<InstallSnapshotResponse> {
    return this.send('installSnapshot', target, req, this.responders.installSnapshot)
  }

  timeoutNow(target: Peer, req: TimeoutNowRequest): Promise<TimeoutNowResponse> {
    return this.send('timeoutNow', target, req, this.responders.timeoutNow)
  }

  /** The RPCs of `kind` (to `targetId`, when given) not answered yet. */
  pending<K extends RpcKind>(kind: K, targetId?: string): SentRpc<K>[] {
    return this.sent.filter(
      (r): r is SentRpc<K> =>
        r.kind === kind && !r.settled && (targetId === undefined || r.target.id === targetId),
    )
  }

  /** Every RPC of `kind` (to `targetId`, when given), answered or not. */
  sentOf<K extends RpcKind>(kind: K, targetId?: string): SentRpc<K>[] {
    return this.sent.filter(
      (r): r is SentRpc<K> => r.kind === kind && (targetId === undefined || r.target.id === targetId),
    )
  }

  async close(): Promise<void> {
    this.closed = true
    for (const r of this.sent) if (!r.settled) r.fail(new TransportError('fake transport closed', 'closed'))
  }

  private send<K extends RpcKind>(
    kind: K,
    target: Peer,
    req: RpcTypes[K]['req'],
    responder: Responder<K> | undefined,
  ): Promise<RpcTypes[K]['resp']> {
    if (this.closed) return Promise.reject(new TransportError('fake transport closed', 'closed'))
    return new Promise<RpcTypes[K]['resp']>((resolve, reject) => {
      const rpc: SentRpc<K> = {
        kind,
        target: { id: target.id, address: target.address },
        req,
        settled: false,
        answer(resp) {
          if (rpc.settled) return
          rpc.settled = true
          resolve(resp)
        },
        fail(err) {
          if (rpc.settled) return
          rpc.settled = true
          reject(err ?? new TransportError(`fake transport: ${kind} to ${target.id} failed`, 'unreachable'))
        },
      }
      this.sent.push(rpc)
      const resp = responder?.(target, req)
      if (resp !== undefined) rpc.answer(resp)
    })
  }
}

/**
 * The Raft `Transport` over libp2p streams (protocol `/shoal/raft/1.0.0`).
 *
 * Each server keeps one long-lived outbound stream per peer it talks to, opened on the first
 * request and reused: requests are pipelined on it in send order, each frame tagged with a
 * request id that its answer carries back (frames: src/p2p/raft-codec.ts); frames produced in
 * one turn of the event loop leave in one send (coalesce.ts). On the serving
 * side every request is handed to the installed `RpcHandler` as it arrives and its answer is
 * written when it settles, so answers may overtake one another; the ids pair them up.
 *
 *   const host = await createHost({ privateKey, listen: '/ip4/127.0.0.1/tcp/7400', secret })
 *   const transport = new Libp2pRaftTransport({ host, logger })
 *   await transport.start()
 *   const raft = new Raft({ id: host.peerId.toString(), transport, ... })  // raft.start() sets the handler
 *   await transport.close()  // then host.stop(): the transport does not own the host
 *
 * Failures map to `TransportError` codes: a dial that fails or a stream that breaks rejects
 * everything outstanding on it with 'unreachable' and the next request redials; no answer
 * within `timeoutMs` is 'timeout' (the stream is kept, a late answer dropped); too many
 * requests outstanding to one peer is 'overloaded'; a handler that rejects is 'remote'; after
 * `close()` everything is 'closed'.
 */

import type {
  Connection,
  Libp2p,
  PeerId,
  Stream,
  StreamCloseEvent,
  StreamMessageEvent,
} from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { ServerAddress } from '../raft/configuration.js'
import {
  type AppendEntriesRequest,
  type AppendEntriesResponse,
  type InstallSnapshotRequest,
  type InstallSnapshotResponse,
  type Peer,
  type RequestVoteRequest,
  type RequestVoteResponse,
  type RpcHandler,
  type RpcOptions,
  type TimeoutNowRequest,
  type TimeoutNowResponse,
  type Transport,
  TransportError,
} from '../raft/transport.js'
import { type Clock, SystemClock, type TimerHandle } from '../util/clock.js'
import { type Logger, silentLogger } from '../util/logger.js'
import { COALESCE_MAX_BYTES, type Defer, defaultDefer, takeFrames } from './coalesce.js'
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  isRequestFrame,
  MAX_FRAME_BYTES,
  MessageType,
  RaftCodecError,
  type RequestFrame,
  type ResponseFrame,
} from './raft-codec.js'

/** The libp2p protocol id of Raft RPCs. A change of wire format gets a new one. */
export const RAFT_PROTOCOL = '/shoal/raft/1.0.0'

/**
 * Inactivity timeout set on Raft streams: the largest a Node timer takes (about 24.8 days),
 * i.e. off. A Raft stream may rightly sit idle (a follower sends nothing between elections),
 * and a dead connection is noticed by the silence rule (see `silentStreamMs`) instead.
 */
const STREAM_INACTIVITY_TIMEOUT_MS = 2 ** 31 - 1

/**
 * Bytes libp2p may buffer on a stream whose reading we paused before it resets the stream.
 * yamux stops the sender once its window (up to 16 MiB) is used up, so this is never reached
 * by a well-behaved peer; libp2p's 4 MiB default could be.
 */
const STREAM_READ_BUFFER_BYTES = 32 * 1024 * 1024

/** The parts of a libp2p node the transport uses; a `ShoalHost` has them all. */
export type RaftTransportHost = Pick<
  Libp2p,
  'peerId' | 'getMultiaddrs' | 'handle' | 'unhandle' | 'dialProtocol' | 'peerStore'
>

/** What a `Libp2pRaftTransport` is made from. Only `host` is required. */
export interface Libp2pRaftTransportOptions {
  /**
   * A started libp2p node (listening, so that `localAddress` can be taken from it). It stays
   * the caller's: the transport never stops it.
   */
  host: RaftTransportHost
  /**
   * The address other servers dial to reach this one, as advertised in the Raft
   * configuration. `/p2p/<own peer id>` is appended when missing. Default: the host's first
   * listen address that is not a wildcard (0.0.0.0, ::).
   */
  localAddress?: ServerAddress
  /**
   * The most requests outstanding (queued or sent, not answered) to one peer; past it a
   * request rejects at once with 'overloaded'. It also bounds the queue of frames waiting for
   * a stream to open or drain. Default 1024.
   */
  maxInflightPerPeer?: number
  /**
   * The most requests of one inbound stream being handled at once (or whose answers wait to
   * be written); at the bound the stream stops reading, which pushes back on the sender.
   * Default 1024.
   */
  maxConcurrentHandlersPerStream?: number
  /** The largest frame body sent or accepted; a peer announcing a larger one has its stream aborted. Default 64 MiB. */
  maxFrameBytes?: number
  /** How long opening a stream to a peer may take before it fails ('unreachable'). Default 10 000 ms. */
  dialTimeoutMs?: number
  /**
   * A request that times out on a stream from which nothing has arrived for this long drops
   * the stream, and the next request redials: a connection that died without a word (a
   * pulled cable) would otherwise keep swallowing requests until TCP gives up, minutes later.
   * Default 5000 ms.
   */
  silentStreamMs?: number
  /**
   * Refuse (with an error answer) requests whose `from.id` is not the peer id of the
   * connection they came on: in Shoal a server's id is its peer id, and this stops one member
   * from speaking for another. Default true.
   */
  checkSenderId?: boolean
  /** Times RPC and dial timeouts. Default: `SystemClock`. */
  clock?: Clock
  /** When queued frames are sent: at the end of the event loop's turn (`setImmediate`) by default. */
  defer?: Defer
  /** Debug-level logs of streams opening and failing; never payloads. Default: silent. */
  logger?: Logger
}

/** The name of one of the four RPCs. */
type RpcKind = keyof RpcHandler
type ResponseOf<K extends RpcKind> = Awaited<ReturnType<RpcHandler[K]>>

const responseTypeOf: Record<RpcKind, MessageType> = {
  appendEntries: MessageType.AppendEntriesResponse,
  requestVote: MessageType.RequestVoteResponse,
  installSnapshot: MessageType.InstallSnapshotResponse,
  timeoutNow: MessageType.TimeoutNowResponse,
}

/** An outgoing request waiting for its answer. */
interface Call {
  readonly requestId: number
  readonly kind: RpcKind
  readonly resolve: (response: unknown) => void
  readonly reject: (err: Error) => void
  timer: TimerHandle | undefined
  /** The encoded request while it waits in the channel's queue; undefined once handed to the stream. */
  frame: Uint8Array | undefined
  /** Clock time it was handed to the stream (for the silence rule). */
  sentAtMs: number
}

/** The outbound stream to one peer, from the dial until it breaks or the transport closes. */
interface Channel {
  readonly peerId: string
  state: 'dialing' | 'open' | 'dead'
  stream: Stream | undefined
  /** Requests outstanding on this channel, by request id. */
  readonly calls: Map<number, Call>
  /** Requests not yet handed to the stream (it is opening, or needs to drain), in send order. */
  readonly queue: Call[]
  waitingDrain: boolean
  flushScheduled: boolean
  readonly decoder: FrameDecoder
  /** Clock time the stream opened or last delivered a frame. */
  lastReceivedMs: number
}

/** The serving side of one inbound stream. */
interface InboundStream {
  readonly stream: Stream
  readonly remotePeer: string
  readonly decoder: FrameDecoder
  /** Requests being handled plus answers waiting to be written. */
  active: number
  paused: boolean
  closed: boolean
  /** Answers waiting to be sent (at the end of this turn, or once the stream drains). */
  readonly queue: Uint8Array[]
  waitingDrain: boolean
  flushScheduled: boolean
}

/**
 * The Raft `Transport` over libp2p streams. See the file comment for the design; `start()`
 * registers the protocol handler, `close()` (or `stop()`) undoes everything but the host.
 */
export class Libp2pRaftTransport implements Transport {
  /** The multiaddr (ending in `/p2p/<peer id>`) other servers dial to reach this one. */
  readonly localAddress: ServerAddress

  private readonly host: RaftTransportHost
  private readonly clock: Clock
  private readonly log: Logger
  private readonly maxInflightPerPeer: number
  private readonly maxConcurrentHandlersPerStream: number
  private readonly maxFrameBytes: number
  private readonly dialTimeoutMs: number
  private readonly silentStreamMs: number
  private readonly checkSenderId: boolean
  private readonly defer: Defer

  private handler: RpcHandler | undefined
  private starting: Promise<void> | undefined
  private closing: Promise<void> | undefined
  private readonly closeController = new AbortController()
  private readonly channels = new Map<string, Channel>()
  private readonly inbound = new Set<InboundStream>()
  /** Request ids wrap at 2^32; at most `maxInflightPerPeer` are outstanding per channel, so none collide. */
  private nextRequestId = 1

  constructor(options: Libp2pRaftTransportOptions) {
    this.host = options.host
    this.clock = options.clock ?? new SystemClock()
    this.log = (options.logger ?? silentLogger()).child({ component: 'raft-transport' })
    this.maxInflightPerPeer = positiveInteger('maxInflightPerPeer', options.maxInflightPerPeer ?? 1024)
    this.maxConcurrentHandlersPerStream = positiveInteger(
      'maxConcurrentHandlersPerStream',
      options.maxConcurrentHandlersPerStream ?? 1024,
    )
    this.maxFrameBytes = positiveInteger('maxFrameBytes', options.maxFrameBytes ?? MAX_FRAME_BYTES)
    this.dialTimeoutMs = positiveInteger('dialTimeoutMs', options.dialTimeoutMs ?? 10_000)
    this.silentStreamMs = positiveInteger('silentStreamMs', options.silentStreamMs ?? 5000)
    this.checkSenderId = options.checkSenderId ?? true
    this.defer = options.defer ?? defaultDefer
    this.localAddress = resolveLocalAddress(this.host, options.localAddress)
  }

  /** Registers the protocol handler so that peers can reach this server. Idempotent. */
  start(): Promise<void> {
    if (this.closing) return Promise.reject(new TransportError('raft transport: start after close', 'closed'))
    this.starting ??= this.register()
    return this.starting
  }

  private async register(): Promise<void> {
    await this.host.handle(RAFT_PROTOCOL, (stream, connection) => this.serve(stream, connection), {
      // One stream per peer and direction in steady state; the slack covers a redial racing
      // the teardown of the stream it replaces.
      maxInboundStreams: 8,
      maxOutboundStreams: 8,
    })
    this.log.debug({ address: this.localAddress }, 'raft transport started')
  }

  setHandler(handler: RpcHandler): void {
    if (this.closing) return
    this.handler = handler
  }

  appendEntries(target: Peer, req: AppendEntriesRequest, opts: RpcOptions): Promise<AppendEntriesResponse> {
    return this.call(
      target,
      'appendEntries',
      { type: MessageType.AppendEntriesRequest, requestId: 0, body: req },
      opts,
    )
  }

  requestVote(target: Peer, req: RequestVoteRequest, opts: RpcOptions): Promise<RequestVoteResponse> {
    return this.call(
      target,
      'requestVote',
      { type: MessageType.RequestVoteRequest, requestId: 0, body: req },
      opts,
    )
  }

  installSnapshot(
    target: Peer,
    req: InstallSnapshotRequest,
    opts: RpcOptions,
  ): Promise<InstallSnapshotResponse> {
    return this.call(
      target,
      'installSnapshot',
      { type: MessageType.InstallSnapshotRequest, requestId: 0, body: req },
      opts,
    )
  }

  timeoutNow(target: Peer, req: TimeoutNowRequest, opts: RpcOptions): Promise<TimeoutNowResponse> {
    return this.call(
      target,
      'timeoutNow',
      { type: MessageType.TimeoutNowRequest, requestId: 0, body: req },
      opts,
    )
  }

  /**
   * Stops serving (unregisters the protocol), aborts every stream, and rejects outstanding
   * and later requests with 'closed'. The host keeps running. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  /** The same as `close()`, under the lifecycle name. */
  stop(): Promise<void> {
    return this.close()
  }

  // ---------------------------------------------------------------- client side

  private call<K extends RpcKind>(
    target: Peer,
    kind: K,
    frame: RequestFrame,
    opts: RpcOptions,
  ): Promise<ResponseOf<K>> {
    if (this.closing) {
      return Promise.reject(new TransportError(`${kind} to ${target.id}: the transport is closed`, 'closed'))
    }
    let channel = this.channels.get(target.id)
    if (channel && channel.calls.size >= this.maxInflightPerPeer) {
      return Promise.reject(
        new TransportError(
          `${kind} to ${target.id}: ${channel.calls.size} requests already outstanding`,
          'overloaded',
        ),
      )
    }
    const requestId = this.nextRequestId
    this.nextRequestId = this.nextRequestId >= 0xffffffff ? 1 : this.nextRequestId + 1
    frame.requestId = requestId
    // Encoding errors (a field out of range, an oversize message) are the caller's bug: they
    // reject with the codec's own error rather than a TransportError.
    let bytes: Uint8Array
    try {
      bytes = encodeFrame(frame, this.maxFrameBytes)
    } catch (err) {
      return Promise.reject(err)
    }
    if (!channel) {
      channel = this.openChannel(target)
    }
    const ch = channel
    return new Promise<ResponseOf<K>>((resolve, reject) => {
      const call: Call = {
        requestId,
        kind,
        resolve: resolve as (response: unknown) => void,
        reject,
        timer: undefined,
        frame: bytes,
        sentAtMs: 0,
      }
      call.timer = this.clock.setTimeout(() => this.timeOut(ch, call, opts.timeoutMs), opts.timeoutMs)
      ch.calls.set(requestId, call)
      ch.queue.push(call)
      this.scheduleFlush(ch)
    })
  }

  private openChannel(target: Peer): Channel {
    const channel: Channel = {
      peerId: target.id,
      state: 'dialing',
      stream: undefined,
      calls: new Map(),
      queue: [],
      waitingDrain: false,
      flushScheduled: false,
      decoder: new FrameDecoder(this.maxFrameBytes),
      lastReceivedMs: this.clock.now(),
    }
    this.channels.set(target.id, channel)
    void this.dialChannel(channel, target)
    return channel
  }

  private async dialChannel(channel: Channel, target: Peer): Promise<void> {
    const dialAbort = new AbortController()
    const timer = this.clock.setTimeout(
      () => dialAbort.abort(new Error('dial timed out')),
      this.dialTimeoutMs,
    )
    const signal = AbortSignal.any([dialAbort.signal, this.closeController.signal])
    let stream: Stream
    try {
      stream = await this.dial(target, signal)
    } catch (err) {
      this.log.debug({ peer: target.id, address: target.address, err: errorMessage(err) }, 'raft dial failed')
      this.kill(channel, `dial failed: ${errorMessage(err)}`, 'unreachable')
      return
    } finally {
      this.clock.clearTimeout(timer)
    }
    if (channel.state === 'dead') {
      // Closed (or given up) while dialing: the stream has no one left to serve.
      stream.abort(new Error('raft channel closed while dialing'))
      return
    }
    stream.inactivityTimeout = STREAM_INACTIVITY_TIMEOUT_MS
    stream.maxReadBufferLength = STREAM_READ_BUFFER_BYTES
    channel.stream = stream
    channel.state = 'open'
    channel.lastReceivedMs = this.clock.now()
    stream.addEventListener('message', (evt: StreamMessageEvent) => this.onResponseData(channel, evt))
    stream.addEventListener('close', (evt: StreamCloseEvent) => {
      this.kill(channel, evt.error ? `stream failed: ${evt.error.message}` : 'stream closed', 'unreachable')
    })
    // The server never half-closes a healthy stream: no answer can come any more.
    stream.addEventListener('remoteCloseWrite', () =>
      this.kill(channel, 'stream closed by the peer', 'unreachable'),
    )
    this.log.debug({ peer: target.id, stream: stream.id }, 'raft stream opened')
    this.flush(channel)
  }

  /**
   * Opens a stream to `target`: its address first; when that fails and the peer store knows
   * other addresses of the peer id (it moved, or the configuration holds a stale address),
   * by peer id.
   */
  private async dial(target: Peer, signal: AbortSignal): Promise<Stream> {
    let firstError: unknown
    try {
      return await this.host.dialProtocol(multiaddr(target.address), RAFT_PROTOCOL, { signal })
    } catch (err) {
      firstError = err
    }
    if (signal.aborted) throw firstError
    const peerId = parsePeerId(target.id)
    if (peerId && (await this.knowsOtherAddresses(peerId, target.address))) {
      this.log.debug({ peer: target.id }, 'raft dial by address failed, dialing by peer id')
      return await this.host.dialProtocol(peerId, RAFT_PROTOCOL, { signal })
    }
    throw firstError
  }

  private async knowsOtherAddresses(peerId: PeerId, address: ServerAddress): Promise<boolean> {
    const bare = address.replace(/\/p2p\/[^/]+$/, '')
    try {
      const peer = await this.host.peerStore.get(peerId)
      return peer.addresses.some((a) => a.multiaddr.toString() !== bare)
    } catch {
      // Not in the peer store: nothing else to try.
      return false
    }
  }

  /** Sends what is queued at the end of this turn of the event loop, with whatever else comes. */
  private scheduleFlush(channel: Channel): void {
    if (channel.flushScheduled) return
    channel.flushScheduled = true
    this.defer(() => {
      channel.flushScheduled = false
      this.flush(channel)
    })
  }

  /** Hands queued frames to the stream in order, joined, until it asks to drain. */
  private flush(channel: Channel): void {
    const stream = channel.stream
    if (channel.state !== 'open' || !stream || channel.waitingDrain) return
    const now = this.clock.now()
    while (channel.queue.length > 0) {
      const frames: Uint8Array[] = []
      let bytes = 0
      while (channel.queue.length > 0) {
        const call = channel.queue[0]!
        const frame = call.frame!
        if (frames.length > 0 && bytes + frame.length > COALESCE_MAX_BYTES) break
        channel.queue.shift()
        frames.push(frame)
        bytes += frame.length
        call.frame = undefined
        call.sentAtMs = now
      }
      let more: boolean
      try {
        more = stream.send(takeFrames(frames, Number.POSITIVE_INFINITY).bytes)
      } catch (err) {
        this.kill(channel, `send failed: ${errorMessage(err)}`, 'unreachable')
        return
      }
      if (!more) {
        channel.waitingDrain = true
        stream.onDrain().then(
          () => {
            channel.waitingDrain = false
            this.flush(channel)
          },
          // The stream closed instead of draining; its 'close' listener fails the channel.
          () => {},
        )
        return
      }
    }
  }

  private timeOut(channel: Channel, call: Call, timeoutMs: number): void {
    call.timer = undefined
    if (channel.calls.get(call.requestId) !== call) return
    channel.calls.delete(call.requestId)
    if (call.frame) {
      // Never sent: no point sending it any more.
      const i = channel.queue.indexOf(call)
      if (i >= 0) channel.queue.splice(i, 1)
      call.frame = undefined
    }
    call.reject(
      new TransportError(`${call.kind} to ${channel.peerId} timed out after ${timeoutMs} ms`, 'timeout'),
    )
    const silentMs = this.clock.now() - channel.lastReceivedMs
    if (channel.state === 'open' && call.sentAtMs > 0 && silentMs >= this.silentStreamMs) {
      this.log.debug({ peer: channel.peerId, silentMs }, 'raft stream silent, dropping it')
      this.kill(channel, `no answer for ${silentMs} ms`, 'unreachable')
    }
  }

  private onResponseData(channel: Channel, evt: StreamMessageEvent): void {
    if (channel.state !== 'open') return
    pushData(channel.decoder, evt.data)
    for (;;) {
      let frame: Frame | undefined
      try {
        frame = channel.decoder.next()
      } catch (err) {
        if (err instanceof RaftCodecError && err.requestId !== undefined) {
          // The framing is intact: only this answer is lost.
          this.settle(channel, err.requestId, undefined, `undecodable answer: ${err.message}`)
          continue
        }
        this.protocolError(channel.stream!, err)
        this.kill(channel, `bad frame from the peer: ${errorMessage(err)}`, 'unreachable')
        return
      }
      if (!frame) return
      channel.lastReceivedMs = this.clock.now()
      if (isRequestFrame(frame)) {
        this.protocolError(channel.stream!, new Error('request on an outbound stream'))
        this.kill(channel, 'the peer sent a request on our stream', 'unreachable')
        return
      }
      this.settle(channel, frame.requestId, frame, undefined)
    }
  }

  /** Settles the call `requestId` with an answer frame, or with a codec failure `bad`. */
  private settle(
    channel: Channel,
    requestId: number,
    frame: ResponseFrame | undefined,
    bad: string | undefined,
  ): void {
    const call = channel.calls.get(requestId)
    if (!call) {
      // It timed out already: a late answer has nobody to go to.
      this.log.trace({ peer: channel.peerId, requestId }, 'raft late answer dropped')
      return
    }
    channel.calls.delete(requestId)
    this.clock.clearTimeout(call.timer)
    call.timer = undefined
    const failed = (why: string) =>
      call.reject(
        new TransportError(`${call.kind} to ${channel.peerId} failed on the remote: ${why}`, 'remote'),
      )
    if (!frame) failed(bad ?? 'no answer')
    else if (frame.type === MessageType.Error) failed(frame.body.message)
    else if (frame.type !== responseTypeOf[call.kind])
      failed(`answer of type ${frame.type} to a ${call.kind}`)
    else call.resolve(frame.body)
  }

  /** Ends a channel: rejects all it holds with `code`, aborts its stream, forgets it. */
  private kill(channel: Channel, reason: string, code: TransportError['code']): void {
    if (channel.state === 'dead') return
    const wasOpen = channel.state === 'open'
    channel.state = 'dead'
    if (this.channels.get(channel.peerId) === channel) this.channels.delete(channel.peerId)
    const calls = [...channel.calls.values()]
    channel.calls.clear()
    channel.queue.length = 0
    for (const call of calls) {
      this.clock.clearTimeout(call.timer)
      call.timer = undefined
      call.frame = undefined
      call.reject(new TransportError(`${call.kind} to ${channel.peerId}: ${reason}`, code))
    }
    if (channel.stream && channel.stream.status === 'open') channel.stream.abort(new Error(reason))
    if (wasOpen) this.log.debug({ peer: channel.peerId, reason, failed: calls.length }, 'raft stream closed')
  }

  // ---------------------------------------------------------------- server side

  private serve(stream: Stream, connection: Connection): void {
    if (this.closing) {
      stream.abort(new Error('raft transport closed'))
      return
    }
    stream.inactivityTimeout = STREAM_INACTIVITY_TIMEOUT_MS
    stream.maxReadBufferLength = STREAM_READ_BUFFER_BYTES
    const s: InboundStream = {
      stream,
      remotePeer: connection.remotePeer.toString(),
      decoder: new FrameDecoder(this.maxFrameBytes),
      active: 0,
      paused: false,
      closed: false,
      queue: [],
      waitingDrain: false,
      flushScheduled: false,
    }
    this.inbound.add(s)
    stream.addEventListener('message', (evt: StreamMessageEvent) => {
      if (s.closed) return
      pushData(s.decoder, evt.data)
      this.pump(s)
    })
    stream.addEventListener('close', () => {
      s.closed = true
      this.inbound.delete(s)
      this.log.debug({ peer: s.remotePeer, stream: stream.id }, 'raft inbound stream closed')
    })
    // The caller is done sending (it closed its end); answer what is in hand, then close ours.
    stream.addEventListener('remoteCloseWrite', () => this.maybeFinish(s))
    this.log.debug({ peer: s.remotePeer, stream: stream.id }, 'raft inbound stream opened')
  }

  /** Starts handling the buffered requests, up to the concurrency bound; pauses reading at it. */
  private pump(s: InboundStream): void {
    while (!s.closed && s.active < this.maxConcurrentHandlersPerStream) {
      let frame: Frame | undefined
      try {
        frame = s.decoder.next()
      } catch (err) {
        if (err instanceof RaftCodecError && err.requestId !== undefined) {
          // The framing is intact: answer this request with the error, go on with the next.
          this.answer(
            s,
            this.handleAsync(() => Promise.reject(err)),
            err.requestId,
          )
          continue
        }
        this.protocolError(s.stream, err)
        return
      }
      if (!frame) break
      if (!isRequestFrame(frame)) {
        this.protocolError(s.stream, new Error(`answer frame (type ${frame.type}) on an inbound stream`))
        return
      }
      const req = frame
      this.answer(
        s,
        this.handleAsync(() => this.invoke(req, s.remotePeer)),
        frame.requestId,
      )
    }
    if (!s.closed && s.active >= this.maxConcurrentHandlersPerStream && !s.paused) {
      s.paused = true
      tryIgnore(() => s.stream.pause())
    }
  }

  /** Runs `fn`, turning a synchronous throw into a rejection. */
  private handleAsync(fn: () => Promise<ResponseFrame>): Promise<ResponseFrame> {
    try {
      return fn()
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Calls the handler for one request. */
  private invoke(frame: RequestFrame, remotePeer: string): Promise<ResponseFrame> {
    const handler = this.handler
    if (!handler) return Promise.reject(new Error('no RPC handler installed yet'))
    if (this.checkSenderId && frame.body.from.id !== remotePeer) {
      return Promise.reject(
        new Error(`sender id ${frame.body.from.id} is not the connection's peer id ${remotePeer}`),
      )
    }
    const requestId = frame.requestId
    switch (frame.type) {
      case MessageType.AppendEntriesRequest:
        return handler
          .appendEntries(frame.body)
          .then((body) => ({ type: MessageType.AppendEntriesResponse, requestId, body }))
      case MessageType.RequestVoteRequest:
        return handler
          .requestVote(frame.body)
          .then((body) => ({ type: MessageType.RequestVoteResponse, requestId, body }))
      case MessageType.InstallSnapshotRequest:
        return handler
          .installSnapshot(frame.body)
          .then((body) => ({ type: MessageType.InstallSnapshotResponse, requestId, body }))
      case MessageType.TimeoutNowRequest:
        return handler
          .timeoutNow(frame.body)
          .then((body) => ({ type: MessageType.TimeoutNowResponse, requestId, body }))
    }
  }

  /** Writes the answer to request `requestId` once `outcome` settles: the response, or an error frame. */
  private answer(s: InboundStream, outcome: Promise<ResponseFrame>, requestId: number): void {
    s.active++
    outcome
      .then(
        (frame) => encodeFrame(frame, this.maxFrameBytes),
        (err: unknown) => encodeError(requestId, errorMessage(err)),
      )
      .catch((err: unknown) => encodeError(requestId, `cannot encode the answer: ${errorMessage(err)}`))
      .then((bytes) => {
        if (s.closed) {
          // The caller is gone; so is its interest in the answer.
          s.active--
          return
        }
        s.queue.push(bytes)
        if (!s.flushScheduled) {
          s.flushScheduled = true
          this.defer(() => {
            s.flushScheduled = false
            this.flushAnswers(s)
          })
        }
      })
      .catch((err: unknown) => {
        // Only a bug could land here (every step above handles its own failures); the caller
        // gets a timeout, and the log says why.
        this.log.debug({ peer: s.remotePeer, requestId, err: errorMessage(err) }, 'raft answer failed')
      })
  }

  private flushAnswers(s: InboundStream): void {
    if (s.waitingDrain) return
    while (s.queue.length > 0 && !s.closed) {
      const { bytes, count } = takeFrames(s.queue, COALESCE_MAX_BYTES)
      s.active -= count
      let more: boolean
      try {
        more = s.stream.send(bytes)
      } catch (err) {
        // Our writable end is gone (the stream is closing): nobody can be answered any more.
        this.log.debug({ peer: s.remotePeer, err: errorMessage(err) }, 'raft answer not sent')
        s.closed = true
        s.stream.abort(new Error('raft answer not sent'))
        return
      }
      if (!more) {
        s.waitingDrain = true
        s.stream.onDrain().then(
          () => {
            s.waitingDrain = false
            this.flushAnswers(s)
          },
          // Closed instead: its 'close' listener cleans up.
          () => {},
        )
        break
      }
    }
    if (s.paused && s.active < this.maxConcurrentHandlersPerStream && !s.closed) {
      s.paused = false
      tryIgnore(() => s.stream.resume())
      // Frames that arrived before the pause are still in the decoder.
      this.pump(s)
    }
    this.maybeFinish(s)
  }

  /** Closes our end once the caller closed its end and every answer is written. */
  private maybeFinish(s: InboundStream): void {
    if (s.closed || s.active > 0 || s.stream.remoteWriteStatus !== 'closed') return
    s.closed = true
    s.stream
      .close()
      .catch((err: unknown) => s.stream.abort(err instanceof Error ? err : new Error(String(err))))
  }

  /** A peer broke the protocol: nothing more on this stream can be trusted. */
  private protocolError(stream: Stream, err: unknown): void {
    this.log.debug({ stream: stream.id, err: errorMessage(err) }, 'raft protocol error, aborting stream')
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  }

  // ---------------------------------------------------------------- closing

  private async shutdown(): Promise<void> {
    this.handler = undefined
    this.closeController.abort(new Error('raft transport closed'))
    for (const channel of [...this.channels.values()]) this.kill(channel, 'the transport is closed', 'closed')
    for (const s of [...this.inbound]) {
      s.closed = true
      s.stream.abort(new Error('raft transport closed'))
    }
    this.inbound.clear()
    if (this.starting) {
      try {
        await this.starting
        await this.host.unhandle(RAFT_PROTOCOL)
      } catch (err) {
        // start() failed, or the host is stopping or stopped already (the daemon owns it):
        // there is no registration left to undo then.
        this.log.debug({ err: errorMessage(err) }, 'raft unhandle failed')
      }
    }
    this.log.debug('raft transport closed')
  }
}

// ---------------------------------------------------------------- helpers

function encodeError(requestId: number, message: string): Uint8Array {
  return encodeFrame({ type: MessageType.Error, requestId, body: { message } })
}

/** Feeds a message event's data (one buffer or a list of them) to a decoder without copying. */
function pushData(decoder: FrameDecoder, data: StreamMessageEvent['data']): void {
  if (data instanceof Uint8Array) decoder.push(data)
  else for (const buf of data) decoder.push(buf)
}

function parsePeerId(id: string): PeerId | undefined {
  try {
    return peerIdFromString(id)
  } catch {
    // Not a peer id (a test's made-up server id): there is no peer store entry to fall back to.
    return undefined
  }
}

/**
 * The address to advertise: `override` with `/p2p/<peer id>` ensured, or the host's first
 * listen multiaddr that is not a wildcard.
 */
function resolveLocalAddress(host: RaftTransportHost, override: ServerAddress | undefined): ServerAddress {
  const own = host.peerId.toString()
  if (override !== undefined) {
    const ma = multiaddr(override)
    const named = ma.getComponents().find((c) => c.name === 'p2p')?.value
    if (named === undefined) return ma.encapsulate(`/p2p/${own}`).toString()
    if (named !== own)
      throw new Error(`raft transport: localAddress ${override} names peer ${named}, not ${own}`)
    return ma.toString()
  }
  for (const ma of host.getMultiaddrs()) {
    const s = ma.toString()
    if (s.startsWith('/ip4/0.0.0.0/') || s.startsWith('/ip6/::/')) continue
    return ma.getComponents().some((c) => c.name === 'p2p') ? s : ma.encapsulate(`/p2p/${own}`).toString()
  }
  throw new Error('raft transport: the host has no listen address to advertise; pass localAddress')
}

function positiveInteger(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${field} must be an integer >= 1, got ${value}`)
  return value
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Runs `fn`, ignoring a throw: pause/resume throw on a stream that is closing, which its 'close' listener handles. */
function tryIgnore(fn: () => void): void {
  try {
    fn()
  } catch {
    // See the doc comment: the stream is closing and will be cleaned up by its listener.
  }
}

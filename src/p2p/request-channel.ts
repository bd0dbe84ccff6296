/**
 * RequestChannel: request/answer exchanges over one long-lived, pipelined stream per peer (the
 * hot path of requests to the leader: every write made through a follower's API).
 *
 * Opening a libp2p stream costs a multistream-select negotiation and a yamux stream setup on
 * both sides; for one small request that is most of the work. So each peer keeps one outbound
 * stream per peer it sends to, opened on the first request and reused: requests are written in
 * send order, each frame tagged with a request id its answer carries back. The serving side
 * hands every request to the handler as it arrives and writes its answer when it settles, so
 * answers may overtake one another; the ids pair them up. Payloads are opaque bytes: what they
 * mean is the caller's (ClusterManager's leader requests, src/p2p/cluster-manager.ts).
 *
 *   const channel = new RequestChannel({ host: libp2pChannelHost(host, '/x/1.0.0'), clock })
 *   await channel.serve(async (payload, remotePeer) => answerFor(payload))
 *   const answer = await channel.request({ id, address }, bytes, 5000)
 *   channel.closeIdle([leaderId])  // now and then: drop streams to peers we no longer use
 *   await channel.close()
 *
 * Frames produced in one turn of the event loop leave in one send (coalesce.ts): the requests
 * of every HTTP request read in one poll, the answers of a whole applied Raft batch.
 *
 * Wire format (both directions), never renumber: u32 length of the rest, u32 request id,
 * u8 kind (1 request, 2 answer, 3 error answer with a UTF-8 message), then the payload.
 *
 * Failures reject with `RpcError`: no stream (a dial that failed) or a stream that broke
 * rejects every request outstanding on it with 'unreachable', and the next request redials;
 * no answer within its timeout is 'timeout' (the stream is kept, a late answer dropped);
 * more than `maxInflightPerPeer` outstanding to one peer is 'overloaded'; a handler that
 * throws is 'remote' with its message; after `close()` everything is 'closed'.
 *
 * What a failed request did: 'overloaded', 'closed' and a failed dial mean it was never sent.
 * 'unreachable' on a stream that broke and 'timeout' mean it may or may not have reached the
 * peer and been carried out — the same ambiguity as one stream per request had. A request's
 * fate is tied only to its own stream: a timeout never breaks the stream for the others, and
 * a stream that falls silent is *retired* (new requests go on a new stream; those already on
 * it keep waiting for their answers until their own timeouts), never aborted under them.
 */

import type { Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { type Clock, SystemClock, type TimerHandle } from '../util/clock.js'
import { type Logger, silentLogger } from '../util/logger.js'
import { COALESCE_MAX_BYTES, type Defer, defaultDefer, takeFrames } from './coalesce.js'
import { RpcError } from './json-rpc.js'

/** The kinds of frame, as on the wire. Never renumber. */
export enum ChannelFrameKind {
  Request = 1,
  Answer = 2,
  Error = 3,
}

/** Bytes before a frame's payload: u32 length, u32 request id, u8 kind. */
export const CHANNEL_FRAME_HEADER_BYTES = 9

/** One decoded frame; `payload` is a view into the received bytes. */
export interface ChannelFrame {
  requestId: number
  kind: ChannelFrameKind
  payload: Uint8Array
}

/** Encodes one frame. */
export function encodeChannelFrame(
  requestId: number,
  kind: ChannelFrameKind,
  payload: Uint8Array,
): Uint8Array {
  const frame = new Uint8Array(CHANNEL_FRAME_HEADER_BYTES + payload.length)
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  view.setUint32(0, frame.length - 4)
  view.setUint32(4, requestId)
  frame[8] = kind
  frame.set(payload, CHANNEL_FRAME_HEADER_BYTES)
  return frame
}

/** A peer sent bytes that are not a frame: the stream cannot be trusted any more. */
export class ChannelProtocolError extends Error {
  override name = 'ChannelProtocolError'
}

/**
 * Splits received bytes into frames. Chunks are kept as they came and joined only when a
 * frame spans them, so a large frame arriving in many chunks is copied once.
 */
export class ChannelFrameDecoder {
  private readonly chunks: Uint8Array[] = []
  private bytes = 0

  constructor(private readonly maxFrameBytes: number) {}

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.bytes += chunk.length
  }

  /** The next complete frame, or undefined when more bytes are needed; throws on garbage. */
  next(): ChannelFrame | undefined {
    if (this.bytes < 4) return undefined
    let head = this.chunks[0]!
    if (head.length < 4) head = this.join()
    const length = new DataView(head.buffer, head.byteOffset, 4).getUint32(0)
    if (length < CHANNEL_FRAME_HEADER_BYTES - 4)
      throw new ChannelProtocolError(`frame of ${length} bytes is shorter than its header`)
    if (length > this.maxFrameBytes)
      throw new ChannelProtocolError(`frame of ${length} bytes is over the ${this.maxFrameBytes}-byte limit`)
    const total = 4 + length
    if (this.bytes < total) return undefined
    if (head.length < total) head = this.join()
    if (head.length === total) this.chunks.shift()
    else this.chunks[0] = head.subarray(total)
    this.bytes -= total
    const view = new DataView(head.buffer, head.byteOffset, CHANNEL_FRAME_HEADER_BYTES)
    const kind = head[8]!
    if (
      kind !== ChannelFrameKind.Request &&
      kind !== ChannelFrameKind.Answer &&
      kind !== ChannelFrameKind.Error
    )
      throw new ChannelProtocolError(`unknown frame kind ${kind}`)
    return { requestId: view.getUint32(4), kind, payload: head.subarray(CHANNEL_FRAME_HEADER_BYTES, total) }
  }

  /** Joins every buffered chunk into one (and returns it). */
  private join(): Uint8Array {
    const all = new Uint8Array(this.bytes)
    let at = 0
    for (const c of this.chunks) {
      all.set(c, at)
      at += c.length
    }
    this.chunks.length = 0
    this.chunks.push(all)
    return all
  }
}

// ---------------------------------------------------------------- the seam

/** The part of a stream the channel uses; a libp2p `Stream` has it all. */
export interface ChannelStream {
  readonly id: string
  readonly status: string
  readonly remoteWriteStatus: string
  inactivityTimeout: number
  maxReadBufferLength: number
  /** Queues bytes; false when the caller should wait for `onDrain()` before sending more. */
  send(data: Uint8Array): boolean
  onDrain(): Promise<void>
  pause(): void
  resume(): void
  abort(err: Error): void
  close(): Promise<void>
  addEventListener(
    type: 'message',
    listener: (evt: { data: Uint8Array | Iterable<Uint8Array> }) => void,
  ): void
  addEventListener(type: 'close', listener: (evt: { error?: Error | undefined }) => void): void
  addEventListener(type: 'remoteCloseWrite', listener: () => void): void
}

/** A peer to send to: its id and the address to dial. */
export interface ChannelTarget {
  id: string
  address: string
}

/** Where the channel gets its streams: a libp2p host (`libp2pChannelHost`) or an in-memory pair in tests. */
export interface ChannelHost {
  /** Opens a stream to `target`. */
  dial(target: ChannelTarget, signal: AbortSignal): Promise<ChannelStream>
  /** Starts accepting streams: `onStream` gets each one and the id of the peer that opened it. */
  handle(onStream: (stream: ChannelStream, remotePeer: string) => void): Promise<void>
  /** Stops accepting streams. */
  unhandle(): Promise<void>
}

/** The `ChannelHost` of a libp2p node, on `protocol`. */
export function libp2pChannelHost(
  host: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>,
  protocol: string,
  /** Inbound streams accepted per connection: one per peer in steady state, plus redials racing teardowns. */
  maxInboundStreams = 8,
): ChannelHost {
  return {
    async dial(target, signal) {
      let first: unknown
      try {
        return asChannelStream(await host.dialProtocol(multiaddr(target.address), protocol, { signal }))
      } catch (err) {
        first = err
      }
      if (signal.aborted) throw first
      // The address may be stale (the peer moved): libp2p may know the peer id elsewhere.
      let peerId: ReturnType<typeof peerIdFromString>
      try {
        peerId = peerIdFromString(target.id)
      } catch {
        // Not a peer id (a made-up test id): nothing else to try.
        throw first
      }
      return asChannelStream(await host.dialProtocol(peerId, protocol, { signal }))
    },
    async handle(onStream) {
      await host.handle(
        protocol,
        (stream, connection) => onStream(asChannelStream(stream), connection.remotePeer.toString()),
        { maxInboundStreams, maxOutboundStreams: maxInboundStreams },
      )
    },
    async unhandle() {
      await host.unhandle(protocol)
    },
  }
}

function asChannelStream(stream: Stream): ChannelStream {
  return stream as unknown as ChannelStream
}

// ---------------------------------------------------------------- the channel

/** Serves one request: its payload and the sender's peer id in, the answer's payload out. */
export type ChannelRequestHandler = (payload: Uint8Array, remotePeer: string) => Promise<Uint8Array>

/** What a `RequestChannel` is made from. Only `host` is required. */
export interface RequestChannelOptions {
  host: ChannelHost
  /**
   * The most requests outstanding (queued or sent, not answered) to one peer; past it a
   * request rejects at once with 'overloaded' (never sent). Default 1024.
   */
  maxInflightPerPeer?: number
  /**
   * The most requests of one inbound stream being handled at once (or whose answers wait to
   * be written); at the bound the stream stops reading, which pushes back on the sender.
   * Default 1024.
   */
  maxConcurrentHandlersPerStream?: number
  /** The largest frame sent or accepted; a peer announcing a larger one has its stream aborted. Default 16 MiB. */
  maxFrameBytes?: number
  /** How long opening a stream may take before its requests fail ('unreachable'). Default 5000 ms. */
  dialTimeoutMs?: number
  /**
   * A request that times out on a stream from which nothing has arrived for this long retires
   * the stream: later requests open a new one (a connection that died without a word would
   * otherwise swallow requests until TCP gives up). Default 5000 ms.
   */
  silentStreamMs?: number
  /** Times requests and dials. Default: `SystemClock`. */
  clock?: Clock
  /** When queued frames are sent: at the end of the event loop's turn (`setImmediate`) by default. */
  defer?: Defer
  /** Debug-level logs of streams opening and failing; never payloads. Default: silent. */
  logger?: Logger
}

/** An outgoing request waiting for its answer. */
interface Call {
  readonly requestId: number
  readonly resolve: (answer: Uint8Array) => void
  readonly reject: (err: Error) => void
  timer: TimerHandle | undefined
  /** The encoded frame while it waits in the queue; undefined once handed to the stream. */
  frame: Uint8Array | undefined
  /** Clock time it was handed to the stream; 0 before. */
  sentAtMs: number
}

/** The outbound stream to one peer, from the dial until it breaks, is retired, or the channel closes. */
interface Outbound {
  readonly target: ChannelTarget
  state: 'dialing' | 'open' | 'dead'
  /** No longer given new requests: closed once those it has are settled. */
  retired: boolean
  stream: ChannelStream | undefined
  readonly calls: Map<number, Call>
  /** Requests not yet handed to the stream (it is opening, or must drain first), in send order. */
  readonly queue: Call[]
  waitingDrain: boolean
  flushScheduled: boolean
  readonly decoder: ChannelFrameDecoder
  /** Clock time the stream opened or last delivered a frame. */
  lastReceivedMs: number
}

/** The serving side of one inbound stream. */
interface Inbound {
  readonly stream: ChannelStream
  readonly remotePeer: string
  readonly decoder: ChannelFrameDecoder
  /** Requests being handled plus answers waiting to be written. */
  active: number
  paused: boolean
  closed: boolean
  readonly queue: Uint8Array[]
  waitingDrain: boolean
  flushScheduled: boolean
}

/**
 * Inactivity timeout set on channel streams: the largest a Node timer takes, i.e. off. An
 * idle stream is closed by `closeIdle`, and a dead one noticed by the silence rule, instead of
 * libp2p's 2-minute default cutting it under a request that is just being sent.
 */
const STREAM_INACTIVITY_TIMEOUT_MS = 2 ** 31 - 1

/** Request/answer over one long-lived stream per peer. See the file comment. */
export class RequestChannel {
  private readonly host: ChannelHost
  private readonly clock: Clock
  private readonly log: Logger
  private readonly maxInflightPerPeer: number
  private readonly maxConcurrentHandlersPerStream: number
  private readonly maxFrameBytes: number
  private readonly dialTimeoutMs: number
  private readonly silentStreamMs: number
  private readonly defer: Defer

  private handler: ChannelRequestHandler | undefined
  private serving: Promise<void> | undefined
  private closing: Promise<void> | undefined
  private readonly closeController = new AbortController()
  /** The stream new requests to a peer go on, by peer id. */
  private readonly current = new Map<string, Outbound>()
  /** Retired streams still waiting for answers. */
  private readonly retired = new Set<Outbound>()
  private readonly inbound = new Set<Inbound>()
  /** Ids wrap at 2^32; at most `maxInflightPerPeer` are outstanding per stream, so none collide. */
  private nextRequestId = 1

  constructor(options: RequestChannelOptions) {
    this.host = options.host
    this.clock = options.clock ?? new SystemClock()
    this.log = (options.logger ?? silentLogger()).child({ component: 'request-channel' })
    this.maxInflightPerPeer = positiveInteger('maxInflightPerPeer', options.maxInflightPerPeer ?? 1024)
    this.maxConcurrentHandlersPerStream = positiveInteger(
      'maxConcurrentHandlersPerStream',
      options.maxConcurrentHandlersPerStream ?? 1024,
    )
    this.maxFrameBytes = positiveInteger('maxFrameBytes', options.maxFrameBytes ?? 16 * 1024 * 1024)
    this.dialTimeoutMs = positiveInteger('dialTimeoutMs', options.dialTimeoutMs ?? 5000)
    this.silentStreamMs = positiveInteger('silentStreamMs', options.silentStreamMs ?? 5000)
    this.defer = options.defer ?? defaultDefer
  }

  /** Starts serving requests with `handler`. Call once. */
  serve(handler: ChannelRequestHandler): Promise<void> {
    if (this.closing) return Promise.reject(new RpcError('request channel: serve after close', 'closed'))
    if (this.serving) return Promise.reject(new Error('request channel: serve called twice'))
    this.handler = handler
    this.serving = this.host.handle((stream, remotePeer) => this.accept(stream, remotePeer))
    return this.serving
  }

  /** Sends `payload` to `target` and resolves with the answer's payload. */
  request(target: ChannelTarget, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closing) return Promise.reject(new RpcError('request channel closed', 'closed'))
    if (payload.length + CHANNEL_FRAME_HEADER_BYTES - 4 > this.maxFrameBytes) {
      return Promise.reject(
        new RpcError(
          `request of ${payload.length} bytes is over the ${this.maxFrameBytes}-byte limit`,
          'protocol',
        ),
      )
    }
    let out = this.current.get(target.id)
    if (out && out.target.address !== target.address) {
      // The peer moved (a new address in the configuration): new requests go to the new one.
      this.retire(out, 'the peer has a new address')
      out = undefined
    }
    if (out && out.calls.size >= this.maxInflightPerPeer) {
      return Promise.reject(
        new RpcError(`${out.calls.size} requests already outstanding to ${target.id}`, 'overloaded'),
      )
    }
    out ??= this.open(target)
    const requestId = this.nextRequestId
    this.nextRequestId = this.nextRequestId >= 0xffffffff ? 1 : this.nextRequestId + 1
    const frame = encodeChannelFrame(requestId, ChannelFrameKind.Request, payload)
    const o = out
    return new Promise<Uint8Array>((resolve, reject) => {
      const call: Call = { requestId, resolve, reject, timer: undefined, frame, sentAtMs: 0 }
      call.timer = this.clock.setTimeout(() => this.timeOut(o, call, timeoutMs), timeoutMs)
      o.calls.set(requestId, call)
      o.queue.push(call)
      this.scheduleFlush(o)
    })
  }

  /**
   * Closes the streams to every peer not in `keep` that have nothing outstanding: the
   * caller's way of letting go of peers it no longer sends to (a former leader).
   */
  closeIdle(keep: Iterable<string | undefined> = []): void {
    const kept = new Set(keep)
    for (const out of [...this.current.values()]) {
      if (!kept.has(out.target.id) && out.calls.size === 0) this.kill(out, 'idle', 'unreachable')
    }
  }

  /** How many outbound streams are open or opening (current and retired); for tests and metrics. */
  outboundStreams(): number {
    return this.current.size + this.retired.size
  }

  /**
   * Stops serving, aborts every stream, and rejects outstanding and later requests with
   * 'closed'. Idempotent.
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

  private open(target: ChannelTarget): Outbound {
    const out: Outbound = {
      target: { ...target },
      state: 'dialing',
      retired: false,
      stream: undefined,
      calls: new Map(),
      queue: [],
      waitingDrain: false,
      flushScheduled: false,
      decoder: new ChannelFrameDecoder(this.maxFrameBytes),
      lastReceivedMs: this.clock.now(),
    }
    this.current.set(target.id, out)
    void this.dial(out)
    return out
  }

  private async dial(out: Outbound): Promise<void> {
    const dialAbort = new AbortController()
    const timer = this.clock.setTimeout(
      () => dialAbort.abort(new Error('dial timed out')),
      this.dialTimeoutMs,
    )
    let stream: ChannelStream
    try {
      stream = await this.host.dial(
        out.target,
        AbortSignal.any([dialAbort.signal, this.closeController.signal]),
      )
    } catch (err) {
      this.log.debug({ peer: out.target.id, err: errorMessage(err) }, 'request channel dial failed')
      this.kill(out, `cannot reach peer: ${errorMessage(err)}`, 'unreachable')
      return
    } finally {
      this.clock.clearTimeout(timer)
    }
    if (out.state === 'dead') {
      // Given up while dialing (closed, or idle): nobody is left to use the stream.
      stream.abort(new Error('request channel closed while dialing'))
      return
    }
    stream.inactivityTimeout = STREAM_INACTIVITY_TIMEOUT_MS
    out.stream = stream
    out.state = 'open'
    out.lastReceivedMs = this.clock.now()
    stream.addEventListener('message', (evt) => this.onAnswerData(out, evt.data))
    stream.addEventListener('close', (evt) =>
      this.kill(out, evt.error ? `stream failed: ${evt.error.message}` : 'stream closed', 'unreachable'),
    )
    // The server never half-closes a healthy stream: no answer can come any more.
    stream.addEventListener('remoteCloseWrite', () =>
      this.kill(out, 'stream closed by the peer', 'unreachable'),
    )
    this.log.debug({ peer: out.target.id, stream: stream.id }, 'request channel stream opened')
    this.flush(out)
  }

  /** Sends what is queued at the end of this turn of the event loop, with whatever else comes. */
  private scheduleFlush(out: Outbound): void {
    if (out.flushScheduled) return
    out.flushScheduled = true
    this.defer(() => {
      out.flushScheduled = false
      this.flush(out)
    })
  }

  /** Hands queued frames to the stream in order, joined, until it asks to drain. */
  private flush(out: Outbound): void {
    const stream = out.stream
    if (out.state !== 'open' || !stream || out.waitingDrain) return
    const now = this.clock.now()
    while (out.queue.length > 0) {
      const frames: Uint8Array[] = []
      let bytes = 0
      while (out.queue.length > 0) {
        const call = out.queue[0]!
        const frame = call.frame!
        if (frames.length > 0 && bytes + frame.length > COALESCE_MAX_BYTES) break
        out.queue.shift()
        frames.push(frame)
        bytes += frame.length
        call.frame = undefined
        call.sentAtMs = now
      }
      let more: boolean
      try {
        more = stream.send(takeFrames(frames, Number.POSITIVE_INFINITY).bytes)
      } catch (err) {
        this.kill(out, `send failed: ${errorMessage(err)}`, 'unreachable')
        return
      }
      if (!more) {
        out.waitingDrain = true
        stream.onDrain().then(
          () => {
            out.waitingDrain = false
            this.flush(out)
          },
          // The stream closed instead of draining; its 'close' listener fails the stream.
          () => {},
        )
        return
      }
    }
  }

  private timeOut(out: Outbound, call: Call, timeoutMs: number): void {
    call.timer = undefined
    if (out.calls.get(call.requestId) !== call) return
    out.calls.delete(call.requestId)
    const sent = call.frame === undefined
    if (!sent) {
      // Never sent (the stream is still opening or draining): it never will be now.
      const i = out.queue.indexOf(call)
      if (i >= 0) out.queue.splice(i, 1)
      call.frame = undefined
    }
    call.reject(
      new RpcError(
        `no answer from ${out.target.id} within ${timeoutMs} ms${sent ? '' : ' (the request was never sent)'}`,
        'timeout',
      ),
    )
    const silentMs = this.clock.now() - out.lastReceivedMs
    if (out.state === 'open' && sent && silentMs >= this.silentStreamMs) {
      this.retire(out, `no answer for ${silentMs} ms`)
    }
    this.maybeFinishRetired(out)
  }

  private onAnswerData(out: Outbound, data: Uint8Array | Iterable<Uint8Array>): void {
    if (out.state !== 'open') return
    if (data instanceof Uint8Array) out.decoder.push(data)
    else for (const chunk of data) out.decoder.push(chunk)
    for (;;) {
      let frame: ChannelFrame | undefined
      try {
        frame = out.decoder.next()
      } catch (err) {
        this.kill(out, `bad frame from the peer: ${errorMessage(err)}`, 'unreachable')
        return
      }
      if (!frame) break
      out.lastReceivedMs = this.clock.now()
      if (frame.kind === ChannelFrameKind.Request) {
        this.kill(out, 'the peer sent a request on our stream', 'unreachable')
        return
      }
      const call = out.calls.get(frame.requestId)
      if (!call) {
        // It timed out already: a late answer has nobody to go to.
        continue
      }
      out.calls.delete(frame.requestId)
      this.clock.clearTimeout(call.timer)
      call.timer = undefined
      if (frame.kind === ChannelFrameKind.Answer) call.resolve(frame.payload)
      else call.reject(new RpcError(new TextDecoder().decode(frame.payload), 'remote'))
    }
    this.maybeFinishRetired(out)
  }

  /** New requests to this peer go on a new stream; this one closes once its requests settle. */
  private retire(out: Outbound, reason: string): void {
    if (out.retired || out.state === 'dead') return
    out.retired = true
    if (this.current.get(out.target.id) === out) this.current.delete(out.target.id)
    this.retired.add(out)
    this.log.debug(
      { peer: out.target.id, reason, outstanding: out.calls.size },
      'request channel stream retired',
    )
    this.maybeFinishRetired(out)
  }

  private maybeFinishRetired(out: Outbound): void {
    if (out.retired && out.calls.size === 0) this.kill(out, 'retired', 'unreachable')
  }

  /** Ends a stream: rejects all it holds with `code`, aborts the stream, forgets it. */
  private kill(out: Outbound, reason: string, code: RpcError['code']): void {
    if (out.state === 'dead') return
    const wasOpen = out.state === 'open'
    out.state = 'dead'
    if (this.current.get(out.target.id) === out) this.current.delete(out.target.id)
    this.retired.delete(out)
    const calls = [...out.calls.values()]
    out.calls.clear()
    out.queue.length = 0
    for (const call of calls) {
      this.clock.clearTimeout(call.timer)
      call.timer = undefined
      const unsent = call.frame !== undefined
      call.frame = undefined
      call.reject(
        new RpcError(
          `${out.target.id}: ${reason}${unsent ? ' (the request was never sent)' : ' (the request may or may not have been carried out)'}`,
          code,
        ),
      )
    }
    if (out.stream && out.stream.status === 'open') out.stream.abort(new Error(reason))
    if (wasOpen)
      this.log.debug({ peer: out.target.id, reason, failed: calls.length }, 'request channel stream closed')
  }

  // ---------------------------------------------------------------- server side

  private accept(stream: ChannelStream, remotePeer: string): void {
    if (this.closing) {
      stream.abort(new Error('request channel closed'))
      return
    }
    stream.inactivityTimeout = STREAM_INACTIVITY_TIMEOUT_MS
    const s: Inbound = {
      stream,
      remotePeer,
      decoder: new ChannelFrameDecoder(this.maxFrameBytes),
      active: 0,
      paused: false,
      closed: false,
      queue: [],
      waitingDrain: false,
      flushScheduled: false,
    }
    this.inbound.add(s)
    stream.addEventListener('message', (evt) => {
      if (s.closed) return
      const data = evt.data
      if (data instanceof Uint8Array) s.decoder.push(data)
      else for (const chunk of data) s.decoder.push(chunk)
      this.pump(s)
    })
    stream.addEventListener('close', () => {
      s.closed = true
      this.inbound.delete(s)
    })
    // The caller is done sending: answer what is in hand, then close our end.
    stream.addEventListener('remoteCloseWrite', () => this.maybeFinish(s))
  }

  /** Starts handling buffered requests, up to the concurrency bound; pauses reading at it. */
  private pump(s: Inbound): void {
    while (!s.closed && s.active < this.maxConcurrentHandlersPerStream) {
      let frame: ChannelFrame | undefined
      try {
        frame = s.decoder.next()
      } catch (err) {
        this.protocolError(s, err)
        return
      }
      if (!frame) break
      if (frame.kind !== ChannelFrameKind.Request) {
        this.protocolError(s, new ChannelProtocolError(`an answer frame on an inbound stream`))
        return
      }
      this.answer(s, frame.requestId, frame.payload)
    }
    if (!s.closed && s.active >= this.maxConcurrentHandlersPerStream && !s.paused) {
      s.paused = true
      tryIgnore(() => s.stream.pause())
    }
  }

  /** Runs the handler for one request and queues its answer (or error) when it settles. */
  private answer(s: Inbound, requestId: number, payload: Uint8Array): void {
    s.active++
    let outcome: Promise<Uint8Array>
    const handler = this.handler
    try {
      outcome = handler ? handler(payload, s.remotePeer) : Promise.reject(new Error('not serving'))
    } catch (err) {
      outcome = Promise.reject(err)
    }
    outcome
      .then(
        (answer) =>
          answer.length + CHANNEL_FRAME_HEADER_BYTES - 4 > this.maxFrameBytes
            ? errorFrame(requestId, `the answer of ${answer.length} bytes is over the frame limit`)
            : encodeChannelFrame(requestId, ChannelFrameKind.Answer, answer),
        (err: unknown) => errorFrame(requestId, errorMessage(err)),
      )
      .then((bytes) => {
        if (s.closed) {
          // The caller is gone, and with it its interest in the answer.
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
        // Only a bug lands here (each step above handles its own failures); the caller times out.
        this.log.warn(
          { peer: s.remotePeer, requestId, err: errorMessage(err) },
          'request channel answer failed',
        )
      })
  }

  private flushAnswers(s: Inbound): void {
    if (s.waitingDrain) return
    while (s.queue.length > 0 && !s.closed) {
      const { bytes, count } = takeFrames(s.queue, COALESCE_MAX_BYTES)
      s.active -= count
      let more: boolean
      try {
        more = s.stream.send(bytes)
      } catch (err) {
        // Our writable end is gone: nobody on this stream can be answered any more.
        this.log.debug({ peer: s.remotePeer, err: errorMessage(err) }, 'request channel answer not sent')
        s.closed = true
        s.stream.abort(new Error('answer not sent'))
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
      // Requests that arrived before the pause are still in the decoder.
      this.pump(s)
    }
    this.maybeFinish(s)
  }

  /** Closes our end once the caller closed its end and every answer is written. */
  private maybeFinish(s: Inbound): void {
    if (s.closed || s.active > 0 || s.stream.remoteWriteStatus !== 'closed') return
    s.closed = true
    s.stream
      .close()
      .catch((err: unknown) => s.stream.abort(err instanceof Error ? err : new Error(String(err))))
  }

  private protocolError(s: Inbound, err: unknown): void {
    this.log.debug(
      { peer: s.remotePeer, err: errorMessage(err) },
      'request channel protocol error, aborting stream',
    )
    s.closed = true
    s.stream.abort(err instanceof Error ? err : new Error(String(err)))
  }

  // ---------------------------------------------------------------- closing

  private async shutdown(): Promise<void> {
    this.handler = undefined
    this.closeController.abort(new Error('request channel closed'))
    for (const out of [...this.current.values(), ...this.retired])
      this.kill(out, 'the channel is closed', 'closed')
    for (const s of [...this.inbound]) {
      s.closed = true
      s.stream.abort(new Error('request channel closed'))
    }
    this.inbound.clear()
    if (this.serving) {
      try {
        await this.serving
        await this.host.unhandle()
      } catch (err) {
        // serve() failed, or the host is stopped already (its owner stops it): nothing to undo.
        this.log.debug({ err: errorMessage(err) }, 'request channel unhandle failed')
      }
    }
  }
}

function errorFrame(requestId: number, message: string): Uint8Array {
  return encodeChannelFrame(requestId, ChannelFrameKind.Error, new TextEncoder().encode(message))
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
    // See the doc comment.
  }
}

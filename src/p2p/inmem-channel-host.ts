/**
 * An in-memory `ChannelHost` for tests of `RequestChannel`: peers on one `InmemChannelNetwork`
 * dial each other by id and get a pair of in-memory streams. Bytes are delivered in order on
 * the microtask queue; the network can refuse dials, hold them, make a stream swallow what is
 * sent (a connection that died without a word), and break every stream between two peers.
 *
 *   const net = new InmemChannelNetwork()
 *   const server = new RequestChannel({ host: net.host('b'), clock })
 *   await server.serve(async (payload) => payload)
 *   const client = new RequestChannel({ host: net.host('a'), clock })
 *   await client.request({ id: 'b', address: 'b' }, bytes, 1000)
 */

import type { ChannelHost, ChannelStream, ChannelTarget } from './request-channel.js'

type MessageListener = (evt: { data: Uint8Array | Iterable<Uint8Array> }) => void
type CloseListener = (evt: { error?: Error | undefined }) => void

/** One end of an in-memory stream pair. */
export class InmemChannelStream implements ChannelStream {
  status: 'open' | 'closed' | 'aborted' | 'reset' = 'open'
  remoteWriteStatus: 'writable' | 'closed' = 'writable'
  writeStatus: 'writable' | 'closed' = 'writable'
  inactivityTimeout = 0
  maxReadBufferLength = 0
  /** When true, what this end sends vanishes (a connection that died silently). */
  blackhole = false
  /** Sends after which `send` returns false until the next `onDrain` settles; 0: never. */
  drainEvery = 0
  /** Bytes handed to `send`, in order (for tests that look at the wire). */
  readonly sent: Uint8Array[] = []
  peer!: InmemChannelStream
  private readonly messageListeners: MessageListener[] = []
  private readonly closeListeners: CloseListener[] = []
  private readonly remoteCloseWriteListeners: (() => void)[] = []
  private paused = false
  private readonly held: Uint8Array[] = []
  private sendsSinceDrain = 0

  constructor(readonly id: string) {}

  send(data: Uint8Array): boolean {
    if (this.status !== 'open' || this.writeStatus !== 'writable') throw new Error('stream is not writable')
    const copy = data.slice()
    this.sent.push(copy)
    if (!this.blackhole) {
      const peer = this.peer
      queueMicrotask(() => peer.deliver(copy))
    }
    this.sendsSinceDrain++
    return this.drainEvery === 0 || this.sendsSinceDrain < this.drainEvery
  }

  onDrain(): Promise<void> {
    return new Promise((resolve, reject) => {
      queueMicrotask(() => {
        if (this.status !== 'open') {
          reject(new Error('stream closed'))
          return
        }
        this.sendsSinceDrain = 0
        resolve()
      })
    })
  }

  pause(): void {
    this.paused = true
  }

  resume(): void {
    this.paused = false
    while (!this.paused && this.held.length > 0 && this.status === 'open')
      this.emitMessage(this.held.shift()!)
  }

  abort(err: Error): void {
    if (this.status !== 'open') return
    this.status = 'aborted'
    this.emitClose(err)
    const peer = this.peer
    queueMicrotask(() => peer.reset())
  }

  close(): Promise<void> {
    if (this.status !== 'open') return Promise.resolve()
    this.writeStatus = 'closed'
    const peer = this.peer
    queueMicrotask(() => peer.remoteClosedWrite())
    if (this.remoteWriteStatus === 'closed') this.finish()
    return Promise.resolve()
  }

  addEventListener(type: 'message', listener: MessageListener): void
  addEventListener(type: 'close', listener: CloseListener): void
  addEventListener(type: 'remoteCloseWrite', listener: () => void): void
  addEventListener(type: string, listener: MessageListener | CloseListener | (() => void)): void {
    if (type === 'message') this.messageListeners.push(listener as MessageListener)
    else if (type === 'close') this.closeListeners.push(listener as CloseListener)
    else if (type === 'remoteCloseWrite') this.remoteCloseWriteListeners.push(listener as () => void)
  }

  private deliver(data: Uint8Array): void {
    if (this.status !== 'open') return
    if (this.paused) this.held.push(data)
    else this.emitMessage(data)
  }

  private reset(): void {
    if (this.status !== 'open') return
    this.status = 'reset'
    this.emitClose(new Error('stream reset by the remote'))
  }

  private remoteClosedWrite(): void {
    if (this.status !== 'open') return
    this.remoteWriteStatus = 'closed'
    for (const l of this.remoteCloseWriteListeners) l()
    if (this.writeStatus === 'closed') this.finish()
  }

  private finish(): void {
    if (this.status !== 'open') return
    this.status = 'closed'
    this.emitClose(undefined)
  }

  private emitMessage(data: Uint8Array): void {
    for (const l of this.messageListeners) l({ data })
  }

  private emitClose(error: Error | undefined): void {
    for (const l of this.closeListeners) l({ error })
  }
}

/** Peers that reach each other through in-memory streams. */
export class InmemChannelNetwork {
  /** Every stream opened, client end first, by the dialing peer. */
  readonly streams: { from: string; to: string; client: InmemChannelStream; server: InmemChannelStream }[] =
    []
  private readonly handlers = new Map<string, (stream: ChannelStream, remotePeer: string) => void>()
  private readonly unreachable = new Set<string>()
  private held: Promise<void> | undefined
  private nextStreamId = 1

  /** The host of peer `id`. */
  host(id: string): ChannelHost {
    return {
      dial: (target, signal) => this.dial(id, target, signal),
      handle: async (onStream) => {
        this.handlers.set(id, onStream)
      },
      unhandle: async () => {
        this.handlers.delete(id)
      },
    }
  }

  /** Dials to `id` fail (or succeed again) from now on. */
  setUnreachable(id: string, unreachable: boolean): void {
    if (unreachable) this.unreachable.add(id)
    else this.unreachable.delete(id)
  }

  /** Dials wait until `until` settles (undefined: no more waiting). */
  holdDials(until: Promise<void> | undefined): void {
    this.held = until
  }

  /** Aborts every open stream between `a` and `b`, as a broken connection does. */
  breakStreams(a: string, b: string): void {
    for (const s of this.streams) {
      if ((s.from === a && s.to === b) || (s.from === b && s.to === a))
        s.client.abort(new Error('connection broken'))
    }
  }

  /** The streams `from` opened to `to` that are still open. */
  openStreams(from: string, to: string): InmemChannelStream[] {
    return this.streams
      .filter((s) => s.from === from && s.to === to && s.client.status === 'open')
      .map((s) => s.client)
  }

  private async dial(from: string, target: ChannelTarget, signal: AbortSignal): Promise<ChannelStream> {
    if (this.held) await this.held
    if (signal.aborted) throw new Error('dial aborted')
    const handler = this.handlers.get(target.id)
    if (!handler || this.unreachable.has(target.id)) throw new Error(`connection refused by ${target.id}`)
    const n = this.nextStreamId++
    const client = new InmemChannelStream(`${from}->${target.id}#${n}`)
    const server = new InmemChannelStream(`${target.id}<-${from}#${n}`)
    client.peer = server
    server.peer = client
    this.streams.push({ from, to: target.id, client, server })
    handler(server, from)
    return client
  }
}

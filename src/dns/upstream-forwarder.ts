/**
 * UpstreamForwarder: relays a query that is not about the cluster to the host's resolvers,
 * one after the other, each given `timeoutMs` to answer. UDP queries go out over UDP from a
 * fresh socket each (a random source port per query, so a spoofed reply must guess it); TCP
 * queries over a fresh TCP connection. The reply's bytes come back untouched (same id, the
 * upstream's own flags and EDNS answer), or null when no upstream answered.
 *
 * Bounded: at most `maxInFlight` forwards at once; a query beyond it gets null at once (the
 * server answers SERVFAIL and the client retries) rather than an unbounded pile of sockets.
 */

import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { isIPv6, type Socket as TcpSocket, connect as tcpConnect } from 'node:net'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import type { Upstream } from './resolv-conf.js'

/** How the forwarder behaves. */
export interface ForwarderConfig {
  upstreams: Upstream[]
  /** How long each upstream has to answer before the next is asked. */
  timeoutMs: number
  /** Forwards in progress at once; more are refused (null). */
  maxInFlight: number
}

/** Transport of a forwarded query: the client's own. */
export type Transport = 'udp' | 'tcp'

export class UpstreamForwarder {
  private inFlight = 0
  /** Closers of every open upstream socket, so `stop()` ends them all. */
  private readonly open = new Set<() => void>()
  private stopped = false

  constructor(
    private readonly config: ForwarderConfig,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** The forwards in progress. */
  pending(): number {
    return this.inFlight
  }

  /** Relays `query` (a whole DNS message); resolves with the first upstream reply, or null. */
  async forward(query: Buffer, transport: Transport): Promise<Buffer | null> {
    if (this.stopped || this.config.upstreams.length === 0) return null
    if (this.inFlight >= this.config.maxInFlight) {
      this.log.debug({ inFlight: this.inFlight }, 'forward refused: too many in flight')
      return null
    }
    this.inFlight++
    try {
      for (const upstream of this.config.upstreams) {
        if (this.stopped) return null
        const reply =
          transport === 'udp' ? await this.askUdp(upstream, query) : await this.askTcp(upstream, query)
        if (reply) return reply
        this.log.debug(
          { upstream: `${upstream.host}:${upstream.port}`, transport },
          'upstream did not answer',
        )
      }
      return null
    } finally {
      this.inFlight--
    }
  }

  /** Accepts forwards again after `stop()` (a server can be restarted). */
  start(): void {
    this.stopped = false
  }

  /** Ends every forward in progress (each resolves null) and refuses new ones. Idempotent. */
  stop(): void {
    this.stopped = true
    for (const close of [...this.open]) close()
  }

  /**
   * One exchange with an upstream: `start` wires its socket, calls `finish(reply)` on an answer
   * (or `finish(null)` on a failure) and returns what releases the socket. The exchange ends at
   * the first of those or at the timeout, whichever comes first, exactly once.
   */
  private exchange(start: (finish: (reply: Buffer | null) => void) => () => void): Promise<Buffer | null> {
    return new Promise((resolve) => {
      let done = false
      let release: (() => void) | null = null
      const finish = (reply: Buffer | null) => {
        if (done) return
        done = true
        this.clock.clearTimeout(timer)
        this.open.delete(close)
        release?.()
        resolve(reply)
      }
      const close = () => finish(null)
      const timer = this.clock.setTimeout(close, this.config.timeoutMs)
      this.open.add(close)
      const stop = start(finish)
      if (done) stop()
      else release = stop
    })
  }

  private askUdp(upstream: Upstream, query: Buffer): Promise<Buffer | null> {
    return this.exchange((finish) => {
      const socket: UdpSocket = createSocket(isIPv6(upstream.host) ? 'udp6' : 'udp4')
      const id = query.readUInt16BE(0)
      // ICMP port unreachable and the like: this upstream failed, try the next.
      socket.on('error', () => finish(null))
      socket.on('message', (msg, from) => {
        // Only the upstream's reply to this query counts; anything else is ignored.
        if (from.address !== upstream.host || from.port !== upstream.port) return
        if (msg.length < 12 || msg.readUInt16BE(0) !== id) return
        finish(msg)
      })
      socket.send(query, upstream.port, upstream.host, (err) => {
        if (err) finish(null)
      })
      return () => socket.close()
    })
  }

  private askTcp(upstream: Upstream, query: Buffer): Promise<Buffer | null> {
    return this.exchange((finish) => {
      const socket: TcpSocket = tcpConnect({ host: upstream.host, port: upstream.port })
      let received: Buffer = Buffer.alloc(0)
      socket.on('error', () => finish(null))
      socket.on('close', () => finish(null))
      socket.on('connect', () => {
        const framed = Buffer.alloc(2 + query.length)
        framed.writeUInt16BE(query.length, 0)
        query.copy(framed, 2)
        socket.write(framed)
      })
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk])
        if (received.length < 2) return
        const length = received.readUInt16BE(0)
        if (received.length >= 2 + length) finish(received.subarray(2, 2 + length))
      })
      return () => socket.destroy()
    })
  }
}

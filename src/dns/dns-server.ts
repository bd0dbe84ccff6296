/**
 * ClusterDnsServer: the cluster DNS every peer runs, over UDP and TCP on one address. Names
 * under the cluster domain (and reverse names of cluster addresses) are answered from the
 * store with authority; anything else is relayed to the host's resolvers, SERVFAIL when none
 * answers. Malformed messages get FORMERR when their header is readable and nothing
 * otherwise; no message can stop the server.
 *
 * Several peers on one machine share one DNS address: `start()` rejects with the bind error
 * itself (EADDRINUSE, EADDRNOTAVAIL…) and holds nothing, so the caller can retry until the
 * current owner is gone. UDP is bound without SO_REUSEADDR on purpose: with it, two peers
 * could bind the same address and split the queries between them.
 */

import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram'
import { createServer, isIP, isIPv6, type Server, type Socket as TcpSocket } from 'node:net'
import type { Clock, TimerHandle } from '../util/clock.js'
import { type Logger, silentLogger } from '../util/logger.js'
import { ClusterRecords, DEFAULT_CLUSTER_DOMAIN, type StoreView } from './cluster-records.js'
import {
  decodeQuery,
  encodeAnswer,
  encodeError,
  encodeHeaderError,
  ResponseCode,
  udpLimit,
} from './dns-message.js'
import type { Upstream } from './resolv-conf.js'
import { type Transport, UpstreamForwarder } from './upstream-forwarder.js'

/** What the server is built from. */
export interface ClusterDnsServerOptions {
  /** The store the records are read from, at each question. */
  store: StoreView
  clock: Clock
  logger?: Logger
  /** The address to serve on (UDP and TCP), e.g. the cluster DNS address 10.96.0.10. */
  host: string
  /** 53 in production; 0 takes a free port (the same for UDP and TCP; see `address()`). */
  port: number
  /** Default `cluster.local`. */
  clusterDomain?: string
  /** Where other names go (see `upstreamsFromResolvConf`); none: they get SERVFAIL. */
  upstreams?: Upstream[]
  /** How long each upstream has to answer. Default 2000. */
  forwardTimeoutMs?: number
  /** Forwards in progress at once; a query beyond gets SERVFAIL. Default 1024. */
  maxForwardsInFlight?: number
  /** Open TCP connections; a connection beyond is closed at once. Default 256. */
  maxTcpConnections?: number
  /** A TCP connection with no query for this long is closed (RFC 7766 6.2.3). Default 10000. */
  tcpIdleMs?: number
  /** Queries of one TCP connection being answered at once; more close it. Default 64. */
  maxTcpPipelined?: number
}

/** A configuration value the server refuses; names the field and the value. */
export class InvalidDnsConfigError extends Error {
  override readonly name = 'InvalidDnsConfigError'
  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`dns server: ${field} ${JSON.stringify(value)} ${reason}`)
  }
}

function requireInt(field: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new InvalidDnsConfigError(field, value, `must be an integer in ${min}…${max}`)
}

/** Counters for tests and metrics. */
export interface DnsServerStats {
  /** Queries answered from the cluster records. */
  answered: number
  /** Queries relayed to an upstream that answered. */
  forwarded: number
  /** SERVFAIL replies (no upstream answered, or a fault). */
  servfail: number
  /** Messages that were not a well-formed query (FORMERR/NOTIMP or dropped). */
  malformed: number
}

/**
 * The DNS server of one peer.
 *
 *   const dns = new ClusterDnsServer({ store, clock: new SystemClock(), host: '10.96.0.10', port: 53,
 *     upstreams: upstreamsFromResolvConf(parseResolvConf(text), ['10.96.0.10']) })
 *   await dns.start() // rejects with EADDRINUSE while another peer holds the address
 *   await dns.stop()
 */
export class ClusterDnsServer {
  readonly records: ClusterRecords
  private readonly clock: Clock
  private readonly log: Logger
  private readonly host: string
  private readonly port: number
  private readonly tcpIdleMs: number
  private readonly maxTcpConnections: number
  private readonly maxTcpPipelined: number
  private readonly forwarder: UpstreamForwarder
  private udp: UdpSocket | null = null
  private starting: Promise<void> | null = null
  private tcp: Server | null = null
  private readonly connections = new Set<TcpSocket>()
  private readonly counters: DnsServerStats = { answered: 0, forwarded: 0, servfail: 0, malformed: 0 }

  constructor(options: ClusterDnsServerOptions) {
    if (typeof options.host !== 'string' || isIP(options.host) === 0)
      throw new InvalidDnsConfigError('host', options.host, 'must be an IP address')
    requireInt('port', options.port, 0, 65_535)
    const forwardTimeoutMs = options.forwardTimeoutMs ?? 2_000
    const maxForwardsInFlight = options.maxForwardsInFlight ?? 1_024
    this.maxTcpConnections = options.maxTcpConnections ?? 256
    this.tcpIdleMs = options.tcpIdleMs ?? 10_000
    this.maxTcpPipelined = options.maxTcpPipelined ?? 64
    requireInt('forwardTimeoutMs', forwardTimeoutMs, 1)
    requireInt('maxForwardsInFlight', maxForwardsInFlight, 1)
    requireInt('maxTcpConnections', this.maxTcpConnections, 1)
    requireInt('tcpIdleMs', this.tcpIdleMs, 1)
    requireInt('maxTcpPipelined', this.maxTcpPipelined, 1)
    const upstreams = options.upstreams ?? []
    for (const [i, u] of upstreams.entries()) {
      if (isIP(u.host) === 0)
        throw new InvalidDnsConfigError(`upstreams[${i}].host`, u.host, 'must be an IP address')
      requireInt(`upstreams[${i}].port`, u.port, 1, 65_535)
      // Forwarding to ourselves would loop until every forward timed out.
      if (u.host === options.host && u.port === options.port && options.port !== 0)
        throw new InvalidDnsConfigError(`upstreams[${i}]`, u, 'is the server itself')
    }
    this.host = options.host
    this.port = options.port
    this.clock = options.clock
    this.log = (options.logger ?? silentLogger()).child({ component: 'dns' })
    this.records = new ClusterRecords(options.store, options.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN)
    this.forwarder = new UpstreamForwarder(
      { upstreams, timeoutMs: forwardTimeoutMs, maxInFlight: maxForwardsInFlight },
      this.clock,
      this.log,
    )
  }

  /** Where the server listens (UDP and TCP share the port). Throws before `start()`. */
  address(): { address: string; port: number } {
    if (this.udp === null) throw new Error('dns server: not listening')
    const a = this.udp.address()
    return { address: a.address, port: a.port }
  }

  stats(): DnsServerStats {
    return { ...this.counters }
  }

  /**
   * Binds UDP, then TCP on the same port. Rejects with the bind error unchanged (and nothing
   * left open) when either cannot be bound.
   */
  async start(): Promise<void> {
    if (this.udp !== null) return
    this.starting ??= this.bindBoth().finally(() => {
      this.starting = null
    })
    return this.starting
  }

  private async bindBoth(): Promise<void> {
    // With port 0, TCP may find UDP's free port taken by another TCP listener: pick again.
    const attempts = this.port === 0 ? 3 : 1
    let udp: UdpSocket | undefined
    for (let attempt = 1; ; attempt++) {
      udp = await this.bindUdp(this.port)
      try {
        this.tcp = await this.listenTcp(udp.address().port)
        break
      } catch (err) {
        const u = udp
        await new Promise<void>((resolve) => u.close(() => resolve()))
        if (attempt >= attempts || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
      }
    }
    const port = udp.address().port
    // ICMP errors surface as socket errors on some systems; the socket keeps working.
    udp.on('error', (err) => this.log.debug({ err: err.message }, 'udp socket error'))
    udp.on('message', (msg, rinfo) => this.onUdp(udp, msg, rinfo))
    this.udp = udp
    this.forwarder.start()
    this.log.info({ host: this.host, port }, 'cluster dns listening')
  }

  /** Closes both sockets, every TCP connection and every forward in progress. Idempotent. */
  async stop(): Promise<void> {
    const udp = this.udp
    const tcp = this.tcp
    this.udp = null
    this.tcp = null
    this.forwarder.stop()
    for (const c of this.connections) c.destroy()
    this.connections.clear()
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()))
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()))
  }

  /**
   * The reply to one message, or null for none. Never rejects: a fault in the records is
   * logged and answered SERVFAIL, so one bad object cannot take the cluster's DNS down.
   */
  async handle(message: Buffer, transport: Transport): Promise<Buffer | null> {
    const query = decodeQuery(message)
    if ('kind' in query) {
      this.counters.malformed++
      return query.kind === 'drop' ? null : encodeHeaderError(query)
    }
    const question = query.packet.questions![0]!
    try {
      const result = this.records.answer(question.name, question.type)
      if (result.kind === 'answer') {
        this.counters.answered++
        return encodeAnswer(query, result, transport === 'udp' ? udpLimit(query) : undefined)
      }
      const reply = await this.forwarder.forward(message, transport)
      if (reply) {
        this.counters.forwarded++
        return reply
      }
    } catch (err) {
      this.log.error({ err, name: question.name, type: question.type }, 'dns query failed')
    }
    this.counters.servfail++
    return encodeError(query, ResponseCode.SERVFAIL)
  }

  private bindUdp(port: number): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: isIPv6(this.host) ? 'udp6' : 'udp4', reuseAddr: false })
      const onError = (err: Error) => {
        socket.close()
        reject(err)
      }
      socket.once('error', onError)
      socket.bind({ address: this.host, port, exclusive: true }, () => {
        socket.off('error', onError)
        resolve(socket)
      })
    })
  }

  private listenTcp(port: number): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.onTcpConnection(socket))
      server.maxConnections = this.maxTcpConnections
      server.once('error', reject)
      server.listen({ host: this.host, port, exclusive: true }, () => {
        server.off('error', reject)
        // After listening, errors are per connection; log them and keep serving.
        server.on('error', (err) => this.log.warn({ err: err.message }, 'tcp server error'))
        resolve(server)
      })
    })
  }

  private onUdp(socket: UdpSocket, msg: Buffer, rinfo: RemoteInfo): void {
    void this.handle(msg, 'udp').then((reply) => {
      if (reply === null || this.udp !== socket) return
      socket.send(reply, rinfo.port, rinfo.address, (err) => {
        if (err) this.log.debug({ err: err.message, to: rinfo.address }, 'udp reply failed')
      })
    })
  }

  /** DNS over TCP: messages with a 2-byte length prefix, possibly several in flight (RFC 7766). */
  private onTcpConnection(socket: TcpSocket): void {
    this.connections.add(socket)
    let buffered: Buffer = Buffer.alloc(0)
    let pending = 0
    let idle: TimerHandle | null = null
    const armIdle = () => {
      this.clock.clearTimeout(idle)
      // A connection waiting for a forwarded answer is not idle.
      idle = this.clock.setTimeout(() => (pending > 0 ? armIdle() : socket.destroy()), this.tcpIdleMs)
    }
    armIdle()
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'tcp connection error'))
    socket.on('close', () => {
      this.clock.clearTimeout(idle)
      this.connections.delete(socket)
    })
    socket.on('data', (chunk: Buffer) => {
      armIdle()
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      // At most one 64 KiB message is ever buffered: the length prefix bounds it.
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0)
        if (buffered.length < 2 + length) break
        const message = buffered.subarray(2, 2 + length)
        buffered = buffered.subarray(2 + length)
        if (++pending > this.maxTcpPipelined) {
          this.log.debug({ pending }, 'tcp client pipelines too many queries: closing')
          socket.destroy()
          return
        }
        void this.handle(message, 'tcp').then((reply) => {
          pending--
          if (reply === null) {
            // Nothing sensible to say to garbage: end the connection (RFC 7766 allows it).
            socket.destroy()
            return
          }
          if (socket.destroyed) return
          const framed = Buffer.alloc(2 + reply.length)
          framed.writeUInt16BE(reply.length, 0)
          reply.copy(framed, 2)
          socket.write(framed)
          armIdle()
        })
      }
    })
  }
}

/**
 * UdpServiceProxy: the UDP data path of one service port. Datagrams from one client address
 * and port form a session: the first picks a backend (round-robin, or the client IP's backend
 * under ClientIP affinity) and opens a socket of the session's own towards it; the client's
 * datagrams go out through that socket, and what the backend sends back to it is relayed to
 * the client from the service address. A session idle for `sessionIdleMs` is closed.
 *
 * Endpoint changes: new sessions use the new set; sessions whose backend is gone are closed
 * (UDP has no connection to keep, and the client's next datagram opens a session to a live
 * backend).
 */

import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram'
import { isIPv6 } from 'node:net'
import type { Clock, TimerHandle } from '../util/clock.js'
import { type Logger, silentLogger } from '../util/logger.js'
import {
  type Backend,
  backendKey,
  defaultRoundRobinConfig,
  InvalidProxyConfigError,
  type RoundRobinConfig,
  RoundRobinPicker,
  requireInt,
} from './round-robin.js'

/** How a UDP service proxy behaves. */
export interface UdpProxyConfig extends RoundRobinConfig {
  host: string
  /** 0 takes a free port (see `address()`). */
  port: number
  /** A session with no datagram either way for this long is closed. */
  sessionIdleMs: number
  /** Sessions open at once; a datagram that would open one more is dropped (and counted). */
  maxSessions: number
}

export function defaultUdpProxyConfig(): UdpProxyConfig {
  return {
    ...defaultRoundRobinConfig(),
    host: '127.0.0.1',
    port: 0,
    sessionIdleMs: 30_000,
    maxSessions: 4_096,
  }
}

export function validateUdpProxyConfig(config: UdpProxyConfig): void {
  if (typeof config.host !== 'string' || config.host === '') {
    throw new InvalidProxyConfigError('host', config.host, 'must be an IP address')
  }
  requireInt('port', config.port, 0)
  if (config.port > 65_535) throw new InvalidProxyConfigError('port', config.port, 'must be ≤ 65535')
  requireInt('sessionIdleMs', config.sessionIdleMs, 1)
  requireInt('maxSessions', config.maxSessions, 1)
}

export interface UdpProxyComponents {
  clock: Clock
  logger?: Logger
}

export interface UdpProxyStats {
  sessions: number
  sessionsOpened: number
  /** Datagrams dropped: no backend, the session bound reached, or a send error. */
  dropped: number
}

interface Session {
  readonly key: string
  readonly clientAddress: string
  readonly clientPort: number
  readonly backend: Backend
  readonly backendKey: string
  readonly socket: UdpSocket
  lastActiveMs: number
  timer: TimerHandle | null
}

/**
 * One service port's UDP proxy.
 *
 *   const proxy = new UdpServiceProxy({ clock: new SystemClock() }, { host: '10.96.0.10', port: 53 })
 *   proxy.setBackends([{ host: '10.244.1.5', port: 53 }])
 *   await proxy.start()
 *   await proxy.stop()
 */
export class UdpServiceProxy {
  readonly config: UdpProxyConfig
  private readonly clock: Clock
  private readonly log: Logger
  private readonly picker: RoundRobinPicker
  private socket: UdpSocket | null = null
  private readonly sessions = new Map<string, Session>()
  private readonly counters = { sessionsOpened: 0, dropped: 0 }

  constructor(components: UdpProxyComponents, config: Partial<UdpProxyConfig> = {}) {
    this.config = { ...defaultUdpProxyConfig(), ...config }
    validateUdpProxyConfig(this.config)
    this.clock = components.clock
    this.log = (components.logger ?? silentLogger()).child({ component: 'udp-proxy' })
    this.picker = new RoundRobinPicker(this.clock, this.config)
  }

  /** Replaces the backends: new sessions use them; sessions whose backend is gone are closed. */
  setBackends(backends: readonly Backend[]): void {
    this.picker.setBackends(backends)
    const keep = new Set(this.picker.list().map(backendKey))
    for (const s of [...this.sessions.values()]) if (!keep.has(s.backendKey)) this.closeSession(s)
  }

  address(): { address: string; port: number } {
    if (this.socket === null) throw new Error('udp proxy: not listening')
    const a = this.socket.address()
    return { address: a.address, port: a.port }
  }

  stats(): UdpProxyStats {
    return { sessions: this.sessions.size, ...this.counters }
  }

  async start(): Promise<void> {
    if (this.socket !== null) return
    const socket = createSocket({ type: isIPv6(this.config.host) ? 'udp6' : 'udp4' })
    await new Promise<void>((resolve, reject) => {
      // A failed bind (EADDRINUSE: another peer serves this address) must not leak the socket.
      const fail = (err: Error) => {
        socket.close()
        reject(err)
      }
      socket.once('error', fail)
      socket.bind({ address: this.config.host, port: this.config.port, exclusive: true }, () => {
        socket.off('error', fail)
        resolve()
      })
    })
    // ICMP errors surface as socket errors on some systems; the socket keeps working.
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'listener error'))
    socket.on('message', (msg, rinfo) => this.handleClientDatagram(msg, rinfo))
    this.socket = socket
  }

  /** Closes the service socket and every session. Idempotent. */
  async stop(): Promise<void> {
    const socket = this.socket
    if (socket === null) return
    this.socket = null
    for (const s of [...this.sessions.values()]) this.closeSession(s)
    await new Promise<void>((resolve) => socket.close(() => resolve()))
  }

  private handleClientDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`
    let session = this.sessions.get(key)
    if (session === undefined) {
      if (this.sessions.size >= this.config.maxSessions) {
        this.counters.dropped++
        return
      }
      const backend = this.picker.pick(rinfo.address)
      if (backend === null) {
        this.counters.dropped++
        return
      }
      session = this.openSession(key, rinfo, backend)
    }
    session.lastActiveMs = this.clock.now()
    session.socket.send(msg, session.backend.port, session.backend.host, (err) => {
      if (err) this.counters.dropped++
    })
  }

  private openSession(key: string, rinfo: RemoteInfo, backend: Backend): Session {
    const socket = createSocket({ type: isIPv6(backend.host) ? 'udp6' : 'udp4' })
    const session: Session = {
      key,
      clientAddress: rinfo.address,
      clientPort: rinfo.port,
      backend,
      backendKey: backendKey(backend),
      socket,
      lastActiveMs: this.clock.now(),
      timer: null,
    }
    // A send to a closed port reports ECONNREFUSED here on Linux: the backend is marked failed
    // and the session closed, so the client's next datagram tries another backend.
    socket.on('error', (err) => {
      this.log.debug({ backend: session.backendKey, err: err.message }, 'udp session error')
      this.picker.markFailed(backend)
      this.closeSession(session)
    })
    socket.on('message', (reply, from) => {
      // Only the backend's own replies are relayed; anything else reaching this port is dropped.
      if (from.port !== backend.port || from.address !== backend.host) return
      session.lastActiveMs = this.clock.now()
      this.socket?.send(reply, session.clientPort, session.clientAddress)
    })
    this.sessions.set(key, session)
    this.counters.sessionsOpened++
    this.armIdleTimer(session, this.config.sessionIdleMs)
    return session
  }

  private armIdleTimer(session: Session, delayMs: number): void {
    session.timer = this.clock.setTimeout(() => {
      session.timer = null
      const idleMs = this.clock.now() - session.lastActiveMs
      if (idleMs >= this.config.sessionIdleMs) this.closeSession(session)
      else this.armIdleTimer(session, this.config.sessionIdleMs - idleMs)
    }, delayMs)
  }

  private closeSession(session: Session): void {
    if (this.sessions.get(session.key) !== session) return
    this.sessions.delete(session.key)
    this.clock.clearTimeout(session.timer)
    session.timer = null
    session.socket.close()
  }
}

/**
 * TcpServiceProxy: the TCP data path of one service port. It listens on an address and port,
 * and forwards each accepted connection to the next backend from a `RoundRobinPicker`; a
 * refused, unreachable or timed-out connect tries the next backend (a bounded number of
 * times), then closes the client. `setBackends()` applies at once to new connections and never
 * cuts an established one.
 *
 * Speed. Loopback proxying is bound by CPU, and each request costs the same four syscalls
 * whoever proxies it (read and write in each direction); what a Node.js proxy can cut is the
 * JavaScript around them (bench/proxy, docs/BENCHMARKS.md). So, by default (`dataPath:
 * 'auto'`), when this Node.js exposes what it needs:
 * - each direction reads into one buffer of its own, reused for every read (`net.Socket`'s
 *   `onread`), instead of a new Buffer and a trip through the Readable machinery per read;
 * - each chunk is written straight to the destination's stream handle. Almost always the
 *   kernel takes it all at once and the buffer is free again; when it does not, reading from
 *   the source stops until the write completes (that is the backpressure, and why the reused
 *   buffer is never overwritten while the kernel still needs it);
 * - Nagle is off on both sides (interactive request/response traffic).
 * The accepted socket is taken over before it reads anything (`pauseOnConnect`), so the
 * first bytes of a client are read only once its backend is connected: a retry on another
 * backend never loses them. `dataPath: 'streams'` is the same relay on public stream APIs
 * only ('data' events, write(), pause/resume on 'drain'); `auto` falls back to it when the
 * internals are missing.
 */

import { type AddressInfo, createServer, type Server, Socket, connect as tcpConnect } from 'node:net'
import { getSystemErrorName } from 'node:util'
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

/** How the bytes are moved: see the module doc. */
export type TcpDataPath = 'auto' | 'streams'

/** How a TCP service proxy behaves. */
export interface TcpProxyConfig extends RoundRobinConfig {
  /** The address to listen on (a cluster IP, a node address, or 0.0.0.0 for a NodePort). */
  host: string
  /** The port to listen on; 0 takes a free one (see `address()`). */
  port: number
  /** Backends tried for one client before it is closed. */
  maxConnectAttempts: number
  /** A connect that has not completed after this long counts as failed. */
  connectTimeoutMs: number
  /** Clients whose backend connect is in flight; a client accepted beyond it is closed at once. */
  maxPendingConnects: number
  /** Proxied connections open at once, pending ones included; a client beyond it is closed at once. */
  maxConnections: number
  /** The read buffer of each direction of each connection (fast data path). */
  readBufferBytes: number
  dataPath: TcpDataPath
}

export function defaultTcpProxyConfig(): TcpProxyConfig {
  return {
    ...defaultRoundRobinConfig(),
    host: '127.0.0.1',
    port: 0,
    maxConnectAttempts: 3,
    connectTimeoutMs: 1_000,
    maxPendingConnects: 1_024,
    maxConnections: 16_384,
    readBufferBytes: 64 * 1024,
    dataPath: 'auto',
  }
}

export function validateTcpProxyConfig(config: TcpProxyConfig): void {
  if (typeof config.host !== 'string' || config.host === '') {
    throw new InvalidProxyConfigError('host', config.host, 'must be an IP address')
  }
  requireInt('port', config.port, 0)
  if (config.port > 65_535) throw new InvalidProxyConfigError('port', config.port, 'must be ≤ 65535')
  requireInt('maxConnectAttempts', config.maxConnectAttempts, 1)
  requireInt('connectTimeoutMs', config.connectTimeoutMs, 1)
  requireInt('maxPendingConnects', config.maxPendingConnects, 1)
  requireInt('maxConnections', config.maxConnections, 1)
  requireInt('readBufferBytes', config.readBufferBytes, 1024)
  if (config.dataPath !== 'auto' && config.dataPath !== 'streams') {
    throw new InvalidProxyConfigError('dataPath', config.dataPath, "must be 'auto' or 'streams'")
  }
}

/** What a TCP service proxy needs from its surroundings. */
export interface TcpProxyComponents {
  clock: Clock
  logger?: Logger
}

/** Counters since start. */
export interface TcpProxyStats {
  accepted: number
  /** Connections open now (pending connects included). */
  active: number
  pendingConnects: number
  /** Clients closed at once because a bound was reached or the proxy was stopping. */
  rejected: number
  /** Connects to a backend that failed (refused, unreachable, timed out). */
  connectFailures: number
  /** Clients closed because no backend could be reached (or there was none). */
  unserved: number
}

/** A backend connect that did not complete within `connectTimeoutMs`. */
export class ConnectTimeoutError extends Error {
  override readonly name = 'ConnectTimeoutError'
  constructor(
    readonly backend: string,
    readonly timeoutMs: number,
  ) {
    super(`connect to ${backend} timed out after ${timeoutMs} ms`)
  }
}

// ------------------------------------------------------------------ the fast data path's internals

/** Node's WriteWrap request object (lib/internal/stream_base_commons.js). */
interface WriteReq {
  handle: StreamHandle
  oncomplete: (status: number) => void
  async: boolean
  buffer: Uint8Array | null
}

/** The part of a socket's native handle the fast path uses. */
interface StreamHandle {
  writeBuffer(req: WriteReq, data: Uint8Array): number
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq
  streamBaseState: Int32Array
  kLastWriteWasAsync: number
}

/** A socket's native handle; `_handle` is not public API, hence the feature checks. */
type WithHandle = { _handle: (StreamHandle & object) | null }

function loadStreamWrap(): StreamWrapBinding | null {
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding('stream_wrap') as
      | Partial<StreamWrapBinding>
      | undefined
    if (
      typeof binding?.WriteWrap === 'function' &&
      binding.streamBaseState instanceof Int32Array &&
      typeof binding.kLastWriteWasAsync === 'number'
    ) {
      return binding as StreamWrapBinding
    }
  } catch {
    // Not available in this Node.js build (or refused by a policy): the streams path is used.
  }
  return null
}

let streamWrap: StreamWrapBinding | null | undefined

/** Whether this Node.js offers what the fast data path needs. */
export function fastDataPathAvailable(): boolean {
  if (streamWrap === undefined) streamWrap = loadStreamWrap()
  if (streamWrap === null) return false
  const probe = new Socket()
  const ok = '_handle' in probe
  probe.destroy()
  return ok
}

function systemError(syscall: string, errno: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno)
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}`)
  err.code = code
  err.errno = errno
  err.syscall = syscall
  return err
}

/**
 * Writes `data` to `dst`'s handle. True when the kernel took it all at once (the buffer is
 * free again); false when the write is queued: `onFlushed` runs when it completes, and until
 * then `data` must not change.
 */
function writeToHandle(dst: Socket, data: Uint8Array, onFlushed: () => void): boolean {
  const handle = (dst as unknown as WithHandle)._handle
  // A destination already gone drops the data; its 'close' tears the pair down.
  if (handle === null || dst.destroyed) return true
  const wrap = streamWrap!
  const req = new wrap.WriteWrap()
  req.handle = handle
  req.async = false
  req.buffer = null
  req.oncomplete = (status: number) => {
    if (status < 0) dst.destroy(systemError('write', status))
    else onFlushed()
  }
  const errno = handle.writeBuffer(req, data)
  if (errno !== 0) {
    dst.destroy(systemError('write', errno))
    return true
  }
  if (wrap.streamBaseState[wrap.kLastWriteWasAsync] !== 0) {
    req.async = true
    req.buffer = data // keeps the bytes alive while the kernel has not taken them
    return false
  }
  return true
}

// ------------------------------------------------------------------ the proxy

interface Connection {
  /** The accepted socket, paused until the backend is connected. */
  readonly accepted: Socket
  readonly clientIp: string | undefined
  readonly tried: Set<string>
  client: Socket | null
  upstream: Socket | null
  connectTimer: TimerHandle | null
  pending: boolean
  closed: boolean
}

/**
 * One service port's TCP proxy.
 *
 *   const proxy = new TcpServiceProxy({ clock: new SystemClock() }, { host: '10.96.0.10', port: 80 })
 *   proxy.setBackends([{ host: '10.244.1.5', port: 8080 }, { host: '10.244.2.7', port: 8080 }])
 *   await proxy.start()
 *   // ... endpoints change: proxy.setBackends(next) ... then
 *   await proxy.stop()
 */
export class TcpServiceProxy {
  readonly config: TcpProxyConfig
  private readonly clock: Clock
  private readonly log: Logger
  private readonly picker: RoundRobinPicker
  private readonly fast: boolean
  private server: Server | null = null
  private readonly connections = new Set<Connection>()
  private stopping = false
  private readonly counters = { accepted: 0, rejected: 0, connectFailures: 0, unserved: 0 }
  private pendingConnects = 0

  constructor(components: TcpProxyComponents, config: Partial<TcpProxyConfig> = {}) {
    this.config = { ...defaultTcpProxyConfig(), ...config }
    validateTcpProxyConfig(this.config)
    this.clock = components.clock
    this.log = (components.logger ?? silentLogger()).child({ component: 'tcp-proxy' })
    this.picker = new RoundRobinPicker(this.clock, this.config)
    this.fast = this.config.dataPath === 'auto' && fastDataPathAvailable()
  }

  /** Which data path this proxy uses: 'fast' or 'streams'. */
  get dataPath(): 'fast' | 'streams' {
    return this.fast ? 'fast' : 'streams'
  }

  /** Replaces the backends; applies to new connections only. */
  setBackends(backends: readonly Backend[]): void {
    this.picker.setBackends(backends)
  }

  backends(): readonly Backend[] {
    return this.picker.list()
  }

  /** The address and port listened on, once started. */
  address(): AddressInfo {
    const a = this.server?.address()
    if (a == null || typeof a === 'string') throw new Error('tcp proxy: not listening')
    return a
  }

  stats(): TcpProxyStats {
    return { ...this.counters, active: this.connections.size, pendingConnects: this.pendingConnects }
  }

  async start(): Promise<void> {
    if (this.server !== null) return
    this.stopping = false
    const server = createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (socket) =>
      this.handleAccept(socket),
    )
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: this.config.host, port: this.config.port, exclusive: true }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    // After listening, an error of the server (e.g. EMFILE on accept) is logged; it keeps serving.
    server.on('error', (err) => this.log.warn({ err }, 'listener error'))
    this.server = server
    this.log.debug({ address: this.address(), dataPath: this.dataPath }, 'listening')
  }

  /** Closes the listener and every connection, established or pending. Idempotent. */
  async stop(): Promise<void> {
    const server = this.server
    if (server === null) return
    this.server = null
    this.stopping = true
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const conn of [...this.connections]) this.teardown(conn)
    await closed
  }

  // -------------------------------------------------------------- accept and connect

  private handleAccept(socket: Socket): void {
    this.counters.accepted++
    if (
      this.stopping ||
      this.connections.size >= this.config.maxConnections ||
      this.pendingConnects >= this.config.maxPendingConnects
    ) {
      this.counters.rejected++
      socket.destroy()
      return
    }
    const conn: Connection = {
      accepted: socket,
      clientIp: socket.remoteAddress,
      tried: new Set(),
      client: null,
      upstream: null,
      connectTimer: null,
      pending: true,
      closed: false,
    }
    this.connections.add(conn)
    this.pendingConnects++
    // Paused, it reads nothing; an error here (a reset) ends the connection.
    socket.on('error', () => this.teardown(conn))
    socket.on('close', () => {
      if (conn.client === null || conn.client === socket) this.teardown(conn)
    })
    this.connectNext(conn)
  }

  private connectNext(conn: Connection): void {
    if (conn.closed) return
    const backend =
      conn.tried.size < this.config.maxConnectAttempts ? this.picker.pick(conn.clientIp, conn.tried) : null
    if (backend === null) {
      this.counters.unserved++
      this.log.debug(
        { client: conn.clientIp, tried: [...conn.tried] },
        'no backend reachable; closing client',
      )
      this.teardown(conn)
      return
    }
    const key = backendKey(backend)
    conn.tried.add(key)
    // On the fast path the upstream reads into a buffer of its own from the start (`onread` is
    // taken only at creation); nothing is read before 'connect', when the relay is wired.
    const relay: { onRead: (n: number, buf: Uint8Array) => boolean } = { onRead: () => true }
    const upstream = tcpConnect({
      host: backend.host,
      port: backend.port,
      noDelay: true,
      allowHalfOpen: true,
      ...(this.fast
        ? {
            onread: {
              buffer: Buffer.allocUnsafe(this.config.readBufferBytes),
              callback: (n: number, buf: Uint8Array) => relay.onRead(n, buf),
            },
          }
        : {}),
    })
    conn.upstream = upstream
    conn.connectTimer = this.clock.setTimeout(() => {
      upstream.destroy(new ConnectTimeoutError(key, this.config.connectTimeoutMs))
    }, this.config.connectTimeoutMs)
    const onConnectError = (err: Error): void => {
      this.clock.clearTimeout(conn.connectTimer)
      conn.connectTimer = null
      upstream.destroy()
      this.counters.connectFailures++
      this.picker.markFailed(backend)
      this.log.debug({ backend: key, err: err.message }, 'backend connect failed; trying the next')
      conn.upstream = null
      this.connectNext(conn)
    }
    upstream.once('error', onConnectError)
    upstream.once('connect', () => {
      upstream.off('error', onConnectError)
      this.clock.clearTimeout(conn.connectTimer)
      conn.connectTimer = null
      this.picker.markSucceeded(backend)
      if (conn.closed) {
        upstream.destroy()
        return
      }
      conn.pending = false
      this.pendingConnects--
      if (this.fast) this.relayFast(conn, upstream, relay)
      else this.relayStreams(conn, upstream)
    })
  }

  // -------------------------------------------------------------- relays

  /** Wires the teardown common to both data paths: half-close, errors and close. */
  private wireEnds(conn: Connection, client: Socket, upstream: Socket): void {
    // Half-close: a FIN from one side is passed on as a FIN to the other, which may go on sending.
    client.on('end', () => upstream.end())
    upstream.on('end', () => client.end())
    // An error on either side (reset, write failure) ends both; it is not the proxy's to report.
    client.on('error', () => this.teardown(conn))
    upstream.on('error', () => this.teardown(conn))
    // A socket closes once both its directions are done (or it was destroyed): the pair is over.
    client.on('close', () => this.teardown(conn))
    upstream.on('close', () => this.teardown(conn))
  }

  private relayStreams(conn: Connection, upstream: Socket): void {
    const client = conn.accepted
    conn.client = client
    client.setNoDelay(true)
    const pipe = (src: Socket, dst: Socket): void => {
      src.on('data', (chunk: Buffer) => {
        if (!dst.write(chunk)) src.pause()
      })
      dst.on('drain', () => src.resume())
    }
    pipe(client, upstream)
    pipe(upstream, client)
    this.wireEnds(conn, client, upstream)
    client.resume()
  }

  private relayFast(
    conn: Connection,
    upstream: Socket,
    relay: { onRead: (n: number, buf: Uint8Array) => boolean },
  ): void {
    const accepted = conn.accepted
    const handle = (accepted as unknown as WithHandle)._handle
    if (handle === null) {
      this.teardown(conn)
      return
    }
    // Take the accepted socket's handle over into a socket that reads into a buffer of its own.
    // The accepted socket, left without a handle, is destroyed (which only settles the server's
    // connection count); the new socket owns the file descriptor from now on.
    ;(accepted as unknown as WithHandle)._handle = null
    accepted.removeAllListeners('close')
    accepted.removeAllListeners('error')
    accepted.destroy()
    let client: Socket | null = null
    let upstreamPaused = false
    let clientPaused = false
    const resumeClient = (): void => {
      if (clientPaused && client !== null && !client.destroyed) {
        clientPaused = false
        client.resume()
      }
    }
    const resumeUpstream = (): void => {
      if (upstreamPaused && !upstream.destroyed) {
        upstreamPaused = false
        upstream.resume()
      }
    }
    const clientBuffer = Buffer.allocUnsafe(this.config.readBufferBytes)
    client = new Socket({
      handle,
      allowHalfOpen: true,
      readable: true,
      writable: true,
      onread: {
        buffer: clientBuffer,
        callback: (n: number, buf: Uint8Array): boolean => {
          if (writeToHandle(upstream, buf.subarray(0, n), resumeClient)) return true
          clientPaused = true
          return false
        },
      },
    } as ConstructorParameters<typeof Socket>[0])
    conn.client = client
    client.setNoDelay(true)
    const c = client
    relay.onRead = (n, buf) => {
      if (writeToHandle(c, buf.subarray(0, n), resumeUpstream)) return true
      upstreamPaused = true
      return false
    }
    this.wireEnds(conn, client, upstream)
  }

  private teardown(conn: Connection): void {
    if (conn.closed) return
    conn.closed = true
    this.connections.delete(conn)
    if (conn.pending) {
      conn.pending = false
      this.pendingConnects--
    }
    this.clock.clearTimeout(conn.connectTimer)
    conn.connectTimer = null
    conn.upstream?.destroy()
    conn.client?.destroy()
    if (!conn.accepted.destroyed) conn.accepted.destroy()
  }
}

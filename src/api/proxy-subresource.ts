/**
 * The `proxy` subresources of pods and services, on every peer, as Kubernetes has them:
 *
 *   /api/v1/namespaces/NS/pods/[SCHEME:]NAME[:PORT]/proxy[/PATH]
 *   /api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy[/PATH]
 *
 * A request is forwarded, method, headers (less the client's Authorization) and streamed body
 * included, to `SCHEME://IP:PORT/PATH?QUERY` and the answer streamed back. The target comes
 * from this peer's copy of the store (`resolveProxyTarget`, pure): a pod's IP and port, or a
 * random ready address of the service's Endpoints; every peer reaches pod IPs directly.
 *
 * The API authenticates the request before it gets here, and never reads the body of a
 * proxied request, so the API's body limit does not apply to it. Errors before the back-end
 * answers become Kubernetes `Status` objects: 404 for a missing pod or service, 400 for a
 * malformed name or an address that may not be proxied, 503 for no endpoint or a back-end
 * that cannot be reached (`error trying to reach service: …`).
 */

import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http'
import { isIP, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import httpProxy from 'http-proxy'
import { readyEndpointAddresses } from '../store/endpoint-addresses.js'
import { BadRequestError, NotFoundError, StoreError } from '../store/errors.js'
import type { ObjectStore } from '../store/object-store.js'
import type { KubeObject } from '../store/types.js'
import type { Logger } from '../util/logger.js'
import { type Rng, systemRng } from '../util/random.js'

/** The kinds with a proxy subresource (their resource names). */
export type ProxyKind = 'pods' | 'services'

/** Where a proxied request goes. */
export interface ProxyTarget {
  scheme: 'http' | 'https'
  /** An IP address (v4 or v6, without brackets). */
  host: string
  port: number
}

/** A proxy URL taken apart. */
export interface ProxyPath {
  kind: ProxyKind
  namespace: string
  /** `NAME`, `NAME:PORT` or `SCHEME:NAME:PORT`, decoded. */
  nameWithPort: string
  /** The still-encoded path after `/proxy`: '' for none, else starting with '/'. */
  rest: string
}

/** Answered when the back-end cannot be reached: 503, as Kubernetes' proxy answers. */
export class BackendUnreachableError extends StoreError {
  override name = 'BackendUnreachableError'
  constructor(reason: string) {
    super(503, 'ServiceUnavailable', `error trying to reach service: ${reason}`)
  }
}

/** 503 ServiceUnavailable: no service port, no ready endpoint. */
export class ServiceUnavailableError extends StoreError {
  override name = 'ServiceUnavailableError'
  constructor(message: string) {
    super(503, 'ServiceUnavailable', message)
  }
}

/**
 * Takes a request path apart when it names a proxy subresource, else null. Only the namespace
 * and name are decoded; the rest is kept as the client encoded it.
 */
export function parseProxyPath(pathname: string): ProxyPath | null {
  // Asked of every request: most are not proxy requests, and need not be split to know it.
  if (!pathname.includes('/proxy')) return null
  const parts = pathname.split('/')
  // ['', 'api', 'v1', 'namespaces', NS, KIND, NAME, 'proxy', ...rest]
  if (parts.length < 8 || parts[0] !== '' || parts[1] !== 'api' || parts[2] !== 'v1') return null
  if (parts[3] !== 'namespaces' || parts[7] !== 'proxy') return null
  const kind = parts[5]
  if (kind !== 'pods' && kind !== 'services') return null
  let namespace: string
  let nameWithPort: string
  try {
    namespace = decodeURIComponent(parts[4]!)
    nameWithPort = decodeURIComponent(parts[6]!)
  } catch {
    // A malformed escape is no resource of ours; the API answers 404 for it as for any other.
    return null
  }
  if (namespace === '' || nameWithPort === '') return null
  const rest = parts.length > 8 ? `/${parts.slice(8).join('/')}` : ''
  return { kind, namespace, nameWithPort, rest }
}

/**
 * `NAME`, `NAME:PORT` or `SCHEME:NAME:PORT` (SCHEME '', http or https), as Kubernetes'
 * `SplitSchemeNamePort`; null when malformed.
 */
export function splitSchemeNamePort(id: string): { scheme: string; name: string; port: string } | null {
  const parts = id.split(':')
  let scheme = ''
  let name: string
  let port = ''
  if (parts.length === 1) name = parts[0]!
  else if (parts.length === 2) [name, port] = parts as [string, string]
  else if (parts.length === 3) [scheme, name, port] = parts as [string, string, string]
  else return null
  if (name === '' || !['', 'http', 'https'].includes(scheme)) return null
  return { scheme, name, port }
}

/**
 * Whether the API may proxy to this address. Unspecified, multicast, broadcast and link-local
 * addresses (169.254.169.254 is a cloud metadata service) are refused, as Kubernetes refuses
 * them; loopback is allowed, unlike Kubernetes, because Shoal's process runtime gives pods
 * loopback addresses (127.200.0.0/16) on one machine.
 */
export function isProxyableIp(ip: string): boolean {
  const family = isIP(ip)
  if (family === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number]
    if (a === 0 || a >= 224) return false // unspecified, multicast, reserved, broadcast
    if (a === 169 && b === 254) return false // link-local
    return true
  }
  if (family === 6) {
    const lower = ip.toLowerCase()
    if (lower === '::') return false
    if (lower.startsWith('ff')) return false // multicast
    if (/^fe[89ab]/.test(lower)) return false // link-local fe80::/10
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower)
    if (mapped) return isProxyableIp(mapped[1]!)
    return true
  }
  return false
}

function parsePortNumber(port: string): number | null {
  if (!/^\d{1,5}$/.test(port)) return null
  const n = Number(port)
  return n >= 1 && n <= 65535 ? n : null
}

interface ContainerPort {
  name?: string
  containerPort?: number
  protocol?: string
}

interface ServicePort {
  name?: string
  port?: number
  protocol?: string
}

function resolvePod(
  store: Pick<ObjectStore, 'get'>,
  namespace: string,
  scheme: 'http' | 'https',
  name: string,
  portSpec: string,
): ProxyTarget | StoreError {
  const pod = store.get('pods', namespace, name)
  if (!pod) return new NotFoundError('pods', name)
  const containers = ((pod.spec ?? {}) as { containers?: { ports?: ContainerPort[] }[] }).containers ?? []
  let port: number | null
  if (portSpec === '') {
    // As Kubernetes: the first port of the first container that declares one, else the scheme's.
    const first = containers.find((c) => (c.ports ?? []).length > 0)?.ports?.[0]?.containerPort
    port = first ?? (scheme === 'https' ? 443 : 80)
  } else {
    port = parsePortNumber(portSpec)
    if (port === null) {
      // A named container port (Kubernetes passes the name on to the dialer, which fails).
      const named = containers.flatMap((c) => c.ports ?? []).find((p) => p.name === portSpec)
      if (named?.containerPort === undefined)
        return new ServiceUnavailableError(`no container port "${portSpec}" found for pod "${name}"`)
      port = named.containerPort
    }
  }
  const ip = podIp(pod)
  if (ip === '') return new BadRequestError(`address not allowed: pod "${name}" has no IP address yet`)
  if (!isProxyableIp(ip)) return new BadRequestError(`address not allowed: ${ip}`)
  return { scheme, host: ip, port }
}

/** The pod's primary IP (status.podIPs[0], else status.podIP), or ''. */
function podIp(pod: KubeObject): string {
  const status = (pod.status ?? {}) as { podIP?: string; podIPs?: { ip?: string }[] }
  return status.podIPs?.[0]?.ip ?? status.podIP ?? ''
}

function resolveService(
  store: Pick<ObjectStore, 'get'>,
  namespace: string,
  scheme: 'http' | 'https',
  name: string,
  portSpec: string,
  rng: Pick<Rng, 'int'>,
): ProxyTarget | StoreError {
  const service = store.get('services', namespace, name)
  if (!service) return new NotFoundError('services', name)
  const ports = ((service.spec ?? {}) as { ports?: ServicePort[] }).ports ?? []
  // Endpoints name their ports after the service's ports: find the name to look for.
  let portName: string
  const number = parsePortNumber(portSpec)
  if (portSpec === '') {
    // Kubernetes looks for the unnamed port; a service with one port has just that one.
    portName = ports.length === 1 ? (ports[0]!.name ?? '') : ''
  } else if (number !== null) {
    const found = ports.find((p) => p.port === number)
    if (!found) return new ServiceUnavailableError(`no service port ${number} found for service "${name}"`)
    portName = found.name ?? ''
  } else {
    if (!ports.some((p) => p.name === portSpec))
      return new ServiceUnavailableError(`no service port "${portSpec}" found for service "${name}"`)
    portName = portSpec
  }

  const candidates = readyEndpointAddresses(store.get('endpoints', namespace, name), portName).filter((a) =>
    isProxyableIp(a.ip),
  )
  if (candidates.length === 0)
    return new ServiceUnavailableError(`no endpoints available for service "${name}"`)
  const picked = candidates[rng.int(candidates.length)]!
  return { scheme, host: picked.ip, port: picked.port }
}

let defaultRng: Rng | null = null

/** One OS-seeded generator for callers that pass none (the daemon passes its own). */
function processRng(): Rng {
  defaultRng ??= systemRng()
  return defaultRng
}

/**
 * Where a proxy request for `kind` `nameWithPort` in `namespace` goes, from the store as it is
 * (pure but for the random pick among a service's ready endpoints, which `rng` makes). The
 * error, when there is one, is returned, ready to become a `Status`.
 *
 * - pods: the pod's IP; PORT is a number or a container port's name; none is the first
 *   declared container port, else 80 (443 for https).
 * - services: PORT is a service port's number or name; none is the service's only port (or its
 *   unnamed one); a random ready address of the Endpoints of the same name, with the
 *   endpoint port named as the service port.
 */
export function resolveProxyTarget(
  store: Pick<ObjectStore, 'get'>,
  kind: ProxyKind,
  namespace: string,
  nameWithPort: string,
  rng: Pick<Rng, 'int'> = processRng(),
): ProxyTarget | StoreError {
  const id = splitSchemeNamePort(nameWithPort)
  if (!id)
    return new BadRequestError(`invalid ${kind === 'pods' ? 'pod' : 'service'} request "${nameWithPort}"`)
  const scheme = id.scheme === 'https' ? 'https' : 'http'
  return kind === 'pods'
    ? resolvePod(store, namespace, scheme, id.name, id.port)
    : resolveService(store, namespace, scheme, id.name, id.port, rng)
}

/** The URL origin of a target (IPv6 in brackets). */
export function targetOrigin(target: ProxyTarget): string {
  const host = isIP(target.host) === 6 ? `[${target.host}]` : target.host
  return `${target.scheme}://${host}:${target.port}`
}

/** Options of the proxy subresource route. */
export interface ProxySubresourceOptions {
  store: Pick<ObjectStore, 'get'>
  logger: Logger
  rng?: Pick<Rng, 'int'>
  /** A back-end that has not accepted the connection by then is answered with 503. */
  connectTimeoutMs?: number
}

/** Default for `connectTimeoutMs` (Kubernetes' proxy dialer waits 30 s). */
export const DEFAULT_PROXY_CONNECT_TIMEOUT_MS = 30_000

/** Headers about one HTTP/1.1 connection, which an HTTP/2 answer must not carry (RFC 9113 §8.2.2). */
const HOP_BY_HOP_HEADERS = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']

/**
 * The proxy subresource route: resolves the target, then streams the request to it and the
 * answer back with http-proxy. One instance per API server; it keeps no sockets between
 * requests (no keep-alive agent to the back-ends); `stop()` ends upgraded connections.
 */
export class ProxySubresource {
  private readonly proxy: httpProxy
  private readonly log: Logger
  private readonly connectTimeoutMs: number
  /** Upgraded client sockets: the HTTP server forgets them, so `stop()` ends them. */
  private readonly upgraded = new Set<Duplex>()

  constructor(private readonly options: ProxySubresourceOptions) {
    this.log = options.logger.child({ component: 'api-proxy' })
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_PROXY_CONNECT_TIMEOUT_MS
    if (!Number.isInteger(this.connectTimeoutMs) || this.connectTimeoutMs <= 0)
      throw new RangeError(`connectTimeoutMs: must be a positive integer, got ${this.connectTimeoutMs}`)
    this.proxy = httpProxy.createProxyServer({
      changeOrigin: true,
      // Back-ends serve their own certificates, which nobody vouches for (as in Kubernetes).
      secure: false,
      xfwd: false,
    })
    this.proxy.on('proxyReq', (proxyReq) => this.limitConnect(proxyReq))
    this.proxy.on('proxyReqWs', (proxyReq, _req, socket) => {
      this.limitConnect(proxyReq)
      // http-proxy ends the back-end's socket only when the client's fails, not when it closes.
      proxyReq.once('upgrade', (_res, backend: Socket) => {
        if (socket.destroyed) backend.destroy()
        else socket.once('close', () => backend.destroy())
      })
    })
    this.proxy.on('proxyRes', (proxyRes, req, res) => {
      // HTTP/2 forbids connection-specific headers (the stream is the connection) and has no
      // reason phrase.
      if (req.httpVersionMajor === 2) {
        for (const h of HOP_BY_HOP_HEADERS) delete proxyRes.headers[h]
        proxyRes.statusMessage = ''
      }
      // A back-end that breaks off its answer half-way: the client's answer is broken off too
      // (the status line is already sent); without a listener the error would end the process.
      proxyRes.on('error', () => res.destroy())
    })
    // Errors of requests whose client went away (http-proxy reports them here, not to the
    // request's callback): nobody is left to answer.
    this.proxy.on('econnreset', () => {})
  }

  /** Forwards an authenticated HTTP request to its target; resolves once the answer is done. */
  async serve(req: IncomingMessage, res: ServerResponse, url: URL, path: ProxyPath): Promise<void> {
    const method = req.method ?? 'GET'
    if (path.rest === '' && (method === 'GET' || method === 'HEAD')) {
      // As Kubernetes (issue 4958): relative links of the back-end's root page need the slash.
      res.writeHead(301, { location: `${url.pathname}/${url.search}` })
      res.end()
      return
    }
    const target = this.resolve(path)
    this.prepare(req, path, url)
    await new Promise<void>((resolve) => {
      res.once('close', resolve)
      this.proxy.web(req, res, { target: targetOrigin(target) }, (err) => {
        this.log.debug({ err, target: targetOrigin(target) }, 'proxy back-end failed')
        if (res.headersSent) {
          res.destroy()
          return
        }
        const status = new BackendUnreachableError(err.message).toStatus()
        const text = JSON.stringify(status)
        res.writeHead(status.code, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
        })
        res.end(text)
      })
    })
  }

  /**
   * Forwards an authenticated upgrade request (WebSocket) to its target. Errors before the
   * back-end answers are written to the socket as an HTTP answer with a `Status` body.
   */
  serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, path: ProxyPath): void {
    const target = this.resolve(path)
    this.prepare(req, path, url)
    this.upgraded.add(socket)
    socket.once('close', () => this.upgraded.delete(socket))
    this.proxy.ws(req, socket, head, { target: targetOrigin(target) }, (err) => {
      this.log.debug({ err, target: targetOrigin(target) }, 'proxy back-end failed (upgrade)')
      writeStatusToSocket(socket, new BackendUnreachableError(err.message))
    })
  }

  /** Ends every upgraded connection (the API server closes the others). Idempotent. */
  stop(): void {
    for (const socket of this.upgraded) socket.destroy()
    this.upgraded.clear()
  }

  private resolve(path: ProxyPath): ProxyTarget {
    const target = resolveProxyTarget(
      this.options.store,
      path.kind,
      path.namespace,
      path.nameWithPort,
      this.options.rng,
    )
    if (target instanceof StoreError) throw target
    return target
  }

  /** The request as the back-end sees it: its own path, and no credentials for the cluster. */
  private prepare(req: IncomingMessage, path: ProxyPath, url: URL): void {
    delete req.headers.authorization
    const backendUrl = `${path.rest || '/'}${url.search}`
    if (req.httpVersionMajor === 2) {
      // An HTTP/2 request's pseudo-headers (`:method`, `:path`, …) are not HTTP/1.1 headers,
      // and its `method` and `url` are read from them: it gets its own, then they go.
      const own = (value: unknown) => ({ value, writable: true, configurable: true })
      Object.defineProperties(req, { method: own(req.method), url: own(backendUrl) })
      for (const h of Object.keys(req.headers)) if (h.startsWith(':')) delete req.headers[h]
    } else req.url = backendUrl
  }

  /** Breaks off a proxied request whose back-end has not accepted the connection in time. */
  private limitConnect(proxyReq: ClientRequest): void {
    const arm = (socket: Socket): void => {
      if (!socket.connecting) return
      const timer = setTimeout(
        () => proxyReq.destroy(new Error(`connect timed out after ${this.connectTimeoutMs} ms`)),
        this.connectTimeoutMs,
      )
      const clear = (): void => clearTimeout(timer)
      socket.once('connect', clear)
      socket.once('close', clear)
    }
    // http-proxy announces a WebSocket request before it has a socket, a plain one after.
    if (proxyReq.socket) arm(proxyReq.socket)
    else proxyReq.once('socket', arm)
  }
}

/** Writes `err` as a raw HTTP answer with a Status body, then closes the socket. */
export function writeStatusToSocket(socket: Duplex, err: StoreError): void {
  if (socket.destroyed) return
  const status = err.toStatus()
  const text = JSON.stringify(status)
  socket.end(
    `HTTP/1.1 ${status.code} ${status.reason}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  )
}

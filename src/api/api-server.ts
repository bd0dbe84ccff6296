/**
 * ApiServer: the Kubernetes-compatible REST API that every peer serves (PRODUCT.md §3), over
 * HTTPS with the cluster CA and a bearer token.
 *
 * Reads are answered from this peer's own copy of the store (linearizable when the request
 * asks for the latest state, as a GET or LIST without `resourceVersion` does in Kubernetes:
 * a read index from the leader first). Writes become store commands carried to the leader
 * over libp2p, committed through Raft and applied by every peer's state machine; the answer
 * is the state machine's, returned once this peer has applied the write too (so a client
 * reads its own writes on any peer). Watches stream from this peer's watch hub.
 *
 * Errors become Kubernetes `Status` objects in one place (`sendError`).
 */

import { randomUUID } from 'node:crypto'
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import {
  createSecureServer as createHttp2SecureServer,
  type Http2SecureServer,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { parse as parseYaml } from 'yaml'
import type { ClusterManager } from '../p2p/cluster-manager.js'
import type { Raft } from '../raft/raft.js'
import { BadRequestError, InvalidError, NotFoundError, StoreError } from '../store/errors.js'
import { strictDecodingMessage, unknownFields } from '../store/known-fields.js'
import type { ObjectStore, PatchType, StoreCommand, StoreResult } from '../store/object-store.js'
import { applyMergePatch } from '../store/patch.js'
import { type ResourceType, resourceType } from '../store/resources.js'
import {
  FIELD_SELECTOR_FIELDS,
  objectFields,
  parseFieldSelector,
  parseLabelSelector,
} from '../store/selectors.js'
import type { KubeObject, Status } from '../store/types.js'
import { defaultObject, validateObject } from '../store/validation.js'
import type { WatchEvent } from '../store/watch-hub.js'
import { type Clock, isoSeconds } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import type { Rng } from '../util/random.js'
import {
  apiGroupListDocument,
  apiResourceListDocument,
  apiVersionsDocument,
  openApiV3ApiV1,
  openApiV3Index,
  versionDocument,
} from './discovery.js'
import type { ApiMetrics } from './metrics.js'
import { type LocalPodLogs, servePodLogs } from './pod-logs.js'
import {
  decodeKubernetesProtobuf,
  isKubernetesProtobufContentType,
  UnsupportedProtobufKindError,
} from './protobuf.js'
import { ProxySubresource, parseProxyPath, writeStatusToSocket } from './proxy-subresource.js'
import { RaftStoreClient } from './raft-store-client.js'
import { TokenBucketLimiter } from './rate-limit.js'
import { tableIncludeObject, toTable, wantsTable } from './table.js'

/** Request bodies larger than this are refused with 413 (Kubernetes' own limit is 3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024

export interface ApiServerOptions {
  host: string
  port: number
  /** PEM serving certificate and key; without them the server speaks plain HTTP (tests only). */
  tls?: { certPem: string; keyPem: string }
  /** The bearer token every request needs, except /healthz, /readyz, /livez and /version. */
  token?: string
  store: ObjectStore
  raft: Raft
  cluster: ClusterManager
  clock: Clock
  logger: Logger
  shoalVersion: string
  metrics?: ApiMetrics
  /** Requests per second per client address, with a burst of twice that. */
  rateLimitPerSecond?: number
  /**
   * An HTTP/2 connection with no open stream is closed after this long without traffic (default
   * 65 s, as HTTP/1.1 keep-alive connections); one with open streams (watches) is left open.
   */
  idleTimeoutMs?: number
  /** Picks among a service's ready endpoints for the proxy subresource (default: seeded from the OS). */
  rng?: Rng
  /** Pod logs: this peer's agent (null when it runs none) and how to reach the other peers' APIs. */
  podLogs?: { local: LocalPodLogs | null; caPem: string }
  /** Extra routes (the daemon's /shoal/v1 endpoints); return true when handled. */
  extraRoutes?: (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: () => Promise<Buffer>,
  ) => Promise<boolean>
}

/** Thrown with a ready Status (e.g. 401, 413, 415, 429). */
export class HttpStatusError extends StoreError {}

function status(code: number, reason: string, message: string, details: Status['details'] = {}): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, details }
}

export function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(code, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  res.end(text)
}

/** How long an idle connection is kept: HTTP/1.1 keep-alive, HTTP/2 without open streams. */
const IDLE_TIMEOUT_MS = 65_000

/**
 * Closes an HTTP/2 session (GOAWAY, then the socket) once it has gone `idleMs` without traffic
 * while no stream is open: a client that went away without closing does not hold its
 * connection for ever. A quiet watch keeps its connection.
 */
function closeWhenIdle(session: ServerHttp2Session, idleMs: number): void {
  let open = 0
  session.on('stream', (stream: ServerHttp2Stream) => {
    open++
    stream.once('close', () => {
      open--
      // The timer may have fired (and been ignored) while the stream was open: start it again.
      if (open === 0 && !session.closed) session.setTimeout(idleMs)
    })
  })
  session.on('timeout', () => {
    if (open === 0) session.close()
  })
  session.setTimeout(idleMs)
}

/** Whether a response's buffer is full (HTTP/2's compatibility response has no writableNeedDrain). */
function needsDrain(res: ServerResponse): boolean {
  return res.writableNeedDrain ?? res.writableLength >= res.writableHighWaterMark
}

/** Reads the body, up to MAX_BODY_BYTES (413 beyond). */
function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > limit) {
      reject(
        new HttpStatusError(
          413,
          'RequestEntityTooLarge',
          `the request body of ${declared} bytes is larger than ${limit} bytes`,
        ),
      )
      req.resume()
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    let failed = false
    req.on('data', (c: Buffer) => {
      if (failed) return
      size += c.length
      if (size > limit) {
        failed = true
        reject(
          new HttpStatusError(413, 'RequestEntityTooLarge', `the request body is larger than ${limit} bytes`),
        )
        return
      }
      chunks.push(c)
    })
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks))
    })
    req.on('error', (err) => {
      if (!failed) reject(err)
    })
  })
}

/** Parses a request body as JSON, or YAML when the Content-Type says so. */
function parseBody(body: Buffer, contentType: string | undefined): unknown {
  if (isKubernetesProtobufContentType(contentType ?? '')) {
    // kubectl's generator commands (`create namespace`, `create configmap`, …) send protobuf.
    try {
      return decodeKubernetesProtobuf(body).object
    } catch (err) {
      if (err instanceof UnsupportedProtobufKindError) {
        throw new HttpStatusError(
          415,
          'UnsupportedMediaType',
          `${err.message}; send this kind as application/json`,
        )
      }
      throw new BadRequestError(`the protobuf request body could not be decoded: ${(err as Error).message}`)
    }
  }
  const text = body.toString('utf8')
  if (text.trim().length === 0) throw new BadRequestError('the request body is empty')
  const type = (contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase()
  if (!BODY_TYPES.has(type) && !(type in PATCH_TYPES)) {
    throw new HttpStatusError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
    )
  }
  try {
    if (type === 'application/yaml' || type === 'application/apply-patch+yaml' || type === 'text/yaml') {
      return parseYaml(text)
    }
    return JSON.parse(text)
  } catch (err) {
    throw new BadRequestError(
      `the request body could not be decoded: ${(err as Error).message.split('\n')[0]}`,
    )
  }
}

/** Media types a create or update body may come in (none at all is read as JSON, as kubectl needs). */
const BODY_TYPES = new Set(['application/json', 'application/yaml', 'text/yaml', ''])

const PATCH_TYPES: Record<string, PatchType> = {
  'application/merge-patch+json': 'merge',
  'application/json-patch+json': 'json',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
}

/** A parsed resource URL. */
interface Target {
  type: ResourceType
  namespace?: string
  name?: string
  subresource?: string
}

/** Maps /api/v1/... paths to a resource, namespace, name and subresource; null when it is not one. */
export function parseResourcePath(path: string): Target | null {
  const split = path.split('/').filter(Boolean)
  const parts = path.includes('%') ? split.map(decodeURIComponent) : split
  if (parts[0] !== 'api' || parts[1] !== 'v1') return null
  const rest = parts.slice(2)
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    // /api/v1/namespaces/{ns}/{resource}[/{name}[/{sub}]]
    const type = resourceType(rest[2]!)
    if (!type?.namespaced) return null
    return { type, namespace: rest[1], name: rest[3], subresource: rest[4] }
  }
  const type = resourceType(rest[0] ?? '')
  if (!type || rest.length > 3) return null
  // /api/v1/{resource}[/{name}[/{sub}]]: cluster-scoped objects, or namespaced lists across namespaces.
  if (type.namespaced && rest.length > 1) return null
  return { type, name: rest[1], subresource: rest[2] }
}

/** The fields a field selector may use for a resource, and their values for an object. */
function fieldsFor(type: ResourceType): string[] {
  if (type.resource === 'events') {
    return [
      'metadata.name',
      'metadata.namespace',
      'involvedObject.kind',
      'involvedObject.name',
      'involvedObject.namespace',
      'involvedObject.uid',
      'reason',
      'type',
    ]
  }
  if (type.resource === 'pods') return [...FIELD_SELECTOR_FIELDS]
  return ['metadata.name', 'metadata.namespace']
}

function fieldValues(obj: KubeObject): Record<string, string> {
  const values = objectFields(obj)
  const involved = (obj.involvedObject ?? {}) as Record<string, unknown>
  for (const k of ['kind', 'name', 'namespace', 'uid'])
    values[`involvedObject.${k}`] = String(involved[k] ?? '')
  values.reason = String(obj.reason ?? '')
  values.type = String(obj.type ?? '')
  return values
}

/** Who writes, as Kubernetes names it: `fieldManager`, else the client's User-Agent up to its first '/'. */
function fieldManagerOf(req: IncomingMessage, q: URLSearchParams): string {
  const given = q.get('fieldManager')
  if (given) return given
  const agent = (req.headers['user-agent'] ?? '').split('/')[0]!.trim()
  return agent || 'unknown'
}

/** A boolean query parameter as Kubernetes reads it (Go's strconv.ParseBool); anything else is 400. */
function parseBoolParam(name: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false
  throw new BadRequestError(`invalid value for ${name}: ${JSON.stringify(value)} (a boolean)`)
}

/**
 * A copy of `obj` without the fields at `paths` (`spec.template.spec.containers[0].x`): the
 * rest, patch directives included, is left exactly as it was.
 */
function removePaths<T>(obj: T, paths: string[]): T {
  const copy = structuredClone(obj) as unknown
  for (const path of paths) {
    const parts = path.match(/[^.[\]]+|\[\d+\]/g) ?? []
    let node = copy as Record<string, unknown> | unknown[] | undefined
    for (let i = 0; i < parts.length - 1 && node && typeof node === 'object'; i++) {
      const part = parts[i]!
      node = (
        part.startsWith('[')
          ? (node as unknown[])[Number(part.slice(1, -1))]
          : (node as Record<string, unknown>)[part]
      ) as Record<string, unknown> | undefined
    }
    const last = parts[parts.length - 1]
    if (node && typeof node === 'object' && !Array.isArray(node) && last && !last.startsWith('['))
      delete node[last]
  }
  return copy as T
}

/** The Scale view of an object with replicas. */
function toScale(obj: KubeObject): unknown {
  const spec = (obj.spec ?? {}) as { replicas?: number; selector?: Record<string, string> }
  const st = (obj.status ?? {}) as { replicas?: number }
  const selector = Object.entries(spec.selector ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
      creationTimestamp: obj.metadata.creationTimestamp,
    },
    spec: { replicas: spec.replicas ?? 0 },
    status: { replicas: st.replicas ?? 0, selector },
  }
}

export class ApiServer {
  private server: Server | Http2SecureServer | null = null
  /** The HTTPS server's connections (HTTP/2 sessions' and HTTP/1.1's), ended by `stop()`. */
  private readonly tlsSockets = new Set<Duplex>()
  private readonly log: Logger
  private readonly limiter: TokenBucketLimiter
  private readonly openWatches = new Set<ServerResponse>()
  private readonly writer: RaftStoreClient
  private readonly proxy: ProxySubresource

  constructor(private readonly options: ApiServerOptions) {
    this.log = options.logger.child({ component: 'api' })
    this.writer = new RaftStoreClient(options.store, options.raft, options.cluster)
    this.proxy = new ProxySubresource({ store: options.store, logger: options.logger, rng: options.rng })
    const rate = options.rateLimitPerSecond ?? 5000
    this.limiter = new TokenBucketLimiter(options.clock, rate, rate * 2)
  }

  async start(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      const started = this.options.clock.now()
      // Taken now: the proxy subresource rewrites req.url to the back-end's path.
      const rawUrl = req.url ?? '/'
      this.handle(req, res)
        .catch((err: unknown) => this.sendError(res, err))
        .finally(() =>
          this.options.metrics?.observe(
            req.method ?? 'GET',
            rawUrl,
            res.statusCode,
            this.options.clock.now() - started,
          ),
        )
    }
    // HTTPS speaks HTTP/2 to clients that offer it (ALPN), as a Kubernetes API server does:
    // kubectl and client-go then send all their requests to a peer over one connection, each a
    // stream, which costs both sides far less per request than one TLS connection per request
    // in flight (docs/BENCHMARKS.md). Others, and upgrades (WebSockets), get HTTP/1.1. Node's
    // compatibility API hands both to the same handler with the same request/response methods.
    const server = this.options.tls
      ? createHttp2SecureServer(
          // noDelay: as Node's HTTP/1.1 server does; with Nagle an answer's HEADERS and DATA
          // frames, written apart, waited for the client's ACK in between.
          { cert: this.options.tls.certPem, key: this.options.tls.keyPem, allowHTTP1: true, noDelay: true },
          handler as unknown as Parameters<typeof createHttp2SecureServer>[1],
        )
      : createHttpServer(handler)
    // Long watches are normal; idle keep-alive sockets are not kept forever. (The HTTP/2
    // server reads these for its HTTP/1.1 connections.)
    Object.assign(server, { keepAliveTimeout: IDLE_TIMEOUT_MS, requestTimeout: 0 })
    if (this.options.tls) {
      server.on('secureConnection', (socket: Duplex) => {
        this.tlsSockets.add(socket)
        socket.once('close', () => this.tlsSockets.delete(socket))
      })
      const idleMs = this.options.idleTimeoutMs ?? IDLE_TIMEOUT_MS
      server.on('session', (session: ServerHttp2Session) => closeWhenIdle(session, idleMs))
    }
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.handleUpgrade(req, socket, head),
    )
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.options.port, this.options.host, () => resolve())
    })
    this.server = server
  }

  port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0
  }

  async stop(): Promise<void> {
    const server = this.server
    this.server = null
    if (!server) return
    this.proxy.stop()
    for (const res of this.openWatches) res.end()
    this.openWatches.clear()
    if ('closeAllConnections' in server) server.closeAllConnections()
    for (const socket of this.tlsSockets) socket.destroy()
    this.tlsSockets.clear()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  // ---------------------------------------------------------------- errors

  private sendError(res: ServerResponse, err: unknown): void {
    let st: Status
    if (err instanceof StoreError) st = err.toStatus()
    else {
      const name = (err as Error)?.name
      const message = (err as Error)?.message ?? String(err)
      if (
        name === 'LeaderRequestError' ||
        name === 'NotLeaderError' ||
        name === 'ShutdownError' ||
        name === 'RpcError'
      ) {
        st = status(503, 'ServiceUnavailable', `no leader is available: ${message}`, { retryAfterSeconds: 1 })
      } else if (name === 'TimeoutError' || name === 'LeadershipLostError') {
        st = status(504, 'Timeout', `the write may or may not have been committed: ${message}`, {
          retryAfterSeconds: 1,
        })
      } else {
        this.log.error({ err }, 'request failed')
        st = status(
          500,
          'InternalError',
          `an error on the server (${message}) has prevented the request from succeeding`,
        )
      }
    }
    if (res.headersSent) {
      res.end()
      return
    }
    const headers: Record<string, string> = {}
    if (st.code === 503 || st.code === 429 || st.code === 504)
      headers['retry-after'] = String(st.details?.retryAfterSeconds ?? 1)
    sendJson(res, st.code, st, headers)
  }

  // ---------------------------------------------------------------- routing

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const path = url.pathname.replace(/\/+$/, '') || '/'
    const method = req.method ?? 'GET'

    // Open endpoints.
    if (method === 'GET' && (path === '/healthz' || path === '/livez')) {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('ok')
      return
    }
    if (method === 'GET' && path === '/readyz') {
      if (!this.options.raft.leader())
        throw new HttpStatusError(503, 'ServiceUnavailable', 'no leader', { retryAfterSeconds: 1 })
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('ok')
      return
    }
    if (method === 'GET' && path === '/version')
      return sendJson(res, 200, versionDocument(this.options.shoalVersion))

    this.admit(req)

    // Before anything reads the body: a proxied body is streamed, whatever its size.
    const proxyPath = parseProxyPath(url.pathname)
    if (proxyPath) return this.proxy.serve(req, res, url, proxyPath)

    let cachedBody: Promise<Buffer> | null = null
    const body = (): Promise<Buffer> => {
      cachedBody ??= readBody(req)
      return cachedBody
    }
    if (this.options.extraRoutes && (await this.options.extraRoutes(req, res, url, body))) return

    if (method === 'GET') {
      if (path === '/metrics' && this.options.metrics) {
        const text = await this.options.metrics.render(this.options.raft, this.options.store)
        res.writeHead(200, { 'content-type': this.options.metrics.contentType })
        res.end(text)
        return
      }
      if (path === '/api')
        return sendJson(
          res,
          200,
          apiVersionsDocument(req.headers.host ?? `${this.options.host}:${this.options.port}`),
        )
      if (path === '/apis') return sendJson(res, 200, apiGroupListDocument())
      if (path === '/api/v1') return sendJson(res, 200, apiResourceListDocument())
      if (path === '/openapi/v3') return sendJson(res, 200, openApiV3Index())
      if (path === '/openapi/v3/api/v1')
        return sendJson(res, 200, openApiV3ApiV1(), { 'cache-control': 'public, immutable' })
    }

    const target = parseResourcePath(path)
    if (!target)
      throw new HttpStatusError(404, 'NotFound', 'the server could not find the requested resource')
    return this.serveResource(req, res, url, target, body)
  }

  /** The token, then the client's rate: every route but the open ones passes here first. */
  private admit(req: IncomingMessage): void {
    this.authenticate(req)
    const client = req.socket.remoteAddress ?? 'unknown'
    if (!this.limiter.take(client)) {
      throw new HttpStatusError(429, 'TooManyRequests', 'too many requests from this client; slow down', {
        retryAfterSeconds: 1,
      })
    }
  }

  /** Upgrade requests (WebSocket): only the proxy subresources take them. */
  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // A client that resets the connection must not take the process down with it.
    socket.on('error', () => socket.destroy())
    try {
      this.admit(req)
      const url = new URL(req.url ?? '/', 'http://localhost')
      const proxyPath = parseProxyPath(url.pathname)
      if (!proxyPath)
        throw new HttpStatusError(404, 'NotFound', 'the server could not find the requested resource')
      this.proxy.serveUpgrade(req, socket, head, url, proxyPath)
    } catch (err) {
      if (!(err instanceof StoreError)) this.log.error({ err }, 'upgrade request failed')
      writeStatusToSocket(
        socket,
        err instanceof StoreError
          ? err
          : new StoreError(500, 'InternalError', `an error on the server (${(err as Error).message})`),
      )
    }
  }

  private authenticate(req: IncomingMessage): void {
    const token = this.options.token
    if (!token) return
    const header = req.headers.authorization
    if (!header) throw new HttpStatusError(401, 'Unauthorized', 'Unauthorized: no bearer token')
    const m = /^Bearer\s+(.+)$/i.exec(header)
    if (!m || m[1]!.trim() !== token) throw new HttpStatusError(401, 'Unauthorized', 'Unauthorized')
  }

  private async serveResource(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    target: Target,
    body: () => Promise<Buffer>,
  ): Promise<void> {
    const method = req.method ?? 'GET'
    const q = url.searchParams
    const { type, name, subresource } = target
    const namespace = type.namespaced ? target.namespace : undefined
    if (subresource && !['status', 'scale', 'log', 'binding'].includes(subresource)) {
      throw new HttpStatusError(
        404,
        'NotFound',
        `the server could not find the requested resource (${type.resource}/${subresource})`,
      )
    }
    if (subresource === 'scale' && !type.hasScale)
      throw new HttpStatusError(404, 'NotFound', `${type.resource} have no scale subresource`)
    if (subresource === 'status' && !type.hasStatus)
      throw new HttpStatusError(404, 'NotFound', `${type.resource} have no status subresource`)
    if (subresource === 'log') {
      if (type.resource !== 'pods' || !name || method !== 'GET')
        throw new HttpStatusError(405, 'MethodNotAllowed', 'only GET of a pod has a log')
      if (!this.options.podLogs) throw new HttpStatusError(404, 'NotFound', 'this peer serves no pod logs')
      const pod = this.current(type, namespace, name)
      return servePodLogs(req, res, url, pod, {
        store: this.options.store,
        local: this.options.podLogs.local,
        token: this.options.token ?? '',
        caPem: this.options.podLogs.caPem,
        now: () => this.options.clock.now(),
      })
    }

    if (method === 'GET' && !name) {
      if (q.get('watch') === 'true' || q.get('watch') === '1') return this.watch(req, res, q, type, namespace)
      return this.list(req, res, q, type, namespace)
    }
    if (method === 'GET' && name) return this.get(req, res, q, type, namespace, name, subresource)
    if (method === 'POST' && !name) {
      const obj = parseBody(await body(), req.headers['content-type']) as KubeObject
      return this.create(res, q, type, target.namespace, obj)
    }
    if (subresource === 'binding') {
      if (type.resource !== 'pods' || !name || method !== 'POST')
        throw new HttpStatusError(405, 'MethodNotAllowed', 'only POST to a pod has a binding')
      const binding = parseBody(await body(), req.headers['content-type']) as {
        target?: { kind?: string; name?: string }
        metadata?: { uid?: string }
      }
      const node = binding?.target?.name
      if (typeof node !== 'string' || node === '' || (binding.target?.kind ?? 'Node') !== 'Node')
        throw new BadRequestError('a Binding needs target.kind Node and target.name')
      const result = await this.propose({
        op: 'bind',
        namespace: namespace ?? 'default',
        name,
        ...(binding.metadata?.uid ? { uid: binding.metadata.uid } : {}),
        node,
        now: this.nowIso(),
      })
      if (!result.ok) return this.answer(res, result)
      return sendJson(res, 201, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        code: 201,
      })
    }
    if (method === 'PUT' && name) {
      const obj = parseBody(await body(), req.headers['content-type']) as KubeObject
      return this.update(req, res, q, type, namespace, name, obj, subresource)
    }
    if (method === 'PATCH' && name)
      return this.patch(req, res, q, type, namespace, name, subresource, await body())
    if (method === 'DELETE' && name) {
      const raw = await body()
      const opts = raw.length > 0 ? (parseBody(raw, 'application/json') as Record<string, unknown>) : {}
      return this.remove(res, q, type, namespace, name, opts)
    }
    throw new HttpStatusError(405, 'MethodNotAllowed', `${method} is not supported here`)
  }

  // ---------------------------------------------------------------- reads

  /** Linearizable unless the client accepts any state (`resourceVersion` given). */
  private async readPoint(q: URLSearchParams): Promise<void> {
    const rv = q.get('resourceVersion')
    if (rv !== null && rv !== '' && !/^\d+$/.test(rv))
      throw new BadRequestError(`invalid resourceVersion ${rv}`)
    if (rv !== null && rv !== '') return
    await this.options.cluster.waitReadIndex()
  }

  private filterFor(q: URLSearchParams, type: ResourceType): (obj: KubeObject) => boolean {
    let label: ReturnType<typeof parseLabelSelector>
    let field: ReturnType<typeof parseFieldSelector>
    try {
      label = parseLabelSelector(q.get('labelSelector') ?? '')
      field = parseFieldSelector(q.get('fieldSelector') ?? '', fieldsFor(type))
    } catch (err) {
      throw new BadRequestError((err as Error).message)
    }
    return (obj) => label.matches(obj.metadata.labels) && field.matches(fieldValues(obj))
  }

  private async list(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    type: ResourceType,
    namespace?: string,
  ): Promise<void> {
    const filter = this.filterFor(q, type)
    await this.readPoint(q)
    const { items, resourceVersion } = this.options.store.list(type.resource, { namespace, filter })
    if (wantsTable(req.headers.accept)) {
      return sendJson(
        res,
        200,
        toTable(type.kind, items, {
          nowMs: this.options.clock.now(),
          includeObject: tableIncludeObject(q),
          resourceVersion: String(resourceVersion),
        }),
      )
    }
    sendJson(res, 200, {
      kind: type.listKind,
      apiVersion: 'v1',
      metadata: { resourceVersion: String(resourceVersion) },
      items,
    })
  }

  private async get(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    subresource?: string,
  ): Promise<void> {
    await this.readPoint(q)
    const obj = this.options.store.get(type.resource, namespace, name)
    if (!obj) throw new NotFoundError(type.resource, name)
    if (subresource === 'scale') return sendJson(res, 200, toScale(obj))
    if (wantsTable(req.headers.accept) && !subresource) {
      return sendJson(
        res,
        200,
        toTable(type.kind, [obj], {
          nowMs: this.options.clock.now(),
          includeObject: tableIncludeObject(q),
          resourceVersion: obj.metadata.resourceVersion ?? '',
        }),
      )
    }
    sendJson(res, 200, obj)
  }

  // ---------------------------------------------------------------- watch

  private watch(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    type: ResourceType,
    namespace?: string,
  ): void {
    const filter = this.filterFor(q, type)
    const inNamespace = (obj: KubeObject) => namespace === undefined || obj.metadata.namespace === namespace
    const matches = (obj: KubeObject) => inNamespace(obj) && filter(obj)
    if (q.get('sendInitialEvents') === 'true') {
      // WatchList streaming is refused on purpose: clients fall back to LIST then WATCH on 422 (kubectl-compat.md §4.2).
      throw new InvalidError('ListOptions', '', [
        {
          reason: 'FieldValueForbidden',
          message: 'Forbidden: sendInitialEvents is not supported',
          field: 'sendInitialEvents',
        },
      ])
    }
    const table = wantsTable(req.headers.accept)
    const includeObject = tableIncludeObject(q)
    const bookmarks = q.get('allowWatchBookmarks') === 'true'
    const timeoutSeconds = Math.min(Number(q.get('timeoutSeconds') ?? 1800) || 1800, 3600)
    const rvParam = q.get('resourceVersion')
    const hub = this.options.store.hub

    res.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': 'no-cache',
    })
    this.openWatches.add(res)
    let closed = false
    let columnsSent = false
    const queue: string[] = []
    const maxQueuedEvents = 10_000

    const render = (type_: string, obj: KubeObject, rv: number): string => {
      let object: unknown = obj
      if (table) {
        const t = toTable(type.kind, [obj], {
          nowMs: this.options.clock.now(),
          includeObject,
          resourceVersion: String(rv),
        }) as {
          columnDefinitions: unknown[]
        }
        // The header once: kubectl reuses the columns it has (kubectl-compat.md §4.1).
        if (columnsSent) t.columnDefinitions = []
        columnsSent = true
        object = t
      }
      return `${JSON.stringify({ type: type_, object })}\n`
    }
    const write = (line: string): void => {
      if (closed) return
      if (needsDrain(res)) {
        queue.push(line)
        // A client that does not read is cut off rather than buffered without end.
        if (queue.length > maxQueuedEvents) finish()
        return
      }
      res.write(line)
    }
    res.on('drain', () => {
      while (queue.length > 0 && !needsDrain(res)) res.write(queue.shift()!)
    })
    const onEvent = (e: WatchEvent): void => {
      if (inNamespace(e.object)) write(render(e.type, e.object, e.resourceVersion))
    }

    let watch: { cancel(): void } | null = null
    const timers: ReturnType<typeof setTimeout>[] = []
    const finish = (): void => {
      if (closed) return
      closed = true
      watch?.cancel()
      for (const t of timers) clearTimeout(t)
      this.openWatches.delete(res)
      res.end()
    }
    req.on('close', finish)
    res.on('error', finish)

    try {
      if (rvParam === null || rvParam === '' || rvParam === '0') {
        // Start from now, with a synthetic ADDED for every current object.
        const { items, resourceVersion } = this.options.store.list(type.resource, { namespace, filter })
        for (const obj of items) write(render('ADDED', obj, Number(obj.metadata.resourceVersion ?? 0)))
        watch = hub.watch(type.resource, resourceVersion, matches, onEvent)
      } else {
        const from = Number(rvParam)
        if (!Number.isInteger(from) || from < 0)
          throw new BadRequestError(`invalid resourceVersion ${rvParam}`)
        watch = hub.watch(type.resource, from, matches, onEvent)
      }
    } catch (err) {
      // As Kubernetes' watch cache does: 200, then one ERROR event carrying the Status.
      const st =
        err instanceof StoreError ? err.toStatus() : status(500, 'InternalError', (err as Error).message)
      write(`${JSON.stringify({ type: 'ERROR', object: st })}\n`)
      finish()
      return
    }
    timers.push(setTimeout(finish, timeoutSeconds * 1000))
    if (bookmarks) {
      const tick = (): void => {
        if (closed) return
        const rv = String(hub.currentResourceVersion())
        write(
          `${JSON.stringify({ type: 'BOOKMARK', object: { kind: type.kind, apiVersion: 'v1', metadata: { resourceVersion: rv } } })}\n`,
        )
        timers.push(setTimeout(tick, 60_000))
      }
      timers.push(setTimeout(tick, 60_000))
    }
  }

  // ---------------------------------------------------------------- writes

  /** Carries a command to the leader, waits until this peer applied it, returns the result. */
  private propose(command: StoreCommand): Promise<StoreResult> {
    return this.writer.propose(command)
  }

  private answer(res: ServerResponse, result: StoreResult, successCode = 200): void {
    if (!result.ok) {
      const st = result.status
      sendJson(res, st.code, st)
      return
    }
    sendJson(res, result.created ? 201 : successCode, result.object)
  }

  private isDryRun(q: URLSearchParams): boolean {
    return q.getAll('dryRun').includes('All')
  }

  private async create(
    res: ServerResponse,
    q: URLSearchParams,
    type: ResourceType,
    namespace: string | undefined,
    obj: KubeObject,
  ): Promise<void> {
    if (!obj || typeof obj !== 'object' || Array.isArray(obj))
      throw new BadRequestError('the body must be a JSON object')
    this.checkKind(obj, type)
    if (typeof obj.metadata !== 'object' || obj.metadata === null)
      throw new BadRequestError('metadata must be an object')
    obj = this.checkFields(obj, type, q, res)
    if (!type.namespaced) delete obj.metadata.namespace
    const ns = type.namespaced ? (namespace ?? obj.metadata.namespace ?? 'default') : undefined
    // Refuse what validation will refuse before it takes a place in the log.
    const candidate = defaultObject({
      ...obj,
      apiVersion: 'v1',
      kind: type.kind,
      metadata: { ...obj.metadata, namespace: ns },
    })
    if (!candidate.metadata.name && candidate.metadata.generateName)
      candidate.metadata.name = `${candidate.metadata.generateName}xxxxx`
    validateObject(candidate, { isCreate: true })
    if (this.isDryRun(q)) return sendJson(res, 201, candidate)
    const result = await this.propose({
      op: 'create',
      resource: type.resource,
      namespace: ns,
      object: obj,
      uid: randomUUID(),
      now: this.nowIso(),
    })
    this.answer(res, result, 201)
  }

  private async update(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    obj: KubeObject,
    subresource?: string,
  ): Promise<void> {
    if (!obj || typeof obj !== 'object' || Array.isArray(obj))
      throw new BadRequestError('the body must be a JSON object')
    if (subresource === 'scale') {
      const scale = obj as unknown as {
        spec?: { replicas?: unknown }
        metadata?: { resourceVersion?: string }
      }
      const replicas = scale.spec?.replicas
      if (typeof replicas !== 'number') {
        throw new InvalidError('Scale', name, [
          { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.replicas' },
        ])
      }
      const result = await this.propose({
        op: 'scale',
        resource: type.resource,
        namespace,
        name,
        replicas,
        resourceVersion: scale.metadata?.resourceVersion,
        manager: fieldManagerOf(req, q),
        now: this.nowIso(),
      })
      if (result.ok && result.object) return sendJson(res, 200, toScale(result.object))
      return this.answer(res, result)
    }
    this.checkKind(obj, type)
    if (typeof obj.metadata !== 'object' || obj.metadata === null)
      throw new BadRequestError('metadata must be an object')
    obj = this.checkFields(obj, type, q, res)
    if (this.isDryRun(q)) return sendJson(res, 200, obj)
    const result = await this.propose({
      op: 'update',
      resource: type.resource,
      namespace,
      name,
      object: obj,
      subresource: subresource === 'status' ? 'status' : undefined,
      manager: fieldManagerOf(req, q),
      now: this.nowIso(),
    })
    this.answer(res, result)
  }

  private async patch(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    subresource: string | undefined,
    raw: Buffer,
  ): Promise<void> {
    const contentType = (req.headers['content-type'] ?? 'application/strategic-merge-patch+json')
      .split(';')[0]!
      .trim()
      .toLowerCase()
    const patchType = PATCH_TYPES[contentType]
    if (!patchType) {
      throw new HttpStatusError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: ${Object.keys(PATCH_TYPES).join(', ')}`,
      )
    }
    const forceParam = q.get('force')
    if (forceParam !== null && patchType !== 'apply') {
      // As Kubernetes answers: force only means something to server-side apply.
      throw new BadRequestError('force flag is only valid for apply patches')
    }
    const force = forceParam === null ? false : parseBoolParam('force', forceParam)
    let patch = parseBody(raw, contentType)
    if (patchType !== 'json' && typeof patch === 'object' && patch !== null && !Array.isArray(patch)) {
      patch = this.checkFields(patch as KubeObject, type, q, res)
    }
    if (subresource === 'scale') {
      // A patch of the Scale view: only spec.replicas can change.
      const current = this.current(type, namespace, name)
      const scale = applyMergePatch(toScale(current), patch) as { spec?: { replicas?: unknown } }
      const replicas = scale.spec?.replicas
      if (typeof replicas !== 'number') {
        throw new InvalidError('Scale', name, [
          { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.replicas' },
        ])
      }
      // A resourceVersion named in the patch is a precondition, as on the object itself.
      const patchRv = (patch as { metadata?: { resourceVersion?: unknown } } | null)?.metadata
        ?.resourceVersion
      const result = await this.propose({
        op: 'scale',
        resource: type.resource,
        namespace,
        name,
        replicas,
        resourceVersion: typeof patchRv === 'string' ? patchRv : undefined,
        manager: fieldManagerOf(req, q),
        now: this.nowIso(),
      })
      if (result.ok && result.object) return sendJson(res, 200, toScale(result.object))
      return this.answer(res, result)
    }
    if (this.isDryRun(q)) {
      const current = this.current(type, namespace, name)
      return sendJson(res, 200, current)
    }
    const result = await this.propose({
      op: 'patch',
      resource: type.resource,
      namespace,
      name,
      patchType,
      patch,
      subresource: subresource === 'status' ? 'status' : undefined,
      manager: patchType === 'apply' ? (q.get('fieldManager') ?? undefined) : fieldManagerOf(req, q),
      ...(force ? { force: true } : {}),
      uid: randomUUID(),
      now: this.nowIso(),
    })
    this.answer(res, result)
  }

  private async remove(
    res: ServerResponse,
    q: URLSearchParams,
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    opts: Record<string, unknown>,
  ): Promise<void> {
    const graceParam = q.get('gracePeriodSeconds')
    const grace =
      typeof opts.gracePeriodSeconds === 'number'
        ? opts.gracePeriodSeconds
        : graceParam !== null
          ? Number(graceParam)
          : undefined
    if (grace !== undefined && (!Number.isInteger(grace) || grace < 0)) {
      throw new BadRequestError('gracePeriodSeconds must be a non-negative integer')
    }
    const pre = (opts.preconditions ?? {}) as { uid?: string; resourceVersion?: string }
    const policy =
      (typeof opts.propagationPolicy === 'string' ? opts.propagationPolicy : null) ??
      q.get('propagationPolicy')
    const orphanDependents = opts.orphanDependents === true || q.get('orphanDependents') === 'true'
    if (policy !== null && !['Orphan', 'Background', 'Foreground'].includes(policy))
      throw new BadRequestError(
        `propagationPolicy: Unsupported value: "${policy}": supported values: "Orphan", "Background", "Foreground"`,
      )
    if (this.isDryRun(q)) {
      const current = this.current(type, namespace, name)
      return sendJson(res, 200, current)
    }
    const result = await this.propose({
      op: 'remove',
      resource: type.resource,
      namespace,
      name,
      preconditions: { uid: pre.uid, resourceVersion: pre.resourceVersion },
      gracePeriodSeconds: grace,
      // Background and Foreground both leave the dependents to the garbage collector.
      ...(policy === 'Orphan' || orphanDependents ? { orphan: true } : {}),
      now: this.nowIso(),
    })
    this.answer(res, result)
  }

  /**
   * Fields the kind does not have (kubectl-compat.md; Kubernetes' field validation): with
   * `fieldValidation=Strict` (kubectl's default) a 400 naming each; otherwise they are dropped,
   * with a `Warning` header each unless `Ignore`. Patch directives (`$…`) are not fields.
   */
  private checkFields(
    obj: KubeObject,
    type: ResourceType,
    q: URLSearchParams,
    res: ServerResponse,
  ): KubeObject {
    const mode = q.get('fieldValidation') ?? 'Warn'
    if (!['Strict', 'Warn', 'Ignore'].includes(mode)) {
      throw new BadRequestError(`fieldValidation must be one of Strict, Warn or Ignore, not ${mode}`)
    }
    const unknown = unknownFields(obj, type.kind).filter((path) => !/(^|\.|\])\$/.test(path))
    if (unknown.length === 0) return obj
    if (mode === 'Strict') {
      throw new BadRequestError(
        `${type.kind} in version "v1" cannot be handled as a ${type.kind}: ${strictDecodingMessage(unknown)}`,
      )
    }
    if (mode === 'Warn') {
      res.setHeader(
        'warning',
        unknown.map((path) => `299 - "unknown field "${path}""`),
      )
    }
    return removePaths(obj, unknown)
  }

  /** The object as this peer holds it, or 404. */
  private current(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.options.store.get(type.resource, namespace, name)
    if (!obj) throw new NotFoundError(type.resource, name)
    return obj
  }

  /** A body naming another kind or apiVersion is refused (400), as Kubernetes does. */
  private checkKind(obj: KubeObject, type: ResourceType): void {
    if (obj.kind !== undefined && obj.kind !== type.kind) {
      throw new BadRequestError(
        `the kind of the object (${String(obj.kind)}) does not match the resource ${type.resource} (kind ${type.kind})`,
      )
    }
    if (obj.apiVersion !== undefined && obj.apiVersion !== 'v1') {
      throw new BadRequestError(
        `the apiVersion of the object (${String(obj.apiVersion)}) does not match the API v1`,
      )
    }
  }

  private nowIso(): string {
    return isoSeconds(this.options.clock.now())
  }
}

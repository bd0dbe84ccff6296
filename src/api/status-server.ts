/**
 * The daemon's HTTP endpoint until the Kubernetes API (the store/API issue) takes it over:
 * health, cluster status and operator controls, and a debug key-value interface to the
 * replicated state. Errors are Kubernetes `Status` objects, as the full API will send.
 *
 *   GET    /healthz, /readyz
 *   GET    /shoal/v1/cluster/status
 *   POST   /shoal/v1/cluster/transfer-leadership   {"name": "peer-2"}   (name optional)
 *   POST   /shoal/v1/cluster/remove                {"name": "peer-3"}
 *   GET    /shoal/v1/kv/KEY        (?consistent=1: confirmed with the leader first)
 *   PUT    /shoal/v1/kv/KEY        body: the value
 *   DELETE /shoal/v1/kv/KEY
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ClusterManager } from '../p2p/cluster-manager.js'
import type { Raft } from '../raft/raft.js'
import { encodeKvCommand, type KvStateMachine } from '../store/kv-state-machine.js'
import type { Logger } from '../util/logger.js'

/** Request bodies larger than this are refused with 413. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024

/** An HTTP error with a Kubernetes reason. */
export class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message)
  }
}

function statusBody(code: number, reason: string, message: string): unknown {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }
}

function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(code, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    ...headers,
  })
  res.end(text)
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, 'RequestEntityTooLarge', `request body is over ${MAX_BODY_BYTES} bytes`))
        req.destroy()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req)
  if (body.length === 0) return {}
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object')
    return v as Record<string, unknown>
  } catch (err) {
    throw new HttpError(400, 'BadRequest', `request body is not a JSON object: ${(err as Error).message}`)
  }
}

export interface StatusServerOptions {
  host: string
  port: number
  raft: Raft
  cluster: ClusterManager
  kv: KvStateMachine
  logger: Logger
}

/** The HTTP server; `start()` listens, `stop()` closes every connection. */
export class StatusServer {
  private server: Server | null = null
  private readonly log: Logger

  constructor(private readonly options: StatusServerOptions) {
    this.log = options.logger.child({ component: 'http' })
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        const e = err instanceof HttpError ? err : null
        const code = e?.code ?? errorCode(err)
        const reason = e?.reason ?? errorReason(code)
        if (code >= 500) this.log.warn({ err: (err as Error).message, url: req.url }, 'request failed')
        const headers: Record<string, string> = code === 503 ? { 'retry-after': '1' } : {}
        if (!res.headersSent) send(res, code, statusBody(code, reason, (err as Error).message), headers)
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.options.port, this.options.host, () => resolve())
    })
    this.server = server
  }

  /** The port it listens on (useful with port 0). */
  port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0
  }

  async stop(): Promise<void> {
    const server = this.server
    this.server = null
    if (!server) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const path = url.pathname
    const method = req.method ?? 'GET'
    const { raft, cluster, kv } = this.options
    if (path === '/healthz' && method === 'GET') return send(res, 200, 'ok')
    if (path === '/readyz' && method === 'GET') {
      if (raft.leader()) return send(res, 200, 'ok')
      throw new HttpError(503, 'ServiceUnavailable', 'no leader')
    }
    if (path === '/shoal/v1/cluster/status' && method === 'GET') return send(res, 200, cluster.status())
    if (path === '/shoal/v1/cluster/transfer-leadership' && method === 'POST') {
      const body = await readJson(req)
      let id: string | undefined
      if (body.name !== undefined) {
        if (typeof body.name !== 'string') throw new HttpError(400, 'BadRequest', 'name must be a string')
        id = cluster.resolveMember(body.name) ?? undefined
        if (!id) throw new HttpError(404, 'NotFound', `no member named ${body.name}`)
      }
      await cluster.leaderCall(id === undefined ? { type: 'transfer' } : { type: 'transfer', id })
      return send(res, 200, cluster.status())
    }
    if (path === '/shoal/v1/cluster/remove' && method === 'POST') {
      const body = await readJson(req)
      if (typeof body.name !== 'string') throw new HttpError(400, 'BadRequest', 'name (a string) is required')
      const id = cluster.resolveMember(body.name)
      if (!id) throw new HttpError(404, 'NotFound', `no member named ${body.name}`)
      await cluster.leaderCall({ type: 'remove', id })
      return send(res, 200, cluster.status())
    }
    const kvMatch = /^\/shoal\/v1\/kv\/(.+)$/.exec(path)
    if (kvMatch) {
      const key = decodeURIComponent(kvMatch[1]!)
      if (key.length > 1024) throw new HttpError(400, 'BadRequest', 'key longer than 1024 bytes')
      if (method === 'GET') {
        if (url.searchParams.get('consistent') === '1') await cluster.waitReadIndex()
        const value = kv.get(key)
        if (value === undefined) throw new HttpError(404, 'NotFound', `key ${key} not found`)
        return send(res, 200, { key, value })
      }
      if (method === 'PUT') {
        const value = (await readBody(req)).toString('utf8')
        const r = (await cluster.leaderCall({
          type: 'apply',
          data: Buffer.from(encodeKvCommand({ op: 'put', key, value })).toString('base64'),
        })) as { index: number }
        return send(res, 200, { key, value, index: r.index })
      }
      if (method === 'DELETE') {
        const r = (await cluster.leaderCall({
          type: 'apply',
          data: Buffer.from(encodeKvCommand({ op: 'delete', key })).toString('base64'),
        })) as { index: number }
        return send(res, 200, { key, index: r.index })
      }
      throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported on ${path}`)
    }
    throw new HttpError(404, 'NotFound', `${method} ${path}: no such endpoint`)
  }
}

function errorCode(err: unknown): number {
  const name = (err as Error)?.name
  if (name === 'LeaderRequestError' || name === 'NotLeaderError' || name === 'ShutdownError') return 503
  if (name === 'TimeoutError' || name === 'LeadershipLostError') return 504
  if (name === 'RpcError') return 503
  return 500
}

function errorReason(code: number): string {
  switch (code) {
    case 400:
      return 'BadRequest'
    case 404:
      return 'NotFound'
    case 503:
      return 'ServiceUnavailable'
    case 504:
      return 'Timeout'
    default:
      return 'InternalError'
  }
}

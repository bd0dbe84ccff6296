/**
 * The benchmarks' HTTP(S) client: node:http and node:https with keep-alive agents (one
 * connection per request in flight, reused), or node:http2 (one connection per origin), a
 * timeout per request, an optional CA to trust
 * instead of the system's and an optional bearer token. One client serves Shoal and its
 * anchors alike, so that the client's own cost is the same on both sides of a comparison.
 *
 * Requests never throw: a failure is status 0 with a short error code.
 */

import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'

export interface HttpRequest {
  method: string
  body?: string
  headers?: Record<string, string>
  /** PEM of the CA to trust (https: only). */
  ca?: string | undefined
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string | undefined
  /**
   * Over HTTP/2 (https: only): every request to an origin is a stream of one shared
   * connection, as kubectl and client-go talk to a Kubernetes API server.
   */
  http2?: boolean
}

export interface HttpAnswer {
  /** The HTTP status, or 0 when no complete answer came. */
  status: number
  body: string
  /** Why no answer came: a Node error code (ECONNREFUSED, ECONNRESET) or 'timeout'. */
  error?: string
}

/**
 * How the benchmarks talk to each system. By default over HTTP/1.1 with one connection per
 * request in flight: Shoal's API over HTTPS, etcd's v3 JSON gateway (the figures recorded
 * since the first session). `SHOAL_BENCH_HTTP2=1`: each as its own clients talk to it over
 * HTTP/2 — Shoal's API with one TLS connection per peer (kubectl, client-go), etcd with gRPC
 * on one cleartext connection per member (clientv3, etcdctl).
 */
export const BENCH_HTTP2 = process.env.SHOAL_BENCH_HTTP2 === '1'

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY })
/** One https agent per trusted CA (agents pool connections by their TLS options anyway). */
const httpsAgents = new Map<string, https.Agent>()

function httpsAgent(ca: string | undefined): https.Agent {
  const key = ca ?? ''
  let agent = httpsAgents.get(key)
  if (!agent) {
    agent = new https.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, ...(ca ? { ca } : {}) })
    httpsAgents.set(key, agent)
  }
  return agent
}

/**
 * Settles a request once: with the first answer, or with `timedOut` after `timeoutMs`, when
 * `abort` (called after the answer) ends what is still running.
 */
function settleOnce<T>(resolve: (answer: T) => void, timeoutMs: number, timedOut: T, abort: () => void) {
  let settled = false
  const finish = (answer: T): void => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    resolve(answer)
  }
  const timer = setTimeout(() => {
    finish(timedOut)
    abort()
  }, timeoutMs)
  return finish
}

const errorCode = (err: NodeJS.ErrnoException): string => err.code ?? err.name

/**
 * One HTTP/2 session per origin and CA, opened on first use and again after it ends (an
 * `http:` origin speaks HTTP/2 without TLS, with prior knowledge, as gRPC clients do).
 */
const http2Sessions = new Map<string, http2.ClientHttp2Session>()

function http2Session(origin: string, ca: string | undefined): http2.ClientHttp2Session {
  const key = `${origin} ${ca ?? ''}`
  let session = http2Sessions.get(key)
  if (!session || session.closed || session.destroyed) {
    const opened = http2.connect(origin, ca ? { ca } : {})
    // A broken session fails its streams (each reports it); the next request opens another.
    opened.on('error', () => {})
    opened.once('close', () => {
      if (http2Sessions.get(key) === opened) http2Sessions.delete(key)
    })
    http2Sessions.set(key, opened)
    session = opened
  }
  return session
}

/** What one HTTP/2 stream brought back: headers, trailers and body, or why nothing came. */
export interface Http2Answer {
  headers: http2.IncomingHttpHeaders
  trailers: http2.IncomingHttpHeaders
  body: Buffer
  /** A Node error code or 'timeout'; the rest is then empty. */
  error?: string
}

/** One stream on the origin's shared session; never throws. */
export function http2Exchange(
  origin: string,
  ca: string | undefined,
  headers: http2.OutgoingHttpHeaders,
  body: Uint8Array | undefined,
  timeoutMs: number,
): Promise<Http2Answer> {
  const failed = (error: string): Http2Answer => ({ headers: {}, trailers: {}, body: Buffer.alloc(0), error })
  return new Promise((resolve) => {
    let stream: http2.ClientHttp2Stream | undefined
    const finish = settleOnce(resolve, timeoutMs, failed('timeout'), () =>
      stream?.close(http2.constants.NGHTTP2_CANCEL),
    )
    try {
      stream = http2Session(origin, ca).request(headers)
    } catch (err) {
      finish(failed((err as NodeJS.ErrnoException).code ?? 'ERR_HTTP2'))
      return
    }
    const answer: Http2Answer = { headers: {}, trailers: {}, body: Buffer.alloc(0) }
    const chunks: Buffer[] = []
    stream.on('response', (h) => {
      answer.headers = h
    })
    stream.on('trailers', (h) => {
      answer.trailers = h
    })
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => finish({ ...answer, body: Buffer.concat(chunks) }))
    stream.on('error', (err: NodeJS.ErrnoException) => finish(failed(errorCode(err))))
    stream.end(body)
  })
}

async function http2Request(u: URL, req: HttpRequest, timeoutMs: number): Promise<HttpAnswer> {
  const headers: http2.OutgoingHttpHeaders = {
    ...req.headers,
    ':method': req.method,
    ':path': `${u.pathname}${u.search}`,
  }
  if (req.token !== undefined) headers.authorization = `Bearer ${req.token}`
  const body = req.body === undefined ? undefined : Buffer.from(req.body)
  if (body !== undefined) headers['content-length'] = body.byteLength
  const a = await http2Exchange(u.origin, req.ca, headers, body, timeoutMs)
  if (a.error !== undefined) return { status: 0, body: '', error: a.error }
  return { status: Number(a.headers[':status'] ?? 0), body: a.body.toString('utf8') }
}

/** One request; resolves with the status and the whole body, or status 0 and an error code. */
export function httpRequest(url: string, req: HttpRequest, timeoutMs: number): Promise<HttpAnswer> {
  const u = new URL(url)
  if (req.http2 && u.protocol === 'https:') return http2Request(u, req, timeoutMs)
  const tls = u.protocol === 'https:'
  const headers: Record<string, string> = { ...req.headers }
  if (req.token !== undefined) headers.authorization = `Bearer ${req.token}`
  const body = req.body === undefined ? undefined : Buffer.from(req.body)
  if (body !== undefined) headers['content-length'] = String(body.byteLength)
  return new Promise((resolve) => {
    let r: http.ClientRequest | undefined
    const finish = settleOnce<HttpAnswer>(resolve, timeoutMs, { status: 0, body: '', error: 'timeout' }, () =>
      r?.destroy(),
    )
    const options: http.RequestOptions = {
      method: req.method,
      headers,
      agent: tls ? httpsAgent(req.ca) : httpAgent,
    }
    r = (tls ? https : http).request(u, options, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        finish({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      )
      res.on('error', (err: NodeJS.ErrnoException) => finish({ status: 0, body: '', error: errorCode(err) }))
    })
    r.on('error', (err: NodeJS.ErrnoException) => finish({ status: 0, body: '', error: errorCode(err) }))
    r.end(body)
  })
}

/** Closes the pooled connections (at the end of a run, so nothing holds the process open). */
export function closeHttpAgents(): void {
  for (const session of http2Sessions.values()) session.destroy()
  http2Sessions.clear()
  httpAgent.destroy()
  for (const agent of httpsAgents.values()) agent.destroy()
  httpsAgents.clear()
}

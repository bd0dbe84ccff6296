/**
 * The benchmarks' HTTP(S) client: node:http and node:https with keep-alive agents (one
 * connection per request in flight, reused), a timeout per request, an optional CA to trust
 * instead of the system's and an optional bearer token. One client serves Shoal and its
 * anchors alike, so that the client's own cost is the same on both sides of a comparison.
 *
 * Requests never throw: a failure is status 0 with a short error code.
 */

import http from 'node:http'
import https from 'node:https'

export interface HttpRequest {
  method: string
  body?: string
  headers?: Record<string, string>
  /** PEM of the CA to trust (https: only). */
  ca?: string | undefined
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string | undefined
}

export interface HttpAnswer {
  /** The HTTP status, or 0 when no complete answer came. */
  status: number
  body: string
  /** Why no answer came: a Node error code (ECONNREFUSED, ECONNRESET) or 'timeout'. */
  error?: string
}

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

/** One request; resolves with the status and the whole body, or status 0 and an error code. */
export function httpRequest(url: string, req: HttpRequest, timeoutMs: number): Promise<HttpAnswer> {
  const u = new URL(url)
  const tls = u.protocol === 'https:'
  const headers: Record<string, string> = { ...req.headers }
  if (req.token !== undefined) headers.authorization = `Bearer ${req.token}`
  const body = req.body === undefined ? undefined : Buffer.from(req.body)
  if (body !== undefined) headers['content-length'] = String(body.byteLength)
  return new Promise((resolve) => {
    let settled = false
    const finish = (answer: HttpAnswer): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(answer)
    }
    const options: http.RequestOptions = {
      method: req.method,
      headers,
      agent: tls ? httpsAgent(req.ca) : httpAgent,
    }
    const r = (tls ? https : http).request(u, options, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        finish({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      )
      res.on('error', (err: NodeJS.ErrnoException) =>
        finish({ status: 0, body: '', error: err.code ?? err.name }),
      )
    })
    r.on('error', (err: NodeJS.ErrnoException) =>
      finish({ status: 0, body: '', error: err.code ?? err.name }),
    )
    const timer = setTimeout(() => {
      finish({ status: 0, body: '', error: 'timeout' })
      r.destroy()
    }, timeoutMs)
    r.end(body)
  })
}

/** Closes the pooled connections (at the end of a run, so nothing holds the process open). */
export function closeHttpAgents(): void {
  httpAgent.destroy()
  for (const agent of httpsAgents.values()) agent.destroy()
  httpsAgents.clear()
}

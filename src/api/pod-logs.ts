/**
 * GET /api/v1/namespaces/NS/pods/NAME/log on any peer. The logs live on the pod's node: when
 * that is this peer, its agent streams them; otherwise this peer forwards the request to the
 * node's own API (its Node's InternalIP and kubelet endpoint port), with the cluster token and
 * CA, and streams the answer back, `follow` included. A forwarded request carries a header so
 * that it is never forwarded twice.
 *
 * Query parameters, as Kubernetes has them: container, follow, previous, tailLines,
 * timestamps, sinceSeconds, sinceTime, limitBytes.
 */

import type { IncomingMessage, ServerResponse } from 'node:http'
import { request } from 'node:https'
import type { Readable } from 'node:stream'
import { nodeApiEndpoint } from '../agent/node-status.js'
import { BadRequestError, NotFoundError, StoreError } from '../store/errors.js'
import type { ObjectStore } from '../store/object-store.js'
import type { KubeObject } from '../store/types.js'

/** This peer's agent, as the log route needs it. */
export interface LocalPodLogs {
  nodeName: string
  podLogs(
    pod: KubeObject,
    options: {
      container?: string
      follow: boolean
      previous: boolean
      tailLines?: number
      timestamps: boolean
      sinceMs?: number
      signal?: AbortSignal
    },
  ): Promise<Readable>
}

export interface PodLogRouteOptions {
  store: ObjectStore
  local: LocalPodLogs | null
  token: string
  caPem: string
  now: () => number
}

/** Marks a request forwarded by a peer (it is answered locally or not at all). */
export const FORWARDED_HEADER = 'x-shoal-forwarded-from'

function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name)
  return v === 'true' || v === '1'
}

function nonNegativeInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name)
  if (v === null || v === '') return undefined
  if (!/^\d+$/.test(v)) throw new BadRequestError(`${name}: must be a non-negative integer, got "${v}"`)
  return Number(v)
}

/** Answers a pod log request; errors are thrown as StoreErrors (the API turns them into Status). */
export async function servePodLogs(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  pod: KubeObject,
  o: PodLogRouteOptions,
): Promise<void> {
  const q = url.searchParams
  const nodeName = (pod.spec as { nodeName?: string } | undefined)?.nodeName
  if (!nodeName) throw new BadRequestError(`pod ${pod.metadata.name} does not have a host assigned`)
  const tailLines = nonNegativeInt(q, 'tailLines')
  const limitBytes = nonNegativeInt(q, 'limitBytes')
  const sinceSeconds = nonNegativeInt(q, 'sinceSeconds')
  const sinceTime = q.get('sinceTime')
  let sinceMs: number | undefined
  if (sinceSeconds !== undefined) sinceMs = o.now() - sinceSeconds * 1000
  else if (sinceTime) {
    sinceMs = Date.parse(sinceTime)
    if (Number.isNaN(sinceMs)) throw new BadRequestError(`sinceTime: not an RFC 3339 time: "${sinceTime}"`)
  }

  if (o.local && nodeName === o.local.nodeName) {
    const abort = new AbortController()
    res.on('close', () => abort.abort())
    let stream: Readable
    try {
      stream = await o.local.podLogs(pod, {
        ...(q.get('container') ? { container: q.get('container')! } : {}),
        follow: flag(q, 'follow'),
        previous: flag(q, 'previous'),
        timestamps: flag(q, 'timestamps'),
        ...(tailLines !== undefined ? { tailLines } : {}),
        ...(sinceMs !== undefined ? { sinceMs } : {}),
        signal: abort.signal,
      })
    } catch (err) {
      const e = err as Error & { code?: number }
      if (e.name === 'PodLogError') throw new BadRequestError(e.message)
      throw err
    }
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.flushHeaders()
    let sent = 0
    stream.on('data', (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      if (limitBytes !== undefined) {
        const room = limitBytes - sent
        if (room <= 0) return
        const part = buf.subarray(0, room)
        sent += part.length
        res.write(part)
        if (sent >= limitBytes) {
          abort.abort()
          stream.destroy()
          res.end()
        }
        return
      }
      res.write(buf)
    })
    stream.on('end', () => res.end())
    stream.on('error', () => res.end())
    abort.signal.addEventListener('abort', () => stream.destroy(), { once: true })
    return
  }

  if (req.headers[FORWARDED_HEADER])
    throw new StoreError(
      404,
      'NotFound',
      `node "${nodeName}" is not served by this peer (pod ${pod.metadata.name})`,
    )
  const node = o.store.get('nodes', undefined, nodeName)
  const endpoint = node ? nodeApiEndpoint(node) : undefined
  if (!endpoint) throw new NotFoundError('nodes', nodeName)
  await forward(req, res, url, endpoint, o)
}

/** Streams the same request from the node's API. */
function forward(
  _req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  endpoint: { host: string; port: number },
  o: PodLogRouteOptions,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const upstream = request(
      {
        host: endpoint.host,
        port: endpoint.port,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        ca: o.caPem,
        // The node's certificate names its API host; checking it against the CA is what matters.
        servername: endpoint.host.includes(':') || /^[\d.]+$/.test(endpoint.host) ? undefined : endpoint.host,
        headers: { authorization: `Bearer ${o.token}`, [FORWARDED_HEADER]: 'peer' },
        timeout: 10_000,
      },
      (up) => {
        // Once the answer flows, a long follow must not time out.
        up.socket.setTimeout(0)
        res.writeHead(up.statusCode ?? 502, {
          'content-type': up.headers['content-type'] ?? 'text/plain',
        })
        res.flushHeaders()
        up.pipe(res)
        up.on('end', resolve)
        up.on('error', () => {
          res.end()
          resolve()
        })
      },
    )
    res.on('close', () => upstream.destroy())
    upstream.on('timeout', () => upstream.destroy(new Error('timed out')))
    upstream.on('error', (err) => {
      if (res.headersSent) {
        res.end()
        resolve()
        return
      }
      reject(
        new StoreError(
          502,
          'ServiceUnavailable',
          `the node's API at ${endpoint.host}:${endpoint.port} did not answer: ${err.message}`,
        ),
      )
    })
    upstream.end()
  })
}

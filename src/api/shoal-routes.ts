/**
 * Shoal's own endpoints beside the Kubernetes API, on the same port and behind the same
 * token: cluster status and operator controls, and a debug key-value interface to the
 * replicated state.
 *
 *   GET    /shoal/v1/cluster/status
 *   POST   /shoal/v1/cluster/transfer-leadership   {"name": "peer-2"}   (name optional)
 *   POST   /shoal/v1/cluster/remove                {"name": "peer-3"}
 *   GET    /shoal/v1/kv/KEY        (?consistent=1: through the leader's read index)
 *   PUT    /shoal/v1/kv/KEY        body: the value
 *   DELETE /shoal/v1/kv/KEY
 *   GET    /shoal/v1/snapshot     a consistent copy of the whole store (`shoal snapshot save`)
 */

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ClusterManager } from '../p2p/cluster-manager.js'
import { BadRequestError, NotFoundError, StoreError } from '../store/errors.js'
import { encodeStoreCommand, type ObjectStore } from '../store/object-store.js'
import { sendJson } from './api-server.js'

/** Keys the debug interface may not touch: the daemon's own records. */
const RESERVED_PREFIXES = ['members/', 'cluster/']

function jsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {}
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object')
    return v as Record<string, unknown>
  } catch (err) {
    throw new BadRequestError(`request body is not a JSON object: ${(err as Error).message}`)
  }
}

/** The route handler: true when it answered the request. */
export function shoalRoutes(cluster: ClusterManager, store: ObjectStore) {
  return async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: () => Promise<Buffer>,
  ): Promise<boolean> => {
    const path = url.pathname
    if (!path.startsWith('/shoal/v1/')) return false
    const method = req.method ?? 'GET'
    if (path === '/shoal/v1/cluster/status' && method === 'GET') {
      sendJson(res, 200, cluster.status())
      return true
    }
    if (path === '/shoal/v1/cluster/transfer-leadership' && method === 'POST') {
      const b = jsonObject(await body())
      let id: string | undefined
      if (b.name !== undefined) {
        if (typeof b.name !== 'string') throw new BadRequestError('name must be a string')
        id = cluster.resolveMember(b.name) ?? undefined
        if (!id) throw new StoreError(404, 'NotFound', `no member named ${b.name}`)
      }
      await cluster.leaderCall(id === undefined ? { type: 'transfer' } : { type: 'transfer', id })
      sendJson(res, 200, cluster.status())
      return true
    }
    if (path === '/shoal/v1/cluster/remove' && method === 'POST') {
      const b = jsonObject(await body())
      if (typeof b.name !== 'string') throw new BadRequestError('name (a string) is required')
      const id = cluster.resolveMember(b.name)
      if (!id) throw new StoreError(404, 'NotFound', `no member named ${b.name}`)
      await cluster.leaderCall({ type: 'remove', id })
      sendJson(res, 200, cluster.status())
      return true
    }
    if (path === '/shoal/v1/snapshot' && method === 'GET') {
      // A consistent copy: everything acknowledged before this request is in it.
      await cluster.waitReadIndex()
      const bytes = store.snapshotBytes()
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': bytes.length,
        'x-shoal-resource-version': String(store.hub.currentResourceVersion()),
      })
      res.end(bytes)
      return true
    }
    const kv = /^\/shoal\/v1\/kv\/(.+)$/.exec(path)
    if (kv) {
      const key = decodeURIComponent(kv[1]!)
      if (key.length > 1024) throw new BadRequestError('key longer than 1024 bytes')
      if (method === 'GET') {
        if (url.searchParams.get('consistent') === '1') await cluster.waitReadIndex()
        const value = store.kvGet(`debug/${key}`)
        if (value === undefined) throw new NotFoundError('keys', key)
        sendJson(res, 200, { key, value })
        return true
      }
      if (RESERVED_PREFIXES.some((p) => key.startsWith(p)) && method !== 'GET') {
        throw new BadRequestError(`keys under ${RESERVED_PREFIXES.join(', ')} are reserved`)
      }
      if (method === 'PUT' || method === 'DELETE') {
        const command =
          method === 'PUT'
            ? { op: 'put' as const, key: `debug/${key}`, value: (await body()).toString('utf8') }
            : { op: 'delete' as const, key: `debug/${key}` }
        const r = (await cluster.leaderCall({
          type: 'apply',
          data: encodeStoreCommand(command),
        })) as {
          index: number
        }
        sendJson(
          res,
          200,
          method === 'PUT'
            ? { key, value: command.op === 'put' ? command.value : '', index: r.index }
            : { key, index: r.index },
        )
        return true
      }
      throw new StoreError(405, 'MethodNotAllowed', `${method} is not supported on ${path}`)
    }
    throw new StoreError(404, 'NotFound', `${method} ${path}: no such endpoint`)
  }
}

/**
 * How client commands find and talk to a peer (PRODUCT.md §2), in this order:
 * `--server URL` (with `--token`/`SHOAL_TOKEN` and `--ca FILE`), `--kubeconfig FILE` /
 * `KUBECONFIG`, `--data-dir DIR` (the local peer that owns that data dir: its address, CA
 * and token are read from there), `SHOAL_SERVER`, and finally the playground's first peer
 * when `./.shoal/peer-1` exists.
 */

import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Option } from 'clipanion'
import { parse as parseYaml } from 'yaml'
import { httpsRequest } from '../src/api/https-client.js'
import { readAgentInfo } from '../src/daemon/agent-info.js'
import { CommandUsageError, ShoalCommand } from './shoal-command.js'

/** The server answered with an error `Status` (or not at all). */
export class ApiError extends Error {
  override name = 'ApiError'
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message)
  }
}

/** Where to send requests and how to authenticate. */
export interface Connection {
  server: string
  token?: string
  ca?: string
}

interface Kubeconfig {
  'current-context'?: string
  contexts?: { name: string; context: { cluster: string; user?: string; namespace?: string } }[]
  clusters?: {
    name: string
    cluster: { server: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string }
  }[]
  users?: { name: string; user: { token?: string } }[]
}

/** Reads a kubeconfig's current context. */
export function connectionFromKubeconfig(path: string): Connection & { namespace?: string } {
  let doc: Kubeconfig
  try {
    doc = parseYaml(readFileSync(path, 'utf8')) as Kubeconfig
  } catch (err) {
    throw new CommandUsageError(`--kubeconfig ${path}: ${(err as Error).message.split('\n')[0]}`)
  }
  const ctx = doc.contexts?.find((c) => c.name === doc['current-context']) ?? doc.contexts?.[0]
  const cluster = doc.clusters?.find((c) => c.name === ctx?.context.cluster) ?? doc.clusters?.[0]
  if (!cluster) throw new CommandUsageError(`--kubeconfig ${path}: no cluster in it`)
  const user = doc.users?.find((u) => u.name === ctx?.context.user)
  const caData = cluster.cluster['certificate-authority-data']
  const caFile = cluster.cluster['certificate-authority']
  return {
    server: cluster.cluster.server.replace(/\/$/, ''),
    token: user?.user.token,
    ca: caData
      ? Buffer.from(caData, 'base64').toString('utf8')
      : caFile
        ? readFileSync(caFile, 'utf8')
        : undefined,
    namespace: ctx?.context.namespace,
  }
}

/** Reads the connection to the peer that owns `dataDir`. */
export function connectionFromDataDir(dataDir: string): Connection {
  const info = readAgentInfo(dataDir)
  if (!info) throw new CommandUsageError(`--data-dir ${dataDir}: no peer has run there (no agent.json)`)
  const read = (p: string | undefined) => (p && existsSync(p) ? readFileSync(p, 'utf8').trim() : undefined)
  return { server: info.api, token: read(info.token), ca: read(info.ca) ? `${read(info.ca)}\n` : undefined }
}

/** A command that talks to a peer's API. */
export abstract class ClientCommand extends ShoalCommand {
  server = Option.String('--server', { description: 'URL of any peer, e.g. https://127.0.1.1:6443' })
  token = Option.String('--token', { description: 'bearer token (default: $SHOAL_TOKEN)' })
  ca = Option.String('--ca', { description: 'CA certificate file to trust' })
  kubeconfig = Option.String('--kubeconfig', { description: 'a kubeconfig (default: $KUBECONFIG when set)' })
  dataDir = Option.String('--data-dir', { description: 'use the local peer that owns this data dir' })

  private resolved: Connection | null = null

  /** The connection, found in the documented order. */
  protected connection(): Connection {
    if (this.resolved) return this.resolved
    const readCa = (p: string | undefined) => {
      if (!p) return undefined
      if (!existsSync(p)) throw new CommandUsageError(`--ca ${p}: no such file`)
      return readFileSync(p, 'utf8')
    }
    let c: Connection
    if (this.server) {
      c = {
        server: this.server.replace(/\/$/, ''),
        token: this.token ?? process.env.SHOAL_TOKEN,
        ca: readCa(this.ca),
      }
    } else if (this.kubeconfig || process.env.KUBECONFIG) {
      c = connectionFromKubeconfig(this.kubeconfig ?? process.env.KUBECONFIG!.split(':')[0]!)
    } else if (this.dataDir) {
      c = connectionFromDataDir(this.dataDir)
    } else if (process.env.SHOAL_SERVER) {
      c = {
        server: process.env.SHOAL_SERVER.replace(/\/$/, ''),
        token: this.token ?? process.env.SHOAL_TOKEN,
        ca: readCa(this.ca ?? process.env.SHOAL_CA),
      }
    } else if (existsSync(join('.shoal', 'peer-1', 'agent.json'))) {
      c = connectionFromDataDir(join('.shoal', 'peer-1'))
    } else {
      throw new CommandUsageError(
        'no peer to talk to: give --server, --kubeconfig or --data-dir (or set SHOAL_SERVER)',
      )
    }
    if (this.token) c.token = this.token
    if (this.ca) c.ca = readCa(this.ca)
    this.resolved = c
    return c
  }

  /** The base URL of the peer to talk to. */
  protected serverUrl(): string {
    return this.connection().server
  }

  /** Sends a request and returns the parsed JSON answer, or throws ApiError. */
  protected async call(method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<unknown> {
    const c = this.connection()
    let res: { status: number; body: string }
    try {
      res = await httpsRequest({
        url: `${c.server}${path}`,
        method,
        token: c.token,
        ca: c.ca,
        body: body === undefined ? undefined : JSON.stringify(body),
        headers:
          body === undefined
            ? { accept: 'application/json' }
            : { 'content-type': 'application/json', accept: 'application/json' },
        timeoutMs,
      })
    } catch (err) {
      const e = err as Error & { code?: string }
      throw new ApiError(`cannot reach ${c.server}: ${e.code ?? e.message}`, 0)
    }
    let parsed: unknown = res.body
    try {
      parsed = JSON.parse(res.body)
    } catch {
      // Plain-text answers (healthz) stay text.
    }
    if (res.status >= 400) {
      const message = (parsed as { message?: string })?.message ?? res.body
      throw new ApiError(
        `${res.status === 401 ? 'Unauthorized (give --token or --kubeconfig)' : `${res.status}`}: ${message}`,
        res.status,
      )
    }
    return parsed
  }
}

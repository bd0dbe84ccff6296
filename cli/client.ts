/**
 * How client commands find and talk to a peer (PRODUCT.md §2): `--server URL`, then
 * `--data-dir DIR` (the local peer that owns it), then `SHOAL_SERVER`, then the default
 * `http://127.0.0.1:6443`.
 */

import { Option } from 'clipanion'
import { readAgentInfo } from '../src/daemon/peer-daemon.js'
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

/** A command that talks to a peer's HTTP endpoint. */
export abstract class ClientCommand extends ShoalCommand {
  server = Option.String('--server', { description: 'URL of any peer, e.g. http://127.0.1.1:6443' })
  dataDir = Option.String('--data-dir', { description: 'use the local peer that owns this data dir' })

  /** The base URL of the peer to talk to. */
  protected serverUrl(): string {
    if (this.server) return this.server.replace(/\/$/, '')
    if (this.dataDir) {
      const info = readAgentInfo(this.dataDir)
      if (!info)
        throw new CommandUsageError(`--data-dir ${this.dataDir}: no peer has run there (no agent.json)`)
      return info.api
    }
    if (process.env.SHOAL_SERVER) return process.env.SHOAL_SERVER.replace(/\/$/, '')
    return 'http://127.0.0.1:6443'
  }

  /** Sends a request and returns the parsed JSON answer, or throws ApiError. */
  protected async call(method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<unknown> {
    const url = `${this.serverUrl()}${path}`
    let res: Response
    try {
      res = await fetch(url, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (err) {
      throw new ApiError(
        `cannot reach ${this.serverUrl()}: ${(err as Error).cause ? String((err as Error).cause) : (err as Error).message}`,
        0,
      )
    }
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // Plain-text answers (healthz) stay text.
    }
    if (!res.ok) {
      const message = (parsed as { message?: string })?.message ?? text
      throw new ApiError(`${res.status}: ${message}`, res.status)
    }
    return parsed
  }
}

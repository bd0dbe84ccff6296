/**
 * `agent.json` in a peer's data dir: where the peer listens, and its CA and token files, for
 * local clients. A module of its own so that client commands load nothing of the daemon.
 */

import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

/** What `agent.json` says. */
export interface AgentInfo {
  name: string
  peerId: string
  api: string
  ca?: string
  token?: string
  p2p: string
}

/** Reads the `agent.json` of a peer's data dir, or null when there is none. */
export function readAgentInfo(dataDir: string): AgentInfo | null {
  const path = join(resolve(dataDir), 'agent.json')
  if (!existsSync(path)) return null
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as AgentInfo
  } catch {
    return null
  }
}

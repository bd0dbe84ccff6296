/**
 * Cluster configuration: who the servers are and which of them vote.
 *
 * Changes go through the log one server at a time (the Raft dissertation's §4.1), so any two
 * successive configurations share a majority. Pure functions only.
 */

export type ServerId = string
export type ServerAddress = string

/** Persisted in configuration entries: never rename. */
export type Suffrage = 'voter' | 'nonvoter'

/** One member of the cluster. */
export interface Server {
  id: ServerId
  address: ServerAddress
  suffrage: Suffrage
}

/** The set of servers. The order is kept as given; ids are unique. */
export interface Configuration {
  servers: Server[]
}

/** Thrown when a configuration or a change to it is not allowed. */
export class ConfigurationError extends Error {
  override name = 'ConfigurationError'
}

/** A change to the configuration, as the leader proposes it. */
export type ConfigurationChange =
  | { command: 'addVoter' | 'addNonvoter'; id: ServerId; address: ServerAddress }
  | { command: 'demoteVoter' | 'removeServer'; id: ServerId }

export function cloneConfiguration(c: Configuration): Configuration {
  return { servers: c.servers.map((s) => ({ ...s })) }
}

export function isVoter(c: Configuration, id: ServerId): boolean {
  return c.servers.some((s) => s.id === id && s.suffrage === 'voter')
}

export function hasServer(c: Configuration, id: ServerId): boolean {
  return c.servers.some((s) => s.id === id)
}

export function voters(c: Configuration): Server[] {
  return c.servers.filter((s) => s.suffrage === 'voter')
}

/** How many votes make a majority of the voters. */
export function quorumSize(c: Configuration): number {
  return Math.floor(voters(c).length / 2) + 1
}

/** Checks that ids and addresses are non-empty and ids unique, and that someone votes. */
export function checkConfiguration(c: Configuration): void {
  const seen = new Set<string>()
  for (const s of c.servers) {
    if (!s.id) throw new ConfigurationError('configuration: a server has an empty id')
    if (!s.address) throw new ConfigurationError(`configuration: server ${s.id} has an empty address`)
    if (s.suffrage !== 'voter' && s.suffrage !== 'nonvoter') {
      throw new ConfigurationError(
        `configuration: server ${s.id} has unknown suffrage '${s.suffrage as string}'`,
      )
    }
    if (seen.has(s.id)) throw new ConfigurationError(`configuration: server id ${s.id} appears twice`)
    seen.add(s.id)
  }
  if (voters(c).length === 0) throw new ConfigurationError('configuration: no voter')
}

/** The configuration that results from applying `change` to `current`. */
export function nextConfiguration(current: Configuration, change: ConfigurationChange): Configuration {
  const next = cloneConfiguration(current)
  const i = next.servers.findIndex((s) => s.id === change.id)
  switch (change.command) {
    case 'addVoter':
      if (i >= 0) {
        next.servers[i] = { id: change.id, address: change.address, suffrage: 'voter' }
      } else {
        next.servers.push({ id: change.id, address: change.address, suffrage: 'voter' })
      }
      break
    case 'addNonvoter':
      if (i >= 0) {
        // Keeps a voter a voter (as hashicorp/raft does); only updates the address.
        next.servers[i] = { ...next.servers[i]!, address: change.address }
      } else {
        next.servers.push({ id: change.id, address: change.address, suffrage: 'nonvoter' })
      }
      break
    case 'demoteVoter':
      if (i >= 0) next.servers[i] = { ...next.servers[i]!, suffrage: 'nonvoter' }
      break
    case 'removeServer':
      if (i >= 0) next.servers.splice(i, 1)
      break
  }
  checkConfiguration(next)
  return next
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The bytes of a configuration entry. Persisted: JSON `{ servers: [{ id, address, suffrage }] }`. */
export function encodeConfiguration(c: Configuration): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      servers: c.servers.map((s) => ({ id: s.id, address: s.address, suffrage: s.suffrage })),
    }),
  )
}

export function decodeConfiguration(data: Uint8Array): Configuration {
  const parsed = JSON.parse(decoder.decode(data)) as Configuration
  return { servers: parsed.servers.map((s) => ({ id: s.id, address: s.address, suffrage: s.suffrage })) }
}

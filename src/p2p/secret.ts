/**
 * The cluster secret: a libp2p pre-shared key (the "swarm key" format). Every peer of a
 * cluster holds the same one; a peer without it cannot complete a connection, so it can
 * open no stream to the cluster. The first peer creates it; every other peer is given it.
 */

import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { generateKey } from '@libp2p/pnet'

/** Bytes of a swarm key file as `generateKey` writes it. */
const SWARM_KEY_BYTES = 95

/** A cluster secret that cannot be used; the message says why. */
export class ClusterSecretError extends Error {
  override name = 'ClusterSecretError'
}

/** Checks that `data` is a swarm key (header lines and 64 hex digits). */
export function parseClusterSecret(data: Uint8Array, source: string): Uint8Array {
  const text = new TextDecoder().decode(data).trim()
  const lines = text.split(/\r?\n/)
  if (lines.length !== 3 || lines[0] !== '/key/swarm/psk/1.0.0/' || lines[1] !== '/base16/') {
    throw new ClusterSecretError(`${source}: not a cluster secret (expected a libp2p swarm key)`)
  }
  if (!/^[0-9a-fA-F]{64}$/.test(lines[2]!)) {
    throw new ClusterSecretError(`${source}: the key must be 64 hexadecimal digits`)
  }
  // Lower-case hex: the CA and the token are derived from these bytes, so they must not depend on case.
  return new TextEncoder().encode([lines[0], lines[1], lines[2]!.toLowerCase()].join('\n'))
}

/** Makes a new random cluster secret. */
export function newClusterSecret(): Uint8Array {
  const key = new Uint8Array(SWARM_KEY_BYTES)
  generateKey(key)
  return key
}

/**
 * Reads the secret at `path`; when absent and `create` is set, writes a new one there
 * (mode 0600). Returns the key and whether it was created.
 */
export function loadClusterSecret(path: string, create: boolean): { secret: Uint8Array; created: boolean } {
  if (existsSync(path)) return { secret: parseClusterSecret(readFileSync(path), path), created: false }
  if (!create) throw new ClusterSecretError(`${path}: no such cluster secret`)
  const secret = newClusterSecret()
  writeFileSync(path, secret, { mode: 0o600, flag: 'wx' })
  chmodSync(path, 0o600)
  return { secret, created: true }
}

/**
 * Disaster recovery: turns a store snapshot (`shoal snapshot save`) into the data dir of a
 * new single-peer cluster, which the others then join. The peer starts with the snapshot as
 * its Raft snapshot and itself as the only voter; its address is corrected once it leads.
 */

import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'

/** A snapshot file that cannot be used, or a data dir that is not empty. */
export class RestoreError extends Error {
  override name = 'RestoreError'
}

/** What a snapshot file holds, checked. */
export function inspectStoreSnapshot(bytes: Uint8Array): { resourceVersion: number; objects: number } {
  let state: { version?: unknown; resourceVersion?: unknown; objects?: unknown }
  try {
    state = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof state
  } catch (err) {
    throw new RestoreError(`not a Shoal snapshot: ${(err as Error).message}`)
  }
  if (state.version !== 1 || typeof state.resourceVersion !== 'number' || typeof state.objects !== 'object') {
    throw new RestoreError('not a Shoal snapshot (expected version 1 with resourceVersion and objects)')
  }
  const objects = Object.values(state.objects as Record<string, unknown[]>).reduce(
    (n, list) => n + list.length,
    0,
  )
  return { resourceVersion: state.resourceVersion, objects }
}

/** Writes a new data dir holding `bytes` as the state of a one-voter cluster. */
export async function restoreIntoDataDir(
  bytes: Uint8Array,
  dataDir: string,
): Promise<{ peerId: string; resourceVersion: number; objects: number }> {
  const info = inspectStoreSnapshot(bytes)
  const dir = resolve(dataDir)
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new RestoreError(`--data-dir ${dataDir} is not empty: restore only into a new, empty directory`)
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  // Loaded here: `shoal snapshot save` uses this module too and needs none of them.
  const { loadOrCreatePeerKey } = await import('../p2p/identity.js')
  const { FileSnapshotStore } = await import('../raft/file-snapshot-store.js')
  const { LevelStore } = await import('../raft/level-store.js')
  const { StableKeys } = await import('../raft/stable.js')
  const { peerId } = await loadOrCreatePeerKey(dir)
  // The snapshot's index must be at least 1 for Raft; the term starts at 1.
  const index = Math.max(1, info.resourceVersion)
  const store = await LevelStore.open(join(dir, 'raft'))
  try {
    await store.setUint64(StableKeys.currentTerm, 1)
  } finally {
    await store.close()
  }
  const snapshots = await FileSnapshotStore.open(join(dir, 'snapshots'))
  const sink = await snapshots.create({
    index,
    term: 1,
    // The real address is only known once the peer listens; it fixes it itself when it leads.
    configuration: { servers: [{ id: peerId, address: `/p2p/${peerId}`, suffrage: 'voter' }] },
    configurationIndex: index,
  })
  try {
    await sink.write(bytes)
    await sink.close()
  } catch (err) {
    await sink.cancel()
    throw err
  }
  return { peerId, resourceVersion: info.resourceVersion, objects: info.objects }
}

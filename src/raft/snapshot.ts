/**
 * Snapshots: what describes one (`SnapshotMeta`), the `SnapshotStore` seam that keeps them,
 * and the sink a snapshot is written into.
 */

import type { Configuration } from './configuration.js'

/** Describes a stored snapshot. */
export interface SnapshotMeta {
  /** Unique within the store; sorts newest-last for equal term/index ("<term>-<index>-<ms>"). */
  id: string
  /** The last log index the snapshot includes. */
  index: number
  /** The term of that entry. */
  term: number
  /** The latest configuration as of `index`, and the index it was committed at. */
  configuration: Configuration
  configurationIndex: number
  /** Size of the data in bytes. */
  size: number
}

/** Where a snapshot's bytes go. Nothing is visible in the store until `close()` resolves. */
export interface SnapshotSink {
  readonly id: string
  write(chunk: Uint8Array): Promise<void>
  /** Makes the snapshot durable and visible. */
  close(): Promise<void>
  /** Abandons it; nothing is kept. */
  cancel(): Promise<void>
}

/** A stored snapshot opened for reading. */
export interface OpenSnapshot {
  meta: SnapshotMeta
  /** The data, in chunks; read it once. */
  data: AsyncIterable<Uint8Array>
}

/**
 * Keeps snapshots durably. Implementations keep at least the newest `retain` snapshots and
 * may delete older ones when a new one closes.
 */
export interface SnapshotStore {
  create(meta: Omit<SnapshotMeta, 'id' | 'size'>): Promise<SnapshotSink>
  /** Snapshots newest first (by term, then index, then id). */
  list(): Promise<SnapshotMeta[]>
  /** Opens a snapshot; rejects with `SnapshotNotFoundError` when it is gone. */
  open(id: string): Promise<OpenSnapshot>
}

/** A snapshot asked for by id is not in the store. */
export class SnapshotNotFoundError extends Error {
  override name = 'SnapshotNotFoundError'
  constructor(readonly snapshotId: string) {
    super(`snapshot ${snapshotId} not found`)
  }
}

/** Orders snapshot metadata newest first. */
export function compareSnapshotsNewestFirst(a: SnapshotMeta, b: SnapshotMeta): number {
  if (a.term !== b.term) return b.term - a.term
  if (a.index !== b.index) return b.index - a.index
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

/**
 * `InmemSnapshotStore`: a `SnapshotStore` in memory, for tests and simulations.
 */

import { cloneConfiguration } from './configuration.js'
import {
  compareSnapshotsNewestFirst,
  type OpenSnapshot,
  type SnapshotMeta,
  SnapshotNotFoundError,
  type SnapshotSink,
  type SnapshotStore,
} from './snapshot.js'

/** Options of an `InmemSnapshotStore`. */
export interface InmemSnapshotStoreOptions {
  /** How many of the newest snapshots to keep (at least 1); default 2. */
  retain?: number
}

interface Stored {
  meta: SnapshotMeta
  data: Uint8Array
}

/**
 * A `SnapshotStore` in memory that keeps the `retain` newest snapshots. Ids are
 * `<term>-<index>-<sequence>` with a zero-padded per-store sequence instead of a timestamp,
 * so they are unique, sort in creation order and need no clock.
 */
export class InmemSnapshotStore implements SnapshotStore {
  private readonly retain: number
  private readonly snapshots = new Map<string, Stored>()
  private sequence = 0

  constructor(options: InmemSnapshotStoreOptions = {}) {
    const retain = options.retain ?? 2
    if (!Number.isInteger(retain) || retain < 1) {
      throw new RangeError(`inmem snapshot store: retain ${retain} is not an integer >= 1`)
    }
    this.retain = retain
  }

  async create(meta: Omit<SnapshotMeta, 'id' | 'size'>): Promise<SnapshotSink> {
    this.sequence++
    const id = `${meta.term}-${meta.index}-${String(this.sequence).padStart(16, '0')}`
    // Copied now: the caller may change its object while the snapshot is written.
    const own = copyMeta({ ...meta, id, size: 0 })
    return new InmemSnapshotSink(id, own, (stored) => this.keep(stored))
  }

  async list(): Promise<SnapshotMeta[]> {
    return [...this.snapshots.values()].map((s) => copyMeta(s.meta)).sort(compareSnapshotsNewestFirst)
  }

  async open(id: string): Promise<OpenSnapshot> {
    const stored = this.snapshots.get(id)
    if (!stored) throw new SnapshotNotFoundError(id)
    // Copied now, so deleting the snapshot while it is read changes nothing for the reader.
    const data = new Uint8Array(stored.data)
    return { meta: copyMeta(stored.meta), data: oneChunk(data) }
  }

  private keep(stored: Stored): void {
    this.snapshots.set(stored.meta.id, stored)
    const newestFirst = [...this.snapshots.values()].map((s) => s.meta).sort(compareSnapshotsNewestFirst)
    for (const old of newestFirst.slice(this.retain)) this.snapshots.delete(old.id)
  }
}

/** Collects chunks in memory; the snapshot appears in the store only on `close()`. */
class InmemSnapshotSink implements SnapshotSink {
  private chunks: Uint8Array[] = []
  private size = 0
  private state: 'open' | 'closed' | 'canceled' = 'open'

  constructor(
    readonly id: string,
    private readonly meta: SnapshotMeta,
    private readonly onClose: (stored: Stored) => void,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    if (this.state !== 'open') throw new Error(`snapshot ${this.id}: write after close or cancel`)
    this.chunks.push(new Uint8Array(chunk))
    this.size += chunk.byteLength
  }

  async close(): Promise<void> {
    if (this.state === 'canceled') throw new Error(`snapshot ${this.id}: close after cancel`)
    if (this.state === 'closed') return
    this.state = 'closed'
    const data = new Uint8Array(this.size)
    let offset = 0
    for (const chunk of this.chunks) {
      data.set(chunk, offset)
      offset += chunk.byteLength
    }
    this.chunks = []
    this.onClose({ meta: { ...this.meta, size: this.size }, data })
  }

  /** Drops what was written; after `close()` it does nothing (the snapshot is the store's). */
  async cancel(): Promise<void> {
    if (this.state === 'closed') return
    this.state = 'canceled'
    this.chunks = []
  }
}

function copyMeta(meta: SnapshotMeta): SnapshotMeta {
  return {
    id: meta.id,
    index: meta.index,
    term: meta.term,
    configuration: cloneConfiguration(meta.configuration),
    configurationIndex: meta.configurationIndex,
    size: meta.size,
  }
}

async function* oneChunk(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data
}

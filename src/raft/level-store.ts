/**
 * `LevelStore`: Raft's log and stable state in one LevelDB database (classic-level).
 *
 * Key layout (persisted: never change a prefix):
 *
 *   'l' + index as 8 bytes big-endian  →  encodeLogEntry(entry)
 *   's' + key as UTF-8                 →  the value (`setUint64`: 8 bytes big-endian)
 *
 * Big-endian indexes make LevelDB's byte order the index order, so a range of the log is one
 * iterator and the first and last entries are one seek each.
 */

import { ClassicLevel } from 'classic-level'
import type { LogEntry, LogStore } from './log.js'
import { decodeLogEntry, encodeLogEntry, readUint64, writeUint64 } from './log-codec.js'
import type { StableStore } from './stable.js'

const LOG_PREFIX = 0x6c // 'l'
const STABLE_PREFIX = 0x73 // 's'
const LOG_RANGE = { gte: Uint8Array.of(LOG_PREFIX), lt: Uint8Array.of(LOG_PREFIX + 1) }
const encoder = new TextEncoder()

type Db = ClassicLevel<Uint8Array, Uint8Array>

/** The database holds bytes that are not what this store wrote (a damaged or foreign database). */
export class LevelStoreCorruptError extends Error {
  override name = 'LevelStoreCorruptError'
}

/** A write was made after `close()`. */
export class LevelStoreClosedError extends Error {
  override name = 'LevelStoreClosedError'
  constructor() {
    super('level store: closed')
  }
}

/**
 * A durable `LogStore` and `StableStore` on LevelDB. Every write is synced to disk before its
 * promise resolves; writes run one at a time, in call order, so the cached first and last
 * index always describe what is on disk. Reads run concurrently with writes.
 *
 * One process may open a directory at a time (LevelDB holds a lock on it).
 */
export class LevelStore implements LogStore, StableStore {
  // Cached so that firstIndex()/lastIndex(), called on every append, never touch the disk.
  private first: number
  private last: number
  // The tail of the write queue. Unbounded by itself: Raft bounds its in-flight writes.
  private writes: Promise<unknown> = Promise.resolve()
  private closing: Promise<void> | undefined

  private constructor(
    private readonly db: Db,
    first: number,
    last: number,
  ) {
    this.first = first
    this.last = last
  }

  /** Opens (creating if needed) the database in directory `path` and loads the log bounds. */
  static async open(path: string): Promise<LevelStore> {
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    })
    await db.open()
    try {
      return new LevelStore(db, await firstIndexFrom(db, 0), await lastIndexUpTo(db, Number.MAX_SAFE_INTEGER))
    } catch (err) {
      await db.close()
      throw err
    }
  }

  /** Waits for queued writes, then closes the database. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.writes.then(() => this.db.close())
    return this.closing
  }

  async firstIndex(): Promise<number> {
    return this.first
  }

  async lastIndex(): Promise<number> {
    return this.last
  }

  async getLog(index: number): Promise<LogEntry | undefined> {
    if (!isIndex(index)) return undefined
    const value = await this.db.get(logKey(index))
    return value === undefined ? undefined : decodeAt(index, value)
  }

  /** One range iterator over `min..max`, stopping at the first missing index. */
  async getLogs(min: number, max: number): Promise<LogEntry[]> {
    const hi = Math.min(max, Number.MAX_SAFE_INTEGER)
    if (!isIndex(min) || hi < min) return []
    const out: LogEntry[] = []
    let expected = min
    for await (const [key, value] of this.db.iterator({ gte: logKey(min), lte: logKey(hi) })) {
      const index = indexOfKey(key)
      if (index !== expected) break
      out.push(decodeAt(index, value))
      expected++
    }
    return out
  }

  async storeLogs(entries: LogEntry[]): Promise<void> {
    if (entries.length === 0) return
    let lo = Number.POSITIVE_INFINITY
    let hi = 0
    // Encoded before queueing, so a bad entry rejects with nothing written.
    const ops = entries.map((entry) => {
      if (!isIndex(entry.index)) {
        throw new RangeError(`storeLogs: index ${entry.index} is not an integer in 1..2^53-1`)
      }
      lo = Math.min(lo, entry.index)
      hi = Math.max(hi, entry.index)
      return { type: 'put' as const, key: logKey(entry.index), value: encodeLogEntry(entry) }
    })
    await this.enqueue(async () => {
      await this.db.batch(ops, { sync: true })
      if (this.first === 0 || lo < this.first) this.first = lo
      if (hi > this.last) this.last = hi
    })
  }

  /**
   * Deletes `min..max` in one synced batch. The keys to delete are read from the database, so
   * the cost is what the log holds in the range, whatever its bounds (Raft truncates with
   * `Number.MAX_SAFE_INTEGER`).
   */
  async deleteRange(min: number, max: number): Promise<void> {
    await this.enqueue(async () => {
      const lo = Math.max(min, this.first)
      const hi = Math.min(max, this.last)
      if (this.last === 0 || lo > hi) return
      const keys = await this.db.keys({ gte: logKey(lo), lte: logKey(hi) }).all()
      if (keys.length === 0) return
      await this.db.batch(
        keys.map((key) => ({ type: 'del' as const, key })),
        { sync: true },
      )
      // One seek each, starting past the deleted keys (LevelDB is slow to skip tombstones).
      // Asked of the database rather than computed, so a gap in the log cannot fool them.
      if (lo === this.first) this.first = await firstIndexFrom(this.db, hi + 1)
      if (hi === this.last) this.last = await lastIndexUpTo(this.db, lo - 1)
      if (this.first === 0 || this.last === 0) {
        this.first = 0
        this.last = 0
      }
    })
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    // Copied now: the caller may reuse its buffer before the queued write runs.
    const copy = new Uint8Array(value)
    await this.enqueue(() => this.db.put(stableKey(key), copy, { sync: true }))
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const value = await this.db.get(stableKey(key))
    // A plain Uint8Array of our own, not a Buffer that may share memory.
    return value === undefined ? undefined : new Uint8Array(value)
  }

  async setUint64(key: string, value: number): Promise<void> {
    const bytes = new Uint8Array(8)
    writeUint64(new DataView(bytes.buffer), 0, value, `setUint64 ${key}`)
    await this.enqueue(() => this.db.put(stableKey(key), bytes, { sync: true }))
  }

  async getUint64(key: string): Promise<number> {
    const value = await this.db.get(stableKey(key))
    if (value === undefined) return 0
    if (value.byteLength !== 8) {
      throw new LevelStoreCorruptError(`stable key ${key}: ${value.byteLength} bytes is not a uint64`)
    }
    return readUint64(new DataView(value.buffer, value.byteOffset, value.byteLength), 0, key)
  }

  private enqueue<T>(write: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new LevelStoreClosedError())
    const result = this.writes.then(write)
    // The next write waits for this one to settle, not to succeed: its caller sees the error.
    this.writes = result.catch(() => undefined)
    return result
  }
}

/** The smallest stored index at or above `from`, or 0 when there is none. */
async function firstIndexFrom(db: Db, from: number): Promise<number> {
  if (from > Number.MAX_SAFE_INTEGER) return 0
  const [key] = await db.keys({ gte: logKey(from), lt: LOG_RANGE.lt, limit: 1 }).all()
  return key ? indexOfKey(key) : 0
}

/** The largest stored index at or below `upTo`, or 0 when there is none. */
async function lastIndexUpTo(db: Db, upTo: number): Promise<number> {
  const [key] = await db.keys({ gte: LOG_RANGE.gte, lte: logKey(upTo), limit: 1, reverse: true }).all()
  return key ? indexOfKey(key) : 0
}

function isIndex(index: number): boolean {
  return Number.isSafeInteger(index) && index >= 1
}

function logKey(index: number): Uint8Array {
  const key = new Uint8Array(9)
  key[0] = LOG_PREFIX
  writeUint64(new DataView(key.buffer), 1, index, 'log index')
  return key
}

function indexOfKey(key: Uint8Array): number {
  if (key.byteLength !== 9 || key[0] !== LOG_PREFIX) {
    throw new LevelStoreCorruptError(`log key of ${key.byteLength} bytes is not 'l' + uint64`)
  }
  return readUint64(new DataView(key.buffer, key.byteOffset, key.byteLength), 1, 'log key')
}

function stableKey(key: string): Uint8Array {
  const utf8 = encoder.encode(key)
  const out = new Uint8Array(1 + utf8.byteLength)
  out[0] = STABLE_PREFIX
  out.set(utf8, 1)
  return out
}

function decodeAt(index: number, value: Uint8Array): LogEntry {
  const entry = decodeLogEntry(value)
  if (entry.index !== index) {
    throw new LevelStoreCorruptError(`log key ${index} holds the entry of index ${entry.index}`)
  }
  return entry
}

/**
 * `WalLogStore`: Raft's log as a write-ahead log of its own — segment files of records, one
 * `write` and one `fdatasync` per batch.
 *
 * Why not LevelDB (LevelStore, which keeps Raft's stable state): a synced LevelDB batch goes
 * through libuv's thread pool, and on the small VMs Shoal targets the two thread hand-offs and
 * LevelDB's own work cost about 330 µs of CPU per batch, where a `write` + `fdatasync` made
 * in place costs about 70 µs (and no wake-up of another thread). A Raft batch is one such call
 * on the leader and on every follower, on every write's path. So a write is made in place, the
 * event loop waiting for the disk (~0.1–0.2 ms), unless the caller asks for `offThread` — a
 * busy leader, whose event loop also serves the cluster's writes, and is worth more than the
 * hand-offs (docs/BENCHMARKS.md). Writes run one at a time, in call order, either way.
 *
 * Layout: files `NNNNNNNNNNNN.wal` (a sequence number) in one directory, each a run of records
 *
 *   u32 length of the body | u32 CRC-32 of the body | body = u8 kind + payload
 *   kind 1: a log entry (log-codec.ts)
 *   kind 2: a deletion: u64 min, u64 max — every entry in min..max written before it is gone
 *
 * Replayed in order on open, the records give the log: a later entry for an index replaces an
 * earlier one, a deletion removes what came before it. A record that is cut short or fails its
 * CRC at the end of the last file is a write the crash interrupted (never acknowledged): the
 * file is cut there. Anywhere else it is damage, and opening fails.
 *
 * A new file is started once the current one passes `segmentBytes`; the oldest files go once
 * none of their entries is live any more (after Raft compacts its log behind a snapshot).
 *
 * Files are preallocated, as etcd's WAL does: a spare file of `segmentBytes` zeros is written
 * and synced ahead of time (through the thread pool, `spare.wal.tmp`) and renamed in when the
 * current file is full. A write into blocks that exist already changes no file size, so its
 * `fdatasync` flushes the data alone instead of also committing the file system's journal:
 * measured here, 92 against 143 µs per append+sync, 40 against 60 µs of CPU (150 against
 * 230 µs with three processes syncing at once). The end of a file's records is then the first
 * all-zero header followed by zeros only. When no spare is ready yet, a new file starts empty
 * and grows with its writes, as before.
 */

import {
  closeSync,
  existsSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  write,
  writeSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import type { LogEntry, LogStore, StoreLogsOptions } from './log.js'
import {
  decodeLogEntry,
  encodedLogEntryLength,
  encodeLogEntryInto,
  readUint64,
  writeUint64,
} from './log-codec.js'

const HEADER_BYTES = 8
const KIND_ENTRY = 1
/** Where a record's payload starts: after the header and the kind byte. */
const PAYLOAD_AT = HEADER_BYTES + 1
const KIND_DELETION = 2
/** A record body larger than this is damage, not data (Raft entries are far smaller). */
const MAX_BODY_BYTES = 256 * 1024 * 1024
const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024
const SEGMENT_NAME = /^(\d{12})\.wal$/
/** The preallocated file waiting to become the next segment (not a segment until renamed). */
const SPARE_NAME = 'spare.wal.tmp'
const ZEROS = Buffer.alloc(1024 * 1024)
/** The unit a disk writes whole or not at all. */
const SECTOR_BYTES = 512
const writeAsync = promisify(write)
const fdatasyncAsync = promisify(fdatasync)

/** The files hold bytes this store did not write (or damage beyond a torn last write). */
export class WalCorruptError extends Error {
  override name = 'WalCorruptError'
}

/** A write was made after `close()`. */
export class WalClosedError extends Error {
  override name = 'WalClosedError'
  constructor() {
    super('wal log store: closed')
  }
}

interface Segment {
  seq: number
  path: string
  fd: number
  /** Where its records end (the next write's offset); the file may be longer, zeros. */
  size: number
  /** Live entries whose record is in this file. */
  live: number
}

interface Location {
  segment: Segment
  offset: number
  length: number
}

const CRC_TABLE = (() => {
  const table = new Int32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c
  }
  return table
})()

/** CRC-32 (IEEE), as zlib computes it. */
export function crc32(bytes: Uint8Array): number {
  if (nativeCrc32) return nativeCrc32(bytes)
  return crc32InJs(bytes)
}

/**
 * zlib's CRC-32 (the same IEEE polynomial), in Node.js from 20.15 and 22.2: several times
 * faster than the table loop, which stays for older versions.
 */
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32

export function crc32InJs(bytes: Uint8Array): number {
  let c = -1
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ -1) >>> 0
}

function record(kind: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PAYLOAD_AT + payload.length)
  out.set(payload, PAYLOAD_AT)
  sealRecord(out, 0, kind, payload.length)
  return out
}

/** Writes a record's header and kind around the `payloadBytes` already at `offset + PAYLOAD_AT`. */
function sealRecord(out: Buffer, offset: number, kind: number, payloadBytes: number): void {
  out[offset + HEADER_BYTES] = kind
  const body = out.subarray(offset + HEADER_BYTES, offset + PAYLOAD_AT + payloadBytes)
  out.writeUInt32BE(body.length, offset)
  out.writeUInt32BE(crc32(body), offset + 4)
}

/** The length of the whole, intact record at `offset`, or why there is none. */
function intactRecordAt(bytes: Buffer, offset: number): number | string {
  if (bytes.length - offset < PAYLOAD_AT) return 'a record cut short'
  const length = bytes.readUInt32BE(offset)
  if (length < 1 || length > MAX_BODY_BYTES) return `a record of ${length} bytes`
  if (bytes.length - offset < HEADER_BYTES + length) return 'a record cut short'
  const body = bytes.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length)
  if (bytes.readUInt32BE(offset + 4) !== crc32(body)) return 'a record failing its checksum'
  return HEADER_BYTES + length
}

/** True when `bytes` from `offset` on are all zero (the unused part of a preallocated file). */
function zerosFrom(bytes: Buffer, offset: number): boolean {
  for (let at = offset; at < bytes.length; at += ZEROS.length) {
    const end = Math.min(bytes.length, at + ZEROS.length)
    if (bytes.compare(ZEROS, 0, end - at, at, end) !== 0) return false
  }
  return true
}

/** The offset just past the last byte of `bytes` that is not zero (0 when all are). */
function endOfNonZero(bytes: Buffer): number {
  let end = bytes.length
  while (end > 0) {
    const start = Math.max(0, end - ZEROS.length)
    if (bytes.compare(ZEROS, 0, end - start, start, end) !== 0) break
    end = start
  }
  while (end > 0 && bytes[end - 1] === 0) end--
  return end
}

/**
 * True when the bad record at `offset` has a piece within one disk sector that is all zeros: a
 * sector of an interrupted write that never reached the disk (a preallocated file reads zeros
 * there), as etcd's WAL tells a torn write from damage. The records after it can only be of
 * the same unacknowledged write: writes are synced one at a time, and a synced sector stays.
 */
function tornBySector(bytes: Buffer, offset: number): boolean {
  const length = bytes.length - offset >= HEADER_BYTES ? bytes.readUInt32BE(offset) : 0
  const end = Math.min(bytes.length, offset + HEADER_BYTES + Math.min(length, MAX_BODY_BYTES))
  for (let start = offset; start < end; ) {
    const next = Math.min(end, (Math.floor(start / SECTOR_BYTES) + 1) * SECTOR_BYTES)
    if (bytes.compare(ZEROS, 0, next - start, start, next) === 0) return true
    start = next
  }
  return false
}

/** True when the bad record at `offset` has a readable length and an intact record after it. */
function followedByIntactRecord(bytes: Buffer, offset: number): boolean {
  if (bytes.length - offset < HEADER_BYTES) return false
  const length = bytes.readUInt32BE(offset)
  if (length < 1 || length > MAX_BODY_BYTES) return false
  return typeof intactRecordAt(bytes, offset + HEADER_BYTES + length) === 'number'
}

function syncDirectory(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

function isIndex(index: number): boolean {
  return Number.isSafeInteger(index) && index >= 1
}

export class WalLogStore implements LogStore {
  private readonly segments: Segment[] = []
  private readonly locations = new Map<number, Location>()
  private first = 0
  private last = 0
  private closed = false
  /** The tail of the writes in flight, or null when none is. */
  private queue: Promise<void> | null = null
  /** The spare file once it is written and synced; null while it is being made (or off). */
  private spare: { fd: number } | null = null
  /** The spare being made, if one is. */
  private making: Promise<void> | null = null

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly preallocate: boolean,
  ) {}

  /**
   * Opens (creating if needed) the log in directory `dir`, replaying its files, and makes the
   * spare file the next new file will be (`preallocate`, default true; see the file comment).
   */
  static async open(
    dir: string,
    options: { segmentBytes?: number; preallocate?: boolean } = {},
  ): Promise<WalLogStore> {
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true })
      syncDirectory(dirname(dir))
    }
    const store = new WalLogStore(
      dir,
      options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      options.preallocate ?? true,
    )
    try {
      // A spare left by an earlier run may be half made: made again.
      rmSync(join(dir, SPARE_NAME), { force: true })
      store.replay()
    } catch (err) {
      store.closeFiles()
      throw err
    }
    store.makeSpare()
    await store.making
    return store
  }

  /** Waits for the writes in flight and the spare being made, then closes the files. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.queue
    await this.making
    this.closeFiles()
  }

  async firstIndex(): Promise<number> {
    return this.first
  }

  async lastIndex(): Promise<number> {
    return this.last
  }

  async getLog(index: number): Promise<LogEntry | undefined> {
    return this.read(index)
  }

  async getLogs(min: number, max: number): Promise<LogEntry[]> {
    const out: LogEntry[] = []
    const hi = Math.min(max, this.last)
    for (let i = min; i <= hi; i++) {
      const entry = this.read(i)
      if (!entry) break
      out.push(entry)
    }
    return out
  }

  async storeLogs(entries: LogEntry[], options: StoreLogsOptions = {}): Promise<void> {
    if (entries.length === 0) return
    // Encoded (and checked) before anything is written: a bad entry stores nothing of its batch.
    // One buffer for the batch, each entry encoded in place.
    const lengths = entries.map((entry) => {
      if (!isIndex(entry.index)) {
        throw new RangeError(`storeLogs: index ${entry.index} is not an integer in 1..2^53-1`)
      }
      return PAYLOAD_AT + encodedLogEntryLength(entry)
    })
    const bytes = Buffer.allocUnsafe(lengths.reduce((sum, n) => sum + n, 0))
    let at = 0
    entries.forEach((entry, i) => {
      encodeLogEntryInto(entry, bytes, at + PAYLOAD_AT)
      sealRecord(bytes, at, KIND_ENTRY, lengths[i]! - PAYLOAD_AT)
      at += lengths[i]!
    })
    const note = ([segment, start]: [Segment, number]): void => {
      let offset = start
      for (let i = 0; i < entries.length; i++) {
        this.place(entries[i]!.index, { segment, offset, length: lengths[i]! })
        offset += lengths[i]!
      }
    }
    if (options.offThread) return this.enqueue(async () => note(await this.appendOffThread(bytes)))
    return this.enqueue(() => note(this.append(bytes)))
  }

  /** Deletes `min..max` with one synced record; its cost is what the log holds in the range. */
  deleteRange(min: number, max: number): Promise<void> {
    return this.enqueue(() => {
      const lo = Math.max(min, this.first)
      const hi = Math.min(max, this.last)
      if (this.last === 0 || lo > hi) return
      const payload = new Uint8Array(16)
      const view = new DataView(payload.buffer)
      writeUint64(view, 0, lo, 'deleteRange min')
      writeUint64(view, 8, hi, 'deleteRange max')
      this.append(record(KIND_DELETION, payload))
      this.applyDeletion(lo, hi)
      this.dropDeadSegments()
    })
  }

  /**
   * Runs writes one at a time, in call order: at once (synchronously) when none is in flight,
   * else after the last one settles.
   */
  private enqueue(task: () => void | Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new WalClosedError())
    if (this.queue === null) {
      let result: void | Promise<void>
      try {
        result = task()
      } catch (err) {
        return Promise.reject(err)
      }
      return result instanceof Promise ? this.track(result) : Promise.resolve()
    }
    return this.track(this.queue.then(task))
  }

  private track(write: Promise<void>): Promise<void> {
    const settled = write.then(
      () => undefined,
      () => undefined,
    )
    this.queue = settled
    void settled.then(() => {
      if (this.queue === settled) this.queue = null
    })
    return write
  }

  // ---------------------------------------------------------------- internals

  private read(index: number): LogEntry | undefined {
    if (this.closed) throw new WalClosedError()
    const at = this.locations.get(index)
    if (!at) return undefined
    const bytes = Buffer.allocUnsafe(at.length)
    const got = readSync(at.segment.fd, bytes, 0, at.length, at.offset)
    if (got !== at.length) throw new WalCorruptError(`${at.segment.path}: short read at ${at.offset}`)
    const body = bytes.subarray(HEADER_BYTES)
    if (bytes.readUInt32BE(4) !== crc32(body)) {
      throw new WalCorruptError(`${at.segment.path}: entry ${index} fails its checksum`)
    }
    return decodeLogEntry(body.subarray(1))
  }

  /** Writes `bytes` at the end of the current file (a new one when it is full) and syncs it. */
  /** The file the next `length` bytes go to: the current one, or a new one when it is full. */
  private segmentFor(length: number): Segment {
    if (this.closed) throw new WalClosedError()
    const segment = this.segments.at(-1)
    if (!segment || (segment.size > 0 && segment.size + length > this.segmentBytes)) {
      return this.newSegment((segment?.seq ?? 0) + 1)
    }
    return segment
  }

  /** Writes `bytes` at the end of the log and syncs it, in place: [file, offset]. */
  private append(bytes: Buffer): [Segment, number] {
    const segment = this.segmentFor(bytes.length)
    const start = segment.size
    try {
      let written = 0
      while (written < bytes.length) {
        written += writeSync(segment.fd, bytes, written, bytes.length - written, start + written)
      }
      fdatasyncSync(segment.fd)
    } catch (err) {
      this.cutAfterFailure(segment, start)
      throw err
    }
    segment.size = start + bytes.length
    return [segment, start]
  }

  /** The same through libuv's thread pool, this thread free while the disk syncs. */
  private async appendOffThread(bytes: Buffer): Promise<[Segment, number]> {
    const segment = this.segmentFor(bytes.length)
    const start = segment.size
    try {
      let written = 0
      while (written < bytes.length) {
        const r = await writeAsync(segment.fd, bytes, written, bytes.length - written, start + written)
        written += r.bytesWritten
      }
      await fdatasyncAsync(segment.fd)
    } catch (err) {
      this.cutAfterFailure(segment, start)
      throw err
    }
    segment.size = start + bytes.length
    return [segment, start]
  }

  /**
   * Whatever part of a failed write reached the file must not outlive the failure: a later,
   * shorter write would leave it behind its own records, to be read as damage (or as entries
   * Raft gave up) on the next open.
   */
  private cutAfterFailure(segment: Segment, size: number): void {
    try {
      ftruncateSync(segment.fd, size)
    } catch {
      // The disk is failing; the next write tries again.
    }
  }

  /** The next file: the spare renamed in when one is ready (then another is made), else a new one. */
  private newSegment(seq: number): Segment {
    const path = join(this.dir, `${String(seq).padStart(12, '0')}.wal`)
    let fd: number
    if (this.spare) {
      renameSync(join(this.dir, SPARE_NAME), path)
      fd = this.spare.fd
      this.spare = null
    } else {
      fd = openSync(path, 'wx+')
    }
    const segment: Segment = { seq, path, fd, size: 0, live: 0 }
    this.segments.push(segment)
    // The file's name must be on disk before anything written into it is acknowledged.
    this.syncDir()
    this.makeSpare()
    return segment
  }

  /**
   * Writes and syncs `segmentBytes` of zeros to the spare file through the thread pool, the
   * event loop free meanwhile. A failure leaves no spare: new files then start empty.
   */
  private makeSpare(): void {
    if (!this.preallocate || this.spare || this.making || this.closed) return
    const path = join(this.dir, SPARE_NAME)
    const make = async (): Promise<void> => {
      const fd = openSync(path, 'w+')
      try {
        for (let at = 0; at < this.segmentBytes; at += ZEROS.length) {
          const length = Math.min(ZEROS.length, this.segmentBytes - at)
          let written = 0
          while (written < length) {
            written += (await writeAsync(fd, ZEROS, written, length - written, at + written)).bytesWritten
          }
        }
        await fdatasyncAsync(fd)
      } catch (err) {
        closeSync(fd)
        rmSync(path, { force: true })
        throw err
      }
      if (this.closed) closeSync(fd)
      else this.spare = { fd }
    }
    this.making = make().then(
      () => {
        this.making = null
      },
      () => {
        this.making = null
      },
    )
  }

  private syncDir(): void {
    syncDirectory(this.dir)
  }

  /** Records where the entry of `index` now is (replacing any earlier one), counting it in. */
  private place(index: number, at: Location): void {
    this.forget(index)
    this.locations.set(index, at)
    at.segment.live++
    if (this.first === 0 || index < this.first) this.first = index
    if (index > this.last) this.last = index
  }

  /** Drops the location of `index` (replaced or deleted), counting it out of its file. */
  private forget(index: number): void {
    const old = this.locations.get(index)
    if (!old) return
    old.segment.live--
    this.locations.delete(index)
  }

  private applyDeletion(lo: number, hi: number): void {
    if (hi - lo < this.locations.size) {
      for (let i = lo; i <= hi; i++) this.forget(i)
    } else {
      for (const index of [...this.locations.keys()]) if (index >= lo && index <= hi) this.forget(index)
    }
    if (this.locations.size === 0) {
      this.first = 0
      this.last = 0
      return
    }
    if (lo <= this.first) this.first = this.boundAfter(hi, +1)
    if (hi >= this.last) this.last = this.boundAfter(lo, -1)
  }

  /** The nearest stored index beyond `from` going `direction`: a walk, or a scan for a far one. */
  private boundAfter(from: number, direction: 1 | -1): number {
    for (let i = from + direction, steps = 0; steps < 1024 && i >= 1; i += direction, steps++) {
      if (this.locations.has(i)) return i
    }
    let best = 0
    for (const index of this.locations.keys()) {
      if (direction > 0 ? index > from && (best === 0 || index < best) : index < from && index > best)
        best = index
    }
    return best
  }

  /**
   * Removes the oldest files while none of their entries is live (never the current one). A
   * deletion record in such a file only ever removed entries written before it, in it or in
   * older files, all gone with it.
   */
  private dropDeadSegments(): void {
    let dropped = false
    while (this.segments.length > 1 && this.segments[0]!.live === 0) {
      const dead = this.segments.shift()!
      closeSync(dead.fd)
      unlinkSync(dead.path)
      dropped = true
    }
    if (dropped) this.syncDir()
  }

  private replay(): void {
    const names = readdirSync(this.dir)
      .filter((n) => SEGMENT_NAME.test(n))
      .sort()
    names.forEach((name, i) => {
      const path = join(this.dir, name)
      const seq = Number(SEGMENT_NAME.exec(name)![1])
      const fd = openSync(path, 'r+')
      const segment: Segment = { seq, path, fd, size: 0, live: 0 }
      this.segments.push(segment)
      const bytes = readFileSync(path)
      let offset = 0
      while (offset < bytes.length) {
        // Zeros to the end: the unused part of a preallocated file.
        if (zerosFrom(bytes.subarray(offset, offset + HEADER_BYTES), 0) && zerosFrom(bytes, offset)) break
        const problem = this.replayRecord(segment, bytes, offset)
        if (typeof problem === 'number') {
          offset += problem
          continue
        }
        // A crash can only cut short the last write, at the end of the last file. A bad record
        // anywhere else — or followed by an intact one (a flipped bit, not a torn write) — is
        // damage to what was acknowledged: refuse to go on rather than lose it.
        if (
          i !== names.length - 1 ||
          (followedByIntactRecord(bytes, offset) && !tornBySector(bytes, offset))
        ) {
          throw new WalCorruptError(`${path}: ${problem} at ${offset}`)
        }
        this.eraseTornTail(fd, bytes, offset)
        break
      }
      segment.size = offset
    })
  }

  /**
   * Removes a torn last write from `offset` on by zeroing it (not cutting the file: a
   * preallocated file keeps its blocks). The next write goes at `offset`.
   */
  private eraseTornTail(fd: number, bytes: Buffer, offset: number): void {
    const end = endOfNonZero(bytes)
    for (let at = offset; at < end; at += ZEROS.length) {
      const length = Math.min(ZEROS.length, end - at)
      let written = 0
      while (written < length) written += writeSync(fd, ZEROS, 0, length - written, at + written)
    }
    fdatasyncSync(fd)
  }

  /** Applies the record at `offset`: its length, or why it is not a whole, intact record. */
  private replayRecord(segment: Segment, bytes: Buffer, offset: number): number | string {
    const total = intactRecordAt(bytes, offset)
    if (typeof total === 'string') return total
    const length = total - HEADER_BYTES
    const body = bytes.subarray(offset + HEADER_BYTES, offset + total)
    if (body[0] === KIND_ENTRY) {
      let entry: LogEntry
      try {
        entry = decodeLogEntry(body.subarray(1))
      } catch (err) {
        throw new WalCorruptError(`${segment.path}: entry at ${offset}: ${(err as Error).message}`)
      }
      this.place(entry.index, { segment, offset, length: total })
    } else if (body[0] === KIND_DELETION && length === 17) {
      const view = new DataView(body.buffer, body.byteOffset + 1, 16)
      this.applyDeletion(readUint64(view, 0, 'deletion min'), readUint64(view, 8, 'deletion max'))
    } else {
      throw new WalCorruptError(`${segment.path}: a record of unknown kind ${body[0]} at ${offset}`)
    }
    return total
  }

  private closeFiles(): void {
    if (this.spare) closeSync(this.spare.fd)
    this.spare = null
    for (const s of this.segments) {
      try {
        closeSync(s.fd)
      } catch {
        // Already closed.
      }
    }
  }
}

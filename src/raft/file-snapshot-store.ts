/**
 * `FileSnapshotStore`: snapshots as directories on disk, after hashicorp/raft's file store.
 *
 * Layout of `<dir>` (persisted: never rename a file or a field):
 *
 *   <id>.tmp/             a snapshot being written; removed by cancel() and when the store opens
 *   <id>/state.bin        the data, exactly as written
 *   <id>/meta.json        { version: 1, id, index, term, configuration, configurationIndex, size, sha256 }
 *
 * A snapshot becomes visible by renaming its `.tmp` directory, after its files and that
 * directory are fsynced, and the rename is made durable by fsyncing `<dir>`; so after a crash
 * a snapshot is either complete or a `.tmp` leftover. Reading checks the size up front and the
 * SHA-256 at the end, so a damaged file fails the restore instead of feeding it wrong bytes.
 */

import { createHash, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import {
  type FileHandle,
  mkdir,
  open as openFile,
  readdir,
  readFile,
  rename,
  rm,
  stat,
} from 'node:fs/promises'
import { join } from 'node:path'
import type { Clock } from '../util/clock.js'
import { SystemClock } from '../util/clock.js'
import { type Logger, silentLogger } from '../util/logger.js'
import { type Configuration, cloneConfiguration } from './configuration.js'
import {
  compareSnapshotsNewestFirst,
  type OpenSnapshot,
  type SnapshotMeta,
  SnapshotNotFoundError,
  type SnapshotSink,
  type SnapshotStore,
} from './snapshot.js'

const TMP_SUFFIX = '.tmp'
const STATE_FILE = 'state.bin'
const META_FILE = 'meta.json'
/** meta.json's `version`. Persisted: bump it, never reuse it. */
const META_VERSION = 1
/** How much one chunk of `OpenSnapshot.data` holds at most. */
const READ_CHUNK_BYTES = 256 * 1024
// Ids are `<term>-<index>-<ms>`; the ms part is zero-padded so that, between two ids of the
// same term and index, string order is time order (compareSnapshotsNewestFirst relies on it)
// even for a test clock near 0. Thirteen digits is what Date.now() has until the year 2286.
const ID_MS_DIGITS = 13
const ID_PATTERN = /^\d+-\d+-\d+$/
// Creating ids retries past existing directories; more than this many means something is off.
const MAX_ID_ATTEMPTS = 1000

/** Options of `FileSnapshotStore.open`. */
export interface FileSnapshotStoreOptions {
  /** How many of the newest snapshots to keep (at least 1); default 2. */
  retain?: number
  /** Where snapshot ids get their milliseconds; default the system clock. */
  clock?: Pick<Clock, 'now'>
  /** Where skipped directories and failed clean-ups are reported; default silent. */
  logger?: Logger
}

/** A stored snapshot's bytes do not match its metadata (size or SHA-256), or its metadata is invalid. */
export class SnapshotCorruptError extends Error {
  override name = 'SnapshotCorruptError'
  constructor(
    readonly snapshotId: string,
    detail: string,
  ) {
    super(`snapshot ${snapshotId} is corrupt: ${detail}`)
  }
}

/** What meta.json holds: the public metadata plus the checksum of state.bin. */
interface StoredMeta extends SnapshotMeta {
  sha256: string
}

/**
 * A `SnapshotStore` on the local file system that keeps the `retain` newest snapshots, one
 * directory each, under one directory it owns: opening it removes leftover `.tmp` directories,
 * so two stores must not share a directory.
 *
 * `OpenSnapshot.data` opens state.bin when it is first read and holds it open until it is
 * read to the end or its iteration ends early (`break`): an `OpenSnapshot` that is never read
 * holds nothing, and a snapshot that retention deletes while being read stays readable.
 */
export class FileSnapshotStore implements SnapshotStore {
  private lastIdMs = 0

  private constructor(
    /** The directory the snapshots live in. */
    readonly dir: string,
    private readonly retain: number,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly logger: Logger,
  ) {}

  /** Opens the store in `dir`, creating the directory if needed and removing `.tmp` leftovers. */
  static async open(dir: string, options: FileSnapshotStoreOptions = {}): Promise<FileSnapshotStore> {
    const retain = options.retain ?? 2
    if (!Number.isInteger(retain) || retain < 1) {
      throw new RangeError(`file snapshot store: retain ${retain} is not an integer >= 1`)
    }
    const logger = options.logger ?? silentLogger()
    await mkdir(dir, { recursive: true })
    for (const name of await readdir(dir)) {
      if (!name.endsWith(TMP_SUFFIX)) continue
      // A crash while writing a snapshot leaves these; nothing refers to them.
      logger.info({ dir, name }, 'removing unfinished snapshot')
      await rm(join(dir, name), { recursive: true, force: true })
    }
    return new FileSnapshotStore(dir, retain, options.clock ?? new SystemClock(), logger)
  }

  async create(meta: Omit<SnapshotMeta, 'id' | 'size'>): Promise<SnapshotSink> {
    for (let attempt = 0; attempt < MAX_ID_ATTEMPTS; attempt++) {
      // Strictly increasing within this store, so two snapshots in one millisecond differ.
      const ms = Math.max(this.clock.now(), this.lastIdMs + 1)
      this.lastIdMs = ms
      const id = `${meta.term}-${meta.index}-${String(ms).padStart(ID_MS_DIGITS, '0')}`
      if (await exists(join(this.dir, id))) continue
      const tmpDir = join(this.dir, id + TMP_SUFFIX)
      try {
        await mkdir(tmpDir)
      } catch (err) {
        if (errorCode(err) === 'EEXIST') continue
        throw err
      }
      try {
        const file = await openFile(join(tmpDir, STATE_FILE), 'wx')
        // Copied now: the caller may change its object while the snapshot is written.
        const own = copyMeta({ ...meta, id, size: 0 })
        return new FileSnapshotSink(own, this.dir, tmpDir, file, () => this.reap())
      } catch (err) {
        await rm(tmpDir, { recursive: true, force: true })
        throw err
      }
    }
    throw new Error(
      `file snapshot store: no free snapshot id after ${MAX_ID_ATTEMPTS} attempts in ${this.dir}`,
    )
  }

  /** Snapshots newest first; directories without readable metadata are skipped (and logged). */
  async list(): Promise<SnapshotMeta[]> {
    const out: SnapshotMeta[] = []
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      // Names that are no snapshot id (including `.tmp`) were never published by this store.
      if (!entry.isDirectory() || !ID_PATTERN.test(entry.name)) continue
      try {
        out.push(copyMeta(await this.readMeta(entry.name)))
      } catch (err) {
        // Not a snapshot (a foreign directory, or one half-deleted by retention): not listed.
        this.logger.warn({ dir: this.dir, name: entry.name, err }, 'skipping snapshot directory')
      }
    }
    return out.sort(compareSnapshotsNewestFirst)
  }

  async open(id: string): Promise<OpenSnapshot> {
    // An id that is no snapshot id cannot name one, and must not reach the path.
    if (!ID_PATTERN.test(id)) throw new SnapshotNotFoundError(id)
    const meta = await this.readMeta(id)
    const path = join(this.dir, id, STATE_FILE)
    let size: number
    try {
      size = (await stat(path)).size
    } catch (err) {
      throw errorCode(err) === 'ENOENT' ? new SnapshotNotFoundError(id) : err
    }
    // Caught here, before anyone starts restoring; a changed byte is caught at the end of the read.
    if (size !== meta.size)
      throw new SnapshotCorruptError(id, `${STATE_FILE} has ${size} bytes, not ${meta.size}`)
    return { meta: copyMeta(meta), data: verifiedChunks(id, path, meta) }
  }

  /** Called by a sink once its snapshot is durable: deletes what is beyond `retain`. */
  private async reap(): Promise<void> {
    try {
      for (const old of (await this.list()).slice(this.retain)) {
        // meta.json first: without it the directory is no longer listed, whatever rm leaves.
        await rm(join(this.dir, old.id, META_FILE), { force: true })
        await rm(join(this.dir, old.id), { recursive: true, force: true })
      }
    } catch (err) {
      // The new snapshot is already durable, so its close() succeeds; what was not deleted
      // now is deleted by the next close().
      this.logger.warn({ dir: this.dir, err }, 'failed to delete old snapshots')
    }
  }

  /** Reads and checks `<id>/meta.json`; rejects with `SnapshotNotFoundError` when it is missing. */
  private async readMeta(id: string): Promise<StoredMeta> {
    let text: string
    try {
      text = await readFile(join(this.dir, id, META_FILE), 'utf8')
    } catch (err) {
      throw errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR' ? new SnapshotNotFoundError(id) : err
    }
    return parseMeta(id, text)
  }
}

/** Writes into `<id>.tmp/state.bin`, hashing as it goes; `close()` publishes the directory. */
class FileSnapshotSink implements SnapshotSink {
  readonly id: string
  private readonly hash: Hash = createHash('sha256')
  private size = 0
  // Writes run one after another so the file and the hash see chunks in call order.
  private writes: Promise<void> = Promise.resolve()
  private writeError: unknown
  private fileOpen = true
  private closing: Promise<void> | undefined
  private canceling: Promise<void> | undefined

  constructor(
    private readonly meta: SnapshotMeta,
    private readonly storeDir: string,
    private readonly tmpDir: string,
    private readonly file: FileHandle,
    private readonly onDurable: () => Promise<void>,
  ) {
    this.id = meta.id
  }

  /** Appends `chunk`; the caller must not change it until the promise resolves. */
  write(chunk: Uint8Array): Promise<void> {
    if (this.closing || this.canceling) {
      return Promise.reject(new Error(`snapshot ${this.id}: write after close or cancel`))
    }
    const done = this.writes.then(async () => {
      if (this.writeError !== undefined) throw this.writeError
      try {
        await writeAll(this.file, chunk)
      } catch (err) {
        this.writeError = err
        throw err
      }
      this.hash.update(chunk)
      this.size += chunk.byteLength
    })
    // The chain only orders writes; each caller gets its own error from `done`.
    this.writes = done.catch(() => undefined)
    return done
  }

  close(): Promise<void> {
    if (this.canceling) return Promise.reject(new Error(`snapshot ${this.id}: close after cancel`))
    this.closing ??= this.finish()
    return this.closing
  }

  cancel(): Promise<void> {
    // After close() the snapshot is the store's; a failed close() has already cleaned up.
    if (this.closing) return this.closing.catch(() => undefined)
    this.canceling ??= this.discard()
    return this.canceling
  }

  private async finish(): Promise<void> {
    const finalDir = join(this.storeDir, this.id)
    try {
      await this.writes
      if (this.writeError !== undefined) throw this.writeError
      await this.file.sync()
      await this.closeFile()
      const stored: StoredMeta = { ...this.meta, size: this.size, sha256: this.hash.digest('hex') }
      await writeFileSynced(
        join(this.tmpDir, META_FILE),
        JSON.stringify({ version: META_VERSION, ...stored }),
      )
      await syncDir(this.tmpDir)
      await rename(this.tmpDir, finalDir)
      await syncDir(this.storeDir)
    } catch (err) {
      await this.discard()
      throw err
    }
    await this.onDurable()
  }

  private async discard(): Promise<void> {
    await this.writes
    // Errors here are about a file we are deleting anyway.
    await this.closeFile().catch(() => undefined)
    await rm(this.tmpDir, { recursive: true, force: true })
  }

  private async closeFile(): Promise<void> {
    if (!this.fileOpen) return
    this.fileOpen = false
    await this.file.close()
  }
}

/**
 * Streams state.bin in chunks and, at the end, checks its size and SHA-256 against the
 * metadata. The check can only come after the last chunk, so whoever restores from this must
 * treat an error thrown by the iteration as a failed restore and discard what it built.
 */
async function* verifiedChunks(id: string, path: string, meta: StoredMeta): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256')
  let size = 0
  // Created on the first next(): a generator's body does not run before it.
  const stream = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES })
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk)
      size += chunk.byteLength
      yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    }
  } catch (err) {
    // Deleted by retention between open() and the first read.
    throw errorCode(err) === 'ENOENT' ? new SnapshotNotFoundError(id) : err
  } finally {
    // Waits for the file to be closed, so that a `break` out of the read releases it for sure.
    if (!stream.closed) {
      const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()))
      stream.destroy()
      await closed
    }
  }
  if (size !== meta.size)
    throw new SnapshotCorruptError(id, `read ${size} bytes, meta.json says ${meta.size}`)
  const digest = hash.digest('hex')
  if (digest !== meta.sha256)
    throw new SnapshotCorruptError(id, `sha256 ${digest}, meta.json says ${meta.sha256}`)
}

async function writeAll(file: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await file.write(chunk, offset, chunk.byteLength - offset)
    offset += bytesWritten
  }
}

async function writeFileSynced(path: string, text: string): Promise<void> {
  const file = await openFile(path, 'wx')
  try {
    await file.writeFile(text)
    await file.sync()
  } finally {
    await file.close()
  }
}

/** Makes the entries of directory `path` (creations, renames) durable. */
async function syncDir(path: string): Promise<void> {
  // Windows cannot open a directory for fsync; NTFS journals its metadata instead.
  if (process.platform === 'win32') return
  const dir = await openFile(path, 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false
    throw err
  }
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined
  return typeof err.code === 'string' ? err.code : undefined
}

/** A deep copy of the public fields (so meta.json's `sha256` does not leak out). */
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

/** Checks meta.json field by field; anything unexpected is a `SnapshotCorruptError`. */
function parseMeta(id: string, text: string): StoredMeta {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new SnapshotCorruptError(id, `${META_FILE} is not JSON: ${(err as Error).message}`)
  }
  const bad = (field: string): SnapshotCorruptError =>
    new SnapshotCorruptError(id, `${META_FILE}: bad ${field}`)
  if (!isRecord(raw)) throw bad('document')
  if (raw.version !== META_VERSION) throw bad('version')
  if (raw.id !== id) throw bad('id')
  const index = uint(raw.index)
  const term = uint(raw.term)
  const configurationIndex = uint(raw.configurationIndex)
  const size = uint(raw.size)
  if (index === undefined) throw bad('index')
  if (term === undefined) throw bad('term')
  if (configurationIndex === undefined) throw bad('configurationIndex')
  if (size === undefined) throw bad('size')
  if (typeof raw.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(raw.sha256)) throw bad('sha256')
  const configuration = parseConfiguration(raw.configuration)
  if (!configuration) throw bad('configuration')
  return { id, index, term, configuration, configurationIndex, size, sha256: raw.sha256 }
}

function parseConfiguration(raw: unknown): Configuration | undefined {
  if (!isRecord(raw) || !Array.isArray(raw.servers)) return undefined
  const servers: Configuration['servers'] = []
  for (const s of raw.servers as unknown[]) {
    if (!isRecord(s) || typeof s.id !== 'string' || typeof s.address !== 'string') return undefined
    if (s.suffrage !== 'voter' && s.suffrage !== 'nonvoter') return undefined
    servers.push({ id: s.id, address: s.address, suffrage: s.suffrage })
  }
  return { servers }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function uint(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined
}

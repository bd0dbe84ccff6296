/**
 * The binary form of a `LogEntry`, shared by the on-disk log (`LevelStore`) and, later, the
 * libp2p transport.
 *
 * Layout (big-endian; persisted and sent on the wire: never reorder, never renumber):
 *
 *   offset  size  field
 *        0     1  format version (1)
 *        1     8  index (uint64)
 *        9     8  term (uint64)
 *       17     1  type (`LogType`)
 *       18     1  flags; bit 0: appendedAtMs follows
 *       19     8  appendedAtMs (uint64), only when flag bit 0 is set
 *   19 or 27   …  data, to the end
 *
 * The data runs to the end instead of carrying a length so an entry costs no framing; whoever
 * packs several entries together frames each one. JavaScript numbers hold integers up to
 * 2^53 exactly, which is what the uint64 fields accept.
 */

import type { LogEntry, LogType } from './log.js'

/** The format version written in byte 0. Persisted: bump it, never reuse it. */
export const LOG_CODEC_VERSION = 1

const FLAG_APPENDED_AT = 0x01
const HEADER_BYTES = 19
const UINT64_BYTES = 8
const TWO_POW_32 = 2 ** 32

/** Bytes that are not an encoded `LogEntry` (truncated, unknown version, out-of-range number). */
export class LogEntryDecodeError extends Error {
  override name = 'LogEntryDecodeError'
}

/** Encodes `entry` into a fresh buffer; throws a `RangeError` for a field that is not a uint53. */
export function encodeLogEntry(entry: LogEntry): Uint8Array {
  const out = new Uint8Array(encodedLogEntryLength(entry))
  encodeLogEntryInto(entry, out, 0)
  return out
}

/** How many bytes `encodeLogEntry` makes of `entry`. */
export function encodedLogEntryLength(entry: LogEntry): number {
  return HEADER_BYTES + (entry.appendedAtMs !== undefined ? UINT64_BYTES : 0) + entry.data.byteLength
}

/**
 * Encodes `entry` into `out` at `offset` (room for `encodedLogEntryLength(entry)` bytes): a
 * writer that packs many entries into one buffer copies each one once. Throws a `RangeError`
 * for a field that is not a uint53.
 */
export function encodeLogEntryInto(entry: LogEntry, out: Uint8Array, offset: number): void {
  const hasAppendedAt = entry.appendedAtMs !== undefined
  const headerBytes = HEADER_BYTES + (hasAppendedAt ? UINT64_BYTES : 0)
  const view = new DataView(out.buffer, out.byteOffset + offset, headerBytes)
  view.setUint8(0, LOG_CODEC_VERSION)
  writeUint64(view, 1, entry.index, 'index')
  writeUint64(view, 9, entry.term, 'term')
  if (!Number.isInteger(entry.type) || entry.type < 0 || entry.type > 0xff) {
    throw new RangeError(`log entry type: ${entry.type} is not a byte`)
  }
  view.setUint8(17, entry.type)
  view.setUint8(18, hasAppendedAt ? FLAG_APPENDED_AT : 0)
  if (hasAppendedAt) writeUint64(view, HEADER_BYTES, entry.appendedAtMs!, 'appendedAtMs')
  out.set(entry.data, offset + headerBytes)
}

/**
 * Decodes bytes made by `encodeLogEntry`. The returned `data` is a copy, so `bytes` may be
 * reused. A type byte outside today's `LogType` is passed through: Raft decides what an entry
 * it does not know means, not the codec.
 */
export function decodeLogEntry(bytes: Uint8Array): LogEntry {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new LogEntryDecodeError(`log entry: ${bytes.byteLength} bytes is shorter than the header`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint8(0)
  if (version !== LOG_CODEC_VERSION)
    throw new LogEntryDecodeError(`log entry: unknown format version ${version}`)
  const flags = view.getUint8(18)
  if ((flags & ~FLAG_APPENDED_AT) !== 0) throw new LogEntryDecodeError(`log entry: unknown flags ${flags}`)
  const entry: LogEntry = {
    index: decodeUint64(view, 1, 'index'),
    term: decodeUint64(view, 9, 'term'),
    type: view.getUint8(17) as LogType,
    data: new Uint8Array(0),
  }
  let offset = HEADER_BYTES
  if (flags & FLAG_APPENDED_AT) {
    if (bytes.byteLength < HEADER_BYTES + UINT64_BYTES) {
      throw new LogEntryDecodeError('log entry: truncated appendedAtMs')
    }
    entry.appendedAtMs = decodeUint64(view, HEADER_BYTES, 'appendedAtMs')
    offset += UINT64_BYTES
  }
  // new Uint8Array(view) copies; a Buffer's slice() would not.
  entry.data = new Uint8Array(bytes.subarray(offset))
  return entry
}

/** Writes a non-negative safe integer as a big-endian uint64 at `offset`. */
export function writeUint64(view: DataView, offset: number, value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${field}: ${value} is not an integer in 0..2^53-1`)
  }
  view.setUint32(offset, Math.floor(value / TWO_POW_32))
  view.setUint32(offset + 4, value >>> 0)
}

/** Reads a big-endian uint64 at `offset`; throws a `RangeError` above 2^53-1, which a number cannot hold. */
export function readUint64(view: DataView, offset: number, field: string): number {
  const value = uint64At(view, offset)
  if (!Number.isSafeInteger(value)) throw new RangeError(`${field}: ${value} is above 2^53-1`)
  return value
}

function decodeUint64(view: DataView, offset: number, field: string): number {
  const value = uint64At(view, offset)
  if (!Number.isSafeInteger(value))
    throw new LogEntryDecodeError(`log entry ${field}: ${value} is above 2^53-1`)
  return value
}

function uint64At(view: DataView, offset: number): number {
  return view.getUint32(offset) * TWO_POW_32 + view.getUint32(offset + 4)
}

/**
 * The wire format of Raft RPCs between peers (protocol `/shoal/raft/1.0.0`): length-prefixed
 * binary frames, each carrying one request or response and the request id that pairs them.
 *
 * Binary rather than JSON because AppendEntries dominates the traffic and JSON has to
 * base64 every entry's data. bench/p2p-codec (`make bench B=p2p-codec`) measured, for 64 and
 * 512 entries of 100 bytes, JSON+base64 at about 1.6–1.9 µs per entry (encode + decode) and
 * this codec at 0.2–0.3 µs, in 63% of the bytes. Building each entry with `encodeLogEntry` and
 * reading it with `decodeLogEntry` (a buffer per entry) cost 1.2–1.9 µs, barely better than
 * JSON, so entries are written and read in place in the same layout. The rarely sent
 * `configuration` of an InstallSnapshot stays JSON (the log's own configuration encoding).
 *
 * Layout (big-endian; sent on the wire: never reorder, never renumber):
 *
 *   frame   = u32 body length | body              (the length excludes its own 4 bytes)
 *   body    = u8 message type | u32 request id | message fields
 *   str     = u16 byte length | UTF-8 bytes
 *   bytes   = u32 byte length | bytes
 *   u64     = uint64, holding integers up to 2^53-1 (what a JavaScript number holds exactly)
 *   from    = str id | str address                (a request's sender)
 *
 *   AppendEntriesRequest    from | u64 term | u64 prevLogIndex | u64 prevLogTerm | u64 leaderCommit
 *                           | u32 count | count × bytes (each in the `encodeLogEntry` layout)
 *   AppendEntriesResponse   u64 term | u64 lastLogIndex | u8 flags | [u64 conflictTerm] | [u64 conflictIndex]
 *                           flags: 1 success, 2 conflictTerm follows, 4 conflictIndex follows,
 *                           8 noRetryBackoff present, 16 its value
 *   RequestVoteRequest      from | u64 term | u64 lastLogIndex | u64 lastLogTerm | u8 flags
 *                           flags: 1 preVote, 2 leadershipTransfer
 *   RequestVoteResponse     u64 term | u8 flags (1 granted)
 *   InstallSnapshotRequest  from | u64 term | str snapshotId | u64 lastIndex | u64 lastTerm
 *                           | u64 configurationIndex | u64 size | u64 offset | u8 flags (1 done)
 *                           | bytes configuration (JSON, `encodeConfiguration`) | bytes data
 *   InstallSnapshotResponse u64 term | u64 nextOffset | u8 flags (1 success)
 *   TimeoutNowRequest       from | u64 term
 *   TimeoutNowResponse      u64 term
 *   Error                   str message (the handler's rejection, cut to `MAX_ERROR_CHARS`)
 *
 * Compatibility: a later version may append fields to a message or set new flag bits; this
 * decoder ignores both, so old peers keep working. Anything else needs a new protocol id.
 */

import { type Configuration, decodeConfiguration, encodeConfiguration } from '../raft/configuration.js'
import type { LogEntry, LogType } from '../raft/log.js'
import { readUint64, writeUint64 } from '../raft/log-codec.js'
import type {
  AppendEntriesRequest,
  AppendEntriesResponse,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  Peer,
  RequestVoteRequest,
  RequestVoteResponse,
  TimeoutNowRequest,
  TimeoutNowResponse,
} from '../raft/transport.js'

/** The message type byte that opens every frame body. On the wire: never renumber, never reuse. */
export enum MessageType {
  AppendEntriesRequest = 1,
  AppendEntriesResponse = 2,
  RequestVoteRequest = 3,
  RequestVoteResponse = 4,
  InstallSnapshotRequest = 5,
  InstallSnapshotResponse = 6,
  TimeoutNowRequest = 7,
  TimeoutNowResponse = 8,
  /** The handler rejected the request; the body is its message. */
  Error = 9,
}

/** The body of an `Error` frame: why the remote handler rejected the request. */
export interface ErrorBody {
  message: string
}

/** One decoded frame: its type, the request id that pairs a response with its request, and the message. */
export type Frame =
  | { type: MessageType.AppendEntriesRequest; requestId: number; body: AppendEntriesRequest }
  | { type: MessageType.AppendEntriesResponse; requestId: number; body: AppendEntriesResponse }
  | { type: MessageType.RequestVoteRequest; requestId: number; body: RequestVoteRequest }
  | { type: MessageType.RequestVoteResponse; requestId: number; body: RequestVoteResponse }
  | { type: MessageType.InstallSnapshotRequest; requestId: number; body: InstallSnapshotRequest }
  | { type: MessageType.InstallSnapshotResponse; requestId: number; body: InstallSnapshotResponse }
  | { type: MessageType.TimeoutNowRequest; requestId: number; body: TimeoutNowRequest }
  | { type: MessageType.TimeoutNowResponse; requestId: number; body: TimeoutNowResponse }
  | { type: MessageType.Error; requestId: number; body: ErrorBody }

/** A frame that carries a request. */
export type RequestFrame = Extract<
  Frame,
  {
    type:
      | MessageType.AppendEntriesRequest
      | MessageType.RequestVoteRequest
      | MessageType.InstallSnapshotRequest
      | MessageType.TimeoutNowRequest
  }
>

/** A frame that answers a request: a response, or the error the handler rejected with. */
export type ResponseFrame = Exclude<Frame, RequestFrame>

/**
 * The default bound on a frame's body, 64 MiB: far above what Raft sends (512 entries per
 * AppendEntries, 256 KiB snapshot chunks) and low enough that a corrupt or hostile length
 * cannot make a peer buffer gigabytes.
 */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024

/** Bytes of the length prefix in front of every frame body. */
export const FRAME_PREFIX_BYTES = 4

/** Bytes of the type and request id that open every frame body. */
const BODY_HEADER_BYTES = 5

/** Characters of a handler's error message that are sent; the rest is cut off. */
export const MAX_ERROR_CHARS = 1000

const MAX_STR_BYTES = 0xffff

/**
 * The log entry layout of src/raft/log-codec.ts, format version 1, which AppendEntries
 * carries. Written and read here in place rather than through `encodeLogEntry` and
 * `decodeLogEntry` for speed; the codec tests check that the bytes stay identical to theirs.
 * On the wire: a change of layout needs a new protocol id, not just a new log format.
 */
const ENTRY_FORMAT_VERSION = 1
const ENTRY_HEADER_BYTES = 19
const ENTRY_FLAG_APPENDED_AT = 0x01
const UINT32_LIMIT = 2 ** 32

/** Bytes that are not a valid frame body. `requestId` is set when the header was readable. */
export class RaftCodecError extends Error {
  override name = 'RaftCodecError'
  constructor(
    message: string,
    readonly requestId?: number,
  ) {
    super(message)
  }
}

/** A frame whose length exceeds the bound: the stream it came on can no longer be trusted. */
export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError'
  constructor(
    readonly frameBytes: number,
    readonly maxFrameBytes: number,
  ) {
    super(`raft frame of ${frameBytes} bytes exceeds the limit of ${maxFrameBytes} bytes`)
  }
}

/** Whether a frame type is a request (and so wants an answer). */
export function isRequestFrame(frame: Frame): frame is RequestFrame {
  return (
    frame.type === MessageType.AppendEntriesRequest ||
    frame.type === MessageType.RequestVoteRequest ||
    frame.type === MessageType.InstallSnapshotRequest ||
    frame.type === MessageType.TimeoutNowRequest
  )
}

// ---------------------------------------------------------------- encoding

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })

/** A growable output buffer; encoders give a size hint so most frames never grow. */
class Writer {
  private buf: Uint8Array
  private view: DataView
  offset = 0

  constructor(sizeHint: number) {
    this.buf = new Uint8Array(Math.max(64, sizeHint))
    this.view = new DataView(this.buf.buffer)
  }

  private ensure(n: number): void {
    if (this.offset + n <= this.buf.byteLength) return
    const next = new Uint8Array(Math.max(this.buf.byteLength * 2, this.offset + n))
    next.set(this.buf.subarray(0, this.offset))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  u8(value: number): void {
    this.ensure(1)
    this.view.setUint8(this.offset, value)
    this.offset += 1
  }

  u32(value: number, field: string): void {
    if (!Number.isInteger(value) || value < 0 || value >= UINT32_LIMIT) {
      throw new RangeError(`${field}: ${value} is not an integer in 0..2^32-1`)
    }
    this.ensure(4)
    this.view.setUint32(this.offset, value)
    this.offset += 4
  }

  u64(value: number, field: string): void {
    this.ensure(8)
    writeUint64(this.view, this.offset, value, field)
    this.offset += 8
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.byteLength)
    this.buf.set(bytes, this.offset)
    this.offset += bytes.byteLength
  }

  /**
   * Writes `entry` in the `encodeLogEntry` layout (format version 1), after its u32 length,
   * straight into the frame: a buffer per entry made encoding slower than JSON (bench/p2p-codec).
   */
  entry(entry: LogEntry): void {
    const hasAppendedAt = entry.appendedAtMs !== undefined
    const headerBytes = ENTRY_HEADER_BYTES + (hasAppendedAt ? 8 : 0)
    const entryBytes = headerBytes + entry.data.byteLength
    this.u32(entryBytes, 'entry length')
    this.ensure(entryBytes)
    const o = this.offset
    const view = this.view
    view.setUint8(o, ENTRY_FORMAT_VERSION)
    writeUint64(view, o + 1, entry.index, 'entry.index')
    writeUint64(view, o + 9, entry.term, 'entry.term')
    if (!Number.isInteger(entry.type) || entry.type < 0 || entry.type > 0xff) {
      throw new RangeError(`entry.type: ${entry.type} is not a byte`)
    }
    view.setUint8(o + 17, entry.type)
    view.setUint8(o + 18, hasAppendedAt ? ENTRY_FLAG_APPENDED_AT : 0)
    if (hasAppendedAt) writeUint64(view, o + ENTRY_HEADER_BYTES, entry.appendedAtMs!, 'entry.appendedAtMs')
    this.buf.set(entry.data, o + headerBytes)
    this.offset = o + entryBytes
  }

  bytes(bytes: Uint8Array, field: string): void {
    this.u32(bytes.byteLength, field)
    this.raw(bytes)
  }

  str(value: string, field: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit: encode in place, then fill in the length.
    this.ensure(2 + 3 * value.length)
    const { written } = textEncoder.encodeInto(value, this.buf.subarray(this.offset + 2))
    if (written > MAX_STR_BYTES) {
      throw new RangeError(`${field}: ${written} bytes is over the ${MAX_STR_BYTES}-byte limit`)
    }
    this.view.setUint16(this.offset, written)
    this.offset += 2 + written
  }

  /** Writes the length prefix over the first 4 bytes and returns the frame. */
  finish(maxFrameBytes: number): Uint8Array {
    const bodyBytes = this.offset - FRAME_PREFIX_BYTES
    if (bodyBytes > maxFrameBytes) throw new FrameTooLargeError(bodyBytes, maxFrameBytes)
    this.view.setUint32(0, bodyBytes)
    return this.buf.subarray(0, this.offset)
  }
}

function writeFrom(w: Writer, from: Peer): void {
  w.str(from.id, 'from.id')
  w.str(from.address, 'from.address')
}

/** Bytes of a `LogEntry` on the wire with its length prefix, at most. */
function entrySizeHint(entry: LogEntry): number {
  return 4 + ENTRY_HEADER_BYTES + 8 + entry.data.byteLength
}

/**
 * Encodes `frame` with its length prefix, ready to send. Throws `FrameTooLargeError` when the
 * body would exceed `maxFrameBytes`, and a `RangeError` for a field out of its range.
 */
export function encodeFrame(frame: Frame, maxFrameBytes = MAX_FRAME_BYTES): Uint8Array {
  let hint = 128
  if (frame.type === MessageType.AppendEntriesRequest) {
    for (const e of frame.body.entries) hint += entrySizeHint(e)
  } else if (frame.type === MessageType.InstallSnapshotRequest) {
    hint += frame.body.data.byteLength + 64 * frame.body.configuration.servers.length
  }
  const w = new Writer(hint)
  w.offset = FRAME_PREFIX_BYTES
  w.u8(frame.type)
  w.u32(frame.requestId, 'requestId')
  switch (frame.type) {
    case MessageType.AppendEntriesRequest: {
      const m = frame.body
      writeFrom(w, m.from)
      w.u64(m.term, 'term')
      w.u64(m.prevLogIndex, 'prevLogIndex')
      w.u64(m.prevLogTerm, 'prevLogTerm')
      w.u64(m.leaderCommit, 'leaderCommit')
      w.u32(m.entries.length, 'entries.length')
      for (const entry of m.entries) w.entry(entry)
      break
    }
    case MessageType.AppendEntriesResponse: {
      const m = frame.body
      w.u64(m.term, 'term')
      w.u64(m.lastLogIndex, 'lastLogIndex')
      let flags = m.success ? 1 : 0
      if (m.conflictTerm !== undefined) flags |= 2
      if (m.conflictIndex !== undefined) flags |= 4
      if (m.noRetryBackoff !== undefined) flags |= m.noRetryBackoff ? 8 | 16 : 8
      w.u8(flags)
      if (m.conflictTerm !== undefined) w.u64(m.conflictTerm, 'conflictTerm')
      if (m.conflictIndex !== undefined) w.u64(m.conflictIndex, 'conflictIndex')
      break
    }
    case MessageType.RequestVoteRequest: {
      const m = frame.body
      writeFrom(w, m.from)
      w.u64(m.term, 'term')
      w.u64(m.lastLogIndex, 'lastLogIndex')
      w.u64(m.lastLogTerm, 'lastLogTerm')
      w.u8((m.preVote ? 1 : 0) | (m.leadershipTransfer ? 2 : 0))
      break
    }
    case MessageType.RequestVoteResponse:
      w.u64(frame.body.term, 'term')
      w.u8(frame.body.granted ? 1 : 0)
      break
    case MessageType.InstallSnapshotRequest: {
      const m = frame.body
      writeFrom(w, m.from)
      w.u64(m.term, 'term')
      w.str(m.snapshotId, 'snapshotId')
      w.u64(m.lastIndex, 'lastIndex')
      w.u64(m.lastTerm, 'lastTerm')
      w.u64(m.configurationIndex, 'configurationIndex')
      w.u64(m.size, 'size')
      w.u64(m.offset, 'offset')
      w.u8(m.done ? 1 : 0)
      w.bytes(encodeConfiguration(m.configuration), 'configuration')
      w.bytes(m.data, 'data')
      break
    }
    case MessageType.InstallSnapshotResponse:
      w.u64(frame.body.term, 'term')
      w.u64(frame.body.nextOffset, 'nextOffset')
      w.u8(frame.body.success ? 1 : 0)
      break
    case MessageType.TimeoutNowRequest:
      writeFrom(w, frame.body.from)
      w.u64(frame.body.term, 'term')
      break
    case MessageType.TimeoutNowResponse:
      w.u64(frame.body.term, 'term')
      break
    case MessageType.Error:
      w.str(frame.body.message.slice(0, MAX_ERROR_CHARS), 'message')
      break
    default:
      throw new RangeError(`raft frame: unknown message type ${(frame as { type: number }).type}`)
  }
  return w.finish(maxFrameBytes)
}

// ---------------------------------------------------------------- decoding

/** Reads fields off a frame body, failing with a `RaftCodecError` on a truncated body. */
class Reader {
  private readonly view: DataView
  offset = 0

  constructor(
    private readonly buf: Uint8Array,
    readonly requestId?: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  private need(n: number, field: string): void {
    if (this.offset + n > this.buf.byteLength) {
      throw new RaftCodecError(`raft frame: truncated at ${field}`, this.requestId)
    }
  }

  u8(field: string): number {
    this.need(1, field)
    return this.view.getUint8(this.offset++)
  }

  u32(field: string): number {
    this.need(4, field)
    const value = this.view.getUint32(this.offset)
    this.offset += 4
    return value
  }

  u64(field: string): number {
    this.need(8, field)
    let value: number
    try {
      value = readUint64(this.view, this.offset, field)
    } catch (err) {
      throw new RaftCodecError(`raft frame: ${(err as Error).message}`, this.requestId)
    }
    this.offset += 8
    return value
  }

  /** A view into the body, not a copy. */
  bytesView(field: string): Uint8Array {
    const n = this.u32(field)
    this.need(n, field)
    const out = this.buf.subarray(this.offset, this.offset + n)
    this.offset += n
    return out
  }

  str(field: string): string {
    this.need(2, field)
    const n = this.view.getUint16(this.offset)
    this.offset += 2
    this.need(n, field)
    try {
      return textDecoder.decode(this.buf.subarray(this.offset, this.offset + n))
    } catch {
      throw new RaftCodecError(`raft frame: ${field} is not valid UTF-8`, this.requestId)
    } finally {
      this.offset += n
    }
  }

  from(): Peer {
    const id = this.str('from.id')
    const address = this.str('from.address')
    return { id, address }
  }
}

/**
 * Decodes one frame body (without its length prefix). Byte arrays in the result are copies,
 * so `body` may be reused. Throws a `RaftCodecError` (with `requestId` when the header was
 * readable) for an unknown type or malformed fields.
 */
export function decodeFrame(body: Uint8Array): Frame {
  if (body.byteLength < BODY_HEADER_BYTES) {
    throw new RaftCodecError(`raft frame: ${body.byteLength} bytes is shorter than the header`)
  }
  const header = new DataView(body.buffer, body.byteOffset, BODY_HEADER_BYTES)
  const type = header.getUint8(0)
  const requestId = header.getUint32(1)
  const r = new Reader(body, requestId)
  r.offset = BODY_HEADER_BYTES
  switch (type) {
    case MessageType.AppendEntriesRequest: {
      const from = r.from()
      const term = r.u64('term')
      const prevLogIndex = r.u64('prevLogIndex')
      const prevLogTerm = r.u64('prevLogTerm')
      const leaderCommit = r.u64('leaderCommit')
      const count = r.u32('entries.length')
      // Each entry takes at least its 4-byte length: a count the body cannot hold is corrupt,
      // and must not size an allocation.
      if (count * 4 > body.byteLength - r.offset) {
        throw new RaftCodecError(`raft frame: ${count} entries cannot fit in the frame`, requestId)
      }
      const entries = readEntries(body.subarray(r.offset), count, requestId)
      return {
        type,
        requestId,
        body: { from, term, prevLogIndex, prevLogTerm, entries, leaderCommit },
      }
    }
    case MessageType.AppendEntriesResponse: {
      const term = r.u64('term')
      const lastLogIndex = r.u64('lastLogIndex')
      const flags = r.u8('flags')
      const m: AppendEntriesResponse = { term, success: (flags & 1) !== 0, lastLogIndex }
      if (flags & 2) m.conflictTerm = r.u64('conflictTerm')
      if (flags & 4) m.conflictIndex = r.u64('conflictIndex')
      if (flags & 8) m.noRetryBackoff = (flags & 16) !== 0
      return { type, requestId, body: m }
    }
    case MessageType.RequestVoteRequest: {
      const from = r.from()
      const term = r.u64('term')
      const lastLogIndex = r.u64('lastLogIndex')
      const lastLogTerm = r.u64('lastLogTerm')
      const flags = r.u8('flags')
      return {
        type,
        requestId,
        body: {
          from,
          term,
          lastLogIndex,
          lastLogTerm,
          preVote: (flags & 1) !== 0,
          leadershipTransfer: (flags & 2) !== 0,
        },
      }
    }
    case MessageType.RequestVoteResponse: {
      const term = r.u64('term')
      const flags = r.u8('flags')
      return { type, requestId, body: { term, granted: (flags & 1) !== 0 } }
    }
    case MessageType.InstallSnapshotRequest: {
      const from = r.from()
      const term = r.u64('term')
      const snapshotId = r.str('snapshotId')
      const lastIndex = r.u64('lastIndex')
      const lastTerm = r.u64('lastTerm')
      const configurationIndex = r.u64('configurationIndex')
      const size = r.u64('size')
      const offset = r.u64('offset')
      const flags = r.u8('flags')
      const configuration = readConfiguration(r.bytesView('configuration'), requestId)
      // A copy: the handler may keep the chunk, and must not pin the whole received buffer.
      const data = new Uint8Array(r.bytesView('data'))
      return {
        type,
        requestId,
        body: {
          from,
          term,
          snapshotId,
          lastIndex,
          lastTerm,
          configuration,
          configurationIndex,
          size,
          offset,
          data,
          done: (flags & 1) !== 0,
        },
      }
    }
    case MessageType.InstallSnapshotResponse: {
      const term = r.u64('term')
      const nextOffset = r.u64('nextOffset')
      const flags = r.u8('flags')
      return { type, requestId, body: { term, success: (flags & 1) !== 0, nextOffset } }
    }
    case MessageType.TimeoutNowRequest: {
      const from = r.from()
      const term = r.u64('term')
      return { type, requestId, body: { from, term } }
    }
    case MessageType.TimeoutNowResponse:
      return { type, requestId, body: { term: r.u64('term') } }
    case MessageType.Error:
      return { type, requestId, body: { message: r.str('message') } }
    default:
      throw new RaftCodecError(`raft frame: unknown message type ${type}`, requestId)
  }
}

/**
 * Decodes `count` entries, each a u32 length and the `encodeLogEntry` layout, from the start
 * of `bytes`. The entries' data are views into one copy of `bytes` made here: one buffer per
 * frame instead of one per entry (bench/p2p-codec), and none shared with the caller's input.
 */
function readEntries(bytes: Uint8Array, count: number, requestId: number): LogEntry[] {
  if (count === 0) return []
  // Not bytes.slice(): on a Node Buffer (what sockets deliver) that is a view, not a copy.
  const copy = new Uint8Array(bytes)
  const buffer = copy.buffer
  const view = new DataView(buffer)
  const fail = (i: number, what: string): never => {
    throw new RaftCodecError(`raft frame: entry ${i}: ${what}`, requestId)
  }
  const u64 = (i: number, offset: number, field: string): number => {
    try {
      return readUint64(view, offset, field)
    } catch (err) {
      return fail(i, (err as Error).message)
    }
  }
  const entries: LogEntry[] = new Array(count)
  let o = 0
  for (let i = 0; i < count; i++) {
    if (o + 4 > copy.byteLength) fail(i, 'truncated length')
    const entryBytes = view.getUint32(o)
    o += 4
    const end = o + entryBytes
    if (end > copy.byteLength) fail(i, `truncated (${entryBytes} bytes announced)`)
    if (entryBytes < ENTRY_HEADER_BYTES) fail(i, `${entryBytes} bytes is shorter than the header`)
    const version = view.getUint8(o)
    if (version !== ENTRY_FORMAT_VERSION) fail(i, `unknown format version ${version}`)
    const flags = view.getUint8(o + 18)
    if ((flags & ~ENTRY_FLAG_APPENDED_AT) !== 0) fail(i, `unknown flags ${flags}`)
    let dataStart = o + ENTRY_HEADER_BYTES
    let appendedAtMs: number | undefined
    if (flags & ENTRY_FLAG_APPENDED_AT) {
      if (entryBytes < ENTRY_HEADER_BYTES + 8) fail(i, 'truncated appendedAtMs')
      appendedAtMs = u64(i, dataStart, 'appendedAtMs')
      dataStart += 8
    }
    // Same key order with and without appendedAtMs keeps the objects one shape.
    const entry: LogEntry = {
      index: u64(i, o + 1, 'index'),
      term: u64(i, o + 9, 'term'),
      // A type byte outside today's LogType is passed through, as decodeLogEntry does.
      type: view.getUint8(o + 17) as LogType,
      data: new Uint8Array(buffer, dataStart, end - dataStart),
    }
    if (appendedAtMs !== undefined) entry.appendedAtMs = appendedAtMs
    entries[i] = entry
    o = end
  }
  return entries
}

function readConfiguration(bytes: Uint8Array, requestId: number): Configuration {
  try {
    const c = decodeConfiguration(bytes)
    for (const s of c.servers) {
      if (typeof s.id !== 'string' || typeof s.address !== 'string' || typeof s.suffrage !== 'string') {
        throw new Error('a server lacks id, address or suffrage')
      }
    }
    return c
  } catch (err) {
    throw new RaftCodecError(`raft frame: bad configuration: ${(err as Error).message}`, requestId)
  }
}

/**
 * Cuts a byte stream into frames, however it arrives: a chunk may hold part of a frame or
 * several. Holds at most one partial frame plus the chunks pushed and not yet read.
 *
 *   const decoder = new FrameDecoder()
 *   decoder.push(chunk)
 *   for (let f = decoder.next(); f; f = decoder.next()) handle(f)
 */
export class FrameDecoder {
  private readonly chunks: Uint8Array[] = []
  private bufferedBytes = 0
  /** The body length of the frame being read; -1 until its prefix has arrived. */
  private bodyBytes = -1

  /** `maxFrameBytes` bounds a frame body; a longer length prefix throws `FrameTooLargeError`. */
  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  /** Bytes received and not yet returned as frames. */
  get buffered(): number {
    return this.bufferedBytes + (this.bodyBytes >= 0 ? FRAME_PREFIX_BYTES : 0)
  }

  /** Adds received bytes. The decoder keeps views into them, so the caller must not reuse them. */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    this.chunks.push(chunk)
    this.bufferedBytes += chunk.byteLength
  }

  /**
   * The next complete frame body (a view, valid until the next `push`), or undefined while
   * it has not fully arrived. Throws `FrameTooLargeError` for a length over the bound, after
   * which the stream is unusable.
   */
  nextBody(): Uint8Array | undefined {
    if (this.bodyBytes < 0) {
      if (this.bufferedBytes < FRAME_PREFIX_BYTES) return undefined
      const prefix = this.take(FRAME_PREFIX_BYTES)
      const length = new DataView(prefix.buffer, prefix.byteOffset, FRAME_PREFIX_BYTES).getUint32(0)
      if (length > this.maxFrameBytes) throw new FrameTooLargeError(length, this.maxFrameBytes)
      this.bodyBytes = length
    }
    if (this.bufferedBytes < this.bodyBytes) return undefined
    const body = this.take(this.bodyBytes)
    this.bodyBytes = -1
    return body
  }

  /**
   * The next complete frame, or undefined while it has not fully arrived. A malformed body
   * throws `RaftCodecError` and is consumed, so reading can go on with the next frame.
   */
  next(): Frame | undefined {
    const body = this.nextBody()
    return body === undefined ? undefined : decodeFrame(body)
  }

  /** Removes the first `n` buffered bytes: a view when one chunk holds them, else a copy. */
  private take(n: number): Uint8Array {
    this.bufferedBytes -= n
    const first = this.chunks[0]!
    if (first.byteLength >= n) {
      if (first.byteLength === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
      return first.subarray(0, n)
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const chunk = this.chunks[0]!
      const part = Math.min(chunk.byteLength, n - filled)
      out.set(chunk.subarray(0, part), filled)
      filled += part
      if (part === chunk.byteLength) this.chunks.shift()
      else this.chunks[0] = chunk.subarray(part)
    }
    return out
  }
}

/**
 * Decodes every complete frame in `chunks` (in order) and returns them with the number of
 * bytes left over from an incomplete last frame. For tests and tools; streams use `FrameDecoder`.
 */
export function decodeFrames(
  chunks: Iterable<Uint8Array>,
  maxFrameBytes = MAX_FRAME_BYTES,
): { frames: Frame[]; leftoverBytes: number } {
  const decoder = new FrameDecoder(maxFrameBytes)
  const frames: Frame[] = []
  for (const chunk of chunks) {
    decoder.push(chunk)
    for (let f = decoder.next(); f; f = decoder.next()) frames.push(f)
  }
  return { frames, leftoverBytes: decoder.buffered }
}

import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  decodeFrame,
  decodeFrames,
  encodeFrame,
  FRAME_PREFIX_BYTES,
  type Frame,
  FrameDecoder,
  FrameTooLargeError,
  MAX_ERROR_CHARS,
  MessageType,
  RaftCodecError,
} from '../../src/p2p/raft-codec.js'
import type { Configuration } from '../../src/raft/configuration.js'
import { type LogEntry, LogType } from '../../src/raft/log.js'
import { decodeLogEntry, encodeLogEntry } from '../../src/raft/log-codec.js'

const from = {
  id: '12D3KooWSfq8DUQbmnLd1DGTZTrcAx5ki1fBYmbNZHDnYqYkJrSH',
  address: '/ip4/127.0.1.2/tcp/7400/p2p/12D3KooWSfq8DUQbmnLd1DGTZTrcAx5ki1fBYmbNZHDnYqYkJrSH',
}

const configuration: Configuration = {
  servers: [
    { id: 'a', address: '/ip4/127.0.0.1/tcp/1/p2p/a', suffrage: 'voter' },
    { id: 'b', address: '/ip4/127.0.0.1/tcp/2/p2p/b', suffrage: 'nonvoter' },
  ],
}

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (i * 7 + seed) & 0xff
  return out
}

function entries(): LogEntry[] {
  return [
    { index: 1, term: 1, type: LogType.Configuration, data: bytes(40) },
    { index: 2, term: 1, type: LogType.Noop, data: new Uint8Array(0) },
    { index: 3, term: 2, type: LogType.Command, data: bytes(100, 3), appendedAtMs: 1_700_000_000_123 },
    { index: 2 ** 53 - 1, term: 2 ** 40, type: LogType.Barrier, data: bytes(1), appendedAtMs: 0 },
    // A type byte this version does not know travels unchanged: Raft decides what it means.
    { index: 5, term: 2, type: 200 as LogType, data: bytes(3) },
  ]
}

/** One frame of every kind, with optional fields both absent and present. */
function everyFrame(): Frame[] {
  return [
    {
      type: MessageType.AppendEntriesRequest,
      requestId: 1,
      body: { from, term: 7, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0 },
    },
    {
      type: MessageType.AppendEntriesRequest,
      requestId: 2,
      body: { from, term: 7, prevLogIndex: 10, prevLogTerm: 6, entries: entries(), leaderCommit: 9 },
    },
    {
      type: MessageType.AppendEntriesResponse,
      requestId: 3,
      body: { term: 7, success: true, lastLogIndex: 12 },
    },
    {
      type: MessageType.AppendEntriesResponse,
      requestId: 4,
      body: { term: 7, success: false, lastLogIndex: 3, conflictTerm: 0, conflictIndex: 4 },
    },
    {
      type: MessageType.AppendEntriesResponse,
      requestId: 5,
      body: { term: 8, success: false, lastLogIndex: 3, conflictTerm: 5, noRetryBackoff: false },
    },
    {
      type: MessageType.AppendEntriesResponse,
      requestId: 6,
      body: { term: 8, success: false, lastLogIndex: 0, conflictIndex: 1, noRetryBackoff: true },
    },
    {
      type: MessageType.RequestVoteRequest,
      requestId: 7,
      body: { from, term: 9, lastLogIndex: 12, lastLogTerm: 7, preVote: false, leadershipTransfer: false },
    },
    {
      type: MessageType.RequestVoteRequest,
      requestId: 8,
      body: { from, term: 9, lastLogIndex: 12, lastLogTerm: 7, preVote: true, leadershipTransfer: true },
    },
    { type: MessageType.RequestVoteResponse, requestId: 9, body: { term: 9, granted: true } },
    { type: MessageType.RequestVoteResponse, requestId: 10, body: { term: 9, granted: false } },
    {
      type: MessageType.InstallSnapshotRequest,
      requestId: 11,
      body: {
        from,
        term: 9,
        snapshotId: '7-120-1700000000000',
        lastIndex: 120,
        lastTerm: 7,
        configuration,
        configurationIndex: 100,
        size: 1024 * 1024 + 17,
        offset: 1024 * 1024,
        data: bytes(17),
        done: true,
      },
    },
    {
      type: MessageType.InstallSnapshotRequest,
      requestId: 12,
      body: {
        from,
        term: 9,
        snapshotId: 'snap é ✓',
        lastIndex: 1,
        lastTerm: 1,
        configuration: { servers: [] },
        configurationIndex: 0,
        size: 0,
        offset: 0,
        data: new Uint8Array(0),
        done: false,
      },
    },
    {
      type: MessageType.InstallSnapshotResponse,
      requestId: 13,
      body: { term: 9, success: true, nextOffset: 2 ** 40 },
    },
    {
      type: MessageType.InstallSnapshotResponse,
      requestId: 14,
      body: { term: 9, success: false, nextOffset: 0 },
    },
    { type: MessageType.TimeoutNowRequest, requestId: 15, body: { from, term: 10 } },
    { type: MessageType.TimeoutNowResponse, requestId: 16, body: { term: 10 } },
    { type: MessageType.Error, requestId: 0xffffffff, body: { message: 'disk on fire: ünïcode ✓' } },
  ]
}

/** An `assert.throws` check that the error is an instance of `cls` (uvu calls a class without `new`). */
const isA =
  (cls: abstract new (...args: never[]) => Error) =>
  (err: Error): boolean =>
    err instanceof cls

/** The body of an encoded frame, without its length prefix. */
const bodyOf = (frame: Uint8Array) => frame.subarray(FRAME_PREFIX_BYTES)

test('every message kind round-trips exactly, optional fields absent or present', () => {
  for (const frame of everyFrame()) {
    const encoded = encodeFrame(frame)
    const length = new DataView(encoded.buffer, encoded.byteOffset).getUint32(0)
    assert.is(length, encoded.byteLength - FRAME_PREFIX_BYTES, `length prefix of type ${frame.type}`)
    const back = decodeFrame(bodyOf(encoded))
    assert.equal(back, frame, `type ${frame.type}, request ${frame.requestId}`)
  }
})

test('absent optional fields stay absent (no undefined keys)', () => {
  const back = decodeFrame(
    bodyOf(
      encodeFrame({
        type: MessageType.AppendEntriesResponse,
        requestId: 1,
        body: { term: 1, success: true, lastLogIndex: 1 },
      }),
    ),
  )
  assert.equal(Object.keys(back.body).sort(), ['lastLogIndex', 'success', 'term'])
  const entry = decodeFrame(bodyOf(encodeFrame(everyFrame()[1]!)))
  assert.ok(entry.type === MessageType.AppendEntriesRequest)
  assert.not.ok('appendedAtMs' in entry.body.entries[0]!)
  assert.ok('appendedAtMs' in entry.body.entries[3]!)
})

test('entries are in the log-codec layout, byte for byte', () => {
  const list = entries()
  const encoded = encodeFrame({
    type: MessageType.AppendEntriesRequest,
    requestId: 1,
    body: { from, term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: list, leaderCommit: 0 },
  })
  // The entries are the tail of the frame: each a u32 length, then encodeLogEntry's bytes.
  const tail: number[] = []
  for (const e of list) {
    const b = encodeLogEntry(e)
    tail.push(
      b.byteLength >>> 24,
      (b.byteLength >>> 16) & 0xff,
      (b.byteLength >>> 8) & 0xff,
      b.byteLength & 0xff,
    )
    tail.push(...b)
  }
  assert.equal([...encoded.subarray(encoded.byteLength - tail.length)], tail)
  const view = new DataView(encoded.buffer, encoded.byteOffset)
  let o = encoded.byteLength - tail.length
  for (const e of list) {
    const n = view.getUint32(o)
    assert.equal(decodeLogEntry(encoded.subarray(o + 4, o + 4 + n)), e)
    o += 4 + n
  }
})

test('decoded byte arrays do not alias the input', () => {
  const encoded = encodeFrame(everyFrame()[1]!)
  const back = decodeFrame(bodyOf(encoded))
  encoded.fill(0)
  assert.ok(back.type === MessageType.AppendEntriesRequest)
  assert.equal(back.body.entries[2]!.data, bytes(100, 3))
  const snap = encodeFrame(everyFrame()[10]!)
  const snapBack = decodeFrame(bodyOf(snap))
  snap.fill(0)
  assert.ok(snapBack.type === MessageType.InstallSnapshotRequest)
  assert.equal(snapBack.body.data, bytes(17))
})

test('a 1 MiB snapshot chunk round-trips', () => {
  const data = bytes(1024 * 1024, 9)
  const frame: Frame = {
    type: MessageType.InstallSnapshotRequest,
    requestId: 42,
    body: {
      from,
      term: 3,
      snapshotId: 's',
      lastIndex: 9,
      lastTerm: 3,
      configuration,
      configurationIndex: 1,
      size: data.byteLength,
      offset: 0,
      data,
      done: true,
    },
  }
  assert.equal(decodeFrame(bodyOf(encodeFrame(frame))), frame)
})

test('frames split at every byte, or coalesced, decode the same', () => {
  const frames = everyFrame()
  const stream = concat(frames.map((f) => encodeFrame(f)))
  // Coalesced: one chunk holding every frame.
  assert.equal(decodeFrames([stream]), { frames, leftoverBytes: 0 })
  // One byte at a time.
  const singles: Uint8Array[] = []
  for (let i = 0; i < stream.byteLength; i++) singles.push(stream.subarray(i, i + 1))
  assert.equal(decodeFrames(singles).frames, frames)
  // Irregular cuts, including cuts inside length prefixes.
  for (const size of [2, 3, 5, 7, 13, 64, 1000]) {
    const chunks: Uint8Array[] = []
    for (let i = 0; i < stream.byteLength; i += size) chunks.push(stream.subarray(i, i + size))
    assert.equal(decodeFrames(chunks).frames, frames, `chunks of ${size}`)
  }
})

test('Node Buffers (views into a shared pool, as sockets deliver them) decode the same', () => {
  const frames = everyFrame()
  const stream = concat(frames.map((f) => encodeFrame(f)))
  const chunks: Uint8Array[] = []
  for (let i = 0; i < stream.byteLength; i += 97) {
    const chunk = Buffer.from(stream.subarray(i, i + 97))
    chunks.push(chunk)
  }
  assert.ok(
    chunks.some((c) => c.byteOffset > 0),
    'some chunk is a view into a pool',
  )
  assert.equal(decodeFrames(chunks).frames, frames)
  assert.equal(decodeFrames([Buffer.from(encodeFrame(frames[1]!))]).frames, [frames[1]])
})

test('an incomplete frame waits for the rest', () => {
  const encoded = encodeFrame(everyFrame()[6]!)
  const decoder = new FrameDecoder()
  decoder.push(encoded.subarray(0, 2))
  assert.is(decoder.next(), undefined)
  decoder.push(encoded.subarray(2, 10))
  assert.is(decoder.next(), undefined)
  assert.is(decoder.buffered, 10)
  decoder.push(encoded.subarray(10))
  assert.equal(decoder.next(), everyFrame()[6])
  assert.is(decoder.next(), undefined)
  assert.is(decoder.buffered, 0)
})

test('an oversize frame is refused when decoding and when encoding', () => {
  const decoder = new FrameDecoder(1024)
  const prefix = new Uint8Array(4)
  new DataView(prefix.buffer).setUint32(0, 1025)
  decoder.push(prefix)
  assert.throws(
    () => decoder.next(),
    (err: Error) => err instanceof FrameTooLargeError && err.frameBytes === 1025,
  )
  // The default bound (64 MiB) refuses a hostile 4 GiB length before any byte of it arrives.
  const huge = new FrameDecoder()
  huge.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]))
  assert.throws(() => huge.next(), isA(FrameTooLargeError))
  const big = everyFrame()[10]!
  assert.throws(() => encodeFrame(big, 64), isA(FrameTooLargeError))
  // Exactly at the bound is fine.
  const exact = encodeFrame(big)
  assert.ok(encodeFrame(big, exact.byteLength - FRAME_PREFIX_BYTES))
})

test('malformed bodies throw RaftCodecError, with the request id when readable', () => {
  assert.throws(
    () => decodeFrame(new Uint8Array([1, 0, 0])),
    (err: Error) => {
      return err instanceof RaftCodecError && err.requestId === undefined
    },
  )
  const unknown = new Uint8Array([99, 0, 0, 0, 5])
  assert.throws(
    () => decodeFrame(unknown),
    (err: Error) => err instanceof RaftCodecError && err.requestId === 5,
  )
  const full = bodyOf(encodeFrame(everyFrame()[1]!))
  for (const cut of [6, 20, 80, full.byteLength - 1]) {
    assert.throws(
      () => decodeFrame(full.subarray(0, cut)),
      (err: Error) => err instanceof RaftCodecError && err.requestId === 2,
      `cut at ${cut}`,
    )
  }
  // An entry count the frame cannot hold must not size an allocation.
  const lying = new Uint8Array(full)
  const header = 5 + 2 + from.id.length + 2 + from.address.length + 32
  new DataView(lying.buffer).setUint32(header, 0xffffffff)
  assert.throws(() => decodeFrame(lying), isA(RaftCodecError))
})

test('a malformed frame is consumed, so the decoder goes on with the next', () => {
  const bad = new Uint8Array([0, 0, 0, 5, 99, 0, 0, 0, 1])
  const good = encodeFrame(everyFrame()[8]!)
  const decoder = new FrameDecoder()
  decoder.push(concat([bad, good]))
  assert.throws(() => decoder.next(), isA(RaftCodecError))
  assert.equal(decoder.next(), everyFrame()[8])
})

test('a later version may append fields; this decoder ignores them', () => {
  const encoded = encodeFrame(everyFrame()[9]!)
  const longer = new Uint8Array(encoded.byteLength + 3)
  longer.set(encoded)
  new DataView(longer.buffer).setUint32(0, encoded.byteLength - FRAME_PREFIX_BYTES + 3)
  assert.equal(decodeFrames([longer]).frames, [everyFrame()[9]])
})

test('fields out of range are refused when encoding', () => {
  const base = everyFrame()[6]!
  assert.ok(base.type === MessageType.RequestVoteRequest)
  assert.throws(() => encodeFrame({ ...base, body: { ...base.body, term: -1 } }), isA(RangeError))
  assert.throws(() => encodeFrame({ ...base, body: { ...base.body, term: 1.5 } }), isA(RangeError))
  assert.throws(() => encodeFrame({ ...base, requestId: 2 ** 32 }), isA(RangeError))
  assert.throws(
    () => encodeFrame({ ...base, body: { ...base.body, from: { id: 'x'.repeat(70_000), address: '' } } }),
    isA(RangeError),
  )
})

test('long error messages are cut', () => {
  const back = decodeFrame(
    bodyOf(encodeFrame({ type: MessageType.Error, requestId: 1, body: { message: 'é'.repeat(5000) } })),
  )
  assert.ok(back.type === MessageType.Error)
  assert.is(back.body.message.length, MAX_ERROR_CHARS)
})

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.byteLength
  }
  return out
}

test.run()

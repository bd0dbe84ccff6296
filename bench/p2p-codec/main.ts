/**
 * The Raft wire codec benchmark: the cost of an AppendEntries request on the wire, as JSON
 * (entries' data in base64, the obvious first design) against the binary frame of
 * src/p2p/raft-codec.ts (a fixed header, then each entry as `encodeLogEntry` bytes).
 *
 * For 1, 64 and 512 entries of 100 bytes it measures encode + decode time per message
 * (length prefix included: each candidate goes through a frame decoder) and the bytes sent.
 * This is what picked the binary codec; rerun it when the codec changes.
 *
 *   make bench B=p2p-codec
 */

import '../../src/util/polyfill.js'
import { cpus } from 'node:os'
import { encodeFrame, FrameDecoder, MessageType } from '../../src/p2p/raft-codec.js'
import { type LogEntry, LogType } from '../../src/raft/log.js'
import { decodeLogEntry, encodeLogEntry, readUint64, writeUint64 } from '../../src/raft/log-codec.js'
import type { AppendEntriesRequest } from '../../src/raft/transport.js'

const COMMAND = 'make bench B=p2p-codec'
const ENTRY_COUNTS = [1, 64, 512]
const PAYLOAD_BYTES = 100
const WARMUP_MS = 200
const ROUNDS = 5
const ROUND_MS = 100

/** One codec under test: turns a request into the bytes sent, and those bytes back. */
interface Candidate {
  name: string
  encode(requestId: number, req: AppendEntriesRequest): Uint8Array
  decode(bytes: Uint8Array): AppendEntriesRequest
}

// ---------------------------------------------------------------- the candidates

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/** JSON in a u32 length-prefixed frame; Uint8Array data as base64 strings. */
const jsonCandidate: Candidate = {
  name: 'json+base64',
  encode(requestId, req) {
    const json = JSON.stringify({
      type: 'appendEntries',
      requestId,
      body: {
        ...req,
        entries: req.entries.map((e) => ({ ...e, data: Buffer.from(e.data).toString('base64') })),
      },
    })
    const body = textEncoder.encode(json)
    const out = new Uint8Array(4 + body.byteLength)
    new DataView(out.buffer).setUint32(0, body.byteLength)
    out.set(body, 4)
    return out
  },
  decode(bytes) {
    const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)
    const parsed = JSON.parse(textDecoder.decode(bytes.subarray(4, 4 + length))) as {
      body: Omit<AppendEntriesRequest, 'entries'> & { entries: (Omit<LogEntry, 'data'> & { data: string })[] }
    }
    const body = parsed.body
    return {
      ...body,
      entries: body.entries.map((e) => ({ ...e, data: new Uint8Array(Buffer.from(e.data, 'base64')) })),
    }
  },
}

/**
 * The first binary design: the same frame, but each entry made by `encodeLogEntry` (a buffer
 * of its own, then copied in) and read by `decodeLogEntry` (a copy per entry). Only
 * AppendEntries, which is all this benchmark sends.
 */
const perEntryCandidate: Candidate = {
  name: 'binary, per-entry log-codec',
  encode(requestId, req) {
    const id = textEncoder.encode(req.from.id)
    const address = textEncoder.encode(req.from.address)
    const entries = req.entries.map(encodeLogEntry)
    let size = 4 + 5 + 2 + id.byteLength + 2 + address.byteLength + 4 * 8 + 4
    for (const e of entries) size += 4 + e.byteLength
    const out = new Uint8Array(size)
    const view = new DataView(out.buffer)
    let o = 0
    view.setUint32(o, size - 4)
    view.setUint8(o + 4, MessageType.AppendEntriesRequest)
    view.setUint32(o + 5, requestId)
    o += 9
    for (const s of [id, address]) {
      view.setUint16(o, s.byteLength)
      out.set(s, o + 2)
      o += 2 + s.byteLength
    }
    for (const [i, n] of [req.term, req.prevLogIndex, req.prevLogTerm, req.leaderCommit].entries()) {
      writeUint64(view, o, n, String(i))
      o += 8
    }
    view.setUint32(o, entries.length)
    o += 4
    for (const e of entries) {
      view.setUint32(o, e.byteLength)
      out.set(e, o + 4)
      o += 4 + e.byteLength
    }
    return out
  },
  decode(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    let o = 9
    const strs: string[] = []
    for (let i = 0; i < 2; i++) {
      const n = view.getUint16(o)
      strs.push(textDecoder.decode(bytes.subarray(o + 2, o + 2 + n)))
      o += 2 + n
    }
    const nums: number[] = []
    for (let i = 0; i < 4; i++) {
      nums.push(readUint64(view, o, String(i)))
      o += 8
    }
    const count = view.getUint32(o)
    o += 4
    const entries: LogEntry[] = []
    for (let i = 0; i < count; i++) {
      const n = view.getUint32(o)
      entries.push(decodeLogEntry(bytes.subarray(o + 4, o + 4 + n)))
      o += 4 + n
    }
    return {
      from: { id: strs[0]!, address: strs[1]! },
      term: nums[0]!,
      prevLogIndex: nums[1]!,
      prevLogTerm: nums[2]!,
      leaderCommit: nums[3]!,
      entries,
    }
  },
}

/** The codec Shoal uses: entries written and read in place, one buffer per frame. */
const binaryCandidate: Candidate = {
  name: 'binary, in place (shipped)',
  encode(requestId, req) {
    return encodeFrame({ type: MessageType.AppendEntriesRequest, requestId, body: req })
  },
  decode(bytes) {
    const decoder = new FrameDecoder()
    decoder.push(bytes)
    const frame = decoder.next()
    if (frame?.type !== MessageType.AppendEntriesRequest) throw new Error('binary: not an AppendEntries')
    return frame.body
  },
}

// ---------------------------------------------------------------- measuring

function request(entryCount: number): AppendEntriesRequest {
  const entries: LogEntry[] = []
  for (let i = 0; i < entryCount; i++) {
    const data = new Uint8Array(PAYLOAD_BYTES)
    for (let j = 0; j < PAYLOAD_BYTES; j++) data[j] = (i * 31 + j) & 0xff
    entries.push({
      index: 1000 + i,
      term: 7,
      type: LogType.Command,
      data,
      appendedAtMs: 1_700_000_000_000 + i,
    })
  }
  return {
    from: {
      id: '12D3KooWSfq8DUQbmnLd1DGTZTrcAx5ki1fBYmbNZHDnYqYkJrSH',
      address: '/ip4/127.0.1.2/tcp/7400/p2p/12D3KooWSfq8DUQbmnLd1DGTZTrcAx5ki1fBYmbNZHDnYqYkJrSH',
    },
    term: 7,
    prevLogIndex: 999,
    prevLogTerm: 7,
    entries,
    leaderCommit: 990,
  }
}

/** Checks that `c` round-trips `req`, so a fast wrong codec cannot win. */
function check(c: Candidate, req: AppendEntriesRequest): void {
  const back = c.decode(c.encode(1, req))
  const same =
    back.entries.length === req.entries.length &&
    back.entries.every((e, i) => {
      const o = req.entries[i]!
      return (
        e.index === o.index &&
        e.term === o.term &&
        e.type === o.type &&
        e.appendedAtMs === o.appendedAtMs &&
        Buffer.compare(e.data, o.data) === 0
      )
    }) &&
    back.leaderCommit === req.leaderCommit &&
    back.from.address === req.from.address
  if (!same) throw new Error(`${c.name}: the round trip changed the message`)
}

/** Runs `fn` in batches for `ms`; returns the mean µs per call. */
function timeRound(fn: () => void, ms: number): number {
  let calls = 0
  const start = performance.now()
  let elapsed = 0
  while (elapsed < ms) {
    for (let i = 0; i < 16; i++) fn()
    calls += 16
    elapsed = performance.now() - start
  }
  return (elapsed * 1000) / calls
}

/** The median over `ROUNDS` rounds of `timeRound`: one garbage collection cannot skew it. */
function timeIt(fn: () => void): number {
  const rounds: number[] = []
  for (let i = 0; i < ROUNDS; i++) rounds.push(timeRound(fn, ROUND_MS))
  rounds.sort((a, b) => a - b)
  return rounds[Math.floor(ROUNDS / 2)]!
}

interface Row {
  codec: string
  entries: number
  bytes: number
  encodeUs: number
  decodeUs: number
}

function measure(c: Candidate, entryCount: number): Row {
  const req = request(entryCount)
  check(c, req)
  const bytes = c.encode(1, req)
  let sink = 0
  timeRound(() => {
    sink += c.decode(c.encode(1, req)).entries.length
  }, WARMUP_MS)
  const encodeUs = timeIt(() => {
    sink += c.encode(1, req).byteLength
  })
  const decodeUs = timeIt(() => {
    sink += c.decode(bytes).entries.length
  })
  if (sink < 0) console.log(sink) // keeps the work observable, so it is not optimised away
  return { codec: c.name, entries: entryCount, bytes: bytes.byteLength, encodeUs, decodeUs }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  return rows
    .map((r) =>
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
    )
    .join('\n')
}

function main(): void {
  const rows: Row[] = []
  for (const n of ENTRY_COUNTS) {
    for (const c of [jsonCandidate, perEntryCandidate, binaryCandidate]) rows.push(measure(c, n))
  }
  console.log(
    `p2p-codec: AppendEntries on the wire, ${PAYLOAD_BYTES}-byte entries, JSON+base64 vs two binary forms`,
  )
  console.log(`command: ${COMMAND}`)
  console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'}, ${new Date().toISOString()}`)
  console.log('')
  const header = ['codec', 'entries', 'bytes', 'encode µs', 'decode µs', 'total µs', 'vs json']
  const lines = rows.map((r) => {
    const json = rows.find((j) => j.entries === r.entries && j.codec === jsonCandidate.name)!
    const total = r.encodeUs + r.decodeUs
    const jsonTotal = json.encodeUs + json.decodeUs
    return [
      r.codec,
      String(r.entries),
      String(r.bytes),
      r.encodeUs.toFixed(2),
      r.decodeUs.toFixed(2),
      total.toFixed(2),
      r === json
        ? ''
        : `${(jsonTotal / total).toFixed(1)}× faster, ${((100 * r.bytes) / json.bytes).toFixed(0)}% size`,
    ]
  })
  console.log(table([header, ...lines]))
  console.log('')
  console.log(
    `(per message: median of ${ROUNDS} rounds of ${ROUND_MS} ms each for encode and for decode, after ${WARMUP_MS} ms warm-up)`,
  )
}

main()

import '../../src/util/polyfill.js'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { appendFileSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { type LogEntry, LogType } from '../../src/raft/log.js'
import { crc32, crc32InJs, WalLogStore } from '../../src/raft/wal-log-store.js'
import { rejectsWith } from '../support/assertions.js'

const entry = (index: number, term = 1, size = 100): LogEntry => ({
  index,
  term,
  type: LogType.Command,
  data: new Uint8Array(size).fill(index % 251),
})
const range = (from: number, to: number, term = 1) =>
  Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term))

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-wal-'))
  try {
    await fn(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const files = (dir: string) =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort()

test('crc32 is zlib’s, natively or by the table', () => {
  for (const f of [crc32, crc32InJs]) {
    assert.is(f(new TextEncoder().encode('123456789')), 0xcbf43926)
    assert.is(f(new Uint8Array(0)), 0)
  }
  // Files written by either must check by the other: the same values over many lengths.
  let seed = 7
  for (let n = 1; n < 3000; n += 37) {
    const bytes = Uint8Array.from({ length: n }, () => {
      seed = (seed * 1103515245 + 12345) >>> 0
      return seed >>> 24
    })
    assert.is(crc32(bytes), crc32InJs(bytes), `length ${n}`)
  }
})

const TORN = Buffer.from([0, 0, 0, 200, 1, 2, 3, 4, 1, 9, 9])

test('a write cut short by a crash is dropped on open; what was acknowledged stays', () =>
  withDir(async (dir) => {
    const wal = await WalLogStore.open(dir, { preallocate: false })
    await wal.storeLogs(range(1, 5))
    await wal.close()
    const [file] = files(dir)
    const path = join(dir, file!)
    const whole = statSync(path).size
    // Half a record more, as a crash in the middle of the next write leaves it.
    appendFileSync(path, TORN)
    const again = await WalLogStore.open(dir, { preallocate: false })
    assert.equal([await again.firstIndex(), await again.lastIndex()], [1, 5])
    assert.equal(await again.getLogs(1, 5), range(1, 5))
    assert.ok(
      readFileSync(path)
        .subarray(whole)
        .every((b) => b === 0),
      'the torn tail is zeroed',
    )
    await again.storeLogs([entry(6)])
    await again.close()
    const third = await WalLogStore.open(dir)
    assert.equal(await third.getLogs(1, 10), range(1, 6))
    await third.close()
  }))

test('files are preallocated: zeros past the records, a spare ready for the next file', () =>
  withDir(async (dir) => {
    const segmentBytes = 64 * 1024
    const wal = await WalLogStore.open(dir, { segmentBytes })
    assert.equal(readdirSync(dir).sort(), ['spare.wal.tmp'], 'the spare is made at open')
    await wal.storeLogs(range(1, 5))
    const [first] = files(dir)
    const path = join(dir, first!)
    assert.is(statSync(path).size, segmentBytes, 'the spare became the first file, full size')
    const bytes = readFileSync(path)
    const used = bytes.length - [...bytes].reverse().findIndex((b) => b !== 0)
    assert.ok(used > 5 * 100 && used < 5 * 200, `${used} bytes of records`)
    await wal.close()
    // A torn write inside the preallocated part (zeros after it), then reopen and go on.
    const torn = readFileSync(path)
    TORN.copy(torn, used)
    writeFileSync(path, torn)
    const again = await WalLogStore.open(dir, { segmentBytes })
    assert.equal([await again.firstIndex(), await again.lastIndex()], [1, 5])
    assert.is(statSync(path).size, segmentBytes, 'zeroed, not cut: the file keeps its blocks')
    assert.ok(
      readFileSync(path)
        .subarray(used)
        .every((b) => b === 0),
      'the torn write is zeroed',
    )
    // Enough to fill the first file: the next one is the spare, preallocated too.
    for (let i = 6; i <= 700; i += 5) await again.storeLogs(range(i, i + 4))
    const names = files(dir)
    assert.ok(names.length >= 2, names.join(' '))
    for (const name of names) assert.is(statSync(join(dir, name)).size, segmentBytes, name)
    await again.close()
    const third = await WalLogStore.open(dir, { segmentBytes })
    assert.equal([await third.firstIndex(), await third.lastIndex()], [1, 700])
    assert.equal(await third.getLogs(1, 700), range(1, 700))
    await third.close()
  }))

test('a sector of the last write missing (zeros, a power loss) with later records intact: torn, not damage', () =>
  withDir(async (dir) => {
    const used = (path: string) => {
      const bytes = readFileSync(path)
      return bytes.length - [...bytes].reverse().findIndex((b) => b !== 0)
    }
    const wal = await WalLogStore.open(dir)
    await wal.storeLogs(range(1, 2))
    const [file] = files(dir)
    const path = join(dir, file!)
    const before = used(path)
    await wal.storeLogs(range(3, 14)) // one write; power is lost before its sync completes
    await wal.close()
    const after = used(path)
    const sector = Math.ceil(before / 512) * 512
    assert.ok(sector + 512 + 200 < after, `a whole sector inside the last write (${before}..${after})`)
    const bytes = readFileSync(path)
    bytes.fill(0, sector, sector + 512)
    writeFileSync(path, bytes)
    const again = await WalLogStore.open(dir)
    const last = await again.lastIndex()
    assert.ok(last >= 2 && last < 14, `last ${last}`)
    assert.equal(await again.getLogs(1, last), range(1, last))
    assert.ok(
      readFileSync(path)
        .subarray(sector)
        .every((b) => b === 0),
      'the rest of the write is zeroed',
    )
    await again.storeLogs(range(last + 1, last + 3))
    await again.close()
    const third = await WalLogStore.open(dir)
    assert.equal(await third.getLogs(1, last + 3), range(1, last + 3))
    await third.close()
  }))

test('a preallocated file that is not the last one ends at its zeros; damage after them is caught', () =>
  withDir(async (dir) => {
    const segmentBytes = 4096
    const wal = await WalLogStore.open(dir, { segmentBytes })
    for (let i = 1; i <= 100; i += 5) await wal.storeLogs(range(i, i + 4))
    await wal.close()
    const [oldest] = files(dir)
    const path = join(dir, oldest!)
    const bytes = readFileSync(path)
    assert.is(bytes.at(-1), 0, 'the oldest file ends with unused zeros')
    bytes[bytes.length - 1] = 7
    writeFileSync(path, bytes)
    await rejectsWith(WalLogStore.open(dir, { segmentBytes }), 'WalCorruptError')
  }))

test('a damaged record that is not the tail of the last file fails the open', () =>
  withDir(async (dir) => {
    const wal = await WalLogStore.open(dir, { segmentBytes: 1024 })
    for (let i = 1; i <= 30; i++) await wal.storeLogs([entry(i)])
    await wal.close()
    const [oldest] = files(dir)
    const path = join(dir, oldest!)
    const bytes = readFileSync(path)
    bytes[20] = bytes[20]! ^ 0xff
    writeFileSync(path, bytes)
    await rejectsWith(WalLogStore.open(dir, { segmentBytes: 1024 }), 'WalCorruptError')
  }))

test('a flipped bit in the last file with intact records after it fails the open (not a torn write)', () =>
  withDir(async (dir) => {
    const wal = await WalLogStore.open(dir)
    for (let i = 1; i <= 5; i++) await wal.storeLogs([entry(i)])
    await wal.close()
    const [file] = files(dir)
    const path = join(dir, file!)
    const bytes = readFileSync(path)
    bytes[200] = bytes[200]! ^ 0x01 // inside the second record's body
    writeFileSync(path, bytes)
    await rejectsWith(WalLogStore.open(dir), 'WalCorruptError')
  }))

test('replacements and deletions replay across reopen', () =>
  withDir(async (dir) => {
    const wal = await WalLogStore.open(dir)
    await wal.storeLogs(range(1, 10))
    await wal.deleteRange(7, Number.MAX_SAFE_INTEGER)
    await wal.storeLogs(range(7, 8, 2))
    await wal.deleteRange(1, 3)
    await wal.close()
    const again = await WalLogStore.open(dir)
    assert.equal([await again.firstIndex(), await again.lastIndex()], [4, 8])
    assert.equal(await again.getLogs(4, 20), [...range(4, 6), ...range(7, 8, 2)])
    assert.is(await again.getLog(3), undefined)
    await again.close()
  }))

test('files fill up and roll over; the oldest go once compaction leaves nothing live in them', () =>
  withDir(async (dir) => {
    const wal = await WalLogStore.open(dir, { segmentBytes: 2048 })
    for (let i = 1; i <= 100; i += 5) await wal.storeLogs(range(i, i + 4))
    const before = files(dir).length
    assert.ok(before >= 6, `${before} files`)
    await wal.deleteRange(1, 90)
    const after = files(dir)
    assert.ok(after.length <= 2, after.join(' '))
    assert.equal(await wal.getLogs(91, 100), range(91, 100))
    await wal.close()
    const again = await WalLogStore.open(dir, { segmentBytes: 2048 })
    assert.equal([await again.firstIndex(), await again.lastIndex()], [91, 100])
    assert.equal(await again.getLogs(91, 100), range(91, 100))
    await again.storeLogs([entry(101)])
    assert.is((await again.getLog(101))?.index, 101)
    await again.close()
  }))

test('writes after close reject; an empty last file (a crash just after creating it) is fine', () =>
  withDir(async (dir) => {
    const wal = await WalLogStore.open(dir, { preallocate: false })
    await wal.storeLogs([entry(1)])
    await wal.close()
    await wal.close()
    await rejectsWith(wal.storeLogs([entry(2)]), 'WalClosedError')
    writeFileSync(join(dir, '000000000009.wal'), '')
    const again = await WalLogStore.open(dir)
    assert.equal([await again.firstIndex(), await again.lastIndex()], [1, 1])
    await again.storeLogs([entry(2)])
    await again.close()
    truncateSync(join(dir, '000000000009.wal'), 3) // torn header only
    const third = await WalLogStore.open(dir)
    assert.is(await third.lastIndex(), 1, 'the torn entry 2 was the tail: gone')
    await third.close()
  }))

test('killed (SIGKILL) in the middle of writing, again and again: every acknowledged entry is there, intact', () =>
  withDir(async (dir) => {
    const writer = fileURLToPath(new URL('./wal-writer.js', import.meta.url))
    let acknowledged = 0
    for (let round = 0; round < 4; round++) {
      const child = spawn(process.execPath, [writer, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      child.stdout.on('data', (d) => {
        out += d
      })
      // Killed at some moment once it has written a little (how much does not matter).
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (out.split('\n').length > 20 + round * 7) {
            clearInterval(check)
            resolve()
          }
        }, 5)
      })
      child.kill('SIGKILL')
      await once(child, 'exit')
      const lines = out.trim().split('\n')
      acknowledged = Number(lines[lines.length - 1])
      const wal = await WalLogStore.open(dir, { segmentBytes: 64 * 1024 })
      const last = await wal.lastIndex()
      assert.ok(last >= acknowledged, `round ${round}: last ${last} < acknowledged ${acknowledged}`)
      assert.is(await wal.firstIndex(), 1)
      const all = await wal.getLogs(1, last)
      assert.is(all.length, last, `round ${round}: a gap`)
      for (const e of all) {
        assert.is(e.data.length, 50 + (e.index % 300))
        assert.ok(
          e.data.every((b) => b === e.index % 256),
          `entry ${e.index} damaged`,
        )
      }
      await wal.close()
    }
    assert.ok(acknowledged > 20)
  }))

test.run()

import '../../src/util/polyfill.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { InmemStore } from '../../src/raft/inmem-store.js'
import { LevelStore } from '../../src/raft/level-store.js'
import { type LogStore, LogType } from '../../src/raft/log.js'
import {
  decodeLogEntry,
  encodedLogEntryLength,
  encodeLogEntry,
  encodeLogEntryInto,
  LOG_CODEC_VERSION,
} from '../../src/raft/log-codec.js'
import { StableKeys, type StableStore } from '../../src/raft/stable.js'
import { WalLogStore } from '../../src/raft/wal-log-store.js'
import { rejectsWith } from '../support/assertions.js'
import { logStoreSuite } from './log-store-suite.js'

logStoreSuite('InmemStore', async () => ({ store: new InmemStore(), close: async () => {} }))

logStoreSuite('LevelStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-level-store-'))
  let store = await LevelStore.open(dir)
  return {
    store,
    async reopen() {
      await store.close()
      store = await LevelStore.open(dir)
      return store
    },
    async close() {
      await store.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
})

/**
 * A WalLogStore for the log, with stable values in memory (the daemon keeps those in LevelDB);
 * `offThread`: every batch written through the thread pool (as a busy leader's are).
 */
function walWithStable(wal: WalLogStore, stable: InmemStore, offThread: boolean): LogStore & StableStore {
  return {
    firstIndex: () => wal.firstIndex(),
    lastIndex: () => wal.lastIndex(),
    getLog: (i) => wal.getLog(i),
    getLogs: (a, b) => wal.getLogs(a, b),
    storeLogs: (e) => wal.storeLogs(e, { offThread }),
    deleteRange: (a, b) => wal.deleteRange(a, b),
    set: (k, v) => stable.set(k, v),
    get: (k) => stable.get(k),
    setUint64: (k, v) => stable.setUint64(k, v),
    getUint64: (k) => stable.getUint64(k),
  }
}

for (const [name, offThread] of [
  ['WalLogStore, writes in place', false],
  ['WalLogStore, writes through the thread pool', true],
] as const) {
  logStoreSuite(name, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-wal-store-'))
    const stable = new InmemStore()
    // Small files, so that the suite crosses file boundaries too.
    let wal = await WalLogStore.open(dir, { segmentBytes: 4096 })
    return {
      store: walWithStable(wal, stable, offThread),
      async reopen() {
        await wal.close()
        wal = await WalLogStore.open(dir, { segmentBytes: 4096 })
        return walWithStable(wal, stable, offThread)
      },
      async close() {
        await wal.close()
        await rm(dir, { recursive: true, force: true })
      },
    }
  })
}

const entry = (index: number) => ({ index, term: 1, type: LogType.Command, data: Uint8Array.of(index) })

test('InmemStore: failNextWrites(n) fails the next n writes, each changing nothing', async () => {
  const store = new InmemStore()
  await store.storeLogs([entry(1)])
  store.failNextWrites(3)
  await rejectsWith(store.storeLogs([entry(2)]), 'InjectedWriteError')
  await rejectsWith(store.setUint64(StableKeys.currentTerm, 2), 'InjectedWriteError')
  await rejectsWith(store.deleteRange(1, 1), 'InjectedWriteError')
  assert.is(await store.lastIndex(), 1)
  assert.is(await store.firstIndex(), 1)
  assert.is(await store.getUint64(StableKeys.currentTerm), 0)
  await store.storeLogs([entry(2)])
  assert.is(await store.lastIndex(), 2)
})

test('InmemStore: failWrites fails every write until cleared; reads keep working', async () => {
  const store = new InmemStore()
  await store.storeLogs([entry(1)])
  store.failWrites = true
  await rejectsWith(store.set('k', Uint8Array.of(1)), 'InjectedWriteError')
  await rejectsWith(store.storeLogs([entry(2)]), 'InjectedWriteError')
  assert.equal(await store.getLog(1), entry(1))
  assert.is(await store.get('k'), undefined)
  store.failWrites = false
  await store.set('k', Uint8Array.of(1))
  assert.equal(await store.get('k'), Uint8Array.of(1))
})

test('LevelStore: writes after close reject; close is idempotent', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-level-store-'))
  try {
    const store = await LevelStore.open(dir)
    const pending = store.storeLogs([entry(1)])
    await Promise.all([store.close(), store.close()])
    await pending
    await rejectsWith(store.storeLogs([entry(2)]), 'LevelStoreClosedError')
    const again = await LevelStore.open(dir)
    assert.is(await again.lastIndex(), 1, 'a write queued before close() is not lost')
    await again.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('log codec: round trip with and without appendedAtMs, at the uint53 limits', () => {
  const withTime = {
    index: Number.MAX_SAFE_INTEGER,
    term: 2 ** 32,
    type: LogType.Barrier,
    data: Uint8Array.of(1, 2, 3),
    appendedAtMs: 1_700_000_000_000,
  }
  const bytes = encodeLogEntry(withTime)
  assert.is(bytes[0], LOG_CODEC_VERSION)
  assert.is(bytes.byteLength, 19 + 8 + 3)
  assert.equal(decodeLogEntry(bytes), withTime)
  // In place at an offset of a larger buffer: the same bytes, nothing around them touched.
  const packed = new Uint8Array(encodedLogEntryLength(withTime) + 6).fill(0xee)
  encodeLogEntryInto(withTime, packed, 3)
  assert.equal([...packed.subarray(3, 3 + bytes.byteLength)], [...bytes])
  assert.equal([...packed.subarray(0, 3), ...packed.subarray(3 + bytes.byteLength)], Array(6).fill(0xee))
  const plain = { index: 1, term: 0, type: LogType.Command, data: new Uint8Array(0) }
  assert.is(encodeLogEntry(plain).byteLength, 19)
  assert.equal(decodeLogEntry(encodeLogEntry(plain)), plain)
  // Decoding from a view into a larger buffer reads only the view, and copies the data.
  const padded = new Uint8Array(bytes.byteLength + 10)
  padded.set(bytes, 5)
  const view = padded.subarray(5, 5 + bytes.byteLength)
  const decoded = decodeLogEntry(view)
  assert.equal(decoded, withTime)
  padded.fill(0)
  assert.equal(decoded.data, Uint8Array.of(1, 2, 3))
})

test('log codec: rejects bad input when encoding and decoding', () => {
  assert.throws(
    () => encodeLogEntry({ ...entry(1), index: -1 }),
    (err: Error) => err instanceof RangeError,
  )
  assert.throws(
    () => encodeLogEntry({ ...entry(1), term: 2 ** 53 }),
    (err: Error) => err instanceof RangeError,
  )
  assert.throws(
    () => encodeLogEntry({ ...entry(1), appendedAtMs: 1.5 }),
    (err: Error) => err instanceof RangeError,
  )
  assert.throws(
    () => encodeLogEntry({ ...entry(1), type: 256 as LogType }),
    (err: Error) => err instanceof RangeError,
  )
  const good = encodeLogEntry({ ...entry(1), appendedAtMs: 5 })
  const isDecodeError = (err: Error) => err.name === 'LogEntryDecodeError'
  assert.throws(() => decodeLogEntry(good.subarray(0, 18)), isDecodeError)
  assert.throws(() => decodeLogEntry(good.subarray(0, 20)), isDecodeError)
  const badVersion = good.slice()
  badVersion[0] = 99
  assert.throws(() => decodeLogEntry(badVersion), isDecodeError)
  const badFlags = good.slice()
  badFlags[18] = 0x80
  assert.throws(() => decodeLogEntry(badFlags), isDecodeError)
  const tooBig = good.slice()
  tooBig[1] = 0xff
  assert.throws(() => decodeLogEntry(tooBig), isDecodeError)
})

test.run()

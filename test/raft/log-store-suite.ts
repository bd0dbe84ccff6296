/**
 * The test suite every `LogStore & StableStore` implementation must pass.
 */

import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type LogEntry, type LogStore, LogType, readLogs } from '../../src/raft/log.js'
import { StableKeys, type StableStore } from '../../src/raft/stable.js'
import { rejectsWith } from '../support/assertions.js'

/** A store under test and how to dispose of it. */
export interface LogStoreHarness {
  store: LogStore & StableStore
  /** Closes the store last returned (by the factory or `reopen`) and removes what it made. */
  close(): Promise<void>
  /** For durable stores: closes the store and opens the same storage again. */
  reopen?(): Promise<LogStore & StableStore>
}

type Store = LogStore & StableStore

const encoder = new TextEncoder()

function entry(index: number, term = 1, text = `entry ${index}`, type = LogType.Command): LogEntry {
  return { index, term, type, data: encoder.encode(text) }
}

function range(from: number, to: number, term = 1): LogEntry[] {
  const out: LogEntry[] = []
  for (let i = from; i <= to; i++) out.push(entry(i, term))
  return out
}

async function bounds(store: Store): Promise<[number, number]> {
  return [await store.firstIndex(), await store.lastIndex()]
}

/** Registers the shared log-store tests on a uvu suite called `name` and runs it. */
export function logStoreSuite(name: string, make: () => Promise<LogStoreHarness>): void {
  const test = suite(name)

  // Each test gets a fresh store and disposes of it, pass or fail.
  const withStore = (fn: (store: Store, harness: LogStoreHarness) => Promise<void>) => async () => {
    const harness = await make()
    try {
      await fn(harness.store, harness)
    } finally {
      await harness.close()
    }
  }

  test(
    'an empty store has first and last index 0 and no entries',
    withStore(async (store) => {
      assert.equal(await bounds(store), [0, 0])
      assert.is(await store.getLog(1), undefined)
      assert.is(await store.getLog(0), undefined)
      assert.equal(await readLogs(store, 1, 10), [])
    }),
  )

  test(
    'stored entries read back with every field',
    withStore(async (store) => {
      const entries: LogEntry[] = [
        { index: 1, term: 1, type: LogType.Configuration, data: encoder.encode('{"servers":[]}') },
        { index: 2, term: 1, type: LogType.Noop, data: new Uint8Array(0), appendedAtMs: 1_700_000_000_123 },
        { index: 3, term: 2, type: LogType.Command, data: new Uint8Array(100_000).fill(7) },
        { index: 4, term: 2, type: LogType.Barrier, data: Uint8Array.of(0, 255) },
      ]
      await store.storeLogs(entries)
      assert.equal(await bounds(store), [1, 4])
      for (const e of entries) assert.equal(await store.getLog(e.index), e)
      assert.equal(await readLogs(store, 1, 4), entries)
      assert.is(await store.getLog(5), undefined)
    }),
  )

  test(
    'storeLogs of nothing changes nothing',
    withStore(async (store) => {
      await store.storeLogs([])
      assert.equal(await bounds(store), [0, 0])
    }),
  )

  test(
    'getLogs returns the inclusive range, clipped to what is stored',
    withStore(async (store) => {
      await store.storeLogs(range(1, 10))
      assert.ok(store.getLogs, 'implements getLogs')
      assert.equal(await readLogs(store, 3, 6), range(3, 6))
      assert.equal(await readLogs(store, 8, 20), range(8, 10))
      assert.equal(await readLogs(store, 4, 4), [entry(4)])
      assert.equal(await readLogs(store, 11, 20), [])
      assert.equal(await readLogs(store, 6, 5), [])
      assert.equal(await readLogs(store, 0, 3), [], 'index 0 is never stored, so the range stops at once')
      assert.equal(await readLogs(store, 1, Number.MAX_SAFE_INTEGER), range(1, 10))
    }),
  )

  test(
    'getLogs stops at the first missing index',
    withStore(async (store) => {
      // A gap breaks the store's contract; it can still appear in the middle of a restore.
      await store.storeLogs([...range(1, 3), ...range(5, 7)])
      assert.equal(await readLogs(store, 1, 7), range(1, 3))
      assert.equal(await readLogs(store, 5, 9), range(5, 7))
      assert.equal(await readLogs(store, 4, 7), [])
    }),
  )

  test(
    'entries come back in index order across byte boundaries and at large indexes',
    withStore(async (store) => {
      await store.storeLogs(range(250, 260))
      assert.equal(await readLogs(store, 250, 260), range(250, 260))
      const big = 2 ** 40
      const huge = Number.MAX_SAFE_INTEGER
      await store.deleteRange(1, huge)
      await store.storeLogs([entry(big, 9), entry(big + 1, 9)])
      assert.equal(await bounds(store), [big, big + 1])
      assert.equal(await readLogs(store, big, big + 5), [entry(big, 9), entry(big + 1, 9)])
      await store.storeLogs([entry(huge, 10)])
      assert.equal(await store.getLog(huge), entry(huge, 10))
    }),
  )

  test(
    'storing an index again replaces its entry',
    withStore(async (store) => {
      await store.storeLogs(range(1, 5))
      await store.storeLogs([entry(4, 2, 'new four'), entry(5, 2, 'new five')])
      assert.equal(await store.getLog(4), entry(4, 2, 'new four'))
      assert.equal(await store.getLog(5), entry(5, 2, 'new five'))
      assert.equal(await store.getLog(3), entry(3))
      assert.equal(await bounds(store), [1, 5])
    }),
  )

  test(
    'deleteRange of the head (compaction) moves the first index',
    withStore(async (store) => {
      await store.storeLogs(range(1, 10))
      await store.deleteRange(1, 4)
      assert.equal(await bounds(store), [5, 10])
      assert.is(await store.getLog(4), undefined)
      assert.equal(await readLogs(store, 1, 10), [])
      assert.equal(await readLogs(store, 5, 10), range(5, 10))
      await store.deleteRange(5, 5)
      assert.equal(await bounds(store), [6, 10])
    }),
  )

  test(
    'deleteRange of the tail (conflict) moves the last index, and appending continues from there',
    withStore(async (store) => {
      await store.storeLogs(range(1, 10))
      await store.deleteRange(7, 10)
      assert.equal(await bounds(store), [1, 6])
      assert.is(await store.getLog(7), undefined)
      await store.storeLogs([entry(7, 3, 'from the new leader')])
      assert.equal(await bounds(store), [1, 7])
      assert.equal(await store.getLog(7), entry(7, 3, 'from the new leader'))
      // Raft truncates with an open upper end.
      await store.deleteRange(5, Number.MAX_SAFE_INTEGER)
      assert.equal(await bounds(store), [1, 4])
    }),
  )

  test(
    'deleting everything empties the store; it then starts wherever the next entry is',
    withStore(async (store) => {
      await store.storeLogs(range(1, 10))
      await store.deleteRange(1, 10)
      assert.equal(await bounds(store), [0, 0])
      assert.equal(await readLogs(store, 1, 10), [])
      // As after installing a snapshot that ends at 19.
      await store.storeLogs(range(20, 22, 4))
      assert.equal(await bounds(store), [20, 22])
    }),
  )

  test(
    'deleteRange outside what is stored, or on an empty store, changes nothing',
    withStore(async (store) => {
      await store.deleteRange(1, 100)
      assert.equal(await bounds(store), [0, 0])
      await store.storeLogs(range(5, 8))
      await store.deleteRange(1, 4)
      await store.deleteRange(9, 20)
      await store.deleteRange(7, 6)
      assert.equal(await bounds(store), [5, 8])
      assert.equal(await readLogs(store, 5, 8), range(5, 8))
    }),
  )

  test(
    'deleteRange finds the new ends across a gap, and costs what is stored, not the range',
    withStore(async (store) => {
      await store.storeLogs([...range(1, 3), ...range(5, 7), entry(2 ** 50)])
      await store.deleteRange(1, 3)
      assert.equal(await bounds(store), [5, 2 ** 50])
      await store.deleteRange(7, Number.MAX_SAFE_INTEGER)
      assert.equal(await bounds(store), [5, 6])
      await store.storeLogs([entry(2 ** 50)])
      await store.deleteRange(1, Number.MAX_SAFE_INTEGER)
      assert.equal(await bounds(store), [0, 0])
    }),
  )

  test(
    'writes issued without waiting apply in call order',
    withStore(async (store) => {
      await Promise.all([
        store.storeLogs(range(1, 5)),
        store.deleteRange(4, 5),
        store.storeLogs([entry(4, 2, 'rewritten')]),
        store.setUint64(StableKeys.currentTerm, 1),
        store.setUint64(StableKeys.currentTerm, 2),
      ])
      assert.equal(await bounds(store), [1, 4])
      assert.equal(await store.getLog(4), entry(4, 2, 'rewritten'))
      assert.is(await store.getLog(5), undefined)
      assert.is(await store.getUint64(StableKeys.currentTerm), 2)
    }),
  )

  test(
    'an entry whose index is not a positive integer is rejected and nothing of its batch is stored',
    withStore(async (store) => {
      await rejectsWith(store.storeLogs([entry(1), entry(0)]), 'RangeError')
      await rejectsWith(store.storeLogs([entry(1), entry(1.5)]), 'RangeError')
      assert.equal(await bounds(store), [0, 0])
      assert.is(await store.getLog(1), undefined)
    }),
  )

  test(
    'stable values: unset keys read as undefined and 0; set values read back; keys are separate',
    withStore(async (store) => {
      assert.is(await store.get(StableKeys.lastVoteCandidate), undefined)
      assert.is(await store.getUint64(StableKeys.currentTerm), 0)
      await store.set(StableKeys.lastVoteCandidate, encoder.encode('peer-1'))
      await store.setUint64(StableKeys.currentTerm, 5)
      await store.setUint64(StableKeys.lastVoteTerm, Number.MAX_SAFE_INTEGER)
      assert.equal(await store.get(StableKeys.lastVoteCandidate), encoder.encode('peer-1'))
      assert.is(await store.getUint64(StableKeys.currentTerm), 5)
      assert.is(await store.getUint64(StableKeys.lastVoteTerm), Number.MAX_SAFE_INTEGER)
      await store.set(StableKeys.lastVoteCandidate, new Uint8Array(0))
      await store.setUint64(StableKeys.currentTerm, 6)
      assert.equal(await store.get(StableKeys.lastVoteCandidate), new Uint8Array(0))
      assert.is(await store.getUint64(StableKeys.currentTerm), 6)
      assert.is(await store.get('unicode ключ ✓'), undefined)
      await store.set('unicode ключ ✓', Uint8Array.of(1))
      assert.equal(await store.get('unicode ключ ✓'), Uint8Array.of(1))
      // Stable keys never show up as log entries.
      assert.equal(await bounds(store), [0, 0])
    }),
  )

  test(
    'setUint64 rejects numbers that are not uint53',
    withStore(async (store) => {
      await rejectsWith(store.setUint64(StableKeys.currentTerm, -1), 'RangeError')
      await rejectsWith(store.setUint64(StableKeys.currentTerm, 1.5), 'RangeError')
      await rejectsWith(store.setUint64(StableKeys.currentTerm, 2 ** 53), 'RangeError')
      assert.is(await store.getUint64(StableKeys.currentTerm), 0)
    }),
  )

  test(
    'what goes in and what comes out are copies',
    withStore(async (store) => {
      const stored = entry(1, 1, 'original')
      await store.storeLogs([stored])
      stored.data[0] = 0
      stored.term = 99
      const read = (await store.getLog(1))!
      assert.equal(read, entry(1, 1, 'original'))
      read.data[0] = 0
      read.term = 42
      assert.equal(await store.getLog(1), entry(1, 1, 'original'))
      const [ranged] = await readLogs(store, 1, 1)
      ranged!.data.fill(0)
      assert.equal(await store.getLog(1), entry(1, 1, 'original'))

      const value = encoder.encode('peer-1')
      await store.set('k', value)
      value[0] = 0
      const got = (await store.get('k'))!
      assert.equal(got, encoder.encode('peer-1'))
      got[0] = 0
      assert.equal(await store.get('k'), encoder.encode('peer-1'))
    }),
  )

  test(
    'reopening a durable store keeps entries, first and last index, and stable values',
    withStore(async (_store, harness) => {
      // Stores without storage to reopen (in memory) have nothing to show here.
      if (!harness.reopen) return
      let store = await harness.reopen()
      assert.equal(await bounds(store), [0, 0], 'an empty store reopens empty')
      await store.storeLogs(range(1, 10, 3))
      await store.deleteRange(1, 3)
      await store.deleteRange(9, 10)
      await store.setUint64(StableKeys.currentTerm, 3)
      await store.set(StableKeys.lastVoteCandidate, encoder.encode('peer-2'))
      store = await harness.reopen()
      assert.equal(await bounds(store), [4, 8])
      assert.equal(await readLogs(store, 1, 10), [])
      assert.equal(await readLogs(store, 4, 10), range(4, 8, 3))
      assert.is(await store.getUint64(StableKeys.currentTerm), 3)
      assert.equal(await store.get(StableKeys.lastVoteCandidate), encoder.encode('peer-2'))
      await store.storeLogs([entry(9, 4)])
      store = await harness.reopen()
      assert.equal(await bounds(store), [4, 9])
    }),
  )

  test.run()
}

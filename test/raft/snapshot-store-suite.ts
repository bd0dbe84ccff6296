/**
 * The test suite every `SnapshotStore` implementation must pass.
 */

import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Configuration } from '../../src/raft/configuration.js'
import { type SnapshotMeta, SnapshotNotFoundError, type SnapshotStore } from '../../src/raft/snapshot.js'
import { rejectsWith } from '../support/assertions.js'

/** A store under test and how to dispose of it. */
export interface SnapshotStoreHarness {
  store: SnapshotStore
  /** Releases the store last returned (by the factory or `reopen`) and removes what it made. */
  close(): Promise<void>
  /** For durable stores: opens the same storage again. */
  reopen?(): Promise<SnapshotStore>
}

const encoder = new TextEncoder()

/** A configuration of one voter per id, in the order given. */
export function configurationOf(...ids: string[]): Configuration {
  return {
    servers: ids.map((id) => ({ id, address: `/ip4/127.0.0.1/tcp/4001/p2p/${id}`, suffrage: 'voter' })),
  }
}

/** Concatenates everything an `OpenSnapshot.data` yields. */
export async function readAll(data: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of data) chunks.push(chunk)
  return concat(chunks)
}

/** Writes `chunks` as a snapshot at `index`/`term` and closes it; returns its id. */
export async function writeSnapshot(
  store: SnapshotStore,
  index: number,
  term: number,
  chunks: Uint8Array[] = [encoder.encode(`state at ${index}`)],
): Promise<string> {
  const sink = await store.create({ index, term, configuration: configurationOf('a'), configurationIndex: 1 })
  for (const chunk of chunks) await sink.write(chunk)
  await sink.close()
  return sink.id
}

/** The bytes of `chunks`, one after another, in a new array. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/**
 * Registers the shared snapshot-store tests on a uvu suite called `name` and runs it.
 * `make(retain)` returns a fresh, empty store that keeps `retain` snapshots.
 */
export function snapshotStoreSuite(
  name: string,
  make: (retain: number) => Promise<SnapshotStoreHarness>,
): void {
  const test = suite(name)

  // Each test gets a fresh store and disposes of it, pass or fail.
  const withStore =
    (retain: number, fn: (store: SnapshotStore, harness: SnapshotStoreHarness) => Promise<void>) =>
    async () => {
      const harness = await make(retain)
      try {
        await fn(harness.store, harness)
      } finally {
        await harness.close()
      }
    }

  test(
    'an empty store lists nothing',
    withStore(2, async (store) => {
      assert.equal(await store.list(), [])
    }),
  )

  test(
    'a closed snapshot is listed and reads back its exact bytes and metadata',
    withStore(2, async (store) => {
      const chunks = [
        encoder.encode('hello '),
        new Uint8Array(0),
        Uint8Array.of(0, 1, 2, 255),
        encoder.encode('!'),
      ]
      const configuration = configurationOf('a', 'b', 'c')
      const sink = await store.create({ index: 42, term: 3, configuration, configurationIndex: 40 })
      assert.ok(sink.id.startsWith('3-42-'), `id ${sink.id} starts with <term>-<index>-`)
      for (const chunk of chunks) await sink.write(chunk)
      assert.equal(await store.list(), [], 'nothing is visible before close()')
      await sink.close()
      const expected: SnapshotMeta = {
        id: sink.id,
        index: 42,
        term: 3,
        configuration,
        configurationIndex: 40,
        size: 11,
      }
      assert.equal(await store.list(), [expected])
      const opened = await store.open(sink.id)
      assert.equal(opened.meta, expected)
      assert.equal(await readAll(opened.data), concat(chunks))
      // Every open() reads from the start.
      assert.equal(await readAll((await store.open(sink.id)).data), concat(chunks))
    }),
  )

  test(
    'an empty snapshot and a large one (many chunks) both read back exactly',
    withStore(3, async (store) => {
      const emptyId = await writeSnapshot(store, 1, 1, [])
      const empty = await store.open(emptyId)
      assert.is(empty.meta.size, 0)
      assert.equal(await readAll(empty.data), new Uint8Array(0))
      const chunks = Array.from({ length: 40 }, (_, i) => new Uint8Array(64 * 1024 + i).fill(i))
      const bigId = await writeSnapshot(store, 2, 1, chunks)
      const big = await store.open(bigId)
      assert.is(big.meta.size, concat(chunks).byteLength)
      assert.equal(await readAll(big.data), concat(chunks))
    }),
  )

  test(
    'a chunk changed by the caller after write() resolved does not change the snapshot',
    withStore(2, async (store) => {
      const buffer = encoder.encode('first')
      const sink = await store.create({
        index: 1,
        term: 1,
        configuration: configurationOf('a'),
        configurationIndex: 1,
      })
      await sink.write(buffer)
      buffer.set(encoder.encode('AFTER'))
      await sink.write(buffer)
      await sink.close()
      assert.equal(await readAll((await store.open(sink.id)).data), encoder.encode('firstAFTER'))
    }),
  )

  test(
    'list() is newest first: by term, then index, then creation',
    withStore(10, async (store) => {
      const a = await writeSnapshot(store, 10, 1)
      const b = await writeSnapshot(store, 5, 2)
      const c = await writeSnapshot(store, 20, 1)
      const d = await writeSnapshot(store, 20, 1)
      assert.equal(
        (await store.list()).map((m) => m.id),
        [b, d, c, a],
      )
    }),
  )

  test(
    'cancel() leaves nothing, and the sink refuses further use',
    withStore(2, async (store) => {
      const sink = await store.create({
        index: 7,
        term: 1,
        configuration: configurationOf('a'),
        configurationIndex: 1,
      })
      await sink.write(encoder.encode('partial'))
      await sink.cancel()
      await sink.cancel()
      assert.equal(await store.list(), [])
      await rejectsWith(store.open(sink.id), 'SnapshotNotFoundError')
      await rejectsWith(sink.write(Uint8Array.of(1)), 'Error')
      await rejectsWith(sink.close(), 'Error')
    }),
  )

  test(
    'close() twice is harmless; cancel() after close() keeps the snapshot; write() after close() rejects',
    withStore(2, async (store) => {
      const sink = await store.create({
        index: 7,
        term: 1,
        configuration: configurationOf('a'),
        configurationIndex: 1,
      })
      await sink.write(encoder.encode('kept'))
      await sink.close()
      await sink.close()
      await sink.cancel()
      await rejectsWith(sink.write(Uint8Array.of(1)), 'Error')
      assert.equal(await readAll((await store.open(sink.id)).data), encoder.encode('kept'))
    }),
  )

  test(
    'retain keeps the newest snapshots and deletes the oldest',
    withStore(2, async (store) => {
      const first = await writeSnapshot(store, 10, 1)
      const second = await writeSnapshot(store, 20, 1)
      const third = await writeSnapshot(store, 30, 2)
      assert.equal(
        (await store.list()).map((m) => m.id),
        [third, second],
      )
      await rejectsWith(store.open(first), 'SnapshotNotFoundError')
      assert.equal(await readAll((await store.open(second)).data), encoder.encode('state at 20'))
    }),
  )

  test(
    'two snapshots can be written at once',
    withStore(2, async (store) => {
      const config = { configuration: configurationOf('a'), configurationIndex: 1 }
      const one = await store.create({ index: 1, term: 1, ...config })
      const two = await store.create({ index: 2, term: 1, ...config })
      assert.is.not(one.id, two.id)
      await Promise.all([one.write(encoder.encode('one')), two.write(encoder.encode('two'))])
      await Promise.all([two.close(), one.close()])
      assert.equal(await readAll((await store.open(one.id)).data), encoder.encode('one'))
      assert.equal(await readAll((await store.open(two.id)).data), encoder.encode('two'))
    }),
  )

  test(
    'metadata is copied in and out',
    withStore(2, async (store) => {
      const configuration = configurationOf('a')
      const sink = await store.create({ index: 1, term: 1, configuration, configurationIndex: 1 })
      configuration.servers.push(...configurationOf('b').servers)
      configuration.servers[0]!.suffrage = 'nonvoter'
      await sink.close()
      const [listed] = await store.list()
      assert.equal(listed!.configuration, configurationOf('a'))
      listed!.configuration.servers.length = 0
      listed!.index = 99
      const opened = await store.open(sink.id)
      assert.equal(opened.meta.configuration, configurationOf('a'))
      assert.is(opened.meta.index, 1)
    }),
  )

  test(
    'open() of an unknown id rejects with SnapshotNotFoundError',
    withStore(2, async (store) => {
      await writeSnapshot(store, 1, 1)
      for (const id of ['9-9-9', '', 'nope', '../etc', '1-1-1.tmp']) {
        try {
          await store.open(id)
          assert.unreachable(`open(${JSON.stringify(id)}) resolved`)
        } catch (err) {
          assert.instance(err, SnapshotNotFoundError)
          assert.is((err as SnapshotNotFoundError).snapshotId, id)
        }
      }
    }),
  )

  test(
    'reopening a durable store finds its snapshots again',
    withStore(2, async (_store, harness) => {
      // Stores without storage to reopen (in memory) have nothing to show here.
      if (!harness.reopen) return
      const store = harness.store
      const older = await writeSnapshot(store, 10, 1, [encoder.encode('ten')])
      const newer = await writeSnapshot(store, 20, 2, [encoder.encode('twenty')])
      const before = await store.list()
      const reopened = await harness.reopen()
      assert.equal(await reopened.list(), before)
      assert.equal(
        before.map((m) => m.id),
        [newer, older],
      )
      assert.equal(await readAll((await reopened.open(older)).data), encoder.encode('ten'))
      assert.equal(await readAll((await reopened.open(newer)).data), encoder.encode('twenty'))
      // Retention keeps working across the reopen.
      const newest = await writeSnapshot(reopened, 30, 2)
      assert.equal(
        (await reopened.list()).map((m) => m.id),
        [newest, newer],
      )
    }),
  )

  test.run()
}

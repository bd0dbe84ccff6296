import '../../src/util/polyfill.js'
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { FileSnapshotStore } from '../../src/raft/file-snapshot-store.js'
import { InmemSnapshotStore } from '../../src/raft/inmem-snapshot-store.js'
import { ManualClock } from '../../src/util/clock.js'
import { rejectsWith } from '../support/assertions.js'
import {
  concat,
  configurationOf,
  readAll,
  snapshotStoreSuite,
  writeSnapshot,
} from './snapshot-store-suite.js'

snapshotStoreSuite('InmemSnapshotStore', async (retain) => ({
  store: new InmemSnapshotStore({ retain }),
  close: async () => {},
}))

snapshotStoreSuite('FileSnapshotStore', async (retain) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-snapshots-'))
  // A manual clock that never moves: ids stay unique through the store's own bumping.
  const clock = new ManualClock()
  return {
    store: await FileSnapshotStore.open(dir, { retain, clock }),
    reopen: () => FileSnapshotStore.open(dir, { retain, clock }),
    close: () => rm(dir, { recursive: true, force: true }),
  }
})

const encoder = new TextEncoder()

/** Runs `fn` with a fresh directory under the system temp dir, removed afterwards. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-snapshots-'))
  try {
    await fn(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

test('FileSnapshotStore: a closed snapshot is <id>/state.bin and <id>/meta.json, with no .tmp left', () =>
  inTempDir(async (dir) => {
    const store = await FileSnapshotStore.open(dir, { clock: new ManualClock(5) })
    const id = await writeSnapshot(store, 10, 1, [encoder.encode('abc')])
    assert.is(id, '1-10-0000000000005', 'the ms part comes from the clock, zero-padded')
    assert.equal(await readdir(dir), [id])
    assert.equal((await readdir(join(dir, id))).sort(), ['meta.json', 'state.bin'])
    assert.equal(new Uint8Array(await readFile(join(dir, id, 'state.bin'))), encoder.encode('abc'))
    const meta = JSON.parse(await readFile(join(dir, id, 'meta.json'), 'utf8')) as Record<string, unknown>
    assert.is(meta.size, 3)
    assert.is(meta.version, 1)
    // sha256('abc')
    assert.is(meta.sha256, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    // Same term and index in the same millisecond: the id still differs, and sorts newer.
    const again = await writeSnapshot(store, 10, 1)
    assert.is(again, '1-10-0000000000006')
    assert.equal(
      (await store.list()).map((m) => m.id),
      [again, id],
    )
  }))

test('FileSnapshotStore: an unfinished snapshot is a .tmp directory that list() ignores and open() removes', () =>
  inTempDir(async (dir) => {
    const store = await FileSnapshotStore.open(dir)
    const kept = await writeSnapshot(store, 1, 1)
    // As if the process died while writing: never closed nor cancelled.
    const crashed = await store.create({
      index: 2,
      term: 1,
      configuration: configurationOf('a'),
      configurationIndex: 1,
    })
    await crashed.write(encoder.encode('half'))
    await mkdir(join(dir, '7-7-0000000000007.tmp'))
    assert.equal(
      (await store.list()).map((m) => m.id),
      [kept],
    )
    await crashed.cancel()
    await mkdir(join(dir, `${crashed.id}.tmp`))
    await writeFile(join(dir, `${crashed.id}.tmp`, 'state.bin'), 'half')
    const reopened = await FileSnapshotStore.open(dir)
    assert.equal(await readdir(dir), [kept])
    assert.equal(
      (await reopened.list()).map((m) => m.id),
      [kept],
    )
  }))

test('FileSnapshotStore: cancel() removes the .tmp directory', () =>
  inTempDir(async (dir) => {
    const store = await FileSnapshotStore.open(dir)
    const sink = await store.create({
      index: 2,
      term: 1,
      configuration: configurationOf('a'),
      configurationIndex: 1,
    })
    await sink.write(encoder.encode('partial'))
    assert.equal(await readdir(dir), [`${sink.id}.tmp`])
    await sink.cancel()
    assert.equal(await readdir(dir), [])
  }))

test('FileSnapshotStore: a corrupted state.bin fails the read at the end', () =>
  inTempDir(async (dir) => {
    const store = await FileSnapshotStore.open(dir)
    const data = new Uint8Array(700_000).fill(3)
    const id = await writeSnapshot(store, 5, 1, [data])
    const path = join(dir, id, 'state.bin')
    const bytes = await readFile(path)
    bytes[600_000] = 4
    await writeFile(path, bytes)
    const opened = await store.open(id)
    await rejectsWith(readAll(opened.data), 'SnapshotCorruptError')
  }))

test('FileSnapshotStore: a truncated state.bin fails open()', () =>
  inTempDir(async (dir) => {
    const store = await FileSnapshotStore.open(dir)
    const id = await writeSnapshot(store, 5, 1, [encoder.encode('some state')])
    await truncate(join(dir, id, 'state.bin'), 4)
    await rejectsWith(store.open(id), 'SnapshotCorruptError')
  }))

test('FileSnapshotStore: a directory with unreadable metadata is not listed', () =>
  inTempDir(async (dir) => {
    const store = await FileSnapshotStore.open(dir)
    const good = await writeSnapshot(store, 1, 1)
    const garbled = '2-2-0000000000002'
    await mkdir(join(dir, garbled))
    await writeFile(join(dir, garbled, 'meta.json'), '{"version":1,')
    await writeFile(join(dir, garbled, 'state.bin'), '')
    const missing = '3-3-0000000000003'
    await mkdir(join(dir, missing))
    await mkdir(join(dir, 'not-a-snapshot'))
    assert.equal(
      (await store.list()).map((m) => m.id),
      [good],
    )
    await rejectsWith(store.open(garbled), 'SnapshotCorruptError')
    await rejectsWith(store.open(missing), 'SnapshotNotFoundError')
  }))

test('FileSnapshotStore: a snapshot being read stays readable after retention deletes it', () =>
  inTempDir(async (dir) => {
    const store = await FileSnapshotStore.open(dir, { retain: 1 })
    const data = new Uint8Array(1_000_000).map((_, i) => i % 251)
    const old = await writeSnapshot(store, 1, 1, [data])
    const reader = (await store.open(old)).data[Symbol.asyncIterator]()
    const first = await reader.next()
    assert.ok(!first.done)
    const chunks: Uint8Array[] = [first.value]
    await writeSnapshot(store, 2, 1)
    await rejectsWith(store.open(old), 'SnapshotNotFoundError')
    for (let next = await reader.next(); !next.done; next = await reader.next()) chunks.push(next.value)
    assert.equal(concat(chunks), data)
  }))

test('FileSnapshotStore: a snapshot deleted before its first read rejects the read with SnapshotNotFoundError', () =>
  inTempDir(async (dir) => {
    const store = await FileSnapshotStore.open(dir, { retain: 1 })
    const old = await writeSnapshot(store, 1, 1)
    const opened = await store.open(old)
    await writeSnapshot(store, 2, 1)
    await rejectsWith(readAll(opened.data), 'SnapshotNotFoundError')
  }))

test('FileSnapshotStore: ending a read early closes the file; an unread snapshot holds none', () =>
  inTempDir(async (dir) => {
    // Counts this process's open file descriptors where the OS shows them (Linux).
    const openFds = async (): Promise<number | undefined> =>
      (await readdir('/proc/self/fd').catch(() => undefined))?.length
    const store = await FileSnapshotStore.open(dir)
    const id = await writeSnapshot(store, 1, 1, [new Uint8Array(1_000_000)])
    const before = await openFds()
    const unread = await store.open(id)
    assert.is(await openFds(), before)
    for await (const chunk of (await store.open(id)).data) {
      assert.ok(chunk.byteLength > 0)
      break
    }
    assert.is(await openFds(), before)
    assert.is(unread.meta.id, id)
  }))

test('snapshot stores reject a retain below 1', async () => {
  assert.throws(
    () => new InmemSnapshotStore({ retain: 0 }),
    (err: Error) => err instanceof RangeError,
  )
  await inTempDir(async (dir) => {
    await rejectsWith(FileSnapshotStore.open(dir, { retain: 1.5 }), 'RangeError')
  })
})

test.run()

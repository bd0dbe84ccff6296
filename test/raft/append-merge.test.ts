import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { groupAppends } from '../../src/raft/append-merge.js'
import { encodeConfiguration } from '../../src/raft/configuration.js'
import type { FSM, FSMSnapshot } from '../../src/raft/fsm.js'
import { InmemSnapshotStore } from '../../src/raft/inmem-snapshot-store.js'
import { InmemStore } from '../../src/raft/inmem-store.js'
import { type LogEntry, LogType } from '../../src/raft/log.js'
import { Raft } from '../../src/raft/raft.js'
import type { AppendEntriesRequest, Peer } from '../../src/raft/transport.js'
import { ManualClock } from '../../src/util/clock.js'
import { SeededRng } from '../../src/util/random.js'
import { FakeTransport } from './fake-transport.js'

const peer = (id: string): Peer => ({ id, address: `a-${id}` })
const entry = (index: number, term: number): LogEntry => ({
  index,
  term,
  type: LogType.Command,
  data: new Uint8Array([index]),
})

/** An append from leader L in `term` carrying entries `from..to` (none when to < from). */
function append(
  prev: number,
  prevTerm: number,
  to: number,
  term = 2,
  commit = 0,
  leader = 'L',
): AppendEntriesRequest {
  const entries: LogEntry[] = []
  for (let i = prev + 1; i <= to; i++) entries.push(entry(i, term))
  return {
    from: peer(leader),
    term,
    prevLogIndex: prev,
    prevLogTerm: prevTerm,
    entries,
    leaderCommit: commit,
  }
}

test('groupAppends: requests that continue each other join; anything else starts a group', () => {
  const groups = groupAppends([
    append(0, 0, 3, 2, 1),
    append(3, 2, 5, 2, 3),
    append(5, 2, 4, 2, 5), // a heartbeat after entry 5: joins, carrying the newer commit
    append(2, 2, 4), // a retransmission: not a continuation
    append(4, 2, 6, 3), // a new term
    append(6, 3, 7, 3, 0, 'M'), // another leader
    append(7, 9, 8, 3, 0, 'M'), // says entry 7 has term 9: not the entry before it
  ])
  assert.equal(
    groups.map((g) => [g.from, g.to]),
    [
      [0, 3],
      [3, 4],
      [4, 5],
      [5, 6],
      [6, 7],
    ],
  )
  const joined = groups[0]!.request
  assert.equal(
    joined.entries.map((e) => e.index),
    [1, 2, 3, 4, 5],
  )
  assert.is(joined.prevLogIndex, 0)
  assert.is(joined.leaderCommit, 5)
  assert.equal(groupAppends([]), [])
})

class NullFsm implements FSM {
  applied: number[] = []
  apply(e: LogEntry): unknown {
    this.applied.push(e.index)
    return null
  }
  async snapshot(): Promise<FSMSnapshot> {
    return { persist: async (sink) => sink.close(), release: () => {} }
  }
  async restore(): Promise<void> {}
}

/** An in-memory log that counts its writes. */
class CountingStore extends InmemStore {
  writes: number[][] = []
  override async storeLogs(entries: LogEntry[]): Promise<void> {
    this.writes.push(entries.map((e) => e.index))
    return super.storeLogs(entries)
  }
}

test('a follower handed several continuing appends at once writes them once, and answers each', async () => {
  const store = new CountingStore()
  // A follower that knows the cluster (L, F, G) from its first log entry.
  await store.storeLogs([
    {
      index: 1,
      term: 1,
      type: LogType.Configuration,
      data: encodeConfiguration({
        servers: ['L', 'F', 'G'].map((id) => ({ id, address: `a-${id}`, suffrage: 'voter' as const })),
      }),
    },
  ])
  store.writes = []
  const transport = new FakeTransport('a-F')
  const fsm = new NullFsm()
  const raft = new Raft({
    id: 'F',
    fsm,
    logStore: store,
    stableStore: store,
    snapshotStore: new InmemSnapshotStore(),
    transport,
    clock: new ManualClock(),
    rng: new SeededRng(3),
    config: {},
  })
  await raft.start()
  // As the transport calls the handler for each request read in one go: synchronously.
  const answers = [append(1, 1, 4, 2, 1), append(4, 2, 6, 2, 4), append(6, 2, 8, 2, 6)].map((req) =>
    transport.handler.appendEntries(req),
  )
  const responses = await Promise.all(answers)
  assert.equal(store.writes, [[2, 3, 4, 5, 6, 7, 8]], 'one write for the three requests')
  for (const r of responses) assert.equal(r, { term: 2, success: true, lastLogIndex: 8 })
  assert.is(raft.stats().commitIndex, 6)

  // One that does not continue (a retransmission of 5..6) is handled on its own, after.
  const again = await Promise.all([
    transport.handler.appendEntries(append(8, 2, 9, 2, 8)),
    transport.handler.appendEntries(append(4, 2, 6, 2, 8)),
  ])
  assert.equal(store.writes.slice(1), [[9]], 'the retransmitted entries are there already')
  assert.ok(again.every((r) => r.success))
  await raft.shutdown()
})

test.run()

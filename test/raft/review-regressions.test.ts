import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { RaftConfig } from '../../src/raft/config.js'
import { type Configuration, encodeConfiguration } from '../../src/raft/configuration.js'
import type { FSM, FSMSnapshot } from '../../src/raft/fsm.js'
import { InmemSnapshotStore } from '../../src/raft/inmem-snapshot-store.js'
import { InmemStore } from '../../src/raft/inmem-store.js'
import { type LogEntry, LogType } from '../../src/raft/log.js'
import { Raft, type RaftState } from '../../src/raft/raft.js'
import type { SnapshotSink } from '../../src/raft/snapshot.js'
import { StableKeys } from '../../src/raft/stable.js'
import type { AppendEntriesResponse, InstallSnapshotRequest, Peer } from '../../src/raft/transport.js'
import { ManualClock } from '../../src/util/clock.js'
import { SeededRng } from '../../src/util/random.js'
import { ackAppend, FakeTransport, grantVote } from './fake-transport.js'

// Regression tests for bugs found in review of src/raft/raft.ts. Each test drives one server
// by hand through a FakeTransport (calling its RPC handlers directly, scripting what the
// other servers answer) on a ManualClock; nothing sleeps.

const test = suite('raft review regressions')

const enc = new TextEncoder()

/** Lets pending promise chains (storage, queues, answers) settle. */
async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r))
}

/** Moves the clock forward by `ms`, firing every timer due on the way and settling after each. */
async function runFor(clock: ManualClock, ms: number): Promise<void> {
  const end = clock.now() + ms
  for (;;) {
    await flush()
    const next = clock.nextDueMs()
    if (next === null || next > end) break
    clock.fireNext(end)
  }
  clock.advance(Math.max(0, end - clock.now()))
  await flush()
}

/** Fires timers until `raft` is leader (a bounded number of them). */
async function electLeader(raft: Raft, clock: ManualClock): Promise<void> {
  for (let i = 0; i < 100 && raft.state() !== 'leader'; i++) {
    clock.fireNext(clock.now() + 10_000)
    await flush()
  }
  assert.is(raft.state(), 'leader', 'the server under test became leader')
}

/** How a promise settled, as far as it has. */
interface Outcome<T> {
  done: boolean
  value?: T
  error?: Error
}

/** Tracks how `p` settles, for asserting on outcomes without unhandled rejections. */
function outcome<T>(p: Promise<T>): Outcome<T> {
  const o: Outcome<T> = { done: false }
  p.then(
    (value) => {
      o.done = true
      o.value = value
    },
    (error: Error) => {
      o.done = true
      o.error = error
    },
  )
  return o
}

function cfg(...ids: string[]): Configuration {
  return { servers: ids.map((id) => ({ id, address: `a-${id}`, suffrage: 'voter' as const })) }
}

function ids(c: Configuration): string {
  return c.servers.map((s) => s.id).join(',')
}

function peer(id: string): Peer {
  return { id, address: `a-${id}` }
}

function entry(index: number, term: number, type: LogType, data: Uint8Array = new Uint8Array(0)): LogEntry {
  return { index, term, type, data }
}

/** An FSM that records which indexes it applied, with switches to make it fail. */
class TestFsm implements FSM {
  applied: number[] = []
  restores = 0
  restoredBytes = 0
  /** apply() throws for this index... */
  throwOn: number | null = null
  /**
   * ...this many times, then succeeds: a circuit breaker so that a Raft that retries a
   * failing entry in a tight loop ends the test (as a failure) instead of hanging it.
   */
  throwsLeft = 1000
  throwAttempts = 0
  failRestore = false

  apply(e: LogEntry): unknown {
    if (this.throwOn !== null && e.index === this.throwOn && this.throwsLeft > 0) {
      this.throwsLeft--
      this.throwAttempts++
      throw new Error('fsm boom')
    }
    this.applied.push(e.index)
    return e.index
  }

  async snapshot(): Promise<FSMSnapshot> {
    const state = enc.encode(JSON.stringify(this.applied))
    return {
      persist: async (sink: SnapshotSink) => {
        await sink.write(state)
      },
      release() {},
    }
  }

  async restore(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    let bytes = 0
    if (data instanceof Uint8Array) bytes = data.length
    else for await (const chunk of data) bytes += chunk.length
    this.restoredBytes = bytes
    if (this.failRestore) throw new Error('restore failed (disk full / corrupt chunk)')
    this.restores++
    this.applied = []
  }
}

interface Server {
  raft: Raft
  clock: ManualClock
  store: InmemStore
  snaps: InmemSnapshotStore
  transport: FakeTransport
  fsm: TestFsm
}

function newServer(
  id: string,
  opts: {
    store?: InmemStore
    snaps?: InmemSnapshotStore
    clock?: ManualClock
    config?: Partial<RaftConfig>
  } = {},
): Server {
  const clock = opts.clock ?? new ManualClock()
  const store = opts.store ?? new InmemStore()
  const snaps = opts.snaps ?? new InmemSnapshotStore()
  const transport = new FakeTransport(`a-${id}`)
  const fsm = new TestFsm()
  const raft = new Raft({
    id,
    fsm,
    logStore: store,
    stableStore: store,
    snapshotStore: snaps,
    transport,
    clock,
    rng: new SeededRng(7),
    config: opts.config ?? {},
  })
  return { raft, clock, store, snaps, transport, fsm }
}

function snapshotRequest(over: Partial<InstallSnapshotRequest>): InstallSnapshotRequest {
  return {
    from: peer('L'),
    term: 2,
    snapshotId: 'snap-x',
    lastIndex: 5,
    lastTerm: 2,
    configuration: cfg('L', 'F', 'G'),
    configurationIndex: 1,
    size: 2,
    offset: 0,
    data: enc.encode('ab'),
    done: true,
    ...over,
  }
}

// ---------------------------------------------------------------- 1. duplicate InstallSnapshot

test('duplicate InstallSnapshot at or below commitIndex is acknowledged and keeps the log (snapdup)', async () => {
  const { raft, store, snaps, transport: t, fsm } = newServer('F')
  await raft.start()
  const first = await t.handler.installSnapshot(snapshotRequest({}))
  assert.is(first.success, true, 'first install accepted')
  const ents = [6, 7, 8, 9, 10].map((i) => entry(i, 2, LogType.Command, enc.encode(`x${i}`)))
  const ae = await t.handler.appendEntries({
    from: peer('L'),
    term: 2,
    prevLogIndex: 5,
    prevLogTerm: 2,
    entries: ents,
    leaderCommit: 8,
  })
  assert.is(ae.success, true)
  await flush()
  let s = raft.stats()
  assert.is(s.lastLogIndex, 10)
  assert.is(s.commitIndex, 8)
  assert.is(s.appliedIndex, 8)
  assert.is(fsm.restores, 1)
  assert.is(fsm.restoredBytes, 2, 'the FSM restored the snapshot data')
  const snapshotsBefore = (await snaps.list()).length

  // A delayed copy of the same one-chunk snapshot, in the same term.
  const dup = await t.handler.installSnapshot(snapshotRequest({}))
  assert.is(dup.success, true, 'duplicate acknowledged')
  assert.is(dup.term, 2)
  // The same snapshot retransmitted in two chunks.
  const c1 = await t.handler.installSnapshot(
    snapshotRequest({ snapshotId: 'snap-y', data: enc.encode('a'), done: false }),
  )
  assert.is(c1.success, true, 'chunk 1 of a retransmission acknowledged')
  assert.is(c1.nextOffset, 1)
  const c2 = await t.handler.installSnapshot(
    snapshotRequest({ snapshotId: 'snap-y', offset: 1, data: enc.encode('b'), done: true }),
  )
  assert.is(c2.success, true, 'chunk 2 of a retransmission acknowledged')
  await flush()

  s = raft.stats()
  assert.is(s.lastLogIndex, 10, 'lastLogIndex not lowered')
  assert.is(s.lastLogTerm, 2)
  assert.is(s.commitIndex, 8, 'commitIndex not lowered')
  assert.is(s.appliedIndex, 8, 'appliedIndex not lowered')
  assert.is(s.lastSnapshotIndex, 5)
  assert.is(await store.firstIndex(), 6, 'log not truncated (first)')
  assert.is(await store.lastIndex(), 10, 'log not truncated (last)')
  for (let i = 6; i <= 10; i++) assert.is((await store.getLog(i))?.term, 2, `entry ${i} still held`)
  assert.is(fsm.restores, 1, 'the FSM was not rolled back to the older snapshot')
  assert.is((await snaps.list()).length, snapshotsBefore, 'no second copy of the snapshot stored')

  // The follower still matches the leader at 10: the next append goes on from there.
  const next = await t.handler.appendEntries({
    from: peer('L'),
    term: 2,
    prevLogIndex: 10,
    prevLogTerm: 2,
    entries: [entry(11, 2, LogType.Command, enc.encode('x11'))],
    leaderCommit: 11,
  })
  assert.is(next.success, true, 'append after the duplicate still matches')
  assert.is(next.lastLogIndex, 11)
  await flush()
  assert.is(raft.stats().appliedIndex, 11)
  assert.equal(fsm.applied, [6, 7, 8, 9, 10, 11])
  await raft.shutdown()
})

// ---------------------------------------------------------------- 2. configuration rollback

test('truncation rolls the latest configuration back to the last one left in the log (cfgroll)', async () => {
  const { raft, store, snaps, transport: t } = newServer('A')
  await raft.bootstrapCluster(cfg('A', 'B', 'C'))
  await raft.start()
  const c1 = cfg('A', 'B', 'C', 'D')
  const c2 = cfg('A', 'B', 'C', 'D', 'E')
  const c3 = cfg('A', 'B', 'C', 'D', 'E', 'F')
  // Term 2, leader B: C1 at 2, C2 at 3 (committed on B), C3 at 4 (not). A's commitIndex lags at 1.
  const r1 = await t.handler.appendEntries({
    from: peer('B'),
    term: 2,
    prevLogIndex: 1,
    prevLogTerm: 1,
    leaderCommit: 1,
    entries: [
      entry(2, 2, LogType.Configuration, encodeConfiguration(c1)),
      entry(3, 2, LogType.Configuration, encodeConfiguration(c2)),
      entry(4, 2, LogType.Configuration, encodeConfiguration(c3)),
    ],
  })
  assert.is(r1.success, true)
  assert.is(ids(raft.getConfiguration()), 'A,B,C,D,E,F')
  assert.is(raft.stats().latestConfigurationIndex, 4)

  // Term 3, leader C has 1..3 but not 4: its no-op overwrites 4.
  const r2 = await t.handler.appendEntries({
    from: peer('C'),
    term: 3,
    prevLogIndex: 3,
    prevLogTerm: 2,
    leaderCommit: 1,
    entries: [entry(4, 3, LogType.Noop)],
  })
  assert.is(r2.success, true)
  assert.is(raft.stats().lastLogIndex, 4)
  assert.is(raft.stats().lastLogTerm, 3)
  assert.is((await store.getLog(4))?.type, LogType.Noop)
  assert.is(ids(raft.getConfiguration()), 'A,B,C,D,E', 'latest = C2, the last configuration still in the log')
  assert.is(raft.stats().latestConfigurationIndex, 3)

  const r3 = await t.handler.appendEntries({
    from: peer('C'),
    term: 3,
    prevLogIndex: 4,
    prevLogTerm: 3,
    leaderCommit: 4,
    entries: [],
  })
  assert.is(r3.success, true)
  await flush()
  assert.is(raft.stats().commitIndex, 4)
  assert.is(ids(raft.getConfiguration()), 'A,B,C,D,E')
  assert.is(raft.stats().latestConfigurationIndex, 3)
  assert.is(raft.stats().committedConfigurationIndex, 3)
  await raft.shutdown()

  // A restart on the same storage agrees.
  const again = newServer('A', { store, snaps })
  await again.raft.start()
  assert.is(ids(again.raft.getConfiguration()), 'A,B,C,D,E')
  assert.is(again.raft.stats().latestConfigurationIndex, 3)
  await again.raft.shutdown()
})

// ---------------------------------------------------------------- 3. config change before the no-op commits

/**
 * A (of {A,B,C}) holds entry 2 of term 2 uncommitted, wins term 3 with votes from B and C,
 * and appends its no-op at 3; nobody acknowledges it yet.
 */
async function leaderWithUncommittedNoop(): Promise<Server> {
  const server = newServer('A')
  const { raft, clock, transport: t } = server
  t.responders.requestVote = grantVote
  await raft.bootstrapCluster(cfg('A', 'B', 'C'))
  await raft.start()
  const r = await t.handler.appendEntries({
    from: peer('B'),
    term: 2,
    prevLogIndex: 1,
    prevLogTerm: 1,
    leaderCommit: 1,
    entries: [entry(2, 2, LogType.Command, enc.encode('x'))],
  })
  assert.is(r.success, true)
  await electLeader(raft, clock)
  await flush()
  const s = raft.stats()
  assert.is(s.term, 3)
  assert.is(s.lastLogIndex, 3, 'no-op appended')
  assert.is((await server.store.getLog(3))?.type, LogType.Noop)
  assert.is(s.commitIndex, 1, 'no-op not committed yet')
  return server
}

/** Lets B acknowledge everything, pending or future, and waits for `done`. */
async function letBAcknowledge(server: Server, done: () => boolean): Promise<void> {
  const t = server.transport
  t.responders.appendEntries = (target, req) => (target.id === 'B' ? ackAppend(target, req) : undefined)
  for (const rpc of t.pending('appendEntries', 'B')) rpc.answer(ackAppend(rpc.target, rpc.req))
  for (let i = 0; i < 50 && !done(); i++) await flush()
}

async function configTypes(store: InmemStore, last: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 1; i <= last; i++) if ((await store.getLog(i))?.type === LogType.Configuration) out.push(i)
  return out
}

test('new leader: addNonvoter waits until its own-term no-op has committed (cfgnoop)', async () => {
  const server = await leaderWithUncommittedNoop()
  const { raft, store } = server
  const add = outcome(raft.addNonvoter('D', 'a-D', { timeoutMs: 60_000 }))
  await flush(10)
  assert.is(add.done, false, 'addNonvoter still waiting')
  let s = raft.stats()
  assert.is(s.lastLogIndex, 3, 'no configuration entry appended before the no-op commits')
  assert.is(s.latestConfigurationIndex, 1)
  assert.equal(await configTypes(store, await store.lastIndex()), [1])
  assert.is(ids(raft.getConfiguration()), 'A,B,C')

  await letBAcknowledge(server, () => add.done)
  assert.is(add.done, true, 'addNonvoter settled once the no-op committed')
  assert.is(add.error, undefined, `addNonvoter succeeded (${add.error?.message})`)
  s = raft.stats()
  assert.ok(s.commitIndex >= 4)
  assert.is(s.latestConfigurationIndex, 4, 'the change went in after the no-op')
  assert.is((await store.getLog(4))?.type, LogType.Configuration)
  assert.is((await store.getLog(4))?.term, 3)
  const d = raft.getConfiguration().servers.find((x) => x.id === 'D')
  assert.is(d?.suffrage, 'nonvoter')
  await raft.shutdown()
})

test('new leader: removeServer waits until its own-term no-op has committed (cfgnoop)', async () => {
  const server = await leaderWithUncommittedNoop()
  const { raft, store } = server
  const remove = outcome(raft.removeServer('C', { timeoutMs: 60_000 }))
  await flush(10)
  assert.is(remove.done, false, 'removeServer still waiting')
  assert.is(raft.stats().lastLogIndex, 3, 'no configuration entry appended before the no-op commits')
  assert.is(raft.stats().latestConfigurationIndex, 1)
  assert.is(ids(raft.getConfiguration()), 'A,B,C')

  await letBAcknowledge(server, () => remove.done)
  assert.is(remove.done, true, 'removeServer settled once the no-op committed')
  assert.is(remove.error, undefined, `removeServer succeeded (${remove.error?.message})`)
  assert.is(raft.stats().latestConfigurationIndex, 4)
  assert.is((await store.getLog(4))?.type, LogType.Configuration)
  assert.is(ids(raft.getConfiguration()), 'A,B')
  await raft.shutdown()
})

// ---------------------------------------------------------------- 4. zombie handler after shutdown

/** An InmemStore whose stable-store writes wait for `gate` while it is set. */
class GatedStore extends InmemStore {
  gate: Promise<void> | null = null

  override async setUint64(key: string, value: number): Promise<void> {
    if (this.gate) await this.gate
    return super.setUint64(key, value)
  }

  override async set(key: string, value: Uint8Array): Promise<void> {
    if (this.gate) await this.gate
    return super.set(key, value)
  }
}

test('shutdown while a vote waits on storage: no grant, no vote written, no life after shutdown (zombie)', async () => {
  const store = new GatedStore()
  const clock = new ManualClock()
  const { raft, transport: t, snaps } = newServer('A', { store, clock })
  await raft.bootstrapCluster(cfg('A', 'B', 'C'))
  await raft.start()
  const states: RaftState[] = []
  raft.on('state', (s: RaftState) => states.push(s))
  let open!: () => void
  store.gate = new Promise<void>((resolve) => {
    open = resolve
  })

  // A RequestVote from X at term 5 is being handled: its term write is stuck on the disk.
  const vote = outcome(
    t.handler.requestVote({
      from: peer('X'),
      term: 5,
      lastLogIndex: 1,
      lastLogTerm: 1,
      preVote: false,
      leadershipTransfer: false,
    }),
  )
  await flush()
  assert.is(vote.done, false, 'the handler is waiting on storage')

  // Shut down meanwhile; the disk then finishes the write (shutdown waits for running tasks).
  const down = raft.shutdown()
  await flush()
  assert.is(raft.state(), 'shutdown')
  open()
  await down
  await flush()

  assert.is(vote.done, true, 'the handler settled')
  assert.is(vote.value?.granted === true, false, 'the vote was not granted')
  assert.ok(vote.error, 'a shut-down server does not answer')
  assert.is(await store.get(StableKeys.lastVoteCandidate), undefined, 'no vote written')
  assert.is(await store.getUint64(StableKeys.lastVoteTerm), 0, 'no vote term written')
  assert.is(raft.state(), 'shutdown')
  assert.equal(states, ['shutdown'], 'no state event after shutdown')
  assert.is(clock.pendingTimers(), 0, 'no timer armed after shutdown')
  await runFor(clock, 5_000)
  assert.is(raft.state(), 'shutdown', 'still shut down after time passes')
  assert.equal(states, ['shutdown'])

  // A new instance on the same storage may still vote in term 5: nobody voted in it.
  store.gate = null
  const next = newServer('A', { store, snaps, clock })
  await next.raft.start()
  const v2 = await next.transport.handler.requestVote({
    from: peer('Y'),
    term: 5,
    lastLogIndex: 1,
    lastLogTerm: 1,
    preVote: false,
    leadershipTransfer: false,
  })
  assert.is(v2.granted, true, 'the new instance grants Y in term 5')
  assert.is(v2.term, 5)
  await next.raft.shutdown()
})

// ---------------------------------------------------------------- 5. FSM apply throws

test('an FSM whose apply throws shuts Raft down with an fsm-error event, without spinning (fsmthrow)', async () => {
  const { raft, clock, fsm } = newServer('A')
  await raft.bootstrapCluster(cfg('A'))
  await raft.start()
  await electLeader(raft, clock)
  await flush()
  const applied = raft.stats().appliedIndex
  assert.is(raft.stats().commitIndex, applied, 'no-op committed and applied')

  const errors: unknown[] = []
  const states: RaftState[] = []
  raft.on('fsm-error', (err: unknown) => errors.push(err))
  raft.on('state', (s: RaftState) => states.push(s))
  fsm.throwOn = raft.stats().lastLogIndex + 1
  const p = outcome(raft.apply(enc.encode('x'), { timeoutMs: 60_000 }))
  // Settling at all shows the event loop is alive (setImmediate callbacks run).
  await flush(10)

  assert.is(fsm.throwAttempts, 1, 'the failing entry was tried once, not retried in a loop')
  assert.is(errors.length, 1, 'one fsm-error event')
  assert.instance(errors[0], Error)
  assert.is((errors[0] as Error).message, 'fsm boom')
  assert.is(raft.state(), 'shutdown')
  assert.ok(states.includes('shutdown'), 'a shutdown state event')
  assert.is(p.done, true, 'the apply() caller got an answer')
  assert.ok(p.error, `apply rejected (got ${JSON.stringify(p.value)})`)
  assert.is(raft.stats().appliedIndex, applied, 'the failing entry counts as not applied')
  await raft.shutdown()
})

// ---------------------------------------------------------------- 6. FSM restore fails

test('a failed FSM restore during InstallSnapshot changes nothing and the server keeps working (restorefail)', async () => {
  const { raft, store, transport: t, fsm } = newServer('F')
  await raft.start()
  fsm.failRestore = true
  const req = snapshotRequest({ size: 1, data: enc.encode('a') })
  const res = outcome(t.handler.installSnapshot(req))
  await flush()
  assert.is(res.done, true)
  assert.is(res.value?.success === true, false, 'the install is not acknowledged as a success')
  let s = raft.stats()
  assert.is(s.commitIndex, 0, 'commitIndex untouched')
  assert.is(s.appliedIndex, 0, 'appliedIndex untouched')
  assert.is(s.lastLogIndex, 0, 'log untouched')
  assert.is(s.lastSnapshotIndex, 0, 'snapshot not installed')
  assert.is(await store.lastIndex(), 0)

  // The next heartbeat carries a higher commit index: refused (our log is short), and the
  // event loop stays alive (flush returns).
  const hb = await t.handler.appendEntries({
    from: peer('L'),
    term: 2,
    prevLogIndex: 5,
    prevLogTerm: 2,
    leaderCommit: 6,
    entries: [entry(6, 2, LogType.Command, enc.encode('y'))],
  })
  assert.is(hb.success, false)
  assert.is(hb.conflictIndex, 1)
  await flush(10)
  s = raft.stats()
  assert.is(s.commitIndex, 0)
  assert.is(s.appliedIndex, 0)

  // The leader retries once the FSM can restore: it installs and the server catches up.
  fsm.failRestore = false
  const retry = await t.handler.installSnapshot(
    snapshotRequest({ snapshotId: 'snap-2', size: 1, data: enc.encode('a') }),
  )
  assert.is(retry.success, true)
  s = raft.stats()
  assert.is(s.commitIndex, 5)
  assert.is(s.appliedIndex, 5)
  assert.is(s.lastLogIndex, 5)
  assert.is(s.lastSnapshotIndex, 5)
  const ae = await t.handler.appendEntries({
    from: peer('L'),
    term: 2,
    prevLogIndex: 5,
    prevLogTerm: 2,
    leaderCommit: 6,
    entries: [entry(6, 2, LogType.Command, enc.encode('y'))],
  })
  assert.is(ae.success, true)
  await flush()
  assert.is(raft.stats().appliedIndex, 6)
  assert.equal(fsm.applied, [6])
  await raft.shutdown()
})

// ---------------------------------------------------------------- 7. compaction after a discarding install

test('a leader whose log started empty after a discarding snapshot install still compacts (nocompact)', async () => {
  // Two trailing entries: a snapshot at the very last entry (checks come at random times) then
  // still leaves the store something to report its first index by.
  const config = { snapshotThreshold: 10, trailingLogs: 2, snapshotIntervalMs: 100 }
  const { raft, clock, store, snaps, transport: t } = newServer('A', { config })
  await raft.start()
  // Leader L (term 2) sends A a snapshot whose configuration is {A} alone (L was removed).
  const res = await t.handler.installSnapshot(
    snapshotRequest({ configuration: cfg('A'), configurationIndex: 3, size: 0, data: new Uint8Array(0) }),
  )
  assert.is(res.success, true)
  assert.is(raft.stats().lastSnapshotIndex, 5)
  assert.is(await store.lastIndex(), 0, 'the log store is empty')

  await runFor(clock, 2000)
  assert.is(raft.state(), 'leader')
  for (let i = 0; i < 100; i++) {
    raft.apply(enc.encode(`x${i}`)).catch(() => {})
    await runFor(clock, 5)
  }
  await runFor(clock, 500)

  const s = raft.stats()
  const first = await store.firstIndex()
  assert.ok(s.appliedIndex >= 105, `applied ${s.appliedIndex}`)
  assert.ok(s.lastSnapshotIndex > 50, `snapshots taken (last at ${s.lastSnapshotIndex})`)
  assert.ok((await snaps.list()).length >= 1)
  assert.ok(first > 50, `the log store was compacted (first index ${first})`)
  assert.is(s.firstLogIndex, first, 'Raft and the store agree where the log starts')
  assert.ok(first <= s.lastSnapshotIndex + 1, 'nothing after the snapshot was dropped')
  assert.is(await store.getLog(6), undefined, 'the first entries are gone')
  assert.is(await store.lastIndex(), s.lastLogIndex)
  await raft.shutdown()
})

// ---------------------------------------------------------------- 8. stale read through verifyLeader

test('verifyLeader on a new leader waits until the FSM has applied its read index (staleread)', async () => {
  const { raft, clock, transport: t, fsm } = newServer('A')
  // B votes and answers probes at once but is slow to append (its log is empty); C is down.
  t.responders.requestVote = (target, req) => (target.id === 'B' ? grantVote(target, req) : undefined)
  t.responders.appendEntries = (target, req): AppendEntriesResponse | undefined =>
    target.id === 'B' && req.prevLogIndex > 0
      ? { term: req.term, success: false, lastLogIndex: 0, conflictIndex: 1, conflictTerm: 0 }
      : undefined
  await raft.bootstrapCluster(cfg('A', 'B', 'C'))
  await raft.start()
  // Old leader C (term 2) replicated entry 2 to A and committed it with A's acknowledgement;
  // A's commitIndex still lags at 1.
  await t.handler.appendEntries({
    from: peer('C'),
    term: 2,
    prevLogIndex: 1,
    prevLogTerm: 1,
    leaderCommit: 1,
    entries: [entry(2, 2, LogType.Command, enc.encode('put x=1'))],
  })

  // Called as soon as A becomes leader, before its no-op can commit.
  const reads: { short?: Outcome<void>; long?: Outcome<void> } = {}
  raft.on('state', (s: RaftState) => {
    if (s !== 'leader' || reads.short) return
    reads.short = outcome(raft.verifyLeader({ timeoutMs: 200 }))
    reads.long = outcome(raft.verifyLeader({ timeoutMs: 60_000 }))
  })
  await electLeader(raft, clock)
  const shortRead = reads.short
  const longRead = reads.long
  if (!shortRead || !longRead) throw new Error('verifyLeader was not called as the server became leader')

  await runFor(clock, 250)
  assert.is(raft.state(), 'leader', 'still leader')
  assert.is(raft.stats().commitIndex, 1, 'the no-op has not committed')
  assert.equal(fsm.applied, [], 'entry 2 not applied here')
  assert.ok(
    t.sentOf('appendEntries', 'B').some((r) => r.settled),
    'B answered (leadership confirmed)',
  )
  assert.is(shortRead.done, true, 'the short verifyLeader settled')
  assert.is(shortRead.error?.name, 'TimeoutError', 'verifyLeader timed out rather than resolving')
  assert.is(longRead.done, false, 'the long verifyLeader is still waiting')

  // B's appends land: the no-op commits, entry 2 is applied, and the read may go ahead.
  t.responders.appendEntries = (target, req) => (target.id === 'B' ? ackAppend(target, req) : undefined)
  for (const rpc of t.pending('appendEntries', 'B')) rpc.answer(ackAppend(rpc.target, rpc.req))
  for (let i = 0; i < 50 && !longRead.done; i++) await flush()
  assert.is(longRead.done, true, 'verifyLeader settled')
  assert.is(longRead.error, undefined, `verifyLeader resolved (${longRead.error?.message})`)
  assert.ok(raft.stats().appliedIndex >= 3, 'applied through the no-op')
  assert.equal(fsm.applied, [2], 'the entry the old leader committed is visible to the read')
  await raft.shutdown()
})

test.run()

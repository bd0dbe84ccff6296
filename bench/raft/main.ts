/**
 * The Raft benchmark: 3 voters in one process, each on durable storage (LevelStore, one
 * fsync per batch, and FileSnapshotStore in a temp dir), over the in-memory transport.
 *
 * Measures: the raw cost of one synced `storeLogs`; proposals/s and commit latency with 1
 * and with 64 closed-loop proposers; and leader crash → first commit on the new leader over
 * 10 trials. Prints a table and writes the figures to bench/out/raft.json.
 *
 * The in-process in-memory transport has no anchor to compare against; the etcd comparisons
 * belong to the API and failover benchmarks, which run between processes.
 *
 *   make bench B=raft
 */

import '../../src/util/polyfill.js'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type RaftConfig, validateRaftConfig } from '../../src/raft/config.js'
import type { Configuration } from '../../src/raft/configuration.js'
import { FileSnapshotStore } from '../../src/raft/file-snapshot-store.js'
import type { FSM, FSMSnapshot } from '../../src/raft/fsm.js'
import { InmemNetwork, type InmemTransport } from '../../src/raft/inmem-transport.js'
import { LevelStore } from '../../src/raft/level-store.js'
import { type LogEntry, type LogStore, LogType } from '../../src/raft/log.js'
import { Raft } from '../../src/raft/raft.js'
import type { SnapshotSink } from '../../src/raft/snapshot.js'
import type { StableStore } from '../../src/raft/stable.js'
import { SystemClock } from '../../src/util/clock.js'
import { systemRng } from '../../src/util/random.js'

const COMMAND = 'make bench B=raft'
const SERVERS = 3
const PAYLOAD_BYTES = 100
const WARMUP_MS = 500
const MEASURE_MS = 3000
const FAILOVER_TRIALS = 10
/** The crash comes at a random moment this long after the client starts proposing. */
const CRASH_AFTER_MIN_MS = 100
const CRASH_AFTER_MAX_MS = 600
const STORE_SAMPLES = 300
const APPLY_TIMEOUT_MS = 5000
const POLL_MS = 1

// ---------------------------------------------------------------- small helpers

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The nearest-rank percentile `p` (0..100) of `values`, or NaN when empty. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits))

/** A fresh ~100-byte payload per proposal: Raft keeps a reference to the bytes in its log cache. */
function payload(seq: number): Uint8Array {
  const data = new Uint8Array(PAYLOAD_BYTES)
  new DataView(data.buffer).setFloat64(0, seq)
  data.fill(0x61, 8)
  return data
}

/** The project root: the nearest directory above this file that holds package.json. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('bench/raft: no package.json above this file')
    dir = up
  }
  return dir
}

// ---------------------------------------------------------------- the FSM and a counting store

/** A trivial FSM: counts commands and keeps the last value. */
class CounterFsm implements FSM {
  count = 0
  last: Uint8Array | null = null

  apply(entry: LogEntry): unknown {
    this.count++
    this.last = entry.data
    return this.count
  }

  async snapshot(): Promise<FSMSnapshot> {
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setFloat64(0, this.count)
    return {
      persist: (sink: SnapshotSink) => sink.write(bytes),
      release: () => {},
    }
  }

  async restore(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    let bytes: Uint8Array
    if (data instanceof Uint8Array) {
      bytes = data
    } else {
      const chunks: Uint8Array[] = []
      for await (const chunk of data) chunks.push(chunk)
      bytes = Buffer.concat(chunks)
    }
    this.count = bytes.byteLength >= 8 ? new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0) : 0
    this.last = null
  }
}

/** A LevelStore seen through a counter of synced log writes, to tell how well Raft batches. */
class CountingStore implements LogStore, StableStore {
  syncs = 0
  entries = 0
  /** `deleteRange` calls (log compaction after a snapshot) and the longest one. */
  deletes = 0
  longestDeleteMs = 0

  constructor(readonly inner: LevelStore) {}

  resetCounts(): void {
    this.syncs = 0
    this.entries = 0
    this.deletes = 0
    this.longestDeleteMs = 0
  }

  firstIndex(): Promise<number> {
    return this.inner.firstIndex()
  }
  lastIndex(): Promise<number> {
    return this.inner.lastIndex()
  }
  getLog(index: number): Promise<LogEntry | undefined> {
    return this.inner.getLog(index)
  }
  getLogs(min: number, max: number): Promise<LogEntry[]> {
    return this.inner.getLogs(min, max)
  }
  storeLogs(entries: LogEntry[]): Promise<void> {
    this.syncs++
    this.entries += entries.length
    return this.inner.storeLogs(entries)
  }
  async deleteRange(min: number, max: number): Promise<void> {
    const t0 = performance.now()
    await this.inner.deleteRange(min, max)
    this.deletes++
    this.longestDeleteMs = Math.max(this.longestDeleteMs, performance.now() - t0)
  }
  set(key: string, value: Uint8Array): Promise<void> {
    return this.inner.set(key, value)
  }
  get(key: string): Promise<Uint8Array | undefined> {
    return this.inner.get(key)
  }
  setUint64(key: string, value: number): Promise<void> {
    return this.inner.setUint64(key, value)
  }
  getUint64(key: string): Promise<number> {
    return this.inner.getUint64(key)
  }
}

// ---------------------------------------------------------------- the cluster

interface Server {
  id: string
  dir: string
  live: boolean
  fsm: CounterFsm
  store: CountingStore
  snapshots: FileSnapshotStore
  transport: InmemTransport
  raft: Raft
}

/** Three voters in one process, each with its own LevelDB and snapshot directory. */
class Cluster {
  readonly servers = new Map<string, Server>()
  private readonly clock = new SystemClock()
  readonly network = new InmemNetwork({ clock: this.clock, rng: systemRng() })

  constructor(
    private readonly root: string,
    private readonly config: RaftConfig,
  ) {}

  /** Bootstraps and starts `n` fresh servers. */
  async start(n: number): Promise<void> {
    const ids = Array.from({ length: n }, (_, i) => `s${i + 1}`)
    const configuration: Configuration = {
      servers: ids.map((id) => ({ id, address: id, suffrage: 'voter' as const })),
    }
    for (const id of ids) {
      const server = await this.open(id)
      await server.raft.bootstrapCluster(configuration)
    }
    for (const server of this.servers.values()) await server.raft.start()
  }

  /** Opens a server's stores (fresh or left by a crash) and builds its Raft, not started. */
  private async open(id: string): Promise<Server> {
    const dir = join(this.root, id)
    const store = new CountingStore(await LevelStore.open(join(dir, 'log')))
    const snapshots = await FileSnapshotStore.open(join(dir, 'snapshots'))
    const fsm = new CounterFsm()
    const transport = this.network.transport(id)
    const raft = new Raft({
      id,
      address: id,
      config: this.config,
      fsm,
      logStore: store,
      stableStore: store,
      snapshotStore: snapshots,
      transport,
      clock: this.clock,
      rng: systemRng(),
    })
    const server: Server = { id, dir, live: true, fsm, store, snapshots, transport, raft }
    this.servers.set(id, server)
    return server
  }

  live(): Server[] {
    return [...this.servers.values()].filter((s) => s.live)
  }

  /** Stops a server as a crash would: Raft first, then its transport, then its database. */
  async crash(id: string): Promise<void> {
    const server = this.servers.get(id)!
    if (!server.live) return
    server.live = false
    await server.raft.shutdown()
    await server.transport.close()
    await server.store.inner.close()
  }

  /** Restarts a crashed server from what its stores hold. */
  async restart(id: string): Promise<void> {
    const server = await this.open(id)
    await server.raft.start()
  }

  /**
   * The live server that the live servers name as leader, or null: found by asking every
   * live server's `leader()`, as a client that follows redirects would.
   */
  findLeader(): Server | null {
    for (const s of this.live()) {
      const hint = s.raft.leader()
      const named = hint ? this.servers.get(hint.id) : undefined
      if (named?.live && named.raft.state() === 'leader') return named
    }
    return null
  }

  /**
   * Waits until every live server names the same live leader and has applied what that
   * leader had committed, twice in a row 50 ms apart.
   */
  async waitStable(timeoutMs = 20_000): Promise<Server> {
    const deadline = performance.now() + timeoutMs
    let streak = 0
    while (performance.now() < deadline) {
      const leader = this.findLeader()
      const commit = leader?.raft.stats().commitIndex ?? 0
      const agreed =
        leader !== null &&
        this.live().every((s) => s.raft.leader()?.id === leader.id && s.raft.stats().appliedIndex >= commit)
      streak = agreed ? streak + 1 : 0
      if (streak >= 2 && leader) return leader
      await sleep(50)
    }
    throw new Error(`bench/raft: the cluster did not settle within ${timeoutMs} ms`)
  }

  async shutdown(): Promise<void> {
    for (const s of this.servers.values()) await this.crash(s.id)
    this.network.close()
  }
}

// ---------------------------------------------------------------- the measurements

interface StoreFigures {
  entries: number
  samples: number
  p50Ms: number
  p99Ms: number
}

/** Times `samples` sequential synced `storeLogs` of `batch` entries each on a fresh LevelStore. */
async function measureStoreLogs(dir: string, batch: number, samples: number): Promise<StoreFigures> {
  const store = await LevelStore.open(dir)
  const times: number[] = []
  let index = 1
  try {
    for (let i = 0; i < samples + 20; i++) {
      const entries: LogEntry[] = Array.from({ length: batch }, () => ({
        index: index,
        term: 1,
        type: LogType.Command,
        data: payload(index++),
      }))
      const t0 = performance.now()
      await store.storeLogs(entries)
      // The first 20 writes are a warm-up (files created, caches filled) and are not timed.
      if (i >= 20) times.push(performance.now() - t0)
    }
  } finally {
    await store.close()
  }
  return {
    entries: batch,
    samples,
    p50Ms: round(percentile(times, 50), 3),
    p99Ms: round(percentile(times, 99), 3),
  }
}

/**
 * The round trip of one RPC with a handler that answers at once, over an `InmemNetwork` on
 * the SystemClock: the transport's own share of every commit, which needs one round trip.
 */
async function measureRoundTrip(samples: number): Promise<{ samples: number; p50Ms: number; p99Ms: number }> {
  const network = new InmemNetwork({ clock: new SystemClock(), rng: systemRng() })
  const from = network.transport('a')
  network.transport('b').setHandler({
    appendEntries: async () => ({ term: 1, success: true, lastLogIndex: 0 }),
    requestVote: async () => ({ term: 1, granted: true }),
    installSnapshot: async () => ({ term: 1, success: true, nextOffset: 0 }),
    timeoutNow: async () => ({ term: 1 }),
  })
  const req = {
    from: { id: 'a', address: 'a' },
    term: 1,
    prevLogIndex: 0,
    prevLogTerm: 0,
    entries: [],
    leaderCommit: 0,
  }
  const times: number[] = []
  try {
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now()
      await from.appendEntries({ id: 'b', address: 'b' }, req, { timeoutMs: 1000 })
      times.push(performance.now() - t0)
    }
  } finally {
    network.close()
  }
  return { samples, p50Ms: round(percentile(times, 50), 3), p99Ms: round(percentile(times, 99), 3) }
}

interface LoadFigures {
  proposers: number
  commits: number
  seconds: number
  opsPerSec: number
  p50Ms: number
  p99Ms: number
  errors: number
  /** Synced log writes per second on the leader, and entries per such write. */
  leaderSyncsPerSec: number
  leaderEntriesPerSync: number
  followerSyncsPerSec: number
  followerEntriesPerSync: number
  /** Log compactions (after automatic snapshots) on all three servers, and the longest. */
  compactions: number
  longestCompactionMs: number
}

/**
 * `proposers` closed-loop clients on the leader: each proposes, waits for the commit, and
 * proposes again. Commits that complete within the measured window (after the warm-up) count.
 */
async function measureLoad(cluster: Cluster, proposers: number): Promise<LoadFigures> {
  const leader = await cluster.waitStable()
  const followers = cluster.live().filter((s) => s !== leader)
  const start = performance.now()
  const measureFrom = start + WARMUP_MS
  const end = measureFrom + MEASURE_MS
  const latencies: number[] = []
  let errors = 0
  let seq = 0
  let countsReset = false
  const resetCounts = (): void => {
    if (countsReset) return
    countsReset = true
    for (const s of cluster.live()) s.store.resetCounts()
  }
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now()
      if (t0 >= measureFrom) resetCounts()
      try {
        await leader.raft.apply(payload(seq++), { timeoutMs: APPLY_TIMEOUT_MS })
      } catch (err) {
        errors++
        console.error(`bench/raft: a proposal failed: ${(err as Error).name}: ${(err as Error).message}`)
        continue
      }
      const t1 = performance.now()
      if (t0 >= measureFrom && t1 <= end) latencies.push(t1 - t0)
    }
  }
  await Promise.all(Array.from({ length: proposers }, worker))
  // Counts run from the first proposal of the window to the last commit, a hair over MEASURE_MS.
  const countedSeconds = (performance.now() - measureFrom) / 1000
  const fSyncs = followers.reduce((n, s) => n + s.store.syncs, 0) / followers.length
  const fEntries = followers.reduce((n, s) => n + s.store.entries, 0) / followers.length
  return {
    proposers,
    commits: latencies.length,
    seconds: MEASURE_MS / 1000,
    opsPerSec: Math.round(latencies.length / (MEASURE_MS / 1000)),
    p50Ms: round(percentile(latencies, 50), 3),
    p99Ms: round(percentile(latencies, 99), 3),
    errors,
    leaderSyncsPerSec: Math.round(leader.store.syncs / countedSeconds),
    leaderEntriesPerSync: round(leader.store.entries / Math.max(1, leader.store.syncs), 1),
    followerSyncsPerSec: Math.round(fSyncs / countedSeconds),
    followerEntriesPerSync: round(fEntries / Math.max(1, fSyncs), 1),
    compactions: cluster.live().reduce((n, s) => n + s.store.deletes, 0),
    longestCompactionMs: round(Math.max(0, ...cluster.live().map((s) => s.store.longestDeleteMs)), 1),
  }
}

interface FailoverTrial {
  crashed: string
  newLeader: string
  crashToCommitMs: number
  /** RequestVote RPCs (pre-votes and votes) sent from the crash to the commit; 4 is one clean round. */
  voteRpcs: number
}

/**
 * One trial: a client proposes in a closed loop; at a random moment the leader crashes; the
 * client follows the live servers' `leader()` to the new leader. Measured from the crash to
 * the first commit that the new leader acknowledges.
 */
async function failoverTrial(cluster: Cluster): Promise<FailoverTrial> {
  const oldLeader = await cluster.waitStable()
  const rng = systemRng()
  let crashAtMs: number | null = null
  let stop = false
  let seq = 0
  let result: { server: string; atMs: number } | null = null

  const client = async (): Promise<void> => {
    let target: Server | null = oldLeader
    while (!stop) {
      if (!target?.live) {
        target = cluster.findLeader()
        if (!target) {
          await sleep(POLL_MS)
          continue
        }
      }
      try {
        await target.raft.apply(payload(seq++), { timeoutMs: APPLY_TIMEOUT_MS })
        if (crashAtMs !== null && target.id !== oldLeader.id) {
          result = { server: target.id, atMs: performance.now() }
          stop = true
        }
      } catch (err) {
        // NotLeaderError, ShutdownError, LeadershipLostError, TimeoutError: all mean "find the
        // leader again" to this client, which only needs one commit on the new leader.
        const name = (err as Error).name
        if (!['NotLeaderError', 'ShutdownError', 'LeadershipLostError', 'TimeoutError'].includes(name)) {
          throw err
        }
        target = null
      }
    }
  }

  const running = client()
  await sleep(rng.between(CRASH_AFTER_MIN_MS, CRASH_AFTER_MAX_MS))
  cluster.network.resetCounts()
  crashAtMs = performance.now()
  await cluster.crash(oldLeader.id)
  await running
  const done = result as { server: string; atMs: number } | null
  if (!done) throw new Error('bench/raft: the failover client stopped without a commit')
  const trial: FailoverTrial = {
    crashed: oldLeader.id,
    newLeader: done.server,
    crashToCommitMs: round(done.atMs - crashAtMs, 1),
    voteRpcs: cluster.network.rpcCount('requestVote'),
  }
  await cluster.restart(oldLeader.id)
  return trial
}

// ---------------------------------------------------------------- the run

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  return rows
    .map((r) =>
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
    )
    .join('\n')
}

async function main(): Promise<void> {
  const startedAt = new Date()
  const config = validateRaftConfig()
  const root = await mkdtemp(join(tmpdir(), 'shoal-bench-raft-'))
  let cluster: Cluster | null = null
  // SystemClock's timers are unref'd, and with it the in-memory network delivers every
  // message on one: while a proposal waits on a message in flight, nothing else may hold
  // the event loop open, and Node would exit mid-run. This handle holds it until the end.
  const keepAlive = setInterval(() => {}, 60_000)
  try {
    const one = await measureStoreLogs(join(root, 'store-1'), 1, STORE_SAMPLES)
    const batch = await measureStoreLogs(join(root, 'store-64'), 64, STORE_SAMPLES)
    const roundTrip = await measureRoundTrip(STORE_SAMPLES)

    cluster = new Cluster(join(root, 'cluster'), config)
    await cluster.start(SERVERS)
    const loads: LoadFigures[] = []
    for (const proposers of [1, 64]) loads.push(await measureLoad(cluster, proposers))

    const trials: FailoverTrial[] = []
    for (let i = 0; i < FAILOVER_TRIALS; i++) trials.push(await failoverTrial(cluster))
    await cluster.waitStable()
    await cluster.shutdown()
    cluster = null

    const failoverMs = trials.map((t) => t.crashToCommitMs)
    const figures = {
      benchmark: 'raft',
      command: COMMAND,
      date: startedAt.toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      setup: {
        voters: SERVERS,
        transport: 'InmemNetwork (in-process, SystemClock, zero delay)',
        storage: 'LevelStore (fsync per batch) + FileSnapshotStore, under os.tmpdir()',
        payloadBytes: PAYLOAD_BYTES,
        warmupMs: WARMUP_MS,
        measureMs: MEASURE_MS,
        raftConfig: config,
      },
      storeLogs: { oneEntry: one, batchOf64: batch },
      inmemRoundTrip: roundTrip,
      load: loads,
      failover: {
        trials,
        medianMs: round(percentile(failoverMs, 50), 1),
        maxMs: round(Math.max(...failoverMs), 1),
        crashAfterMs: [CRASH_AFTER_MIN_MS, CRASH_AFTER_MAX_MS],
      },
      anchor: null,
    }

    const outDir = join(projectRoot(), 'bench', 'out')
    await mkdir(outDir, { recursive: true })
    await writeFile(join(outDir, 'raft.json'), `${JSON.stringify(figures, null, 2)}\n`)

    console.log(`raft: 3 voters in one process, LevelStore + FileSnapshotStore, in-memory transport`)
    console.log(`command: ${COMMAND}`)
    console.log(`node ${figures.node}, ${figures.cpu} (${figures.cores} cores), ${figures.date}`)
    console.log(
      `anchor: none (in-process in-memory transport; etcd runs with the API and failover benchmarks)`,
    )
    console.log('')
    console.log(
      table([
        ['LevelStore storeLogs (fsync)', 'p50 ms', 'p99 ms'],
        ['1 entry', one.p50Ms.toFixed(3), one.p99Ms.toFixed(3)],
        ['64 entries', batch.p50Ms.toFixed(3), batch.p99Ms.toFixed(3)],
        ['in-memory RPC round trip', roundTrip.p50Ms.toFixed(3), roundTrip.p99Ms.toFixed(3)],
      ]),
    )
    console.log('')
    console.log(
      table([
        [
          'proposers',
          'proposals/s',
          'p50 ms',
          'p99 ms',
          'leader syncs/s',
          'entries/sync',
          'follower syncs/s',
          'entries/sync',
          'compactions',
          'longest ms',
        ],
        ...loads.map((l) => [
          String(l.proposers),
          String(l.opsPerSec),
          l.p50Ms.toFixed(3),
          l.p99Ms.toFixed(3),
          String(l.leaderSyncsPerSec),
          l.leaderEntriesPerSync.toFixed(1),
          String(l.followerSyncsPerSec),
          l.followerEntriesPerSync.toFixed(1),
          String(l.compactions),
          l.longestCompactionMs.toFixed(1),
        ]),
      ]),
    )
    console.log(
      `(${MEASURE_MS / 1000} s measured after ${WARMUP_MS / 1000} s warm-up, ${PAYLOAD_BYTES}-byte proposals;` +
        ' syncs are synced storeLogs calls; compactions are log deletions after automatic snapshots,' +
        ' on all 3 servers)',
    )
    console.log('')
    console.log(
      table([
        ['leader crash -> next commit', 'ms'],
        ['median', figures.failover.medianMs.toFixed(1)],
        ['max', figures.failover.maxMs.toFixed(1)],
        ['trials', failoverMs.map((ms) => ms.toFixed(0)).join(' ')],
        ['vote RPCs per trial', trials.map((t) => String(t.voteRpcs)).join(' ')],
      ]),
    )
    const errors = loads.reduce((n, l) => n + l.errors, 0)
    if (errors > 0) throw new Error(`bench/raft: ${errors} proposals failed during the load runs`)
  } finally {
    if (cluster) await cluster.shutdown()
    await rm(root, { recursive: true, force: true })
    clearInterval(keepAlive)
  }
}

let finished = false
// Should the event loop ever empty before the end (see keepAlive), Node exits with 0 and no
// figures: make that a failure that `make bench` reports.
process.on('exit', () => {
  if (finished) return
  console.error('bench/raft: the process ran out of work before the benchmark finished')
  process.exitCode = 1
})
main()
  .catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
  .finally(() => {
    finished = true
  })

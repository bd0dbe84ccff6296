/**
 * SimCluster: a whole Raft cluster in one process, on a manual clock, an in-memory network
 * and in-memory stores, driven by one seed. The same seed replays the same run exactly.
 *
 * It checks Raft's safety properties while it runs:
 * - election safety: at most one leader per term;
 * - state-machine safety: every server applies the same entry at the same index;
 * - leader completeness: a new leader holds every entry that any server has applied;
 * and `checkLogMatching()` compares the servers' logs (same index and term → same prefix).
 */

import '../../src/util/polyfill.js'
import type { RaftConfig } from '../../src/raft/config.js'
import type { Configuration, Server } from '../../src/raft/configuration.js'
import type { FSM, FSMSnapshot } from '../../src/raft/fsm.js'
import { InmemSnapshotStore } from '../../src/raft/inmem-snapshot-store.js'
import { InmemStore } from '../../src/raft/inmem-store.js'
import { InmemNetwork, type InmemTransport } from '../../src/raft/inmem-transport.js'
import { type LogEntry, LogType } from '../../src/raft/log.js'
import { Raft } from '../../src/raft/raft.js'
import type { SnapshotSink } from '../../src/raft/snapshot.js'
import { ManualClock } from '../../src/util/clock.js'
import { SeededRng } from '../../src/util/random.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

/** A command of the test key-value machine. */
export type KvCommand =
  | { op: 'put'; key: string; value: string }
  | { op: 'append'; key: string; value: string }
  | { op: 'get'; key: string }

export function encodeCommand(c: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(c))
}

/** Shared record of what was applied where, across every server and restart. */
export class ApplyRecord {
  /** index → the entry's bytes as text, as first applied anywhere. */
  readonly byIndex = new Map<number, string>()
  maxApplied = 0
  readonly violations: string[] = []

  note(server: string, entry: LogEntry): void {
    const text = `${entry.term}:${dec.decode(entry.data)}`
    const seen = this.byIndex.get(entry.index)
    if (seen === undefined) this.byIndex.set(entry.index, text)
    else if (seen !== text) {
      this.violations.push(
        `state-machine safety: ${server} applied ${text} at ${entry.index}, others ${seen}`,
      )
    }
    if (entry.index > this.maxApplied) this.maxApplied = entry.index
  }
}

/** The key-value state machine of the simulations. */
export class KvFsm implements FSM {
  data = new Map<string, string>()
  /** Commands applied since the last restore, in order. */
  applied: number[] = []

  constructor(
    private readonly server: string,
    private readonly record: ApplyRecord,
  ) {}

  apply(entry: LogEntry): unknown {
    this.record.note(this.server, entry)
    this.applied.push(entry.index)
    const cmd = JSON.parse(dec.decode(entry.data)) as KvCommand
    switch (cmd.op) {
      case 'put':
        this.data.set(cmd.key, cmd.value)
        return undefined
      case 'append':
        this.data.set(cmd.key, (this.data.get(cmd.key) ?? '') + cmd.value)
        return undefined
      case 'get':
        return this.data.get(cmd.key) ?? ''
    }
  }

  async snapshot(): Promise<FSMSnapshot> {
    const copy = JSON.stringify([...this.data.entries()])
    return {
      persist: async (sink: SnapshotSink) => {
        // Two chunks, so that chunked transfer is exercised even for small states.
        const bytes = enc.encode(copy)
        const half = Math.floor(bytes.length / 2)
        await sink.write(bytes.subarray(0, half))
        await sink.write(bytes.subarray(half))
      },
      release: () => {},
    }
  }

  async restore(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = []
    if (data instanceof Uint8Array) parts.push(data)
    else for await (const p of data) parts.push(p)
    const all = Buffer.concat(parts.map((p) => Buffer.from(p)))
    this.data = new Map(all.length > 0 ? (JSON.parse(all.toString('utf8')) as [string, string][]) : [])
    this.applied = []
  }
}

/** One simulated server: its stores survive crashes, its Raft instance does not. */
export interface SimNode {
  id: string
  address: string
  store: InmemStore
  snapshots: InmemSnapshotStore
  fsm: KvFsm
  raft: Raft | null
  transport: InmemTransport | null
}

export interface SimClusterOptions {
  servers: number
  seed: number
  config?: Partial<RaftConfig>
  /** Servers bootstrapped as non-voters (ids from the end). */
  nonvoters?: number
  /** Servers not in the bootstrap configuration at all (ids from the end). */
  spare?: number
  /** Bootstrap the configuration (default true). */
  bootstrap?: boolean
}

/** Test timings: the library defaults scaled for readable traces. */
export function simConfig(extra: Partial<RaftConfig> = {}): Partial<RaftConfig> {
  return {
    heartbeatIntervalMs: 50,
    electionTimeoutMs: 300,
    leaderLeaseTimeoutMs: 300,
    rpcTimeoutMs: 500,
    installSnapshotTimeoutMs: 1000,
    snapshotIntervalMs: 1000,
    ...extra,
  }
}

export class SimCluster {
  readonly clock = new ManualClock(1_700_000_000_000)
  readonly rng: SeededRng
  readonly network: InmemNetwork
  readonly nodes: SimNode[] = []
  readonly record = new ApplyRecord()
  readonly violations: string[] = []
  private readonly leadersByTerm = new Map<number, string>()
  private readonly config: Partial<RaftConfig>

  constructor(readonly options: SimClusterOptions) {
    this.rng = new SeededRng(options.seed)
    this.network = new InmemNetwork({ clock: this.clock, rng: this.rng.fork() })
    this.config = options.config ?? simConfig()
    for (let i = 1; i <= options.servers; i++) {
      const id = `s${i}`
      this.nodes.push({
        id,
        address: `addr-${id}`,
        store: new InmemStore(),
        snapshots: new InmemSnapshotStore(),
        fsm: new KvFsm(id, this.record),
        raft: null,
        transport: null,
      })
    }
  }

  /** The bootstrap configuration: voters, then non-voters; spare servers left out. */
  initialConfiguration(): Configuration {
    const spare = this.options.spare ?? 0
    const nonvoters = this.options.nonvoters ?? 0
    const members = this.nodes.slice(0, this.nodes.length - spare)
    const servers: Server[] = members.map((n, i) => ({
      id: n.id,
      address: n.address,
      suffrage: i >= members.length - nonvoters ? 'nonvoter' : 'voter',
    }))
    return { servers }
  }

  async start(): Promise<void> {
    const configuration = this.initialConfiguration()
    const members = new Set(configuration.servers.map((s) => s.id))
    for (const node of this.nodes) {
      const raft = this.makeRaft(node)
      if (this.options.bootstrap !== false && members.has(node.id)) await raft.bootstrapCluster(configuration)
      await raft.start()
    }
    await this.flush()
  }

  node(id: string): SimNode {
    const n = this.nodes.find((x) => x.id === id)
    if (!n) throw new Error(`no server ${id}`)
    return n
  }

  raft(id: string): Raft {
    const r = this.node(id).raft
    if (!r) throw new Error(`server ${id} is down`)
    return r
  }

  private makeRaft(node: SimNode): Raft {
    node.transport = this.network.transport(node.address)
    node.fsm = new KvFsm(node.id, this.record)
    const raft = new Raft({
      id: node.id,
      address: node.address,
      config: this.config,
      fsm: node.fsm,
      logStore: node.store,
      stableStore: node.store,
      snapshotStore: node.snapshots,
      transport: node.transport,
      clock: this.clock,
      rng: this.rng.fork(),
    })
    raft.on('state', (state: string) => {
      if (state === 'leader') this.onLeader(node, raft)
    })
    node.raft = raft
    return raft
  }

  private onLeader(node: SimNode, raft: Raft): void {
    const term = raft.stats().term
    const other = this.leadersByTerm.get(term)
    if (other !== undefined && other !== node.id) {
      this.violations.push(`election safety: ${other} and ${node.id} both leaders in term ${term}`)
    }
    this.leadersByTerm.set(term, node.id)
    // Leader completeness: it must hold every entry applied anywhere so far.
    const needUpTo = this.record.maxApplied
    const stats = raft.stats()
    if (stats.lastLogIndex < needUpTo) {
      this.violations.push(
        `leader completeness: ${node.id} leads term ${term} with last index ${stats.lastLogIndex} < applied ${needUpTo}`,
      )
      return
    }
    void (async () => {
      for (let i = Math.max(stats.firstLogIndex, stats.lastSnapshotIndex + 1, 1); i <= needUpTo; i++) {
        const e = await node.store.getLog(i)
        const want = this.record.byIndex.get(i)
        if (!e || want === undefined) continue
        const text = `${e.term}:${dec.decode(e.data)}`
        if (text !== want) {
          this.violations.push(
            `leader completeness: ${node.id} (term ${term}) has ${text} at ${i}, applied was ${want}`,
          )
        }
      }
    })()
  }

  /** Lets every pending promise chain run (no timer fires). */
  async flush(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r))
  }

  /** Runs the cluster for `ms` of simulated time. */
  async run(ms: number): Promise<void> {
    const end = this.clock.now() + ms
    for (;;) {
      await this.flush()
      const next = this.clock.nextDueMs()
      if (next === null || next > end) break
      this.clock.fireNext(end)
    }
    this.clock.advance(Math.max(0, end - this.clock.now()))
    await this.flush()
  }

  /** Live servers that believe they lead. */
  leaders(): string[] {
    return this.nodes.filter((n) => n.raft?.state() === 'leader').map((n) => n.id)
  }

  /** Runs until exactly one live server leads (and the others agree), or throws. */
  async waitForLeader(maxMs = 10_000, among?: string[]): Promise<string> {
    const deadline = this.clock.now() + maxMs
    while (this.clock.now() < deadline) {
      await this.run(50)
      const leaders = this.leaders().filter((id) => !among || among.includes(id))
      if (leaders.length === 1) {
        // The newest-term leader is the real one; an old one may not have noticed yet.
        return leaders[0]!
      }
      if (leaders.length > 1) {
        const byTerm = leaders
          .map((id) => ({ id, term: this.raft(id).stats().term }))
          .sort((a, b) => b.term - a.term)
        if (byTerm[0]!.term !== byTerm[1]!.term) return byTerm[0]!.id
      }
    }
    throw new Error(`no leader within ${maxMs} ms (seed ${this.options.seed})`)
  }

  /** Proposes on the current leader, retrying on others until it commits or time runs out. */
  async apply(cmd: KvCommand, maxMs = 10_000): Promise<{ index: number; response: unknown }> {
    const deadline = this.clock.now() + maxMs
    while (this.clock.now() < deadline) {
      const leader = this.leaders()[0]
      if (!leader) {
        await this.run(50)
        continue
      }
      const p = this.raft(leader).apply(encodeCommand(cmd), { timeoutMs: 2000 })
      const outcome = await this.settle(p, 2500)
      if (outcome.ok) return outcome.value
      await this.run(50)
    }
    throw new Error(`could not commit ${JSON.stringify(cmd)} within ${maxMs} ms (seed ${this.options.seed})`)
  }

  /** Runs the cluster until `p` settles or `maxMs` passes. */
  async settle<T>(
    p: Promise<T>,
    maxMs: number,
  ): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | null = null
    p.then(
      (value) => {
        outcome = { ok: true, value }
      },
      (error: unknown) => {
        outcome = { ok: false, error }
      },
    )
    const deadline = this.clock.now() + maxMs
    await this.flush()
    while (outcome === null && this.clock.now() < deadline) await this.run(10)
    return outcome ?? { ok: false, error: new Error('did not settle') }
  }

  /** How many live servers have applied index `index` (and what they hold). */
  appliedCount(index: number): number {
    return this.nodes.filter((n) => n.raft && n.raft.stats().appliedIndex >= index).length
  }

  /** Runs until `count` live servers applied `index`, or throws. */
  async waitApplied(index: number, count: number, maxMs = 10_000): Promise<void> {
    const deadline = this.clock.now() + maxMs
    while (this.appliedCount(index) < count) {
      if (this.clock.now() >= deadline) {
        throw new Error(
          `only ${this.appliedCount(index)} of ${count} servers applied ${index} within ${maxMs} ms (seed ${this.options.seed})`,
        )
      }
      await this.run(20)
    }
  }

  /** Crashes a server: its Raft stops at once; its stores keep what was written. */
  async crash(id: string): Promise<void> {
    const node = this.node(id)
    if (!node.raft) return
    const raft = node.raft
    node.raft = null
    await node.transport?.close()
    node.transport = null
    await raft.shutdown()
  }

  /** Restarts a crashed server from its stores. */
  async restart(id: string): Promise<void> {
    const node = this.node(id)
    if (node.raft) return
    const raft = this.makeRaft(node)
    await raft.start()
  }

  async shutdown(): Promise<void> {
    for (const n of this.nodes) await this.crash(n.id)
  }

  /** Log matching: where two servers hold an entry with the same index and term, they agree on it and before. */
  async checkLogMatching(): Promise<void> {
    const logs = await Promise.all(
      this.nodes.map(async (n) => {
        const first = await n.store.firstIndex()
        const last = await n.store.lastIndex()
        const m = new Map<number, string>()
        for (let i = first; i >= 1 && i <= last; i++) {
          const e = await n.store.getLog(i)
          if (e) m.set(i, `${e.term}:${e.type}:${dec.decode(e.data)}`)
        }
        return { id: n.id, m }
      }),
    )
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        const A = logs[a]!
        const B = logs[b]!
        let agreeFrom = -1
        for (const [i, text] of A.m) {
          const other = B.m.get(i)
          if (other === undefined) continue
          const termA = text.split(':')[0]
          const termB = other.split(':')[0]
          if (termA === termB && text !== other) {
            this.violations.push(`log matching: ${A.id} and ${B.id} differ at ${i} in the same term`)
          }
          if (termA === termB && i > agreeFrom) agreeFrom = i
        }
        for (const [i, text] of A.m) {
          if (i > agreeFrom) continue
          const other = B.m.get(i)
          if (other !== undefined && other !== text) {
            this.violations.push(`log matching: ${A.id} and ${B.id} agree at ${agreeFrom} but differ at ${i}`)
          }
        }
      }
    }
  }

  /** Throws with every safety violation seen, naming the seed. */
  assertSafe(): void {
    const all = [...this.violations, ...this.record.violations]
    if (all.length > 0) {
      throw new Error(`safety violated (seed ${this.options.seed}):\n  ${all.slice(0, 10).join('\n  ')}`)
    }
  }
}

/** The entry types that a KvFsm never sees. */
export const internalTypes = new Set([LogType.Noop, LogType.Configuration, LogType.Barrier])

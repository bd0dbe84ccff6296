/**
 * The scheduler benchmark: how fast the Scheduler binds 5,000 pending pods to 100 nodes, with
 * every bind a real Raft write. In one process: three Raft voters, each on durable storage
 * (LevelStore, one fsync per batch; FileSnapshotStore) in a temp dir, over the in-memory
 * transport, each with an ObjectStore as its state machine. A StoreClient proposes on the
 * leader's Raft; the Scheduler runs on the leader as the ControllerManager would start it
 * (fenced by the leader's term, reading the leader's store).
 *
 * Two scenarios, each on a fresh cluster:
 * - `nodes only`: 100 Node objects created Ready (cpu 32, memory 128Gi, pods 110), then 5,000
 *   pods (50 ReplicationController-owned groups of 100, requests 100m cpu and 128Mi) created
 *   256 at a time, then the Scheduler started: measured from its start until the leader's
 *   store shows all 5,000 bound.
 * - `with agents`: the same, but the 100 Nodes are registered by 100 NodeAgents on
 *   FakeRuntimes (heart-beating, and starting each pod bound to them: sandbox, container,
 *   status writes) — the bind figure then includes competing with the agents for Raft; also
 *   reported, the time until all 5,000 pods are Running.
 *
 * Figures: bindings/s, the time to the first and last bind, the spread (min/max pods per
 * node), the Events the recorder dropped, CPU. Target (issue 7): ≥ 1,000 bindings/s.
 * Prints a table and writes bench/out/scheduler.json.
 *
 *   make bench B=scheduler
 *
 * Options, by environment: SHOAL_BENCH_PODS=N (default 5000), SHOAL_BENCH_NODES=N (100),
 * SHOAL_BENCH_AGENTS=0 to skip the scenario with agents, =only to run only that one.
 */

import '../../src/util/polyfill.js'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FakeRuntime, FakeRuntimeHost } from '../../src/agent/fake-runtime.js'
import { NodeAgent } from '../../src/agent/node-agent.js'
import type { ControllerContext } from '../../src/controllers/controller.js'
import { FencedStoreClient } from '../../src/controllers/fenced-store-client.js'
import { Scheduler } from '../../src/controllers/scheduler.js'
import { validateRaftConfig } from '../../src/raft/config.js'
import type { Configuration } from '../../src/raft/configuration.js'
import { FileSnapshotStore } from '../../src/raft/file-snapshot-store.js'
import { InmemNetwork, type InmemTransport } from '../../src/raft/inmem-transport.js'
import { LevelStore } from '../../src/raft/level-store.js'
import { Raft } from '../../src/raft/raft.js'
import { EventRecorder } from '../../src/store/event-recorder.js'
import {
  encodeStoreCommand,
  ObjectStore,
  type StoreCommand,
  type StoreResult,
} from '../../src/store/object-store.js'
import { type StoreClient, watchFromNow } from '../../src/store/store-client.js'
import type { KubeObject } from '../../src/store/types.js'
import { SystemClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/logger.js'
import { SeededRng, systemRng } from '../../src/util/random.js'
import { machineInfo, projectRoot, round, sleep, table, writeFigures } from '../support/stats.js'

const COMMAND = 'make bench B=scheduler'
const PODS = Number(process.env.SHOAL_BENCH_PODS ?? 5000)
const NODES = Number(process.env.SHOAL_BENCH_NODES ?? 100)
const AGENTS = process.env.SHOAL_BENCH_AGENTS ?? '1'
const GROUPS = 50
const CREATE_CONCURRENCY = 256
const NODE_CAPACITY = { cpu: '32', memory: '128Gi', pods: '110' }
const POD_REQUESTS = { cpu: '100m', memory: '128Mi' }
const BIND_TIMEOUT_MS = 90_000
const RUNNING_TIMEOUT_MS = 60_000
const TARGET_BINDINGS_PER_SEC = 1000

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

// ---------------------------------------------------------------- the cluster

interface Server {
  id: string
  store: ObjectStore
  level: LevelStore
  transport: InmemTransport
  raft: Raft
}

/** Three voters in one process, each with its own LevelDB, snapshots and ObjectStore. */
class Cluster {
  readonly servers: Server[] = []
  readonly clock = new SystemClock()
  readonly network = new InmemNetwork({ clock: this.clock, rng: systemRng() })

  constructor(private readonly root: string) {}

  async start(n: number): Promise<void> {
    const ids = Array.from({ length: n }, (_, i) => `s${i + 1}`)
    const configuration: Configuration = {
      servers: ids.map((id) => ({ id, address: id, suffrage: 'voter' as const })),
    }
    for (const id of ids) {
      const dir = join(this.root, id)
      await mkdir(dir, { recursive: true })
      const level = await LevelStore.open(join(dir, 'log'))
      const store = new ObjectStore()
      const transport = this.network.transport(id)
      const raft = new Raft({
        id,
        address: id,
        config: validateRaftConfig(),
        fsm: store,
        logStore: level,
        stableStore: level,
        snapshotStore: await FileSnapshotStore.open(join(dir, 'snapshots')),
        transport,
        clock: this.clock,
        rng: systemRng(),
      })
      await raft.bootstrapCluster(configuration)
      this.servers.push({ id, store, level, transport, raft })
    }
    for (const s of this.servers) await s.raft.start()
  }

  async leader(timeoutMs = 20_000): Promise<Server> {
    const deadline = performance.now() + timeoutMs
    while (performance.now() < deadline) {
      const l = this.servers.find((s) => s.raft.state() === 'leader')
      if (l) {
        // Everything before its term is applied before anyone reads its store.
        await l.raft.barrier({ timeoutMs: 5000 })
        return l
      }
      await sleep(20)
    }
    throw new Error(`bench/scheduler: no leader within ${timeoutMs} ms`)
  }

  async shutdown(): Promise<void> {
    for (const s of this.servers) {
      await s.raft.shutdown()
      await s.transport.close()
      await s.level.close()
    }
    this.network.close()
  }
}

/**
 * A StoreClient that proposes on whichever server leads now (as a peer forwards its writes),
 * waiting out an election, and reads one server's store.
 */
class LeaderStoreClient implements StoreClient {
  /** Proposals that failed, by error name (NotLeaderError, TimeoutError, …). */
  readonly failures = new Map<string, number>()

  constructor(
    readonly store: ObjectStore,
    private readonly cluster: Cluster,
  ) {}

  /** In one process every server's store is the leader's, as soon as it applies. */
  async waitCaughtUp(): Promise<void> {}

  async propose(command: StoreCommand): Promise<StoreResult> {
    const deadline = performance.now() + 10_000
    let leader = this.cluster.servers.find((s) => s.raft.state() === 'leader')
    while (!leader && performance.now() < deadline) {
      await sleep(20)
      leader = this.cluster.servers.find((s) => s.raft.state() === 'leader')
    }
    try {
      if (!leader) throw Object.assign(new Error('no leader'), { name: 'NoLeader' })
      const { response } = await leader.raft.apply(encodeStoreCommand(command), { timeoutMs: 10_000 })
      return response as StoreResult
    } catch (err) {
      const name = (err as Error).name
      this.failures.set(name, (this.failures.get(name) ?? 0) + 1)
      throw err
    }
  }
}

// ---------------------------------------------------------------- the objects

const isoNow = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')

function nodeObject(name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
    spec: {},
    status: {
      capacity: { ...NODE_CAPACITY },
      allocatable: { ...NODE_CAPACITY },
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: isoNow(),
          lastTransitionTime: isoNow(),
        },
      ],
    },
  }
}

function podObject(i: number): KubeObject {
  const group = i % GROUPS
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `pod-${String(i).padStart(5, '0')}`,
      namespace: 'default',
      labels: { app: `app-${group}` },
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'ReplicationController',
          name: `app-${group}`,
          uid: `00000000-0000-4000-8000-${String(group).padStart(12, '0')}`,
          controller: true,
        },
      ],
    },
    spec: {
      containers: [
        { name: 'app', image: 'shoal-test/busybox:latest', resources: { requests: POD_REQUESTS } },
      ],
    },
  }
}

/** Runs `fn(i)` for i in [0, n), `concurrency` at a time; throws on the first failure. */
async function inParallel(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++
      await fn(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker))
}

async function mustPropose(client: StoreClient, command: StoreCommand): Promise<void> {
  const r = await client.propose(command)
  if (!r.ok) throw new Error(`bench/scheduler: ${command.op} refused: ${r.status.message}`)
}

// ---------------------------------------------------------------- one scenario

interface ScenarioFigures {
  scenario: string
  pods: number
  nodes: number
  createPodsPerSec: number
  firstBindMs: number
  allBoundMs: number
  bindingsPerSec: number
  /** Bindings/s over the middle 80 % of the binds (no start-up, no tail). */
  steadyBindingsPerSec: number
  podsPerNodeMin: number
  podsPerNodeMax: number
  overcommittedNodes: number
  refused: number
  errors: number
  eventsDropped: number
  cpuSecondsWhileBinding: number
  allRunningMs: number | null
  /** Proposals (of anyone in the process) that failed, by error name. */
  proposalFailures: Record<string, number>
  /** Raft terms the leader went through during the run (1 = no election). */
  terms: number
  /** Schedulers started: one per term of leadership, as the ControllerManager would. */
  schedulerStarts: number
}

async function scenario(withAgents: boolean): Promise<ScenarioFigures> {
  const name = withAgents ? 'with agents' : 'nodes only'
  const root = await mkdtemp(join(tmpdir(), 'shoal-bench-scheduler-'))
  const cluster = new Cluster(root)
  const agents: NodeAgent[] = []
  let stopAll: () => void = () => {}
  try {
    await cluster.start(3)
    const leader = await cluster.leader()
    const client = new LeaderStoreClient(leader.store, cluster)
    const store = leader.store
    const nodeNames = Array.from({ length: NODES }, (_, i) => `node-${String(i).padStart(3, '0')}`)

    if (withAgents) {
      const host = new FakeRuntimeHost(cluster.clock)
      for (const nodeName of nodeNames) {
        const agent = new NodeAgent({
          nodeName,
          client,
          runtime: new FakeRuntime(host, nodeName),
          clock: cluster.clock,
          logger: silentLogger(),
          podsDir: join(root, 'pods', nodeName),
          hostIP: '127.0.0.1',
          apiPort: 6443,
          capacity: { ...NODE_CAPACITY },
        })
        agents.push(agent)
        await agent.start()
      }
      const deadline = performance.now() + 30_000
      while (store.list('nodes').items.length < NODES) {
        if (performance.now() > deadline) throw new Error('bench/scheduler: the agents did not register')
        await sleep(20)
      }
    } else {
      await inParallel(NODES, CREATE_CONCURRENCY, (i) =>
        mustPropose(client, {
          op: 'create',
          resource: 'nodes',
          object: nodeObject(nodeNames[i]!),
          uid: globalThis.crypto.randomUUID(),
          now: isoNow(),
        }),
      )
    }

    const c0 = performance.now()
    await inParallel(PODS, CREATE_CONCURRENCY, (i) =>
      mustPropose(client, {
        op: 'create',
        resource: 'pods',
        namespace: 'default',
        object: podObject(i),
        uid: globalThis.crypto.randomUUID(),
        now: isoNow(),
      }),
    )
    const createPodsPerSec = Math.round(PODS / ((performance.now() - c0) / 1000))
    log(`bench/scheduler [${name}]: ${NODES} nodes, ${PODS} pods created (${createPodsPerSec}/s)`)

    // Count binds and Running pods as the leader's store shows them.
    const boundAt: number[] = []
    const bound = new Set<string>()
    const running = new Set<string>()
    let allRunningAt: number | null = null
    let t0 = 0
    const cancel = watchFromNow(
      store,
      'pods',
      () => true,
      (e) => {
        const uid = e.object.metadata.uid ?? ''
        if ((e.object.spec as { nodeName?: string }).nodeName && !bound.has(uid)) {
          bound.add(uid)
          boundAt.push(performance.now() - t0)
        }
        if ((e.object.status as { phase?: string } | undefined)?.phase === 'Running' && !running.has(uid)) {
          running.add(uid)
          if (running.size === PODS) allRunningAt = performance.now() - t0
        }
      },
    )

    // As the ControllerManager does: a Scheduler per term of leadership, on the leader, fenced
    // by its term, reading its store; stopped the moment that server stops leading (the event
    // loop is shared by everything here, so a busy run can cost the leader its lease).
    const term = leader.raft.stats().term
    const logger = silentLogger()
    const recorders: EventRecorder[] = []
    const totals = { bound: 0, refused: 0, errors: 0 }
    let current: { scheduler: Scheduler; abort: AbortController; server: Server; term: number } | null = null
    let schedulerStarts = 0
    const stopScheduler = (): void => {
      if (!current) return
      const st = current.scheduler.stats
      totals.bound += st.bound
      totals.refused += st.refused
      totals.errors += st.errors
      current.scheduler.stop()
      current.abort.abort()
      current = null
    }
    const checkLeadership = async (): Promise<void> => {
      const now = cluster.servers.find((s) => s.raft.state() === 'leader')
      if (current && (current.server !== now || current.server.raft.stats().term !== current.term))
        stopScheduler()
      if (current || !now) return
      const t = now.raft.stats().term
      try {
        await now.raft.barrier({ timeoutMs: 5000 })
      } catch {
        return // not leading any more: the next check tries again
      }
      if (now.raft.state() !== 'leader' || now.raft.stats().term !== t || current) return
      const abort = new AbortController()
      const serverClient = new LeaderStoreClient(now.store, cluster)
      const fenced = new FencedStoreClient(serverClient, t, abort.signal)
      const ctx: ControllerContext = {
        client: fenced,
        store: now.store,
        clock: cluster.clock,
        rng: new SeededRng(7 + schedulerStarts),
        logger,
        events: (component) => {
          const r = new EventRecorder(fenced, { component }, cluster.clock, logger)
          recorders.push(r)
          return r
        },
        signal: abort.signal,
      }
      const scheduler = new Scheduler()
      current = { scheduler, abort, server: now, term: t }
      schedulerStarts += 1
      scheduler.start(ctx)
    }
    stopAll = stopScheduler
    const cpu0 = process.cpuUsage()
    t0 = performance.now()
    await checkLeadership()
    const deadline = t0 + BIND_TIMEOUT_MS
    while (bound.size < PODS) {
      if (performance.now() > deadline)
        throw new Error(`bench/scheduler: only ${bound.size}/${PODS} pods bound after ${BIND_TIMEOUT_MS} ms`)
      await sleep(5)
      await checkLeadership()
    }
    const allBoundMs = boundAt[boundAt.length - 1]!
    const cpu = process.cpuUsage(cpu0)
    if (withAgents) {
      const runDeadline = t0 + RUNNING_TIMEOUT_MS
      while (allRunningAt === null && performance.now() < runDeadline) await sleep(20)
    }
    cancel()
    stopScheduler()

    // The spread, and a check that no node holds more than it has.
    const perNode = new Map<string, { pods: number; milliCpu: number }>(
      nodeNames.map((n) => [n, { pods: 0, milliCpu: 0 }]),
    )
    for (const pod of store.list('pods').items) {
      const n = perNode.get((pod.spec as { nodeName?: string }).nodeName ?? '')
      if (!n) continue
      n.pods += 1
      n.milliCpu += 100
    }
    const counts = [...perNode.values()].map((n) => n.pods)
    const overcommitted = [...perNode.values()].filter((n) => n.pods > 110 || n.milliCpu > 32_000).length
    const lo = boundAt[Math.floor(PODS * 0.1)]!
    const hi = boundAt[Math.floor(PODS * 0.9)]!
    return {
      scenario: name,
      pods: PODS,
      nodes: NODES,
      createPodsPerSec,
      firstBindMs: round(boundAt[0]!, 1),
      allBoundMs: round(allBoundMs, 1),
      bindingsPerSec: Math.round(PODS / (allBoundMs / 1000)),
      steadyBindingsPerSec: Math.round((PODS * 0.8) / ((hi - lo) / 1000)),
      podsPerNodeMin: Math.min(...counts),
      podsPerNodeMax: Math.max(...counts),
      overcommittedNodes: overcommitted,
      refused: totals.refused,
      errors: totals.errors,
      schedulerStarts,
      eventsDropped: recorders.reduce((n, r) => n + r.dropped, 0),
      cpuSecondsWhileBinding: round((cpu.user + cpu.system) / 1e6, 2),
      allRunningMs: allRunningAt === null ? null : round(allRunningAt, 0),
      proposalFailures: Object.fromEntries(client.failures),
      terms: Math.max(...cluster.servers.map((sv) => sv.raft.stats().term)) - term + 1,
    }
  } finally {
    stopAll()
    for (const a of agents) await a.stop()
    await cluster.shutdown()
    await rm(root, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------- the run

async function main(): Promise<void> {
  const startedAt = new Date()
  // SystemClock's timers are unref'd and the in-memory network delivers on them: hold the
  // event loop open until the end (see bench/raft).
  const keepAlive = setInterval(() => {}, 60_000)
  try {
    const results: ScenarioFigures[] = []
    if (AGENTS !== 'only') results.push(await scenario(false))
    if (AGENTS !== '0') results.push(await scenario(true))
    const machine = machineInfo()
    const figures = {
      benchmark: 'scheduler',
      command: COMMAND,
      date: startedAt.toISOString(),
      ...machine,
      setup: {
        voters: 3,
        transport: 'InmemNetwork (in-process, SystemClock, zero delay)',
        storage: 'LevelStore (fsync per batch) + FileSnapshotStore, under os.tmpdir()',
        nodeCapacity: NODE_CAPACITY,
        podRequests: POD_REQUESTS,
        controllerGroups: GROUPS,
        maxInFlightBinds: 256,
      },
      target: { bindingsPerSec: TARGET_BINDINGS_PER_SEC },
      results,
    }
    const path = await writeFigures(projectRoot(import.meta.url), 'scheduler', figures)
    console.log(
      `scheduler: ${PODS} pods onto ${NODES} nodes, 3 Raft voters in one process (LevelStore, in-memory transport)`,
    )
    console.log(`command: ${COMMAND}`)
    console.log(`node ${machine.node}, ${machine.cpu} (${machine.cores} cores), ${figures.date}`)
    console.log('anchor: none (target: ≥ 1,000 bindings/s)')
    console.log('')
    console.log(
      table([
        [
          'scenario',
          'bindings/s',
          'steady/s',
          'first bind ms',
          'all bound ms',
          'pods/node min',
          'max',
          'overcommitted',
          'refused',
          'errors',
          'events dropped',
          'CPU s',
          'all Running ms',
        ],
        ...results.map((r) => [
          r.scenario,
          String(r.bindingsPerSec),
          String(r.steadyBindingsPerSec),
          r.firstBindMs.toFixed(1),
          r.allBoundMs.toFixed(0),
          String(r.podsPerNodeMin),
          String(r.podsPerNodeMax),
          String(r.overcommittedNodes),
          String(r.refused),
          String(r.errors),
          String(r.eventsDropped),
          r.cpuSecondsWhileBinding.toFixed(2),
          r.allRunningMs === null ? '-' : String(r.allRunningMs),
        ]),
      ]),
    )
    console.log(
      '(bindings/s: pods / time from the Scheduler start to the last bind seen in the leader store;' +
        ' steady: the middle 80 % of binds; CPU: the whole process, 3 Raft servers included)',
    )
    for (const r of results) {
      const failed = Object.entries(r.proposalFailures)
      if (failed.length > 0 || r.terms > 1)
        console.log(
          `${r.scenario}: failed proposals ${failed.map(([k, v]) => `${k} ${v}`).join(', ') || 'none'};` +
            ` Raft terms during the run: ${r.terms}; schedulers started: ${r.schedulerStarts}`,
        )
    }
    console.log(`figures written to ${path}`)
    const slow = results.filter((r) => r.overcommittedNodes > 0)
    if (slow.length > 0) throw new Error('bench/scheduler: a node was overcommitted')
  } finally {
    clearInterval(keepAlive)
  }
}

let finished = false
process.on('exit', () => {
  if (finished) return
  console.error('bench/scheduler: the process ran out of work before the benchmark finished')
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

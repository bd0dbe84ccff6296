/**
 * The scheduler benchmark with the peers in processes of their own, as a cluster runs: three
 * real `shoal agent` processes (fake runtime), each also running 33 simulated nodes (node
 * agents on the fake runtime, `--simulated-nodes`, like Kubernetes' kubemark hollow nodes),
 * so 102 nodes that heart-beat, run every pod bound to them and report its status — all of it
 * Raft writes, forwarded from the followers to the leader over libp2p.
 *
 * Only peer-3 runs the scheduler (`--controllers`); the others run every other controller.
 * With peer-1 or peer-2 leading, 5,000 pods (cpu 10m, memory 64Mi, in 50 groups of 100
 * behind 50 Services, which the scheduler spreads) are created through the API, 64 at a time
 * over the three peers, and stay pending. Then leadership is handed to peer-3: its scheduler
 * starts as a new leader's does, and the clock runs from the transfer request until peer-3's
 * `shoal_scheduler_bound_pods` metric says 5,000 (polled every 50 ms). Then the time until
 * every pod is Running. Target (issue 7): ≥ 1,000 bindings/s.
 *
 *   make bench B=scheduler-peers      (SHOAL_BENCH_PODS=N, default 5000;
 *                                      SHOAL_BENCH_CPUPROF=DIR: the peers' CPU profiles)
 */

import '../../src/util/polyfill.js'
import { closeHttpAgents } from '../support/http-client.js'
import { cleanup, cpuSeconds, tempDir } from '../support/processes.js'
import { ShoalCluster } from '../support/shoal-cluster.js'
import { machineInfo, projectRoot, round, sleep, table, writeFigures } from '../support/stats.js'

const COMMAND = 'make bench B=scheduler-peers'
const PODS = Number(process.env.SHOAL_BENCH_PODS ?? 5000)
const SIMULATED_PER_PEER = 33
const GROUPS = 50
const CONCURRENCY = 64
const BLOCK = 44
const BIND_TIMEOUT_MS = 120_000
const TARGET_BINDINGS_PER_SEC = 1000
const NS = 'bench'

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

function pod(i: number): string {
  const group = `g${i % GROUPS}`
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `p-${i}`, labels: { group } },
    spec: {
      terminationGracePeriodSeconds: 0,
      containers: [
        {
          name: 'main',
          image: 'shoal-test/busybox:latest',
          imagePullPolicy: 'IfNotPresent',
          resources: { requests: { cpu: '10m', memory: '64Mi' } },
        },
      ],
    },
  })
}

async function inParallel(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++)
    }),
  )
}

async function main(): Promise<void> {
  const root = projectRoot(import.meta.url)
  const dir = tempDir('shoal-bench-scheduler-peers-')
  const started = new Date()
  const cluster = new ShoalCluster({
    projectRoot: root,
    root: dir,
    block: BLOCK,
    runtime: 'fake',
    cpuProfDir: process.env.SHOAL_BENCH_CPUPROF,
    extraArgs: ['--simulated-nodes', String(SIMULATED_PER_PEER), '--no-service-proxy'],
    extraArgsOf: (i) =>
      i === 3 ? [] : ['--controllers', 'replication,node-lifecycle,endpoints,garbage-collector'],
  })
  const call = async (i: number, method: string, path: string, body?: string): Promise<string> => {
    const r = await cluster.call(i, method, path, body, 30_000)
    if (r.status >= 300)
      throw new Error(`bench: ${method} ${path} on peer-${i}: ${r.status} ${r.body.slice(0, 300)}`)
    return r.body
  }
  const transferTo = async (name: string): Promise<void> => {
    for (let i = 1; i <= 3; i++) {
      const r = await cluster.call(
        i,
        'POST',
        '/shoal/v1/cluster/transfer-leadership',
        JSON.stringify({ name }),
        10_000,
      )
      if (r.status === 200) return
    }
    throw new Error(`bench: could not hand leadership to ${name}`)
  }
  const boundOn3 = async (): Promise<number> => {
    const text = await call(3, 'GET', '/metrics')
    const m = /^shoal_scheduler_bound_pods (\d+)/m.exec(text)
    return m ? Number(m[1]) : 0
  }
  try {
    await cluster.start()
    const nodesExpected = 3 * (SIMULATED_PER_PEER + 1)
    for (;;) {
      const nodes = JSON.parse(await call(1, 'GET', '/api/v1/nodes')) as { items: unknown[] }
      if (nodes.items.length >= nodesExpected) break
      await sleep(200)
    }
    let leader = await cluster.waitStable(30_000)
    if (leader === 3) {
      await transferTo('peer-1')
      leader = await cluster.waitStable(30_000)
    }
    log(`${nodesExpected} nodes registered; leader peer-${leader}`)
    await call(
      leader,
      'POST',
      '/api/v1/namespaces',
      JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }),
    )
    for (let g = 0; g < GROUPS; g++) {
      await call(
        leader,
        'POST',
        `/api/v1/namespaces/${NS}/services`,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: `g${g}` },
          spec: { selector: { group: `g${g}` }, ports: [{ port: 80 }] },
        }),
      )
    }
    const c0 = performance.now()
    let retried = 0
    await inParallel(PODS, CONCURRENCY, async (i) => {
      for (let attempt = 0; ; attempt++) {
        const r = await cluster.call(
          ((i + attempt) % 3) + 1,
          'POST',
          `/api/v1/namespaces/${NS}/pods`,
          pod(i),
          30_000,
        )
        // 201, or 409 AlreadyExists after a retry of a write that had committed.
        if (r.status === 201 || (r.status === 409 && attempt > 0)) return
        if (attempt >= 5 || (r.status !== 503 && r.status !== 504 && r.status !== 0))
          throw new Error(`bench: creating pod ${i}: ${r.status} ${r.body.slice(0, 300)}`)
        retried += 1
        await sleep(200)
      }
    })
    const createPodsPerSec = Math.round(PODS / ((performance.now() - c0) / 1000))
    log(`${PODS} pods created (${createPodsPerSec}/s, ${retried} retried after a leader change), all pending`)
    // Let the followers' copies and the controllers settle before the clock starts.
    leader = await cluster.waitStable(30_000)
    if (leader === 3 || (await boundOn3()) > 0)
      throw new Error('bench: peer-3 led during the set-up and its scheduler ran early: run again')

    const commitIndex = async (): Promise<number> => (await cluster.status(3, 5000))?.commitIndex ?? 0
    const index0 = await commitIndex()
    const pids = [1, 2, 3].map((i) => cluster.pidOf(i))
    const cpu = (): number => pids.reduce((s, pid) => s + cpuSeconds(pid), 0)
    const cpu0 = cpu()
    const t0 = performance.now()
    await transferTo('peer-3')
    let firstBindMs: number | null = null
    const marks: { at: number; bound: number }[] = []
    for (;;) {
      const bound = await boundOn3()
      const at = performance.now() - t0
      if (bound > 0 && firstBindMs === null) firstBindMs = at
      marks.push({ at, bound })
      if (bound >= PODS) break
      if (at > BIND_TIMEOUT_MS)
        throw new Error(`bench: only ${bound}/${PODS} bound after ${BIND_TIMEOUT_MS} ms`)
      await sleep(50)
    }
    const allBoundMs = marks[marks.length - 1]!.at
    const cpuWhileBinding = cpu() - cpu0
    const entriesWhileBinding = (await commitIndex()) - index0
    const at = (n: number): number => marks.find((m) => m.bound >= n)!.at
    const steady = Math.round((PODS * 0.8) / ((at(PODS * 0.9) - at(PODS * 0.1)) / 1000))
    log(`all ${PODS} bound after ${Math.round(allBoundMs)} ms`)

    let allRunningMs: number | null = null
    for (;;) {
      const body = await call(
        3,
        'GET',
        `/api/v1/namespaces/${NS}/pods?fieldSelector=status.phase%21%3DRunning`,
      )
      const left = (JSON.parse(body) as { items: unknown[] }).items.length
      if (left === 0) {
        allRunningMs = performance.now() - t0
        break
      }
      if (performance.now() - t0 > BIND_TIMEOUT_MS) break
      await sleep(500)
    }
    const entriesUntilRunning = (await commitIndex()) - index0
    // The spread: pods per node.
    const pods = JSON.parse(await call(3, 'GET', `/api/v1/namespaces/${NS}/pods`)) as {
      items: { spec: { nodeName?: string } }[]
    }
    const perNode = new Map<string, number>()
    for (const p of pods.items)
      perNode.set(p.spec.nodeName ?? '', (perNode.get(p.spec.nodeName ?? '') ?? 0) + 1)
    const counts = [...perNode.values()]
    const figures = {
      pods: PODS,
      nodes: nodesExpected,
      createPodsPerSec,
      firstBindMs: round(firstBindMs ?? 0, 0),
      allBoundMs: round(allBoundMs, 0),
      bindingsPerSec: Math.round(PODS / (allBoundMs / 1000)),
      steadyBindingsPerSec: steady,
      podsPerNodeMin: Math.min(...counts),
      podsPerNodeMax: Math.max(...counts),
      peersCpuSecondsWhileBinding: round(cpuWhileBinding, 2),
      raftEntriesWhileBinding: entriesWhileBinding,
      raftEntriesPerPodUntilRunning: round(entriesUntilRunning / PODS, 2),
      allRunningMs: allRunningMs === null ? null : round(allRunningMs, 0),
    }
    const machine = machineInfo()
    console.log(`command: ${COMMAND}`)
    console.log(
      `date: ${started.toISOString()}   node ${machine.node}, ${machine.cpu}, ${machine.cores} cores`,
    )
    console.log('')
    console.log(
      table([
        [
          'pods',
          'nodes',
          'bindings/s',
          'middle 80 %',
          'first bind',
          'all bound',
          'pods/node min/max',
          'peers CPU while binding',
          'all Running',
        ],
        [
          String(PODS),
          String(nodesExpected),
          figures.bindingsPerSec.toLocaleString('en-US'),
          `${steady.toLocaleString('en-US')} /s`,
          `${figures.firstBindMs} ms`,
          `${(allBoundMs / 1000).toFixed(2)} s`,
          `${figures.podsPerNodeMin} / ${figures.podsPerNodeMax}`,
          `${figures.peersCpuSecondsWhileBinding} s`,
          allRunningMs === null ? 'not within the timeout' : `${(allRunningMs / 1000).toFixed(1)} s`,
        ],
      ]),
    )
    console.log(
      `Raft entries: ${entriesWhileBinding} while binding; ${figures.raftEntriesPerPodUntilRunning} per pod until all Running`,
    )
    console.log('')
    console.log(
      `target ≥ ${TARGET_BINDINGS_PER_SEC} bindings/s: ${figures.bindingsPerSec >= TARGET_BINDINGS_PER_SEC ? 'met' : 'MISSED'}`,
    )
    const out = await writeFigures(root, 'scheduler-peers', {
      command: COMMAND,
      date: started.toISOString(),
      machine,
      ...figures,
    })
    console.log(`figures: ${out}`)
  } finally {
    closeHttpAgents()
    // SIGINT: the peers exit cleanly (and write their CPU profiles, when asked for).
    await cleanup('SIGINT')
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})

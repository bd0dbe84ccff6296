/**
 * The API benchmark: durable writes through the Kubernetes API of three `shoal agent`
 * processes on loopback, side by side with its anchor, etcd 3.4 puts on three members, in the
 * same run (Shoal first, then etcd; never both running at once).
 *
 * Shoal: `POST /api/v1/namespaces/default/configmaps` of a ConfigMap with one 100-byte value
 * (answered 201 once committed), over HTTPS with the cluster CA and bearer token of each
 * peer's agent.json. etcd: `POST /v3/kv/put` of a 100-byte value through its v3 JSON gateway.
 *
 * Measures, for each system: 64 closed-loop clients (client k writes through member
 * (k mod 3) + 1) for 5 s after 3 s of warm-up: writes/s, p50, p99; and one client writing
 * through the leader for 5 s after 3 s of warm-up: p50, p99. Prints a side-by-side table
 * and writes the figures to bench/out/api.json.
 *
 *   make bench B=api
 *   SHOAL_BENCH_CPU_PROF=/tmp/prof make bench B=api   # each peer also writes a --cpu-prof profile there
 *   SHOAL_BENCH_API_SHOAL_ONLY=1 make bench B=api     # Shoal alone (quick iterations; no figures file)
 *   SHOAL_BENCH_API_SHOAL_ONLY=many make bench B=api  # ... and only the 64 clients (=one: only the one client)
 *   SHOAL_BENCH_WARMUP_MS=500 SHOAL_BENCH_MEASURE_MS=10000 make bench B=api  # other windows
 *   SHOAL_BENCH_NODE_FLAGS='--trace-gc' make bench B=api  # Node.js flags for the peers
 *   SHOAL_BENCH_ROUNDS=3 make bench B=api  # Shoal, etcd, Shoal, etcd, …: medians of the rounds
 *   SHOAL_BENCH_HTTP2=1 make bench B=api   # both over HTTP/2: Shoal's API as kubectl, etcd's gRPC
 *   SHOAL_BENCH_ETCD_TLS=1 make bench B=api  # etcd as Kubernetes runs it: client TLS, peer mutual TLS
 *   SHOAL_BENCH_API_PAIR=/path/to/other/checkout make bench B=api  # A/B: two Shoals at once
 *   SHOAL_BENCH_API_PAIR=. SHOAL_BENCH_API_PAIR_FLAGS='--max-semi-space-size=64' make bench B=api
 *       # ... this checkout with and without Node.js flags
 *
 * A/B of two builds of Shoal (`SHOAL_BENCH_API_PAIR`: another checkout, built): both clusters
 * run at the same time, 32 clients each, so both see the same machine — this VM's speed moves
 * by ±25 % between runs minutes apart, more than most changes are worth, while two clusters
 * side by side share whatever speed it has. Both are CPU-bound and share the two cores, so
 * the ratio of their rates is the inverse ratio of their CPU per write. Each round swaps their
 * addresses; no figures file.
 *
 * With several rounds the table holds each figure's median over the rounds (fresh clusters
 * every round), and each round's two rates are printed: on a shared VM both systems move by
 * ±15 % from minute to minute, and interleaving them keeps the comparison honest.
 */

import '../../src/util/polyfill.js'
import { mkdirSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { BENCH_ETCD_TLS, EtcdCluster, etcdVersion } from '../support/etcd-cluster.js'
import { BENCH_HTTP2, closeHttpAgents } from '../support/http-client.js'
import type { KvCluster, PutOutcome } from '../support/kv-cluster.js'
import { cleanup, cpuSeconds, tempDir } from '../support/processes.js'
import { describeTransport, ShoalCluster } from '../support/shoal-cluster.js'
import { machineInfo, percentile, projectRoot, round, table, writeFigures } from '../support/stats.js'

const SHOAL_BLOCK = 42
const ETCD_BLOCK = 43
const MANY_CLIENTS = 64
// Steady state, for both systems: a fresh Node.js process spends its first seconds under load
// compiling (V8's optimizing compiler on helper threads, de-optimizations), which a 0.5 s
// warm-up left inside the measured window (docs/BENCHMARKS.md); etcd has no JIT to warm.
const WARMUP_MS = Number(process.env.SHOAL_BENCH_WARMUP_MS ?? 3000)
const MEASURE_MS = Number(process.env.SHOAL_BENCH_MEASURE_MS ?? 5000)
const REQUEST_TIMEOUT_MS = 5000
const VALUE_BYTES = 100
const CONFIGMAPS_PATH = '/api/v1/namespaces/default/configmaps'
const CPU_PROF_DIR = process.env.SHOAL_BENCH_CPU_PROF
const SHOAL_ONLY_MODE = process.env.SHOAL_BENCH_API_SHOAL_ONLY ?? ''
const SHOAL_ONLY = ['1', 'many', 'one'].includes(SHOAL_ONLY_MODE)
const ROUNDS = Math.max(1, Number(process.env.SHOAL_BENCH_ROUNDS ?? 1))
const PAIR_ROOT = process.env.SHOAL_BENCH_API_PAIR
/** Node.js flags for this checkout's side of a pair only (the other side runs without). */
const PAIR_FLAGS = (process.env.SHOAL_BENCH_API_PAIR_FLAGS ?? '').split(' ').filter(Boolean)
const COMMAND = [
  ROUNDS > 1 ? `SHOAL_BENCH_ROUNDS=${ROUNDS}` : '',
  BENCH_HTTP2 ? 'SHOAL_BENCH_HTTP2=1' : '',
  BENCH_ETCD_TLS ? 'SHOAL_BENCH_ETCD_TLS=1' : '',
  'make bench B=api',
]
  .filter(Boolean)
  .join(' ')

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

const value = (seq: number): string => `${seq}:`.padEnd(VALUE_BYTES, 'v')

/** One durable write by client `client` (its `seq`-th) through member `member`; never throws. */
type Write = (member: number, client: string, seq: number) => Promise<PutOutcome>

// ---------------------------------------------------------------- Shoal's Kubernetes API

/** A ConfigMap create through member i's API (HTTPS with its CA and token, as its agent.json says). */
function configMapWrite(cluster: ShoalCluster): Write {
  return async (member, client, seq) => {
    const body = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `bench-${client}-${seq}` },
      data: { v: value(seq) },
    })
    const r = await cluster.call(member, 'POST', CONFIGMAPS_PATH, body, REQUEST_TIMEOUT_MS, {
      'content-type': 'application/json',
    })
    if (r.status === 201) return { ok: true, status: 201 }
    return { ok: false, status: r.status, error: r.error ?? (r.body.slice(0, 200) || undefined) }
  }
}

// ---------------------------------------------------------------- closed-loop load

interface LoadFigures {
  clients: number
  /** 'spread' (client k → member (k mod 3) + 1) or 'leader'. */
  through: 'spread' | 'leader'
  seconds: number
  writes: number
  opsPerSec: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  maxMs: number
  errors: number
  errorKinds: Record<string, number>
  /** CPU of the members and of the benchmark process in the measured window (cores). */
  membersCores: number
  clientCores: number
}

/**
 * `clients` closed-loop writers; writes that start after the warm-up and complete within the
 * measured window count. `target(k)` is the member client k writes through.
 */
async function measureLoad(
  cluster: KvCluster,
  write: Write,
  clients: number,
  through: 'spread' | 'leader',
  prefix: string,
): Promise<LoadFigures> {
  const leader = await cluster.waitStable(30_000)
  const target = (k: number): number => (through === 'leader' ? leader : (k % cluster.size) + 1)
  const from = performance.now() + WARMUP_MS
  const end = from + MEASURE_MS
  const times: number[] = []
  let errors = 0
  const errorKinds: Record<string, number> = {}
  const pids = cluster.pids()
  const membersCpu = (): number => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
  let cpuAtStart: { members: number; client: NodeJS.CpuUsage } | null = null

  const worker = async (k: number): Promise<void> => {
    let seq = 0
    while (performance.now() < end) {
      const t0 = performance.now()
      if (t0 >= from && cpuAtStart === null)
        cpuAtStart = { members: membersCpu(), client: process.cpuUsage() }
      const r = await write(target(k), `${prefix}${k}`, seq++)
      const t1 = performance.now()
      if (t0 < from || t1 > end) continue
      if (!r.ok) {
        errors++
        const kind =
          r.status === 0 ? (r.error ?? 'no answer') : `HTTP ${r.status}: ${(r.error ?? '').slice(0, 120)}`
        errorKinds[kind] = (errorKinds[kind] ?? 0) + 1
        continue
      }
      times.push(t1 - t0)
    }
  }
  await Promise.all(Array.from({ length: clients }, (_, k) => worker(k)))
  const atStart = cpuAtStart as { members: number; client: NodeJS.CpuUsage } | null
  const seconds = MEASURE_MS / 1000
  const membersCpuSeconds = atStart ? membersCpu() - atStart.members : 0
  const client = atStart ? process.cpuUsage(atStart.client) : { user: 0, system: 0 }
  return {
    clients,
    through,
    seconds,
    writes: times.length,
    opsPerSec: Math.round(times.length / seconds),
    p50Ms: round(percentile(times, 50), 3),
    p90Ms: round(percentile(times, 90), 3),
    p99Ms: round(percentile(times, 99), 3),
    maxMs: round(times.length > 0 ? Math.max(...times) : Number.NaN, 3),
    errors,
    errorKinds,
    membersCores: round(membersCpuSeconds / seconds, 2),
    clientCores: round((client.user + client.system) / 1e6 / seconds, 2),
  }
}

/** The members' CPU per write, e.g. `1.2 cores, 0.85 ms CPU/write`. */
function cpuPerWrite(l: LoadFigures): string {
  const perWriteMs = l.opsPerSec > 0 ? (1000 * l.membersCores) / l.opsPerSec : Number.NaN
  return `${l.membersCores} cores, ${round(perWriteMs, 2)} ms CPU/write`
}

// ---------------------------------------------------------------- one system, then the other

interface SystemFigures {
  name: string
  api: string
  startSeconds: number
  many: LoadFigures
  one: LoadFigures
}

async function measureSystem(
  cluster: KvCluster,
  /** Called once the cluster is up: how to write, and how the API is reached. */
  prepare: () => { write: Write; api: string },
  prefix: string,
): Promise<SystemFigures> {
  const t0 = performance.now()
  try {
    await cluster.start()
    const startSeconds = round((performance.now() - t0) / 1000, 1)
    log(`${cluster.name}: cluster formed in ${startSeconds} s`)
    const { write, api } = prepare()
    // One write first, so that a wrong status fails the run instead of filling it with errors.
    const check = await write(await cluster.waitStable(30_000), `${prefix}check`, 0)
    if (!check.ok) {
      throw new Error(
        `bench/api: ${cluster.name}: a first write failed: ${check.status} ${check.error ?? ''}`,
      )
    }
    const skip = (phase: string): boolean =>
      SHOAL_ONLY && SHOAL_ONLY_MODE !== '1' && SHOAL_ONLY_MODE !== phase
    const idle = { opsPerSec: 0, p50Ms: Number.NaN, p99Ms: Number.NaN } as LoadFigures
    const many = skip('many') ? idle : await measureLoad(cluster, write, MANY_CLIENTS, 'spread', prefix)
    log(
      `${cluster.name}: ${MANY_CLIENTS} clients: ${many.opsPerSec} writes/s, p50 ${many.p50Ms} ms, p99 ${many.p99Ms} ms, members ${cpuPerWrite(many)}`,
    )
    const one = skip('one') ? idle : await measureLoad(cluster, write, 1, 'leader', `${prefix}one`)
    log(
      `${cluster.name}: 1 client (leader): ${one.opsPerSec} writes/s, p50 ${one.p50Ms} ms, p99 ${one.p99Ms} ms, members ${cpuPerWrite(one)}`,
    )
    return { name: cluster.name, api, startSeconds, many, one }
  } catch (err) {
    log(cluster.logTails(15))
    throw err
  } finally {
    await cluster.stop()
  }
}

// ---------------------------------------------------------------- two builds at once

/**
 * `SHOAL_BENCH_API_PAIR`: this checkout and `otherRoot` side by side, each with half the
 * clients, for `ROUNDS` rounds; prints each round's rates and their ratio.
 */
async function pairedRuns(root: string, otherRoot: string, dir: string): Promise<void> {
  const ratios: number[] = []
  for (let r = 1; r <= ROUNDS; r++) {
    const sides = [root, otherRoot].map((projectRoot, k) => {
      // Each round swaps the address blocks, so neither build keeps the same one.
      const block = (r + k) % 2 === 0 ? SHOAL_BLOCK : ETCD_BLOCK
      const nodeFlags = k === 0 ? PAIR_FLAGS : []
      return new ShoalCluster({ projectRoot, root: join(dir, `pair-${r}-${k}`), block, nodeFlags })
    })
    try {
      await Promise.all(sides.map((cluster) => cluster.start()))
      const loads = await Promise.all(
        sides.map((cluster, k) =>
          measureLoad(cluster, configMapWrite(cluster), MANY_CLIENTS / 2, 'spread', `p${k}-`),
        ),
      )
      const [here, there] = loads as [LoadFigures, LoadFigures]
      ratios.push(here.opsPerSec / Math.max(1, there.opsPerSec))
      log(
        `bench/api: pair round ${r}: this checkout${PAIR_FLAGS.length > 0 ? ` (${PAIR_FLAGS.join(' ')})` : ''} ${here.opsPerSec} writes/s (${cpuPerWrite(here)}, ${here.errors} errors), ` +
          `${otherRoot} ${there.opsPerSec} writes/s (${cpuPerWrite(there)}, ${there.errors} errors): ratio ${round(ratios.at(-1)!, 3)}`,
      )
    } catch (err) {
      for (const cluster of sides) log(cluster.logTails(15))
      throw err
    } finally {
      await Promise.all(sides.map((cluster) => cluster.stop()))
    }
  }
  log(
    `bench/api: pair: median ratio ${round(percentile(ratios, 50), 3)} over ${ROUNDS} rounds (this checkout / other)`,
  )
}

// ---------------------------------------------------------------- the run

/** Each figure's median over the rounds (errors: their sum). */
function medianOf(rounds: SystemFigures[]): SystemFigures {
  const phase = (pick: (s: SystemFigures) => LoadFigures): LoadFigures => {
    const all = rounds.map(pick)
    const med = (f: (l: LoadFigures) => number) => percentile(all.map(f), 50)
    const errorKinds: Record<string, number> = {}
    for (const l of all)
      for (const [k, n] of Object.entries(l.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + n
    return {
      ...all[0]!,
      writes: med((l) => l.writes),
      opsPerSec: med((l) => l.opsPerSec),
      p50Ms: med((l) => l.p50Ms),
      p90Ms: med((l) => l.p90Ms),
      p99Ms: med((l) => l.p99Ms),
      maxMs: med((l) => l.maxMs),
      membersCores: med((l) => l.membersCores),
      clientCores: med((l) => l.clientCores),
      errors: all.reduce((sum, l) => sum + l.errors, 0),
      errorKinds,
    }
  }
  return {
    ...rounds[0]!,
    startSeconds: percentile(
      rounds.map((r) => r.startSeconds),
      50,
    ),
    many: phase((r) => r.many),
    one: phase((r) => r.one),
  }
}

const ms = (x: number): string => (Number.isNaN(x) ? '-' : `${x.toFixed(2)} ms`)

function report(shoal: SystemFigures, etcd: SystemFigures, etcdLabel: string): string {
  const [s, e] = [shoal, etcd]
  const ratio = e.many.opsPerSec > 0 ? `${Math.round((100 * s.many.opsPerSec) / e.many.opsPerSec)}%` : '-'
  const rows: string[][] = [
    ['', 'Shoal (ConfigMap create)', `${etcdLabel} (put)`, 'target (PRODUCT.md §5)'],
    [
      `${MANY_CLIENTS} clients over 3 members: writes/s`,
      String(s.many.opsPerSec),
      String(e.many.opsPerSec),
      `>= etcd (Shoal: ${ratio})`,
    ],
    [`${MANY_CLIENTS} clients: p50`, ms(s.many.p50Ms), ms(e.many.p50Ms), ''],
    [`${MANY_CLIENTS} clients: p99`, ms(s.many.p99Ms), ms(e.many.p99Ms), ''],
    [`${MANY_CLIENTS} clients: errors`, String(s.many.errors), String(e.many.errors), ''],
    [
      `${MANY_CLIENTS} clients: members CPU (cores)`,
      s.many.membersCores.toFixed(2),
      e.many.membersCores.toFixed(2),
      '',
    ],
    [
      `${MANY_CLIENTS} clients: client CPU (cores)`,
      s.many.clientCores.toFixed(2),
      e.many.clientCores.toFixed(2),
      '',
    ],
    ['1 client via the leader: p50', ms(s.one.p50Ms), ms(e.one.p50Ms), '<= 1.50 ms'],
    ['1 client via the leader: p99', ms(s.one.p99Ms), ms(e.one.p99Ms), ''],
    ['1 client via the leader: writes/s', String(s.one.opsPerSec), String(e.one.opsPerSec), ''],
    ['1 client: errors', String(s.one.errors), String(e.one.errors), ''],
  ]
  const lines = [table(rows), '']
  for (const sys of [s, e]) {
    for (const l of [sys.many, sys.one]) {
      const kinds = Object.entries(l.errorKinds)
      if (kinds.length > 0) {
        lines.push(
          `${sys.name}, ${l.clients} client(s), failed: ${kinds.map(([k, n]) => `${n} x ${k}`).join('; ')}`,
        )
      }
    }
  }
  lines.push(`Shoal API: ${s.api}`)
  lines.push(`etcd API:  ${e.api}`)
  return lines.join('\n')
}

async function main(): Promise<void> {
  const startedAt = new Date()
  const t0 = performance.now()
  const loadAtStart = loadavg().map((x) => round(x, 2))
  if (loadAtStart[0]! > 0.5) {
    log(`bench/api: load average ${loadAtStart.join(' ')}: other work is running, figures will be noisy`)
  }
  const root = projectRoot(import.meta.url)
  if (PAIR_ROOT) {
    const dir = tempDir('shoal-bench-api-pair-')
    try {
      return await pairedRuns(root, resolve(PAIR_ROOT), dir)
    } finally {
      closeHttpAgents()
      await cleanup()
    }
  }
  const etcd = etcdVersion()
  if (!etcd) throw new Error('bench/api: etcd is not installed (Debian: apt-get install -y etcd-server)')
  const dir = tempDir('shoal-bench-api-')
  try {
    const cpuProfDir = CPU_PROF_DIR ? resolve(CPU_PROF_DIR) : undefined
    if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true })
    const shoalRounds: SystemFigures[] = []
    const etcdRounds: SystemFigures[] = []
    for (let r = 1; r <= ROUNDS; r++) {
      if (ROUNDS > 1) log(`bench/api: round ${r} of ${ROUNDS}`)
      const shoalCluster = new ShoalCluster({
        projectRoot: root,
        root: join(dir, `shoal-${r}`),
        block: SHOAL_BLOCK,
        cpuProfDir,
      })
      shoalRounds.push(
        await measureSystem(
          shoalCluster,
          () => ({
            write: configMapWrite(shoalCluster),
            api: `${describeTransport(shoalCluster.endpointOf(1))}, POST ${CONFIGMAPS_PATH} (201)`,
          }),
          '',
        ),
      )
      if (SHOAL_ONLY) continue
      const etcdCluster = new EtcdCluster({ root: join(dir, `etcd-${r}`), block: ETCD_BLOCK })
      etcdRounds.push(
        await measureSystem(
          etcdCluster,
          () => ({
            write: (member, client, seq) =>
              etcdCluster.put(member, `bench/api/${client}/${seq}`, value(seq), REQUEST_TIMEOUT_MS),
            api: etcdCluster.describeApi(),
          }),
          'c',
        ),
      )
    }
    if (SHOAL_ONLY) {
      log(
        `bench/api: Shoal only (SHOAL_BENCH_API_SHOAL_ONLY=${SHOAL_ONLY_MODE}): no etcd run, no figures file`,
      )
      return
    }
    const shoal = medianOf(shoalRounds)
    const anchor = medianOf(etcdRounds)
    const perRound = shoalRounds.map((s, k) => ({
      shoalWritesPerSec: s.many.opsPerSec,
      etcdWritesPerSec: etcdRounds[k]!.many.opsPerSec,
      shoalOneClientP50Ms: s.one.p50Ms,
      etcdOneClientP50Ms: etcdRounds[k]!.one.p50Ms,
    }))
    const machine = machineInfo()
    const figures = {
      benchmark: 'api',
      command: COMMAND,
      date: startedAt.toISOString(),
      node: machine.node,
      etcd,
      cpu: machine.cpu,
      cores: machine.cores,
      loadAverage: { atStart: loadAtStart, atEnd: loadavg().map((x) => round(x, 2)) },
      runSeconds: round((performance.now() - t0) / 1000, 1),
      setup: {
        members: 3,
        shoal: `shoal agent --runtime process, 127.0.${SHOAL_BLOCK}.1-3, default Raft config, log level info`,
        etcd: `etcd ${etcd}, default settings${BENCH_ETCD_TLS ? ' with client TLS and peer mutual TLS' : ''}, 127.0.${ETCD_BLOCK}.1-3, ${BENCH_HTTP2 ? 'gRPC' : 'v3 JSON gateway'}`,
        client: 'node:http / node:https, keep-alive agents, in the benchmark process',
        manyClients: MANY_CLIENTS,
        warmupMs: WARMUP_MS,
        measureMs: MEASURE_MS,
        valueBytes: VALUE_BYTES,
        rounds: ROUNDS,
      },
      shoal,
      anchor,
      perRound,
    }
    const path = await writeFigures(root, 'api', figures)
    console.log(
      'api: durable writes, 3 shoal agents (Kubernetes API) vs 3 etcd members (put), one system at a time',
    )
    console.log(`command: ${COMMAND}`)
    console.log(
      `node ${machine.node}, etcd ${etcd}, ${machine.cpu} (${machine.cores} cores), ${figures.date}`,
    )
    console.log(
      `${VALUE_BYTES}-byte values, closed loop, ${MEASURE_MS / 1000} s measured after ${WARMUP_MS / 1000} s warm-up`,
    )
    if (ROUNDS > 1) {
      console.log(`${ROUNDS} rounds (Shoal, then etcd, each round); the table holds the medians`)
      for (const [k, r] of perRound.entries()) {
        const ratio = Math.round((100 * r.shoalWritesPerSec) / r.etcdWritesPerSec)
        console.log(
          `  round ${k + 1}: ${MANY_CLIENTS} clients ${r.shoalWritesPerSec} vs ${r.etcdWritesPerSec} writes/s (${ratio} %), 1 client p50 ${ms(r.shoalOneClientP50Ms)} vs ${ms(r.etcdOneClientP50Ms)}`,
        )
      }
    }
    console.log('')
    console.log(report(shoal, anchor, `etcd ${etcd}`))
    console.log('')
    console.log(`figures written to ${path}`)
  } finally {
    closeHttpAgents()
    await cleanup()
  }
}

let finished = false
// Should the event loop ever empty before the end, Node would exit with 0 and no figures: make
// that a failure that `make bench` reports. An exit with a code of its own (130 after Ctrl-C) is not.
process.on('exit', (code) => {
  if (finished || code !== 0) return
  console.error('bench/api: the process ran out of work before the benchmark finished')
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

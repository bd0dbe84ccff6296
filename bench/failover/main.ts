/**
 * The failover benchmark: three `shoal agent` processes on loopback, side by side with its
 * anchor, three etcd members with etcd's default settings, in the same run.
 *
 * Measures, for each system in turn (never both running at once):
 * - leader killed (SIGKILL) → next write acknowledged, over 20 trials: a client writes one
 *   key at a time to a live member (300 ms per request; on any error it moves to the next live
 *   member); the leader is killed at a random moment; the time runs from the kill to the
 *   acknowledgement of the first write sent after it. The killed member is restarted from
 *   its data dir and caught up before the next trial. Meanwhile an observer polls the
 *   survivors' status to tell when one of them first names a new leader.
 * - a preview of the API benchmark: durable writes with 1 and 64 closed-loop clients for 5 s
 *   each (after 0.5 s of warm-up), spread over the three members: writes/s, p50, p99, and the
 *   CPU the members and the client used.
 * Prints a side-by-side table and writes the figures to bench/out/failover.json.
 *
 *   make bench B=failover
 *
 * Options, by environment: SHOAL_BENCH_TRIALS=N (default 20) for a shorter run;
 * SHOAL_BENCH_CPU_PROF=DIR runs the Shoal peers under `node --cpu-prof` with profiles in DIR.
 */

import '../../src/util/polyfill.js'
import { mkdirSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { EtcdCluster, etcdVersion } from '../support/etcd-cluster.js'
import { closeHttpAgents } from '../support/http-client.js'
import type { KvCluster } from '../support/kv-cluster.js'
import { cleanup, cpuSeconds, type MachineCpu, machineCpu, tempDir } from '../support/processes.js'
import { ShoalCluster } from '../support/shoal-cluster.js'
import {
  between,
  machineInfo,
  percentile,
  projectRoot,
  round,
  sleep,
  table,
  writeFigures,
} from '../support/stats.js'

const COMMAND = 'make bench B=failover'
const TRIALS = Number(process.env.SHOAL_BENCH_TRIALS ?? 20)
const CPU_PROF_DIR = process.env.SHOAL_BENCH_CPU_PROF
const SHOAL_BLOCK = 40
const ETCD_BLOCK = 41
/** The failover client's timeout per request: past it, the client tries the next live member. */
const REQUEST_TIMEOUT_MS = 300
/** The kill comes at a random moment this long after the trial's first acknowledged write. */
const KILL_AFTER_MIN_MS = 100
const KILL_AFTER_MAX_MS = 600
/** How often the observer asks the survivors whom they name as leader. */
const OBSERVE_EVERY_MS = 20
/** A trial whose client has no write acknowledged this long after the kill fails the run. */
const TRIAL_TIMEOUT_MS = 30_000
const LOAD_CLIENTS = [1, 64]
const LOAD_WARMUP_MS = 500
const LOAD_MS = 5000
const LOAD_REQUEST_TIMEOUT_MS = 5000
const VALUE_BYTES = 100
const PING_SAMPLES = 300

const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

const members = (cluster: KvCluster): number[] => Array.from({ length: cluster.size }, (_, k) => k + 1)

/** The member after `i` (cyclically) that is live, or `i` itself when it is the only one. */
function nextLive(cluster: KvCluster, i: number): number {
  for (let step = 1; step <= cluster.size; step++) {
    const j = ((i - 1 + step) % cluster.size) + 1
    if (cluster.isLive(j)) return j
  }
  return i
}

const value = (seq: number): string => `${seq}:`.padEnd(VALUE_BYTES, 'v')

// ---------------------------------------------------------------- failover

interface FailoverTrial {
  killed: number
  /** The member the client was writing through when the leader was killed. */
  clientOn: number
  /** Kill → the first write sent after the kill is acknowledged. */
  killToWriteMs: number
  /** Kill → a survivor first names a new leader (status polled every OBSERVE_EVERY_MS). */
  killToLeaderMs: number | null
  newLeader: number | null
  /** Writes sent after the kill that failed before the acknowledged one (timeouts, errors). */
  failedWrites: number
  errors: string[]
}

async function failoverTrial(cluster: KvCluster, trial: number): Promise<FailoverTrial> {
  const leader = await cluster.waitStable(30_000)
  let target = (trial % cluster.size) + 1
  let killAt: number | null = null
  let clientOn = target
  let firstAck: () => void = () => {}
  const acked = new Promise<void>((r) => {
    firstAck = r
  })
  let done: { atMs: number } | null = null
  let failedWrites = 0
  const errors = new Set<string>()
  let seq = 0
  const trialStart = performance.now()

  const client = async (): Promise<void> => {
    while (done === null) {
      if (!cluster.isLive(target)) target = nextLive(cluster, target)
      const sentAt = performance.now()
      const afterKill = killAt !== null && sentAt >= killAt
      const r = await cluster.put(target, `bench/failover/${trial}`, value(seq++), REQUEST_TIMEOUT_MS)
      const at = performance.now()
      if (r.ok) {
        firstAck()
        if (afterKill) done = { atMs: at }
        continue
      }
      if (afterKill) {
        failedWrites++
        errors.add(r.status === 0 ? (r.error ?? 'no answer') : `HTTP ${r.status}`)
      }
      if (at - (killAt ?? trialStart) > TRIAL_TIMEOUT_MS) {
        const when = killAt === null ? 'the start of the trial' : 'the kill'
        throw new Error(`bench: ${cluster.name}: no write acknowledged ${TRIAL_TIMEOUT_MS} ms after ${when}`)
      }
      target = nextLive(cluster, target)
      // An error that came back at once (connection refused) is not retried in a busy loop.
      if (at - sentAt < 2) await sleep(2)
    }
  }

  let seen: { atMs: number; leader: number } | null = null
  let stopObserving = false
  const observer = async (kill: number): Promise<void> => {
    const survivors = members(cluster).filter((i) => i !== leader)
    while (seen === null && !stopObserving && performance.now() - kill < TRIAL_TIMEOUT_MS) {
      const views = await Promise.all(survivors.map((i) => cluster.leaderSeenBy(i, 200)))
      const view = views.find((v) => v?.leader != null && v.leader !== leader)
      if (view?.leader != null) seen = { atMs: performance.now(), leader: view.leader }
      else await sleep(OBSERVE_EVERY_MS)
    }
  }

  const running = client()
  let observing: Promise<void> = Promise.resolve()
  try {
    await Promise.race([acked, running])
    await sleep(between(KILL_AFTER_MIN_MS, KILL_AFTER_MAX_MS))
    clientOn = target
    killAt = cluster.kill(leader)
    // The observer goes on after the client's write, until it sees the new leader named.
    observing = observer(killAt)
    await running
    await observing
  } finally {
    stopObserving = true
    done ??= { atMs: Number.NaN }
  }
  const kill = killAt
  const done_ = done as { atMs: number }
  const seen_ = seen as { atMs: number; leader: number } | null
  await cluster.restart(leader)
  return {
    killed: leader,
    clientOn,
    killToWriteMs: round(done_.atMs - kill, 1),
    killToLeaderMs: seen_ ? round(seen_.atMs - kill, 1) : null,
    newLeader: seen_?.leader ?? null,
    failedWrites,
    errors: [...errors],
  }
}

interface FailoverFigures {
  trials: FailoverTrial[]
  medianMs: number
  p90Ms: number
  maxMs: number
  minMs: number
  /** Kill → a survivor names a new leader. */
  leaderMedianMs: number | null
  /** Trials where the client was writing through the member that was killed. */
  clientOnKilled: number
}

function failoverFigures(trials: FailoverTrial[]): FailoverFigures {
  const ms = trials.map((t) => t.killToWriteMs)
  const leaderMs = trials.flatMap((t) => (t.killToLeaderMs === null ? [] : [t.killToLeaderMs]))
  return {
    trials,
    medianMs: round(percentile(ms, 50), 1),
    p90Ms: round(percentile(ms, 90), 1),
    maxMs: round(Math.max(...ms), 1),
    minMs: round(Math.min(...ms), 1),
    leaderMedianMs: leaderMs.length > 0 ? round(percentile(leaderMs, 50), 1) : null,
    clientOnKilled: trials.filter((t) => t.clientOn === t.killed).length,
  }
}

// ---------------------------------------------------------------- writes under load

interface LoadFigures {
  clients: number
  seconds: number
  writes: number
  opsPerSec: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  maxMs: number
  errors: number
  /** Failed writes by kind: 'HTTP <status>: <reason>' or the client's error code. */
  errorKinds: Record<string, number>
  /** p50 of the writes sent to the leader, and of those sent to a follower (which forwards). */
  viaLeader: { writes: number; p50Ms: number }
  viaFollower: { writes: number; p50Ms: number }
  /** CPU used in the measured window, in cores (CPU seconds per second) and per write. */
  membersCores: number
  clientCores: number
  membersCpuUsPerWrite: number
  /** Cores busy with other processes of the machine meanwhile, and cores stolen by the VM's host. */
  otherCores: number
  stealCores: number
}

/**
 * `clients` closed-loop writers, each writing its own keys through member (k mod 3) + 1; a
 * single client writes through the members in turn. Writes that start after the warm-up
 * and complete within the measured window count.
 */
async function measureLoad(cluster: KvCluster, clients: number): Promise<LoadFigures> {
  const leader = await cluster.waitStable(30_000)
  const start = performance.now()
  const from = start + LOAD_WARMUP_MS
  const end = from + LOAD_MS
  const viaLeader: number[] = []
  const viaFollower: number[] = []
  let errors = 0
  const errorKinds: Record<string, number> = {}
  let cpuAtStart: { members: number; client: NodeJS.CpuUsage; machine: MachineCpu } | null = null
  const pids = cluster.pids()
  const membersCpu = (): number => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)

  const worker = async (k: number): Promise<void> => {
    let seq = 0
    let target = (k % cluster.size) + 1
    while (performance.now() < end) {
      if (clients === 1) target = (seq % cluster.size) + 1
      const t0 = performance.now()
      if (t0 >= from && cpuAtStart === null) {
        cpuAtStart = { members: membersCpu(), client: process.cpuUsage(), machine: machineCpu() }
      }
      const r = await cluster.put(
        target,
        `bench/load/c${k}/${seq % 1000}`,
        value(seq),
        LOAD_REQUEST_TIMEOUT_MS,
      )
      seq++
      const t1 = performance.now()
      if (t0 < from || t1 > end) continue
      if (!r.ok) {
        errors++
        const kind =
          r.status === 0 ? (r.error ?? 'no answer') : `HTTP ${r.status}: ${(r.error ?? '').slice(0, 120)}`
        errorKinds[kind] = (errorKinds[kind] ?? 0) + 1
        continue
      }
      ;(target === leader ? viaLeader : viaFollower).push(t1 - t0)
    }
  }
  await Promise.all(Array.from({ length: clients }, (_, k) => worker(k)))
  const atStart = cpuAtStart as { members: number; client: NodeJS.CpuUsage; machine: MachineCpu } | null
  const seconds = LOAD_MS / 1000
  const membersCpuSeconds = atStart ? membersCpu() - atStart.members : 0
  const client = atStart ? process.cpuUsage(atStart.client) : { user: 0, system: 0 }
  const clientCpuSeconds = (client.user + client.system) / 1e6
  const machine = machineCpu()
  const machineBusy = atStart ? machine.busy - atStart.machine.busy : 0
  const steal = atStart ? machine.steal - atStart.machine.steal : 0
  const all = [...viaLeader, ...viaFollower]
  return {
    clients,
    seconds,
    writes: all.length,
    opsPerSec: Math.round(all.length / seconds),
    p50Ms: round(percentile(all, 50), 3),
    p90Ms: round(percentile(all, 90), 3),
    p99Ms: round(percentile(all, 99), 3),
    maxMs: round(Math.max(...all), 3),
    errors,
    errorKinds,
    viaLeader: { writes: viaLeader.length, p50Ms: round(percentile(viaLeader, 50), 3) },
    viaFollower: { writes: viaFollower.length, p50Ms: round(percentile(viaFollower, 50), 3) },
    membersCores: round(membersCpuSeconds / seconds, 2),
    clientCores: round(clientCpuSeconds / seconds, 2),
    membersCpuUsPerWrite: all.length > 0 ? Math.round((membersCpuSeconds * 1e6) / all.length) : 0,
    otherCores: round(Math.max(0, machineBusy - membersCpuSeconds - clientCpuSeconds) / seconds, 2),
    stealCores: round(steal / seconds, 2),
  }
}

/** Round trips to a trivial endpoint (Shoal /healthz, etcd /version): the HTTP client's own share. */
async function measurePing(cluster: KvCluster, member: number): Promise<{ p50Ms: number; p99Ms: number }> {
  const times: number[] = []
  for (let i = 0; i < PING_SAMPLES + 20; i++) {
    const t0 = performance.now()
    if (!(await cluster.ping(member)))
      throw new Error(`bench: ${cluster.name}: ping of member ${member} failed`)
    if (i >= 20) times.push(performance.now() - t0)
  }
  return { p50Ms: round(percentile(times, 50), 3), p99Ms: round(percentile(times, 99), 3) }
}

// ---------------------------------------------------------------- one system, then the other

interface SystemFigures {
  name: string
  api: string
  startSeconds: number
  ping: { p50Ms: number; p99Ms: number }
  load: LoadFigures[]
  failover: FailoverFigures
}

async function measureSystem(cluster: KvCluster): Promise<SystemFigures> {
  const t0 = performance.now()
  try {
    await cluster.start()
    const startSeconds = round((performance.now() - t0) / 1000, 1)
    log(`${cluster.name}: cluster formed in ${startSeconds} s`)
    const ping = await measurePing(cluster, await cluster.waitStable(30_000))
    const load: LoadFigures[] = []
    for (const clients of LOAD_CLIENTS) {
      const l = await measureLoad(cluster, clients)
      log(
        `${cluster.name}: ${clients} client(s): ${l.opsPerSec} writes/s, p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms`,
      )
      load.push(l)
    }
    const trials: FailoverTrial[] = []
    for (let t = 0; t < TRIALS; t++) {
      const trial = await failoverTrial(cluster, t)
      log(
        `${cluster.name}: trial ${t + 1}/${TRIALS}: killed ${trial.killed}, next write after ${trial.killToWriteMs} ms` +
          ` (new leader ${trial.newLeader ?? '?'} named after ${trial.killToLeaderMs ?? '?'} ms)`,
      )
      trials.push(trial)
    }
    await cluster.waitStable(30_000)
    return {
      name: cluster.name,
      api: cluster.describeApi(),
      startSeconds,
      ping,
      load,
      failover: failoverFigures(trials),
    }
  } catch (err) {
    log(cluster.logTails(15))
    throw err
  } finally {
    await cluster.stop()
  }
}

// ---------------------------------------------------------------- the run

const ms = (x: number | null, digits = 0): string =>
  x === null || Number.isNaN(x) ? '-' : `${x.toFixed(digits)} ms`

function report(shoal: SystemFigures, etcd: SystemFigures, etcdLabel: string): string {
  const lines: string[] = []
  const [s, e] = [shoal.failover, etcd.failover]
  lines.push(`leader SIGKILLed -> next write acknowledged (${s.trials.length} trials each)`)
  lines.push(
    table([
      ['', 'Shoal', etcdLabel],
      ['median', ms(s.medianMs), ms(e.medianMs)],
      ['p90', ms(s.p90Ms), ms(e.p90Ms)],
      ['max', ms(s.maxMs), ms(e.maxMs)],
      ['min', ms(s.minMs), ms(e.minMs)],
      ['kill -> a survivor names a new leader, median', ms(s.leaderMedianMs), ms(e.leaderMedianMs)],
      [
        'trials where the client wrote through the killed leader',
        String(s.clientOnKilled),
        String(e.clientOnKilled),
      ],
    ]),
  )
  lines.push('')
  lines.push(
    table([
      ['trial', 'Shoal write', 'Shoal leader', 'failed', etcdLabel + ' write', 'leader', 'failed'],
      ...s.trials.map((t, k) => {
        const u = e.trials[k]
        return [
          String(k + 1),
          ms(t.killToWriteMs),
          ms(t.killToLeaderMs),
          String(t.failedWrites),
          u ? ms(u.killToWriteMs) : '',
          u ? ms(u.killToLeaderMs) : '',
          u ? String(u.failedWrites) : '',
        ]
      }),
    ]),
  )
  lines.push('')
  lines.push(
    `durable writes, ${VALUE_BYTES}-byte values, closed loop, ${LOAD_MS / 1000} s after ${LOAD_WARMUP_MS / 1000} s warm-up` +
      ' (preview of the API benchmark)',
  )
  const rows: string[][] = [['', ...LOAD_CLIENTS.flatMap((c) => [`Shoal ${c}c`, `${etcdLabel} ${c}c`])]]
  const pick = (f: (l: LoadFigures) => string): string[] =>
    LOAD_CLIENTS.flatMap((_, k) => [f(shoal.load[k]!), f(etcd.load[k]!)])
  rows.push(['writes/s', ...pick((l) => String(l.opsPerSec))])
  rows.push(['p50', ...pick((l) => ms(l.p50Ms, 2))])
  rows.push(['p99', ...pick((l) => ms(l.p99Ms, 2))])
  rows.push(['p50 through the leader', ...pick((l) => ms(l.viaLeader.p50Ms, 2))])
  rows.push(['p50 through a follower', ...pick((l) => ms(l.viaFollower.p50Ms, 2))])
  rows.push(['errors', ...pick((l) => String(l.errors))])
  rows.push(['members CPU (cores)', ...pick((l) => l.membersCores.toFixed(2))])
  rows.push(['members CPU per write', ...pick((l) => `${l.membersCpuUsPerWrite} us`)])
  rows.push(['client CPU (cores)', ...pick((l) => l.clientCores.toFixed(2))])
  rows.push(['other processes CPU (cores)', ...pick((l) => l.otherCores.toFixed(2))])
  rows.push(['stolen by the VM host (cores)', ...pick((l) => l.stealCores.toFixed(2))])
  lines.push(table(rows))
  for (const sys of [shoal, etcd]) {
    for (const l of sys.load) {
      const kinds = Object.entries(l.errorKinds)
      if (kinds.length > 0) {
        lines.push(
          `${sys.name}, ${l.clients} clients, failed writes: ${kinds.map(([k, n]) => `${n} x ${k}`).join('; ')}`,
        )
      }
    }
  }
  lines.push('')
  lines.push(
    table([
      ['context', 'Shoal', etcdLabel],
      ['API', shoal.api, etcd.api],
      [
        'round trip to a trivial endpoint (/healthz, /version), p50',
        ms(shoal.ping.p50Ms, 3),
        ms(etcd.ping.p50Ms, 3),
      ],
      ['round trip to a trivial endpoint, p99', ms(shoal.ping.p99Ms, 3), ms(etcd.ping.p99Ms, 3)],
      ['cluster start -> formed, leader, first write', `${shoal.startSeconds} s`, `${etcd.startSeconds} s`],
    ]),
  )
  return lines.join('\n')
}

async function main(): Promise<void> {
  const startedAt = new Date()
  const t0 = performance.now()
  const loadAtStart = loadavg().map((x) => round(x, 2))
  if (loadAtStart[0]! > 0.5) {
    log(`bench/failover: load average ${loadAtStart.join(' ')}: other work is running, figures will be noisy`)
  }
  if (!Number.isInteger(TRIALS) || TRIALS < 1) {
    throw new Error(`bench/failover: SHOAL_BENCH_TRIALS must be a positive integer, not ${TRIALS}`)
  }
  const root = projectRoot(import.meta.url)
  const etcd = etcdVersion()
  if (!etcd) throw new Error('bench/failover: etcd is not installed (Debian: apt-get install -y etcd-server)')
  const dir = tempDir('shoal-bench-failover-')
  const cpuProfDir = CPU_PROF_DIR ? resolve(CPU_PROF_DIR) : undefined
  if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true })
  try {
    const shoal = await measureSystem(
      new ShoalCluster({ projectRoot: root, root: join(dir, 'shoal'), block: SHOAL_BLOCK, cpuProfDir }),
    )
    const anchor = await measureSystem(new EtcdCluster({ root: join(dir, 'etcd'), block: ETCD_BLOCK }))
    const machine = machineInfo()
    const loadAverage = { atStart: loadAtStart, atEnd: loadavg().map((x) => round(x, 2)) }
    const figures = {
      benchmark: 'failover',
      command: COMMAND,
      date: startedAt.toISOString(),
      node: machine.node,
      etcd,
      cpu: machine.cpu,
      cores: machine.cores,
      /** The machine's 1, 5 and 15 min load averages: above ~0.5 at the start, other work was running. */
      loadAverage,
      runSeconds: round((performance.now() - t0) / 1000, 1),
      setup: {
        members: 3,
        shoal: `shoal agent --runtime process, 127.0.${SHOAL_BLOCK}.1-3, default Raft config, log level info`,
        etcd: `etcd ${etcd}, default settings (heartbeat 100 ms, election 1000 ms), 127.0.${ETCD_BLOCK}.1-3, v3 JSON gateway`,
        client: 'node:http / node:https, keep-alive agents, in the benchmark process',
        failover: {
          trials: TRIALS,
          requestTimeoutMs: REQUEST_TIMEOUT_MS,
          killAfterMs: [KILL_AFTER_MIN_MS, KILL_AFTER_MAX_MS],
          observeEveryMs: OBSERVE_EVERY_MS,
        },
        load: {
          clients: LOAD_CLIENTS,
          warmupMs: LOAD_WARMUP_MS,
          measureMs: LOAD_MS,
          valueBytes: VALUE_BYTES,
        },
      },
      shoal,
      anchor,
    }
    const path = await writeFigures(root, 'failover', figures)
    console.log('failover: 3 shoal agents vs 3 etcd members, each on loopback, one system at a time')
    console.log(`command: ${COMMAND}`)
    console.log(
      `node ${machine.node}, etcd ${etcd}, ${machine.cpu} (${machine.cores} cores), ${figures.date}`,
    )
    console.log('')
    console.log(report(shoal, anchor, `etcd ${etcd}`))
    console.log('')
    const busiest = Math.max(...[...shoal.load, ...anchor.load].map((l) => l.otherCores))
    if (busiest > 0.1) {
      console.log(
        `note: other processes used up to ${busiest.toFixed(2)} cores during the write runs;` +
          ' those figures are disturbed (run again on a quiet machine)',
      )
    }
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
  console.error('bench/failover: the process ran out of work before the benchmark finished')
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

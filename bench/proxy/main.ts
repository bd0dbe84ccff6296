/**
 * The service proxy benchmark: wrk (Debian's) through Shoal's TcpServiceProxy, side by side
 * with a direct connection to one back-end and with nginx's round-robin `stream {}` proxy
 * (one worker, Debian's nginx and its stream module), over the same three back-ends, in the
 * same run.
 *
 * The back-ends are three small Node.js HTTP servers in one child process (127.0.61.1..3),
 * each answering with its own name. Each target gets 1 s of warm-up, then
 * `wrk -t2 -c64 -d10s --latency` (keep-alive connections); the proxies run one at a time,
 * each in a process of its own, and the CPU they use is read from /proc. Each target is also
 * measured unloaded, `wrk -t1 -c1` (one connection, one request at a time): the latency a
 * proxy adds by itself, without the queueing of a saturated 2-core machine. Rows:
 * - direct: one back-end, no proxy;
 * - nginx: `worker_processes 1`, `stream { upstream { 3 servers } }` (round-robin);
 * - shoal, kernel rules: what a peer serving the address as root does by default (`--proxy-mode
 *   auto`): iptables DNAT rules written by KernelForwarder over the bound TcpServiceProxy;
 *   root only (skipped, loudly, otherwise). The proxy process's CPU is then ~0: the kernel's
 *   NAT work is done in the client's and the back-ends' system time, which every row pays;
 * - shoal, user space: TcpServiceProxy with its default (fast) data path, what a peer does
 *   without root (or with `--proxy-mode userspace`);
 * - shoal (streams): the same on public stream APIs only (`dataPath: 'streams'`), for reference.
 * Prints a table and writes bench/out/proxy.json.
 *
 *   make bench B=proxy
 *
 * Options, by environment: SHOAL_BENCH_SECONDS=N (default 10) per wrk run;
 * SHOAL_BENCH_ROUNDS=N (default 1) repeats the rows N times, interleaved.
 */

import '../../src/util/polyfill.js'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { removeClusterRules } from '../../src/proxy/kernel-forwarder.js'
import { clusterTag } from '../../src/proxy/kernel-rules.js'
import { systemIptables } from '../../src/util/iptables.js'
import { type Child, cleanup, cpuSeconds, startProcess, stopProcess, tempDir } from '../support/processes.js'
import { machineInfo, percentile, projectRoot, round, sleep, table, writeFigures } from '../support/stats.js'

const COMMAND = 'make bench B=proxy'
const SECONDS = Number(process.env.SHOAL_BENCH_SECONDS ?? 10)
const ROUNDS = Number(process.env.SHOAL_BENCH_ROUNDS ?? 1)
const WARMUP_SECONDS = 1
const THREADS = 2
const CONNECTIONS = 64
const WRK = '/usr/bin/wrk'
const NGINX = '/usr/sbin/nginx'
const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so'
const BACKEND_PORT = 18080
const BACKENDS = ['127.0.61.1', '127.0.61.2', '127.0.61.3']
const NGINX_AT = { host: '127.0.61.10', port: 18090 }
const SHOAL_AT = { host: '127.0.61.11', port: 18090 }

const here = dirname(fileURLToPath(import.meta.url))
const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

/** Whether something accepts connections on host:port now. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect({ host, port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

async function waitForPort(host: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    if (await listening(host, port)) return
    await sleep(50)
  }
  throw new Error(`bench: nothing listens on ${host}:${port} after ${timeoutMs} ms`)
}

interface WrkResult {
  requestsPerSec: number
  requests: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  errors: number
}

function toMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(value)
  if (!m) throw new Error(`bench: wrk latency '${value}' not understood`)
  const x = Number(m[1])
  return m[2] === 'us' ? x / 1000 : m[2] === 's' ? x * 1000 : x
}

function parseWrk(out: string): WrkResult {
  const latency = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out)
    if (!m) throw new Error(`bench: no ${p}% latency in wrk's output:\n${out}`)
    return toMs(m[1]!)
  }
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const requests = /(\d+) requests in/.exec(out)
  if (!rps || !requests) throw new Error(`bench: wrk's output not understood:\n${out}`)
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)
  const errors =
    (socketErrors ? socketErrors.slice(1).reduce((s, x) => s + Number(x), 0) : 0) + Number(non2xx?.[1] ?? 0)
  return {
    requestsPerSec: Number(rps[1]),
    requests: Number(requests[1]),
    p50Ms: latency('50'),
    p90Ms: latency('90'),
    p99Ms: latency('99'),
    errors,
  }
}

function wrk(url: string, seconds: number, connections: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const threads = Math.min(THREADS, connections)
    const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', url]
    const p = spawn(WRK, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d) => {
      out += d
    })
    p.stderr.on('data', (d) => {
      out += d
    })
    p.on('error', reject)
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench: wrk exited ${code}:\n${out}`))
      else {
        try {
          resolve(parseWrk(out))
        } catch (err) {
          reject(err)
        }
      }
    })
  })
}

/** The process and its children (nginx's worker), for CPU accounting. */
function withChildren(pid: number): number[] {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
    return [pid, ...(kids === '' ? [] : kids.split(/\s+/).map(Number))]
  } catch {
    return [pid]
  }
}

interface Row extends WrkResult {
  name: string
  round: number
  /** wrk's connections: CONNECTIONS (loaded) or 1 (unloaded). */
  connections: number
  /** CPU the proxy process(es) used per request, in µs (null for direct). */
  proxyCpuUsPerRequest: number | null
  /** Cores the proxy used over the measured run. */
  proxyCores: number | null
}

async function measure(
  name: string,
  round_: number,
  at: { host: string; port: number },
  proxy: Child | null,
  connections: number,
) {
  const url = `http://${at.host}:${at.port}/`
  await wrk(url, WARMUP_SECONDS, connections)
  const pids = proxy === null ? [] : withChildren(proxy.pid)
  const cpu = (): number => pids.reduce((s, pid) => s + cpuSeconds(pid), 0)
  const cpu0 = cpu()
  const r = await wrk(url, SECONDS, connections)
  const used = cpu() - cpu0
  const row: Row = {
    name,
    round: round_,
    connections,
    ...r,
    proxyCpuUsPerRequest: proxy === null ? null : round((used * 1e6) / r.requests, 1),
    proxyCores: proxy === null ? null : round(used / SECONDS, 2),
  }
  log(
    `${name} (-c${connections}): ${Math.round(r.requestsPerSec)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms` +
      (row.proxyCpuUsPerRequest === null ? '' : `, proxy ${row.proxyCpuUsPerRequest} µs CPU/request`),
  )
  return row
}

function nginxConfig(dir: string): string {
  const upstreams = BACKENDS.map((h) => `    server ${h}:${BACKEND_PORT};`).join('\n')
  const conf = `load_module ${NGINX_STREAM_MODULE};
worker_processes 1;
error_log ${join(dir, 'error.log')} warn;
pid ${join(dir, 'nginx.pid')};
events { worker_connections 4096; }
stream {
  upstream backends {
${upstreams}
  }
  server {
    listen ${NGINX_AT.host}:${NGINX_AT.port};
    proxy_pass backends;
  }
}
`
  const path = join(dir, 'nginx.conf')
  writeFileSync(path, conf)
  return path
}

async function startNginx(dir: string): Promise<Child> {
  const conf = nginxConfig(dir)
  const child = startProcess(
    'nginx',
    NGINX,
    ['-p', dir, '-c', conf, '-g', 'daemon off;'],
    join(dir, 'nginx.out'),
  )
  await waitForPort(NGINX_AT.host, NGINX_AT.port)
  return child
}

type ShoalPath = 'kernel' | 'auto' | 'streams'
const SHOAL_ROWS: Record<ShoalPath, string> = {
  kernel: 'shoal, kernel rules (root)',
  auto: 'shoal, user space',
  streams: 'shoal, streams data path',
}

async function startShoal(dir: string, dataPath: ShoalPath): Promise<Child> {
  const args = [
    join(here, 'proxy-process.js'),
    `${SHOAL_AT.host}:${SHOAL_AT.port}`,
    dataPath,
    ...BACKENDS.map((h) => `${h}:${BACKEND_PORT}`),
  ]
  const child = startProcess(`shoal-${dataPath}`, process.execPath, args, join(dir, `shoal-${dataPath}.log`))
  await waitForPort(SHOAL_AT.host, SHOAL_AT.port)
  return child
}

function versionOf(command: string, args: string[]): Promise<string> {
  return new Promise<string>((resolve) => {
    const p = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d) => {
      out += d
    })
    p.stderr.on('data', (d) => {
      out += d
    })
    p.on('error', () => resolve('unknown'))
    p.on('close', () => resolve(out.split('\n')[0]!.trim()))
  })
}

async function main(): Promise<void> {
  for (const [what, path] of [
    ['wrk (apt install wrk)', WRK],
    ['nginx (apt install nginx)', NGINX],
    ["nginx's stream module (apt install libnginx-mod-stream)", NGINX_STREAM_MODULE],
  ] as const) {
    if (!existsSync(path)) throw new Error(`bench: ${what} is missing: ${path}`)
  }
  // A leftover of an earlier run would be measured instead of this run's processes.
  for (const at of [...BACKENDS.map((host) => ({ host, port: BACKEND_PORT })), NGINX_AT, SHOAL_AT]) {
    if (await listening(at.host, at.port)) throw new Error(`bench: ${at.host}:${at.port} is already in use`)
  }
  const root = projectRoot(import.meta.url)
  const dir = tempDir('shoal-bench-proxy-')
  const started = new Date()
  const loadBefore = loadavg()[0]!
  const backends = startProcess(
    'backends',
    process.execPath,
    [join(here, 'backends.js'), String(BACKEND_PORT), ...BACKENDS],
    join(dir, 'backends.log'),
  )
  for (const h of BACKENDS) await waitForPort(h, BACKEND_PORT)

  const root_ = process.getuid?.() === 0
  const shoalPaths: ShoalPath[] = root_ ? ['kernel', 'auto', 'streams'] : ['auto', 'streams']
  if (!root_)
    log('bench/proxy: NOT ROOT: no kernel-rules row (the data path `shoal agent` uses by default as root)')
  const rows: Row[] = []
  for (let r = 1; r <= ROUNDS; r++) {
    for (const conns of [CONNECTIONS, 1])
      rows.push(
        await measure('direct (one back-end)', r, { host: BACKENDS[0]!, port: BACKEND_PORT }, null, conns),
      )
    const nginx = await startNginx(dir)
    for (const conns of [CONNECTIONS, 1])
      rows.push(await measure('nginx stream, 1 worker', r, NGINX_AT, nginx, conns))
    await stopProcess(nginx, 'SIGTERM')
    for (const dataPath of shoalPaths) {
      const shoal = await startShoal(dir, dataPath)
      const name = SHOAL_ROWS[dataPath]
      for (const conns of [CONNECTIONS, 1]) rows.push(await measure(name, r, SHOAL_AT, shoal, conns))
      await stopProcess(shoal, 'SIGTERM')
    }
  }
  await stopProcess(backends)

  // Per row name: the median over rounds.
  const names = [...new Set(rows.map((r) => r.name))]
  const med = (name: string, f: (r: Row) => number | null, connections = CONNECTIONS): number => {
    const xs = rows.filter((r) => r.name === name && r.connections === connections).map(f)
    return xs.some((x) => x === null) ? Number.NaN : percentile(xs as number[], 50)
  }
  const direct = names[0]!
  const nginx = names[1]!
  const summary = names.map((name) => ({
    name,
    requestsPerSec: Math.round(med(name, (r) => r.requestsPerSec)),
    p50Ms: med(name, (r) => r.p50Ms),
    p99Ms: med(name, (r) => r.p99Ms),
    addedP50Ms: round(med(name, (r) => r.p50Ms) - med(direct, (r) => r.p50Ms), 3),
    oneConnectionP50Ms: med(name, (r) => r.p50Ms, 1),
    oneConnectionAddedP50Ms: round(med(name, (r) => r.p50Ms, 1) - med(direct, (r) => r.p50Ms, 1), 3),
    vsNginx: round(med(name, (r) => r.requestsPerSec) / med(nginx, (r) => r.requestsPerSec), 2),
    proxyCpuUsPerRequest: med(name, (r) => r.proxyCpuUsPerRequest),
    errors: rows.filter((r) => r.name === name).reduce((s, r) => s + r.errors, 0),
  }))

  const wrkVersion = await versionOf(WRK, ['--version'])
  const nginxVersion = await versionOf(NGINX, ['-v'])
  const machine = machineInfo()
  const header = [
    '',
    'requests/s',
    'p50',
    'p99',
    'added p50',
    '× nginx',
    'proxy CPU/request',
    'p50 at -c1',
    'added at -c1',
    'errors',
  ]
  const lines = summary.map((s) => [
    s.name,
    s.requestsPerSec.toLocaleString('en-US'),
    `${s.p50Ms} ms`,
    `${s.p99Ms} ms`,
    s.name === direct ? '' : `${s.addedP50Ms} ms`,
    s.vsNginx.toFixed(2),
    Number.isNaN(s.proxyCpuUsPerRequest) ? '' : `${s.proxyCpuUsPerRequest} µs`,
    `${s.oneConnectionP50Ms} ms`,
    s.name === direct ? '' : `${s.oneConnectionAddedP50Ms} ms`,
    String(s.errors),
  ])
  const shoalRows = summary.filter((s) => s.name.startsWith('shoal') && !s.name.includes('streams'))
  console.log(
    `command: ${COMMAND}   (${ROUNDS} round(s), wrk -t${THREADS} -c${CONNECTIONS} -d${SECONDS}s --latency)`,
  )
  console.log(`date: ${started.toISOString()}   node ${machine.node}, ${machine.cpu}, ${machine.cores} cores`)
  console.log(`${wrkVersion}; ${nginxVersion}; load average before: ${loadBefore.toFixed(2)}`)
  console.log('')
  console.log(table([header, ...lines]))
  console.log('')
  for (const row of shoalRows)
    console.log(
      `targets, ${row.name}: throughput ≥ nginx: ${row.vsNginx >= 1 ? 'met' : 'MISSED'} (${row.vsNginx.toFixed(2)} ×); ` +
        `added p50 ≤ 0.3 ms: at -c${CONNECTIONS} ${row.addedP50Ms <= 0.3 ? 'met' : 'MISSED'} (${row.addedP50Ms} ms), ` +
        `at -c1 ${row.oneConnectionAddedP50Ms <= 0.3 ? 'met' : 'MISSED'} (${row.oneConnectionAddedP50Ms} ms)`,
    )
  const out = await writeFigures(root, 'proxy', {
    command: COMMAND,
    date: started.toISOString(),
    machine,
    wrk: { version: wrkVersion, threads: THREADS, connections: CONNECTIONS, seconds: SECONDS },
    nginx: nginxVersion,
    loadAverageBefore: loadBefore,
    rounds: ROUNDS,
    summary,
    rows,
  })
  console.log(`figures: ${out}`)
}

let finished = false
process.on('exit', () => {
  if (!finished) process.exitCode = 1
})
main()
  .catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
  .finally(async () => {
    await cleanup()
    // The kernel row's rules, should its process have died before removing them.
    if (process.getuid?.() === 0)
      await removeClusterRules(systemIptables, clusterTag('bench/proxy')).catch(() => {})
    finished = true
  })

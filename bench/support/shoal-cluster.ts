/**
 * Real `shoal agent` processes for the benchmarks: member i listens on 127.0.<block>.i (p2p
 * on :7400, API on :6443), keeps its data in <root>/peer-i, and logs (info level, JSON) to
 * <root>/peer-i.log. All share one cluster secret. The build must be current (dist/).
 *
 * The API is reached as the peer's agent.json (in its data dir) says: its URL and, when it
 * serves HTTPS, the cluster CA and bearer token files; plain HTTP until that file exists.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ClusterStatus } from '../../src/p2p/cluster-manager.js'
import { newClusterSecret } from '../../src/p2p/secret.js'
import { BENCH_HTTP2, type HttpAnswer, httpRequest } from './http-client.js'
import type { KvCluster, LeaderView, PutOutcome } from './kv-cluster.js'
import { type Child, startProcess, stopProcess } from './processes.js'
import { sleep } from './stats.js'

export interface ShoalClusterOptions {
  /** The project root (where bin/shoal.js is). */
  projectRoot: string
  /** A directory of its own for data dirs, logs and the secret. */
  root: string
  /** The third byte of the loopback addresses: 127.0.<block>.i. */
  block: number
  size?: number
  /** When set, every peer runs with `node --cpu-prof` and writes its profile here on a clean exit. */
  cpuProfDir?: string | undefined
  /** The peers' --runtime (default process). */
  runtime?: 'process' | 'docker' | 'fake'
  /** More `shoal agent` flags, e.g. `['--log-level', 'debug']`. */
  extraArgs?: string[]
  /** Node.js flags for the peers; default `SHOAL_BENCH_NODE_FLAGS` (experiments; not the client's). */
  nodeFlags?: string[]
  /** Flags for member i only (after extraArgs). */
  extraArgsOf?: (i: number) => string[]
}

/** Where a peer's API answers and how to be let in. */
interface ApiEndpoint {
  url: string
  ca?: string | undefined
  token?: string | undefined
}

/** How the benchmarks reach a peer's API: protocol, trust and credentials. */
export function describeTransport(e: ApiEndpoint): string {
  if (!e.url.startsWith('https:')) return 'HTTP'
  return `${BENCH_HTTP2 ? 'HTTP/2 over TLS' : 'HTTPS/1.1'}${e.ca ? ' (cluster CA)' : ''}${e.token ? ' with a bearer token' : ''}`
}

export class ShoalCluster implements KvCluster {
  readonly name = 'Shoal'
  readonly size: number
  private readonly children = new Map<number, Child>()
  private readonly endpoints = new Map<number, ApiEndpoint>()
  private readonly secretFile: string

  constructor(private readonly options: ShoalClusterOptions) {
    this.size = options.size ?? 3
    this.secretFile = join(options.root, 'cluster-secret')
  }

  ip(i: number): string {
    return `127.0.${this.options.block}.${i}`
  }

  private dataDir(i: number): string {
    return join(this.options.root, `peer-${i}`)
  }

  /** Member i's API, from its agent.json once written (and the same after restarts). */
  private endpoint(i: number): ApiEndpoint {
    const known = this.endpoints.get(i)
    if (known) return known
    const file = join(this.dataDir(i), 'agent.json')
    if (!existsSync(file)) return { url: `http://${this.ip(i)}:6443` }
    try {
      const info = JSON.parse(readFileSync(file, 'utf8')) as { api?: string; ca?: string; token?: string }
      if (typeof info.api !== 'string') return { url: `http://${this.ip(i)}:6443` }
      const endpoint: ApiEndpoint = {
        url: info.api,
        ca: info.ca ? readFileSync(info.ca, 'utf8') : undefined,
        token: info.token ? readFileSync(info.token, 'utf8').trim() : undefined,
      }
      this.endpoints.set(i, endpoint)
      return endpoint
    } catch {
      // Being written: next time.
      return { url: `http://${this.ip(i)}:6443` }
    }
  }

  /** Member i's API URL, CA and token (for clients of its own, e.g. a watch). */
  endpointOf(i: number): { url: string; ca?: string; token?: string } {
    const e = this.endpoint(i)
    return { url: e.url, ...(e.ca ? { ca: e.ca } : {}), ...(e.token ? { token: e.token } : {}) }
  }

  describeApi(): string {
    return `${describeTransport(this.endpoint(1))}, PUT /shoal/v1/kv/KEY`
  }

  /** One request to member i's API (with its CA and token). */
  call(
    i: number,
    method: string,
    path: string,
    body: string | undefined,
    timeoutMs: number,
    headers: Record<string, string> = {},
  ): Promise<HttpAnswer> {
    const e = this.endpoint(i)
    return httpRequest(
      `${e.url}${path}`,
      { method, body, ca: e.ca, token: e.token, headers, http2: BENCH_HTTP2 },
      timeoutMs,
    )
  }

  private spawn(i: number): void {
    const dataDir = this.dataDir(i)
    mkdirSync(dataDir, { recursive: true })
    const node: string[] = [
      ...(this.options.nodeFlags ?? (process.env.SHOAL_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)),
    ]
    if (this.options.cpuProfDir) {
      node.push(
        '--cpu-prof',
        '--cpu-prof-dir',
        this.options.cpuProfDir,
        '--cpu-prof-name',
        `peer-${i}.${Date.now()}.cpuprofile`,
      )
    }
    const args = [
      ...node,
      join(this.options.projectRoot, 'bin', 'shoal.js'),
      'agent',
      '--data-dir',
      dataDir,
      '--name',
      `peer-${i}`,
      '--p2p',
      `/ip4/${this.ip(i)}/tcp/7400`,
      '--api',
      `${this.ip(i)}:6443`,
      '--bootstrap-expect',
      String(this.size),
      '--secret-file',
      this.secretFile,
      '--runtime',
      this.options.runtime ?? 'process',
      // A loopback service range of its own: nothing of a benchmark goes on this host's interfaces.
      '--service-cidr',
      `127.${100 + this.options.block}.0.0/16`,
    ]
    for (let j = 1; j <= this.size; j++) if (j !== i) args.push('--join', `${this.ip(j)}:7400`)
    args.push(...(this.options.extraArgs ?? []), ...(this.options.extraArgsOf?.(i) ?? []))
    const log = join(this.options.root, `peer-${i}.log`)
    this.children.set(i, startProcess(`shoal peer-${i}`, process.execPath, args, log))
  }

  async start(): Promise<void> {
    mkdirSync(this.options.root, { recursive: true })
    writeFileSync(this.secretFile, newClusterSecret(), { mode: 0o600 })
    for (let i = 1; i <= this.size; i++) this.spawn(i)
    await this.waitStable(60_000)
  }

  isLive(i: number): boolean {
    const c = this.children.get(i)
    return !!c && c.process.exitCode === null && c.process.signalCode === null
  }

  async put(i: number, key: string, value: string, timeoutMs: number): Promise<PutOutcome> {
    const r = await this.call(i, 'PUT', `/shoal/v1/kv/${encodeURIComponent(key)}`, value, timeoutMs)
    if (r.status === 200) return { ok: true, status: 200 }
    return { ok: false, status: r.status, error: r.error ?? (r.body.slice(0, 200) || undefined) }
  }

  async ping(i: number): Promise<boolean> {
    return (await this.call(i, 'GET', '/healthz', undefined, 1000)).status === 200
  }

  async status(i: number, timeoutMs = 1000): Promise<ClusterStatus | null> {
    const r = await this.call(i, 'GET', '/shoal/v1/cluster/status', undefined, timeoutMs)
    if (r.status !== 200) return null
    try {
      return JSON.parse(r.body) as ClusterStatus
    } catch {
      return null
    }
  }

  /** The member number of a peer named `peer-N`, or null. */
  private indexOf(name: string | undefined): number | null {
    const m = /^peer-(\d+)$/.exec(name ?? '')
    return m ? Number(m[1]) : null
  }

  async leaderSeenBy(i: number, timeoutMs: number): Promise<LeaderView | null> {
    const s = await this.status(i, timeoutMs)
    if (!s) return null
    return { leader: s.leader ? this.indexOf(s.leader.name) : null, term: s.term }
  }

  async waitStable(timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs
    let streak = 0
    let last = ''
    while (performance.now() < deadline) {
      const live = Array.from({ length: this.size }, (_, k) => k + 1).filter((i) => this.isLive(i))
      const statuses = await Promise.all(live.map((i) => this.status(i)))
      const leaderIds = new Set(statuses.map((s) => s?.leader?.id ?? null))
      const first = statuses[0]
      const leader = this.indexOf(first?.leader?.name)
      const commit = Math.max(0, ...statuses.map((s) => s?.commitIndex ?? 0))
      const agreed =
        statuses.every((s) => s !== null && s.appliedIndex >= commit) &&
        leaderIds.size === 1 &&
        leader !== null &&
        this.isLive(leader)
      last = JSON.stringify(
        statuses.map((s) => s && { leader: s.leader?.name, term: s.term, applied: s.appliedIndex }),
      )
      streak = agreed ? streak + 1 : 0
      if (streak >= 2 && leader !== null) {
        const w = await this.put(leader, 'bench/stable', String(Date.now()), 2000)
        if (w.ok) return leader
        streak = 0
      }
      await sleep(50)
    }
    throw new Error(`bench: the Shoal cluster did not settle within ${timeoutMs} ms; last seen: ${last}`)
  }

  kill(i: number): number {
    const c = this.children.get(i)
    if (!c) throw new Error(`bench: no Shoal peer ${i}`)
    const at = performance.now()
    c.process.kill('SIGKILL')
    return at
  }

  async restart(i: number): Promise<void> {
    const c = this.children.get(i)
    if (c) await c.exited
    this.spawn(i)
    const deadline = performance.now() + 30_000
    while (!(await this.ping(i))) {
      if (!this.isLive(i)) throw new Error(`bench: Shoal peer-${i} exited after a restart`)
      if (performance.now() > deadline)
        throw new Error(`bench: Shoal peer-${i} did not answer after a restart`)
      await sleep(50)
    }
  }

  logTails(lines: number): string {
    return Array.from({ length: this.size }, (_, k) => k + 1)
      .map((i) => {
        const file = join(this.options.root, `peer-${i}.log`)
        const text = existsSync(file) ? readFileSync(file, 'utf8') : '(no log)'
        return `--- ${file} (last lines)\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`
      })
      .join('\n')
  }

  /** Member i's process id (0 when it is not running). */
  pidOf(i: number): number {
    return this.isLive(i) ? this.children.get(i)!.pid : 0
  }

  pids(): number[] {
    return [...this.children.entries()].filter(([i]) => this.isLive(i)).map(([, c]) => c.pid)
  }

  /** SIGINT (a plain stop, so that --cpu-prof can write its profile), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    await Promise.all([...this.children.values()].map((c) => stopProcess(c, 'SIGINT', 10_000)))
  }
}

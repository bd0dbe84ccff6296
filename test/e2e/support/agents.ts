/**
 * Real `shoal agent` processes for end-to-end tests, each on its own loopback address
 * (127.0.B.i, one block B per test file so files never collide), with data dirs in a
 * temporary directory removed at the end.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { httpsRequest } from '../../../src/api/https-client.js'
import type { ClusterStatus } from '../../../src/p2p/cluster-manager.js'
import { newClusterSecret } from '../../../src/p2p/secret.js'
import { removeClusterRules } from '../../../src/proxy/kernel-forwarder.js'
import { clusterTag } from '../../../src/proxy/kernel-rules.js'
import { ipToNumber, parseCidr } from '../../../src/store/service-allocation.js'
import { systemIptables } from '../../../src/util/iptables.js'

const shoalBin = fileURLToPath(new URL('../../../../bin/shoal.js', import.meta.url))

export interface AgentSpec {
  index: number
  name: string
  ip: string
  dataDir: string
  api: string
  p2p: string
}

export interface StartOptions {
  bootstrapExpect?: number
  join?: number[]
  secretFile?: string | null
  extraArgs?: string[]
  /** More environment for the agent process (e.g. `DEBUG` for libp2p's own logs). */
  env?: Record<string, string>
}

export class AgentCluster {
  readonly dir: string
  readonly secretFile: string
  /**
   * The cluster's service range, its own: loopback addresses for host processes; for Docker,
   * whose pods cannot reach the host's 127.x, a /24 of 198.18.0.0/15 (reserved for network
   * benchmarks, never a real host's). The peers put those cluster IPs on this host's `lo`, and
   * `destroy` takes them off again.
   */
  readonly serviceCidr: string
  readonly podCidr: string
  private readonly children = new Map<number, ChildProcess>()

  constructor(
    readonly block: number,
    readonly size: number,
    /** The agents' --runtime: process (the default here: no engine needed) or docker. */
    readonly runtime: 'process' | 'docker' | 'fake' = 'process',
  ) {
    this.serviceCidr = runtime === 'docker' ? `198.18.${block}.0/24` : `127.${100 + block}.0.0/16`
    // Likewise its pods' subnets: a /20 of the default pod range of its own (Docker networks the
    // test's peers make, removed by destroy).
    this.podCidr = `10.244.${(block % 16) * 16}.0/20`
    this.dir = mkdtempSync(join(tmpdir(), `shoal-e2e-${block}-`))
    this.secretFile = join(this.dir, 'cluster-secret')
    writeFileSync(this.secretFile, newClusterSecret(), { mode: 0o600 })
  }

  spec(i: number): AgentSpec {
    const ip = `127.0.${this.block}.${i}`
    return {
      index: i,
      // Docker clusters of different test files share one engine, where a node's name names
      // its pod network and labels its containers: each file's nodes have names of their own,
      // so what one file's cluster leaves behind never stands in another's way.
      name: this.runtime === 'docker' ? `b${this.block}-peer-${i}` : `peer-${i}`,
      ip,
      dataDir: join(this.dir, `peer-${i}`),
      api: `https://${ip}:6443`,
      p2p: `/ip4/${ip}/tcp/7400`,
    }
  }

  /** Starts peer `i` (1-based). */
  start(i: number, options: StartOptions = {}): ChildProcess {
    const s = this.spec(i)
    mkdirSync(s.dataDir, { recursive: true })
    const joinPeers =
      options.join ?? Array.from({ length: this.size }, (_, k) => k + 1).filter((k) => k !== i)
    const args = [
      shoalBin,
      'agent',
      '--data-dir',
      s.dataDir,
      '--name',
      s.name,
      '--p2p',
      s.p2p,
      '--api',
      `${s.ip}:6443`,
      '--bootstrap-expect',
      String(options.bootstrapExpect ?? Math.min(this.size, 3)),
      '--runtime',
      this.runtime,
      '--service-cidr',
      this.serviceCidr,
      '--pod-cidr',
      this.podCidr,
      '--log-level',
      'debug',
    ]
    if (options.secretFile !== null) args.push('--secret-file', options.secretFile ?? this.secretFile)
    for (const j of joinPeers) args.push('--join', `127.0.${this.block}.${j}:7400`)
    args.push(...(options.extraArgs ?? []))
    const log = openSync(join(s.dataDir, 'agent.log'), 'a')
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', log, log],
      ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
    })
    this.children.set(i, child)
    return child
  }

  running(i: number): boolean {
    const c = this.children.get(i)
    return !!c && c.exitCode === null && c.signalCode === null
  }

  /** Sends `signal` and waits for the process to exit (SIGKILL after `timeoutMs`). */
  async stop(i: number, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 15_000): Promise<number | null> {
    const c = this.children.get(i)
    if (!c || c.exitCode !== null || c.signalCode !== null) return c?.exitCode ?? null
    return new Promise((resolve) => {
      const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs)
      c.once('exit', (code) => {
        clearTimeout(timer)
        resolve(code)
      })
      c.kill(signal)
    })
  }

  /** Waits for peer `i`'s process to exit on its own and returns its exit code. */
  waitExit(i: number, timeoutMs = 15_000): Promise<number | null> {
    const c = this.children.get(i)!
    if (c.exitCode !== null) return Promise.resolve(c.exitCode)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`peer-${i} did not exit`)), timeoutMs)
      c.once('exit', (code) => {
        clearTimeout(timer)
        resolve(code)
      })
    })
  }

  log(i: number): string {
    try {
      return readFileSync(join(this.spec(i).dataDir, 'agent.log'), 'utf8')
    } catch {
      return ''
    }
  }

  /** The CA and token of peer `i` (written by the daemon into its data dir). */
  credentials(i: number): { ca: string; token: string } | null {
    try {
      const dir = this.spec(i).dataDir
      return {
        ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
        token: readFileSync(join(dir, 'token'), 'utf8').trim(),
      }
    } catch {
      return null
    }
  }

  /** A request to peer `i`'s API with its own CA and token; null when it does not answer. */
  async request(
    i: number,
    method: string,
    path: string,
    body?: string,
    timeoutMs = 5000,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: string } | null> {
    const creds = this.credentials(i) ?? this.credentials(1)
    if (!creds) return null
    try {
      return await httpsRequest({
        url: `${this.spec(i).api}${path}`,
        method,
        body,
        token: creds.token,
        ca: creds.ca,
        timeoutMs,
        headers,
      })
    } catch {
      return null
    }
  }

  async status(i: number): Promise<ClusterStatus | null> {
    const r = await this.request(i, 'GET', '/shoal/v1/cluster/status', undefined, 2000)
    return r && r.status === 200 ? (JSON.parse(r.body) as ClusterStatus) : null
  }

  /** PUT a key through peer `i`; returns the HTTP status (0 when unreachable). */
  async put(i: number, key: string, value: string, timeoutMs = 5000): Promise<number> {
    const r = await this.request(i, 'PUT', `/shoal/v1/kv/${encodeURIComponent(key)}`, value, timeoutMs)
    return r?.status ?? 0
  }

  /** GET a key from peer `i`'s own copy (consistent: through the leader's read index). */
  async get(i: number, key: string, consistent = false): Promise<string | null> {
    const r = await this.request(
      i,
      'GET',
      `/shoal/v1/kv/${encodeURIComponent(key)}${consistent ? '?consistent=1' : ''}`,
    )
    if (r?.status !== 200) return null
    return (JSON.parse(r.body) as { value: string }).value
  }

  /** Polls `check` every 100 ms until it returns a truthy value or `timeoutMs` passes. */
  async until<T>(
    what: string,
    check: () => Promise<T | null | undefined | false>,
    timeoutMs = 20_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const v = await check()
      if (v) return v
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${this.logTails()}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** Waits until the running peers among `among` agree on one leader; returns its index. */
  async leader(among: number[], timeoutMs = 20_000): Promise<number> {
    return this.until(
      'one leader that every running peer agrees on',
      async () => {
        const statuses = await Promise.all(among.map((i) => this.status(i)))
        if (statuses.some((s) => !s?.leader)) return null
        const ids = new Set(statuses.map((s) => s!.leader!.id))
        if (ids.size !== 1) return null
        const name = statuses[0]!.leader!.name
        const idx = among.find((i) => this.spec(i).name === name)
        return idx ?? null
      },
      timeoutMs,
    )
  }

  /** Peer `i`'s runtime, opened from its data dir (whether its agent runs or not); close it after. */
  async runtimeOf(i: number): Promise<import('../../../src/agent/runtime.js').Runtime> {
    const { createRuntime } = await import('../../../src/agent/create-runtime.js')
    const { silentLogger } = await import('../../../src/util/logger.js')
    const { SystemClock } = await import('../../../src/util/clock.js')
    const s = this.spec(i)
    if (this.runtime === 'fake') throw new Error('a fake runtime lives in its agent only')
    return createRuntime(this.runtime, {
      nodeName: s.name,
      dataDir: s.dataDir,
      logger: silentLogger(),
      clock: new SystemClock(),
    })
  }

  /** Stops and removes every sandbox and container of peer `i`'s node, and its pod network (its agent is down). */
  async removeRuntimeObjects(i: number): Promise<void> {
    if (this.runtime === 'fake') return
    const rt = await this.runtimeOf(i)
    // The runtime waits on the system clock, whose timers do not keep a process alive (a
    // daemon has its sockets for that); a test's after-hook has nothing else pending.
    const keepAlive = setInterval(() => {}, 1000)
    try {
      for (const c of await rt.listContainers()) if (c.state === 'running') await rt.stopContainer(c.id, 0)
      for (const sb of await rt.listSandboxes()) {
        await rt.stopSandbox(sb.id)
        await rt.removeSandbox(sb.id)
      }
      for (const c of await rt.listContainers()) await rt.removeContainer(c.id)
      // The node's pod network (Docker), now that no sandbox uses it.
      await rt.removePodNetwork?.()
    } finally {
      clearInterval(keepAlive)
      await rt.close()
    }
  }

  logTails(): string {
    return [...this.children.keys()]
      .map((i) => `--- peer-${i} (last lines)\n${this.log(i).split('\n').slice(-15).join('\n')}`)
      .join('\n')
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.children.keys()].map((i) => this.stop(i, 'SIGKILL', 5000)))
    // Pods outlive their agents by design: remove what each peer's runtime still holds.
    for (let i = 1; i <= this.size; i++) await this.removeRuntimeObjects(i).catch(() => {})
    removeHostAddressesIn(this.serviceCidr)
    // Killed peers leave their services' kernel rules behind (by design: they keep forwarding
    // until another peer takes over); nobody takes over here.
    if (process.getuid?.() === 0)
      await removeClusterRules(systemIptables, clusterTag(this.serviceCidr)).catch(() => {})
    if (!process.env.SHOAL_KEEP_E2E) rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Takes the /32s of `cidr` that the peers put on this host's interfaces off again (as root). */
function removeHostAddressesIn(cidr: string): void {
  if (process.getuid?.() !== 0) return
  const range = parseCidr(cidr)
  const shown = spawnSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' })
  for (const line of (shown.stdout ?? '').split('\n')) {
    const m = /^\d+:\s+(\S+)\s+inet\s+([\d.]+)\/32\b/.exec(line)
    if (!m) continue
    const n = ipToNumber(m[2]!)
    if (n < range.base || n >= range.base + range.size) continue
    spawnSync('ip', ['addr', 'del', `${m[2]}/32`, 'dev', m[1]!])
  }
}

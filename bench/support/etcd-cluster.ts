/**
 * An etcd cluster as the anchor of the process-level benchmarks: member i (named m<i>)
 * listens on 127.0.<block>.i (clients :2379, peers :2380), keeps its data in <root>/m<i> and
 * logs to <root>/m<i>.log. Every other setting is etcd's default (heartbeat 100 ms, election
 * timeout 1000 ms, fsync on). Clients use the v3 JSON gateway over plain HTTP.
 *
 * With `tls` (`SHOAL_BENCH_ETCD_TLS=1`) the members run as Kubernetes runs its etcd (kubeadm):
 * clients over HTTPS, peers over mutual TLS, one ECDSA P-256 certificate from a CA made for the
 * run with openssl (client certificates are not asked for: they cost only at the handshake).
 * Shoal's API is always HTTPS and its peers always encrypt (Noise and pnet), so this is the
 * anchor with the same protection on both sides.
 */

import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodeEtcdPut, grpcUnary } from './grpc-client.js'
import { BENCH_HTTP2, httpRequest } from './http-client.js'
import type { KvCluster, LeaderView, PutOutcome } from './kv-cluster.js'
import { type Child, startProcess, stopProcess } from './processes.js'
import { sleep } from './stats.js'

export interface EtcdClusterOptions {
  root: string
  block: number
  size?: number
  /** The etcd binary (default: `etcd` on the PATH). */
  binary?: string
  /** Client and peer traffic over TLS (default: `SHOAL_BENCH_ETCD_TLS=1`). */
  tls?: boolean
}

/** Whether the benchmarks' etcd runs with TLS unless told otherwise. */
export const BENCH_ETCD_TLS = process.env.SHOAL_BENCH_ETCD_TLS === '1'

/** The fields of `POST /v3/maintenance/status` used here (uint64s come as strings). */
interface EtcdStatus {
  header?: { member_id?: string; raft_term?: string }
  leader?: string
  raftIndex?: string
  raftTerm?: string
  raftAppliedIndex?: string
  version?: string
}

/** `etcd --version`'s first line's version ("3.4.23"), or null when etcd is not installed. */
export function etcdVersion(binary = 'etcd'): string | null {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' })
  if (r.status !== 0) return null
  return /etcd Version:\s*(\S+)/.exec(r.stdout)?.[1] ?? null
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')

export class EtcdCluster implements KvCluster {
  readonly name = 'etcd'
  readonly size: number
  private readonly children = new Map<number, Child>()
  /** Member ids (decimal strings, as the gateway prints them) → member number. */
  private readonly ids = new Map<string, number>()

  private readonly tls: boolean
  /** The CA clients trust when `tls` (made at start). */
  private caPem: string | undefined

  constructor(private readonly options: EtcdClusterOptions) {
    this.size = options.size ?? 3
    this.tls = options.tls ?? BENCH_ETCD_TLS
  }

  ip(i: number): string {
    return `127.0.${this.options.block}.${i}`
  }

  private get scheme(): string {
    return this.tls ? 'https' : 'http'
  }

  url(i: number): string {
    return `${this.scheme}://${this.ip(i)}:2379`
  }

  /** A CA and one certificate for every member's address (server and client use), by openssl. */
  private makeCertificates(): void {
    const dir = join(this.options.root, 'pki')
    mkdirSync(dir, { recursive: true })
    const sans = Array.from({ length: this.size }, (_, k) => `IP:${this.ip(k + 1)}`).join(',')
    writeFileSync(
      join(dir, 'member.ext'),
      `subjectAltName=${sans},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\n`,
    )
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    const steps = [
      [
        'req',
        '-x509',
        ...ec,
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-subj',
        '/CN=bench-etcd-ca',
        '-days',
        '7',
      ],
      ['req', ...ec, '-keyout', 'member.key', '-out', 'member.csr', '-subj', '/CN=bench-etcd-member'],
      [
        'x509',
        '-req',
        '-in',
        'member.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'member.crt',
        '-days',
        '7',
        '-extfile',
        'member.ext',
      ],
    ]
    for (const args of steps) {
      const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
      if (r.status !== 0) throw new Error(`bench: openssl ${args[0]} failed: ${r.stderr || r.error?.message}`)
    }
    this.caPem = readFileSync(join(dir, 'ca.crt'), 'utf8')
  }

  /** etcd's TLS flags for clients and peers (kubeadm's set, without client certificates). */
  private tlsArgs(): string[] {
    if (!this.tls) return []
    const pki = (f: string): string => join(this.options.root, 'pki', f)
    return [
      '--cert-file',
      pki('member.crt'),
      '--key-file',
      pki('member.key'),
      '--peer-cert-file',
      pki('member.crt'),
      '--peer-key-file',
      pki('member.key'),
      '--peer-trusted-ca-file',
      pki('ca.crt'),
      '--peer-client-cert-auth',
    ]
  }

  private spawn(i: number): void {
    const dataDir = join(this.options.root, `m${i}`)
    const initialCluster = Array.from(
      { length: this.size },
      (_, k) => `m${k + 1}=${this.scheme}://${this.ip(k + 1)}:2380`,
    ).join(',')
    const args = [
      '--name',
      `m${i}`,
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      this.url(i),
      '--advertise-client-urls',
      this.url(i),
      '--listen-peer-urls',
      `${this.scheme}://${this.ip(i)}:2380`,
      '--initial-advertise-peer-urls',
      `${this.scheme}://${this.ip(i)}:2380`,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      'shoal-bench',
      '--initial-cluster-state',
      'new',
      ...this.tlsArgs(),
    ]
    // Settings from the environment (ETCD_*) would override the defaults this anchor promises.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')))
    const log = join(this.options.root, `m${i}.log`)
    this.children.set(i, startProcess(`etcd m${i}`, this.options.binary ?? 'etcd', args, log, env))
  }

  async start(): Promise<void> {
    mkdirSync(this.options.root, { recursive: true })
    if (this.tls) this.makeCertificates()
    for (let i = 1; i <= this.size; i++) this.spawn(i)
    const deadline = performance.now() + 30_000
    for (let i = 1; i <= this.size; i++) {
      for (;;) {
        const s = await this.status(i, 1000)
        const id = s?.header?.member_id
        if (id) {
          this.ids.set(id, i)
          break
        }
        if (!this.isLive(i)) throw new Error(`bench: etcd m${i} exited at start; see its log`)
        if (performance.now() > deadline) throw new Error(`bench: etcd m${i} did not answer within 30 s`)
        await sleep(50)
      }
    }
    await this.waitStable(30_000)
  }

  isLive(i: number): boolean {
    const c = this.children.get(i)
    return !!c && c.process.exitCode === null && c.process.signalCode === null
  }

  async put(i: number, key: string, value: string, timeoutMs: number): Promise<PutOutcome> {
    if (BENCH_HTTP2) {
      const g = await grpcUnary(
        this.url(i),
        '/etcdserverpb.KV/Put',
        encodeEtcdPut(key, value),
        timeoutMs,
        this.caPem,
      )
      if (g.grpcStatus === 0) return { ok: true, status: 200 }
      return { ok: false, status: 0, error: g.error ?? `grpc-status ${g.grpcStatus}: ${g.message ?? ''}` }
    }
    const r = await httpRequest(
      `${this.url(i)}/v3/kv/put`,
      {
        method: 'POST',
        body: JSON.stringify({ key: b64(key), value: b64(value) }),
        headers: { 'content-type': 'application/json' },
        ca: this.caPem,
      },
      timeoutMs,
    )
    // The gateway answers 200 with a header, or an error status with {"error": ..., "code": ...}.
    if (r.status === 200 && r.body.includes('"header"')) return { ok: true, status: 200 }
    return { ok: false, status: r.status, error: r.error ?? (r.body.slice(0, 200) || undefined) }
  }

  async ping(i: number): Promise<boolean> {
    return (
      (await httpRequest(`${this.url(i)}/version`, { method: 'GET', ca: this.caPem }, 1000)).status === 200
    )
  }

  async status(i: number, timeoutMs = 1000): Promise<EtcdStatus | null> {
    const r = await httpRequest(
      `${this.url(i)}/v3/maintenance/status`,
      { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, ca: this.caPem },
      timeoutMs,
    )
    if (r.status !== 200) return null
    try {
      return JSON.parse(r.body) as EtcdStatus
    } catch {
      return null
    }
  }

  private indexOf(id: string | undefined): number | null {
    if (!id || id === '0') return null
    return this.ids.get(id) ?? null
  }

  async leaderSeenBy(i: number, timeoutMs: number): Promise<LeaderView | null> {
    const s = await this.status(i, timeoutMs)
    if (!s) return null
    return { leader: this.indexOf(s.leader), term: Number(s.raftTerm ?? 0) }
  }

  async waitStable(timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs
    let streak = 0
    let last = ''
    while (performance.now() < deadline) {
      const live = Array.from({ length: this.size }, (_, k) => k + 1).filter((i) => this.isLive(i))
      const statuses = await Promise.all(live.map((i) => this.status(i)))
      const leaders = new Set(statuses.map((s) => s?.leader ?? null))
      const terms = new Set(statuses.map((s) => s?.raftTerm ?? null))
      const leader = this.indexOf(statuses[0]?.leader)
      const committed = Math.max(0, ...statuses.map((s) => Number(s?.raftIndex ?? 0)))
      const agreed =
        statuses.every((s) => s !== null && Number(s.raftAppliedIndex ?? 0) >= committed) &&
        leaders.size === 1 &&
        terms.size === 1 &&
        leader !== null &&
        this.isLive(leader)
      last = JSON.stringify(
        statuses.map((s) => s && { leader: s.leader, term: s.raftTerm, applied: s.raftAppliedIndex }),
      )
      streak = agreed ? streak + 1 : 0
      if (streak >= 2 && leader !== null) {
        const w = await this.put(leader, 'bench/stable', String(Date.now()), 2000)
        if (w.ok) return leader
        streak = 0
      }
      await sleep(50)
    }
    throw new Error(`bench: the etcd cluster did not settle within ${timeoutMs} ms; last seen: ${last}`)
  }

  kill(i: number): number {
    const c = this.children.get(i)
    if (!c) throw new Error(`bench: no etcd member ${i}`)
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
      if (!this.isLive(i)) throw new Error(`bench: etcd m${i} exited after a restart`)
      if (performance.now() > deadline) throw new Error(`bench: etcd m${i} did not answer after a restart`)
      await sleep(50)
    }
  }

  describeApi(): string {
    const peers = this.tls ? '; peers over mutual TLS' : ''
    return BENCH_HTTP2
      ? `gRPC over HTTP/2 (${this.tls ? 'TLS' : 'cleartext'}), one connection per member, etcdserverpb.KV/Put${peers}`
      : `${this.tls ? 'HTTPS/1.1' : 'HTTP/1.1'}, v3 JSON gateway, POST /v3/kv/put${peers}`
  }

  logTails(lines: number): string {
    return Array.from({ length: this.size }, (_, k) => k + 1)
      .map((i) => {
        const file = join(this.options.root, `m${i}.log`)
        const text = existsSync(file) ? readFileSync(file, 'utf8') : '(no log)'
        return `--- ${file} (last lines)\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`
      })
      .join('\n')
  }

  pids(): number[] {
    return [...this.children.entries()].filter(([i]) => this.isLive(i)).map(([, c]) => c.pid)
  }

  async stop(): Promise<void> {
    await Promise.all([...this.children.values()].map((c) => stopProcess(c, 'SIGTERM', 10_000)))
  }
}

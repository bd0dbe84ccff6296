/**
 * `shoal up`: a local playground — N peers on this machine, each its own `shoal agent`
 * process on its own loopback address (127.0.1.N), data under DIR. Ctrl-C or SIGTERM stops
 * them all (they keep their state: `shoal up` again resumes the same cluster).
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Option } from 'clipanion'
import * as t from 'typanion'
import { httpsRequest } from '../src/api/https-client.js'
import type { ClusterStatus } from '../src/p2p/cluster-manager.js'
import { newClusterSecret } from '../src/p2p/secret.js'
import { connectionFromDataDir } from './client.js'
import { kubeconfigFor } from './kubeconfig.js'
import { CommandUsageError, ShoalCommand } from './shoal-command.js'

const shoalBin = fileURLToPath(new URL('../../bin/shoal.js', import.meta.url))

/** Where playground peer `i` (1-based) listens. */
export function playgroundPeer(
  i: number,
  dir: string,
): { name: string; ip: string; dataDir: string; api: string; p2p: string } {
  const ip = `127.0.1.${i}`
  return {
    name: `peer-${i}`,
    ip,
    dataDir: join(dir, `peer-${i}`),
    api: `${ip}:6443`,
    p2p: `/ip4/${ip}/tcp/7400`,
  }
}

/** The playground's service range when not root: loopback addresses (see OPERATIONS.md). */
export const NON_ROOT_SERVICE_CIDR = '127.96.0.0/12'

export class UpCommand extends ShoalCommand {
  static override paths = [['up']]
  static override usage = ShoalCommand.Usage({
    description: 'run a local playground cluster of N peers in the foreground',
    details: `
      Each peer is its own 'shoal agent' process on its own loopback address (127.0.1.1,
      127.0.1.2, ...), with its data under DIR/peer-N and its log in DIR/peer-N/agent.log.
      Ctrl-C stops them all; running 'shoal up' again resumes the same cluster.
    `,
    examples: [
      ['Three peers', 'shoal up'],
      ['Five peers under /tmp/shoal', 'shoal up --peers 5 --dir /tmp/shoal'],
    ],
  })

  peers = Option.String('--peers', '3', { description: 'how many peers', validator: t.isNumber() })
  dir = Option.String('--dir', './.shoal', { description: 'where the peers keep their data' })
  runtime = Option.String('--runtime', 'auto', {
    description:
      'auto (Docker when an engine answers, else process), docker, process, or fake (runs nothing: simulations)',
  })

  private children: { name: string; child: ChildProcess }[] = []

  async run(): Promise<number> {
    if (!Number.isInteger(this.peers) || this.peers < 1 || this.peers > 250) {
      throw new CommandUsageError(`--peers ${this.peers}: expected 1 to 250`)
    }
    if (!['auto', 'docker', 'process', 'fake'].includes(this.runtime)) {
      throw new CommandUsageError(`--runtime ${this.runtime}: expected auto, docker, process or fake`)
    }
    const dir = resolve(this.dir)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const secretFile = join(dir, 'cluster-secret')
    if (!existsSync(secretFile)) writeFileSync(secretFile, newClusterSecret(), { mode: 0o600 })
    const expect = Math.min(this.peers, 3)
    const out = this.context.stdout
    out.write(`starting ${this.peers} peers under ${dir}\n`)
    for (let i = 1; i <= this.peers; i++) {
      const p = playgroundPeer(i, dir)
      mkdirSync(p.dataDir, { recursive: true, mode: 0o700 })
      const args = [
        shoalBin,
        'agent',
        '--data-dir',
        p.dataDir,
        '--name',
        p.name,
        '--p2p',
        p.p2p,
        '--api',
        p.api,
        '--bootstrap-expect',
        String(expect),
        '--secret-file',
        secretFile,
        '--runtime',
        this.runtime,
        '--log-level',
        this.logLevel,
      ]
      // Without root no address can be put on the host: the cluster IPs are then loopback
      // addresses (any 127.x.y.z is the host's), which the host's processes reach.
      if (process.getuid?.() !== 0) args.push('--service-cidr', NON_ROOT_SERVICE_CIDR)
      // Everyone joins through the first two peers; the first joins through the second.
      for (const j of [1, 2]) if (j !== i && j <= this.peers) args.push('--join', `127.0.1.${j}:7400`)
      const log = openSync(join(p.dataDir, 'agent.log'), 'a')
      const child = spawn(process.execPath, args, { stdio: ['ignore', log, log], env: { ...process.env } })
      this.children.push({ name: p.name, child })
      child.on('exit', (code, signal) => {
        if (!this.stopping)
          out.write(`${p.name} exited (${signal ?? code}); its log: ${join(p.dataDir, 'agent.log')}\n`)
      })
      out.write(`  ${p.name}  api https://${p.api}  p2p ${p.p2p}  log ${join(p.dataDir, 'agent.log')}\n`)
    }
    const stop = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'))
      process.once('SIGTERM', () => resolve('SIGTERM'))
    })
    const watcher = this.watchLeader(dir)
    const signal = await stop
    this.stopping = true
    watcher.stop()
    out.write(`\n${signal}: stopping ${this.children.length} peers\n`)
    await this.stopAll()
    out.write('all peers stopped\n')
    return 0
  }

  private stopping = false

  /** Prints the leader whenever it changes (asking any peer that answers). */
  private watchLeader(dir: string): { stop(): void } {
    let last = ''
    let stopped = false
    let kubeconfigWritten = false
    const poll = async (): Promise<void> => {
      while (!stopped) {
        if (!kubeconfigWritten) kubeconfigWritten = this.writeKubeconfig(dir)
        let line = 'no leader yet'
        for (let i = 1; i <= this.peers && !stopped; i++) {
          try {
            const c = connectionFromDataDir(playgroundPeer(i, dir).dataDir)
            const res = await httpsRequest({
              url: `${c.server}/shoal/v1/cluster/status`,
              token: c.token,
              ca: c.ca,
              timeoutMs: 1000,
            })
            const s = JSON.parse(res.body) as ClusterStatus
            if (s.leader) {
              line = `leader: ${s.leader.name} (term ${s.term}, ${s.members.length} members)`
              break
            }
          } catch {
            // That peer is not up (yet); ask the next.
          }
        }
        if (line !== last && !stopped) {
          this.context.stdout.write(`${line}\n`)
          last = line
        }
        await new Promise((r) => setTimeout(r, 500))
      }
    }
    void poll()
    return {
      stop: () => {
        stopped = true
      },
    }
  }

  /** Writes DIR/kubeconfig once the first peer has its CA and token; true when done. */
  private writeKubeconfig(dir: string): boolean {
    try {
      const c = connectionFromDataDir(playgroundPeer(1, dir).dataDir)
      if (!c.ca || !c.token) return false
      const path = join(dir, 'kubeconfig')
      writeFileSync(path, kubeconfigFor(c), { mode: 0o600 })
      this.context.stdout.write(`kubeconfig: ${path}   (kubectl --kubeconfig ${path} get pods)\n`)
      return true
    } catch {
      // Peer 1 has not written its agent.json yet.
      return false
    }
  }

  private async stopAll(): Promise<void> {
    await Promise.all(
      this.children.map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve()
            const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
            child.once('exit', () => {
              clearTimeout(timer)
              resolve()
            })
            // SIGINT: stop without leaving, so that the next `shoal up` resumes the cluster.
            child.kill('SIGINT')
          }),
      ),
    )
  }
}

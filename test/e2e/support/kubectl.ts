/**
 * A stock kubectl (1.32, the real binary, not Google Cloud SDK's dispatcher) against the peers of
 * an `AgentCluster`: one kubeconfig per peer (printed by `shoal kubeconfig --server`, so every
 * file holds the same CA and token and names its own peer), and a fresh discovery cache for
 * every command, so nothing a command learnt leaks into the next.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import type { AgentCluster } from './agents.js'

/** The real kubectl 1.32 (`/usr/bin/kubectl` is a dispatcher that picks a version by asking /version). */
export const KUBECTL = process.env.SHOAL_KUBECTL ?? '/usr/lib/google-cloud-sdk/bin/kubectl.1.32'

const shoalBin = fileURLToPath(new URL('../../../../bin/shoal.js', import.meta.url))

export interface KubectlResult {
  code: number | null
  stdout: string
  stderr: string
}

/** A long-running kubectl (`get -w`): its output so far, a wait for a line, and a kill. */
export class KubectlProcess {
  stdout = ''
  stderr = ''
  exitCode: number | null | undefined = undefined
  private readonly waiters = new Set<() => void>()

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8')
    child.stderr!.setEncoding('utf8')
    child.stdout!.on('data', (d: string) => {
      this.stdout += d
      this.wake()
    })
    child.stderr!.on('data', (d: string) => {
      this.stderr += d
      this.wake()
    })
    child.on('exit', (code) => {
      this.exitCode = code
      this.wake()
    })
  }

  private wake(): void {
    for (const w of [...this.waiters]) w()
  }

  /** Resolves with stdout once `check(stdout)` holds; rejects after `timeoutMs` or when kubectl exits first. */
  waitFor(what: string, check: (stdout: string) => boolean, timeoutMs = 20_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const done = (): boolean => {
        if (check(this.stdout)) {
          finish()
          resolve(this.stdout)
          return true
        }
        if (this.exitCode !== undefined) {
          finish()
          reject(
            new Error(
              `kubectl exited (${this.exitCode}) before ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
            ),
          )
          return true
        }
        return false
      }
      const timer = setTimeout(() => {
        finish()
        reject(new Error(`timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`))
      }, timeoutMs)
      const waiter = (): void => {
        done()
      }
      const finish = (): void => {
        clearTimeout(timer)
        this.waiters.delete(waiter)
      }
      if (!done()) this.waiters.add(waiter)
    })
  }

  /** Kills kubectl (SIGKILL unless told) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exitCode !== undefined) return
    await new Promise<void>((resolve) => {
      this.child.once('exit', () => resolve())
      this.child.kill(signal)
    })
  }
}

export class Kubectl {
  readonly dir: string
  private caches = 0
  private readonly live = new Set<KubectlProcess>()

  /** Kubeconfigs and caches go under `<cluster dir>/kubectl`, removed with the cluster. */
  constructor(readonly cluster: AgentCluster) {
    this.dir = join(cluster.dir, 'kubectl')
    mkdirSync(this.dir, { recursive: true })
  }

  /** The kubeconfig of peer `i` (written on first use, once the peer wrote its CA, token and agent.json). */
  kubeconfig(i: number): string {
    const path = join(this.dir, `peer-${i}.kubeconfig`)
    try {
      readFileSync(path)
      return path
    } catch {
      // not written yet
    }
    const s = this.cluster.spec(i)
    const r = spawnSync(
      process.execPath,
      [shoalBin, 'kubeconfig', '--data-dir', s.dataDir, '--server', s.api],
      { encoding: 'utf8', timeout: 30_000 },
    )
    if (r.status !== 0) throw new Error(`shoal kubeconfig for peer ${i} failed (${r.status}): ${r.stderr}`)
    writeFileSync(path, r.stdout, { mode: 0o600 })
    return path
  }

  /** A kubeconfig for peer `i` whose user has another token (or none at all when `token` is null). */
  kubeconfigWithToken(i: number, token: string | null, name: string): string {
    const doc = parseYaml(readFileSync(this.kubeconfig(i), 'utf8')) as {
      users: { name: string; user: Record<string, unknown> }[]
    }
    for (const u of doc.users) {
      if (token === null) delete u.user.token
      else u.user.token = token
    }
    const path = join(this.dir, `${name}.kubeconfig`)
    writeFileSync(path, stringifyYaml(doc), { mode: 0o600 })
    return path
  }

  private args(i: number, args: string[], kubeconfig?: string): string[] {
    const cache = join(this.dir, `cache-${++this.caches}`)
    mkdirSync(cache)
    return ['--kubeconfig', kubeconfig ?? this.kubeconfig(i), '--cache-dir', cache, ...args]
  }

  /** Runs `kubectl ARGS` against peer `i` and waits for it to exit. */
  run(
    i: number,
    args: string[],
    options: { stdin?: string; timeoutMs?: number; kubeconfig?: string } = {},
  ): Promise<KubectlResult> {
    const child = spawn(KUBECTL, this.args(i, args, options.kubeconfig), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, HOME: this.dir, KUBECONFIG: '' },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (d: string) => {
      stdout += d
    })
    child.stderr.on('data', (d: string) => {
      stderr += d
    })
    child.stdin.end(options.stdin ?? '')
    const timeoutMs = options.timeoutMs ?? 60_000
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        stderr += `\n[test] kubectl ${args.join(' ')} killed after ${timeoutMs} ms`
        child.kill('SIGKILL')
      }, timeoutMs)
      child.on('close', (code) => {
        clearTimeout(timer)
        resolve({ code, stdout, stderr })
      })
    })
  }

  /** Runs kubectl and fails (with its output) unless it exits 0; returns stdout. */
  async ok(i: number, args: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.run(i, args, options)
    if (r.code !== 0) {
      throw new Error(
        `kubectl ${args.join(' ')} (peer ${i}) exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`,
      )
    }
    return r.stdout
  }

  /** `kubectl ARGS -o json`, parsed. */
  async json<T = Record<string, unknown>>(i: number, args: string[]): Promise<T> {
    return JSON.parse(await this.ok(i, [...args, '-o', 'json'])) as T
  }

  /** Starts a long-running kubectl (e.g. `get rc -w`) against peer `i`. */
  start(i: number, args: string[]): KubectlProcess {
    const child = spawn(KUBECTL, this.args(i, args), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HOME: this.dir, KUBECONFIG: '' },
    })
    const p = new KubectlProcess(child)
    this.live.add(p)
    child.on('exit', () => this.live.delete(p))
    return p
  }

  /** Kills every long-running kubectl still alive. */
  async killAll(): Promise<void> {
    await Promise.all([...this.live].map((p) => p.kill()))
  }
}

/** Splits a kubectl table into rows of cells (columns are separated by two or more spaces). */
export function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => l.trim().split(/\s{2,}/))
}

/** Writes `text` to `dir/name` and returns the path. */
export function writeManifest(dir: string, name: string, text: string): string {
  mkdirSync(dir, { recursive: true })
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

/** A fresh directory under `parent`. */
export function freshDir(parent: string, prefix: string): string {
  return mkdtempSync(join(parent, `${prefix}-`))
}

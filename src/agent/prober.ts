/**
 * Probes: liveness (a failing container is restarted) and readiness (the pod's Ready
 * condition), with httpGet, tcpSocket and exec, on Kubernetes' timing: the first probe after
 * initialDelaySeconds, then every periodSeconds, each given timeoutSeconds; the verdict flips
 * after failureThreshold failures in a row, or successThreshold successes.
 *
 * One worker per probe of a running container; `ProbeManager.sync` starts and stops them as
 * containers come and go. Verdict changes are reported through `onChange`, which the agent
 * turns into a pod sync. Timers run on the injected clock.
 */

import { request } from 'node:http'
import { connect } from 'node:net'
import type { Clock, TimerHandle } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import type { ContainerSpec, ProbeSpec } from './pod-spec.js'
import type { Runtime } from './runtime.js'

export type ProbeKind = 'liveness' | 'readiness'

/** Consecutive-result counting: the pure core of a probe worker. */
export class ProbeVerdict {
  private successes = 0
  private failures = 0

  constructor(
    /** The verdict before any probe ran: readiness starts false, liveness true. */
    public ok: boolean,
    private readonly successThreshold: number,
    private readonly failureThreshold: number,
  ) {}

  /** Records one probe's result; answers whether the verdict changed. */
  record(success: boolean): boolean {
    if (success) {
      this.failures = 0
      this.successes += 1
      if (!this.ok && this.successes >= this.successThreshold) {
        this.ok = true
        return true
      }
    } else {
      this.successes = 0
      this.failures += 1
      if (this.ok && this.failures >= this.failureThreshold) {
        this.ok = false
        return true
      }
    }
    return false
  }
}

/** Where a probe goes: the pod's IP, the container's named ports, the runtime for exec. */
export interface ProbeTarget {
  podIP: string
  containerId: string
  container: ContainerSpec
  runtime: Runtime
}

/** Resolves a probe's port (a number or the name of a container port). */
export function probePort(port: number | string, container: ContainerSpec): number {
  if (typeof port === 'number') return port
  if (/^\d+$/.test(port)) return Number(port)
  const named = (container.ports ?? []).find((p) => p.name === port)
  if (!named) throw new Error(`no container port named ${port}`)
  return named.containerPort
}

/** Runs one probe; answers success, or a message saying why not. */
export async function runProbe(
  spec: ProbeSpec,
  target: ProbeTarget,
): Promise<{ ok: boolean; message: string }> {
  const timeoutMs = (spec.timeoutSeconds ?? 1) * 1000
  try {
    if (spec.exec) {
      const r = await target.runtime.exec(target.containerId, spec.exec.command ?? [], timeoutMs)
      return r.exitCode === 0
        ? { ok: true, message: '' }
        : { ok: false, message: `exec probe exited ${r.exitCode}: ${r.output.trim().slice(0, 200)}` }
    }
    if (spec.httpGet) {
      const g = spec.httpGet
      const port = probePort(g.port, target.container)
      const host = g.host ?? target.podIP
      const code = await httpStatus(host, port, g.path ?? '/', g.httpHeaders ?? [], timeoutMs)
      return code >= 200 && code < 400
        ? { ok: true, message: '' }
        : { ok: false, message: `HTTP probe failed with statuscode: ${code}` }
    }
    if (spec.tcpSocket) {
      const port = probePort(spec.tcpSocket.port, target.container)
      await tcpConnect(spec.tcpSocket.host ?? target.podIP, port, timeoutMs)
      return { ok: true, message: '' }
    }
    return { ok: false, message: 'the probe has no handler' }
  } catch (err) {
    return { ok: false, message: (err as Error).message }
  }
}

function httpStatus(
  host: string,
  port: number,
  path: string,
  headers: { name: string; value: string }[],
  timeoutMs: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        path,
        method: 'GET',
        headers: {
          'user-agent': 'kube-probe/1.32',
          ...Object.fromEntries(headers.map((h) => [h.name, h.value])),
        },
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      },
    )
    req.on('timeout', () =>
      req.destroy(new Error(`Get "http://${host}:${port}${path}": context deadline exceeded`)),
    )
    req.on('error', reject)
    req.end()
  })
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, timeout: timeoutMs })
    socket.once('connect', () => {
      socket.destroy()
      resolve()
    })
    socket.once('timeout', () => {
      socket.destroy()
      reject(new Error(`dial tcp ${host}:${port}: i/o timeout`))
    })
    socket.once('error', (err) => reject(new Error(`dial tcp ${host}:${port}: ${err.message}`)))
  })
}

interface Worker {
  kind: ProbeKind
  verdict: ProbeVerdict
  timer: TimerHandle | null
  stopped: boolean
  lastMessage: string
}

/** What the agent hears when a verdict changes. */
export type ProbeListener = (containerId: string, kind: ProbeKind, ok: boolean, message: string) => void

export class ProbeManager {
  private readonly workers = new Map<string, Worker[]>()

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly onChange: ProbeListener,
    /** Runs a probe (injected in tests). */
    private readonly run: (
      spec: ProbeSpec,
      target: ProbeTarget,
    ) => Promise<{ ok: boolean; message: string }> = runProbe,
  ) {}

  /** Makes sure the probes of a running container run (idempotent). */
  ensure(target: ProbeTarget): void {
    if (this.workers.has(target.containerId)) return
    const list: Worker[] = []
    const c = target.container
    if (c.livenessProbe) list.push(this.startWorker('liveness', c.livenessProbe, target))
    if (c.readinessProbe) list.push(this.startWorker('readiness', c.readinessProbe, target))
    this.workers.set(target.containerId, list)
  }

  /** The current verdict of a container's probe (undefined when it has none). */
  verdict(containerId: string, kind: ProbeKind): boolean | undefined {
    return this.workers.get(containerId)?.find((w) => w.kind === kind)?.verdict.ok
  }

  /** Stops the probes of containers not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const id of [...this.workers.keys()]) if (!keep.has(id)) this.stop(id)
  }

  stop(containerId: string): void {
    for (const w of this.workers.get(containerId) ?? []) {
      w.stopped = true
      this.clock.clearTimeout(w.timer)
    }
    this.workers.delete(containerId)
  }

  stopAll(): void {
    for (const id of [...this.workers.keys()]) this.stop(id)
  }

  private startWorker(kind: ProbeKind, spec: ProbeSpec, target: ProbeTarget): Worker {
    const w: Worker = {
      kind,
      verdict: new ProbeVerdict(kind === 'liveness', spec.successThreshold ?? 1, spec.failureThreshold ?? 3),
      timer: null,
      stopped: false,
      lastMessage: '',
    }
    const periodMs = (spec.periodSeconds ?? 10) * 1000
    const tick = async (): Promise<void> => {
      w.timer = null
      if (w.stopped) return
      const result = await this.run(spec, target)
      if (w.stopped) return
      if (!result.ok) w.lastMessage = result.message
      if (w.verdict.record(result.ok)) {
        this.logger.debug(
          { container: target.containerId, kind, ok: w.verdict.ok, message: result.message },
          'probe verdict changed',
        )
        this.onChange(target.containerId, kind, w.verdict.ok, result.message)
      }
      if (!w.stopped) w.timer = this.clock.setTimeout(() => void tick(), periodMs)
    }
    w.timer = this.clock.setTimeout(() => void tick(), (spec.initialDelaySeconds ?? 0) * 1000)
    return w
  }
}

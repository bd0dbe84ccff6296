/**
 * FakeRuntime: a container runtime in memory, for simulated nodes (benchmarks with a hundred
 * agents in one process) and for the agent's tests. Nothing runs: a container "runs" the
 * program its command describes, on the injected clock.
 *
 * Programs: a container whose command is `['fake', JSON]` runs the FakeProgram in the JSON
 * (print lines, exit with a code, ignore SIGTERM, tick); any other command runs until stopped
 * and prints nothing. Tests also drive containers directly (`exit(id, code)`), and list images
 * that "cannot be pulled" (`missingImages`).
 *
 * Several FakeRuntimes built on one `FakeRuntimeHost` share their containers, as agents share
 * one Docker engine: each lists only its own node's, and a new one for the same node adopts
 * what the previous one left.
 */

import { PassThrough, type Readable } from 'node:stream'
import { ipToNumber, numberToIp } from '../store/service-allocation.js'
import { type Clock, SystemClock, type TimerHandle } from '../util/clock.js'
import {
  type ContainerConfig,
  type ContainerStatus,
  CreateContainerError,
  ImagePullError,
  type ImageResult,
  type LogOptions,
  logTimestamp,
  RunContainerError,
  type Runtime,
  type SandboxConfig,
  type SandboxStatus,
} from './runtime.js'

/** What a fake container does. */
export interface FakeProgram {
  print?: string[]
  exitCode?: number
  ignoreTerm?: boolean
  /** Lines appended to a host file (fake mounts are real host paths). */
  appendTo?: { path: string; line: string }
  tick?: { line: string; everyMs: number }
  /** Exit with `exitCode` after this long running, instead of at once. */
  exitAfterMs?: number
  /** Exec commands (joined with spaces) → their answer; others answer exit code 0. */
  exec?: Record<string, { exitCode: number; output: string }>
}

interface FakeSandbox {
  node: string
  status: SandboxStatus
  /** What the agent asked for (tests read the hostname, ports and DNS settings). */
  config: SandboxConfig
}

interface FakeContainer {
  node: string
  sandboxId: string
  status: ContainerStatus
  program: FakeProgram
  mounts: ContainerConfig['mounts']
  log: { ms: number; line: string }[]
  followers: Set<(line: { ms: number; line: string }) => void>
  exitWatchers: Set<() => void>
  timers: TimerHandle[]
}

/**
 * A map by id that also knows each node's entries: a host holding thousands of simulated
 * pods over dozens of nodes (bench/scheduler-peers) lists one node's without scanning all.
 */
class NodeIndexedMap<V extends { node: string }> extends Map<string, V> {
  private readonly byNode = new Map<string, Map<string, V>>()

  override set(id: string, value: V): this {
    const before = super.get(id)
    if (before && before.node !== value.node) this.byNode.get(before.node)?.delete(id)
    super.set(id, value)
    let own = this.byNode.get(value.node)
    if (!own) {
      own = new Map()
      this.byNode.set(value.node, own)
    }
    own.set(id, value)
    return this
  }

  override delete(id: string): boolean {
    const before = super.get(id)
    if (before) this.byNode.get(before.node)?.delete(id)
    return super.delete(id)
  }

  override clear(): void {
    this.byNode.clear()
    super.clear()
  }

  /** The entries of one node. */
  ofNode(node: string): IterableIterator<V> {
    return (this.byNode.get(node) ?? new Map<string, V>()).values()
  }
}

/** The shared "engine" under FakeRuntimes: one per simulated host. */
export class FakeRuntimeHost {
  readonly sandboxes = new NodeIndexedMap<FakeSandbox>()
  readonly containers = new NodeIndexedMap<FakeContainer>()
  readonly listeners = new Set<(node: string, id: string) => void>()
  /** Images that fail to pull. */
  readonly missingImages = new Set<string>()
  /** Fails the next N createContainer calls (tests of CreateContainerError). */
  failNextCreates = 0
  /** Each node's pod network (its subnet), as `ensurePodNetwork` made it. */
  readonly podNetworks = new Map<string, string>()
  /** Fails the next N ensurePodNetwork calls (tests of the agent's retry). */
  failNextPodNetworks = 0
  private nextId = 1
  private nextIp = 1

  constructor(readonly clock: Clock = new SystemClock()) {}

  newId(prefix: string): string {
    return `${prefix}${(this.nextId++).toString(16).padStart(12, '0')}`
  }

  newIp(): string {
    const n = this.nextIp++
    return `10.244.${(n >> 8) & 255}.${n & 255}`
  }

  /** The lowest free address of `cidr` (node `node`'s subnet) after its gateway (.1). */
  newIpIn(cidr: string, node: string): string {
    const [addr, bits] = cidr.split('/')
    const size = 2 ** (32 - Number(bits))
    const base = ipToNumber(addr!)
    const used = new Set([...this.sandboxes.ofNode(node)].map((s) => s.status.ip))
    for (let n = base + 2; n < base + size - 1; n++) if (!used.has(numberToIp(n))) return numberToIp(n)
    throw new Error(`no free address in pod subnet ${cidr}`)
  }

  emit(node: string, id: string): void {
    for (const l of this.listeners) l(node, id)
  }
}

/** Parses a fake command: `['fake', JSON]` → its program; anything else runs forever. */
export function fakeProgramOf(command: string[] | undefined, args: string[] | undefined): FakeProgram {
  const argv = [...(command ?? []), ...(args ?? [])]
  if (argv[0] === 'fake' && argv[1]) return JSON.parse(argv[1]) as FakeProgram
  return {}
}

/** The host path behind a container path, through the container's mounts. */
function hostPathOf(mounts: ContainerConfig['mounts'], path: string): string {
  for (const m of mounts) {
    const prefix = m.containerPath.replace(/\/$/, '')
    if (path === prefix || path.startsWith(`${prefix}/`)) return m.hostPath + path.slice(prefix.length)
  }
  return path
}

/** The command that makes a fake container run `program`. */
export function fakeCommand(program: FakeProgram): string[] {
  return ['fake', JSON.stringify(program)]
}

export class FakeRuntime implements Runtime {
  readonly name = 'fake'
  private readonly clock: Clock
  private closed = false
  private readonly unsubscribers: (() => void)[] = []

  constructor(
    private readonly host: FakeRuntimeHost,
    private readonly nodeName: string,
  ) {
    this.clock = host.clock
  }

  async version(): Promise<string> {
    return 'fake://1.0.0'
  }

  async ensureImage(image: string, _policy: 'Always' | 'IfNotPresent' | 'Never'): Promise<ImageResult> {
    if (this.host.missingImages.has(image))
      throw new ImagePullError(`failed to pull image "${image}": not found in the fake registry`)
    return { imageId: `fake://${image}` }
  }

  async runSandbox(config: SandboxConfig): Promise<SandboxStatus> {
    const podCidr = this.host.podNetworks.get(this.nodeName)
    const status: SandboxStatus = {
      id: this.host.newId('sb'),
      podUid: config.podUid,
      podName: config.podName,
      namespace: config.namespace,
      state: 'ready',
      ip: podCidr ? this.host.newIpIn(podCidr, this.nodeName) : this.host.newIp(),
      createdAtMs: this.clock.now(),
    }
    this.host.sandboxes.set(status.id, { node: this.nodeName, status, config: structuredClone(config) })
    return { ...status }
  }

  /** As DockerRuntime: a subnet change is refused while a sandbox of the old one runs. */
  async ensurePodNetwork(podCidr: string): Promise<void> {
    if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(podCidr)) throw new Error(`'${podCidr}' is not a pod subnet`)
    if (this.host.failNextPodNetworks > 0) {
      this.host.failNextPodNetworks -= 1
      throw new Error('the fake runtime was told to fail this pod network')
    }
    const before = this.host.podNetworks.get(this.nodeName)
    if (before === podCidr) return
    if (before && (await this.listSandboxes()).some((s) => s.state === 'ready'))
      throw new Error(
        `pod network of node ${this.nodeName} has subnet ${before}, not ${podCidr}, and sandboxes still use it`,
      )
    this.host.podNetworks.set(this.nodeName, podCidr)
  }

  async removePodNetwork(): Promise<void> {
    this.host.podNetworks.delete(this.nodeName)
  }

  async stopSandbox(id: string): Promise<void> {
    const sb = this.own(this.host.sandboxes.get(id))
    if (!sb) return
    for (const c of [...this.host.containers.ofNode(this.nodeName)]) {
      if (c.sandboxId === id && c.status.state === 'running') this.finish(c.status.id, c, 137, 'Error')
    }
    sb.status.state = 'notready'
  }

  async removeSandbox(id: string): Promise<void> {
    const sb = this.own(this.host.sandboxes.get(id))
    if (!sb) return
    await this.stopSandbox(id)
    for (const c of [...this.host.containers.ofNode(this.nodeName)])
      if (c.sandboxId === id) this.host.containers.delete(c.status.id)
    this.host.sandboxes.delete(id)
  }

  async listSandboxes(): Promise<SandboxStatus[]> {
    return [...this.host.sandboxes.ofNode(this.nodeName)].map((s) => ({ ...s.status }))
  }

  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    if (!this.own(this.host.sandboxes.get(sandboxId)))
      throw new CreateContainerError(`no sandbox ${sandboxId}`)
    if (this.host.failNextCreates > 0) {
      this.host.failNextCreates -= 1
      throw new CreateContainerError('the fake runtime was told to fail this create')
    }
    const id = this.host.newId('c')
    this.host.containers.set(id, {
      node: this.nodeName,
      sandboxId,
      program: fakeProgramOf(config.command, config.args),
      mounts: config.mounts,
      log: [],
      followers: new Set(),
      exitWatchers: new Set(),
      timers: [],
      status: {
        id,
        podUid: config.podUid,
        name: config.name,
        attempt: config.attempt,
        image: config.image,
        imageId: `fake://${config.image}`,
        state: 'created',
        createdAtMs: this.clock.now(),
      },
    })
    return id
  }

  async startContainer(id: string): Promise<void> {
    const c = this.own(this.host.containers.get(id))
    if (!c) throw new RunContainerError(`no container ${id}`)
    if (c.status.state !== 'created') throw new RunContainerError(`container ${id} is ${c.status.state}`)
    c.status.state = 'running'
    c.status.startedAtMs = this.clock.now()
    const p = c.program
    for (const line of p.print ?? []) this.write(c, line)
    if (p.appendTo) {
      const { appendFileSync } = await import('node:fs')
      appendFileSync(hostPathOf(c.mounts, p.appendTo.path), `${p.appendTo.line}\n`)
    }
    if (p.tick) {
      const every = p.tick.everyMs
      const line = p.tick.line
      const tick = (): void => {
        if (c.status.state !== 'running') return
        this.write(c, line)
        c.timers.push(this.clock.setTimeout(tick, every))
      }
      c.timers.push(this.clock.setTimeout(tick, every))
    }
    if (p.exitCode !== undefined) {
      const code = p.exitCode
      const exit = (): void => {
        if (c.status.state === 'running') this.finish(id, c, code, code === 0 ? 'Completed' : 'Error')
      }
      if (p.exitAfterMs) c.timers.push(this.clock.setTimeout(exit, p.exitAfterMs))
      else queueMicrotask(exit)
    }
  }

  async stopContainer(id: string, gracePeriodMs: number): Promise<void> {
    const c = this.own(this.host.containers.get(id))
    if (c?.status.state !== 'running') return
    if (!c.program.ignoreTerm) {
      this.finish(id, c, 143, 'Error')
      return
    }
    await new Promise<void>((resolve) => {
      c.timers.push(
        this.clock.setTimeout(() => {
          if (c.status.state === 'running') this.finish(id, c, 137, 'Error')
          resolve()
        }, gracePeriodMs),
      )
    })
  }

  async removeContainer(id: string): Promise<void> {
    const c = this.own(this.host.containers.get(id))
    if (!c) return
    if (c.status.state === 'running') this.finish(id, c, 137, 'Error')
    this.host.containers.delete(id)
  }

  async listContainers(): Promise<ContainerStatus[]> {
    return [...this.host.containers.ofNode(this.nodeName)].map((c) => ({ ...c.status }))
  }

  async exec(
    id: string,
    command: string[],
    _timeoutMs: number,
  ): Promise<{ exitCode: number; output: string }> {
    const c = this.own(this.host.containers.get(id))
    if (c?.status.state !== 'running') throw new Error(`container ${id} is not running`)
    const scripted = fakeProgramOf(command, undefined)
    if (command[0] === 'fake')
      return { exitCode: scripted.exitCode ?? 0, output: (scripted.print ?? []).join('\n') }
    return c.program.exec?.[command.join(' ')] ?? { exitCode: 0, output: '' }
  }

  async logs(id: string, options: LogOptions): Promise<Readable> {
    const c = this.own(this.host.containers.get(id))
    if (!c) throw new Error(`no container ${id}`)
    const out = new PassThrough()
    const format = (l: { ms: number; line: string }): string =>
      options.timestamps ? `${logTimestamp(l.ms)} ${l.line}\n` : `${l.line}\n`
    let lines = c.log.filter((l) => options.sinceMs === undefined || l.ms >= options.sinceMs)
    if (options.tailLines !== undefined) lines = lines.slice(Math.max(0, lines.length - options.tailLines))
    for (const l of lines) out.write(format(l))
    if (!options.follow || c.status.state !== 'running') {
      out.end()
      return out
    }
    const follower = (l: { ms: number; line: string }): void => {
      out.write(format(l))
    }
    const stop = (): void => {
      c.followers.delete(follower)
      c.exitWatchers.delete(stop)
      out.end()
    }
    c.followers.add(follower)
    c.exitWatchers.add(stop)
    options.signal?.addEventListener('abort', stop, { once: true })
    return out
  }

  onContainerEvent(listener: (containerId: string) => void): () => void {
    const l = (node: string, id: string): void => {
      if (node === this.nodeName && !this.closed) listener(id)
    }
    this.host.listeners.add(l)
    const off = (): void => {
      this.host.listeners.delete(l)
    }
    this.unsubscribers.push(off)
    return off
  }

  async close(): Promise<void> {
    this.closed = true
    for (const off of this.unsubscribers.splice(0)) off()
  }

  // ---------------------------------------------------------------- test controls

  /** Makes a running container exit with `code` (as if its process ended). */
  exit(id: string, code: number): void {
    const c = this.host.containers.get(id)
    if (c && c.status.state === 'running') this.finish(id, c, code, code === 0 ? 'Completed' : 'Error')
  }

  // ---------------------------------------------------------------- internals

  private own<T extends { node: string }>(x: T | undefined): T | undefined {
    return x && x.node === this.nodeName ? x : undefined
  }

  private write(c: FakeContainer, line: string): void {
    const l = { ms: this.clock.now(), line }
    c.log.push(l)
    if (c.log.length > 10_000) c.log.shift()
    for (const f of [...c.followers]) f(l)
  }

  private finish(id: string, c: FakeContainer, code: number, reason: string): void {
    for (const t of c.timers.splice(0)) this.clock.clearTimeout(t)
    c.status.state = 'exited'
    c.status.exitCode = code
    c.status.reason = reason
    c.status.finishedAtMs = this.clock.now()
    for (const f of [...c.exitWatchers]) f()
    this.host.emit(c.node, id)
  }
}

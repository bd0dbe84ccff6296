/**
 * DockerRuntime: the Runtime on a Docker engine, through dockerode.
 *
 * A pod is an infra ("sandbox") container that holds the pod's network and IPC namespaces and
 * runs nothing but `/pause`, plus one app container per container attempt, joined to it
 * (`NetworkMode`/`IpcMode: container:<infra>`). The infra container carries the pod's hostname,
 * DNS settings and published host ports (Docker refuses them on joined containers). The infra
 * image is built in-process when the engine lacks it (see pause-image.ts): no registry needed.
 *
 * Pod IPs: once the agent hands it the Node's podCIDR (`ensurePodNetwork`), sandboxes join the
 * node's own bridge network `shoal-<node>` with that subnet, so pod IPs are unique across the
 * cluster; until then (or without a podCIDR) they join `network` (Docker's default bridge).
 * Docker isolates bridges from one another; pod-network-firewall.ts undoes that for the pod range.
 * With a user-defined network the pod's resolv.conf names Docker's embedded DNS (127.0.0.11),
 * which forwards to the servers the sandbox was given.
 *
 * Everything this runtime makes carries the LABELS, `io.shoal.node` first: listings filter on
 * it, so agents sharing one engine never see each other's pods, and a restarted agent adopts
 * its own. Container operations (start, stop, logs, exec, remove) trust the ids the agent got
 * from this runtime's own listings and do not re-check the labels.
 *
 * Deviations from the kubelet's dockershim, all for offline use: the pause image is built,
 * not pulled; `Always` falls back to a local copy (with a warning) when the pull fails.
 */

import { randomBytes } from 'node:crypto'
import { isAbsolute } from 'node:path'
import { type Readable, Transform, type TransformCallback } from 'node:stream'
import Docker from 'dockerode'
import { DEFAULT_POD_CIDR } from '../store/pod-cidr-allocation.js'
import { numberToIp, readCidr } from '../store/service-allocation.js'
import { type Clock, SystemClock, type TimerHandle } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import { SerialQueue } from '../util/serial-queue.js'
import { buildPauseImage } from './pause-image.js'
import { allowPodRangeTraffic, type IptablesRunner, systemIptables } from './pod-network-firewall.js'
import {
  type ContainerConfig,
  type ContainerStatus,
  CreateContainerError,
  ImagePullError,
  type ImageResult,
  LABELS,
  type LogOptions,
  RunContainerError,
  type Runtime,
  type SandboxConfig,
  type SandboxStatus,
} from './runtime.js'

/** The infra image built when absent: `/pause`, nothing else. */
export const DEFAULT_INFRA_IMAGE = 'shoal/pause:3.10'

/** The network pods join until the node's pod network is made: Docker's default bridge. */
export const DEFAULT_POD_NETWORK = 'bridge'

/** The Docker network of a node's pods (one bridge per node, with the Node's podCIDR). */
export function podNetworkName(nodeName: string): string {
  return `shoal-${nodeName}`
}

/** A node's pod subnet and its gateway (the bridge's address): an aligned a.b.c.d/8…30. */
export function podSubnet(podCidr: string): { subnet: string; gateway: string } {
  const c = readCidr(podCidr)
  if (!c || !(c.bits >= 8 && c.bits <= 30))
    throw new Error(`podCidr: '${podCidr}' is not a pod subnet: expected a.b.c.d/8…30`)
  const size = 2 ** (32 - c.bits)
  const base = c.ip
  if (base % size !== 0) throw new Error(`podCidr: '${podCidr}' is not aligned to its prefix`)
  return { subnet: podCidr, gateway: numberToIp(base + 1) }
}

/** What DockerRuntime needs. */
export interface DockerRuntimeOptions {
  /** The engine (default: the local socket, DOCKER_HOST aware). */
  docker?: Docker
  /** The node this runtime serves: the value of every object's `io.shoal.node` label. */
  nodeName: string
  /** The host directory of per-pod files (owned by the agent; the runtime removes nothing there). */
  podsDir: string
  logger: Logger
  clock?: Clock
  /** The sandbox image; built in-process under this name when the engine lacks it. */
  infraImage?: string
  /** The Docker network sandboxes join until `ensurePodNetwork` makes the node's own. */
  network?: string
  /** The cluster pod range, whose traffic between nodes' networks is let through (iptables). */
  clusterPodCidr?: string
  /** Runs iptables (tests inject a fake; default the host's). */
  iptables?: IptablesRunner
  /** Whether the rule may be added (default: whether this process runs as root). */
  isRoot?: boolean
  /** Gives up a pull after this long (default 60 s). */
  pullTimeoutMs?: number
}

/** Checks DockerRuntimeOptions, naming the field and the value. */
export function validateDockerRuntimeOptions(o: DockerRuntimeOptions): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(o.nodeName))
    throw new Error(`nodeName: '${o.nodeName}' is not a valid node name`)
  if (!isAbsolute(o.podsDir)) throw new Error(`podsDir: '${o.podsDir}' must be an absolute path`)
  if (o.pullTimeoutMs !== undefined && !(o.pullTimeoutMs > 0))
    throw new Error(`pullTimeoutMs: ${o.pullTimeoutMs} must be positive`)
  if (o.infraImage !== undefined && o.infraImage.trim() === '')
    throw new Error(`infraImage: '${o.infraImage}' must name an image`)
  if (o.clusterPodCidr !== undefined) {
    try {
      podSubnet(o.clusterPodCidr)
    } catch {
      throw new Error(`clusterPodCidr: '${o.clusterPodCidr}' is not an aligned a.b.c.d/8…30`)
    }
  }
}

/** How long SIGKILL may take before stop gives up waiting (the engine is then in trouble). */
const KILL_WAIT_MS = 10_000
/** Exec output kept, first bytes first (probes read a few lines). */
const EXEC_OUTPUT_MAX_BYTES = 64 * 1024
/** The events stream's reconnect back-off. */
const EVENTS_BACKOFF_MIN_MS = 250
const EVENTS_BACKOFF_MAX_MS = 10_000
/** An event line longer than this is dropped (events are a few hundred bytes). */
const EVENT_LINE_MAX_BYTES = 1024 * 1024
/** Image id lookups remembered (cleared whole when full). */
const IMAGE_ID_CACHE_MAX = 256

/** Docker's "no time" (Go's zero time). */
function timeMs(t: string | undefined): number | undefined {
  if (!t || t.startsWith('0001-01-01')) return undefined
  const ms = Date.parse(t)
  return Number.isNaN(ms) ? undefined : ms
}

/** The engine's HTTP status of a dockerode error, if any. */
function engineStatus(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode
}

/** The engine's own words for a dockerode error. */
function engineMessage(err: unknown): string {
  const json = (err as { json?: unknown }).json
  if (json && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string')
    return (json as { message: string }).message
  return String((err as Error).message ?? err)
    .replace(/^\(HTTP code \d+\) [^-]*- /, '')
    .trim()
}

/** Runs `fn`, treating "no such object" (404) and "not in that state" (304, 409) as done. */
async function tolerant(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn()
  } catch (err) {
    const code = engineStatus(err)
    if (code === 404 || code === 409 || code === 304) return
    throw err
  }
}

/** `image` with `:latest` when it names neither a tag nor a digest. */
export function normaliseImageRef(image: string): string {
  if (image.includes('@')) return image
  const slash = image.lastIndexOf('/')
  return image.lastIndexOf(':') > slash ? image : `${image}:latest`
}

/** A pod hostname the kernel takes: at most 63 bytes, not ending in '-' or '.'. */
export function podHostname(hostname: string): string {
  return hostname.slice(0, 63).replace(/[-.]+$/, '')
}

/** Docker container names of a sandbox and of a container attempt (kubelet's shape). */
export function sandboxName(c: { podName: string; namespace: string; podUid: string }): string {
  return `shoal_POD_${c.podName}_${c.namespace}_${c.podUid.slice(0, 8)}`
}

export function containerName(c: ContainerConfig): string {
  return `shoal_${c.name}_${c.podName}_${c.namespace}_${c.podUid.slice(0, 8)}_${c.attempt}`
}

/**
 * A container's status from its inspection. A container that failed to start stays `created`
 * with an error in Docker; Kubernetes calls it exited with ContainerCannotRun.
 */
export function containerStatusOf(info: Docker.ContainerInspectInfo, imageId: string): ContainerStatus {
  const labels = info.Config.Labels ?? {}
  const st = info.State
  const status: ContainerStatus = {
    id: info.Id,
    podUid: labels[LABELS.podUid] ?? '',
    name: labels[LABELS.container] ?? '',
    attempt: Number(labels[LABELS.attempt] ?? 0),
    image: info.Config.Image,
    imageId,
    state: 'unknown',
    createdAtMs: timeMs(info.Created) ?? 0,
  }
  const finishedAtMs = timeMs(st.FinishedAt)
  let startedAtMs = timeMs(st.StartedAt)
  // Docker stamps StartedAt after the start returns: a quick process may have finished before.
  if (startedAtMs !== undefined && finishedAtMs !== undefined && finishedAtMs < startedAtMs)
    startedAtMs = finishedAtMs
  if (startedAtMs !== undefined) status.startedAtMs = startedAtMs
  if (st.Error) status.message = st.Error
  if (st.Status === 'created' && st.Error) {
    status.state = 'exited'
    status.exitCode = st.ExitCode
    status.reason = 'ContainerCannotRun'
    if (finishedAtMs !== undefined) status.finishedAtMs = finishedAtMs
  } else if (st.Status === 'created' || st.Status === 'running') {
    status.state = st.Status
  } else if (st.Status === 'exited') {
    status.state = 'exited'
    status.exitCode = st.ExitCode
    if (finishedAtMs !== undefined) status.finishedAtMs = finishedAtMs
    status.reason = st.OOMKilled
      ? 'OOMKilled'
      : startedAtMs === undefined && st.Error
        ? 'ContainerCannotRun'
        : st.ExitCode === 0
          ? 'Completed'
          : 'Error'
  }
  return status
}

/**
 * Docker's RFC 3339 times drop trailing zeros of the fraction (and the fraction itself when it
 * is zero); Kubernetes' have exactly nine digits. Rewrites the time at the start of each line.
 */
export function padLogTimestamps(text: string): string {
  return text.replace(
    /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z /gm,
    (_m, whole: string, frac: string | undefined) => `${whole}.${(frac ?? '').padEnd(9, '0')}Z `,
  )
}

/**
 * Splits Docker's multiplexed stdout/stderr stream (8-byte frame headers) into one stream of
 * the frames' payloads, interleaved as they came; optionally pads log timestamps.
 */
export class DockerStreamDemuxer extends Transform {
  private pending: Buffer = Buffer.alloc(0)

  constructor(private readonly padTimestamps = false) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4)
      if (this.pending.length < 8 + size) break
      const payload = this.pending.subarray(8, 8 + size)
      this.pending = this.pending.subarray(8 + size)
      this.push(this.padTimestamps ? padLogTimestamps(payload.toString('utf8')) : payload)
    }
    done()
  }
}

interface CachedStatus {
  /** The `docker ps` state this inspection was made in: a change means look again. */
  psState: string
  status: ContainerStatus
}

export class DockerRuntime implements Runtime {
  readonly name = 'docker'
  private readonly docker: Docker
  private readonly nodeName: string
  private readonly log: Logger
  private readonly clock: Clock
  private readonly infraImage: string
  /** The network sandboxes join: the default one, then the node's once it is made. */
  private network: string
  private readonly defaultNetwork: string
  private readonly pullTimeoutMs: number
  private readonly clusterPodCidr: string
  private readonly iptables: IptablesRunner
  private readonly isRoot: boolean
  /** Pod network changes, one at a time (concurrent callers queue). */
  private readonly networkOps = new SerialQueue()
  /** Sandboxes leaving their network, one at a time (`detachOneAtATime`). */
  private readonly detaches = new SerialQueue()
  /** Whether the firewall rule was seen to (added, present or skipped): once per runtime. */
  private firewallDone = false
  /** Inspections by container id, good while `docker ps` shows the same state; pruned to listed ids. */
  private readonly statuses = new Map<string, CachedStatus>()
  /** Image id (sha256:…) → the id reported (`docker-pullable://…` when it has a digest). */
  private readonly imageIds = new Map<string, string>()
  private infraBuild: Promise<void> | undefined
  private readonly listeners = new Set<(containerId: string) => void>()
  private events: Readable | undefined
  private eventsConnecting = false
  private eventsRetry: TimerHandle | undefined
  private eventsBackoffMs = EVENTS_BACKOFF_MIN_MS
  /** Seconds since the epoch of the last event seen: a reconnect replays from there. */
  private eventsSince = 0
  private closed = false

  constructor(options: DockerRuntimeOptions) {
    validateDockerRuntimeOptions(options)
    this.docker = options.docker ?? new Docker()
    this.nodeName = options.nodeName
    this.clock = options.clock ?? new SystemClock()
    this.infraImage = normaliseImageRef(options.infraImage ?? DEFAULT_INFRA_IMAGE)
    this.defaultNetwork = options.network ?? DEFAULT_POD_NETWORK
    this.network = this.defaultNetwork
    this.pullTimeoutMs = options.pullTimeoutMs ?? 60_000
    this.clusterPodCidr = options.clusterPodCidr ?? DEFAULT_POD_CIDR
    this.iptables = options.iptables ?? systemIptables
    this.isRoot = options.isRoot ?? process.getuid?.() === 0
    this.log = options.logger.child({ component: 'docker-runtime', node: this.nodeName })
  }

  async version(): Promise<string> {
    const v = await this.docker.version()
    return `docker://${v.Version}`
  }

  // ---------------------------------------------------------------- images

  async ensureImage(image: string, policy: 'Always' | 'IfNotPresent' | 'Never'): Promise<ImageResult> {
    const ref = normaliseImageRef(image)
    const local = await this.inspectImage(ref)
    if (local && policy !== 'Always') return { imageId: await this.imageIdOf(local.Id) }
    if (!local && policy === 'Never')
      throw new ImagePullError(`container image "${ref}" is not present with pull policy of Never`)
    try {
      await this.pull(ref)
    } catch (err) {
      const why = engineMessage(err)
      if (local) {
        // No registry reachable (offline clusters): run what we have rather than nothing.
        this.log.warn({ image: ref, err: why }, 'pull failed, using the local image')
        return {
          imageId: await this.imageIdOf(local.Id),
          warning: `failed to pull image "${ref}" (${why}); using the local copy`,
        }
      }
      throw new ImagePullError(`failed to pull image "${ref}": ${why}`)
    }
    const pulled = await this.inspectImage(ref)
    if (!pulled) throw new ImagePullError(`image "${ref}" is missing after its pull`)
    return { imageId: await this.imageIdOf(pulled.Id) }
  }

  private async inspectImage(ref: string): Promise<Docker.ImageInspectInfo | undefined> {
    try {
      return await this.docker.getImage(ref).inspect()
    } catch (err) {
      if (engineStatus(err) === 404) return undefined
      throw err
    }
  }

  private async pull(ref: string): Promise<void> {
    const abort = new AbortController()
    const timer = this.clock.setTimeout(() => abort.abort(), this.pullTimeoutMs)
    try {
      const progress = (await this.docker.pull(ref, { abortSignal: abort.signal })) as Readable
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          progress.destroy()
          reject(new Error(`pull timed out after ${this.pullTimeoutMs} ms`))
        }
        abort.signal.addEventListener('abort', onAbort, { once: true })
        this.docker.modem.followProgress(progress, (err: Error | null) => {
          abort.signal.removeEventListener('abort', onAbort)
          if (err) reject(err)
          else resolve()
        })
      })
    } catch (err) {
      if (abort.signal.aborted) throw new Error(`pull timed out after ${this.pullTimeoutMs} ms`)
      throw err
    } finally {
      this.clock.clearTimeout(timer)
    }
  }

  /** `docker-pullable://<repo>@<digest>` when the image came from a registry, else its id. */
  private async imageIdOf(id: string): Promise<string> {
    const known = this.imageIds.get(id)
    if (known) return known
    let reported = id
    try {
      const digests = (await this.docker.getImage(id).inspect()).RepoDigests ?? []
      if (digests[0]) reported = `docker-pullable://${digests[0]}`
    } catch (err) {
      // Removed since: the id is still the truest answer.
      if (engineStatus(err) !== 404) throw err
    }
    if (this.imageIds.size >= IMAGE_ID_CACHE_MAX) this.imageIds.clear()
    this.imageIds.set(id, reported)
    return reported
  }

  /** Builds the infra image when the engine lacks it; concurrent callers share one build. */
  private async ensureInfraImage(): Promise<void> {
    if (await this.inspectImage(this.infraImage)) return
    if (!this.infraBuild) {
      this.log.info({ image: this.infraImage }, 'building the infra image')
      this.infraBuild = buildPauseImage(this.docker, this.infraImage).finally(() => {
        this.infraBuild = undefined
      })
    }
    await this.infraBuild
  }

  // ---------------------------------------------------------------- the pod network

  /**
   * Makes the bridge network `shoal-<node>` with subnet `podCidr` (gateway .1, this runtime's
   * labels) unless it exists with that subnet; one with another subnet is replaced when no
   * container uses it. Sandboxes run from now on join it. Then, once, lets traffic between
   * nodes' pod networks on this host through (pod-network-firewall.ts).
   */
  ensurePodNetwork(podCidr: string): Promise<void> {
    return this.networkOps.run(() => this.ensurePodNetworkNow(podCidr))
  }

  private async ensurePodNetworkNow(podCidr: string): Promise<void> {
    const { subnet, gateway } = podSubnet(podCidr)
    const name = podNetworkName(this.nodeName)
    const existing = await this.inspectNetwork(name)
    if (existing) {
      const subnets = (existing.IPAM?.Config ?? []).map((c) => c.Subnet).filter((x): x is string => !!x)
      if (!subnets.includes(subnet)) {
        const users = Object.values(existing.Containers ?? {}).map((c) => c.Name)
        if (users.length > 0)
          throw new Error(
            `docker network ${name} has subnet ${subnets.join(', ') || '(none)'}, not the node's ${subnet}, ` +
              `and ${users.length} container(s) use it (${users.slice(0, 3).join(', ')}): remove them to replace it`,
          )
        this.log.info({ network: name, from: subnets.join(', '), to: subnet }, 'replacing the pod network')
        await tolerant(() => this.docker.getNetwork(existing.Id).remove())
        await this.createNetwork(name, subnet, gateway)
      }
    } else {
      await this.createNetwork(name, subnet, gateway)
    }
    this.network = name
    if (!this.firewallDone) {
      const r = await allowPodRangeTraffic(this.iptables, this.clusterPodCidr, this.isRoot)
      this.firewallDone = true
      if ('skipped' in r)
        this.log.warn(
          { range: this.clusterPodCidr, why: r.skipped },
          "pods of other nodes' networks on this host may be unreachable: the DOCKER-USER rule was not added",
        )
      else if (r.done === 'added')
        this.log.info({ range: this.clusterPodCidr }, 'accepted pod range traffic in DOCKER-USER')
    }
  }

  /** Removes `shoal-<node>` if this runtime made it; refused while containers use it. */
  removePodNetwork(): Promise<void> {
    return this.networkOps.run(async () => {
      const name = podNetworkName(this.nodeName)
      const existing = await this.inspectNetwork(name)
      this.network = this.defaultNetwork
      if (!existing) return
      if (existing.Labels?.[LABELS.node] !== this.nodeName) {
        this.log.warn({ network: name }, 'leaving a network this runtime did not make')
        return
      }
      const users = Object.values(existing.Containers ?? {}).map((c) => c.Name)
      if (users.length > 0)
        throw new Error(
          `docker network ${name} is still used by ${users.length} container(s): ${users.join(', ')}`,
        )
      await tolerant(() => this.docker.getNetwork(existing.Id).remove())
    })
  }

  private async inspectNetwork(name: string): Promise<Docker.NetworkInspectInfo | undefined> {
    try {
      const info = (await this.docker.getNetwork(name).inspect()) as Docker.NetworkInspectInfo
      // The engine also answers a lookup by id prefix: only the name counts.
      return info.Name === name ? info : undefined
    } catch (err) {
      if (engineStatus(err) === 404) return undefined
      throw err
    }
  }

  private async createNetwork(name: string, subnet: string, gateway: string, retried = false): Promise<void> {
    try {
      await this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        IPAM: { Driver: 'default', Config: [{ Subnet: subnet, Gateway: gateway }] },
        Labels: { [LABELS.node]: this.nodeName, [LABELS.role]: 'network' },
      })
      this.log.info({ network: name, subnet }, 'pod network created')
    } catch (err) {
      // Made meanwhile by another runtime of this node (a restart racing its predecessor).
      if (engineStatus(err) === 409) {
        const now = await this.inspectNetwork(name)
        if (now?.IPAM?.Config?.some((c) => c.Subnet === subnet)) return
      }
      // The subnet is held by a pod network that an earlier cluster on this engine left behind
      // (a node since renamed, a test run killed before its cleanup): free it when unused.
      if (!retried && /overlaps/i.test(engineMessage(err)) && (await this.removeStaleNetworkWith(subnet)))
        return this.createNetwork(name, subnet, gateway, true)
      throw new Error(`could not create docker network ${name} (${subnet}): ${engineMessage(err)}`)
    }
  }

  /** Removes Shoal pod networks with this subnet that no container uses; true if one was. */
  private async removeStaleNetworkWith(subnet: string): Promise<boolean> {
    const networks = await this.docker.listNetworks({
      filters: JSON.stringify({ label: [`${LABELS.role}=network`] }),
    })
    let removed = false
    for (const n of networks) {
      if (!(n.IPAM?.Config ?? []).some((c) => c.Subnet === subnet)) continue
      const detail = await this.inspectNetwork(n.Name)
      if (!detail || Object.keys(detail.Containers ?? {}).length > 0) continue
      this.log.warn({ network: n.Name, subnet }, 'removing an unused pod network that holds this subnet')
      await tolerant(() => this.docker.getNetwork(n.Id).remove())
      removed = true
    }
    return removed
  }

  // ---------------------------------------------------------------- sandboxes

  async runSandbox(config: SandboxConfig): Promise<SandboxStatus> {
    await this.ensureInfraImage()
    const exposed: Record<string, object> = {}
    const bindings: Record<string, { HostPort: string }[]> = {}
    for (const p of config.ports) {
      const key = `${p.containerPort}/${p.protocol.toLowerCase()}`
      exposed[key] = {}
      if (p.hostPort) bindings[key] = [...(bindings[key] ?? []), { HostPort: String(p.hostPort) }]
    }
    const hostConfig: Docker.HostConfig = {
      NetworkMode: this.network,
      // App containers join this IPC namespace; Docker lets them only when it is shareable.
      IpcMode: 'shareable',
      PortBindings: bindings,
    }
    if (config.dns) {
      hostConfig.Dns = config.dns.servers
      hostConfig.DnsSearch = config.dns.searches
      hostConfig.DnsOptions = config.dns.options
    }
    const container = await this.create(sandboxName(config), {
      Image: this.infraImage,
      Hostname: podHostname(config.hostname),
      Labels: {
        [LABELS.node]: this.nodeName,
        [LABELS.podUid]: config.podUid,
        [LABELS.podName]: config.podName,
        [LABELS.namespace]: config.namespace,
        [LABELS.role]: 'sandbox',
      },
      ExposedPorts: exposed,
      HostConfig: hostConfig,
    })
    try {
      await container.start()
    } catch (err) {
      await tolerant(() => container.remove({ force: true, v: true }))
      throw new Error(
        `the sandbox of pod ${config.namespace}/${config.podName} did not start: ${engineMessage(err)}`,
      )
    }
    const status = (await this.listSandboxes({ id: [container.id] }))[0]
    if (!status) throw new Error(`the sandbox of pod ${config.namespace}/${config.podName} vanished at start`)
    this.log.debug(
      { pod: `${config.namespace}/${config.podName}`, id: status.id, ip: status.ip },
      'sandbox up',
    )
    return status
  }

  async stopSandbox(id: string): Promise<void> {
    if (!(await this.ownSandbox(id))) return
    const members = (await this.own()).filter(
      (c) => c.HostConfig?.NetworkMode === `container:${id}` && c.State === 'running',
    )
    await Promise.all(members.map((c) => this.kill(c.Id)))
    // The infra's PID 1 handles no signal: SIGTERM would do nothing.
    await this.detachOneAtATime(id, () => this.kill(id))
  }

  async removeSandbox(id: string): Promise<void> {
    if (!(await this.ownSandbox(id))) return
    const members = (await this.own()).filter((c) => c.HostConfig?.NetworkMode === `container:${id}`)
    await Promise.all(members.map((c) => this.removeContainer(c.Id)))
    await this.detachOneAtATime(id, () =>
      tolerant(() => this.docker.getContainer(id).remove({ force: true, v: true })),
    )
  }

  /**
   * Runs `detach` (what takes sandbox `id` off its network: its kill, or its forced removal)
   * after every earlier one has finished, and then waits until the engine is done with the
   * container (an inspection waits for the engine's exit handling, which releases the network).
   *
   * Why: Docker 20.10 (Debian 12's docker.io) deadlocks its network controller when one
   * sandbox leaves a user-defined network while another one's endpoint deletion on the same
   * network is being processed (moby/moby#46661; the fix reached the 20.10 branch after
   * Debian's 20.10.24): scaling an RC down, or deleting it, stops many sandboxes of one node at
   * once and hung the whole engine in a test run. One at a time per node (each node has its own
   * network) leaves no overlap.
   */
  private detachOneAtATime(id: string, detach: () => Promise<void>): Promise<void> {
    return this.detaches.run(async () => {
      await detach()
      await tolerant(() => this.docker.getContainer(id).inspect())
    })
  }

  async listSandboxes(filters: Record<string, string[]> = {}): Promise<SandboxStatus[]> {
    const all = await this.own({ ...filters, label: [`${LABELS.role}=sandbox`] })
    return all.map((c) => {
      const networks = c.NetworkSettings?.Networks ?? {}
      const running = c.State === 'running'
      const ip =
        networks[this.network]?.IPAddress || Object.values(networks).find((n) => n.IPAddress)?.IPAddress || ''
      return {
        id: c.Id,
        podUid: c.Labels[LABELS.podUid] ?? '',
        podName: c.Labels[LABELS.podName] ?? '',
        namespace: c.Labels[LABELS.namespace] ?? '',
        state: running ? 'ready' : 'notready',
        ip: running ? ip : '',
        createdAtMs: c.Created * 1000,
      }
    })
  }

  // ---------------------------------------------------------------- containers

  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    if (!(await this.ownSandbox(sandboxId))) throw new CreateContainerError(`no sandbox ${sandboxId}`)
    const options: Docker.ContainerCreateOptions = {
      Image: normaliseImageRef(config.image),
      Env: config.env.map((e) => `${e.name}=${e.value}`),
      Labels: {
        [LABELS.node]: this.nodeName,
        [LABELS.podUid]: config.podUid,
        [LABELS.podName]: config.podName,
        [LABELS.namespace]: config.namespace,
        [LABELS.role]: 'container',
        [LABELS.container]: config.name,
        [LABELS.attempt]: String(config.attempt),
      },
      // No ExposedPorts: Docker refuses them on a container that joins another's network
      // (the sandbox declares the pod's ports).
      HostConfig: {
        NetworkMode: `container:${sandboxId}`,
        IpcMode: `container:${sandboxId}`,
        Binds: config.mounts.map((m) => `${m.hostPath}:${m.containerPath}${m.readOnly ? ':ro' : ''}`),
        ...(config.limits.memoryBytes ? { Memory: config.limits.memoryBytes } : {}),
        ...(config.limits.nanoCpus ? { NanoCpus: config.limits.nanoCpus } : {}),
      },
    }
    // Kubernetes: `command` replaces the entrypoint (and drops the image's CMD, as Docker does
    // when an entrypoint is given), `args` replaces CMD.
    if (config.command) options.Entrypoint = config.command
    if (config.args) options.Cmd = config.args
    if (config.workingDir) options.WorkingDir = config.workingDir
    try {
      return (await this.create(containerName(config), options)).id
    } catch (err) {
      throw new CreateContainerError(engineMessage(err))
    }
  }

  async startContainer(id: string): Promise<void> {
    this.statuses.delete(id)
    try {
      await this.docker.getContainer(id).start()
    } catch (err) {
      throw new RunContainerError(engineMessage(err))
    } finally {
      this.statuses.delete(id)
    }
  }

  async stopContainer(id: string, gracePeriodMs: number): Promise<void> {
    this.statuses.delete(id)
    const container = this.docker.getContainer(id)
    let info: Docker.ContainerInspectInfo
    try {
      info = await container.inspect()
    } catch (err) {
      if (engineStatus(err) === 404) return
      throw err
    }
    if (!info.State.Running) return
    if (gracePeriodMs > 0) {
      // Not `docker stop`: its grace is whole seconds; ours may be less.
      const stopSignal = (info.Config as { StopSignal?: string }).StopSignal || 'SIGTERM'
      await tolerant(() => container.kill({ signal: stopSignal }))
      if (await this.waitExit(id, gracePeriodMs)) return
    }
    await this.kill(id)
    this.statuses.delete(id)
  }

  async removeContainer(id: string): Promise<void> {
    this.statuses.delete(id)
    await tolerant(() => this.docker.getContainer(id).remove({ force: true, v: true }))
  }

  async listContainers(): Promise<ContainerStatus[]> {
    const listed = await this.own({ label: [`${LABELS.role}=container`] })
    const seen = new Set(listed.map((c) => c.Id))
    for (const id of this.statuses.keys()) if (!seen.has(id)) this.statuses.delete(id)
    const statuses = await Promise.all(
      listed.map(async (c) => {
        const cached = this.statuses.get(c.Id)
        if (cached && cached.psState === c.State) return { ...cached.status }
        let info: Docker.ContainerInspectInfo
        try {
          info = await this.docker.getContainer(c.Id).inspect()
        } catch (err) {
          if (engineStatus(err) === 404) return undefined // removed since the listing
          throw err
        }
        const status = containerStatusOf(info, await this.imageIdOf(info.Image))
        this.statuses.set(c.Id, { psState: info.State.Status, status })
        return { ...status }
      }),
    )
    return statuses.filter((s): s is ContainerStatus => s !== undefined)
  }

  // ---------------------------------------------------------------- exec and logs

  async exec(
    id: string,
    command: string[],
    timeoutMs: number,
  ): Promise<{ exitCode: number; output: string }> {
    let exec: Docker.Exec
    try {
      exec = await this.docker.getContainer(id).exec({ Cmd: command, AttachStdout: true, AttachStderr: true })
    } catch (err) {
      throw new Error(`exec in container ${id}: ${engineMessage(err)}`)
    }
    // At the timeout the stream is dropped; the process itself runs on (Docker cannot kill an
    // exec), as with the kubelet's exec probes.
    const abort = new AbortController()
    const timer = this.clock.setTimeout(() => abort.abort(), timeoutMs)
    try {
      const raw = (await exec.start({ abortSignal: abort.signal })) as Readable
      const output = await new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = []
        let bytes = 0
        const demux = new DockerStreamDemuxer()
        const onAbort = (): void => {
          raw.destroy()
          reject(new Error(`exec in container ${id} timed out after ${timeoutMs} ms`))
        }
        abort.signal.addEventListener('abort', onAbort, { once: true })
        demux.on('data', (chunk: Buffer) => {
          if (bytes < EXEC_OUTPUT_MAX_BYTES) chunks.push(chunk.subarray(0, EXEC_OUTPUT_MAX_BYTES - bytes))
          bytes += chunk.length
        })
        demux.on('end', () => {
          abort.signal.removeEventListener('abort', onAbort)
          resolve(Buffer.concat(chunks).toString('utf8'))
        })
        raw.on('error', (err) => {
          abort.signal.removeEventListener('abort', onAbort)
          reject(err)
        })
        raw.pipe(demux)
      })
      // The stream ends as the process does; the engine records the code a moment later.
      for (;;) {
        const info = await exec.inspect()
        if (!info.Running && info.ExitCode !== null) return { exitCode: info.ExitCode, output }
        if (abort.signal.aborted) throw new Error(`exec in container ${id} timed out after ${timeoutMs} ms`)
        await new Promise<void>((r) => this.clock.setTimeout(r, 20))
      }
    } catch (err) {
      if (abort.signal.aborted) throw new Error(`exec in container ${id} timed out after ${timeoutMs} ms`)
      throw err
    } finally {
      this.clock.clearTimeout(timer)
    }
  }

  async logs(id: string, options: LogOptions): Promise<Readable> {
    const base = {
      stdout: true,
      stderr: true,
      timestamps: options.timestamps,
      ...(options.tailLines !== undefined ? { tail: options.tailLines } : {}),
      // Docker takes `seconds.nanoseconds`.
      ...(options.sinceMs !== undefined
        ? {
            since: `${Math.floor(options.sinceMs / 1000)}.${String(options.sinceMs % 1000).padStart(3, '0')}000000`,
          }
        : {}),
    }
    const container = this.docker.getContainer(id)
    const out = new DockerStreamDemuxer(options.timestamps)
    if (!options.follow || options.signal?.aborted) {
      const buffer = await container.logs({ ...base, follow: false })
      out.end(buffer)
      return out
    }
    const engine = (await container.logs({ ...base, follow: true })) as Readable
    const stop = (): void => {
      options.signal?.removeEventListener('abort', stop)
      engine.unpipe(out)
      engine.destroy()
      if (!out.destroyed && !out.writableEnded) out.end()
    }
    options.signal?.addEventListener('abort', stop, { once: true })
    // The engine ends the stream when the container exits.
    engine.on('end', () => options.signal?.removeEventListener('abort', stop))
    engine.on('error', (err) => {
      this.log.debug({ id, err: err.message }, 'log stream broke')
      stop()
    })
    // A reader that goes away (destroy) releases the engine's stream.
    out.on('close', () => {
      if (!engine.destroyed) stop()
    })
    engine.pipe(out)
    return out as Readable
  }

  // ---------------------------------------------------------------- events

  onContainerEvent(listener: (containerId: string) => void): () => void {
    if (this.closed) return () => {}
    this.listeners.add(listener)
    if (this.listeners.size === 1) {
      // Replay from now: what happens while the stream connects is not lost.
      this.eventsSince = this.clock.now() / 1000
      this.connectEvents()
    }
    return () => {
      this.listeners.delete(listener)
      if (this.listeners.size === 0) this.disconnectEvents()
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.listeners.clear()
    this.disconnectEvents()
  }

  private connectEvents(): void {
    if (this.closed || this.events || this.eventsConnecting || this.listeners.size === 0) return
    this.eventsConnecting = true
    this.docker
      .getEvents({
        since: this.eventsSince,
        filters: {
          type: ['container'],
          label: [`${LABELS.node}=${this.nodeName}`],
          event: ['die', 'oom', 'start'],
        },
      })
      .then(
        (stream) => {
          this.eventsConnecting = false
          const events = stream as Readable
          if (this.closed || this.listeners.size === 0) {
            events.destroy()
            return
          }
          this.events = events
          this.eventsBackoffMs = EVENTS_BACKOFF_MIN_MS
          let partial = ''
          events.on('data', (chunk: Buffer) => {
            partial += chunk.toString('utf8')
            const lines = partial.split('\n')
            partial = lines.pop() ?? ''
            if (partial.length > EVENT_LINE_MAX_BYTES) partial = ''
            for (const line of lines) if (line.trim()) this.handleEvent(line)
          })
          const ended = (): void => {
            if (this.events !== events) return
            this.events = undefined
            this.retryEvents('the events stream ended')
          }
          events.on('error', (err) => this.log.debug({ err: err.message }, 'events stream error'))
          events.on('close', ended)
          events.on('end', ended)
        },
        (err: unknown) => {
          this.eventsConnecting = false
          this.retryEvents(engineMessage(err))
        },
      )
  }

  private handleEvent(line: string): void {
    let event: { id?: string; Actor?: { ID?: string }; timeNano?: number }
    try {
      event = JSON.parse(line)
    } catch {
      // A line we cannot read is one hint lost; the agent's periodic list still sees the change.
      return
    }
    const id = event.id ?? event.Actor?.ID
    if (event.timeNano) this.eventsSince = event.timeNano / 1e9
    if (!id) return
    this.statuses.delete(id)
    for (const l of [...this.listeners]) l(id)
  }

  private retryEvents(why: string): void {
    if (this.closed || this.listeners.size === 0 || this.eventsRetry) return
    this.log.warn({ why, retryMs: this.eventsBackoffMs }, 'docker events stream lost, reconnecting')
    this.eventsRetry = this.clock.setTimeout(() => {
      this.eventsRetry = undefined
      this.connectEvents()
    }, this.eventsBackoffMs)
    this.eventsBackoffMs = Math.min(EVENTS_BACKOFF_MAX_MS, this.eventsBackoffMs * 2)
  }

  private disconnectEvents(): void {
    this.clock.clearTimeout(this.eventsRetry)
    this.eventsRetry = undefined
    const events = this.events
    this.events = undefined
    events?.destroy()
  }

  // ---------------------------------------------------------------- internals

  /** This node's containers (any state), with extra `docker ps` filters. */
  private async own(filters: Record<string, string[]> = {}): Promise<Docker.ContainerInfo[]> {
    const label = [`${LABELS.node}=${this.nodeName}`, ...(filters.label ?? [])]
    return this.docker.listContainers({ all: true, filters: { ...filters, label } })
  }

  /** Whether `id` is a sandbox of this node. */
  private async ownSandbox(id: string): Promise<boolean> {
    try {
      const labels = (await this.docker.getContainer(id).inspect()).Config.Labels ?? {}
      return labels[LABELS.node] === this.nodeName && labels[LABELS.role] === 'sandbox'
    } catch (err) {
      if (engineStatus(err) === 404) return false
      throw err
    }
  }

  /**
   * Creates a container named `name`; if the name is taken (a leftover, or another agent's pod
   * whose uid starts alike) retries once under `name_<random>`, as dockershim did.
   */
  private async create(name: string, options: Docker.ContainerCreateOptions): Promise<Docker.Container> {
    try {
      return await this.docker.createContainer({ ...options, name })
    } catch (err) {
      if (engineStatus(err) !== 409) throw err
      const other = `${name}_${randomBytes(4).toString('hex')}`
      this.log.debug({ name, other }, 'container name taken, using another')
      return await this.docker.createContainer({ ...options, name: other })
    }
  }

  /** SIGKILL, answering once the container has exited. */
  private async kill(id: string): Promise<void> {
    this.statuses.delete(id)
    await tolerant(() => this.docker.getContainer(id).kill({ signal: 'SIGKILL' }))
    if (!(await this.waitExit(id, KILL_WAIT_MS)))
      throw new Error(`container ${id} did not exit within ${KILL_WAIT_MS} ms of SIGKILL`)
  }

  /** Waits until the container is not running: true, or false after `timeoutMs`. */
  private async waitExit(id: string, timeoutMs: number): Promise<boolean> {
    const abort = new AbortController()
    const timer = this.clock.setTimeout(() => abort.abort(), timeoutMs)
    try {
      await this.docker.getContainer(id).wait({ condition: 'not-running', abortSignal: abort.signal })
      return true
    } catch (err) {
      if (abort.signal.aborted) return false
      if (engineStatus(err) === 404) return true
      throw err
    } finally {
      this.clock.clearTimeout(timer)
    }
  }
}

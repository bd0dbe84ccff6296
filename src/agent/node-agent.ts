/**
 * NodeAgent: the kubelet of a Shoal peer. It keeps the peer's Node object registered and
 * heart-beating, and runs the pods bound to this node (spec.nodeName) through a Runtime.
 *
 * Level-triggered: every trigger — a pod event from this peer's copy of the store, a container
 * that exited, a probe verdict, a back-off that expired, the periodic resync — only enqueues the
 * pod's uid. `syncPod(uid)` then reads what the store wants and what the runtime has, plans
 * (pod-plan.ts), acts, and reports the status it computed (pod-status.ts) through the
 * StatusWriter. One sync per pod at a time, at most `maxConcurrentSyncs` pods at once; a sync
 * that fails is retried with back-off.
 *
 * What the runtime has that no pod bound here wants (a deleted pod, or one rebound elsewhere)
 * is stopped and removed. What it has that a pod wants is adopted as it is — an agent that
 * restarts neither restarts nor duplicates a running container.
 */

import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { EventRecorder, type EventSink } from '../store/event-recorder.js'
import { stableStringify } from '../store/object-store.js'
import { podCidrOf } from '../store/pod-cidr-allocation.js'
import { type StoreClient, watchFromNow } from '../store/store-client.js'
import type { KubeObject } from '../store/types.js'
import { type Clock, isoSeconds, type TimerHandle } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import { WorkQueue } from '../util/work-queue.js'
import { Backoff, CONTAINER_BACKOFF } from './backoff.js'
import { buildContainerConfig, ContainerConfigError, volumeDir } from './container-config.js'
import { drainFromEndpoints } from './endpoint-drain.js'
import { NodePodNetwork } from './node-pod-network.js'
import { buildNode, hostCapacity, type NodeCapacity, nodeConditions } from './node-status.js'
import { type ClusterDns, podDns } from './pod-dns.js'
import { planPod, restartBackoffKey, type Waiting } from './pod-plan.js'
import { type ContainerSpec, podSpec } from './pod-spec.js'
import { computePodStatus } from './pod-status.js'
import { ProbeManager } from './prober.js'
import {
  type ContainerStatus,
  CreateContainerError,
  ImagePullError,
  RunContainerError,
  type Runtime,
  type SandboxStatus,
} from './runtime.js'
import { StatusWriter } from './status-writer.js'

/** The longest a deleted pod waits to leave its Services' Endpoints before it is stopped. */
const MAX_ENDPOINT_DRAIN_MS = 2_000

export interface NodeAgentOptions {
  nodeName: string
  client: StoreClient
  runtime: Runtime
  clock: Clock
  logger: Logger
  /** Per-pod directories (volumes). */
  podsDir: string
  /** This node's address (Node InternalIP, pods' hostIP). */
  hostIP: string
  /** This peer's API port (Node daemonEndpoints; other peers fetch pod logs there). */
  apiPort: number
  peerId?: string
  /** Heartbeat period: the Ready condition's lastHeartbeatTime is renewed this often. */
  nodeStatusIntervalMs?: number
  /** How often the runtime is listed to notice changes nobody reported. */
  relistIntervalMs?: number
  /** How often every pod is synced whatever happened. */
  resyncIntervalMs?: number
  maxConcurrentSyncs?: number
  capacity?: NodeCapacity
  labels?: Record<string, string>
  /** The cluster's DNS service, for pods of the ClusterFirst policies (none: the host's resolver). */
  clusterDns?: ClusterDns
  /** Where its events are written, shared with other agents of this process (default: its own). */
  eventSink?: EventSink
  /** Where its pods' statuses are written, shared likewise (default: its own). */
  statusWriter?: StatusWriter
}

/** What the runtime holds, as of one list. */
interface RuntimeView {
  sandboxes: SandboxStatus[]
  containers: ContainerStatus[]
}

/** Options of a pod log request (GET …/pods/NAME/log). */
export interface PodLogOptions {
  container?: string
  follow: boolean
  previous: boolean
  tailLines?: number
  timestamps: boolean
  sinceMs?: number
  signal?: AbortSignal
}

/** A log request that cannot be answered; `code` is its HTTP status. */
export class PodLogError extends Error {
  override name = 'PodLogError'
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

function isBoundHere(nodeName: string): (pod: KubeObject) => boolean {
  return (pod) => (pod.spec as { nodeName?: string } | undefined)?.nodeName === nodeName
}

export class NodeAgent {
  private readonly log: Logger
  private readonly clock: Clock
  private readonly runtime: Runtime
  private readonly client: StoreClient
  private readonly nodeName: string
  /** The pods bound here, by uid, as the store has them. */
  private readonly pods = new Map<string, KubeObject>()
  private readonly restartBackoff = new Backoff(CONTAINER_BACKOFF)
  private readonly pullBackoff = new Backoff(CONTAINER_BACKOFF)
  private readonly pullFailedAt = new Map<string, number>()
  /** Why a container is not running, from the agent's own attempts (image pulls, create errors). */
  private readonly waiting = new Map<string, Map<string, Waiting>>()
  private readonly livenessFailed = new Set<string>()
  /** Each pod's IP while its sandbox held it (a finished pod keeps showing it). */
  private readonly podIPs = new Map<string, string>()
  private readonly readiness = new Map<string, boolean>()
  private readonly probes: ProbeManager
  private readonly statusWriter: StatusWriter
  private readonly ownsStatusWriter: boolean
  private readonly events: EventRecorder
  /** A digest of each pod's runtime state at its last sync: a relist that differs enqueues it. */
  private readonly seenDigest = new Map<string, string>()
  /** The node's pod network: sandboxes wait for it once the runtime has one. */
  private readonly podNetwork: NodePodNetwork
  private lastPodNetworkError = ''

  /** Pod uids to sync: one sync per pod at a time, failures retried with back-off. */
  private readonly queue: WorkQueue

  private relistRunning: Promise<RuntimeView> | null = null
  private relistQueued: Promise<RuntimeView> | null = null
  private lastView: RuntimeView = { sandboxes: [], containers: [] }

  private readonly timers: (TimerHandle | null)[] = []
  private unwatch: (() => void) | null = null
  private unwatchNode: (() => void) | null = null
  private unsubscribeRuntime: (() => void) | null = null
  private stopped = false
  private runtimeVersion = ''
  private registered = false
  /** Whether this peer's copy of the store has caught up with the cluster since the start. */
  private caughtUp = false

  constructor(private readonly options: NodeAgentOptions) {
    this.log = options.logger.child({ component: 'agent' })
    this.clock = options.clock
    this.runtime = options.runtime
    this.client = options.client
    this.nodeName = options.nodeName
    this.probes = new ProbeManager(this.clock, this.log, (id, kind, ok, message) =>
      this.onProbe(id, kind, ok, message),
    )
    this.ownsStatusWriter = !options.statusWriter
    this.statusWriter = options.statusWriter ?? new StatusWriter(this.client, this.clock, this.log)
    this.podNetwork = new NodePodNetwork(this.runtime)
    this.events = new EventRecorder(
      this.client,
      { component: 'kubelet', host: this.nodeName },
      this.clock,
      this.log,
      options.eventSink,
    )
    this.queue = new WorkQueue('pods', (uid) => this.syncPod(uid), this.clock, this.log, {
      concurrency: options.maxConcurrentSyncs ?? 8,
      baseDelayMs: 250,
      maxDelayMs: 30_000,
    })
  }

  /** Registers the node, adopts what the runtime has, and starts following the store. */
  async start(): Promise<void> {
    mkdirSync(this.options.podsDir, { recursive: true })
    this.runtimeVersion = await this.runtime.version()
    const store = this.client.store
    this.unwatch = watchFromNow(store, 'pods', isBoundHere(this.nodeName), (ev) => {
      const uid = ev.object.metadata.uid ?? ''
      const before = this.pods.get(uid)
      if (ev.type === 'DELETED') this.pods.delete(uid)
      else this.pods.set(uid, ev.object)
      // A change of status alone (most often our own write) asks for nothing.
      if (ev.type === 'MODIFIED' && before && desiredPart(before) === desiredPart(ev.object)) return
      this.enqueue(uid)
    })
    for (const pod of store.list('pods', { filter: isBoundHere(this.nodeName) }).items) {
      this.pods.set(pod.metadata.uid ?? '', pod)
    }
    // The state machine gives the Node its podCIDR when it is registered: the pod network is
    // made then (or now, for a Node the store already has), and waiting pods go on.
    if (this.podNetwork.needed) {
      this.unwatchNode = watchFromNow(
        store,
        'nodes',
        (n) => n.metadata.name === this.nodeName,
        (ev) => {
          if (ev.type !== 'DELETED') this.maybePreparePodNetwork(ev.object)
        },
      )
      this.maybePreparePodNetwork(store.get('nodes', undefined, this.nodeName))
    }
    this.unsubscribeRuntime = this.runtime.onContainerEvent(() => {
      void this.relistAndEnqueue()
    })
    await this.relistAndEnqueue()
    for (const uid of this.pods.keys()) this.enqueue(uid)
    void this.catchUp()
    // The Node is registered, then heart-beats, once the cluster has a leader: a peer starts
    // (and runs the pods it has) before it has found the others.
    void this.registerNode().then(
      () => {
        this.registered = true
      },
      (err: unknown) => this.log.info({ err: (err as Error).message }, 'node not registered yet; retrying'),
    )
    this.every(this.options.nodeStatusIntervalMs ?? 2000, () => this.heartbeat())
    this.every(this.options.relistIntervalMs ?? 1000, () => this.relistAndEnqueue())
    this.every(this.options.resyncIntervalMs ?? 10_000, async () => this.resync())
    this.log.info(
      { node: this.nodeName, runtime: this.runtimeVersion, pods: this.pods.size },
      'node agent started',
    )
  }

  /** Waits (retrying while there is no leader) until the local copy is current, then resyncs. */
  private async catchUp(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.client.waitCaughtUp()
        this.caughtUp = true
        await this.resync()
        return
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'store not caught up yet')
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, 1000))
      }
    }
  }

  /** Stops the loops. Containers keep running: a restarted agent adopts them. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const t of this.timers) this.clock.clearTimeout(t)
    this.queue.stop()
    this.unwatch?.()
    this.unwatchNode?.()
    this.unsubscribeRuntime?.()
    this.probes.stopAll()
    if (this.ownsStatusWriter) this.statusWriter.stop()
    await this.runtime.close()
  }

  /** The runtime's name (the scheme of container ids). */
  runtimeName(): string {
    return this.runtime.name
  }

  // ---------------------------------------------------------------- node

  private nodeFacts() {
    return {
      name: this.nodeName,
      internalIP: this.options.hostIP,
      apiPort: this.options.apiPort,
      runtimeVersion: this.runtimeVersion,
      capacity: this.options.capacity ?? hostCapacity(),
      labels: this.options.labels,
      peerId: this.options.peerId,
    }
  }

  /** Creates this peer's Node, or brings an existing one up to date (a restart). */
  private async registerNode(): Promise<void> {
    const now = this.clock.now()
    const old = this.client.store.get('nodes', undefined, this.nodeName)
    const node = buildNode(this.nodeFacts(), now, old)
    const nowIso = isoSeconds(now)
    if (!old) {
      const r = await this.client.propose({
        op: 'create',
        resource: 'nodes',
        object: node,
        uid: globalThis.crypto.randomUUID(),
        now: nowIso,
      })
      if (r.ok || r.status.code === 409) {
        if (!r.ok) await this.registerNode()
        return
      }
      throw new Error(`node registration refused: ${r.status.message}`)
    }
    // Labels and annotations the node sets; the status as it is now.
    const meta = await this.client.propose({
      op: 'patch',
      resource: 'nodes',
      name: this.nodeName,
      patchType: 'merge',
      patch: { metadata: { labels: node.metadata.labels, annotations: node.metadata.annotations } },
      uid: globalThis.crypto.randomUUID(),
      now: nowIso,
    })
    if (!meta.ok) throw new Error(`node registration refused: ${meta.status.message}`)
    const st = await this.client.propose({
      op: 'update',
      resource: 'nodes',
      name: this.nodeName,
      subresource: 'status',
      object: { apiVersion: 'v1', kind: 'Node', metadata: { name: this.nodeName }, status: node.status },
      now: nowIso,
    })
    if (!st.ok) throw new Error(`node status refused: ${st.status.message}`)
  }

  /**
   * Renews the Ready condition: a strategic merge patch of that one condition (merged by
   * type), about 450 bytes in the Raft log per heartbeat. The other conditions keep the
   * heartbeat of the last registration.
   */
  private async heartbeat(): Promise<void> {
    const old = this.client.store.get('nodes', undefined, this.nodeName)
    if (!old || !this.registered) {
      // Not yet registered, or deleted by someone (kubectl delete node): register (again),
      // as a kubelet does.
      await this.registerNode()
      this.registered = true
      return
    }
    const now = this.clock.now()
    const ready = nodeConditions(now, old).find((c) => c.type === 'Ready')
    const r = await this.client.propose({
      op: 'patch',
      resource: 'nodes',
      name: this.nodeName,
      patchType: 'strategic',
      subresource: 'status',
      patch: { status: { conditions: [ready] } },
      uid: globalThis.crypto.randomUUID(),
      now: isoSeconds(now),
    })
    if (!r.ok) this.log.warn({ message: r.status.message }, 'node heartbeat refused')
  }

  /** Makes the pod network of the Node's podCIDR when it is new, then enqueues every pod. */
  private maybePreparePodNetwork(node: KubeObject | undefined): void {
    const podCidr = podCidrOf(node)
    if (!podCidr || podCidr === this.podNetwork.podCidr) return
    this.podNetwork.ensure(podCidr).then(
      (ready) => {
        if (!ready) return
        this.log.info({ podCidr }, 'pod network ready')
        for (const uid of this.pods.keys()) this.enqueue(uid)
      },
      // Tried again at the next Node event (the heartbeat's) and by each pod's sync (with its
      // back-off); logged at warn once per distinct error, not every heartbeat.
      (err: unknown) => {
        const message = (err as Error).message
        const level = message === this.lastPodNetworkError ? 'debug' : 'warn'
        this.lastPodNetworkError = message
        this.log[level]({ podCidr, err: message }, 'pod network not made')
      },
    )
  }

  // ---------------------------------------------------------------- triggers

  private every(periodMs: number, fn: () => Promise<unknown>): void {
    const slot = this.timers.length
    this.timers.push(null)
    const tick = (): void => {
      this.timers[slot] = null
      if (this.stopped) return
      fn()
        .catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'periodic task failed'))
        .finally(() => {
          if (!this.stopped) this.timers[slot] = this.clock.setTimeout(tick, periodMs)
        })
    }
    this.timers[slot] = this.clock.setTimeout(tick, periodMs)
  }

  /** Every pod bound here, again from the store, and every pod the runtime has. */
  private async resync(): Promise<void> {
    const now = new Map<string, KubeObject>()
    for (const pod of this.client.store.list('pods', { filter: isBoundHere(this.nodeName) }).items)
      now.set(pod.metadata.uid ?? '', pod)
    for (const uid of this.pods.keys()) if (!now.has(uid)) this.pods.delete(uid)
    for (const [uid, pod] of now) this.pods.set(uid, pod)
    const view = await this.relist()
    const uids = new Set<string>([
      ...this.pods.keys(),
      ...view.containers.map((c) => c.podUid),
      ...view.sandboxes.map((s) => s.podUid),
    ])
    for (const uid of uids) this.enqueue(uid)
    this.restartBackoff.gc(this.clock.now())
    this.pullBackoff.gc(this.clock.now())
  }

  /** Lists the runtime; pods whose containers changed since their last sync are enqueued. */
  private async relistAndEnqueue(): Promise<void> {
    const view = await this.relist()
    const digests = runtimeDigests(view)
    for (const [uid, digest] of digests) {
      if (this.seenDigest.get(uid) !== digest) this.enqueue(uid)
    }
    for (const uid of this.seenDigest.keys()) if (!digests.has(uid)) this.enqueue(uid)
  }

  /** One runtime list at a time; a caller during a list gets the next one (fresh for it). */
  private relist(): Promise<RuntimeView> {
    if (!this.relistRunning) {
      this.relistRunning = (async () => {
        const [sandboxes, containers] = await Promise.all([
          this.runtime.listSandboxes(),
          this.runtime.listContainers(),
        ])
        this.lastView = { sandboxes, containers }
        return this.lastView
      })().finally(() => {
        this.relistRunning = null
      })
      return this.relistRunning
    }
    this.relistQueued ??= this.relistRunning
      .catch(() => undefined)
      .then(() => {
        this.relistQueued = null
        return this.relist()
      })
    return this.relistQueued
  }

  private onProbe(containerId: string, kind: 'liveness' | 'readiness', ok: boolean, message: string): void {
    const c = this.lastView.containers.find((x) => x.id === containerId)
    if (kind === 'liveness') {
      if (ok) this.livenessFailed.delete(containerId)
      else this.livenessFailed.add(containerId)
    } else this.readiness.set(containerId, ok)
    if (!c) return
    const pod = this.pods.get(c.podUid)
    if (pod && !ok) {
      const what = kind === 'liveness' ? 'Liveness' : 'Readiness'
      void this.events.record(
        pod,
        'Warning',
        'Unhealthy',
        `${what} probe failed: ${message}`,
        `spec.containers{${c.name}}`,
      )
    }
    this.enqueue(c.podUid)
  }

  // ---------------------------------------------------------------- the work queue

  /** Asks for a sync of pod `uid`, now or after `delayMs`. */
  enqueue(uid: string, delayMs = 0): void {
    if (this.stopped || !uid) return
    this.queue.add(uid, delayMs)
  }

  /** Whether nothing is queued or running (tests wait for it). */
  idle(): boolean {
    return this.queue.idle()
  }

  // ---------------------------------------------------------------- one pod

  /** Brings pod `uid` to what the store wants, then reports its status. */
  async syncPod(uid: string): Promise<void> {
    if (this.stopped) return
    const pod = this.pods.get(uid)
    const t0 = this.clock.now()
    const marks: Record<string, number> = {}
    const mark = (what: string): void => {
      marks[what] = this.clock.now() - t0
    }
    let view = await this.relist()
    mark('listed')
    const mine = (v: RuntimeView) => ({
      sandboxes: v.sandboxes.filter((s) => s.podUid === uid),
      containers: v.containers.filter((c) => c.podUid === uid),
    })
    let state = mine(view)
    if (!pod) {
      // Before this peer's copy has caught up (a restart replays the log), a pod missing from
      // it may exist all the same: its containers are left alone until the copy is current.
      if (!this.caughtUp) {
        this.enqueue(uid, 1000)
        return
      }
      await this.removeOrphan(uid, state)
      return
    }
    if (pod.metadata.deletionTimestamp) {
      await this.terminate(pod, state)
      return
    }

    const plan = planPod({
      pod,
      sandboxes: state.sandboxes,
      containers: state.containers,
      livenessFailed: this.livenessFailed,
      backoff: this.restartBackoff,
      nowMs: this.clock.now(),
    })
    const spec = podSpec(pod)
    const grace = (spec.terminationGracePeriodSeconds ?? 30) * 1000
    for (const k of plan.kill) {
      void this.events.record(pod, 'Normal', 'Killing', k.message, `spec.containers{${k.name}}`)
      this.probes.stop(k.id)
      await this.runtime.stopContainer(k.id, grace)
      this.livenessFailed.delete(k.id)
    }
    for (const id of plan.stopSandboxes) await this.runtime.stopSandbox(id)
    mark('killed')

    let sandbox = state.sandboxes
      .filter((s) => s.state === 'ready')
      .sort((a, b) => b.createdAtMs - a.createdAtMs)[0]
    const waiting = this.waitingOf(uid)
    // No sandbox before the node's pod network: the Node watch enqueues the pod once it is made.
    const networkReady =
      !plan.createSandbox ||
      (await this.podNetwork.ensure(podCidrOf(this.client.store.get('nodes', undefined, this.nodeName))))
    if (plan.createSandbox && networkReady) {
      if (state.sandboxes.length > 0)
        void this.events.record(
          pod,
          'Normal',
          'SandboxChanged',
          'Pod sandbox changed, it will be killed and re-created.',
        )
      // A dead sandbox goes before its successor comes (a runtime may name sandboxes by pod).
      for (const s of state.sandboxes) {
        if (s.state === 'ready') await this.runtime.stopSandbox(s.id)
        await this.runtime.removeSandbox(s.id)
      }
      this.prepareVolumes(pod)
      const dns = podDns(pod, this.options.clusterDns)
      sandbox = await this.runtime.runSandbox({
        podUid: uid,
        podName: pod.metadata.name ?? '',
        namespace: pod.metadata.namespace ?? 'default',
        hostname: spec.hostname ?? pod.metadata.name ?? '',
        ports: spec.containers.flatMap((c) =>
          (c.ports ?? []).map((p) => ({
            containerPort: p.containerPort,
            protocol: p.protocol ?? 'TCP',
            ...(p.hostPort ? { hostPort: p.hostPort } : {}),
          })),
        ),
        ...(dns ? { dns } : {}),
      })
    }
    mark('sandbox')
    let retryAtMs = plan.retryAtMs
    if (sandbox) {
      for (const s of plan.start) {
        const ctr = spec.containers.find((c) => c.name === s.name)!
        const at = await this.startContainer(pod, ctr, sandbox, s.attempt, s.restart, waiting)
        if (at !== undefined) retryAtMs = Math.min(retryAtMs ?? Number.POSITIVE_INFINITY, at)
      }
    }
    for (const id of plan.removeContainers) await this.runtime.removeContainer(id)
    for (const id of plan.removeSandboxes) await this.runtime.removeSandbox(id)

    mark('started')
    // Report what is, now.
    view = await this.relist()
    state = mine(view)
    mark('relisted')
    this.seenDigest.set(uid, digestOf(state))
    const current = this.pods.get(uid) ?? pod
    const allWaiting = new Map<string, Waiting>([...waiting, ...plan.waiting])
    const readiness = new Map<string, boolean>()
    for (const c of state.containers) {
      if (c.state !== 'running') continue
      const ctr = spec.containers.find((x) => x.name === c.name)
      if (!ctr) continue
      const ready = this.readiness.get(c.id)
      if (ready !== undefined) readiness.set(c.id, ready)
      if (sandbox && (ctr.livenessProbe || ctr.readinessProbe))
        this.probes.ensure({ podIP: sandbox.ip, containerId: c.id, container: ctr, runtime: this.runtime })
    }
    this.retainProbes()
    if (sandbox?.ip) this.podIPs.set(uid, sandbox.ip)
    const status = computePodStatus({
      pod: current,
      sandboxes: state.sandboxes,
      containers: state.containers,
      waiting: allWaiting,
      readiness,
      hostIP: this.options.hostIP,
      ...(this.podIPs.has(uid) ? { lastPodIP: this.podIPs.get(uid)! } : {}),
      runtimeName: this.runtime.name,
      nowMs: this.clock.now(),
    })
    this.writeStatus(current, status as unknown as Record<string, unknown>)
    if (plan.start.length > 0 || plan.kill.length > 0 || plan.createSandbox)
      this.log.debug(
        { pod: `${pod.metadata.namespace}/${pod.metadata.name}`, ms: marks, phase: status.phase },
        'pod synced',
      )
    if (retryAtMs !== undefined && Number.isFinite(retryAtMs))
      this.enqueue(uid, Math.max(1, retryAtMs - this.clock.now()))
  }

  private waitingOf(uid: string): Map<string, Waiting> {
    let m = this.waiting.get(uid)
    if (!m) {
      m = new Map()
      this.waiting.set(uid, m)
    }
    return m
  }

  /**
   * Pulls (as the policy says), creates and starts one container. Answers when to try again if
   * it could not (a pull back-off), else undefined. Failures become the container's waiting reason.
   */
  private async startContainer(
    pod: KubeObject,
    ctr: ContainerSpec,
    sandbox: SandboxStatus,
    attempt: number,
    restart: boolean,
    waiting: Map<string, Waiting>,
  ): Promise<number | undefined> {
    const uid = pod.metadata.uid ?? ''
    const field = `spec.containers{${ctr.name}}`
    const pullKey = `${restartBackoffKey(uid, ctr.name)}/image`
    const now = this.clock.now()
    const lastFail = this.pullFailedAt.get(pullKey)
    if (lastFail !== undefined) {
      const retryAt = this.pullBackoff.retryAtMs(pullKey, lastFail)
      if (now < retryAt) {
        waiting.set(ctr.name, {
          reason: 'ImagePullBackOff',
          message: `Back-off pulling image "${ctr.image}"`,
        })
        return retryAt
      }
    }
    try {
      const pulled = await this.runtime.ensureImage(ctr.image, ctr.imagePullPolicy ?? 'IfNotPresent')
      if (pulled.warning) void this.events.record(pod, 'Warning', 'Failed', pulled.warning, field)
      this.pullFailedAt.delete(pullKey)
      this.pullBackoff.reset(pullKey)
    } catch (err) {
      if (!(err instanceof ImagePullError)) throw err
      this.pullFailedAt.set(pullKey, now)
      this.pullBackoff.next(pullKey, now)
      waiting.set(ctr.name, { reason: 'ErrImagePull', message: err.message })
      void this.events.record(
        pod,
        'Warning',
        'Failed',
        `Failed to pull image "${ctr.image}": ${err.message}`,
        field,
      )
      // Look again in a second: the status then says ImagePullBackOff until the retry.
      return now + 1000
    }
    let id: string
    try {
      const config = buildContainerConfig(pod, ctr, attempt, {
        configMap: (ns, name) => this.client.store.get('configmaps', ns, name),
        podIP: sandbox.ip,
        hostIP: this.options.hostIP,
        nodeName: this.nodeName,
        podsDir: this.options.podsDir,
      })
      id = await this.runtime.createContainer(sandbox.id, config)
    } catch (err) {
      const reason =
        err instanceof ContainerConfigError
          ? 'CreateContainerConfigError'
          : err instanceof CreateContainerError
            ? 'CreateContainerError'
            : null
      if (!reason) throw err
      waiting.set(ctr.name, { reason, message: (err as Error).message })
      void this.events.record(pod, 'Warning', 'Failed', `Error: ${(err as Error).message}`, field)
      return this.clock.now() + 10_000
    }
    void this.events.record(pod, 'Normal', 'Created', `Created container ${ctr.name}`, field)
    try {
      await this.runtime.startContainer(id)
    } catch (err) {
      if (!(err instanceof RunContainerError)) throw err
      waiting.set(ctr.name, { reason: 'RunContainerError', message: err.message })
      void this.events.record(pod, 'Warning', 'Failed', `Error: ${err.message}`, field)
      await this.runtime.removeContainer(id)
      return this.clock.now() + 10_000
    }
    waiting.delete(ctr.name)
    if (restart) this.restartBackoff.next(restartBackoffKey(uid, ctr.name), this.clock.now())
    void this.events.record(pod, 'Normal', 'Started', `Started container ${ctr.name}`, field)
    return undefined
  }

  /** A pod being deleted: stop its containers within its grace period, then let the store remove it. */
  private async terminate(pod: KubeObject, state: RuntimeView): Promise<void> {
    const uid = pod.metadata.uid ?? ''
    const graceS = pod.metadata.deletionGracePeriodSeconds ?? podSpec(pod).terminationGracePeriodSeconds ?? 30
    const runningOnes = state.containers.filter((c) => c.state === 'running')
    if (runningOnes.length > 0) {
      // Out of its Services first, so that no new connection reaches a stopping pod.
      const podIP = (pod.status as { podIP?: string } | undefined)?.podIP ?? ''
      const maxMs = Math.min(MAX_ENDPOINT_DRAIN_MS, (graceS * 1000) / 4)
      await drainFromEndpoints(
        this.client.store,
        this.clock,
        pod.metadata.namespace ?? 'default',
        podIP,
        maxMs,
      )
    }
    await Promise.all(
      runningOnes.map((c) => {
        this.probes.stop(c.id)
        void this.events.record(
          pod,
          'Normal',
          'Killing',
          `Stopping container ${c.name}`,
          `spec.containers{${c.name}}`,
        )
        return this.runtime.stopContainer(c.id, graceS * 1000)
      }),
    )
    for (const s of state.sandboxes) if (s.state === 'ready') await this.runtime.stopSandbox(s.id)
    // The containers are stopped: the pod may go (grace 0, for this very pod only).
    const r = await this.client.propose({
      op: 'remove',
      resource: 'pods',
      namespace: pod.metadata.namespace,
      name: pod.metadata.name ?? '',
      preconditions: { uid },
      gracePeriodSeconds: 0,
      now: isoSeconds(this.clock.now()),
    })
    if (!r.ok && r.status.code !== 404 && r.status.code !== 409)
      throw new Error(
        `could not remove pod ${pod.metadata.namespace}/${pod.metadata.name}: ${r.status.message}`,
      )
    // The store's DELETED event brings the pod back here as an orphan, which removes the rest.
  }

  /** What the runtime holds for a pod the store no longer binds here: stopped, then removed. */
  private async removeOrphan(uid: string, state: RuntimeView): Promise<void> {
    for (const c of state.containers) {
      this.probes.stop(c.id)
      if (c.state === 'running') await this.runtime.stopContainer(c.id, 2000)
    }
    for (const s of state.sandboxes) {
      if (s.state === 'ready') await this.runtime.stopSandbox(s.id)
      await this.runtime.removeSandbox(s.id)
    }
    for (const c of state.containers) await this.runtime.removeContainer(c.id)
    rmSync(join(this.options.podsDir, uid), { recursive: true, force: true })
    this.forgetPod(uid)
    if (state.containers.length > 0 || state.sandboxes.length > 0)
      this.log.info(
        { pod: uid, containers: state.containers.length },
        'removed the containers of a pod no longer bound here',
      )
  }

  private forgetPod(uid: string): void {
    this.waiting.delete(uid)
    this.podIPs.delete(uid)
    this.seenDigest.delete(uid)
    this.restartBackoff.resetPrefix(`${uid}/`)
    this.pullBackoff.resetPrefix(`${uid}/`)
    for (const k of [...this.pullFailedAt.keys()]) if (k.startsWith(`${uid}/`)) this.pullFailedAt.delete(k)
    this.statusWriter.forget(uid)
  }

  private retainProbes(): void {
    const running = new Set(this.lastView.containers.filter((c) => c.state === 'running').map((c) => c.id))
    this.probes.retain(running)
    for (const id of [...this.readiness.keys()]) if (!running.has(id)) this.readiness.delete(id)
    for (const id of [...this.livenessFailed]) if (!running.has(id)) this.livenessFailed.delete(id)
  }

  /** Creates the pod's volume directories (emptyDir, configMap). */
  private prepareVolumes(pod: KubeObject): void {
    const uid = pod.metadata.uid ?? ''
    for (const v of podSpec(pod).volumes ?? []) {
      if (!v.emptyDir && !v.configMap) continue
      const dir = volumeDir(this.options.podsDir, uid, v.name)
      mkdirSync(dir, { recursive: true, mode: 0o777 })
      if (v.configMap) {
        const cm = this.client.store.get('configmaps', pod.metadata.namespace, v.configMap.name)
        const data = (cm?.data ?? {}) as Record<string, string>
        const items = v.configMap.items ?? Object.keys(data).map((key) => ({ key, path: key }))
        for (const item of items)
          if (data[item.key] !== undefined) writeFileSync(join(dir, item.path), data[item.key]!)
      }
    }
  }

  private writeStatus(pod: KubeObject, status: Record<string, unknown>): void {
    if (
      stableStringify(status) === stableStringify(pod.status ?? {}) &&
      !this.statusWriter.has(pod.metadata.uid ?? '')
    )
      return
    this.statusWriter.set(pod, status)
  }

  // ---------------------------------------------------------------- logs

  /** The log stream of one of this node's pods (GET …/pods/NAME/log). */
  async podLogs(pod: KubeObject, options: PodLogOptions): Promise<Readable> {
    const spec = podSpec(pod)
    const names = spec.containers.map((c) => c.name)
    let name = options.container
    if (!name) {
      if (names.length !== 1)
        throw new PodLogError(
          400,
          `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`,
        )
      name = names[0]!
    }
    if (!names.includes(name))
      throw new PodLogError(400, `container ${name} is not valid for pod ${pod.metadata.name}`)
    const view = await this.relist()
    const attempts = view.containers
      .filter((c) => c.podUid === pod.metadata.uid && c.name === name)
      .sort((a, b) => b.attempt - a.attempt)
    const target = options.previous ? attempts.find((c, i) => i > 0 && c.state === 'exited') : attempts[0]
    if (!target) {
      if (options.previous)
        throw new PodLogError(
          400,
          `previous terminated container "${name}" in pod "${pod.metadata.name}" not found`,
        )
      throw new PodLogError(
        400,
        `container "${name}" in pod "${pod.metadata.name}" is waiting to start: ${this.waiting.get(pod.metadata.uid ?? '')?.get(name)?.reason ?? 'ContainerCreating'}`,
      )
    }
    return this.runtime.logs(target.id, {
      follow: options.follow && target.state === 'running',
      timestamps: options.timestamps,
      ...(options.tailLines !== undefined ? { tailLines: options.tailLines } : {}),
      ...(options.sinceMs !== undefined ? { sinceMs: options.sinceMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })
  }
}

/** What the agent acts on in a pod: all but its status and resourceVersion. */
function desiredPart(pod: KubeObject): string {
  const { resourceVersion: _rv, managedFields: _mf, ...meta } = pod.metadata
  return stableStringify({ meta, spec: pod.spec })
}

/** A digest of one pod's sandboxes' and containers' states (a relist that differs enqueues it). */
function digestOf(state: RuntimeView): string {
  return [
    ...state.sandboxes.map((s) => `s:${s.id}:${s.state}`),
    ...state.containers.map((c) => `c:${c.id}:${c.state}`),
  ]
    .sort()
    .join('|')
}

/** Per pod uid: its digest. */
function runtimeDigests(view: RuntimeView): Map<string, string> {
  const byPod = new Map<string, RuntimeView>()
  const of = (uid: string): RuntimeView => {
    let v = byPod.get(uid)
    if (!v) {
      v = { sandboxes: [], containers: [] }
      byPod.set(uid, v)
    }
    return v
  }
  for (const s of view.sandboxes) of(s.podUid).sandboxes.push(s)
  for (const c of view.containers) of(c.podUid).containers.push(c)
  return new Map([...byPod].map(([uid, v]) => [uid, digestOf(v)]))
}

/**
 * PeerDaemon: one Shoal peer — what `shoal agent` runs. It owns the data dir and wires the
 * parts together: identity and secret, the libp2p host, Raft on durable storage, the
 * replicated state, the cluster manager, and the HTTP endpoint.
 *
 * Data dir layout:
 *   peer-key              the Ed25519 identity (0600)
 *   cluster-secret        the cluster secret, when --secret-file is not given (0600)
 *   raft/                 Raft log and stable state (classic-level)
 *   snapshots/            Raft snapshots
 *   bootstrap-lock.json   a formation promise (see src/p2p/formation.ts)
 *   agent.json            where this peer listens, for local CLI commands
 */

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname, networkInterfaces } from 'node:os'
import { join, resolve } from 'node:path'
import { Gauge } from 'prom-client'
import {
  createRuntime,
  RuntimeChoiceError,
  type RuntimeKind,
  resolveRuntimeKind,
} from '../agent/create-runtime.js'
import { FakeRuntime, FakeRuntimeHost } from '../agent/fake-runtime.js'
import { NodeAgent } from '../agent/node-agent.js'
import { StatusWriter } from '../agent/status-writer.js'
import { ApiServer } from '../api/api-server.js'
import { ApiMetrics } from '../api/metrics.js'
import { RaftStoreClient } from '../api/raft-store-client.js'
import { shoalRoutes } from '../api/shoal-routes.js'
import { deriveApiToken, deriveClusterCa, issueServingCert } from '../api/tls.js'
import type { ControllerFactory } from '../controllers/controller.js'
import { ControllerManager } from '../controllers/controller-manager.js'
import { EndpointsController } from '../controllers/endpoints.js'
import { GarbageCollector } from '../controllers/garbage-collector.js'
import {
  defaultNodeLifecycleConfig,
  NodeLifecycle,
  type NodeLifecycleConfig,
} from '../controllers/node-lifecycle.js'
import { ReplicationManager } from '../controllers/replication-manager.js'
import { Scheduler } from '../controllers/scheduler.js'
import { ClusterDnsServer, parseResolvConf, upstreamsFromResolvConf } from '../dns/index.js'
import { ClusterManager } from '../p2p/cluster-manager.js'
import { createHost, parseJoinAddress, parseListenAddress, type ShoalHost } from '../p2p/host.js'
import { loadOrCreatePeerKey } from '../p2p/identity.js'
import { isPeerInfo, type PeerInfo } from '../p2p/peer-table.js'
import { Libp2pRaftTransport } from '../p2p/raft-transport.js'
import { loadClusterSecret } from '../p2p/secret.js'
import { ClaimedListener } from '../proxy/claimed-listener.js'
import { KernelForwarder } from '../proxy/kernel-forwarder.js'
import { clusterTag } from '../proxy/kernel-rules.js'
import {
  createServiceAddressHolder,
  isLoopback,
  type ServiceAddressHolder,
} from '../proxy/service-addresses.js'
import { ServiceProxier } from '../proxy/service-proxier.js'
import type { RaftConfig } from '../raft/config.js'
import { FileSnapshotStore } from '../raft/file-snapshot-store.js'
import { Raft } from '../raft/raft.js'
import { EventSink } from '../store/event-recorder.js'
import { encodeStoreCommand, ObjectStore } from '../store/object-store.js'
import { DEFAULT_POD_CIDR, parsePodCidr } from '../store/pod-cidr-allocation.js'
import { clusterDnsAddress, DEFAULT_SERVICE_CIDR, parseCidr } from '../store/service-allocation.js'
import { type Clock, isoSeconds, SystemClock, type TimerHandle } from '../util/clock.js'
import { systemIptables } from '../util/iptables.js'
import type { Logger } from '../util/logger.js'
import { type Rng, systemRng } from '../util/random.js'
import { SHOAL_VERSION } from '../util/version.js'
import { openRaftStorage, type RaftStorage } from './raft-storage.js'

/** The flags of `shoal agent` (PRODUCT.md §2). */
export interface PeerDaemonOptions {
  dataDir: string
  name?: string
  /** Multiaddr or host:port to listen on for peers. */
  p2p: string
  /** host:port of the HTTP endpoint. */
  api: string
  join: string[]
  bootstrapExpect: number
  runtime: RuntimeKind
  /** Run no node agent (a peer that only holds state and serves the API). */
  noAgent?: boolean
  /** The node heartbeat period (default 2 s). */
  nodeStatusIntervalMs?: number
  /** Which leader controllers run: all of them (default), or those named. */
  controllers?: string[]
  /** A node silent this long is NotReady (default 5 s). */
  nodeMonitorGracePeriodMs?: number
  /** A NotReady node's pods are deleted after this long (default 2 s). */
  podEvictionTimeoutMs?: number
  secretFile?: string
  mdns: boolean
  raft?: Partial<RaftConfig>
  /** Remove a peer silent for this long (autopilot). */
  removeDeadAfterMs?: number
  /** API requests per second per client (429 beyond). */
  rateLimitPerSecond?: number
  /** Events older than this are removed (default 1 h). */
  eventTtlMs?: number
  /** The cluster's service range (every peer must be given the same; default 10.96.0.0/12). */
  serviceCidr?: string
  /** The cluster's pod range, a /24 per node (every peer the same; default 10.244.0.0/16). */
  podCidr?: string
  /** The cluster DNS domain (default cluster.local). */
  clusterDomain?: string
  /** Run no service proxy and no DNS server on this peer. */
  noServiceProxy?: boolean
  /**
   * TCP services' data path: `iptables` (kernel rules; fails to start without root and
   * iptables), `userspace` (every connection through this process), `auto` (default: iptables
   * when it can).
   */
  proxyMode?: 'auto' | 'iptables' | 'userspace'
  /**
   * Also run this many simulated nodes (`NAME-sim-K`): node agents on the fake runtime, in
   * this process (Kubernetes' kubemark "hollow nodes"), for benchmarks at scale.
   */
  simulatedNodes?: number
  logger: Logger
  clock?: Clock
  rng?: Rng
}

/** A flag value or a file that stops the daemon from starting; the message says which. */
export class DaemonConfigError extends Error {
  override name = 'DaemonConfigError'
}

export function parseApiAddress(value: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d+)$/.exec(value.trim())
  if (!m) throw new DaemonConfigError(`--api ${value}: expected host:port`)
  const port = Number(m[2])
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new DaemonConfigError(`--api ${value}: bad port`)
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port }
}

const MEMBER_PREFIX = 'members/'

/** The leader's controllers, by the names `--controllers` takes. */
export const CONTROLLER_NAMES = [
  'scheduler',
  'replication',
  'node-lifecycle',
  'endpoints',
  'garbage-collector',
] as const

function controllerFactories(
  names: string[] | undefined,
  lifecycle: NodeLifecycleConfig,
  onScheduler: (s: Scheduler) => void = () => {},
): ControllerFactory[] {
  const all: Record<(typeof CONTROLLER_NAMES)[number], ControllerFactory> = {
    scheduler: () => {
      const s = new Scheduler()
      onScheduler(s)
      return s
    },
    replication: () => new ReplicationManager(),
    'node-lifecycle': () => new NodeLifecycle(lifecycle),
    endpoints: () => new EndpointsController(),
    'garbage-collector': () => new GarbageCollector(),
  }
  const chosen = names ?? [...CONTROLLER_NAMES]
  for (const n of chosen)
    if (!(n in all))
      throw new DaemonConfigError(
        `--controllers: unknown controller ${n} (known: ${CONTROLLER_NAMES.join(', ')})`,
      )
  return chosen.map((n) => all[n as keyof typeof all])
}

/**
 * The address this node is reached at (its Node's InternalIP): the API's host when it is an
 * address, else the address peers dial, else the first external IPv4 of the host.
 */
function nodeAddress(apiHost: string, advertised: string): string {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(apiHost) && apiHost !== '0.0.0.0') return apiHost
  const m = /\/ip4\/([\d.]+)\//.exec(advertised)
  if (m && m[1] !== '0.0.0.0') return m[1]!
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return '127.0.0.1'
}

export class PeerDaemon {
  private host: ShoalHost | null = null
  private transport: Libp2pRaftTransport | null = null
  private raftStorage: RaftStorage | null = null
  private raft: Raft | null = null
  private cluster: ClusterManager | null = null
  private http: ApiServer | null = null
  private eventsTimer: TimerHandle | null = null
  private agent: NodeAgent | null = null
  private simulatedAgents: NodeAgent[] = []
  /** Pod statuses of every node agent of this peer, written in shared batches. */
  private statusWriter: StatusWriter | null = null
  /** The scheduler of this peer's current leadership, if any (for /metrics). */
  private scheduler: Scheduler | null = null
  private controllers: ControllerManager | null = null
  private proxier: ServiceProxier | null = null
  private dns: ClaimedListener | null = null
  private readonly clock: Clock
  private readonly rng: Rng
  private readonly log: Logger
  readonly store: ObjectStore
  peerId = ''
  name = ''

  constructor(private readonly options: PeerDaemonOptions) {
    this.clock = options.clock ?? new SystemClock()
    this.rng = options.rng ?? systemRng()
    this.log = options.logger
    for (const [flag, value, parse] of [
      ['--service-cidr', options.serviceCidr, parseCidr],
      ['--pod-cidr', options.podCidr, parsePodCidr],
    ] as const) {
      try {
        if (value !== undefined) parse(value)
      } catch (err) {
        throw new DaemonConfigError(`${flag} ${value}: ${(err as Error).message}`)
      }
    }
    this.store = new ObjectStore({
      serviceCidr: options.serviceCidr ?? DEFAULT_SERVICE_CIDR,
      podCidr: options.podCidr ?? DEFAULT_POD_CIDR,
    })
  }

  async start(): Promise<void> {
    const o = this.options
    const dataDir = resolve(o.dataDir)
    // Check every flag before touching the disk: bad usage changes nothing.
    if (o.bootstrapExpect < 0 || !Number.isInteger(o.bootstrapExpect)) {
      throw new DaemonConfigError(`--bootstrap-expect ${o.bootstrapExpect}: expected a whole number >= 0`)
    }
    const api = parseApiAddress(o.api)
    controllerFactories(o.controllers, defaultNodeLifecycleConfig())
    const listen = parseListenAddress(o.p2p)
    const joins = o.join.map((j) => parseJoinAddress(j))
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })

    const secretPath = resolve(o.secretFile ?? join(dataDir, 'cluster-secret'))
    const joining = joins.length > 0
    let secret: Uint8Array
    try {
      // The first peer creates the secret; a peer told to join must be given it.
      const loaded = loadClusterSecret(secretPath, !joining)
      secret = loaded.secret
      if (loaded.created)
        this.log.info({ path: secretPath }, 'created a new cluster secret; give this file to every peer')
    } catch (err) {
      throw new DaemonConfigError(
        `${(err as Error).message}${joining ? ' (a peer that joins needs the cluster secret: copy it from the first peer and pass --secret-file)' : ''}`,
      )
    }

    const identity = await loadOrCreatePeerKey(dataDir)
    this.peerId = identity.peerId
    this.name = o.name ?? hostname()

    let runtimeKind: 'docker' | 'process' | 'fake'
    try {
      runtimeKind = await resolveRuntimeKind(o.runtime)
    } catch (err) {
      if (err instanceof RuntimeChoiceError) throw new DaemonConfigError(err.message)
      throw err
    }
    this.log.info({ runtime: runtimeKind }, `container runtime: ${runtimeKind}`)

    this.host = await createHost({ privateKey: identity.privateKey, listen, secret, mdns: o.mdns })
    const advertised = this.advertisedAddress()
    this.transport = new Libp2pRaftTransport({ host: this.host, localAddress: advertised, logger: this.log })
    await this.transport.start()

    this.raftStorage = await openRaftStorage(dataDir, this.log)
    const snapshots = await FileSnapshotStore.open(join(dataDir, 'snapshots'))
    this.raft = new Raft({
      id: this.peerId,
      address: advertised,
      config: o.raft,
      fsm: this.store,
      logStore: this.raftStorage.log,
      stableStore: this.raftStorage.stable,
      // The log is written synchronously: let the batch's appends leave first (see RaftOptions).
      beforeLeaderWrite: () => new Promise<void>((resolve) => setImmediate(resolve)),
      snapshotStore: snapshots,
      transport: this.transport,
      clock: this.clock,
      rng: this.rng.fork(),
      logger: this.log,
    })
    this.raft.on('leader', (leader: { id: string } | null) => {
      this.log.info({ leader: leader?.id ?? null }, leader ? 'leader elected' : 'no leader')
    })
    await this.raft.start()

    const apiUrl = `https://${api.host.includes(':') ? `[${api.host}]` : api.host}:${api.port}`
    this.cluster = new ClusterManager({
      host: this.host,
      raft: this.raft,
      clock: this.clock,
      rng: this.rng.fork(),
      logger: this.log,
      dataDir,
      self: {
        id: this.peerId,
        name: this.name,
        address: advertised,
        api: apiUrl,
        bootstrapExpect: o.bootstrapExpect,
      },
      join: joins,
      bootstrapExpect: o.bootstrapExpect,
      autopilot: o.removeDeadAfterMs ? { removeDeadAfterMs: o.removeDeadAfterMs } : {},
      registry: {
        get: (id) => this.memberRecord(id),
        put: async (info) => {
          await this.raft!.apply(
            encodeStoreCommand({ op: 'put', key: `${MEMBER_PREFIX}${info.id}`, value: JSON.stringify(info) }),
            { timeoutMs: 5000 },
          )
        },
      },
    })
    await this.cluster.start()

    // The API: HTTPS with a certificate from the cluster CA, and the cluster's token. Both
    // derive from the cluster secret, so every peer has them without asking anyone.
    const metrics = new ApiMetrics()
    const scheduler = () => this.scheduler
    new Gauge({
      name: 'shoal_scheduler_bound_pods',
      help: "Pods bound by this peer's scheduler since it last became leader (0 on followers)",
      registers: [metrics.registry],
      collect() {
        this.set(scheduler()?.stats.bound ?? 0)
      },
    })
    const ca = await deriveClusterCa(secret)
    const token = deriveApiToken(secret)
    const isIp = /^[0-9.]+$|:/.test(api.host)
    const serving = await issueServingCert(ca, {
      hosts: isIp ? [hostname()] : [api.host, hostname()],
      ips: isIp && api.host !== '0.0.0.0' && api.host !== '::' ? [api.host] : [],
    })
    writeFileSync(join(dataDir, 'ca.crt'), ca.certPem, { mode: 0o644 })
    writeFileSync(join(dataDir, 'token'), token, { mode: 0o600 })
    this.http = new ApiServer({
      host: api.host,
      port: api.port,
      tls: { certPem: serving.certPem, keyPem: serving.keyPem },
      token,
      store: this.store,
      raft: this.raft,
      cluster: this.cluster,
      clock: this.clock,
      logger: this.log,
      shoalVersion: SHOAL_VERSION,
      metrics,
      rateLimitPerSecond: o.rateLimitPerSecond,
      rng: this.rng.fork(),
      extraRoutes: shoalRoutes(this.cluster, this.store),
      podLogs: {
        local: o.noAgent
          ? null
          : { nodeName: this.name, podLogs: (pod, opts) => this.agent!.podLogs(pod, opts) },
        caPem: ca.certPem,
      },
    })
    await this.http.start()
    const apiPort = this.http.port()
    const apiListening = `https://${api.host.includes(':') ? `[${api.host}]` : api.host}:${apiPort}`
    writeFileSync(
      join(dataDir, 'agent.json'),
      JSON.stringify(
        {
          name: this.name,
          peerId: this.peerId,
          api: apiListening,
          ca: join(dataDir, 'ca.crt'),
          token: join(dataDir, 'token'),
          p2p: advertised,
          pid: process.pid,
        },
        null,
        2,
      ),
    )
    this.scheduleEventExpiry()
    const storeClient = new RaftStoreClient(this.store, this.raft, this.cluster)
    const lifecycle = { ...defaultNodeLifecycleConfig() }
    if (o.nodeMonitorGracePeriodMs) lifecycle.gracePeriodMs = o.nodeMonitorGracePeriodMs
    if (o.podEvictionTimeoutMs) lifecycle.evictionTimeoutMs = o.podEvictionTimeoutMs
    this.controllers = new ControllerManager({
      leadership: this.raft,
      client: storeClient,
      store: this.store,
      factories: controllerFactories(o.controllers, lifecycle, (s) => {
        this.scheduler = s
      }),
      clock: this.clock,
      rng: this.rng.fork(),
      logger: this.log,
    })
    this.controllers.start()
    const hostIP = nodeAddress(api.host, advertised)
    // The node agents of this peer (its own and any simulated ones) write events in shared batches.
    const eventSink = new EventSink(storeClient, this.log)
    this.statusWriter = new StatusWriter(storeClient, this.clock, this.log)
    const statusWriter = this.statusWriter
    const clusterDns = o.noServiceProxy ? null : await this.startServiceProxy(hostIP, runtimeKind)
    if (!o.noAgent) {
      const runtime = await createRuntime(runtimeKind, {
        nodeName: this.name,
        dataDir,
        logger: this.log,
        clock: this.clock,
        clusterPodCidr: o.podCidr ?? DEFAULT_POD_CIDR,
      })
      this.agent = new NodeAgent({
        nodeName: this.name,
        client: storeClient,
        runtime,
        clock: this.clock,
        logger: this.log,
        podsDir: join(dataDir, 'pods'),
        hostIP,
        apiPort,
        peerId: this.peerId,
        ...(clusterDns ? { clusterDns } : {}),
        eventSink,
        statusWriter,
        ...(o.nodeStatusIntervalMs ? { nodeStatusIntervalMs: o.nodeStatusIntervalMs } : {}),
      })
      await this.agent.start()
    }
    if (o.simulatedNodes)
      await this.startSimulatedNodes(o.simulatedNodes, storeClient, hostIP, apiPort, eventSink, statusWriter)
    this.log.info(
      { name: this.name, peerId: this.peerId, p2p: advertised, api: apiListening },
      'peer started',
    )
  }

  /** `count` node agents on one in-memory fake host, named after this peer. */
  private async startSimulatedNodes(
    count: number,
    client: RaftStoreClient,
    hostIP: string,
    apiPort: number,
    eventSink: EventSink,
    statusWriter: StatusWriter,
  ): Promise<void> {
    const host = new FakeRuntimeHost(this.clock)
    for (let k = 1; k <= count; k++) {
      const nodeName = `${this.name}-sim-${k}`
      const agent = new NodeAgent({
        nodeName,
        client,
        runtime: new FakeRuntime(host, nodeName),
        clock: this.clock,
        logger: this.log.child({ node: nodeName }),
        podsDir: join(resolve(this.options.dataDir), 'simulated', nodeName),
        hostIP,
        apiPort,
        peerId: this.peerId,
        eventSink,
        statusWriter,
      })
      this.simulatedAgents.push(agent)
      await agent.start()
    }
    this.log.info({ count }, 'simulated nodes started')
  }

  /**
   * The service proxy (cluster IPs and NodePorts of every Service) and the cluster DNS on the
   * range's 10th address, both claimed on a shared host (one peer serves, others take over).
   * Answers the resolver pods get, or null when this host cannot hold the DNS address.
   */
  private async startServiceProxy(
    hostIP: string,
    runtimeKind: 'docker' | 'process' | 'fake',
  ): Promise<{ server: string; domain: string } | null> {
    const o = this.options
    const addresses: ServiceAddressHolder = await createServiceAddressHolder(this.log)
    this.proxier = new ServiceProxier({
      store: this.store,
      clock: this.clock,
      logger: this.log,
      addresses,
      nodeAddress: hostIP,
      kernel: await this.kernelDataPath(o.proxyMode ?? 'auto', o.serviceCidr ?? DEFAULT_SERVICE_CIDR),
    })
    this.proxier.start()
    const domain = o.clusterDomain ?? 'cluster.local'
    const dnsIp = clusterDnsAddress(parseCidr(o.serviceCidr ?? DEFAULT_SERVICE_CIDR))
    let hostResolvers = parseResolvConf('')
    try {
      hostResolvers = parseResolvConf(readFileSync('/etc/resolv.conf', 'utf8'))
    } catch {
      this.log.info('no /etc/resolv.conf: names outside the cluster domain get SERVFAIL')
    }
    const server = new ClusterDnsServer({
      store: this.store,
      clock: this.clock,
      logger: this.log,
      host: dnsIp,
      port: 53,
      clusterDomain: domain,
      upstreams: upstreamsFromResolvConf(hostResolvers, [dnsIp]),
    })
    this.dns = new ClaimedListener({
      host: dnsIp,
      port: 53,
      holdAddress: true,
      listener: server,
      addresses,
      clock: this.clock,
      logger: this.log,
      retryMs: 1_000,
      label: 'cluster DNS',
    })
    this.dns.claim()
    // Pods get the cluster DNS only where it can be reached: its address is on this host
    // (served here, or by another peer on the same host), and, for containers, not a loopback
    // address (a container's 127.x is its own).
    if (runtimeKind === 'docker' && isLoopback(dnsIp)) {
      this.log.warn(
        { dns: dnsIp },
        'a loopback cluster DNS is out of reach of containers: pods use the host resolver',
      )
      return null
    }
    if (!(await addresses.hold(dnsIp))) {
      this.log.warn(
        { dns: dnsIp },
        'this host cannot hold the cluster DNS address: pods use the host resolver',
      )
      return null
    }
    return { server: dnsIp, domain }
  }

  /**
   * The kernel data path of the service proxy, or null when it serves in user space. With
   * `auto` its set-up (a few iptables calls, up to a second on a busy host) runs in the
   * background: the proxy serves in user space until it is done, then writes its rules.
   */
  private async kernelDataPath(
    mode: 'auto' | 'iptables' | 'userspace',
    serviceCidr: string,
  ): Promise<KernelForwarder | null> {
    if (mode === 'userspace') return null
    const tag = clusterTag(serviceCidr)
    if (process.getuid?.() !== 0) {
      if (mode === 'iptables') throw new DaemonConfigError('--proxy-mode iptables: not running as root')
      this.log.info(
        { reason: 'not running as root' },
        'service proxy: every connection goes through this process',
      )
      return null
    }
    const forwarder = new KernelForwarder({ iptables: systemIptables, tag, logger: this.log })
    const settingUp = forwarder.setUp().then((failed) => {
      if (failed !== null) {
        this.log.info({ reason: failed }, 'service proxy: every connection goes through this process')
      } else {
        this.log.info({ tag }, 'service proxy: TCP services forwarded by the kernel (iptables)')
        this.proxier?.requestSync()
      }
      return failed
    })
    if (mode === 'iptables') {
      const failed = await settingUp
      if (failed !== null) throw new DaemonConfigError(`--proxy-mode iptables: ${failed}`)
    }
    return forwarder
  }

  /** On the leader, every minute: events older than the TTL (1 h, as Kubernetes) are removed. */
  private scheduleEventExpiry(): void {
    const ttlMs = this.options.eventTtlMs ?? 60 * 60_000
    this.eventsTimer = this.clock.setTimeout(() => {
      this.eventsTimer = null
      const raft = this.raft
      if (!raft) return
      if (raft.state() === 'leader' && this.store.list('events').items.length > 0) {
        const before = isoSeconds(this.clock.now() - ttlMs)
        raft
          .apply(encodeStoreCommand({ op: 'expire-events', before }), { timeoutMs: 5000 })
          .catch((err: unknown) => {
            this.log.debug({ err: (err as Error).message }, 'event expiry deferred')
          })
      }
      this.scheduleEventExpiry()
    }, 60_000)
  }

  /** The address other peers dial: the listen address, made concrete, with our peer id. */
  private advertisedAddress(): string {
    const addrs = this.host!.getMultiaddrs().map((m) => m.toString())
    const own = addrs.find((a) => !a.includes('/ip4/127.0.0.1/') && !a.includes('/ip6/::1/')) ?? addrs[0]
    if (!own) throw new Error('libp2p host has no listen address')
    return own.includes('/p2p/') ? own : `${own}/p2p/${this.peerId}`
  }

  private memberRecord(id: string): PeerInfo | undefined {
    const raw = this.store.kvGet(`${MEMBER_PREFIX}${id}`)
    if (!raw) return undefined
    try {
      const v = JSON.parse(raw) as unknown
      return isPeerInfo(v) ? v : undefined
    } catch {
      return undefined
    }
  }

  /** The HTTP port actually bound. */
  apiPort(): number {
    return this.http?.port() ?? 0
  }

  /**
   * Stops the peer. With `leave`, it first leaves the cluster (SIGTERM): hands leadership
   * over and has itself removed, so the others do not wait for it.
   */
  async stop(leave: boolean): Promise<void> {
    if (leave && this.cluster) {
      const left = await this.cluster.leave(5000).catch(() => false)
      this.log.info({ left }, left ? 'left the cluster' : 'could not leave the cluster cleanly')
    }
    this.clock.clearTimeout(this.eventsTimer)
    this.controllers?.stop()
    this.controllers = null
    await this.agent?.stop()
    this.agent = null
    for (const a of this.simulatedAgents.splice(0)) await a.stop()
    this.statusWriter?.stop()
    this.statusWriter = null
    await this.proxier?.stop()
    this.proxier = null
    await this.dns?.release()
    this.dns = null
    await this.http?.stop()
    await this.cluster?.stop()
    await this.raft?.shutdown()
    await this.transport?.close()
    await this.host?.stop()
    await this.raftStorage?.close()
    this.http = null
    this.cluster = null
    this.raft = null
    this.transport = null
    this.host = null
    this.raftStorage = null
  }
}

export { type AgentInfo, readAgentInfo } from './agent-info.js'

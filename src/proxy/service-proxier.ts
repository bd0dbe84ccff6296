/**
 * ServiceProxier: the service proxy of one peer, kept in step with the store. Services and
 * Endpoints are watched on this peer's copy; every change (and a resync every few seconds, in
 * case a watch missed something, e.g. across a snapshot restore) recomputes the listeners
 * (service-rules.ts) and applies the difference:
 * - a new service port gets a TcpServiceProxy or UdpServiceProxy, claimed on its address
 *   (claimed-listener.ts: on a shared host one peer serves, the others wait to take over);
 * - changed endpoints go to the running proxy at once (new connections only: open ones stay);
 * - a port that is gone is closed, and its cluster IP released from the host when no other
 *   port uses it.
 * With a KernelForwarder (root, iptables), the TCP listeners this peer serves also get kernel
 * rules that forward their connections without passing through this process (kube-proxy's
 * iptables mode); the listener stays bound under them, as the claim on the address and as
 * the data path for whatever the rules do not carry.
 */

import type { ObjectStore } from '../store/object-store.js'
import { watchFromNow } from '../store/store-client.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import { ClaimedListener, type ClaimState, type Listener } from './claimed-listener.js'
import type { KernelForwarder } from './kernel-forwarder.js'
import type { Backend } from './round-robin.js'
import type { ServiceAddressHolder } from './service-addresses.js'
import { desiredListeners, type ListenerSpec, sameBackends, sameListenerConfig } from './service-rules.js'
import { TcpServiceProxy } from './tcp-proxy.js'
import { UdpServiceProxy } from './udp-proxy.js'

/** A running listener the proxier can feed endpoints to. */
export interface ServiceListener extends Listener {
  setBackends(backends: readonly Backend[]): void
}

export interface ServiceProxierOptions {
  store: ObjectStore
  clock: Clock
  logger: Logger
  addresses: ServiceAddressHolder
  /** Where NodePorts listen (this node's address); null: no NodePorts. */
  nodeAddress: string | null
  /** How often a listener that could not bind tries again (default 1 s). */
  retryMs?: number
  /** How often everything is recomputed even without a change (default 5 s). */
  resyncMs?: number
  /** The kernel data path, set up already; absent: every connection goes through this process. */
  kernel?: KernelForwarder | null
}

interface Entry {
  spec: ListenerSpec
  listener: ServiceListener
  claim: ClaimedListener
}

/** One listener as `status()` reports it. */
export interface ListenerStatus {
  key: string
  service: string
  portName: string
  state: ClaimState
  backends: number
  /** Where its connections go through while this peer serves it. */
  dataPath: 'kernel' | 'proxy'
}

export class ServiceProxier {
  private readonly entries = new Map<string, Entry>()
  private readonly cancels: (() => void)[] = []
  private resyncTimer: TimerHandle | null = null
  private running = false
  private syncing: Promise<void> | null = null
  private again = false
  /** Set by the resync: the next sync checks the serving cluster IPs are still on the host. */
  private recheckAddresses = false
  private readonly retryMs: number
  private readonly resyncMs: number
  private readonly log: Logger

  constructor(private readonly o: ServiceProxierOptions) {
    this.retryMs = o.retryMs ?? 1_000
    this.resyncMs = o.resyncMs ?? 5_000
    this.log = o.logger.child({ component: 'service-proxy' })
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.log.info(
      { addresses: this.o.addresses.describe(), nodePorts: this.o.nodeAddress },
      'service proxy started',
    )
    const poke = () => this.requestSync()
    this.cancels.push(watchFromNow(this.o.store, 'services', () => true, poke))
    this.cancels.push(watchFromNow(this.o.store, 'endpoints', () => true, poke))
    this.scheduleResync()
    this.requestSync()
  }

  async stop(): Promise<void> {
    this.running = false
    for (const cancel of this.cancels.splice(0)) cancel()
    this.o.clock.clearTimeout(this.resyncTimer)
    this.resyncTimer = null
    await this.syncing
    const entries = [...this.entries.values()]
    this.entries.clear()
    await this.o.kernel?.removeAll().catch((err: unknown) => this.kernelFailed(err))
    // Addresses stay on the host: other peers here may serve them, and they cost nothing.
    await Promise.all(entries.map((e) => e.claim.release()))
  }

  /** Every listener and whether this peer serves it. */
  status(): ListenerStatus[] {
    return [...this.entries.values()]
      .map((e) => ({
        key: e.spec.key,
        service: e.spec.service,
        portName: e.spec.portName,
        state: e.claim.status,
        backends: e.spec.backends.length,
        dataPath: this.o.kernel?.isApplied(e.spec.key) ? ('kernel' as const) : ('proxy' as const),
      }))
      .sort((a, b) => (a.key < b.key ? -1 : 1))
  }

  /** Resolves once the changes seen so far are applied (tests). */
  async synced(): Promise<void> {
    // A listener that starts serving asks for one more sync (its kernel rules): wait for it too.
    do {
      while (this.syncing) await this.syncing
      await Promise.all([...this.entries.values()].map((e) => e.claim.settled()))
    } while (this.syncing)
  }

  /** Recomputes now, or right after the sync in progress. */
  requestSync(): void {
    if (!this.running) return
    if (this.syncing) {
      this.again = true
      return
    }
    this.syncing = this.sync()
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'service proxy sync failed'))
      .finally(() => {
        this.syncing = null
        if (this.again) {
          this.again = false
          this.requestSync()
        }
      })
  }

  private scheduleResync(): void {
    this.resyncTimer = this.o.clock.setTimeout(() => {
      this.resyncTimer = null
      if (!this.running) return
      this.recheckAddresses = true
      this.requestSync()
      this.scheduleResync()
    }, this.resyncMs)
  }

  private async sync(): Promise<void> {
    const store = this.o.store
    const desired = desiredListeners(
      store.list('services').items,
      (ns, name) => store.get('endpoints', ns, name),
      this.o.nodeAddress,
    )
    const closing: Promise<void>[] = []
    const freedHosts = new Set<string>()
    for (const [key, entry] of this.entries) {
      const want = desired.get(key)
      if (want && sameListenerConfig(want, entry.spec)) continue
      this.entries.delete(key)
      if (entry.spec.clusterIp) freedHosts.add(entry.spec.host)
      closing.push(this.close(entry))
    }
    await Promise.all(closing)
    for (const [key, spec] of desired) {
      const entry = this.entries.get(key)
      if (entry) {
        if (!sameBackends(entry.spec.backends, spec.backends)) entry.listener.setBackends(spec.backends)
        entry.spec = spec
      } else {
        this.entries.set(key, this.open(spec))
      }
    }
    for (const host of freedHosts) {
      const stillUsed = [...desired.values()].some((s) => s.clusterIp && s.host === host)
      if (!stillUsed) await this.o.addresses.release(host)
    }
    for (const entry of this.entries.values()) entry.claim.claim()
    // An address can vanish under a serving listener (an operator, another cluster's clean-up):
    // at each resync, not on every endpoint change, it is held again (the listener then serves
    // again).
    const resync = this.recheckAddresses
    if (this.recheckAddresses) {
      this.recheckAddresses = false
      for (const entry of this.entries.values())
        if (entry.spec.clusterIp && entry.claim.status === 'serving')
          await this.o.addresses.hold(entry.spec.host)
    }
    await this.syncKernel(desired, resync)
  }

  /** Kernel rules for the TCP listeners this peer serves; at a resync, also clean-up and checks. */
  private async syncKernel(desired: Map<string, ListenerSpec>, resync: boolean): Promise<void> {
    const kernel = this.o.kernel
    if (!kernel) return
    try {
      if (resync) {
        // Another peer of this host has NodePorts on its own address: a NodePort still in use
        // is wanted whatever its address.
        const specs = [...desired.values()].filter((s) => s.protocol === 'TCP')
        const keys = new Set(specs.map((s) => s.key))
        const nodePorts = new Set(specs.filter((s) => !s.clusterIp).map((s) => s.port))
        await kernel.resync((host, port) => keys.has(`TCP/${host}:${port}`) || nodePorts.has(port))
      }
      for (const entry of this.entries.values()) {
        if (entry.claim.status === 'serving' && kernel.carries(entry.spec)) await kernel.apply(entry.spec)
        else if (kernel.isApplied(entry.spec.key)) await kernel.remove(entry.spec.key)
      }
    } catch (err) {
      this.kernelFailed(err)
    }
  }

  private kernelFailed(err: unknown): void {
    // The listeners still serve every connection themselves: only speed is lost.
    this.log.warn({ err: (err as Error).message }, 'kernel rules not written; the proxy serves in user space')
  }

  /** Takes a listener's kernel rules out (if it had any), then stops it. */
  private async close(entry: Entry): Promise<void> {
    await this.o.kernel?.remove(entry.spec.key).catch((err: unknown) => this.kernelFailed(err))
    await entry.claim.release()
  }

  private open(spec: ListenerSpec): Entry {
    const listener = this.makeListener(spec)
    listener.setBackends(spec.backends)
    const claim = new ClaimedListener({
      host: spec.host,
      port: spec.port,
      holdAddress: spec.clusterIp,
      listener,
      addresses: this.o.addresses,
      clock: this.o.clock,
      logger: this.log,
      retryMs: this.retryMs,
      label: `${spec.service}${spec.portName ? `:${spec.portName}` : ''} ${spec.protocol}`,
      onServing: () => this.requestSync(),
    })
    return { spec, listener, claim }
  }

  private makeListener(spec: ListenerSpec): ServiceListener {
    const common = {
      host: spec.host,
      port: spec.port,
      sessionAffinity: spec.sessionAffinity,
      affinityTimeoutMs: spec.affinityTimeoutMs,
    }
    const components = { clock: this.o.clock, logger: this.log }
    return spec.protocol === 'UDP'
      ? new UdpServiceProxy(components, common)
      : new TcpServiceProxy(components, common)
  }
}

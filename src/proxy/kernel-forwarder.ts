/**
 * KernelForwarder: writes the kernel data path (kernel-rules.ts) of the service addresses this
 * peer serves into the host's nat table, and takes it out again.
 *
 * Who writes what: the rules of one service address belong to whichever peer of the host
 * holds its listener (ClaimedListener): that peer writes them, replaces them when the
 * endpoints change, and removes them when it stops serving. The listener stays bound all the
 * while, so anything the rules do not carry (no rules yet, rules another peer removed, an
 * IPv6 or UDP address) is still served by the proxy in user space. A peer that is killed
 * leaves its rules behind, still forwarding to the endpoints it last knew, until the peer
 * that takes its listener over rewrites them (about a second); rules of service addresses
 * that no longer exist are removed by any peer of the cluster at its resync
 * (`resync`).
 *
 * Every change is one `iptables-restore --noflush` (atomic) plus a check-then-add of the one
 * jump rule; all calls of one forwarder run one at a time.
 */

import type { Iptables } from '../util/iptables.js'
import type { Logger } from '../util/logger.js'
import { SerialQueue } from '../util/serial-queue.js'
import {
  baseChains,
  chainsOf,
  hookRules,
  jumpRule,
  kernelCanServe,
  parseClusterChains,
  parseEndpointChains,
  parseJumps,
  renderDeletion,
  renderPostrouting,
  renderService,
} from './kernel-rules.js'
import { type ListenerSpec, sameBackends, sameListenerConfig } from './service-rules.js'

export interface KernelForwarderOptions {
  iptables: Iptables
  /** The cluster's tag (kernel-rules.ts `clusterTag`). */
  tag: string
  logger: Logger
}

interface Applied {
  spec: ListenerSpec
  jump: string[]
  chains: string[]
}

/** Thrown when iptables answers an error for a change Shoal needs. */
export class IptablesError extends Error {
  override name = 'IptablesError'
}

export class KernelForwarder {
  private readonly applied = new Map<string, Applied>()
  /** Rule changes, one at a time: each reads the host's rules and then writes them. */
  private readonly changes = new SerialQueue()
  private ready = false

  constructor(private readonly o: KernelForwarderOptions) {}

  /** True for the listeners this data path carries (TCP over IPv4). */
  carries(spec: ListenerSpec): boolean {
    return kernelCanServe(spec)
  }

  /** The keys whose rules this forwarder wrote and has not removed. */
  appliedKeys(): string[] {
    return [...this.applied.keys()]
  }

  /** True when this forwarder wrote the rules of `key` and has not removed them. */
  isApplied(key: string): boolean {
    return this.applied.has(key)
  }

  /**
   * Creates the cluster's chains and hooks them into the built-in ones (idempotent, shared by
   * the peers of the host). Answers null when done, or why the kernel data path cannot be
   * used here (not root, no iptables, no nat table).
   */
  setUp(): Promise<string | null> {
    return this.changes.run(() => this.setUpNow())
  }

  private async setUpNow(): Promise<string | null> {
    const ipt = this.o.iptables
    const { services, postrouting } = baseChains(this.o.tag)
    let probe: Awaited<ReturnType<Iptables['run']>>
    try {
      probe = await ipt.run(['-t', 'nat', '-S', 'OUTPUT'])
    } catch (err) {
      return `iptables cannot run: ${(err as Error).message}`
    }
    if (probe.code !== 0) return `iptables -t nat failed (${probe.code}): ${probe.stderr.trim()}`
    for (const chain of [services, postrouting]) {
      const made = await ipt.run(['-t', 'nat', '-N', chain])
      if (made.code !== 0 && !/exists/i.test(made.stderr)) {
        return `iptables -N ${chain} failed (${made.code}): ${made.stderr.trim()}`
      }
    }
    await this.restore(renderPostrouting(this.o.tag))
    for (const hook of hookRules(this.o.tag)) {
      const failed = await ensureRule(ipt, '-I', hook)
      if (failed) return failed
    }
    this.ready = true
    return null
  }

  /** Writes (or rewrites) the rules of one service address; nothing when they are unchanged. */
  apply(spec: ListenerSpec): Promise<void> {
    return this.changes.run(async () => {
      if (!this.ready || !kernelCanServe(spec)) return
      const previous = this.applied.get(spec.key)
      // Every sync offers every serving listener: only a changed one is rendered and written.
      if (
        previous &&
        sameBackends(previous.spec.backends, spec.backends) &&
        sameListenerConfig(previous.spec, spec)
      )
        return
      await this.restore(renderService(this.o.tag, spec))
      const jump = jumpRule(this.o.tag, spec)
      const failed = await ensureRule(this.o.iptables, '-A', jump)
      if (failed) throw new IptablesError(failed)
      const chains = chainsOf(this.o.tag, spec)
      // Endpoint chains of endpoints that left (affinity) are no longer jumped to: delete them.
      const gone = (previous?.chains ?? []).filter((c) => !chains.includes(c))
      if (gone.length > 0) await this.restore(renderDeletion(gone))
      this.applied.set(spec.key, { spec, jump, chains })
    })
  }

  /** Removes the rules of one service address this forwarder wrote (no-op otherwise). */
  remove(key: string): Promise<void> {
    return this.changes.run(async () => {
      const applied = this.applied.get(key)
      if (!applied) return
      this.applied.delete(key)
      await deleteEvery(this.o.iptables, applied.jump)
      await this.restore(renderDeletion(applied.chains))
    })
  }

  /** Removes every rule this forwarder wrote (the peer stops). */
  async removeAll(): Promise<void> {
    for (const key of [...this.applied.keys()]) await this.remove(key)
  }

  /**
   * The periodic check, from one listing of the cluster's jumps: rules this forwarder wrote
   * that are no longer on the host (an operator flushed the nat table, another cluster's
   * clean-up) are forgotten, so that the next `apply` writes them again (the whole set-up too
   * when the cluster's chain itself is gone); rules of service addresses `wanted` says no to
   * are removed, whoever wrote them (a peer killed while serving a service deleted since).
   */
  resync(wanted: (host: string, port: number) => boolean): Promise<void> {
    return this.changes.run(async () => {
      if (!this.ready) return
      const ipt = this.o.iptables
      const listing = await ipt.run(['-t', 'nat', '-S', baseChains(this.o.tag).services])
      if (listing.code !== 0) {
        this.applied.clear()
        this.ready = false
        const failed = await this.setUpNow()
        if (failed) this.o.logger.warn({ reason: failed }, 'kernel data path lost')
        return
      }
      const jumps = parseJumps(this.o.tag, listing.stdout)
      const present = new Set(jumps.map((j) => j.chain))
      for (const [key, applied] of this.applied)
        if (!present.has(applied.chains[0]!)) this.applied.delete(key)
      for (const jump of jumps) {
        if (wanted(jump.host, jump.port)) continue
        const own = await ipt.run(['-t', 'nat', '-S', jump.chain])
        const chains = [jump.chain, ...(own.code === 0 ? parseEndpointChains(this.o.tag, own.stdout) : [])]
        await deleteEvery(ipt, jump.rule)
        await this.restore(renderDeletion(chains))
        this.applied.delete(`TCP/${jump.host}:${jump.port}`)
        this.o.logger.info({ address: `${jump.host}:${jump.port}` }, 'removed kernel rules of a gone service')
      }
    })
  }

  private async restore(text: string): Promise<void> {
    const result = await this.o.iptables.restore(text)
    if (result.code !== 0) {
      throw new IptablesError(`iptables-restore failed (${result.code}): ${result.stderr.trim()}`)
    }
  }
}

/** Adds `rule` (`[chain, ...args]` of the nat table) with `op` unless present: null, or why not. */
async function ensureRule(iptables: Iptables, op: '-A' | '-I', rule: string[]): Promise<string | null> {
  if ((await iptables.run(['-t', 'nat', '-C', ...rule])).code === 0) return null
  const added = await iptables.run(['-t', 'nat', op, ...rule])
  return added.code === 0 ? null : `iptables ${op} ${rule[0]} failed (${added.code}): ${added.stderr.trim()}`
}

/** Deletes `rule` until none is left (two peers racing to add it may have added it twice). */
async function deleteEvery(iptables: Iptables, rule: string[]): Promise<void> {
  for (let i = 0; i < 8; i++) if ((await iptables.run(['-t', 'nat', '-D', ...rule])).code !== 0) return
}

/** Removes every chain and hook of cluster `tag` from the host (tests and benchmarks, once their peers are gone). */
export async function removeClusterRules(iptables: Iptables, tag: string): Promise<void> {
  for (const hook of hookRules(tag)) await deleteEvery(iptables, hook)
  const listing = await iptables.run(['-t', 'nat', '-S'])
  if (listing.code !== 0) return
  const chains = parseClusterChains(tag, listing.stdout)
  if (chains.length > 0) await iptables.restore(renderDeletion(chains))
}

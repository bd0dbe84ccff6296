/**
 * SchedulerCache: the scheduler's picture of the cluster, in memory — each node's facts and
 * the pods on it, both those the store shows bound and those the scheduler has *assumed*
 * (sent a bind for that has not committed yet). Assuming lets the next decision count a pod
 * whose bind is still in flight, so many binds travel at once without overcommitting a node
 * (Kubernetes' scheduler cache: assume, then confirm on the watch event or forget on failure).
 *
 * Pure data, no I/O. Bounded by the store: one entry per node and per non-terminal pod that
 * is bound or assumed.
 */

import type { KubeObject } from '../store/types.js'
import {
  isTerminal,
  NodeInfo,
  nodeFacts,
  type PodInfo,
  podInfo,
  type ServiceSelector,
  serviceSelectors,
} from './scheduling.js'

interface CachedPod {
  pod: KubeObject
  info: PodInfo
  node: string
  /** Sent a bind for, not yet seen bound in the store. */
  assumed: boolean
}

export class SchedulerCache {
  private readonly nodes = new Map<string, NodeInfo>()
  private readonly pods = new Map<string, CachedPod>()
  private services: ServiceSelector[] = []
  /** Each node's facts as JSON, to tell a change that matters from a heartbeat. */
  private readonly factsJson = new Map<string, string>()

  /** Every node the cache knows (those without a Node object are never feasible). */
  nodeInfos(): Iterable<NodeInfo> {
    return this.nodes.values()
  }

  node(name: string): NodeInfo | undefined {
    return this.nodes.get(name)
  }

  /** How many pods are assumed (binds in flight). */
  assumedCount(): number {
    let n = 0
    for (const p of this.pods.values()) if (p.assumed) n += 1
    return n
  }

  podCount(): number {
    return this.pods.size
  }

  isAssumed(uid: string): boolean {
    return this.pods.get(uid)?.assumed === true
  }

  /** Where the cache places a pod (bound or assumed), if anywhere. */
  nodeOf(uid: string): string | undefined {
    return this.pods.get(uid)?.node
  }

  /** The PodInfo of a pod, with the spreading groups of the current Services. */
  podInfo(pod: KubeObject): PodInfo {
    return podInfo(pod, this.services)
  }

  /**
   * Adds or updates a Node. Answers whether what the filters read of it changed (a new node,
   * capacity, labels, taints, readiness): what makes unschedulable pods worth another try.
   * A heartbeat changes nothing that matters.
   */
  setNode(node: KubeObject): boolean {
    const name = node.metadata.name ?? ''
    const facts = nodeFacts(node)
    const json = JSON.stringify(facts)
    let info = this.nodes.get(name)
    if (!info) {
      info = new NodeInfo(name)
      this.nodes.set(name, info)
    }
    info.facts = facts
    if (this.factsJson.get(name) === json) return false
    this.factsJson.set(name, json)
    return true
  }

  /** Forgets a Node; its pods stay counted (should it come back, they are still there). */
  removeNode(name: string): void {
    const info = this.nodes.get(name)
    this.factsJson.delete(name)
    if (!info) return
    info.facts = undefined
    if (info.pods.size === 0) this.nodes.delete(name)
  }

  /**
   * Takes in a pod as the store shows it: a bound, non-terminal pod is counted on its node
   * (confirming an assumed one); anything else is not counted. Answers whether that freed
   * room on a node (a pod left it or finished).
   */
  updatePod(pod: KubeObject): boolean {
    const uid = pod.metadata.uid ?? ''
    const nodeName = (pod.spec as { nodeName?: string } | undefined)?.nodeName
    if (!nodeName || isTerminal(pod)) {
      // Not bound: an assumed pod stays assumed (its bind is in flight); a terminal one leaves.
      if (!nodeName && this.pods.get(uid)?.assumed) return false
      return this.removePod(uid)
    }
    const old = this.pods.get(uid)
    if (old && !old.assumed && old.node === nodeName && old.pod === pod) return false
    const freed = old !== undefined && old.node !== nodeName
    if (old) this.detach(uid, old)
    const info = old && old.node === nodeName && !labelsChanged(old.pod, pod) ? old.info : this.podInfo(pod)
    this.attach(uid, { pod, info, node: nodeName, assumed: false })
    return freed
  }

  /** Drops a pod (deleted, or finished). Answers whether it was counted somewhere. */
  removePod(uid: string): boolean {
    const old = this.pods.get(uid)
    if (!old) return false
    this.detach(uid, old)
    return true
  }

  /** Counts a pod on `node` before its bind commits. */
  assume(pod: KubeObject, info: PodInfo, node: string): void {
    const uid = info.uid
    const old = this.pods.get(uid)
    if (old) this.detach(uid, old)
    this.attach(uid, { pod, info, node, assumed: true })
  }

  /** Undoes `assume` after a failed bind; a pod the store has since shown bound stays. */
  forget(uid: string): boolean {
    const old = this.pods.get(uid)
    if (!old?.assumed) return false
    this.detach(uid, old)
    return true
  }

  /** Marks an assumed pod as bound (its bind committed) with the object the store answered. */
  confirm(pod: KubeObject): void {
    const uid = pod.metadata.uid ?? ''
    const old = this.pods.get(uid)
    if (old?.assumed) this.updatePod(pod)
  }

  /** Replaces the Services that spreading groups pods by, and recounts every node's groups. */
  setServices(services: readonly KubeObject[]): void {
    this.services = serviceSelectors(services)
    for (const [uid, cached] of [...this.pods]) {
      this.detach(uid, cached)
      this.attach(uid, { ...cached, info: podInfo(cached.pod, this.services) })
    }
  }

  private attach(uid: string, cached: CachedPod): void {
    this.pods.set(uid, cached)
    let info = this.nodes.get(cached.node)
    if (!info) {
      info = new NodeInfo(cached.node)
      this.nodes.set(cached.node, info)
    }
    info.addPod(cached.info)
  }

  private detach(uid: string, cached: CachedPod): void {
    this.pods.delete(uid)
    const info = this.nodes.get(cached.node)
    if (!info) return
    info.removePod(uid)
    if (!info.facts && info.pods.size === 0) this.nodes.delete(cached.node)
  }
}

function labelsChanged(a: KubeObject, b: KubeObject): boolean {
  return JSON.stringify(a.metadata.labels ?? {}) !== JSON.stringify(b.metadata.labels ?? {})
}

/**
 * The scheduler's decisions, pure: which nodes a pod fits on (filters), how good each is
 * (scores), which one it goes to, and why none would do. Kubernetes' default-scheduler cut to
 * what Shoal needs; no clock, no store, no I/O — the Scheduler controller feeds it its cache.
 *
 * Filters, in Kubernetes' plugin order, the first failing one naming the node's reason (as
 * Kubernetes does; the resource filter names every resource that is short):
 * - the node is Ready (condition Ready=True)              "node(s) were not ready"
 * - `spec.unschedulable` is not set (unless tolerated)    "node(s) were unschedulable"
 * - every NoSchedule/NoExecute taint is tolerated         "node(s) had untolerated taint {k: v}"
 * - `spec.nodeSelector` matches the node's labels         "node(s) didn't match Pod's node affinity/selector"
 * - no hostPort conflict (port, protocol, hostIP)         "node(s) didn't have free ports for the requested pod ports"
 * - resources fit the allocatable                         "Too many pods", "Insufficient cpu", "Insufficient memory"
 *
 * Not implemented: node affinity and pod (anti-)affinity, topology spread constraints,
 * volumes, extended resources, priorities and preemption. Init containers are summed with
 * the app containers' requests only as far as the app containers go: Kubernetes' rule (the
 * maximum of the init containers' requests, if larger than the sum of the app containers')
 * is skipped.
 *
 * Scores (higher is better; the best node wins, ties broken by the caller's Rng):
 * - least allocated, 0–100: (allocatable − requested) / allocatable, averaged over cpu and
 *   memory, counting this pod. As in Kubernetes, a container without requests counts as
 *   100m cpu and 200Mi memory here (only here: the fit filter counts it as 0), so pods
 *   without requests still spread.
 * - spreading, 0–100, weight 2: fewer pods on the node of the same controller (the
 *   controller ownerReference's uid) or selected by the same Services (those in the pod's
 *   namespace whose selector matches its labels) is better: 100 × (max − count) / max, max
 *   over the feasible nodes. A pod's count on a node is the largest of its groups' counts
 *   there (Kubernetes counts the union; the largest group is that union when one group holds
 *   the others, as a Service over a ReplicationController's pods does).
 */

import { parseQuantity } from '../store/quantity.js'
import { type LabelSelector, labelSelectorFromMap } from '../store/selectors.js'
import type { KubeObject } from '../store/types.js'
import type { Rng } from '../util/random.js'

/** The scheduler's name, in pods' `spec.schedulerName`. */
export const DEFAULT_SCHEDULER_NAME = 'default-scheduler'

/** The best score a plugin gives a node (Kubernetes' MaxNodeScore). */
export const MAX_NODE_SCORE = 100
/** How much the spreading score weighs against least allocated (Kubernetes' PodTopologySpread: 2). */
export const SPREAD_WEIGHT = 2
/** What a container without a cpu request counts as when scoring (Kubernetes: 100m). */
export const DEFAULT_MILLI_CPU_REQUEST = 100
/** What a container without a memory request counts as when scoring (Kubernetes: 200Mi). */
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

/** The taint an unschedulable node is treated as having (Kubernetes' well-known one). */
export const UNSCHEDULABLE_TAINT_KEY = 'node.kubernetes.io/unschedulable'

// Kubernetes' reasons, word for word: they end up in `kubectl describe pod`.
export const REASON_NOT_READY = 'node(s) were not ready'
export const REASON_UNSCHEDULABLE = 'node(s) were unschedulable'
export const REASON_SELECTOR = "node(s) didn't match Pod's node affinity/selector"
export const REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"
export const REASON_TOO_MANY_PODS = 'Too many pods'
export const REASON_INSUFFICIENT_CPU = 'Insufficient cpu'
export const REASON_INSUFFICIENT_MEMORY = 'Insufficient memory'
/** The message when there is no node at all. */
export const NO_NODES_MESSAGE = 'no nodes available to schedule pods'

/** cpu in millicores, memory in bytes (integers, as Kubernetes compares them). */
export interface Resources {
  milliCpu: number
  memory: number
}

/** A host port a pod asks for; `hostIP` '0.0.0.0' stands for every address. */
export interface HostPort {
  port: number
  protocol: string
  hostIP: string
}

/** What the scheduler needs of a pod, computed once per pod. */
export interface PodInfo {
  uid: string
  namespace: string
  name: string
  /** Sum of the containers' requests (missing ones are 0): what the fit filter counts. */
  requests: Resources
  /** The same with Kubernetes' defaults for missing requests: what least-allocated counts. */
  nonZeroRequests: Resources
  hostPorts: HostPort[]
  /** The groups it spreads with: `controller:<uid>`, `service:<uid>`. */
  spreadKeys: string[]
}

/** A Service's selector, parsed once (see `serviceSelectors`). */
export interface ServiceSelector {
  uid: string
  namespace: string
  selector: LabelSelector
}

interface Taint {
  key: string
  value?: string
  effect: string
}

interface Toleration {
  key?: string
  operator?: string
  value?: string
  effect?: string
}

/** What the filters read of a Node, computed once per version of it. */
export interface NodeFacts {
  name: string
  ready: boolean
  unschedulable: boolean
  taints: Taint[]
  labels: Readonly<Record<string, string>>
  allocatable: Resources & { pods: number }
}

interface ContainerView {
  ports?: { containerPort?: number; hostPort?: number; protocol?: string; hostIP?: string }[]
  resources?: { requests?: Record<string, string> }
}

interface PodSpecView {
  nodeName?: string
  schedulerName?: string
  nodeSelector?: Record<string, string>
  tolerations?: Toleration[]
  containers?: ContainerView[]
}

function specOf(pod: KubeObject): PodSpecView {
  return (pod.spec ?? {}) as PodSpecView
}

/** A quantity as an integer in `scale`ths (cpu: 1000 for millicores), rounded up; 0 if unparsable. */
function quantity(value: unknown, scale: number): number {
  if (typeof value !== 'string' && typeof value !== 'number') return 0
  try {
    const n = parseQuantity(String(value))
    // Round to a millionth of the unit first, so that 0.1 × 1000 is 100, not 100.00000000000001.
    return Math.max(0, Math.ceil(Math.round(n * scale * 1e6) / 1e6))
  } catch {
    // The store validated it; a quantity that still fails to parse asks for nothing.
    return 0
  }
}

/** Whether a pod has finished for good (its resources are free again). */
export function isTerminal(pod: KubeObject): boolean {
  const phase = (pod.status as { phase?: string } | undefined)?.phase
  return phase === 'Succeeded' || phase === 'Failed'
}

/** Whether this scheduler should place the pod: not bound, not being deleted, and ours. */
export function isPendingForUs(pod: KubeObject, schedulerName = DEFAULT_SCHEDULER_NAME): boolean {
  const spec = specOf(pod)
  if (spec.nodeName) return false
  if (pod.metadata.deletionTimestamp) return false
  if (isTerminal(pod)) return false
  return (spec.schedulerName ?? DEFAULT_SCHEDULER_NAME) === schedulerName
}

/** The Services' selectors, parsed (Services without a selector select no pods). */
export function serviceSelectors(services: readonly KubeObject[]): ServiceSelector[] {
  const out: ServiceSelector[] = []
  for (const svc of services) {
    const selector = (svc.spec as { selector?: Record<string, string> } | undefined)?.selector
    if (!selector || Object.keys(selector).length === 0) continue
    try {
      out.push({
        uid: svc.metadata.uid ?? '',
        namespace: svc.metadata.namespace ?? '',
        selector: labelSelectorFromMap(selector),
      })
    } catch {
      // An invalid selector (the store validated it) selects nothing: skip the Service.
    }
  }
  return out
}

/** The spreading groups of a pod: its controller, and the Services that select it. */
export function spreadKeysOf(pod: KubeObject, services: readonly ServiceSelector[]): string[] {
  const keys: string[] = []
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller === true)
  if (owner) keys.push(`controller:${owner.uid}`)
  const labels = pod.metadata.labels
  if (labels) {
    for (const s of services) {
      if (s.namespace === pod.metadata.namespace && s.selector.matches(labels)) keys.push(`service:${s.uid}`)
    }
  }
  return keys
}

/** Computes a pod's PodInfo. */
export function podInfo(pod: KubeObject, services: readonly ServiceSelector[] = []): PodInfo {
  const requests: Resources = { milliCpu: 0, memory: 0 }
  const nonZeroRequests: Resources = { milliCpu: 0, memory: 0 }
  const hostPorts: HostPort[] = []
  for (const c of specOf(pod).containers ?? []) {
    const r = c.resources?.requests ?? {}
    const cpu = r.cpu === undefined ? undefined : quantity(r.cpu, 1000)
    const memory = r.memory === undefined ? undefined : quantity(r.memory, 1)
    requests.milliCpu += cpu ?? 0
    requests.memory += memory ?? 0
    nonZeroRequests.milliCpu += cpu === undefined ? DEFAULT_MILLI_CPU_REQUEST : cpu
    nonZeroRequests.memory += memory === undefined ? DEFAULT_MEMORY_REQUEST : memory
    for (const p of c.ports ?? []) {
      if (!p.hostPort || p.hostPort <= 0) continue
      hostPorts.push({ port: p.hostPort, protocol: p.protocol || 'TCP', hostIP: p.hostIP || '0.0.0.0' })
    }
  }
  return {
    uid: pod.metadata.uid ?? '',
    namespace: pod.metadata.namespace ?? '',
    name: pod.metadata.name ?? '',
    requests,
    nonZeroRequests,
    hostPorts,
    spreadKeys: spreadKeysOf(pod, services),
  }
}

/** Computes what the filters read of a Node. */
export function nodeFacts(node: KubeObject): NodeFacts {
  const status = (node.status ?? {}) as {
    allocatable?: Record<string, string>
    capacity?: Record<string, string>
    conditions?: { type: string; status: string }[]
  }
  const spec = (node.spec ?? {}) as { unschedulable?: boolean; taints?: Taint[] }
  const alloc = status.allocatable ?? status.capacity ?? {}
  return {
    name: node.metadata.name ?? '',
    ready: (status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    unschedulable: spec.unschedulable === true,
    taints: spec.taints ?? [],
    labels: node.metadata.labels ?? {},
    allocatable: {
      milliCpu: quantity(alloc.cpu, 1000),
      memory: quantity(alloc.memory, 1),
      pods: quantity(alloc.pods, 1),
    },
  }
}

/**
 * One node as the scheduler sees it: the Node (absent while pods name a node the store does
 * not hold) and the pods bound or assumed on it, with their sums kept up to date.
 */
export class NodeInfo {
  facts: NodeFacts | undefined
  readonly pods = new Map<string, PodInfo>()
  readonly requested: Resources = { milliCpu: 0, memory: 0 }
  readonly nonZeroRequested: Resources = { milliCpu: 0, memory: 0 }
  readonly usedPorts: HostPort[] = []
  /** Pods per spreading group. */
  readonly spreadCounts = new Map<string, number>()

  constructor(readonly name: string) {}

  addPod(p: PodInfo): void {
    if (this.pods.has(p.uid)) this.removePod(p.uid)
    this.pods.set(p.uid, p)
    this.requested.milliCpu += p.requests.milliCpu
    this.requested.memory += p.requests.memory
    this.nonZeroRequested.milliCpu += p.nonZeroRequests.milliCpu
    this.nonZeroRequested.memory += p.nonZeroRequests.memory
    for (const hp of p.hostPorts) this.usedPorts.push(hp)
    for (const k of p.spreadKeys) this.spreadCounts.set(k, (this.spreadCounts.get(k) ?? 0) + 1)
  }

  removePod(uid: string): PodInfo | undefined {
    const p = this.pods.get(uid)
    if (!p) return undefined
    this.pods.delete(uid)
    this.requested.milliCpu -= p.requests.milliCpu
    this.requested.memory -= p.requests.memory
    this.nonZeroRequested.milliCpu -= p.nonZeroRequests.milliCpu
    this.nonZeroRequested.memory -= p.nonZeroRequests.memory
    for (const hp of p.hostPorts) {
      const i = this.usedPorts.findIndex(
        (u) => u.port === hp.port && u.protocol === hp.protocol && u.hostIP === hp.hostIP,
      )
      if (i >= 0) this.usedPorts.splice(i, 1)
    }
    for (const k of p.spreadKeys) {
      const n = (this.spreadCounts.get(k) ?? 0) - 1
      if (n > 0) this.spreadCounts.set(k, n)
      else this.spreadCounts.delete(k)
    }
    return p
  }
}

/** Whether a toleration tolerates a taint (Kubernetes' `Toleration.ToleratesTaint`). */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false
  if (t.key && t.key !== taint.key) return false
  if (t.operator === 'Exists') return true
  if (!t.operator || t.operator === 'Equal') return (t.value ?? '') === (taint.value ?? '')
  return false
}

/** Whether two host ports collide: same port and protocol, and the same or a wildcard address. */
export function portsConflict(a: HostPort, b: HostPort): boolean {
  if (a.port !== b.port || a.protocol !== b.protocol) return false
  return a.hostIP === b.hostIP || a.hostIP === '0.0.0.0' || b.hostIP === '0.0.0.0'
}

/** Why the pod cannot go to the node: empty when it fits. */
export function filterNode(pod: KubeObject, info: PodInfo, node: NodeInfo): string[] {
  const facts = node.facts
  if (!facts?.ready) return [REASON_NOT_READY]
  const spec = specOf(pod)
  const tolerations = spec.tolerations ?? []
  if (
    facts.unschedulable &&
    !tolerations.some((t) => tolerates(t, { key: UNSCHEDULABLE_TAINT_KEY, effect: 'NoSchedule' }))
  )
    return [REASON_UNSCHEDULABLE]
  for (const taint of facts.taints) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue
    if (!tolerations.some((t) => tolerates(t, taint)))
      return [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`]
  }
  for (const [key, value] of Object.entries(spec.nodeSelector ?? {})) {
    if (facts.labels[key] !== value) return [REASON_SELECTOR]
  }
  for (const want of info.hostPorts) {
    if (node.usedPorts.some((used) => portsConflict(want, used))) return [REASON_PORTS]
  }
  const reasons: string[] = []
  const alloc = facts.allocatable
  if (node.pods.size + 1 > alloc.pods) reasons.push(REASON_TOO_MANY_PODS)
  // As Kubernetes: a resource the pod does not ask for never stops it (even on a full node).
  if (info.requests.milliCpu > 0 && info.requests.milliCpu > alloc.milliCpu - node.requested.milliCpu)
    reasons.push(REASON_INSUFFICIENT_CPU)
  if (info.requests.memory > 0 && info.requests.memory > alloc.memory - node.requested.memory)
    reasons.push(REASON_INSUFFICIENT_MEMORY)
  return reasons
}

function leastAllocated(requested: number, allocatable: number): number {
  if (allocatable <= 0 || requested > allocatable) return 0
  return Math.floor(((allocatable - requested) * MAX_NODE_SCORE) / allocatable)
}

/** The least-allocated score of a node for a pod, 0–100. */
export function leastAllocatedScore(info: PodInfo, node: NodeInfo): number {
  const alloc = node.facts?.allocatable
  if (!alloc) return 0
  const cpu = leastAllocated(node.nonZeroRequested.milliCpu + info.nonZeroRequests.milliCpu, alloc.milliCpu)
  const memory = leastAllocated(node.nonZeroRequested.memory + info.nonZeroRequests.memory, alloc.memory)
  return Math.floor((cpu + memory) / 2)
}

/** How many of the pod's group-mates a node holds (the largest of its groups' counts). */
export function spreadCount(info: PodInfo, node: NodeInfo): number {
  let n = 0
  for (const k of info.spreadKeys) n = Math.max(n, node.spreadCounts.get(k) ?? 0)
  return n
}

/** Scores the feasible nodes for a pod: least allocated + SPREAD_WEIGHT × spreading. */
export function scoreNodes(info: PodInfo, nodes: readonly NodeInfo[]): number[] {
  const counts = nodes.map((n) => spreadCount(info, n))
  const max = Math.max(0, ...counts)
  return nodes.map((n, i) => {
    const spread = max === 0 ? MAX_NODE_SCORE : Math.floor((MAX_NODE_SCORE * (max - counts[i]!)) / max)
    return leastAllocatedScore(info, n) + SPREAD_WEIGHT * spread
  })
}

/** Kubernetes' FitError message: "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) ….". */
export function unschedulableMessage(
  totalNodes: number,
  reasonsPerNode: Iterable<readonly string[]>,
): string {
  if (totalNodes === 0) return NO_NODES_MESSAGE
  const histogram = new Map<string, number>()
  for (const reasons of reasonsPerNode) for (const r of reasons) histogram.set(r, (histogram.get(r) ?? 0) + 1)
  const parts = [...histogram].map(([reason, n]) => `${n} ${reason}`).sort()
  return `0/${totalNodes} nodes are available${parts.length > 0 ? `: ${parts.join(', ')}` : ''}.`
}

/** Where a pod goes, or why it goes nowhere. */
export type ScheduleResult =
  | { ok: true; node: string; score: number; feasible: number }
  | { ok: false; message: string; reasons: Map<string, string[]> }

/**
 * Picks a node for a pod among `nodes` (every NodeInfo with its pods; those without a Node
 * object count as not ready): filter, score, the best wins, a tie is broken by `rng`.
 */
export function schedulePod(
  pod: KubeObject,
  info: PodInfo,
  nodes: Iterable<NodeInfo>,
  rng: Rng,
): ScheduleResult {
  const feasible: NodeInfo[] = []
  const reasons = new Map<string, string[]>()
  let total = 0
  for (const node of nodes) {
    if (!node.facts) continue
    total += 1
    const why = filterNode(pod, info, node)
    if (why.length === 0) feasible.push(node)
    else reasons.set(node.name, why)
  }
  if (feasible.length === 0)
    return { ok: false, message: unschedulableMessage(total, reasons.values()), reasons }
  const scores = scoreNodes(info, feasible)
  // Reservoir sampling over the best: each of k tied nodes wins with probability 1/k.
  let best = -1
  let bestScore = Number.NEGATIVE_INFINITY
  let ties = 0
  for (let i = 0; i < feasible.length; i++) {
    const s = scores[i]!
    if (s > bestScore) {
      bestScore = s
      best = i
      ties = 1
    } else if (s === bestScore) {
      ties += 1
      if (rng.int(ties) === 0) best = i
    }
  }
  return { ok: true, node: feasible[best]!.name, score: bestScore, feasible: feasible.length }
}

/**
 * ReplicationController semantics, pure: which pods a replication controller owns, adopts and
 * releases; how many to create or delete; which to delete first; the pod its template makes;
 * its status. Data in, data out — no store, no clock (times are passed in), no I/O. The loop
 * that acts on these answers is ReplicationManager (replication-manager.ts).
 *
 * Follows Kubernetes' `pkg/controller/replication` (the ReplicaSet controller run on
 * ReplicationControllers), `PodControllerRefManager.ClaimPods` and `controller.ActivePods`.
 * The selector is a plain label map, defaulted by the store from the template's labels.
 */

import type { KubeObject, OwnerReference } from '../store/types.js'
import { isoSeconds } from '../util/clock.js'
import type { Rng } from '../util/random.js'

/** The kind and apiVersion of the owners this controller manages. */
export const RC_KIND = 'ReplicationController'
export const RC_API_VERSION = 'v1'

/** The most pods one sync creates or deletes (Kubernetes' `BurstReplicas`). */
export const BURST_REPLICAS = 500

/** The pod fields read here (core/v1, loosely typed). */
interface PodFields {
  spec?: { nodeName?: string; terminationGracePeriodSeconds?: number }
  status?: {
    phase?: string
    conditions?: { type?: string; status?: string; lastTransitionTime?: string }[]
    containerStatuses?: { restartCount?: number }[]
  }
}

/** The RC fields read here. */
export interface RcSpec {
  replicas?: number
  minReadySeconds?: number
  selector?: Record<string, string>
  template?: {
    metadata?: {
      labels?: Record<string, string>
      annotations?: Record<string, string>
      finalizers?: string[]
    }
    spec?: Record<string, unknown>
  }
}

/** A replication controller's status (core/v1 ReplicationControllerStatus). */
export interface RcStatus {
  replicas: number
  fullyLabeledReplicas: number
  readyReplicas: number
  availableReplicas: number
  observedGeneration: number
  conditions?: RcCondition[]
}

/** A ReplicationControllerCondition; Shoal sets only `ReplicaFailure`. */
export interface RcCondition {
  type: string
  status: string
  lastTransitionTime?: string
  reason?: string
  message?: string
}

function podFields(pod: KubeObject): PodFields {
  return pod as unknown as PodFields
}

/** The RC's spec, typed. */
export function rcSpec(rc: KubeObject): RcSpec {
  return (rc.spec ?? {}) as RcSpec
}

/** spec.replicas (1 when unset, as the store defaults it). */
export function desiredReplicas(rc: KubeObject): number {
  const n = rcSpec(rc).replicas
  return typeof n === 'number' && n >= 0 ? n : 1
}

/** `namespace/name`: the work-queue key of an object. */
export function objectKey(obj: KubeObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`
}

/** The owner reference with `controller: true`, if any (there is at most one). */
export function controllerRefOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true)
}

/** Whether a controller reference names a replication controller. */
export function isRcRef(ref: OwnerReference | undefined): ref is OwnerReference {
  return ref !== undefined && ref.kind === RC_KIND && ref.apiVersion === RC_API_VERSION
}

/** The controller reference an RC puts on the pods it owns. */
export function rcOwnerReference(rc: KubeObject): OwnerReference {
  return {
    apiVersion: RC_API_VERSION,
    kind: RC_KIND,
    name: rc.metadata.name ?? '',
    uid: rc.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  }
}

/**
 * Whether labels satisfy an RC's selector: every key with its value. An empty selector selects
 * nothing (validation refuses one; a controller must never claim a whole namespace).
 */
export function selectorMatches(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const entries = Object.entries(selector ?? {})
  if (entries.length === 0) return false
  return entries.every(([k, v]) => labels?.[k] === v)
}

/** Whether a pod counts: not Succeeded or Failed, and not being deleted (`FilterActivePods`). */
export function isPodActive(pod: KubeObject): boolean {
  const phase = podFields(pod).status?.phase
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata.deletionTimestamp
}

function readyCondition(pod: KubeObject) {
  return podFields(pod).status?.conditions?.find((c) => c.type === 'Ready')
}

/** Whether the pod's Ready condition is True. */
export function isPodReady(pod: KubeObject): boolean {
  return readyCondition(pod)?.status === 'True'
}

/** Whether the pod has been ready for `minReadySeconds` at `nowMs` (`IsPodAvailable`). */
export function isPodAvailable(pod: KubeObject, minReadySeconds: number, nowMs: number): boolean {
  const c = readyCondition(pod)
  if (c?.status !== 'True') return false
  if (minReadySeconds <= 0) return true
  const since = Date.parse(c.lastTransitionTime ?? '')
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= nowMs
}

/** What claiming does with the pods of the RC's namespace. */
export interface ClaimResult {
  /** Active pods it controls and that match: the pods it manages now. */
  owned: KubeObject[]
  /** Active orphans that match: to adopt (then managed). */
  adopt: KubeObject[]
  /** Active pods it controls that no longer match: to release. */
  release: KubeObject[]
}

/**
 * Sorts the namespace's pods for an RC (`ClaimPods` on the active pods): a pod controlled by
 * another owner is never touched; an RC being deleted adopts nothing.
 */
export function claimPods(rc: KubeObject, pods: readonly KubeObject[]): ClaimResult {
  const out: ClaimResult = { owned: [], adopt: [], release: [] }
  const selector = rcSpec(rc).selector
  const uid = rc.metadata.uid
  for (const pod of pods) {
    if (pod.metadata.namespace !== rc.metadata.namespace || !isPodActive(pod)) continue
    const matches = selectorMatches(selector, pod.metadata.labels)
    const ref = controllerRefOf(pod)
    if (ref) {
      if (ref.uid !== uid) continue
      if (matches) out.owned.push(pod)
      else out.release.push(pod)
      continue
    }
    if (matches && !rc.metadata.deletionTimestamp) out.adopt.push(pod)
  }
  return out
}

/**
 * The strategic merge patch that adopts a pod: adds the controller reference, and names the
 * pod's uid so that a pod recreated under the same name is not adopted by mistake (409).
 */
export function adoptPatch(rc: KubeObject, pod: KubeObject): Record<string, unknown> {
  return { metadata: { ownerReferences: [rcOwnerReference(rc)], uid: pod.metadata.uid } }
}

/** The strategic merge patch that releases a pod: removes the reference to the RC (by uid). */
export function releasePatch(rc: KubeObject, pod: KubeObject): Record<string, unknown> {
  return {
    metadata: { ownerReferences: [{ $patch: 'delete', uid: rc.metadata.uid }], uid: pod.metadata.uid },
  }
}

/**
 * How many pods to create (positive) or delete (negative): spec.replicas minus the active pods
 * it owns, at most BURST_REPLICAS either way.
 */
export function replicaDiff(rc: KubeObject, activeOwned: number, burst = BURST_REPLICAS): number {
  const diff = desiredReplicas(rc) - activeOwned
  return Math.max(-burst, Math.min(burst, diff))
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 }

function creationMs(pod: KubeObject): number {
  const t = Date.parse(pod.metadata.creationTimestamp ?? '')
  return Number.isFinite(t) ? t : Number.NaN
}

function maxRestarts(pod: KubeObject): number {
  let max = 0
  for (const s of podFields(pod).status?.containerStatuses ?? []) max = Math.max(max, s.restartCount ?? 0)
  return max
}

function deletionCost(pod: KubeObject): number {
  const v = Number(pod.metadata.annotations?.['controller.kubernetes.io/pod-deletion-cost'] ?? 0)
  return Number.isFinite(v) ? v : 0
}

/**
 * Kubernetes' `ActivePods` order, the pods to delete first coming first: unassigned before
 * assigned; Pending before Unknown before Running; not ready before ready; lower
 * `controller.kubernetes.io/pod-deletion-cost` first; ready for less time before longer;
 * more container restarts before fewer; no creation time, then newer, before older.
 * Ties break by name, so the order is total and the same on every run.
 */
export function compareForDeletion(a: KubeObject, b: KubeObject): number {
  const na = podFields(a).spec?.nodeName ?? ''
  const nb = podFields(b).spec?.nodeName ?? ''
  if ((na === '') !== (nb === '')) return na === '' ? -1 : 1
  const pa = PHASE_RANK[podFields(a).status?.phase ?? 'Pending'] ?? 1
  const pb = PHASE_RANK[podFields(b).status?.phase ?? 'Pending'] ?? 1
  if (pa !== pb) return pa - pb
  const ra = isPodReady(a)
  const rb = isPodReady(b)
  if (ra !== rb) return ra ? 1 : -1
  const ca = deletionCost(a)
  const cb = deletionCost(b)
  if (ca !== cb) return ca - cb
  if (ra && rb) {
    // Ready for less time (a later transition) first; an unknown time counts as the shortest.
    const ta = Date.parse(readyCondition(a)?.lastTransitionTime ?? '')
    const tb = Date.parse(readyCondition(b)?.lastTransitionTime ?? '')
    const ka = Number.isFinite(ta) ? ta : Number.POSITIVE_INFINITY
    const kb = Number.isFinite(tb) ? tb : Number.POSITIVE_INFINITY
    if (ka !== kb) return kb - ka > 0 ? 1 : -1
  }
  const xa = maxRestarts(a)
  const xb = maxRestarts(b)
  if (xa !== xb) return xb - xa
  const ma = creationMs(a)
  const mb = creationMs(b)
  const sa = Number.isNaN(ma) ? Number.POSITIVE_INFINITY : ma
  const sb = Number.isNaN(mb) ? Number.POSITIVE_INFINITY : mb
  if (sa !== sb) return sb - sa > 0 ? 1 : -1
  const an = a.metadata.name ?? ''
  const bn = b.metadata.name ?? ''
  return an < bn ? -1 : an > bn ? 1 : 0
}

/** The `count` pods to delete when scaling down, in the order to delete them. */
export function podsToDelete(pods: readonly KubeObject[], count: number): KubeObject[] {
  if (count <= 0) return []
  return [...pods].sort(compareForDeletion).slice(0, count)
}

const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'

/**
 * A new pod's name: `RC-` and five random characters. Kubernetes' generateName alphabet
 * (no vowels, no 0/1/3: no words, nothing confusable), drawn from `rng` so tests replay.
 */
export function podNameFor(rc: KubeObject, rng: Rng): string {
  let suffix = ''
  for (let i = 0; i < 5; i++) suffix += NAME_ALPHABET[rng.int(NAME_ALPHABET.length)]
  return `${rc.metadata.name}-${suffix}`
}

/** A random RFC 4122 version 4 uid drawn from `rng` (the uid a create command carries). */
export function uidFrom(rng: Rng): string {
  const hex = (n: number) => {
    let s = ''
    for (let i = 0; i < n; i++) s += rng.int(16).toString(16)
    return s
  }
  const variant = (8 + rng.int(4)).toString(16)
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${variant}${hex(3)}-${hex(12)}`
}

/**
 * The pod an RC's template makes (`GetPodFromTemplate`): the template's labels, annotations and
 * finalizers, the RC as its controller, the template's spec.
 */
export function podFromTemplate(rc: KubeObject, name: string): KubeObject {
  const template = rcSpec(rc).template ?? {}
  const meta = template.metadata ?? {}
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: rc.metadata.namespace,
      ownerReferences: [rcOwnerReference(rc)],
    },
    spec: structuredClone(template.spec ?? {}),
  }
  if (meta.labels) pod.metadata.labels = { ...meta.labels }
  if (meta.annotations) pod.metadata.annotations = { ...meta.annotations }
  if (meta.finalizers) pod.metadata.finalizers = [...meta.finalizers]
  return pod
}

/** The grace period a delete gives a pod: its own terminationGracePeriodSeconds (default 30). */
export function podGracePeriodSeconds(pod: KubeObject): number {
  const g = podFields(pod).spec?.terminationGracePeriodSeconds
  return typeof g === 'number' && g >= 0 ? g : 30
}

/** What failed in the last sync, for the ReplicaFailure condition. */
export interface ManageFailure {
  reason: 'FailedCreate' | 'FailedDelete'
  message: string
}

/**
 * The RC's status from the active pods it owns (`calculateStatus`): replicas;
 * fullyLabeledReplicas, the pods carrying every template label; readyReplicas;
 * availableReplicas, ready for spec.minReadySeconds; observedGeneration; and the
 * ReplicaFailure condition while creating or deleting fails.
 */
export function computeRcStatus(
  rc: KubeObject,
  owned: readonly KubeObject[],
  nowMs: number,
  failure?: ManageFailure,
): RcStatus {
  const spec = rcSpec(rc)
  const templateLabels = spec.template?.metadata?.labels ?? {}
  const minReady = spec.minReadySeconds ?? 0
  let fully = 0
  let ready = 0
  let available = 0
  for (const pod of owned) {
    const labels = pod.metadata.labels ?? {}
    if (Object.entries(templateLabels).every(([k, v]) => labels[k] === v)) fully += 1
    if (isPodReady(pod)) {
      ready += 1
      if (isPodAvailable(pod, minReady, nowMs)) available += 1
    }
  }
  const status: RcStatus = {
    replicas: owned.length,
    fullyLabeledReplicas: fully,
    readyReplicas: ready,
    availableReplicas: available,
    observedGeneration: rc.metadata.generation ?? 0,
  }
  const old = ((rc.status ?? {}) as { conditions?: RcCondition[] }).conditions ?? []
  const others = old.filter((c) => c.type !== 'ReplicaFailure')
  const previous = old.find((c) => c.type === 'ReplicaFailure')
  const conditions = [...others]
  if (failure) {
    conditions.push({
      type: 'ReplicaFailure',
      status: 'True',
      lastTransitionTime:
        previous?.status === 'True' && previous.lastTransitionTime
          ? previous.lastTransitionTime
          : isoSeconds(nowMs),
      reason: failure.reason,
      message: failure.message,
    })
  }
  if (conditions.length > 0) status.conditions = conditions
  return status
}

/**
 * When to look at an RC again for availability alone: its pods are all ready but not yet
 * available for minReadySeconds (milliseconds from now), else null.
 */
export function availabilityRecheckMs(rc: KubeObject, status: RcStatus): number | null {
  const minReady = rcSpec(rc).minReadySeconds ?? 0
  const want = desiredReplicas(rc)
  if (minReady <= 0 || status.readyReplicas !== want || status.availableReplicas === want) return null
  return minReady * 1000
}

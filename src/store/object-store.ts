/**
 * ObjectStore: the Raft state machine holding Shoal's API objects (and a small internal
 * key-value map for the daemon's own records, such as the member registry).
 *
 * Every write is a command in the Raft log, and all of its semantics run here, in `apply`:
 * preconditions (409 Conflict, 404, AlreadyExists), patches, defaulting and validation (422),
 * uid, creationTimestamp, resourceVersion (the Raft index), generation, graceful deletion and
 * finalizers, namespace rules. So every peer reaches the same state and the same answer, and
 * a patch always applies to the latest object without a read-modify-write race. Whatever a
 * command needs that is not deterministic (the time, a new uid) travels inside it.
 *
 * Objects in the store are frozen: readers share them and must never mutate them.
 */

import { createHash } from 'node:crypto'
import type { FSM, FSMSnapshot } from '../raft/fsm.js'
import type { LogEntry } from '../raft/log.js'
import type { SnapshotSink } from '../raft/snapshot.js'
import { isoSeconds } from '../util/clock.js'
import {
  AlreadyExistsError,
  BadRequestError,
  ConflictError,
  ForbiddenError,
  InvalidError,
  NotFoundError,
  StoreError,
} from './errors.js'
import type { JsonObject } from './json-value.js'
import {
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  strategicMergeSchemaFor,
} from './patch.js'
import { allocateNodePodCidr, DEFAULT_POD_CIDR, parsePodCidr } from './pod-cidr-allocation.js'
import { type ResourceType, resourceType, SYSTEM_NAMESPACES } from './resources.js'
import { applyServerSideApply, changedFields, recordUpdate } from './server-side-apply.js'
import { allocateServiceAddresses, type Cidr, DEFAULT_SERVICE_CIDR, parseCidr } from './service-allocation.js'
import type { KubeObject, Status } from './types.js'
import { defaultObjectInPlace, validateObject } from './validation.js'
import { WatchHub } from './watch-hub.js'

/** Patch formats, by the Content-Type that names them. */
export type PatchType = 'merge' | 'json' | 'strategic' | 'apply'

/** A write, as it travels through the Raft log. Persisted: add ops and fields, never change one. */
export type StoreCommand =
  | { op: 'put'; key: string; value: string }
  | { op: 'delete'; key: string }
  | { op: 'create'; resource: string; namespace?: string; object: KubeObject; uid: string; now: string }
  | {
      op: 'update'
      resource: string
      namespace?: string
      name: string
      object: KubeObject
      subresource?: 'status'
      /** Who writes (`fieldManager`): recorded as an Update owner on objects with managedFields. */
      manager?: string
      now: string
    }
  | {
      op: 'patch'
      resource: string
      namespace?: string
      name: string
      patchType: PatchType
      patch: unknown
      subresource?: 'status'
      manager?: string
      /** Server-side apply: take over fields other managers own instead of a conflict. */
      force?: boolean
      uid: string
      now: string
    }
  | {
      op: 'scale'
      resource: string
      namespace?: string
      name: string
      replicas: number
      resourceVersion?: string
      manager?: string
      now: string
    }
  | {
      op: 'remove'
      resource: string
      namespace?: string
      name: string
      preconditions?: { uid?: string; resourceVersion?: string }
      gracePeriodSeconds?: number
      /** propagationPolicy=Orphan: dependents lose their ownerReference to it, and stay. */
      orphan?: boolean
      now: string
    }
  | { op: 'expire-events'; before: string }
  /**
   * Binds a pending pod to a node (the Binding subresource): sets spec.nodeName and the
   * PodScheduled condition. 409 when the pod is bound already or its uid differs.
   */
  | { op: 'bind'; namespace: string; name: string; uid?: string; node: string; now: string }
  /**
   * A command from the leader's controllers, valid only in the Raft term it was made in: a
   * deposed leader's writes, carried to the new leader, are refused (409), never applied.
   */
  | { op: 'fenced'; term: number; command: StoreCommand }
  /**
   * Several commands in one Raft entry (events written in bulk): each is applied in turn and
   * answers for itself (`results`), as if it were an entry of its own — one failing does not
   * undo the others. Every object changed shares the entry's resourceVersion, as the keys of
   * one etcd transaction share a revision. No batch or fenced command inside. `quiet`: the
   * results carry no objects (writers that only need to know it worked — events, statuses —
   * save the leader sending every object back).
   */
  | { op: 'batch'; commands: StoreCommand[]; quiet?: boolean }

/** What applying a command answers (it goes back to the client through the leader). */
export type StoreResult =
  | { ok: true; object: KubeObject | null; created?: boolean; results?: StoreResult[] }
  | { ok: false; status: Status }

/** What applying one entry answers: a store command's result, or a key-value command's. */
export type ApplyResult = StoreResult | { key: string; deleted?: boolean }

/**
 * How many applied entries' results a store keeps (`resultOf`). A forwarding peer looks its
 * write up right after applying it; thousands of entries later is never.
 */
export const RECENT_RESULTS = 4096

const enc = new TextEncoder()
const dec = new TextDecoder()

export function encodeStoreCommand(command: StoreCommand): Uint8Array {
  return enc.encode(JSON.stringify(command))
}

/**
 * The stable JSON of frozen objects (stored objects and their specs), computed once: every
 * update compares the new object with the stored one, and the stored one never changes.
 */
const frozenJson = new WeakMap<object, string>()

/** JSON with sorted keys: equal objects give equal strings. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (!Object.isFrozen(value)) return sortedJson(value)
  const cached = frozenJson.get(value)
  if (cached !== undefined) return cached
  const text = sortedJson(value)
  frozenJson.set(value, text)
  return text
}

function sortedJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  // Nested values go through stableStringify: a frozen part shared with a stored object (the
  // spec of a pod whose status changes) is not walked again.
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v)
  }
  return value
}

function clone<T>(value: T): T {
  return structuredClone(value) as T
}

/** A uid derived from a name (for the objects the store makes itself, identical on every peer). */
function derivedUid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** The part of an object whose change bumps metadata.generation. */
function specOf(obj: KubeObject): unknown {
  if (obj.kind === 'ConfigMap') return { data: obj.data, binaryData: obj.binaryData }
  if (obj.kind === 'Endpoints') return { subsets: obj.subsets }
  return obj.spec ?? null
}

/** The map key of an object: `namespace/name`, or `name` when cluster-scoped. */
function keyOf(rt: ResourceType, namespace: string | undefined, name: string): string {
  return rt.namespaced ? `${namespace ?? ''}/${name}` : name
}

export interface ListOptions {
  namespace?: string
  filter?: (obj: KubeObject) => boolean
}

/** The store. `hub` gets every change; share it with the API's watches. */
export class ObjectStore implements FSM {
  readonly hub: WatchHub
  private objects = new Map<string, Map<string, KubeObject>>()
  private kv = new Map<string, string>()
  private kvListeners: ((key: string, value: string | undefined) => void)[] = []
  /** The results of the last RECENT_RESULTS applied entries, by index (`resultOf`). */
  private readonly recentResults = new Map<number, ApplyResult>()
  private systemNamespacesAt: string | null = null

  /** The service range cluster IPs come from (the same on every peer). */
  private readonly serviceCidr: Cidr
  /** The cluster pod range each Node's /24 comes from (the same on every peer). */
  private readonly podCidr: Cidr

  constructor(options: { historyPerResource?: number; serviceCidr?: string; podCidr?: string } = {}) {
    this.hub = new WatchHub(options.historyPerResource ?? 4096)
    this.serviceCidr = parseCidr(options.serviceCidr ?? DEFAULT_SERVICE_CIDR)
    this.podCidr = parsePodCidr(options.podCidr ?? DEFAULT_POD_CIDR)
  }

  // ---------------------------------------------------------------- reads

  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const rt = resourceType(resource)
    if (!rt) return undefined
    return this.table(resource).get(keyOf(rt, namespace, name))
  }

  /** Objects of a type (in one namespace when given), sorted by namespace then name. */
  list(resource: string, options: ListOptions = {}): { items: KubeObject[]; resourceVersion: number } {
    const items: KubeObject[] = []
    for (const obj of this.table(resource).values()) {
      if (options.namespace !== undefined && obj.metadata.namespace !== options.namespace) continue
      if (options.filter && !options.filter(obj)) continue
      items.push(obj)
    }
    items.sort((a, b) => {
      const ka = `${a.metadata.namespace ?? ''}/${a.metadata.name}`
      const kb = `${b.metadata.namespace ?? ''}/${b.metadata.name}`
      return ka < kb ? -1 : ka > kb ? 1 : 0
    })
    return { items, resourceVersion: this.hub.currentResourceVersion() }
  }

  /** The internal key-value map (member registry and the like). */
  kvGet(key: string): string | undefined {
    return this.kv.get(key)
  }

  kvList(prefix = ''): [string, string][] {
    return [...this.kv.entries()].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1))
  }

  onKvChange(fn: (key: string, value: string | undefined) => void): void {
    this.kvListeners.push(fn)
  }

  private table(resource: string): Map<string, KubeObject> {
    let t = this.objects.get(resource)
    if (!t) {
      t = new Map()
      this.objects.set(resource, t)
    }
    return t
  }

  // ---------------------------------------------------------------- apply

  apply(entry: LogEntry): ApplyResult {
    const result = this.applyEntry(entry)
    const recent = this.recentResults
    recent.set(entry.index, result)
    if (recent.size > RECENT_RESULTS) recent.delete(recent.keys().next().value as number)
    return result
  }

  /**
   * What applying the entry at `index` answered, while it is among the last
   * `RECENT_RESULTS` this store applied (undefined before, after, or when the store got there
   * by a snapshot). Applying is deterministic, so this is the answer the leader's own apply
   * gave: a peer that forwarded a write answers its client from here, as etcd's members do,
   * and the object need not travel back from the leader.
   */
  resultOf(index: number): ApplyResult | undefined {
    return this.recentResults.get(index)
  }

  private applyEntry(entry: LogEntry): ApplyResult {
    const index = entry.index
    let cmd: StoreCommand
    try {
      cmd = JSON.parse(dec.decode(entry.data)) as StoreCommand
    } catch {
      // A malformed entry must not stop the FSM on every peer: it is applied as a no-op.
      this.hub.advance(index)
      return { ok: false, status: new BadRequestError('malformed command').toStatus() }
    }
    this.ensureSystemNamespaces(index, entry.appendedAtMs)
    try {
      return this.applyCommand(cmd, entry)
    } catch (err) {
      if (err instanceof StoreError) return { ok: false, status: err.toStatus() }
      // A bug in validation or patching: answer 500, change nothing, keep every peer alike.
      return {
        ok: false,
        status: new StoreError(500, 'InternalError', `internal error: ${(err as Error).message}`).toStatus(),
      }
    } finally {
      this.hub.advance(index)
    }
  }

  private applyCommand(cmd: StoreCommand, entry: LogEntry): ApplyResult {
    const index = entry.index
    switch (cmd.op) {
      case 'put':
        this.kv.set(cmd.key, cmd.value)
        for (const fn of this.kvListeners) fn(cmd.key, cmd.value)
        return { key: cmd.key }
      case 'delete': {
        const deleted = this.kv.delete(cmd.key)
        for (const fn of this.kvListeners) fn(cmd.key, undefined)
        return { key: cmd.key, deleted }
      }
      case 'create':
        return this.create(cmd, index)
      case 'update':
        return this.update(cmd.resource, cmd.namespace, cmd.name, cmd.object, cmd.subresource, index, cmd)
      case 'patch':
        return this.patch(cmd, index)
      case 'scale':
        return this.scale(cmd, index)
      case 'remove':
        return this.remove(cmd, index)
      case 'expire-events':
        return this.expireEvents(cmd.before, index)
      case 'bind':
        return this.bind(cmd, index)
      case 'batch':
        return this.applyBatch(cmd.commands, entry, cmd.quiet === true)
      case 'fenced':
        if (entry.term !== cmd.term)
          throw new ConflictError(
            '',
            '',
            `fenced: made in term ${cmd.term}, committed in term ${entry.term}: the leader changed`,
          )
        if (cmd.command.op === 'fenced') throw new BadRequestError('a fenced command cannot hold another')
        return this.applyCommand(cmd.command, entry)
      default:
        throw new BadRequestError(`unknown store command ${(cmd as { op: string }).op}`)
    }
  }

  /** The most commands one batch may hold. */
  static readonly MAX_BATCH = 1024

  private applyBatch(commands: StoreCommand[], entry: LogEntry, quiet: boolean): StoreResult {
    if (!Array.isArray(commands) || commands.length === 0 || commands.length > ObjectStore.MAX_BATCH)
      throw new BadRequestError(`a batch holds 1 to ${ObjectStore.MAX_BATCH} commands`)
    const results: StoreResult[] = []
    for (const command of commands) {
      if (command?.op === 'batch' || command?.op === 'fenced') {
        results.push({
          ok: false,
          status: new BadRequestError(`a batch cannot hold a ${command.op} command`).toStatus(),
        })
        continue
      }
      try {
        const r = this.applyCommand(command, entry)
        results.push(!('ok' in r) || (quiet && r.ok) ? { ok: true, object: null } : r)
      } catch (err) {
        results.push({
          ok: false,
          status: (err instanceof StoreError
            ? err
            : new StoreError(500, 'InternalError', `internal error: ${(err as Error).message}`)
          ).toStatus(),
        })
      }
    }
    return { ok: true, object: null, results }
  }

  private bind(cmd: Extract<StoreCommand, { op: 'bind' }>, index: number): StoreResult {
    const table = this.table('pods')
    const key = `${cmd.namespace}/${cmd.name}`
    const old = table.get(key)
    if (!old) throw new NotFoundError('pods', cmd.name)
    if (cmd.uid && cmd.uid !== old.metadata.uid)
      throw new ConflictError(
        'pods',
        cmd.name,
        `Precondition failed: UID in precondition: ${cmd.uid}, UID in object meta: ${old.metadata.uid}`,
      )
    const spec = (old.spec ?? {}) as { nodeName?: string }
    if (spec.nodeName)
      throw new ConflictError(
        'pods',
        cmd.name,
        `pod ${cmd.name} is already assigned to node "${spec.nodeName}"`,
      )
    if (old.metadata.deletionTimestamp)
      throw new ConflictError(
        'pods',
        cmd.name,
        `pod ${cmd.name} is being deleted, cannot be assigned to a host`,
      )
    if (!this.table('nodes').has(cmd.node)) throw new NotFoundError('nodes', cmd.node)
    const next = clone(old)
    ;(next.spec as { nodeName?: string }).nodeName = cmd.node
    const status = (next.status ?? {}) as { conditions?: Record<string, unknown>[] }
    const conditions = (status.conditions ?? []).filter((c) => c.type !== 'PodScheduled')
    conditions.push({
      type: 'PodScheduled',
      status: 'True',
      lastProbeTime: null,
      lastTransitionTime: cmd.now,
    })
    status.conditions = conditions
    next.status = status as Record<string, unknown>
    next.metadata.resourceVersion = String(index)
    return { ok: true, object: this.put('pods', table, key, next, 'MODIFIED', index, old) }
  }

  private ensureSystemNamespaces(index: number, appendedAtMs: number | undefined): void {
    if (this.systemNamespacesAt !== null) return
    const at = isoSeconds(appendedAtMs ?? 0)
    this.systemNamespacesAt = at
    const table = this.table('namespaces')
    for (const name of SYSTEM_NAMESPACES) {
      if (table.has(name)) continue
      const ns: KubeObject = {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name,
          uid: derivedUid(`namespace/${name}`),
          resourceVersion: String(index),
          creationTimestamp: at,
          labels: { 'kubernetes.io/metadata.name': name },
        },
        spec: { finalizers: ['kubernetes'] },
        status: { phase: 'Active' },
      }
      this.put('namespaces', table, name, ns, 'ADDED', index)
    }
  }

  private put(
    resource: string,
    table: Map<string, KubeObject>,
    key: string,
    obj: KubeObject,
    type: 'ADDED' | 'MODIFIED',
    index: number,
    old?: KubeObject,
  ): KubeObject {
    const frozen = deepFreeze(obj)
    table.set(key, frozen)
    this.hub.publish(resource, { type, object: frozen, oldObject: old, resourceVersion: index })
    return frozen
  }

  private drop(
    resource: string,
    table: Map<string, KubeObject>,
    key: string,
    old: KubeObject,
    index: number,
  ): KubeObject {
    table.delete(key)
    const last = deepFreeze({
      ...clone(old),
      metadata: { ...clone(old.metadata), resourceVersion: String(index) },
    })
    this.hub.publish(resource, { type: 'DELETED', object: last, oldObject: old, resourceVersion: index })
    return last
  }

  private typeOf(resource: string): ResourceType {
    const rt = resourceType(resource)
    if (!rt)
      throw new StoreError(404, 'NotFound', `the server could not find the requested resource (${resource})`)
    return rt
  }

  /** Checks the namespace of a namespaced write exists and is not being deleted. */
  private checkNamespace(rt: ResourceType, namespace: string | undefined, creating: boolean): void {
    if (!rt.namespaced) return
    if (!namespace) throw new BadRequestError('a namespace is required for namespaced resources')
    const ns = this.table('namespaces').get(namespace)
    if (!ns) throw new NotFoundError('namespaces', namespace)
    if (creating && ns.metadata.deletionTimestamp) {
      throw new ForbiddenError(
        `${rt.resource} is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
      )
    }
  }

  /**
   * Takes `cmd.object` over (no copy: every caller passes one of its own, freshly parsed from
   * the log entry or freshly merged by a patch).
   */
  private create(cmd: Extract<StoreCommand, { op: 'create' }>, index: number): StoreResult {
    const rt = this.typeOf(cmd.resource)
    const obj = cmd.object
    if (!obj || typeof obj !== 'object' || typeof obj.metadata !== 'object' || obj.metadata === null) {
      throw new BadRequestError('the object has no metadata')
    }
    obj.apiVersion = 'v1'
    obj.kind = rt.kind
    if (rt.namespaced) {
      if (obj.metadata.namespace && cmd.namespace && obj.metadata.namespace !== cmd.namespace) {
        throw new BadRequestError(
          'the namespace of the provided object does not match the namespace sent on the request',
        )
      }
      obj.metadata.namespace = cmd.namespace ?? obj.metadata.namespace
    } else {
      delete obj.metadata.namespace
    }
    if (!obj.metadata.name && obj.metadata.generateName) {
      // Deterministic on every peer: the suffix comes from the uid the leader chose.
      obj.metadata.name = `${obj.metadata.generateName}${createHash('sha256').update(cmd.uid).digest('hex').slice(0, 5)}`
    }
    this.checkNamespace(rt, obj.metadata.namespace, true)
    const name = obj.metadata.name ?? ''
    const table = this.table(rt.resource)
    const key = keyOf(rt, obj.metadata.namespace, name)
    if (name && table.has(key)) throw new AlreadyExistsError(rt.resource, name)

    // The command's object is this apply's own (parsed from the entry): filled in, not copied.
    const defaulted = defaultObjectInPlace(obj)
    validateObject(defaulted, { isCreate: true })
    if (rt.kind === 'Service') {
      const others = [...this.table('services').values()]
      allocateServiceAddresses(defaulted, others, cmd.uid, this.serviceCidr)
    }
    if (rt.kind === 'Node') allocateNodePodCidr(defaulted, [...this.table('nodes').values()], this.podCidr)
    const meta = defaulted.metadata
    meta.uid = cmd.uid
    meta.creationTimestamp = cmd.now
    meta.resourceVersion = String(index)
    meta.generation = 1
    delete meta.deletionTimestamp
    delete meta.deletionGracePeriodSeconds
    resetStatusOnCreate(defaulted)
    const stored = this.put(rt.resource, table, key, defaulted, 'ADDED', index)
    return { ok: true, object: stored, created: true }
  }

  private update(
    resource: string,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    subresource: 'status' | undefined,
    index: number,
    /** A write other than apply (its command): recorded as its manager's Update entry (see below). */
    updater?: { manager?: string; now: string },
  ): StoreResult {
    const rt = this.typeOf(resource)
    if (!body || typeof body !== 'object' || typeof body.metadata !== 'object' || body.metadata === null) {
      throw new BadRequestError('the object has no metadata')
    }
    this.checkNamespace(rt, namespace, false)
    const table = this.table(rt.resource)
    const key = keyOf(rt, namespace, name)
    const old = table.get(key)
    if (!old) throw new NotFoundError(rt.resource, name)
    if (body.metadata.name !== undefined && body.metadata.name !== name) {
      throw new BadRequestError(
        `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`,
      )
    }
    if (rt.namespaced && body.metadata.namespace && body.metadata.namespace !== namespace) {
      throw new BadRequestError(
        'the namespace of the provided object does not match the namespace sent on the request',
      )
    }
    const rv = body.metadata.resourceVersion
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion)
      throw new ConflictError(rt.resource, name)
    if (body.metadata.uid && body.metadata.uid !== old.metadata.uid) {
      throw new ConflictError(
        rt.resource,
        name,
        `Precondition failed: UID in precondition: ${body.metadata.uid}, UID in object meta: ${old.metadata.uid}`,
      )
    }

    let next: KubeObject
    if (subresource === 'status') {
      // Only the status is new: everything else is the stored (frozen) object's, shared, not
      // copied; the body is this command's own (parsed from the entry), so its status is taken.
      next = { ...old, metadata: { ...old.metadata }, status: body.status }
    } else {
      next = clone(body)
      next.apiVersion = 'v1'
      next.kind = rt.kind
      // The main resource never changes status when the kind has a status subresource.
      if (rt.hasStatus) {
        if (old.status === undefined) delete next.status
        else next.status = clone(old.status)
      }
    }
    const meta = next.metadata
    meta.name = name
    if (rt.namespaced) meta.namespace = namespace
    else delete meta.namespace
    meta.uid = old.metadata.uid
    meta.creationTimestamp = old.metadata.creationTimestamp
    meta.generation = old.metadata.generation
    if (old.metadata.deletionTimestamp) {
      meta.deletionTimestamp = old.metadata.deletionTimestamp
      meta.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds
    } else {
      delete meta.deletionTimestamp
      delete meta.deletionGracePeriodSeconds
    }
    meta.resourceVersion = old.metadata.resourceVersion
    // As Kubernetes: an update without managedFields keeps the field owners (an empty list
    // clears them; other ones given are taken as they are).
    const given = meta.managedFields
    if (meta.managedFields == null) {
      if (old.metadata.managedFields) meta.managedFields = clone(old.metadata.managedFields)
      else delete meta.managedFields
    } else if (meta.managedFields.length === 0) {
      delete meta.managedFields
    }
    const defaulted = subresource === 'status' ? next : defaultObjectInPlace(next)
    // Field ownership is kept once an object has owners (it was server-side applied): the
    // fields this write changed become its manager's, as Kubernetes records every write.
    const ownersGiven = () =>
      given != null &&
      given !== old.metadata.managedFields &&
      stableStringify(given) !== stableStringify(old.metadata.managedFields)
    if (updater && subresource !== 'status' && meta.managedFields?.length && !ownersGiven()) {
      const fields = recordUpdate(
        meta.managedFields,
        changedFields(
          old as unknown as JsonObject,
          next as unknown as JsonObject,
          strategicMergeSchemaFor(rt.kind),
        ),
        updater.manager ?? 'unknown',
        updater.now,
      )
      if (fields.length > 0) meta.managedFields = fields
      else delete meta.managedFields
    }
    validateObject(defaulted, { isCreate: false, old })
    if (rt.kind === 'Service' && subresource !== 'status') {
      const others = [...this.table('services').values()].filter((o) => o !== old)
      allocateServiceAddresses(defaulted, others, old.metadata.uid ?? '', this.serviceCidr, old)
    }
    if (rt.kind === 'Node' && subresource !== 'status') {
      const others = [...this.table('nodes').values()].filter((o) => o !== old)
      allocateNodePodCidr(defaulted, others, this.podCidr, old)
    }
    if (subresource === 'status') {
      // Only the status can differ (the rest is the stored object's own).
      if (stableStringify(defaulted.status) === stableStringify(old.status)) return { ok: true, object: old }
    } else {
      if (stableStringify(specOf(defaulted)) !== stableStringify(specOf(old))) {
        defaulted.metadata.generation = (old.metadata.generation ?? 1) + 1
      }
      // Nothing changed: answer the object as it is, without a new resourceVersion (as Kubernetes does).
      if (stableStringify(defaulted) === stableStringify(old)) return { ok: true, object: old }
    }
    defaulted.metadata.resourceVersion = String(index)
    // The last finalizer gone from an object being deleted: now it goes.
    if (defaulted.metadata.deletionTimestamp && (defaulted.metadata.finalizers ?? []).length === 0) {
      return { ok: true, object: this.drop(rt.resource, table, key, defaulted, index) }
    }
    const stored = this.put(rt.resource, table, key, defaulted, 'MODIFIED', index, old)
    return { ok: true, object: stored }
  }

  private patch(cmd: Extract<StoreCommand, { op: 'patch' }>, index: number): StoreResult {
    const rt = this.typeOf(cmd.resource)
    const table = this.table(rt.resource)
    const old = table.get(keyOf(rt, cmd.namespace, cmd.name))
    if (cmd.patchType === 'apply') {
      if (typeof cmd.patch !== 'object' || cmd.patch === null)
        throw new BadRequestError('apply patch must be an object')
      const merged = applyServerSideApply(
        old ? clone(old) : undefined,
        cmd.patch,
        rt.kind,
        cmd.manager ?? 'unknown',
        { force: cmd.force === true, now: cmd.now },
      ) as KubeObject
      if (!old) {
        const created = { ...merged, metadata: { ...merged.metadata, name: cmd.name } }
        return this.create(
          {
            op: 'create',
            resource: cmd.resource,
            namespace: cmd.namespace,
            object: created,
            uid: cmd.uid,
            now: cmd.now,
          },
          index,
        )
      }
      return this.update(cmd.resource, cmd.namespace, cmd.name, stripRv(merged, old), cmd.subresource, index)
    }
    if (!old) throw new NotFoundError(rt.resource, cmd.name)
    const base = clone(old) as unknown
    let patched: unknown
    switch (cmd.patchType) {
      case 'merge':
        patched = applyMergePatch(base, cmd.patch)
        break
      case 'json':
        patched = applyJsonPatch(base, cmd.patch)
        break
      case 'strategic':
        patched = applyStrategicMergePatch(base, cmd.patch, rt.kind)
        break
      default:
        throw new StoreError(415, 'UnsupportedMediaType', `unsupported patch type ${String(cmd.patchType)}`)
    }
    if (typeof patched !== 'object' || patched === null || Array.isArray(patched)) {
      throw new BadRequestError('the patch does not leave an object')
    }
    const obj = patched as KubeObject
    if (typeof obj.metadata !== 'object' || obj.metadata === null)
      throw new BadRequestError('the patch removed metadata')
    // A patch that does not name a resourceVersion applies to the latest object.
    const patchRv = ((cmd.patch as { metadata?: { resourceVersion?: unknown } } | null)?.metadata
      ?.resourceVersion ?? undefined) as string | undefined
    if (patchRv === undefined) obj.metadata.resourceVersion = old.metadata.resourceVersion
    return this.update(cmd.resource, cmd.namespace, cmd.name, obj, cmd.subresource, index, cmd)
  }

  private scale(cmd: Extract<StoreCommand, { op: 'scale' }>, index: number): StoreResult {
    const rt = this.typeOf(cmd.resource)
    if (!rt.hasScale) throw new StoreError(404, 'NotFound', `${rt.resource} has no scale subresource`)
    const old = this.table(rt.resource).get(keyOf(rt, cmd.namespace, cmd.name))
    if (!old) throw new NotFoundError(rt.resource, cmd.name)
    if (!Number.isInteger(cmd.replicas) || cmd.replicas < 0) {
      throw new InvalidError('Scale', cmd.name, [
        {
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${cmd.replicas}: must be greater than or equal to 0`,
          field: 'spec.replicas',
        },
      ])
    }
    if (cmd.resourceVersion && cmd.resourceVersion !== old.metadata.resourceVersion)
      throw new ConflictError(rt.resource, cmd.name)
    const next = clone(old)
    next.spec = { ...(next.spec ?? {}), replicas: cmd.replicas }
    return this.update(cmd.resource, cmd.namespace, cmd.name, next, undefined, index, cmd)
  }

  private remove(cmd: Extract<StoreCommand, { op: 'remove' }>, index: number): StoreResult {
    const rt = this.typeOf(cmd.resource)
    const table = this.table(rt.resource)
    const key = keyOf(rt, cmd.namespace, cmd.name)
    const old = table.get(key)
    if (!old) throw new NotFoundError(rt.resource, cmd.name)
    const pre = cmd.preconditions ?? {}
    if (pre.uid && pre.uid !== old.metadata.uid) {
      throw new ConflictError(
        rt.resource,
        cmd.name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
      )
    }
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw new ConflictError(rt.resource, cmd.name)
    }
    if (rt.resource === 'namespaces') return this.removeNamespace(old, index)
    if (cmd.orphan) this.orphanDependents(old.metadata.uid ?? '', index)
    const finalizers = old.metadata.finalizers ?? []
    const grace =
      cmd.gracePeriodSeconds ??
      (old.kind === 'Pod'
        ? Number(
            (old.spec as { terminationGracePeriodSeconds?: number })?.terminationGracePeriodSeconds ?? 30,
          )
        : 0)
    const bound = old.kind === 'Pod' && typeof (old.spec as { nodeName?: unknown })?.nodeName === 'string'
    // A pod running on a node is deleted gracefully: marked now, removed by its node's agent
    // once its containers stopped (or by a delete with grace 0). Finalizers hold any object.
    if (finalizers.length > 0 || (bound && grace > 0)) {
      if (old.metadata.deletionTimestamp) return { ok: true, object: old }
      const next = clone(old)
      next.metadata.deletionTimestamp = cmd.now
      next.metadata.deletionGracePeriodSeconds = bound ? grace : 0
      next.metadata.resourceVersion = String(index)
      return { ok: true, object: this.put(rt.resource, table, key, next, 'MODIFIED', index, old) }
    }
    return { ok: true, object: this.drop(rt.resource, table, key, old, index) }
  }

  /** Removes the ownerReference to `ownerUid` from every object (propagationPolicy=Orphan). */
  private orphanDependents(ownerUid: string, index: number): void {
    for (const [resource, table] of this.objects) {
      for (const [key, obj] of table) {
        const refs = obj.metadata.ownerReferences
        if (!refs?.some((r) => r.uid === ownerUid)) continue
        const next = clone(obj)
        const kept = refs.filter((r) => r.uid !== ownerUid)
        if (kept.length > 0) next.metadata.ownerReferences = kept
        else delete next.metadata.ownerReferences
        next.metadata.resourceVersion = String(index)
        this.put(resource, table, key, next, 'MODIFIED', index, obj)
      }
    }
  }

  private removeNamespace(ns: KubeObject, index: number): StoreResult {
    const name = ns.metadata.name!
    if ((SYSTEM_NAMESPACES as readonly string[]).includes(name)) {
      throw new ForbiddenError(`namespaces "${name}" is forbidden: this namespace may not be deleted`)
    }
    // Everything in it goes first, then the namespace (Kubernetes' namespace controller does
    // this in the background; here it is one step of the state machine).
    for (const [resource, table] of this.objects) {
      const rt = resourceType(resource)
      if (!rt?.namespaced) continue
      for (const [key, obj] of [...table]) {
        if (obj.metadata.namespace === name) this.drop(resource, table, key, obj, index)
      }
    }
    return { ok: true, object: this.drop('namespaces', this.table('namespaces'), name, ns, index) }
  }

  private expireEvents(before: string, index: number): StoreResult {
    const table = this.table('events')
    for (const [key, ev] of [...table]) {
      const last =
        (ev.lastTimestamp as string | undefined) ??
        (ev.eventTime as string | undefined) ??
        ev.metadata.creationTimestamp ??
        ''
      if (last < before) this.drop('events', table, key, ev, index)
    }
    return { ok: true, object: null }
  }

  // ---------------------------------------------------------------- snapshots

  async snapshot(): Promise<FSMSnapshot> {
    const bytes = this.snapshotBytes()
    return {
      persist: async (sink: SnapshotSink) => {
        const chunk = 1 << 20
        for (let i = 0; i < bytes.length; i += chunk) await sink.write(bytes.subarray(i, i + chunk))
      },
      release: () => {},
    }
  }

  /** The whole state as a snapshot holds it (what `restore` takes), as of now. */
  snapshotBytes(): Uint8Array {
    const state = {
      version: 1,
      resourceVersion: this.hub.currentResourceVersion(),
      systemNamespacesAt: this.systemNamespacesAt,
      kv: [...this.kv.entries()],
      objects: Object.fromEntries(
        [...this.objects].map(([resource, table]) => [resource, [...table.values()]]),
      ),
    }
    return enc.encode(JSON.stringify(state))
  }

  async restore(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    // The entries a snapshot stands for were never applied here: no result of theirs is known.
    this.recentResults.clear()
    const parts: Uint8Array[] = []
    if (data instanceof Uint8Array) parts.push(data)
    else for await (const p of data) parts.push(p)
    const text = Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))).toString(
      'utf8',
    )
    const state = JSON.parse(text.length > 0 ? text : '{}') as {
      version?: number
      resourceVersion?: number
      systemNamespacesAt?: string | null
      kv?: [string, string][]
      objects?: Record<string, KubeObject[]>
    }
    if (
      Array.isArray(state) ||
      (state.version === undefined && text.length > 0 && text.trimStart().startsWith('['))
    ) {
      // A snapshot of the key-value machine that came before the object store: keep its map.
      this.kv = new Map(state as unknown as [string, string][])
      this.objects = new Map()
    } else {
      this.kv = new Map(state.kv ?? [])
      this.objects = new Map()
      for (const [resource, items] of Object.entries(state.objects ?? {})) {
        const rt = resourceType(resource)
        if (!rt) continue
        const table = this.table(resource)
        for (const obj of items)
          table.set(keyOf(rt, obj.metadata.namespace, obj.metadata.name ?? ''), deepFreeze(obj))
      }
    }
    this.systemNamespacesAt = state.systemNamespacesAt ?? null
    this.hub.reset(state.resourceVersion ?? 0)
    for (const [k, v] of this.kv) for (const fn of this.kvListeners) fn(k, v)
  }
}

function stripRv(obj: KubeObject, old: KubeObject): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: old.metadata.resourceVersion } }
}

/** What a new object's status starts as (clients do not set status on create). */
function resetStatusOnCreate(obj: KubeObject): void {
  switch (obj.kind) {
    case 'Pod':
      obj.status = { phase: 'Pending' }
      break
    case 'ReplicationController':
      obj.status = { replicas: 0 }
      break
    case 'Namespace':
      obj.status = { phase: 'Active' }
      break
    case 'Service':
      obj.status = { loadBalancer: {} }
      break
    default:
      break
  }
}

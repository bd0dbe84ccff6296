/**
 * Server-side apply (`application/apply-patch+yaml`, kubectl-compat.md §3.3) with field
 * ownership, as Kubernetes' structured-merge-diff keeps it in `metadata.managedFields`:
 *
 * - Each apply records the fields its configuration sets as the manager's `Apply` entry
 *   (`fieldsV1`: `f:<field>`, `k:{"name":"web"}` for an item of a keyed list with `.` for the
 *   item itself, `v:<value>` for a member of a set list).
 * - An apply that changes a field another manager owns is a 409 Conflict naming each field
 *   (`Apply failed with 1 conflict: conflict with "ci" using v1: .spec.replicas`), unless
 *   `force` takes the fields over. Setting a field to the value it has already is no
 *   conflict: the field is then shared.
 * - A field the manager applied before and has dropped from its configuration is removed from
 *   the object, unless another manager owns it too (it then stays, theirs).
 * - Merging: applied values win, maps merge recursively, keyed lists (the strategic-merge keys
 *   of patch.ts) merge item by item (live order kept, new items appended in applied order),
 *   `metadata.finalizers` merges as a set, other lists are replaced, `null` removes a field;
 *   with no live object the configuration is the new object.
 *
 * - Writes other than apply (update, merge/JSON/strategic patches, scale) on an object that
 *   has owners record their manager's `Update` entry (`recordUpdate`): it takes the fields the
 *   write changed (no conflict), and fields it removed leave every entry — so an applier
 *   setting such a field back conflicts with the writer, as in Kubernetes.
 *
 * What differs from Kubernetes (named so nobody relies on it): an object never server-side
 * applied has no managedFields (a create records none; Kubernetes records its creator), so
 * the first apply to it conflicts with nobody. Lists are keyed as Kubernetes keys them
 * (container and Service ports by port and protocol, patch.ts `applyKeys`); custom resources'
 * `x-kubernetes-list-type` is unknown. Identity and system fields (apiVersion, kind,
 * metadata.name/namespace/uid/…) and `status` are never owned.
 */

import { BadRequestError, StoreError } from './errors.js'
import {
  childPath,
  cloneJson,
  isObject,
  isPrimitive,
  type JsonObject,
  jsonEqual,
  own,
  setOwn,
} from './json-value.js'
import { type FieldStrategy, type PatchSchema, strategicMergeSchemaFor } from './patch.js'
import type { StatusCause } from './types.js'

// ---------------------------------------------------------------------------------------------
// Field sets

/**
 * A set of field paths as a tree: `owned` when the path ending here is in the set; children by
 * path element (`f:name`, `k:{"name":"web"}`, `v:"x"`).
 */
export class FieldSet {
  owned = false
  readonly children = new Map<string, FieldSet>()

  child(element: string): FieldSet {
    let c = this.children.get(element)
    if (!c) {
      c = new FieldSet()
      this.children.set(element, c)
    }
    return c
  }

  /** Every path in the set, as its elements. */
  paths(prefix: string[] = [], out: string[][] = []): string[][] {
    if (this.owned) out.push(prefix)
    for (const [element, c] of this.children) c.paths([...prefix, element], out)
    return out
  }

  /** The node at `path`, if the tree has one. */
  at(path: readonly string[]): FieldSet | undefined {
    let node: FieldSet | undefined = this
    for (const element of path) {
      node = node.children.get(element)
      if (!node) return undefined
    }
    return node
  }

  has(path: readonly string[]): boolean {
    return this.at(path)?.owned === true
  }

  /** True when the set holds `path` or any path below it. */
  reaches(path: readonly string[]): boolean {
    const node = this.at(path)
    return node !== undefined && !node.isEmpty()
  }

  /** Takes `path` out of the set (its parents stay as they are). */
  remove(path: readonly string[]): void {
    const node = this.at(path)
    if (node) node.owned = false
  }

  /** Takes `path` and everything below it out of the set. */
  removeAll(path: readonly string[]): void {
    if (path.length === 0) {
      this.owned = false
      this.children.clear()
      return
    }
    this.at(path.slice(0, -1))?.children.delete(path[path.length - 1]!)
  }

  /** Puts `path` in the set. */
  add(path: readonly string[]): void {
    let node: FieldSet = this
    for (const element of path) node = node.child(element)
    node.owned = true
  }

  isEmpty(): boolean {
    if (this.owned) return false
    for (const c of this.children.values()) if (!c.isEmpty()) return false
    return true
  }

  /** The `fieldsV1` JSON of the set. */
  toFieldsV1(): JsonObject {
    const out: JsonObject = {}
    if (this.owned && this.children.size > 0) setOwn(out, '.', {})
    for (const [element, c] of this.children) {
      if (c.owned || !c.isEmpty()) setOwn(out, element, c.toFieldsV1())
    }
    return out
  }

  /** Reads `fieldsV1`; anything that is not an object of objects reads as no fields. */
  static fromFieldsV1(value: unknown): FieldSet {
    const set = new FieldSet()
    if (!isObject(value)) return set
    const keys = Object.keys(value)
    if (keys.length === 0) set.owned = true
    for (const key of keys) {
      if (key === '.') set.owned = true
      else set.children.set(key, FieldSet.fromFieldsV1(value[key]))
    }
    return set
  }
}

/** Top-level and metadata fields that say which object this is, or that the system sets. */
const UNOWNED_TOP = new Set(['apiVersion', 'kind', 'status'])
const UNOWNED_METADATA = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
])

/** `obj` without what nobody owns: identity, system fields, status. */
function ownablePart(obj: JsonObject): JsonObject {
  const out: JsonObject = {}
  for (const [k, v] of Object.entries(obj)) if (!UNOWNED_TOP.has(k)) setOwn(out, k, v)
  const meta = own(obj, 'metadata')
  if (isObject(meta)) {
    const m: JsonObject = {}
    for (const [k, v] of Object.entries(meta)) if (!UNOWNED_METADATA.has(k)) setOwn(m, k, v)
    setOwn(out, 'metadata', m)
  }
  return out
}

/** The fields an applied configuration sets (what its manager comes to own). */
export function fieldsOfApplied(applied: JsonObject, schema: PatchSchema | undefined): FieldSet {
  const set = new FieldSet()
  for (const [key, value] of Object.entries(ownablePart(applied))) {
    // Metadata is owned by what is in it, never as a whole.
    if (key === 'metadata' && isObject(value) && Object.keys(value).length === 0) continue
    addValue(set.child(`f:${key}`), value, schema?.[key])
  }
  return set
}

function addValue(node: FieldSet, value: unknown, strategy: FieldStrategy | undefined): void {
  if (isObject(value)) {
    const keys = Object.keys(value)
    if (keys.length === 0) node.owned = true
    for (const key of keys) addValue(node.child(`f:${key}`), value[key], strategy?.fields?.[key])
    return
  }
  if (Array.isArray(value) && strategy?.mergeKey !== undefined) {
    for (const item of value) {
      const key = itemKey(item, strategy)
      if (key) addItem(node.child(itemElement(key)), item as JsonObject, strategy)
    }
    return
  }
  if (Array.isArray(value) && strategy?.primitiveSet) {
    for (const item of value) node.child(`v:${JSON.stringify(item)}`).owned = true
    return
  }
  node.owned = true // a scalar, null, or an atomic list
}

/** An item of a keyed list: the item itself, and each of its fields. */
function addItem(node: FieldSet, item: JsonObject, strategy: FieldStrategy): void {
  node.owned = true
  for (const [key, child] of Object.entries(item))
    addValue(node.child(`f:${key}`), child, strategy.fields?.[key])
}

/** The path element of a keyed list's item: `k:{"name":"web"}`. */
function itemElement(key: JsonObject): string {
  return `k:${JSON.stringify(key)}`
}

/** A key as Kubernetes prints it: `name="web"`, `port=53,protocol="UDP"`. */
function keyText(key: JsonObject): string {
  return Object.entries(key)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')
}

/** Key fields with a default in core/v1 (a port's protocol): an item without one has it. */
const KEY_DEFAULTS: { readonly [field: string]: unknown } = { protocol: 'TCP' }

/** The fields that identify `item` in its keyed list, in key order; undefined when one is missing. */
function itemKey(item: unknown, strategy: FieldStrategy): JsonObject | undefined {
  if (!isObject(item)) return undefined
  const key: JsonObject = {}
  for (const field of strategy.applyKeys ?? [strategy.mergeKey!]) {
    const value = Object.hasOwn(item, field) ? item[field] : KEY_DEFAULTS[field]
    if (value === undefined) return undefined
    setOwn(key, field, value)
  }
  return key
}

/** True when `mine` sets `path`: the path itself, or a field above it that it sets whole. */
function sets(mine: FieldSet, path: readonly string[]): boolean {
  let node: FieldSet | undefined = mine
  for (let i = 0; i < path.length; i++) {
    node = node.children.get(path[i]!)
    if (!node) return false
    if (node.owned && (i === path.length - 1 || node.children.size === 0)) return true
  }
  return false
}

/** True when `path` is the key field of a keyed list's item (`…k:{"name":"web"}, f:name`). */
function isItemKey(path: readonly string[]): boolean {
  const last = path[path.length - 1]
  const parent = path[path.length - 2]
  if (!last?.startsWith('f:') || !parent?.startsWith('k:')) return false
  try {
    const key = JSON.parse(parent.slice(2)) as unknown
    return isObject(key) && Object.hasOwn(key, last.slice(2))
  } catch {
    return false
  }
}

/** Where a path element leads inside `value`: the child, or undefined when absent. */
function step(value: unknown, element: string): { found: boolean; value?: unknown; index?: number } {
  if (element.startsWith('f:')) {
    const key = element.slice(2)
    return isObject(value) && Object.hasOwn(value, key)
      ? { found: true, value: value[key] }
      : { found: false }
  }
  if (!Array.isArray(value)) return { found: false }
  let wanted: unknown
  try {
    wanted = JSON.parse(element.slice(2))
  } catch {
    return { found: false }
  }
  const index = element.startsWith('k:')
    ? value.findIndex(
        (item) =>
          isObject(wanted) &&
          isObject(item) &&
          Object.entries(wanted).every(([k, v]) =>
            jsonEqual(Object.hasOwn(item, k) ? item[k] : KEY_DEFAULTS[k], v),
          ),
      )
    : element.startsWith('v:')
      ? value.findIndex((item) => jsonEqual(item, wanted))
      : -1
  return index >= 0 ? { found: true, value: value[index], index } : { found: false }
}

function valueAt(root: unknown, path: readonly string[]): { found: boolean; value?: unknown } {
  let cur: { found: boolean; value?: unknown } = { found: true, value: root }
  for (const element of path) {
    cur = step(cur.value, element)
    if (!cur.found) return cur
  }
  return cur
}

/** Removes the field, list item or set member at `path` from `root` (in place), if there. */
function removeAt(root: unknown, path: readonly string[]): void {
  const parent = valueAt(root, path.slice(0, -1))
  if (!parent.found) return
  const last = path[path.length - 1]!
  const target = step(parent.value, last)
  if (!target.found) return
  if (last.startsWith('f:')) delete (parent.value as JsonObject)[last.slice(2)]
  else (parent.value as unknown[]).splice(target.index!, 1)
}

/** A path as Kubernetes prints it in a conflict: `.spec.containers[name="web"].image`. */
export function formatPath(path: readonly string[]): string {
  return path
    .map((element) => {
      const body = element.slice(2)
      if (element.startsWith('f:')) return `.${body}`
      if (element.startsWith('v:')) return `[=${body}]`
      try {
        return `[${keyText(JSON.parse(body) as JsonObject)}]`
      } catch {
        return `[${body}]`
      }
    })
    .join('')
}

// ---------------------------------------------------------------------------------------------
// Updates: what a write other than apply changed, for its manager's `Update` entry

/**
 * The fields a write changed from `before` to `after` (set, or set to another value; the new
 * items of keyed lists and the new members of sets) and the ones it removed, as field sets
 * shaped as fieldsOfApplied's. Identity, system fields and `status` are left out.
 */
export function changedFields(
  before: JsonObject,
  after: JsonObject,
  schema: PatchSchema | undefined,
): { changed: FieldSet; removed: FieldSet } {
  const changed = new FieldSet()
  const removed = new FieldSet()
  diffMap(ownablePart(before), ownablePart(after), schema, changed, removed)
  return { changed, removed }
}

function diffMap(
  before: JsonObject,
  after: JsonObject,
  schema: PatchSchema | undefined,
  changed: FieldSet,
  removed: FieldSet,
): void {
  for (const [key, value] of Object.entries(after)) {
    const strategy = schema?.[key]
    if (!Object.hasOwn(before, key)) addValue(changed.child(`f:${key}`), value, strategy)
    else diffValue(before[key], value, strategy, changed.child(`f:${key}`), removed.child(`f:${key}`))
  }
  for (const key of Object.keys(before))
    if (!Object.hasOwn(after, key)) removed.child(`f:${key}`).owned = true
}

function diffValue(
  before: unknown,
  after: unknown,
  strategy: FieldStrategy | undefined,
  changed: FieldSet,
  removed: FieldSet,
): void {
  if (isObject(before) && isObject(after) && Object.keys(after).length > 0) {
    diffMap(before, after, strategy?.fields, changed, removed)
    return
  }
  if (Array.isArray(before) && Array.isArray(after) && strategy?.mergeKey !== undefined) {
    const keyed = (items: unknown[]) => {
      const out = new Map<string, JsonObject>()
      for (const item of items) {
        const key = itemKey(item, strategy)
        if (key) out.set(itemElement(key), item as JsonObject)
      }
      return out
    }
    const was = keyed(before)
    for (const [element, item] of keyed(after)) {
      const old = was.get(element)
      if (!old) {
        addItem(changed.child(element), item, strategy)
      } else {
        diffMap(old, item, strategy.fields, changed.child(element), removed.child(element))
      }
      was.delete(element)
    }
    for (const element of was.keys()) removed.child(element).owned = true
    return
  }
  if (Array.isArray(before) && Array.isArray(after) && strategy?.primitiveSet) {
    for (const item of after)
      if (!before.some((b) => jsonEqual(b, item))) changed.child(`v:${JSON.stringify(item)}`).owned = true
    for (const item of before)
      if (!after.some((a) => jsonEqual(a, item))) removed.child(`v:${JSON.stringify(item)}`).owned = true
    return
  }
  if (!jsonEqual(before, after)) changed.owned = true
}

/**
 * Records a write other than apply in `managedFields` (returned anew; the input is not
 * changed): `manager`'s `Update` entry comes to own the fields the write changed, which other
 * managers lose (an update takes fields over, it never conflicts), and fields it removed
 * leave every entry. Entries left owning nothing go.
 */
export function recordUpdate(
  managedFields: readonly unknown[],
  changes: { changed: FieldSet; removed: FieldSet },
  manager: string,
  now: string,
): JsonObject[] {
  const changedPaths = changes.changed.paths()
  const removedPaths = changes.removed.paths()
  if (changedPaths.length === 0 && removedPaths.length === 0) return managedFields.filter(isObject)
  const out: JsonObject[] = []
  let mine: FieldSet | undefined
  for (const e of managedFields) {
    if (!isObject(e)) continue
    const fields = FieldSet.fromFieldsV1(e.fieldsV1)
    const isMine = e.manager === manager && e.operation === 'Update'
    for (const path of removedPaths) fields.removeAll(path)
    if (isMine) {
      for (const path of changedPaths) fields.add(path)
      mine = fields
      if (!fields.isEmpty()) out.push({ ...e, time: now, fieldsV1: fields.toFieldsV1() })
      continue
    }
    for (const path of changedPaths) fields.remove(path)
    if (!fields.isEmpty()) out.push({ ...e, fieldsV1: fields.toFieldsV1() })
  }
  if (!mine && changedPaths.length > 0) {
    out.push({
      manager,
      operation: 'Update',
      apiVersion: 'v1',
      time: now,
      fieldsType: 'FieldsV1',
      fieldsV1: changes.changed.toFieldsV1(),
    })
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Apply

export interface ApplyOptions {
  /** Take over fields other managers own instead of failing with a conflict. */
  force?: boolean
  /** The time of the write, recorded in the manager's entry (`time`). */
  now?: string
}

/** 409 for an apply that would change fields other managers own. */
export class ApplyConflictError extends StoreError {
  override name = 'ApplyConflictError'
  constructor(conflicts: { manager: string; apiVersion: string; path: string[] }[]) {
    const causes: StatusCause[] = conflicts.map((c) => ({
      reason: 'FieldManagerConflict',
      message: `conflict with ${JSON.stringify(c.manager)} using ${c.apiVersion}`,
      field: formatPath(c.path),
    }))
    const n = conflicts.length
    const list =
      n === 1
        ? `${causes[0]!.message}: ${causes[0]!.field}`
        : `\n${causes.map((c) => `- ${c.message}: ${c.field}`).join('\n')}`
    super(409, 'Conflict', `Apply failed with ${n} conflict${n === 1 ? '' : 's'}: ${list}`, { causes })
  }
}

interface ManagerEntry {
  entry: JsonObject
  fields: FieldSet
  changed: boolean
}

/**
 * Applies `applied` (the configuration of `manager`) to `live` (undefined: the object does not
 * exist yet) for an object of `kind`, returning the new object with its managedFields. Never
 * mutates its inputs. Malformed input is a BadRequestError; a conflict an ApplyConflictError.
 */
export function applyServerSideApply(
  live: unknown | undefined,
  applied: unknown,
  kind: string,
  manager: string,
  options: ApplyOptions = {},
): unknown {
  if (!isObject(applied)) throw new BadRequestError('apply: the applied configuration must be a JSON object')
  if (manager === '') throw new BadRequestError('apply: fieldManager is required for apply patch')
  if (live !== undefined && !isObject(live))
    throw new BadRequestError('apply: the live object must be a JSON object')
  const appliedMeta = own(applied, 'metadata')
  const appliedManaged = isObject(appliedMeta) ? own(appliedMeta, 'managedFields') : undefined
  if (
    appliedManaged !== undefined &&
    appliedManaged !== null &&
    !(Array.isArray(appliedManaged) && appliedManaged.length === 0)
  ) {
    throw new BadRequestError('apply: metadata.managedFields must be nil')
  }

  const schema = strategicMergeSchemaFor(kind)
  const merged = ssaMergeMap(live, applied, schema, '')
  const mine = fieldsOfApplied(applied, schema)

  const liveMeta = live === undefined ? undefined : own(live, 'metadata')
  const liveManaged = isObject(liveMeta) ? own(liveMeta, 'managedFields') : undefined
  const entries: ManagerEntry[] = (Array.isArray(liveManaged) ? liveManaged : [])
    .filter(isObject)
    .map((e) => ({
      entry: cloneJson(e) as JsonObject,
      fields: FieldSet.fromFieldsV1(e.fieldsV1),
      changed: false,
    }))
  const isMine = (e: ManagerEntry) => e.entry.manager === manager && e.entry.operation === 'Apply'
  const previous = entries.find(isMine)?.fields ?? new FieldSet()
  const others = entries.filter((e) => !isMine(e))

  // Conflicts: a field someone else owns whose value this apply changes — the field itself,
  // or one below a field it replaces (null, a scalar over a map, an atomic list). Maps merge,
  // so `labels: {}` changes nobody's labels.
  const conflicts: { manager: string; apiVersion: string; path: string[]; owner: ManagerEntry }[] = []
  for (const owner of others) {
    for (const path of owner.fields.paths()) {
      if ((owner.fields.at(path)?.children.size ?? 0) > 0) continue // an item with fields: they decide
      if (!sets(mine, path)) continue
      const before = valueAt(live, path)
      if (!before.found) continue
      const after = valueAt(merged, path)
      if (after.found && jsonEqual(before.value, after.value)) continue
      conflicts.push({
        manager: String(owner.entry.manager ?? ''),
        apiVersion: String(owner.entry.apiVersion ?? 'v1'),
        path,
        owner,
      })
    }
  }
  if (conflicts.length > 0 && options.force !== true) throw new ApplyConflictError(conflicts)
  for (const c of conflicts) {
    c.owner.fields.remove(c.path)
    c.owner.changed = true
  }

  // Fields this manager dropped from its configuration, and nobody else holds, go. Not a
  // field it now sets things below (`resources: {}` become `resources: {limits: …}`), and
  // never the key field of a list item (the item goes as a whole, or stays with its key).
  const heldBySomeone = (path: readonly string[]) =>
    mine.reaches(path) || others.some((o) => o.fields.reaches(path))
  const dropped = previous
    .paths()
    .filter((path) => !heldBySomeone(path) && !isItemKey(path))
    .sort((a, b) => a.length - b.length) // an item before its fields: it is found by its key field
  for (const path of dropped) {
    removeAt(merged, path)
    // A map left empty by the removal, that nobody holds, goes too (`resources: {limits: {}}`).
    for (let end = path.length - 1; end > 0; end--) {
      const above = path.slice(0, end)
      if (!above[above.length - 1]!.startsWith('f:') || heldBySomeone(above)) break
      const value = valueAt(merged, above)
      if (!value.found || !isObject(value.value) || Object.keys(value.value).length > 0) break
      removeAt(merged, above)
    }
  }

  const apiVersion = own(applied, 'apiVersion')
  const entry: JsonObject = {
    manager,
    operation: 'Apply',
    apiVersion: typeof apiVersion === 'string' ? apiVersion : 'v1',
    ...(options.now ? { time: options.now } : {}),
    fieldsType: 'FieldsV1',
    fieldsV1: mine.toFieldsV1(),
  }
  // A manager owning nothing has no entry (an apply of an empty configuration gives all up).
  const managedFields: JsonObject[] = []
  let placed = mine.isEmpty()
  for (const e of entries) {
    if (isMine(e)) {
      if (!placed) managedFields.push(entry)
      placed = true
    } else if (!e.changed) {
      managedFields.push(e.entry)
    } else if (!e.fields.isEmpty()) {
      // Forced out of some fields: the rest stays theirs; nothing left, the entry goes.
      managedFields.push({ ...e.entry, fieldsV1: e.fields.toFieldsV1() })
    }
  }
  if (!placed) managedFields.push(entry)
  const meta = own(merged, 'metadata')
  const metadata: JsonObject = isObject(meta) ? meta : {}
  setOwn(metadata, 'managedFields', managedFields)
  setOwn(merged, 'metadata', metadata)
  return merged
}

// ---------------------------------------------------------------------------------------------
// Merging

/** Merges `applied` into a copy of `live` (undefined: into an empty map). */
function ssaMergeMap(
  live: JsonObject | undefined,
  applied: JsonObject,
  schema: PatchSchema | undefined,
  path: string,
): JsonObject {
  const result: JsonObject = {}
  if (live !== undefined)
    for (const [key, value] of Object.entries(live)) setOwn(result, key, cloneJson(value))
  for (const [key, value] of Object.entries(applied)) {
    const where = childPath(path, key)
    if (key.startsWith('$')) throw new BadRequestError(`apply: unknown field ${JSON.stringify(where)}`)
    if (value === null) {
      delete result[key]
      continue
    }
    const strategy = schema?.[key]
    const current = own(result, key)
    if (isObject(value)) {
      setOwn(
        result,
        key,
        ssaMergeMap(isObject(current) ? current : undefined, value, strategy?.fields, where),
      )
    } else if (Array.isArray(value)) {
      setOwn(result, key, ssaMergeList(Array.isArray(current) ? current : [], value, strategy, where))
    } else {
      setOwn(result, key, value)
    }
  }
  return result
}

function ssaMergeList(
  live: unknown[],
  applied: unknown[],
  strategy: FieldStrategy | undefined,
  path: string,
): unknown[] {
  const mergeKey = strategy?.mergeKey
  if (strategy?.primitiveSet) {
    if (!applied.every(isPrimitive)) throw new BadRequestError(`apply: ${path} must hold primitive values`)
    const out = [...live]
    for (const item of applied) if (!out.includes(item)) out.push(item)
    return out
  }
  if (mergeKey === undefined || !strategy) return applied.map(cloneJson)
  const out = [...live]
  const seen = new Set<string>()
  applied.forEach((item, i) => {
    const key = itemKey(item, strategy)
    if (!key) {
      throw new BadRequestError(
        `apply: ${path}[${i}] must be an object with the key ${JSON.stringify(mergeKey)}`,
      )
    }
    const id = JSON.stringify(key)
    if (seen.has(id)) throw new BadRequestError(`apply: ${path} has duplicate entries for ${keyText(key)}`)
    seen.add(id)
    const at = out.findIndex((x) => {
      const k = itemKey(x, strategy)
      return k !== undefined && JSON.stringify(k) === id
    })
    const where = `${path}[${keyText(key)}]`
    if (at >= 0) out[at] = ssaMergeMap(out[at] as JsonObject, item as JsonObject, strategy.fields, where)
    else out.push(ssaMergeMap(undefined, item as JsonObject, strategy.fields, where))
  })
  return out
}

/**
 * The three patch formats a Kubernetes client changes an object with, as pure functions: JSON
 * merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch (Kubernetes'
 * merge-key aware merge, which `kubectl apply` sends). Server-side apply: server-side-apply.ts.
 *
 * Every function takes JSON values (as `JSON.parse` returns them), never mutates its inputs and
 * returns a fresh value that shares nothing with them. A malformed patch is a `BadRequestError`
 * (400) whose message names the place in the patch; the API layer turns it into a `Status`.
 *
 * See /work/shared/reference/kubectl-compat.md §3 for what kubectl sends, and
 * kubernetes/apimachinery pkg/util/strategicpatch/patch.go for the algorithm followed here.
 */

import { BadRequestError, StoreError } from './errors.js'
import {
  childPath,
  cloneJson,
  hasMergeKey,
  isObject,
  isPrimitive,
  type JsonObject,
  jsonEqual,
  own,
  setOwn,
} from './json-value.js'

// ---------------------------------------------------------------------------------------------
// RFC 7386 JSON merge patch

/**
 * Applies an RFC 7386 JSON merge patch: objects merge key by key, `null` deletes a key, and
 * anything else (arrays included) replaces the target wholesale.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  return mergePatchOwned(cloneJson(target), patch)
}

/** The RFC 7386 algorithm on a `target` this module owns (a clone), so it may be reused. */
function mergePatchOwned(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return cloneJson(patch)
  const result: JsonObject = isObject(target) ? target : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key]
    else setOwn(result, key, mergePatchOwned(own(result, key), value))
  }
  return result
}

// ---------------------------------------------------------------------------------------------
// RFC 6902 JSON patch

/** A JSON-pointer problem found while applying one operation; becomes a BadRequestError. */
class PointerError extends Error {
  override name = 'PointerError'
}

/** Parses an RFC 6901 JSON pointer into its unescaped reference tokens. */
function parsePointer(pointer: string): string[] {
  if (pointer === '') return []
  if (!pointer.startsWith('/')) throw new PointerError(`invalid JSON pointer ${JSON.stringify(pointer)}`)
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~[^01]|~$/.test(token))
        throw new PointerError(`invalid escape in JSON pointer ${JSON.stringify(pointer)}`)
      return token.replace(/~1/g, '/').replace(/~0/g, '~')
    })
}

function arrayIndex(token: string, length: number, allowEnd: boolean, where: string): number {
  if (allowEnd && token === '-') return length
  if (!/^(0|[1-9][0-9]*)$/.test(token))
    throw new PointerError(`${where}: ${JSON.stringify(token)} is not an array index`)
  const index = Number(token)
  if (index > length || (!allowEnd && index === length)) {
    throw new PointerError(`${where}: index ${index} is out of bounds (length ${length})`)
  }
  return index
}

function pointerOf(tokens: string[]): string {
  return tokens.map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('')
}

/** The value at `tokens`; a missing location is an error. */
function getAt(doc: unknown, tokens: string[]): unknown {
  let node = doc
  tokens.forEach((token, i) => {
    const where = `path ${pointerOf(tokens.slice(0, i + 1))}`
    if (Array.isArray(node)) node = node[arrayIndex(token, node.length, false, where)]
    else if (isObject(node) && Object.hasOwn(node, token)) node = node[token]
    else throw new PointerError(`${where} does not exist`)
  })
  return node
}

/** The container holding the last token of `tokens` (which must not be empty). */
function parentOf(doc: unknown, tokens: string[]): unknown[] | JsonObject {
  const parent = getAt(doc, tokens.slice(0, -1))
  if (Array.isArray(parent) || isObject(parent)) return parent
  throw new PointerError(`path ${pointerOf(tokens.slice(0, -1))} is not an object or array`)
}

function addAt(doc: unknown, tokens: string[], value: unknown): unknown {
  if (tokens.length === 0) return value
  const parent = parentOf(doc, tokens)
  const last = tokens[tokens.length - 1]!
  if (Array.isArray(parent))
    parent.splice(arrayIndex(last, parent.length, true, `path ${pointerOf(tokens)}`), 0, value)
  else setOwn(parent, last, value)
  return doc
}

function removeAt(doc: unknown, tokens: string[]): unknown {
  if (tokens.length === 0) throw new PointerError('cannot remove the whole document')
  const parent = parentOf(doc, tokens)
  const last = tokens[tokens.length - 1]!
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(last, parent.length, false, `path ${pointerOf(tokens)}`), 1)
  } else {
    if (!Object.hasOwn(parent, last)) throw new PointerError(`path ${pointerOf(tokens)} does not exist`)
    delete parent[last]
  }
  return doc
}

function replaceAt(doc: unknown, tokens: string[], value: unknown): unknown {
  if (tokens.length === 0) return value
  getAt(doc, tokens) // the target must exist (RFC 6902 §4.3)
  const parent = parentOf(doc, tokens)
  const last = tokens[tokens.length - 1]!
  if (Array.isArray(parent))
    parent[arrayIndex(last, parent.length, false, `path ${pointerOf(tokens)}`)] = value
  else setOwn(parent, last, value)
  return doc
}

/**
 * Applies an RFC 6902 JSON patch: an array of `add`, `remove`, `replace`, `move`, `copy` and
 * `test` operations, in order, all or nothing. Members an operation does not use are ignored
 * (RFC 6902 §4). A malformed operation, a path that does not resolve, or a failed `test` is a
 * `BadRequestError` naming the operation's index.
 *
 * A failed `test` answers 400 here; Kubernetes answers 422 (Invalid) for patches that parse
 * but cannot be applied. Both tell kubectl the patch was refused, and keeping one status for
 * every patch failure lets callers handle them alike.
 */
export function applyJsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops))
    throw new BadRequestError('json patch: the patch must be a JSON array of operations')
  let doc = cloneJson(target)
  ops.forEach((operation, index) => {
    doc = applyJsonPatchOperation(doc, operation, index)
  })
  return doc
}

function applyJsonPatchOperation(doc: unknown, operation: unknown, index: number): unknown {
  const fail = (what: string, message: string) =>
    new BadRequestError(`json patch operation ${index}${what}: ${message}`)
  if (!isObject(operation)) throw fail('', 'an operation must be a JSON object')
  const op = own(operation, 'op')
  const path = own(operation, 'path')
  if (typeof op !== 'string') throw fail('', 'missing "op" string')
  if (typeof path !== 'string') throw fail(` (${op})`, 'missing "path" string')
  const what = ` (${op} ${path})`
  const value = () => {
    if (!Object.hasOwn(operation, 'value')) throw fail(what, 'missing "value"')
    return cloneJson(operation.value)
  }
  const from = () => {
    const f = own(operation, 'from')
    if (typeof f !== 'string') throw fail(what, 'missing "from" string')
    return parsePointer(f)
  }
  try {
    const tokens = parsePointer(path)
    switch (op) {
      case 'add':
        return addAt(doc, tokens, value())
      case 'remove':
        return removeAt(doc, tokens)
      case 'replace':
        return replaceAt(doc, tokens, value())
      case 'move': {
        const source = from()
        const moved = getAt(doc, source)
        if (source.length === tokens.length && source.every((t, i) => t === tokens[i])) return doc
        if (source.length < tokens.length && source.every((t, i) => t === tokens[i])) {
          throw new PointerError(`cannot move ${pointerOf(source)} into its own child`)
        }
        return addAt(removeAt(doc, source), tokens, moved)
      }
      case 'copy':
        return addAt(doc, tokens, cloneJson(getAt(doc, from())))
      case 'test': {
        const expected = value()
        if (!jsonEqual(getAt(doc, tokens), expected)) {
          throw new PointerError(`test failed: the value is not ${JSON.stringify(expected)}`)
        }
        return doc
      }
      default:
        throw new PointerError(`unknown op ${JSON.stringify(op)}`)
    }
  } catch (err) {
    // Pointer problems become the 400 for this operation; anything else is a bug and rethrown.
    if (err instanceof PointerError) throw fail(what, err.message)
    throw err
  }
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

/**
 * How a strategic merge patch treats one field: the `patchStrategy` / `patchMergeKey` struct
 * tags of k8s.io/api. A field without an entry is a map merged recursively, or a list replaced
 * atomically.
 */
export interface FieldStrategy {
  /** A list of objects merged item by item on this key (`patchStrategy:"merge"`). */
  readonly mergeKey?: string
  /** A list of primitives merged as a set (`patchStrategy:"merge"` on a `[]string`). */
  readonly primitiveSet?: boolean
  /**
   * `patchStrategy:"merge,retainKeys"`: kubectl sends a `$retainKeys` list in each item. The
   * directive is honoured wherever it appears (as Kubernetes does); this flag documents where
   * kubectl puts it.
   */
  readonly retainKeys?: boolean
  /** The strategies of the fields below: of this object, or of each item of this list. */
  readonly fields?: PatchSchema
  /**
   * Server-side apply keys the items by these fields (`x-kubernetes-list-map-keys`) where they
   * differ from `mergeKey`: ports by port and protocol (protocol TCP when absent), so that a
   * Service may serve 53 over TCP and UDP. Strategic merge patch keeps `mergeKey` alone.
   */
  readonly applyKeys?: readonly string[]
}

/** Patch strategies of an object's fields, by field name. */
export type PatchSchema = { readonly [field: string]: FieldStrategy }

const containerSchema: PatchSchema = {
  ports: { mergeKey: 'containerPort', applyKeys: ['containerPort', 'protocol'] },
  env: { mergeKey: 'name' },
  volumeMounts: { mergeKey: 'mountPath' },
  volumeDevices: { mergeKey: 'devicePath' },
}

const podSpecSchema: PatchSchema = {
  containers: { mergeKey: 'name', fields: containerSchema },
  initContainers: { mergeKey: 'name', fields: containerSchema },
  ephemeralContainers: { mergeKey: 'name', fields: containerSchema },
  imagePullSecrets: { mergeKey: 'name' },
  volumes: { mergeKey: 'name', retainKeys: true },
  hostAliases: { mergeKey: 'ip' },
  topologySpreadConstraints: { mergeKey: 'topologyKey' },
}

const objectMeta: FieldStrategy = {
  fields: { ownerReferences: { mergeKey: 'uid' }, finalizers: { primitiveSet: true } },
}

const statusWithConditions: FieldStrategy = { fields: { conditions: { mergeKey: 'type' } } }

/**
 * The strategic-merge schema of each core/v1 kind Shoal serves, from the patch tags of
 * k8s.io/api v0.32 (table in kubectl-compat.md §3.2). Only the listed fields merge; every
 * other list is atomic.
 */
const STRATEGIC_MERGE_SCHEMAS: { readonly [kind: string]: PatchSchema } = {
  Pod: {
    metadata: objectMeta,
    spec: { fields: podSpecSchema },
    status: {
      fields: { conditions: { mergeKey: 'type' }, podIPs: { mergeKey: 'ip' }, hostIPs: { mergeKey: 'ip' } },
    },
  },
  ReplicationController: {
    metadata: objectMeta,
    spec: { fields: { template: { fields: { metadata: objectMeta, spec: { fields: podSpecSchema } } } } },
    status: statusWithConditions,
  },
  Service: {
    metadata: objectMeta,
    spec: { fields: { ports: { mergeKey: 'port', applyKeys: ['port', 'protocol'] } } },
    status: statusWithConditions,
  },
  Endpoints: { metadata: objectMeta },
  Node: {
    metadata: objectMeta,
    status: { fields: { conditions: { mergeKey: 'type' }, addresses: { mergeKey: 'type' } } },
  },
  Namespace: { metadata: objectMeta, status: statusWithConditions },
  Event: { metadata: objectMeta },
  ConfigMap: { metadata: objectMeta },
}

/** The strategic-merge schema of `kind`, or undefined for a kind without one. */
export function strategicMergeSchemaFor(kind: string): PatchSchema | undefined {
  return Object.hasOwn(STRATEGIC_MERGE_SCHEMAS, kind) ? STRATEGIC_MERGE_SCHEMAS[kind] : undefined
}

const DIRECTIVE = '$patch'
const RETAIN_KEYS = '$retainKeys'
const SET_ELEMENT_ORDER = '$setElementOrder/'
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList/'

/** What merging a map with `$patch: delete` yields: the parent drops the key. */
const DELETED: unique symbol = Symbol('deleted')

function smpError(path: string, message: string): BadRequestError {
  return new BadRequestError(`strategic merge patch${path ? ` at ${path}` : ''}: ${message}`)
}

/**
 * Applies a Kubernetes strategic merge patch to an object of `kind` (one of the core/v1 kinds
 * with a schema; others are 415 UnsupportedMediaType, as Kubernetes answers for custom
 * resources). Lists with a merge key merge item by item, `metadata.finalizers` merges as a set,
 * every other list is replaced, maps merge recursively and `null` deletes a key. Directives:
 * `$patch: delete | replace | merge` (in a map or a list item), `$setElementOrder/<list>`,
 * `$retainKeys`, `$deleteFromPrimitiveList/<list>`; none of them reaches the result.
 *
 * Ordering follows the Kubernetes implementation (not its design doc): without
 * `$setElementOrder`, patched items take the patch's order and are interleaved with the
 * server-only items by their live positions, so an item new to the list comes first.
 *
 * Where Kubernetes copies a patch value verbatim (a key absent from the live object, a list item
 * new to the list, a `$patch: replace` body), this applies the patch to an empty value instead,
 * so nested nulls and directives are processed rather than stored. `$patch: delete` in a map
 * removes the key (Kubernetes leaves `{}` there); on the whole object it is a BadRequestError.
 * `$patch: merge` is accepted as the explicit default (Kubernetes rejects it in maps).
 * `$setElementOrder` on an atomic list is ignored (kubectl only sends it for merged lists).
 */
export function applyStrategicMergePatch(target: unknown, patch: unknown, kind: string): unknown {
  const schema = strategicMergeSchemaFor(kind)
  if (schema === undefined) {
    throw new StoreError(
      415,
      'UnsupportedMediaType',
      `strategic merge patch is not supported for kind ${JSON.stringify(kind)}; use application/merge-patch+json or application/json-patch+json`,
    )
  }
  if (!isObject(patch)) throw smpError('', 'the patch must be a JSON object')
  if (!isObject(target)) throw smpError('', 'the target must be a JSON object')
  const result = smpMergeMap(cloneJson(target) as JsonObject, patch, schema, '')
  if (result === DELETED) throw smpError('', '$patch: delete cannot delete the whole object')
  return result
}

/** Merges `patch` into a copy of `original` (undefined: into an empty map). */
function smpMergeMap(
  original: JsonObject | undefined,
  patch: JsonObject,
  schema: PatchSchema | undefined,
  path: string,
): JsonObject | typeof DELETED {
  const directive = own(patch, DIRECTIVE)
  if (directive === 'delete') return DELETED
  if (directive === 'replace') {
    const body = { ...patch }
    delete body[DIRECTIVE]
    return smpMergeMap(undefined, body, schema, path)
  }
  if (directive !== undefined && directive !== 'merge') {
    throw smpError(path, `unknown $patch directive ${JSON.stringify(directive)}`)
  }

  const result: JsonObject = original === undefined ? {} : { ...original }

  // $retainKeys: drop live keys it does not list; the patch may set only listed keys.
  const retain = own(patch, RETAIN_KEYS)
  if (retain !== undefined) {
    if (!Array.isArray(retain) || !retain.every((k) => typeof k === 'string')) {
      throw smpError(path, '$retainKeys must be a list of strings')
    }
    const keep = new Set<string>(retain)
    for (const [key, value] of Object.entries(patch)) {
      if (value !== null && !key.startsWith('$') && !keep.has(key)) {
        throw smpError(path, `the patch sets ${JSON.stringify(key)}, which $retainKeys does not list`)
      }
    }
    for (const key of Object.keys(result)) if (!keep.has(key)) delete result[key]
  }

  // $setElementOrder/<list>: merge that list now, then impose the order.
  const ordered = new Set<string>()
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER)) continue
    const field = key.slice(SET_ELEMENT_ORDER.length)
    if (field === '') throw smpError(path, `bad directive ${JSON.stringify(key)}`)
    const strategy = schema?.[field]
    if (strategy?.mergeKey === undefined && !strategy?.primitiveSet) continue // atomic: see doc
    ordered.add(field)
    const merged = smpSetElementOrder(result, patch, field, order, strategy, childPath(path, field))
    if (merged !== undefined) setOwn(result, field, merged)
  }

  const deletions: [string, unknown][] = []
  for (const [key, value] of Object.entries(patch)) {
    if (key === DIRECTIVE || key === RETAIN_KEYS || key.startsWith(SET_ELEMENT_ORDER)) continue
    if (key.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      deletions.push([key.slice(DELETE_FROM_PRIMITIVE_LIST.length), value])
      continue
    }
    if (key.startsWith('$')) throw smpError(path, `unknown directive ${JSON.stringify(key)}`)
    if (ordered.has(key)) continue
    if (value === null) {
      delete result[key]
      continue
    }
    const merged = smpMergeValue(own(result, key), value, schema?.[key], childPath(path, key))
    if (merged === DELETED) delete result[key]
    else setOwn(result, key, merged)
  }

  // $deleteFromPrimitiveList/<list>: after the merge, as in Kubernetes; a missing list stays
  // missing (Kubernetes' own tests pin that down).
  for (const [field, values] of deletions) {
    const where = childPath(path, `${DELETE_FROM_PRIMITIVE_LIST}${field}`)
    if (field === '' || !Array.isArray(values) || !values.every(isPrimitive)) {
      throw smpError(where, 'must name a list and hold a list of primitive values')
    }
    const live = own(result, field)
    if (Array.isArray(live))
      setOwn(
        result,
        field,
        live.filter((item) => !values.includes(item)),
      )
  }
  return result
}

/** Merges one patch value into the live value of a field. */
function smpMergeValue(
  live: unknown,
  value: unknown,
  strategy: FieldStrategy | undefined,
  path: string,
): unknown | typeof DELETED {
  if (isObject(value)) return smpMergeMap(isObject(live) ? live : undefined, value, strategy?.fields, path)
  if (Array.isArray(value)) {
    if (strategy?.mergeKey !== undefined || strategy?.primitiveSet) {
      return smpMergeList(Array.isArray(live) ? live : [], value, strategy, path)
    }
    return smpAtomicList(value, strategy?.fields, path)
  }
  return value
}

/** An atomic list from the patch, its items' nested directives applied. */
function smpAtomicList(value: unknown[], fields: PatchSchema | undefined, path: string): unknown[] {
  const out: unknown[] = []
  value.forEach((item, i) => {
    if (isObject(item)) {
      // A bare `{"$patch":"replace"}` marker says "replace the list", which atomic lists do anyway.
      if (own(item, DIRECTIVE) === 'replace' && Object.keys(item).length === 1) return
      const merged = smpMergeMap(undefined, item, fields, `${path}[${i}]`)
      if (merged !== DELETED) out.push(merged)
    } else if (Array.isArray(item)) {
      out.push(smpAtomicList(item, undefined, `${path}[${i}]`))
    } else {
      out.push(item)
    }
  })
  return out
}

/** The merge-key value of a list item, or the item itself for primitive lists. */
function keyOf(item: unknown, mergeKey: string | undefined): unknown {
  if (mergeKey === undefined) return item
  return isObject(item) ? own(item, mergeKey) : undefined
}

function indexIn(list: readonly unknown[], item: unknown, mergeKey: string | undefined): number {
  const key = keyOf(item, mergeKey)
  return list.findIndex((x) => keyOf(x, mergeKey) === key)
}

/** Stable sort of `items` by their position in `order`; items not in `order` go last. */
function sortByOrder(items: unknown[], order: readonly unknown[], mergeKey: string | undefined): unknown[] {
  return items
    .map((item, i) => ({ item, i, at: indexIn(order, item, mergeKey) }))
    .sort((a, b) => {
      const ax = a.at < 0 ? Number.POSITIVE_INFINITY : a.at
      const bx = b.at < 0 ? Number.POSITIVE_INFINITY : b.at
      return ax === bx ? a.i - b.i : ax - bx
    })
    .map((x) => x.item)
}

/**
 * Kubernetes' `normalizeElementOrder` + `mergeSortedSlice`: patch items in `patchOrder`,
 * server-only items in `serverOrder`, then interleaved: a server-only item goes first only when
 * both it and the next patch item are in the live list and it came before that item there.
 */
function normalizeElementOrder(
  patchItems: unknown[],
  serverOnly: unknown[],
  patchOrder: readonly unknown[],
  serverOrder: readonly unknown[],
  mergeKey: string | undefined,
): unknown[] {
  const right = sortByOrder(patchItems, patchOrder, mergeKey)
  const left = sortByOrder(serverOnly, serverOrder, mergeKey)
  const out: unknown[] = []
  let i = 0
  let j = 0
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++])
    else if (j >= right.length) out.push(left[i++])
    else {
      const li = indexIn(serverOrder, left[i], mergeKey)
      const ri = indexIn(serverOrder, right[j], mergeKey)
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++])
      else out.push(right[j++])
    }
  }
  return out
}

/** Splits `merged` into the items present in `by` (by merge key or value) and the rest. */
function partition(
  merged: unknown[],
  by: readonly unknown[],
  mergeKey: string | undefined,
): [unknown[], unknown[]] {
  const inPatch: unknown[] = []
  const serverOnly: unknown[] = []
  for (const item of merged) (indexIn(by, item, mergeKey) >= 0 ? inPatch : serverOnly).push(item)
  return [inPatch, serverOnly]
}

/** Kubernetes' `mergeSlice`: a list with a merge key, or a primitive set. */
function smpMergeList(live: unknown[], patch: unknown[], strategy: FieldStrategy, path: string): unknown[] {
  const mergeKey = strategy.mergeKey
  if (mergeKey === undefined) {
    if (!patch.every(isPrimitive)) throw smpError(path, 'items of this list must be primitive values')
    if (live.length === 0 && patch.length === 0) return []
    const merged: unknown[] = []
    for (const item of [...live, ...patch]) if (!merged.includes(item)) merged.push(item)
    const [inPatch, serverOnly] = partition(merged, patch, undefined)
    return normalizeElementOrder(inPatch, serverOnly, patch, live, undefined)
  }

  let base = [...live]
  const plain: JsonObject[] = []
  let replace = false
  patch.forEach((item, i) => {
    if (!isObject(item)) throw smpError(`${path}[${i}]`, 'items of this list must be objects')
    const directive = own(item, DIRECTIVE)
    if (directive === undefined) plain.push(item)
    else if (directive === 'replace') replace = true
    else if (directive === 'delete') {
      if (!Object.hasOwn(item, mergeKey)) {
        throw smpError(`${path}[${i}]`, `does not contain declared merge key ${JSON.stringify(mergeKey)}`)
      }
      base = base.filter((x) => !(hasMergeKey(x, mergeKey) && x[mergeKey] === item[mergeKey]))
    } else if (directive === 'merge') {
      // The explicit default; a bare marker (no merge key) says nothing more.
      if (Object.hasOwn(item, mergeKey)) plain.push(item)
    } else {
      throw smpError(`${path}[${i}]`, `unknown $patch directive ${JSON.stringify(directive)}`)
    }
  })

  const itemPath = (item: JsonObject) => `${path}[${mergeKey}=${JSON.stringify(item[mergeKey])}]`
  if (replace) {
    // `{"$patch":"replace"}` in a list: the other items are the whole new list, in their order.
    const out: unknown[] = []
    for (const item of plain) {
      const merged = smpMergeMap(undefined, item, strategy.fields, path)
      if (merged !== DELETED) out.push(merged)
    }
    return out
  }

  const merged: unknown[] = [...base]
  for (const item of plain) {
    if (!Object.hasOwn(item, mergeKey)) {
      throw smpError(
        path,
        `item ${JSON.stringify(item)} does not contain declared merge key ${JSON.stringify(mergeKey)}`,
      )
    }
    const at = merged.findIndex((x) => hasMergeKey(x, mergeKey) && x[mergeKey] === item[mergeKey])
    const existing = at >= 0 ? merged[at] : undefined
    const result = smpMergeMap(
      isObject(existing) ? existing : undefined,
      item,
      strategy.fields,
      itemPath(item),
    )
    if (result === DELETED) {
      if (at >= 0) merged.splice(at, 1)
    } else if (at >= 0) merged[at] = result
    else merged.push(result)
  }
  const [inPatch, serverOnly] = partition(merged, plain, mergeKey)
  return normalizeElementOrder(inPatch, serverOnly, plain, base, mergeKey)
}

/**
 * Kubernetes' `mergePatchIntoOriginal` for one `$setElementOrder/<field>`: validates the order
 * list against the patch list, merges the list, then orders the items named by the directive
 * by it and interleaves the live-only items by their live positions. Returns the new list, or
 * undefined when neither the live object nor the patch has the list.
 */
function smpSetElementOrder(
  result: JsonObject,
  patch: JsonObject,
  field: string,
  order: unknown,
  strategy: FieldStrategy,
  path: string,
): unknown[] | undefined {
  const mergeKey = strategy.mergeKey
  const where = `$setElementOrder/${field}`
  if (!Array.isArray(order)) throw smpError(path, `${where} must be a list`)
  order.forEach((item) => {
    if (mergeKey === undefined ? !isPrimitive(item) : !hasMergeKey(item, mergeKey)) {
      throw smpError(
        path,
        `${where}: ${JSON.stringify(item)} ${mergeKey ? `lacks merge key ${mergeKey}` : 'is not a primitive'}`,
      )
    }
  })
  const liveValue = own(result, field)
  const patchValue = own(patch, field)
  const live = Array.isArray(liveValue) ? liveValue : undefined
  if (patchValue !== undefined && !Array.isArray(patchValue))
    throw smpError(path, `must be a list alongside ${where}`)
  if (live === undefined && patchValue === undefined) return undefined

  // The patch items (deletions and other directives aside) must appear in the same relative
  // order as in the directive, and all of them in it.
  if (patchValue !== undefined && order.length > 0) {
    const items = patchValue.filter((x) => !(isObject(x) && Object.hasOwn(x, DIRECTIVE)))
    let oi = 0
    for (const item of items) {
      if (mergeKey !== undefined && !hasMergeKey(item, mergeKey)) {
        throw smpError(
          path,
          `item ${JSON.stringify(item)} does not contain declared merge key ${JSON.stringify(mergeKey)}`,
        )
      }
      while (oi < order.length && keyOf(order[oi], mergeKey) !== keyOf(item, mergeKey)) oi++
      if (oi === order.length) throw smpError(path, `the order in the patch list doesn't match ${where}`)
      oi++
    }
  }

  const merged = smpMergeList(live ?? [], patchValue ?? [], strategy, path)
  const [inOrder, serverOnly] = partition(merged, order, mergeKey)
  return normalizeElementOrder(inOrder, serverOnly, order, live ?? [], mergeKey)
}

/**
 * The patch `shoal apply` sends: a three-way JSON merge patch (RFC 7386) computed from the last
 * applied configuration (the `kubectl.kubernetes.io/last-applied-configuration` annotation),
 * the new manifest and the live object, in the spirit of kubectl's
 * `CreateThreeWayJSONMergePatch`. Pure: data in, data out.
 *
 * - A field the last applied configuration had and the manifest no longer has is deleted (null).
 * - A field the manifest sets is sent when the live object differs from it; maps are compared
 *   key by key, so fields the server added (defaults, status) are left alone.
 * - Lists are never merged: a JSON merge patch replaces a list whole. A list is sent when it
 *   changed since the last apply, or when the live list no longer contains what the manifest
 *   says (other length, or an element missing a value the manifest gives). Elements the server
 *   only completed with defaults (a container's imagePullPolicy) do not count as a change.
 *   Unlike kubectl's strategic merge for built-in kinds, list elements added by someone else
 *   are therefore replaced too, not kept.
 */

import { sortKeys } from './printers.js'

/** The annotation holding the configuration last applied, as JSON. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Whether two JSON values are equal (key order aside). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]))
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a)
    if (ka.length !== Object.keys(b).length) return false
    return ka.every((k) => k in b && deepEqual(a[k], b[k]))
  }
  return false
}

/**
 * Whether `live` holds everything `wanted` says: equal scalars, lists of the same length whose
 * elements hold the wanted ones, maps with every wanted key held (extra keys allowed).
 */
export function holds(live: unknown, wanted: unknown): boolean {
  if (Array.isArray(wanted)) {
    return Array.isArray(live) && live.length === wanted.length && wanted.every((w, i) => holds(live[i], w))
  }
  if (isObject(wanted)) return isObject(live) && Object.keys(wanted).every((k) => holds(live[k], wanted[k]))
  return live === wanted
}

/**
 * The JSON merge patch that takes `current` to what `modified` says, deleting what `original`
 * (the last applied configuration; undefined when unknown) had and `modified` dropped. `{}`
 * means nothing to change.
 */
export function threeWayMergePatch(
  original: Record<string, unknown> | undefined,
  modified: Record<string, unknown>,
  current: Record<string, unknown>,
): Record<string, unknown> {
  return diffMaps(original as JsonObject | undefined, modified as JsonObject, current as JsonObject)
}

function diffMaps(original: JsonObject | undefined, modified: JsonObject, current: JsonObject): JsonObject {
  const patch: JsonObject = {}
  if (original) {
    for (const key of Object.keys(original)) {
      if (!(key in modified) && key in current) patch[key] = null
    }
  }
  for (const [key, wanted] of Object.entries(modified)) {
    const live = current[key]
    const before = original?.[key]
    if (isObject(wanted)) {
      if (isObject(live)) {
        const sub = diffMaps(isObject(before) ? before : undefined, wanted, live)
        if (Object.keys(sub).length > 0) patch[key] = sub
      } else {
        patch[key] = wanted
      }
    } else if (Array.isArray(wanted)) {
      const changedSinceLastApply = before !== undefined && !deepEqual(before, wanted)
      if (changedSinceLastApply || !holds(live, wanted)) patch[key] = wanted
    } else if (wanted === null) {
      if (live !== undefined && live !== null) patch[key] = null
    } else if (live !== wanted) {
      patch[key] = wanted
    }
  }
  return patch
}

/**
 * The manifest as apply stores it and sends it: namespace set, and the last-applied annotation
 * holding the manifest itself (without that annotation), keys sorted, as kubectl writes it.
 */
export function withLastApplied(manifest: Record<string, unknown>): {
  modified: Record<string, unknown>
  lastApplied: string
} {
  const copy = structuredClone(manifest) as JsonObject
  const metadata = (isObject(copy.metadata) ? copy.metadata : {}) as JsonObject
  const annotations = (isObject(metadata.annotations) ? metadata.annotations : {}) as JsonObject
  delete annotations[LAST_APPLIED_ANNOTATION]
  metadata.annotations = annotations
  copy.metadata = metadata
  const lastApplied = `${JSON.stringify(sortKeys(copy))}\n`
  const modified = structuredClone(copy)
  ;((modified.metadata as JsonObject).annotations as JsonObject)[LAST_APPLIED_ANNOTATION] = lastApplied
  return { modified, lastApplied }
}

/** The last applied configuration an object carries, or undefined (absent or not JSON). */
export function lastAppliedOf(object: {
  metadata?: { annotations?: Record<string, string> }
}): Record<string, unknown> | undefined {
  const text = object.metadata?.annotations?.[LAST_APPLIED_ANNOTATION]
  if (!text) return undefined
  try {
    const parsed: unknown = JSON.parse(text)
    return isObject(parsed) ? parsed : undefined
  } catch {
    // A hand-edited, broken annotation: apply as if there were none (nothing gets deleted).
    return undefined
  }
}

/**
 * Helpers for JSON values as `JSON.parse` returns them, shared by the patch formats and
 * server-side apply. Keys are read with `Object.hasOwn` and written with `defineProperty`, so
 * keys like `__proto__` or `constructor` are plain data and never reach a prototype.
 */

/** A JSON object as `JSON.parse` returns it. */
export type JsonObject = { [key: string]: unknown }

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function own(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined
}

export function setOwn(obj: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
}

export function cloneJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneJson)
  if (!isObject(value)) return value
  const copy: JsonObject = {}
  for (const [key, child] of Object.entries(value)) setOwn(copy, key, cloneJson(child))
  return copy
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]))
  }
  if (isObject(a)) {
    if (!isObject(b)) return false
    const keys = Object.keys(a)
    return (
      keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]))
    )
  }
  return a === b
}

export function isPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function')
}

/** True when `item` is an object holding the list's merge key (`name`, `containerPort`, …). */
export function hasMergeKey(item: unknown, mergeKey: string): item is JsonObject {
  return isObject(item) && Object.hasOwn(item, mergeKey)
}

/** `path.key`, or `key` at the top. */
export function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key
}

/** JSON values in tests: what `JSON.parse` gives, frozen when a function must not change it. */

export type Json = { [key: string]: unknown }

/** Freezes `value` and everything in it (a function under test that mutates it then throws). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}

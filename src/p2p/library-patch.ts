/**
 * Replacing a library's method on its prototype, once: the few places where Shoal changes how
 * a dependency behaves (yamux-window.ts, length-prefix-end.ts), each checked by a test against
 * the installed version. A method that is no longer there fails loudly instead of the patch
 * silently doing nothing.
 */

const patched = new WeakMap<object, Set<string>>()

/** Puts `wrap(original)` in place of `proto[method]`; a second call for the same method does nothing. */
export function patchMethodOnce<F extends (...args: never[]) => unknown>(
  proto: object,
  method: string,
  library: string,
  wrap: (original: F) => F,
): void {
  const done = patched.get(proto) ?? new Set<string>()
  if (done.has(method)) return
  const methods = proto as Record<string, unknown>
  const original = methods[method]
  if (typeof original !== 'function') throw new Error(`${library}: no ${method} to patch (library changed?)`)
  methods[method] = wrap(original as F)
  done.add(method)
  patched.set(proto, done)
}

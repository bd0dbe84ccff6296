/**
 * Coalescing of frames bound for one stream. Every `send` on a libp2p stream becomes its own
 * yamux frame, its own noise message (encrypted and authenticated) and two socket writes on
 * each side, whatever its size: under load that per-message cost, not the bytes, is what
 * the p2p layer spends its CPU on (docs/BENCHMARKS.md, "API writes"). So the long-lived
 * streams (Raft's, the leader channel's) queue what is produced in one turn of the event loop
 * and hand it to the stream as one buffer at the end of the turn.
 *
 *   queue.push(frame); if (!scheduled) { scheduled = true; defaultDefer(flush) }
 *   // in flush: const { bytes, count } = takeFrames(queue, COALESCE_MAX_BYTES); stream.send(bytes)
 */

/** Runs `fn` later, once the current turn of the event loop is done. */
export type Defer = (fn: () => void) => void

/**
 * The default `Defer`: `setImmediate`, which runs after every I/O callback of the current
 * poll phase (so the answers of a whole applied batch, or the requests of every HTTP request
 * read in one poll, leave together) and adds no timer delay.
 */
export const defaultDefer: Defer = (fn) => {
  setImmediate(fn)
}

/** The most bytes joined into one send; a larger frame still goes alone. */
export const COALESCE_MAX_BYTES = 256 * 1024

/**
 * Takes frames from the front of `queue` (at least one; more while they fit in `maxBytes`)
 * and returns them joined into one buffer, with how many they were. The queue must not be
 * empty.
 */
export function takeFrames(queue: Uint8Array[], maxBytes: number): { bytes: Uint8Array; count: number } {
  let count = 1
  let total = queue[0]!.length
  while (count < queue.length && total + queue[count]!.length <= maxBytes) {
    total += queue[count]!.length
    count++
  }
  if (count === 1) return { bytes: queue.shift()!, count }
  const bytes = new Uint8Array(total)
  let at = 0
  for (const frame of queue.splice(0, count)) {
    bytes.set(frame, at)
    at += frame.length
  }
  return { bytes, count }
}

/**
 * `InmemStore`: a `LogStore` and `StableStore` in memory, for tests and simulations.
 *
 * It behaves like a durable store that never loses a write (there is no crash to survive),
 * copies everything in and out so callers cannot alias its state, and can be told to fail
 * writes so Raft's disk-error paths can be exercised.
 */

import type { LogEntry, LogStore } from './log.js'
import type { StableStore } from './stable.js'

/** The error an `InmemStore` write rejects with when a failure was injected. */
export class InjectedWriteError extends Error {
  override name = 'InjectedWriteError'
  constructor(readonly operation: string) {
    super(`inmem store: injected failure of ${operation}`)
  }
}

/**
 * A `LogStore` and `StableStore` held in memory. Unbounded: it keeps every entry until
 * `deleteRange` removes it, as a disk would.
 *
 * Fault injection: while `failWrites` is true, or for the next `n` writes after
 * `failNextWrites(n)`, every write (`storeLogs`, `deleteRange`, `set`, `setUint64`) rejects
 * with an `InjectedWriteError` and changes nothing. Reads always succeed.
 */
export class InmemStore implements LogStore, StableStore {
  /** While true, every write rejects with an `InjectedWriteError`. */
  failWrites = false

  private failCount = 0
  private readonly logs = new Map<number, LogEntry>()
  private readonly kv = new Map<string, Uint8Array>()
  // Tracked rather than scanned for: Raft asks for them on every append.
  private low = 0
  private high = 0

  /** Makes the next `n` writes reject with an `InjectedWriteError` (on top of `failWrites`). */
  failNextWrites(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`failNextWrites: n ${n} is not a count`)
    this.failCount = n
  }

  async firstIndex(): Promise<number> {
    return this.low
  }

  async lastIndex(): Promise<number> {
    return this.high
  }

  async getLog(index: number): Promise<LogEntry | undefined> {
    const entry = this.logs.get(index)
    return entry ? copyEntry(entry) : undefined
  }

  async getLogs(min: number, max: number): Promise<LogEntry[]> {
    const out: LogEntry[] = []
    for (let i = min; i <= max; i++) {
      const entry = this.logs.get(i)
      if (!entry) break
      out.push(copyEntry(entry))
    }
    return out
  }

  async storeLogs(entries: LogEntry[]): Promise<void> {
    for (const entry of entries) {
      // The same check LevelStore's codec makes, so a test cannot pass here and fail on disk.
      if (!Number.isSafeInteger(entry.index) || entry.index < 1) {
        throw new RangeError(`storeLogs: index ${entry.index} is not an integer in 1..2^53-1`)
      }
    }
    this.maybeFail('storeLogs')
    for (const entry of entries) {
      this.logs.set(entry.index, copyEntry(entry))
      if (this.low === 0 || entry.index < this.low) this.low = entry.index
      if (entry.index > this.high) this.high = entry.index
    }
  }

  async deleteRange(min: number, max: number): Promise<void> {
    this.maybeFail('deleteRange')
    const lo = Math.max(min, this.low)
    const hi = Math.min(max, this.high)
    if (this.logs.size === 0 || lo > hi) return
    // Whichever is shorter: the range, or what is held (Raft truncates up to MAX_SAFE_INTEGER).
    if (hi - lo + 1 <= this.logs.size) {
      for (let i = lo; i <= hi; i++) this.logs.delete(i)
    } else {
      for (const index of [...this.logs.keys()]) if (index >= lo && index <= hi) this.logs.delete(index)
    }
    // Recomputed rather than derived from the range, so a gap in the log cannot fool them.
    if (lo === this.low || hi === this.high) {
      this.low = 0
      this.high = 0
      for (const index of this.logs.keys()) {
        if (this.low === 0 || index < this.low) this.low = index
        if (index > this.high) this.high = index
      }
    }
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    this.maybeFail('set')
    this.kv.set(key, new Uint8Array(value))
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const value = this.kv.get(key)
    return value ? new Uint8Array(value) : undefined
  }

  async setUint64(key: string, value: number): Promise<void> {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`setUint64 ${key}: ${value} is not an integer in 0..2^53-1`)
    }
    this.maybeFail('setUint64')
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setBigUint64(0, BigInt(value))
    this.kv.set(key, bytes)
  }

  async getUint64(key: string): Promise<number> {
    const bytes = this.kv.get(key)
    if (!bytes) return 0
    if (bytes.byteLength !== 8)
      throw new RangeError(`getUint64 ${key}: value has ${bytes.byteLength} bytes, not 8`)
    return Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0))
  }

  private maybeFail(operation: string): void {
    if (this.failWrites) throw new InjectedWriteError(operation)
    if (this.failCount > 0) {
      this.failCount--
      throw new InjectedWriteError(operation)
    }
  }
}

function copyEntry(entry: LogEntry): LogEntry {
  const copy: LogEntry = {
    index: entry.index,
    term: entry.term,
    type: entry.type,
    data: new Uint8Array(entry.data),
  }
  if (entry.appendedAtMs !== undefined) copy.appendedAtMs = entry.appendedAtMs
  return copy
}

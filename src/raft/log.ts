/**
 * The replicated log: entry types and the `LogStore` seam.
 */

/** What a log entry carries. Persisted: never renumber. */
export enum LogType {
  /** A client command for the FSM. */
  Command = 0,
  /** Appended by a new leader to commit entries of earlier terms (the paper's §8 no-op). */
  Noop = 1,
  /** A cluster configuration (membership change); `data` is an encoded `Configuration`. */
  Configuration = 2,
  /** Ensures every earlier entry is applied to the FSM before it resolves. */
  Barrier = 3,
}

/** One entry of the replicated log. Indexes start at 1; index 0 means "nothing". */
export interface LogEntry {
  index: number
  term: number
  type: LogType
  data: Uint8Array
  /** When the leader appended it (ms since epoch); informational, for metrics. */
  appendedAtMs?: number
}

/** How a write may be made; a store free to ignore it. */
export interface StoreLogsOptions {
  /**
   * The caller's thread has better things to do than wait for the disk (a leader, which also
   * serves the cluster's writes): write through a thread pool if the store can.
   */
  offThread?: boolean
}

/**
 * Durable storage for log entries. Indexes in the store are contiguous from `firstIndex()`
 * to `lastIndex()`; both are 0 when the store is empty.
 *
 * `storeLogs` must not resolve before the entries are durable: Raft replies to its leader,
 * and counts its own vote for commitment, only after that.
 */
export interface LogStore {
  firstIndex(): Promise<number>
  lastIndex(): Promise<number>
  /** The entry at `index`, or undefined when the store does not hold it. */
  getLog(index: number): Promise<LogEntry | undefined>
  /** Entries from `min` to `max` inclusive, stopping early at the first missing one. */
  getLogs?(min: number, max: number): Promise<LogEntry[]>
  /** Stores entries (replacing any at the same indexes), durably, atomically as a batch. */
  storeLogs(entries: LogEntry[], options?: StoreLogsOptions): Promise<void>
  /** Deletes entries from `min` to `max` inclusive. */
  deleteRange(min: number, max: number): Promise<void>
}

/** Reads `min..max` with `getLogs` when the store has it, entry by entry otherwise. */
export async function readLogs(store: LogStore, min: number, max: number): Promise<LogEntry[]> {
  if (max < min) return []
  if (store.getLogs) return store.getLogs(min, max)
  const out: LogEntry[] = []
  for (let i = min; i <= max; i++) {
    const entry = await store.getLog(i)
    if (!entry) break
    out.push(entry)
  }
  return out
}

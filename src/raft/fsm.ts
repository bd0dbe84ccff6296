/**
 * The finite state machine Raft replicates: the seam between consensus and the application.
 */

import type { LogEntry } from './log.js'
import type { SnapshotSink } from './snapshot.js'

/**
 * The application's state machine. Raft calls `apply` once per committed Command entry, in
 * log order, on every server; it must be deterministic. The value it returns (or resolves
 * to) is handed back to the `raft.apply()` caller on the leader.
 */
export interface FSM {
  apply(entry: LogEntry): unknown
  /**
   * A point-in-time snapshot. Called between applies; the FSM may go on applying while the
   * returned snapshot is persisted, so it must capture the state now.
   */
  snapshot(): Promise<FSMSnapshot>
  /** Replaces the whole state with a snapshot's data. */
  restore(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void>
}

/** A snapshot taken by the FSM, written out later. */
export interface FSMSnapshot {
  /** Writes the snapshot's bytes into `sink`; Raft closes (or cancels) the sink afterwards. */
  persist(sink: SnapshotSink): Promise<void>
  /** Called when Raft is done with the snapshot, whether it was persisted or not. */
  release(): void
}

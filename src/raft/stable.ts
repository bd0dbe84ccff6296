/**
 * `StableStore`: durable key-value storage for Raft's own state (current term, vote).
 */

/** Keys Raft writes to its StableStore. Persisted: never rename. */
export const StableKeys = {
  currentTerm: 'CurrentTerm',
  lastVoteTerm: 'LastVoteTerm',
  lastVoteCandidate: 'LastVoteCand',
} as const

/**
 * Small durable values. Every write must be durable before its promise resolves: a vote
 * or a term that is forgotten after a crash can elect two leaders in one term.
 */
export interface StableStore {
  set(key: string, value: Uint8Array): Promise<void>
  /** The value, or undefined when the key was never set. */
  get(key: string): Promise<Uint8Array | undefined>
  setUint64(key: string, value: number): Promise<void>
  /** The value, or 0 when the key was never set. */
  getUint64(key: string): Promise<number>
}

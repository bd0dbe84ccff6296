/**
 * Progress: what a leader knows of one follower's log, and the pure rules that move it
 * (after etcd-io/raft's tracker.Progress).
 *
 * - `probe`: one AppendEntries at a time, to find where the logs agree;
 * - `replicate`: logs agree; AppendEntries are pipelined, up to a bound in flight;
 * - `snapshot`: the entries it needs are compacted; a snapshot is being sent.
 */

export type ProgressMode = 'probe' | 'replicate' | 'snapshot'

/** A leader's view of one follower. */
export interface Progress {
  mode: ProgressMode
  /** The next index to send. */
  nextIndex: number
  /** The highest index known to be stored on the follower. */
  matchIndex: number
  /** AppendEntries sent and not answered yet. */
  inflight: number
}

/** A fresh follower: probe from just after the leader's last entry. */
export function newProgress(leaderLastIndex: number): Progress {
  return { mode: 'probe', nextIndex: leaderLastIndex + 1, matchIndex: 0, inflight: 0 }
}

/** Whether another AppendEntries may be sent now. */
export function canSend(p: Progress, maxInflight: number): boolean {
  if (p.mode === 'snapshot') return false
  if (p.mode === 'probe') return p.inflight === 0
  return p.inflight < maxInflight
}

/** A success for entries up to `lastIndex`: returns whether matchIndex moved. */
export function onAppendSuccess(p: Progress, lastIndex: number): boolean {
  let moved = false
  if (lastIndex > p.matchIndex) {
    p.matchIndex = lastIndex
    moved = true
  }
  if (p.nextIndex < p.matchIndex + 1) p.nextIndex = p.matchIndex + 1
  if (p.mode === 'probe') p.mode = 'replicate'
  return moved
}

/**
 * A rejection of an AppendEntries whose previous entry was `rejectedPrevIndex`. `hintIndex`
 * is where the leader should try next according to the follower's conflict hints (already
 * resolved against the leader's log). Returns false when the rejection is stale (an answer to
 * an older request) and changes nothing.
 */
export function onAppendRejected(p: Progress, rejectedPrevIndex: number, hintIndex: number): boolean {
  if (p.mode === 'replicate') {
    // Entries up to matchIndex are known to agree: a rejection at or below it is old news.
    if (rejectedPrevIndex <= p.matchIndex) return false
    p.mode = 'probe'
    p.nextIndex = Math.max(p.matchIndex + 1, Math.min(hintIndex, p.nextIndex))
    return true
  }
  if (p.mode === 'probe') {
    // Only the answer to the probe we sent last is news.
    if (rejectedPrevIndex !== p.nextIndex - 1) return false
    p.nextIndex = Math.max(p.matchIndex + 1, Math.min(hintIndex, rejectedPrevIndex))
    if (p.nextIndex < 1) p.nextIndex = 1
    return true
  }
  return false
}

/** The follower did not answer (timeout, unreachable): fall back to probing. */
export function onSendFailed(p: Progress): void {
  if (p.mode === 'replicate') {
    p.mode = 'probe'
    p.nextIndex = p.matchIndex + 1
  }
}

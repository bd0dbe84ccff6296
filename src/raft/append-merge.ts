/**
 * Follower-side group commit: AppendEntries requests that arrived together (read from the
 * leader's stream in one go, typically while the follower's previous write was syncing) are
 * joined into one when they continue each other, so the follower writes and syncs their entries
 * once instead of once each. Every request joined is answered with the joined one's answer:
 * success for a request means its entries (and everything before them) are on disk, which the
 * joined write guarantees for all of them. etcd's raft does the same by design (one Ready, one
 * WAL sync, for all the messages a follower received since the last one).
 */

import type { AppendEntriesRequest } from './transport.js'

/** A run of requests `[from, to)` of the input, and the one request that stands for it. */
export interface AppendGroup {
  from: number
  to: number
  request: AppendEntriesRequest
}

/**
 * Groups consecutive requests that continue each other: same leader and term, and each one's
 * previous entry is the last entry of the one before (index and term). Anything else (a
 * retransmission, a probe, a new leader) starts a group of its own; order is kept.
 */
export function groupAppends(requests: readonly AppendEntriesRequest[]): AppendGroup[] {
  const groups: AppendGroup[] = []
  for (let i = 0; i < requests.length; i++) {
    const req = requests[i]!
    const last = groups[groups.length - 1]
    if (last && continues(last.request, req)) {
      last.request = {
        ...last.request,
        entries: [...last.request.entries, ...req.entries],
        leaderCommit: Math.max(last.request.leaderCommit, req.leaderCommit),
      }
      last.to = i + 1
    } else {
      groups.push({ from: i, to: i + 1, request: req })
    }
  }
  return groups
}

function continues(before: AppendEntriesRequest, next: AppendEntriesRequest): boolean {
  const lastEntry = before.entries[before.entries.length - 1]
  return (
    next.term === before.term &&
    next.from.id === before.from.id &&
    next.prevLogIndex === before.prevLogIndex + before.entries.length &&
    next.prevLogTerm === (lastEntry ? lastEntry.term : before.prevLogTerm)
  )
}

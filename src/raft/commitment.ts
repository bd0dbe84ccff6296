/**
 * Commitment: the pure rules for when a log index is committed.
 */

import type { Configuration, ServerId } from './configuration.js'

/**
 * The highest index stored on a majority of the voters of `config`, given each server's
 * match index (servers missing from `matchIndex` count as 0). A configuration with no voter
 * commits nothing.
 */
export function quorumMatchIndex(config: Configuration, matchIndex: ReadonlyMap<ServerId, number>): number {
  const matched: number[] = []
  for (const s of config.servers) {
    if (s.suffrage === 'voter') matched.push(matchIndex.get(s.id) ?? 0)
  }
  if (matched.length === 0) return 0
  matched.sort((a, b) => b - a)
  return matched[Math.floor(matched.length / 2)]!
}

/**
 * The new commit index of a leader, or `commitIndex` unchanged. A leader only counts
 * replicas of entries of its own term (the paper's §5.4.2, Figure 8): `termStartIndex` is the
 * index of the first entry it appended in its term, so anything at or above it is of its
 * term, and committing it commits everything before it.
 */
export function advanceCommitIndex(
  config: Configuration,
  matchIndex: ReadonlyMap<ServerId, number>,
  commitIndex: number,
  termStartIndex: number,
): number {
  const candidate = quorumMatchIndex(config, matchIndex)
  if (candidate > commitIndex && candidate >= termStartIndex) return candidate
  return commitIndex
}

/** The log up-to-date rule for votes (§5.4.1): is the candidate's log at least as new as ours? */
export function candidateLogIsUpToDate(
  candidateLastTerm: number,
  candidateLastIndex: number,
  ourLastTerm: number,
  ourLastIndex: number,
): boolean {
  if (candidateLastTerm !== ourLastTerm) return candidateLastTerm > ourLastTerm
  return candidateLastIndex >= ourLastIndex
}

/**
 * Autopilot: membership managed for the user, as Consul's autopilot does. The leader calls
 * `planAutopilot` every tick and carries out at most one change (Raft changes membership one
 * server at a time). Pure: data in, one decision out.
 *
 * - The target number of voters is 3 while the cluster has fewer than 5 servers, 5 from 5
 *   servers on (never more voters than servers). The rest are non-voters: they copy the log
 *   and stand by.
 * - A voter silent for `deadVoterAfterMs` is replaced: a healthy, caught-up non-voter is
 *   promoted first, then the dead voter is demoted (quorum never shrinks on the way).
 * - A server silent for `removeDeadAfterMs` is removed from the cluster.
 */

import type { Suffrage } from '../raft/configuration.js'

/** What the leader knows of one server. */
export interface AutopilotServer {
  id: string
  suffrage: Suffrage
  /** Milliseconds since it last answered the leader (0 for the leader itself). */
  lastContactAgoMs: number
  /** How many entries behind the leader's log it is. */
  lagEntries: number
}

export interface AutopilotConfig {
  /** Answered within this: healthy. */
  healthyWithinMs: number
  /** A voter silent this long is replaced by a healthy non-voter when there is one. */
  deadVoterAfterMs: number
  /** A server silent this long is removed. */
  removeDeadAfterMs: number
  /** A non-voter this close to the leader's log may be promoted. */
  maxLagEntries: number
}

export function defaultAutopilotConfig(): AutopilotConfig {
  return { healthyWithinMs: 1000, deadVoterAfterMs: 2000, removeDeadAfterMs: 10 * 60_000, maxLagEntries: 256 }
}

export type AutopilotAction =
  | { action: 'promote'; id: string; reason: string }
  | { action: 'demote'; id: string; reason: string }
  | { action: 'remove'; id: string; reason: string }

/** How many voters a cluster of `servers` servers should have. */
export function targetVoters(servers: number): number {
  return Math.min(servers, servers >= 5 ? 5 : 3)
}

/** The one change to make now, or null. `leaderId` is never demoted or removed. */
export function planAutopilot(
  leaderId: string,
  servers: AutopilotServer[],
  config: AutopilotConfig,
): AutopilotAction | null {
  const healthy = (s: AutopilotServer) => s.id === leaderId || s.lastContactAgoMs <= config.healthyWithinMs
  const promotable = (s: AutopilotServer) =>
    s.suffrage === 'nonvoter' && healthy(s) && s.lagEntries <= config.maxLagEntries

  // 1. Servers gone for good leave the configuration.
  const gone = servers
    .filter((s) => s.id !== leaderId && s.lastContactAgoMs >= config.removeDeadAfterMs)
    .sort((a, b) => b.lastContactAgoMs - a.lastContactAgoMs)[0]
  if (gone)
    return {
      action: 'remove',
      id: gone.id,
      reason: `silent for ${Math.round(gone.lastContactAgoMs / 1000)} s`,
    }

  const voters = servers.filter((s) => s.suffrage === 'voter')
  const target = targetVoters(servers.length)
  const candidates = servers.filter(promotable).sort((a, b) => a.lagEntries - b.lagEntries)
  const deadVoters = voters
    .filter((s) => s.id !== leaderId && s.lastContactAgoMs >= config.deadVoterAfterMs)
    .sort((a, b) => b.lastContactAgoMs - a.lastContactAgoMs)

  // 2. Too few voters: promote the most caught-up healthy non-voter.
  if (voters.length < target && candidates[0]) {
    return { action: 'promote', id: candidates[0].id, reason: `${voters.length} voters, target ${target}` }
  }
  // 3. A dead voter with a stand-in available: promote the stand-in first.
  if (deadVoters[0] && candidates[0] && voters.length <= target) {
    return { action: 'promote', id: candidates[0].id, reason: `replacing dead voter ${deadVoters[0].id}` }
  }
  // 4. Too many voters: demote dead ones first, then the most lagging one.
  if (voters.length > target) {
    const victim =
      deadVoters[0] ??
      voters.filter((s) => s.id !== leaderId && !healthy(s))[0] ??
      voters.filter((s) => s.id !== leaderId).sort((a, b) => b.lagEntries - a.lagEntries)[0]
    if (victim)
      return { action: 'demote', id: victim.id, reason: `${voters.length} voters, target ${target}` }
  }
  return null
}

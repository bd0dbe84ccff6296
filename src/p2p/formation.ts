/**
 * Cluster formation with `--bootstrap-expect N`: the pure decision of what a fresh peer
 * does next, and the rules of the bootstrap lock.
 *
 * The protocol (run by ClusterManager):
 * 1. Fresh peers exchange peer lists until each sees at least N fresh peers alive.
 * 2. The candidate set S is the N lowest peer ids among them. Only the lowest id of S (the
 *    coordinator) acts: it asks every other member of S to *lock* on its proposal.
 * 3. A peer locks on at most one proposal at a time, and persists the lock before it says
 *    yes. A locked peer refuses every other proposal.
 * 4. When all of S said yes, the coordinator bootstraps Raft with S — that write is the
 *    decision. The others need no further message: they are in the configuration, and the
 *    elected leader's AppendEntries bring it to them.
 * 5. A peer releases its lock when it holds Raft state (it was brought in), or when the
 *    coordinator answers that it holds no Raft state and no longer proposes (it aborted or
 *    crashed before deciding). While the coordinator cannot be reached the lock stays: a
 *    peer that might be part of one cluster never helps form another.
 *
 * Because every peer of S must hold the lock before the coordinator decides, two proposals
 * that share a peer cannot both be decided: there is never more than one cluster among
 * peers that can see each other. (2N fresh peers split into two groups that never meet do
 * form two clusters, as with Consul; the docs say so.)
 */

import type { PeerInfo, PeerRecord } from './peer-table.js'

/** What a fresh peer should do now. */
export type FormationDecision =
  | { action: 'join'; via: PeerInfo[] }
  | { action: 'wait'; reason: string }
  | { action: 'propose'; servers: { id: string; address: string }[] }

/**
 * Decides for a peer without Raft state. `alive` are the peers heard from recently.
 * Members anywhere → join them. Otherwise, with `expect` > 0 and at least `expect` fresh
 * peers (self included), the lowest `expect` ids form the set; its lowest id proposes.
 */
export function decideFormation(self: PeerInfo, alive: PeerRecord[], expect: number): FormationDecision {
  const members = alive.filter((r) => r.info.member).map((r) => r.info)
  if (members.length > 0) return { action: 'join', via: members }
  if (expect <= 0) return { action: 'wait', reason: 'no cluster found yet and no --bootstrap-expect' }
  const fresh = [self, ...alive.filter((r) => !r.info.member).map((r) => r.info)]
  if (fresh.length < expect) {
    return { action: 'wait', reason: `waiting for ${expect} peers to bootstrap, ${fresh.length} seen` }
  }
  const set = [...fresh].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).slice(0, expect)
  if (set[0]!.id !== self.id) {
    return { action: 'wait', reason: `${set[0]!.name} (${set[0]!.id}) coordinates the bootstrap` }
  }
  return { action: 'propose', servers: set.map((p) => ({ id: p.id, address: p.address })) }
}

/** A bootstrap lock: this peer promised `coordinator` not to join any other proposal. */
export interface BootstrapLock {
  proposal: string
  coordinator: string
  coordinatorAddress: string
  servers: { id: string; address: string }[]
}

/** Whether a peer holding `lock` may say yes to `proposal` (the same proposal may be asked again). */
export function mayAcceptProposal(lock: BootstrapLock | null, proposal: string): boolean {
  return lock === null || lock.proposal === proposal
}

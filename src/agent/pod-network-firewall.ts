/**
 * The one firewall rule pod networks need on a Docker host: Docker isolates bridge networks
 * from one another (its DOCKER-ISOLATION chains drop traffic between them), but in the
 * Kubernetes model every pod reaches every other pod, whatever its node. So when several
 * nodes' pod networks share one engine (the playground), traffic between addresses of the
 * cluster pod range is accepted in DOCKER-USER, the chain Docker leaves to its users and
 * consults before its own.
 *
 * The rule is host-wide and shared by every node on the host: it is added once (checked with
 * `iptables -C` first) and never removed. Without iptables, or without root, it is skipped:
 * pods of one node still reach each other, pods of different nodes on this host do not.
 */

import { systemIptables as hostIptables } from '../util/iptables.js'

/** Runs iptables; answers its exit code and stderr. Throws when iptables cannot be run at all. */
export type IptablesRunner = (args: string[]) => Promise<{ code: number; stderr: string }>

/** The host's iptables (waiting for the xtables lock: other agents may hold it). */
export const systemIptables: IptablesRunner = (args) => hostIptables.run(args)

/** What `allowPodRangeTraffic` did. */
export type FirewallResult = { done: 'added' | 'present' } | { skipped: string }

/** The DOCKER-USER rule accepting traffic from and to `clusterCidr`. */
export function podRangeRule(clusterCidr: string): string[] {
  return ['DOCKER-USER', '-s', clusterCidr, '-d', clusterCidr, '-j', 'ACCEPT']
}

/** Adds the rule unless present; `isRoot` false (or no iptables) skips, saying why. */
export async function allowPodRangeTraffic(
  run: IptablesRunner,
  clusterCidr: string,
  isRoot: boolean,
): Promise<FirewallResult> {
  if (!isRoot) return { skipped: 'not running as root' }
  const rule = podRangeRule(clusterCidr)
  let check: { code: number; stderr: string }
  try {
    check = await run(['-C', ...rule])
  } catch (err) {
    return { skipped: `iptables cannot run: ${(err as Error).message}` }
  }
  if (check.code === 0) return { done: 'present' }
  // Exit 1 is "no such rule" (or no DOCKER-USER chain: the insert then says so); 2 and up
  // are usage or permission errors.
  if (check.code !== 1) return { skipped: `iptables -C failed (${check.code}): ${check.stderr.trim()}` }
  let insert: { code: number; stderr: string }
  try {
    insert = await run(['-I', ...rule])
  } catch (err) {
    return { skipped: `iptables cannot run: ${(err as Error).message}` }
  }
  if (insert.code !== 0) return { skipped: `iptables -I failed (${insert.code}): ${insert.stderr.trim()}` }
  return { done: 'added' }
}

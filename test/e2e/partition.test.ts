/**
 * End-to-end: an iptables partition between the peers' loopback addresses leaves the
 * minority unable to commit, the majority elects and commits, and the cluster heals.
 */

import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { AgentCluster } from './support/agents.js'
import { healAll, iptablesAvailable, partition } from './support/iptables.js'

const test = suite('e2e partition')

test('the leader cut off in a minority cannot commit; the majority can; healing converges', async () => {
  assert.ok(iptablesAvailable(), 'iptables is needed (run as root; CI installs it)')
  const c = new AgentCluster(30, 3)
  try {
    for (const i of [1, 2, 3]) c.start(i)
    const leader = await c.leader([1, 2, 3], 30_000)
    assert.is(await c.put(leader, 'k', 'before'), 200)
    const rest = [1, 2, 3].filter((i) => i !== leader)
    partition(
      [c.spec(leader).ip],
      rest.map((i) => c.spec(i).ip),
    )

    // The minority side cannot commit (its write fails), whatever it believes for a moment.
    const minorityWrite = await c.put(leader, 'k', 'minority', 4000)
    assert.is.not(minorityWrite, 200)
    // The majority elects a new leader and commits.
    await c.until(
      'a majority commit',
      async () => (await c.put(rest[0]!, 'k', 'majority', 3000)) === 200,
      20_000,
    )
    const newLeader = await c.leader(rest, 10_000)
    assert.is.not(newLeader, leader)

    healAll()
    await c.until('the old leader converges', async () => (await c.get(leader, 'k')) === 'majority', 20_000)
    const s = await c.status(leader)
    assert.is(s?.leader?.name, c.spec(newLeader).name)
    assert.is(await c.get(leader, 'k', true), 'majority')
  } finally {
    healAll()
    await c.destroy()
  }
})

test.run()

import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { SimCluster } from './sim-cluster.js'

const test = suite('raft elections')

test('initial election: one leader, all agree, terms stay put while healthy', async () => {
  const c = new SimCluster({ servers: 3, seed: 1 })
  await c.start()
  const leader = await c.waitForLeader(2000)
  await c.run(500)
  const term = c.raft(leader).stats().term
  for (const n of c.nodes) {
    assert.is(n.raft!.leader()?.id, leader, `${n.id} knows the leader`)
    assert.is(n.raft!.stats().term, term)
  }
  await c.run(3000)
  assert.equal(c.leaders(), [leader])
  assert.is(c.raft(leader).stats().term, term, 'no election while healthy')
  c.assertSafe()
  await c.shutdown()
})

test('re-election: the leader is cut off, a new one rises; the old one rejoins as follower', async () => {
  const c = new SimCluster({ servers: 3, seed: 2 })
  await c.start()
  const first = await c.waitForLeader(2000)
  c.network.isolate(c.node(first).address)
  const others = c.nodes.map((n) => n.id).filter((id) => id !== first)
  const second = await c.waitForLeader(3000, others)
  assert.is.not(second, first)
  // The old leader steps down once it loses its quorum (check-quorum).
  await c.run(1000)
  assert.is.not(c.raft(first).state(), 'leader')
  c.network.rejoin(c.node(first).address)
  await c.run(1000)
  assert.equal(c.leaders(), [second])
  assert.is(c.raft(first).leader()?.id, second)
  // No quorum: no leader.
  c.network.isolate(c.node(second).address)
  c.network.isolate(c.node(others.find((id) => id !== second)!).address)
  await c.run(3000)
  const leadersNow = c.leaders().filter((id) => c.raft(id).stats().lastContactMs !== null)
  assert.ok(leadersNow.length <= 1)
  c.network.heal()
  await c.waitForLeader(3000)
  c.assertSafe()
  await c.shutdown()
})

test('many elections under random isolation keep at most one leader per term', async () => {
  const c = new SimCluster({ servers: 7, seed: 3 })
  await c.start()
  await c.waitForLeader(3000)
  for (let round = 0; round < 10; round++) {
    const ids = c.nodes.map((n) => n.id)
    const cut = new Set<string>()
    while (cut.size < 3) cut.add(ids[c.rng.int(ids.length)]!)
    for (const id of cut) c.network.isolate(c.node(id).address)
    await c.run(2000)
    await c.waitForLeader(
      5000,
      ids.filter((id) => !cut.has(id)),
    )
    c.network.heal()
    await c.run(500)
  }
  await c.waitForLeader(3000)
  c.assertSafe()
  await c.shutdown()
})

test('an election takes few RPCs, and an idle cluster sends few', async () => {
  const c = new SimCluster({ servers: 3, seed: 4 })
  await c.start()
  await c.waitForLeader(2000)
  const total = c.network.rpcCount()
  assert.ok(total <= 30, `an election took ${total} RPCs`)
  c.network.resetCounts()
  await c.run(1000)
  const idle = c.network.rpcCount()
  // 2 followers × 20 heartbeats a second at a 50 ms interval.
  assert.ok(idle <= 60, `idle second took ${idle} RPCs`)
  await c.shutdown()
})

test.run()

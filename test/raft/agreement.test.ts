import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { encodeCommand, SimCluster } from './sim-cluster.js'

const test = suite('raft agreement')

test('basic agreement: every entry reaches every server, in order, with FSM answers', async () => {
  const c = new SimCluster({ servers: 5, seed: 11 })
  await c.start()
  await c.waitForLeader()
  let last = 0
  for (let i = 0; i < 10; i++) {
    const r = await c.apply({ op: 'append', key: 'k', value: `${i},` })
    assert.ok(r.index > last, 'indexes grow')
    last = r.index
  }
  const read = await c.apply({ op: 'get', key: 'k' })
  assert.is(read.response, '0,1,2,3,4,5,6,7,8,9,')
  await c.waitApplied(read.index, 5)
  for (const n of c.nodes) assert.is(n.fsm.data.get('k'), '0,1,2,3,4,5,6,7,8,9,')
  await c.checkLogMatching()
  c.assertSafe()
  await c.shutdown()
})

test('RPC counts: 10 entries take few RPCs', async () => {
  const c = new SimCluster({ servers: 3, seed: 12 })
  await c.start()
  await c.waitForLeader()
  await c.apply({ op: 'put', key: 'warm', value: 'up' })
  await c.run(200)
  c.network.resetCounts()
  for (let i = 0; i < 10; i++) await c.apply({ op: 'put', key: 'k', value: String(i) })
  const used = c.network.rpcCount()
  // The course lab allows (1 + 10) × 3 + 3 = 36 RPCs plus heartbeats; pipelining needs fewer.
  assert.ok(used <= 42, `10 entries took ${used} RPCs`)
  await c.shutdown()
})

test('commit notices: followers hear a new commit index with the next append or heartbeat; at once when one waits for it', async () => {
  const c = new SimCluster({ servers: 3, seed: 14 })
  await c.start()
  const leader = await c.waitForLeader()
  await c.apply({ op: 'put', key: 'warm', value: 'up' })
  await c.run(200)
  const [f1, f2] = c.nodes.map((n) => n.id).filter((id) => id !== leader) as [string, string]
  // Committed and answered between two heartbeats: no commit-only append went out.
  const p = c.raft(leader).apply(encodeCommand({ op: 'put', key: 'a', value: '1' }), { timeoutMs: 2000 })
  let index = 0
  p.then((r) => {
    index = r.index
  })
  // In 1 ms steps, so that we look as soon as it is answered (seeded: no heartbeat falls there).
  for (let ms = 0; index === 0 && ms < 100; ms++) await c.run(1)
  assert.ok(index > 0, 'committed')
  assert.ok(c.raft(f1).stats().commitIndex < index)
  assert.ok(c.raft(f2).stats().commitIndex < index)
  // f1 waits for it (it forwarded the write): told at once.
  c.raft(leader).expediteCommit(f1, index)
  for (let ms = 0; c.raft(f1).stats().commitIndex < index && ms < 10; ms++) await c.run(1)
  assert.ok(c.raft(f1).stats().commitIndex >= index, 'the waiting follower is told at once')
  assert.ok(c.raft(f2).stats().commitIndex < index)
  // The other hears it with the next heartbeat (one interval: 50 ms).
  await c.run(51)
  assert.ok(c.raft(f2).stats().commitIndex >= index, 'the other with the next heartbeat')
  // A follower (or an unknown id) cannot expedite anything.
  c.raft(f1).expediteCommit(f2, index + 10)
  c.raft(leader).expediteCommit('nobody', index)
  c.assertSafe()
  await c.shutdown()
})

test('follower failure: agreement goes on with a majority and stops without one', async () => {
  const c = new SimCluster({ servers: 3, seed: 13 })
  await c.start()
  const leader = await c.waitForLeader()
  await c.apply({ op: 'put', key: 'a', value: '1' })
  const [f1, f2] = c.nodes.map((n) => n.id).filter((id) => id !== leader)
  c.network.isolate(c.node(f1!).address)
  await c.apply({ op: 'put', key: 'a', value: '2' })
  c.network.isolate(c.node(f2!).address)
  const p = c.raft(leader).apply(encodeCommand({ op: 'put', key: 'a', value: '3' }), { timeoutMs: 2000 })
  const out = await c.settle(p, 3000)
  assert.is(out.ok, false, 'no commit without a majority')
  const err = (out as { error: Error }).error
  assert.ok(['TimeoutError', 'LeadershipLostError'].includes(err.name), `settled with ${err.name}`)
  c.network.heal()
  await c.waitForLeader()
  await c.apply({ op: 'put', key: 'a', value: '4' })
  c.assertSafe()
  await c.shutdown()
})

test('leader failure: a new leader commits; the old leader learns it and converges', async () => {
  const c = new SimCluster({ servers: 3, seed: 14 })
  await c.start()
  const leader = await c.waitForLeader()
  await c.apply({ op: 'put', key: 'x', value: '1' })
  c.network.isolate(c.node(leader).address)
  // The isolated leader accepts proposals it can never commit.
  const lost = c
    .raft(leader)
    .apply(encodeCommand({ op: 'put', key: 'x', value: 'lost' }), { timeoutMs: 1000 })
  lost.catch(() => {})
  const others = c.nodes.map((n) => n.id).filter((id) => id !== leader)
  await c.waitForLeader(5000, others)
  const r = await c.apply({ op: 'put', key: 'x', value: '2' })
  c.network.rejoin(c.node(leader).address)
  await c.waitApplied(r.index, 3)
  for (const n of c.nodes) assert.is(n.fsm.data.get('x'), '2')
  await c.checkLogMatching()
  c.assertSafe()
  await c.shutdown()
})

test('concurrent proposals all commit, each once, in one order everywhere', async () => {
  const c = new SimCluster({ servers: 3, seed: 15 })
  await c.start()
  const leader = await c.waitForLeader()
  const ps = Array.from({ length: 200 }, (_, i) =>
    c.raft(leader).apply(encodeCommand({ op: 'append', key: 'k', value: `${i};` }), { timeoutMs: 5000 }),
  )
  const results = await c.settle(Promise.all(ps), 5000)
  assert.ok(results.ok, 'all committed')
  const indexes = (results as { value: { index: number }[] }).value.map((r) => r.index)
  assert.is(new Set(indexes).size, 200)
  const last = Math.max(...indexes)
  await c.waitApplied(last, 3)
  const values = c.nodes.map((n) => n.fsm.data.get('k'))
  assert.is(values[0]!.split(';').length - 1, 200)
  assert.ok(values.every((v) => v === values[0]))
  c.assertSafe()
  await c.shutdown()
})

test('rejoin of a partitioned leader with uncommitted entries: they are replaced', async () => {
  const c = new SimCluster({ servers: 3, seed: 16 })
  await c.start()
  const l1 = await c.waitForLeader()
  await c.apply({ op: 'put', key: 'k', value: 'base' })
  c.network.isolate(c.node(l1).address)
  for (let i = 0; i < 3; i++) {
    c.raft(l1)
      .apply(encodeCommand({ op: 'put', key: 'k', value: `old${i}` }), { timeoutMs: 500 })
      .catch(() => {})
  }
  const others = c.nodes.map((n) => n.id).filter((id) => id !== l1)
  const l2 = await c.waitForLeader(5000, others)
  await c.apply({ op: 'put', key: 'k', value: 'new2' })
  c.network.isolate(c.node(l2).address)
  c.network.rejoin(c.node(l1).address)
  const l3 = await c.waitForLeader(5000, [l1, ...others.filter((id) => id !== l2)])
  const r = await c.apply({ op: 'put', key: 'k', value: 'new3' })
  c.network.heal()
  await c.waitApplied(r.index, 3)
  for (const n of c.nodes) assert.is(n.fsm.data.get('k'), 'new3')
  assert.ok(l3)
  await c.checkLogMatching()
  c.assertSafe()
  await c.shutdown()
})

test('fast back-up: a follower with a long divergent log is repaired in few RPCs', async () => {
  const c = new SimCluster({ servers: 5, seed: 17 })
  await c.start()
  const l1 = await c.waitForLeader()
  await c.apply({ op: 'put', key: 'k', value: 'start' })
  const ids = c.nodes.map((n) => n.id)
  const rest = ids.filter((id) => id !== l1)
  // The leader and one follower in a minority take 50 doomed proposals.
  const minority = [l1, rest[0]!]
  const majority = rest.slice(1)
  c.network.partition(
    minority.map((id) => c.node(id).address),
    majority.map((id) => c.node(id).address),
  )
  for (let i = 0; i < 50; i++) {
    c.raft(l1)
      .apply(encodeCommand({ op: 'put', key: 'k', value: `doomed${i}` }), { timeoutMs: 300 })
      .catch(() => {})
  }
  await c.run(500)
  const l2 = await c.waitForLeader(5000, majority)
  for (let i = 0; i < 50; i++) await c.apply({ op: 'put', key: 'k', value: `good${i}` })
  assert.ok(l2)
  c.network.heal()
  c.network.resetCounts()
  const r = await c.apply({ op: 'put', key: 'k', value: 'end' })
  await c.waitApplied(r.index, 5)
  const rpcs = c.network.rpcCount('appendEntries')
  assert.ok(rpcs < 150, `repair took ${rpcs} AppendEntries`)
  for (const n of c.nodes) assert.is(n.fsm.data.get('k'), 'end')
  await c.checkLogMatching()
  c.assertSafe()
  await c.shutdown()
})

test.run()

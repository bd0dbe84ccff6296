import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { encodeCommand, SimCluster, simConfig } from './sim-cluster.js'

const test = suite('raft snapshots')

// Small thresholds so that snapshots and compaction happen within a short simulation.
const snapConfig = simConfig({
  snapshotThreshold: 20,
  trailingLogs: 5,
  snapshotIntervalMs: 200,
  snapshotChunkBytes: 64,
})

test('basic: snapshots are taken, the log is compacted, the state is intact', async () => {
  const c = new SimCluster({ servers: 3, seed: 81, config: snapConfig })
  await c.start()
  await c.waitForLeader()
  for (let i = 0; i < 100; i++) await c.apply({ op: 'append', key: `k${i % 3}`, value: `${i},` })
  await c.run(1000)
  for (const n of c.nodes) {
    const s = n.raft!.stats()
    assert.ok(s.lastSnapshotIndex > 50, `${n.id} snapshot at ${s.lastSnapshotIndex}`)
    assert.ok((await n.store.firstIndex()) > 40, `${n.id} compacted to ${await n.store.firstIndex()}`)
    assert.ok((await n.snapshots.list()).length >= 1)
  }
  const r = await c.apply({ op: 'get', key: 'k0' })
  assert.ok(String(r.response).startsWith('0,3,6,'))
  c.assertSafe()
  await c.shutdown()
})

/**
 * A 3-server cluster whose follower missed `writes` entries while cut off, and whose leader
 * has compacted them away since: bringing it back needs a snapshot.
 */
async function withLaggingFollower(
  seed: number,
  writes: number,
): Promise<{ c: SimCluster; leader: string; lagger: string }> {
  const c = new SimCluster({ servers: 3, seed, config: snapConfig })
  await c.start()
  const leader = await c.waitForLeader()
  const lagger = c.nodes.find((n) => n.id !== leader)!.id
  c.network.isolate(c.node(lagger).address)
  for (let i = 0; i < writes; i++) await c.apply({ op: 'put', key: `k${i % 10}`, value: String(i) })
  await c.run(1000)
  return { c, leader, lagger }
}

test('install: a follower far behind gets the snapshot in chunks and catches up', async () => {
  const { c, leader, lagger } = await withLaggingFollower(82, 100)
  assert.ok((await c.node(leader).store.firstIndex()) > 20, 'leader compacted')
  c.network.resetCounts()
  c.network.rejoin(c.node(lagger).address)
  const r = await c.apply({ op: 'put', key: 'after', value: 'rejoin' })
  await c.waitApplied(r.index, 3)
  assert.ok(c.network.rpcCount('installSnapshot') >= 2, 'snapshot went in several chunks')
  assert.is(c.node(lagger).fsm.data.get('k9'), '99')
  assert.is(c.node(lagger).fsm.data.get('after'), 'rejoin')
  c.assertSafe()
  await c.shutdown()
})

test('install unreliable: drops and reorders during a snapshot transfer', async () => {
  const { c, lagger } = await withLaggingFollower(83, 80)
  c.network.setFaults({ dropRate: 0.15, maxDelayMs: 20, reorderRate: 0.2, duplicateRate: 0.1 })
  c.network.rejoin(c.node(lagger).address)
  const r = await c.apply({ op: 'put', key: 'after', value: 'x' }, 20_000)
  await c.waitApplied(r.index, 3, 30_000)
  assert.is(c.node(lagger).fsm.data.get('k9'), '79')
  c.assertSafe()
  await c.shutdown()
})

test('crash during install: the follower restarts and still converges', async () => {
  const { c, lagger } = await withLaggingFollower(84, 80)
  c.network.setFaults({ minDelayMs: 5, maxDelayMs: 5 })
  c.network.rejoin(c.node(lagger).address)
  // Crash it a few chunks into the transfer.
  await c.run(60)
  await c.crash(lagger)
  await c.run(300)
  await c.restart(lagger)
  const r = await c.apply({ op: 'put', key: 'after', value: 'x' })
  await c.waitApplied(r.index, 3, 20_000)
  assert.is(c.node(lagger).fsm.data.get('k9'), '79')
  c.assertSafe()
  await c.shutdown()
})

test('all crash: every server restarts from its snapshot plus its log tail', async () => {
  const c = new SimCluster({ servers: 3, seed: 85, config: snapConfig })
  await c.start()
  await c.waitForLeader()
  for (let i = 0; i < 60; i++) await c.apply({ op: 'append', key: 'k', value: `${i % 10}` })
  await c.run(1000)
  const before = c.nodes[0]!.fsm.data.get('k')
  for (const n of c.nodes) await c.crash(n.id)
  for (const n of c.nodes) await c.restart(n.id)
  for (const n of c.nodes) assert.ok(n.raft!.stats().appliedIndex > 0, `${n.id} restored from its snapshot`)
  await c.waitForLeader()
  const r = await c.apply({ op: 'get', key: 'k' })
  assert.is(r.response, before)
  c.assertSafe()
  await c.shutdown()
})

test('a follower whose log conflicts with the snapshot discards it (hashicorp/raft#697)', async () => {
  const c = new SimCluster({ servers: 3, seed: 86, config: snapConfig })
  await c.start()
  const l1 = await c.waitForLeader()
  await c.apply({ op: 'put', key: 'k', value: 'base' })
  // The old leader, alone, appends entries that will never commit.
  c.network.isolate(c.node(l1).address)
  for (let i = 0; i < 30; i++) {
    c.raft(l1)
      .apply(encodeCommand({ op: 'put', key: 'k', value: `doomed${i}` }), { timeoutMs: 200 })
      .catch(() => {})
  }
  await c.run(400)
  const others = c.nodes.map((n) => n.id).filter((id) => id !== l1)
  await c.waitForLeader(5000, others)
  for (let i = 0; i < 80; i++) await c.apply({ op: 'put', key: 'k', value: `good${i}` })
  await c.run(1000)
  c.network.rejoin(c.node(l1).address)
  const r = await c.apply({ op: 'put', key: 'k', value: 'final' })
  await c.waitApplied(r.index, 3, 10_000)
  assert.is(c.node(l1).fsm.data.get('k'), 'final')
  await c.checkLogMatching()
  c.assertSafe()
  await c.shutdown()
})

test('restart from a snapshot with an empty log tail', async () => {
  const c = new SimCluster({
    servers: 1,
    seed: 87,
    config: simConfig({ snapshotThreshold: 10, trailingLogs: 0 }),
  })
  await c.start()
  await c.waitForLeader()
  for (let i = 0; i < 12; i++) await c.apply({ op: 'put', key: 'k', value: String(i) })
  await c.raft('s1').snapshot()
  await c.crash('s1')
  await c.restart('s1')
  assert.is(c.node('s1').fsm.data.get('k'), '11')
  await c.waitForLeader()
  const r = await c.apply({ op: 'get', key: 'k' })
  assert.is(r.response, '11')
  await c.shutdown()
})

test.run()

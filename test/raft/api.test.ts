import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { encodeCommand, SimCluster, simConfig } from './sim-cluster.js'

const test = suite('raft API contract')

test('bootstrap twice is refused with CantBootstrapError', async () => {
  const c = new SimCluster({ servers: 3, seed: 201 })
  await c.start()
  await c.waitForLeader()
  const out = await c.settle(c.raft('s1').bootstrapCluster(c.initialConfiguration()), 100)
  assert.is(out.ok, false)
  assert.is((out as { error: Error }).error.name, 'CantBootstrapError')
  await c.shutdown()
})

test('apply on a follower rejects at once with NotLeaderError naming the leader', async () => {
  const c = new SimCluster({ servers: 3, seed: 202 })
  await c.start()
  const leader = await c.waitForLeader()
  await c.run(200)
  const follower = c.nodes.find((n) => n.id !== leader)!.id
  const out = await c.settle(c.raft(follower).apply(encodeCommand({ op: 'get', key: 'x' })), 10)
  assert.is(out.ok, false)
  const err = (out as { error: Error & { leader?: { id: string } } }).error
  assert.is(err.name, 'NotLeaderError')
  assert.is(err.leader?.id, leader)
  await c.shutdown()
})

test('apply always settles within its timeout, even when nothing can commit (hashicorp/raft#145)', async () => {
  const c = new SimCluster({ servers: 3, seed: 203, config: simConfig({ leaderLeaseTimeoutMs: 300 }) })
  await c.start()
  const leader = await c.waitForLeader()
  c.network.isolate(c.node(leader).address)
  const started = c.clock.now()
  const out = await c.settle(
    c.raft(leader).apply(encodeCommand({ op: 'put', key: 'k', value: 'v' }), { timeoutMs: 5000 }),
    6000,
  )
  assert.is(out.ok, false)
  const err = (out as { error: Error }).error
  assert.ok(['TimeoutError', 'LeadershipLostError'].includes(err.name), err.name)
  assert.ok(c.clock.now() - started <= 5000, 'within its timeout')
  await c.shutdown()
})

test('too many queued proposals are refused with OverloadedError', async () => {
  const c = new SimCluster({ servers: 1, seed: 204, config: simConfig({ maxPendingApplies: 10 }) })
  await c.start()
  await c.waitForLeader()
  const raft = c.raft('s1')
  const ps = Array.from({ length: 20 }, (_, i) =>
    raft.apply(encodeCommand({ op: 'put', key: 'k', value: String(i) })).then(
      () => 'ok',
      (e: Error) => e.name,
    ),
  )
  const out = await c.settle(Promise.all(ps), 1000)
  assert.ok(out.ok)
  const names = (out as { value: string[] }).value
  assert.ok(names.includes('OverloadedError'))
  assert.ok(names.includes('ok'))
  await c.shutdown()
})

test('shutdown rejects what is pending and refuses what comes after', async () => {
  const c = new SimCluster({ servers: 3, seed: 205 })
  await c.start()
  const leader = await c.waitForLeader()
  const raft = c.raft(leader)
  c.network.isolate(c.node(leader).address)
  const pending = raft.apply(encodeCommand({ op: 'put', key: 'k', value: 'v' }), { timeoutMs: 10_000 })
  await c.run(10)
  await raft.shutdown()
  const out = await c.settle(pending, 10)
  assert.is(out.ok, false)
  assert.is((out as { error: Error }).error.name, 'ShutdownError')
  assert.is(raft.state(), 'shutdown')
  const after = await c.settle(raft.apply(new Uint8Array()), 10)
  assert.is((after as { error: Error }).error.name, 'ShutdownError')
  await raft.shutdown()
  await c.shutdown()
})

test('observers see leader changes and state changes; stats are coherent', async () => {
  const c = new SimCluster({ servers: 3, seed: 206 })
  const seen: string[] = []
  await c.start()
  for (const n of c.nodes) {
    n.raft!.on('leader', (l: { id: string } | null) => seen.push(`${n.id}:${l?.id ?? '-'}`))
  }
  const leader = await c.waitForLeader()
  await c.run(200)
  assert.ok(seen.includes(`${leader}:${leader}`))
  const r = await c.apply({ op: 'put', key: 'k', value: 'v' })
  await c.waitApplied(r.index, 3)
  for (const n of c.nodes) {
    const s = n.raft!.stats()
    assert.ok(s.commitIndex >= r.index && s.appliedIndex >= r.index && s.lastLogIndex >= s.commitIndex)
    assert.is(s.leader?.id, leader)
    assert.is(s.numPeers, 2)
    if (n.id !== leader) assert.ok((s.lastContactMs ?? 1e9) < 300)
  }
  assert.is(c.raft(leader).stats().lastContactMs, 0)
  await c.shutdown()
})

test('a storage failure on the leader makes it step down, and the cluster recovers', async () => {
  const c = new SimCluster({ servers: 3, seed: 207 })
  await c.start()
  const leader = await c.waitForLeader()
  await c.apply({ op: 'put', key: 'k', value: '1' })
  c.node(leader).store.failNextWrites(1)
  const out = await c.settle(c.raft(leader).apply(encodeCommand({ op: 'put', key: 'k', value: '2' })), 2000)
  assert.is(out.ok, false)
  const r = await c.apply({ op: 'put', key: 'k', value: '3' })
  await c.waitApplied(r.index, 3)
  c.assertSafe()
  await c.shutdown()
})

test('the same seed replays the same run exactly', async () => {
  async function trace(seed: number): Promise<string> {
    const c = new SimCluster({ servers: 5, seed })
    await c.start()
    c.network.setFaults({ dropRate: 0.1, maxDelayMs: 20, reorderRate: 0.2 })
    const events: string[] = []
    for (const n of c.nodes) n.raft!.on('state', (s: string) => events.push(`${c.clock.now()}:${n.id}:${s}`))
    await c.waitForLeader()
    for (let i = 0; i < 20; i++) {
      const r = await c.apply({ op: 'put', key: 'k', value: String(i) })
      events.push(`idx ${r.index}@${c.clock.now()}`)
    }
    await c.shutdown()
    return events.join('\n')
  }
  assert.is(await trace(208), await trace(208))
  assert.is.not(await trace(208), await trace(209))
})

test.run()

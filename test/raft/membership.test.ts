import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { isVoter } from '../../src/raft/configuration.js'
import { encodeCommand, SimCluster } from './sim-cluster.js'

const test = suite('raft membership and leadership transfer')

test('addVoter: a new server joins as non-voter, catches up, then votes', async () => {
  const c = new SimCluster({ servers: 4, seed: 91, spare: 1 })
  await c.start()
  const leader = await c.waitForLeader()
  for (let i = 0; i < 30; i++) await c.apply({ op: 'put', key: `k${i}`, value: String(i) })
  const add = c.raft(leader).addVoter('s4', c.node('s4').address)
  const out = await c.settle(add, 10_000)
  assert.ok(out.ok, `addVoter: ${String((out as { error?: unknown }).error)}`)
  const cfg = c.raft(leader).getConfiguration()
  assert.ok(isVoter(cfg, 's4'))
  const r = await c.apply({ op: 'get', key: 'k29' })
  await c.waitApplied(r.index, 4)
  assert.is(c.node('s4').fsm.data.get('k29'), '29')
  // With 4 voters, losing 2 stops progress; losing 1 does not.
  const others = c.nodes.map((n) => n.id).filter((id) => id !== leader)
  c.network.isolate(c.node(others[0]!).address)
  await c.apply({ op: 'put', key: 'one-down', value: 'ok' })
  c.assertSafe()
  await c.shutdown()
})

test('a non-voter receives the log but never leads nor counts', async () => {
  const c = new SimCluster({ servers: 3, seed: 92, nonvoters: 1 })
  await c.start()
  const leader = await c.waitForLeader()
  assert.is.not(leader, 's3')
  const r = await c.apply({ op: 'put', key: 'a', value: '1' })
  await c.waitApplied(r.index, 3)
  // Two voters: isolating the other voter stops commitment even though the non-voter answers.
  const otherVoter = leader === 's1' ? 's2' : 's1'
  c.network.isolate(c.node(otherVoter).address)
  const p = c.raft(leader).apply(encodeCommand({ op: 'put', key: 'a', value: '2' }), { timeoutMs: 1000 })
  const out = await c.settle(p, 2000)
  assert.is(out.ok, false)
  c.network.isolate(c.node(leader).address)
  await c.run(3000)
  assert.is.not(c.raft('s3').state(), 'leader')
  assert.is.not(c.raft('s3').state(), 'candidate')
  c.network.heal()
  await c.waitForLeader()
  c.assertSafe()
  await c.shutdown()
})

test('removeServer: removing a follower, then the leader itself', async () => {
  const c = new SimCluster({ servers: 5, seed: 93 })
  await c.start()
  const leader = await c.waitForLeader()
  const victim = c.nodes.find((n) => n.id !== leader)!.id
  let out = await c.settle(c.raft(leader).removeServer(victim), 5000)
  assert.ok(out.ok)
  assert.is(c.raft(leader).getConfiguration().servers.length, 4)
  await c.crash(victim)
  out = await c.settle(c.raft(leader).removeServer(leader), 5000)
  assert.ok(out.ok, `self-removal: ${String((out as { error?: unknown }).error)}`)
  await c.run(200)
  assert.is.not(c.raft(leader).state(), 'leader')
  const remaining = c.nodes.map((n) => n.id).filter((id) => id !== leader && id !== victim)
  const next = await c.waitForLeader(5000, remaining)
  assert.is(c.raft(next).getConfiguration().servers.length, 3)
  await c.apply({ op: 'put', key: 'after', value: 'removal' })
  // The removed leader does not disrupt: it never campaigns.
  const term = c.raft(next).stats().term
  await c.run(3000)
  assert.is(c.raft(next).stats().term, term)
  c.assertSafe()
  await c.shutdown()
})

test('demoteVoter: a demoted server stops counting', async () => {
  const c = new SimCluster({ servers: 3, seed: 94 })
  await c.start()
  const leader = await c.waitForLeader()
  const other = c.nodes.find((n) => n.id !== leader)!.id
  const out = await c.settle(c.raft(leader).demoteVoter(other), 5000)
  assert.ok(out.ok)
  assert.is(isVoter(c.raft(leader).getConfiguration(), other), false)
  await c.apply({ op: 'put', key: 'k', value: 'v' })
  c.assertSafe()
  await c.shutdown()
})

test('membership changes under failure: crashes and partitions while adding and removing', async () => {
  for (const seed of [95, 96, 97]) {
    const c = new SimCluster({ servers: 6, seed, spare: 3 })
    await c.start()
    await c.waitForLeader()
    const spare = ['s4', 's5', 's6']
    for (let round = 0; round < 6; round++) {
      const leader = c.leaders()[0] ?? (await c.waitForLeader())
      const raft = c.raft(leader)
      const cfg = raft.getConfiguration()
      const outside = spare.concat(['s1', 's2', 's3']).filter((id) => !cfg.servers.some((s) => s.id === id))
      const change =
        outside.length > 0 && c.rng.chance(0.6)
          ? raft.addVoter(outside[0]!, c.node(outside[0]!).address, { timeoutMs: 3000 })
          : cfg.servers.length > 3
            ? raft.removeServer(cfg.servers[c.rng.int(cfg.servers.length)]!.id, { timeoutMs: 3000 })
            : Promise.resolve()
      change.catch(() => {})
      c.raft(leader)
        .apply(encodeCommand({ op: 'append', key: 'k', value: `${round};` }), { timeoutMs: 2000 })
        .catch(() => {})
      await c.run(c.rng.between(20, 200))
      const victim = c.nodes[c.rng.int(c.nodes.length)]!
      if (c.rng.chance(0.5)) {
        await c.crash(victim.id)
        await c.run(c.rng.between(100, 600))
        await c.restart(victim.id)
      } else {
        c.network.isolate(victim.address)
        await c.run(c.rng.between(100, 600))
        c.network.heal()
      }
      await c.settle(change, 5000)
    }
    c.network.heal()
    await c.waitForLeader(10_000)
    const r = await c.apply({ op: 'put', key: 'done', value: 'yes' }, 20_000)
    const cfg = c.raft(c.leaders()[0]!).getConfiguration()
    await c.waitApplied(r.index, cfg.servers.length, 20_000)
    await c.checkLogMatching()
    c.assertSafe()
    await c.shutdown()
  }
})

test('leadership transfer hands over to the chosen voter and proposals resume there', async () => {
  const c = new SimCluster({ servers: 3, seed: 98 })
  await c.start()
  const l1 = await c.waitForLeader()
  for (let i = 0; i < 10; i++) await c.apply({ op: 'put', key: 'k', value: String(i) })
  const target = c.nodes.find((n) => n.id !== l1)!.id
  const out = await c.settle(c.raft(l1).leadershipTransfer(target), 3000)
  assert.ok(out.ok, `transfer: ${String((out as { error?: unknown }).error)}`)
  await c.run(100)
  assert.equal(c.leaders(), [target])
  const r = await c.apply({ op: 'get', key: 'k' })
  assert.is(r.response, '9')
  c.assertSafe()
  await c.shutdown()
})

test('leadership transfer to an unreachable target times out and the leader keeps leading (hashicorp/raft#696)', async () => {
  const c = new SimCluster({ servers: 3, seed: 99 })
  await c.start()
  const l1 = await c.waitForLeader()
  const target = c.nodes.find((n) => n.id !== l1)!.id
  c.network.isolate(c.node(target).address)
  await c.apply({ op: 'put', key: 'k', value: 'v' })
  const out = await c.settle(c.raft(l1).leadershipTransfer(target), 5000)
  assert.is(out.ok, false)
  assert.is((out as { error: Error }).error.name, 'TimeoutError')
  // Not stuck: proposals work again.
  assert.is(c.leaders()[0], l1)
  await c.apply({ op: 'put', key: 'k', value: 'after' })
  c.network.heal()
  c.assertSafe()
  await c.shutdown()
})

test('leadership transfer under failure: crashes and partitions around transfers never deadlock', async () => {
  const c = new SimCluster({ servers: 5, seed: 100 })
  await c.start()
  for (let round = 0; round < 10; round++) {
    const leader = await c.waitForLeader(10_000)
    const transfer = c.raft(leader).leadershipTransfer()
    transfer.catch(() => {})
    await c.run(c.rng.between(0, 30))
    const victim = c.nodes[c.rng.int(c.nodes.length)]!
    if (c.rng.chance(0.5)) await c.crash(victim.id)
    else c.network.isolate(victim.address)
    const out = await c.settle(transfer, 5000)
    assert.ok(out.ok || (out as { error: Error }).error.name !== 'Error', 'settled')
    await c.run(500)
    await c.restart(victim.id)
    c.network.heal()
    await c.apply({ op: 'append', key: 'k', value: `${round};` }, 10_000)
  }
  c.assertSafe()
  await c.shutdown()
})

test('verifyLeader: a deposed leader that has not noticed cannot confirm itself (Consul#54)', async () => {
  const c = new SimCluster({ servers: 3, seed: 101 })
  await c.start()
  const l1 = await c.waitForLeader()
  let out = await c.settle(c.raft(l1).verifyLeader(), 1000)
  assert.ok(out.ok, 'a healthy leader verifies')
  c.network.isolate(c.node(l1).address)
  out = await c.settle(c.raft(l1).verifyLeader(), 2000)
  assert.is(out.ok, false, 'an isolated leader cannot verify')
  const barrier = await c.settle(c.raft(l1).barrier({ timeoutMs: 500 }), 1000)
  assert.is(barrier.ok, false)
  c.network.heal()
  c.assertSafe()
  await c.shutdown()
})

test.run()

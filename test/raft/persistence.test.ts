import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { encodeCommand, SimCluster, simConfig } from './sim-cluster.js'

const test = suite('raft persistence and faults')

test('persistence: every server crashes and restarts, and the log survives', async () => {
  const c = new SimCluster({ servers: 3, seed: 21 })
  await c.start()
  await c.waitForLeader()
  await c.apply({ op: 'put', key: 'a', value: '1' })
  for (const n of c.nodes) await c.crash(n.id)
  for (const n of c.nodes) await c.restart(n.id)
  await c.waitForLeader()
  const r = await c.apply({ op: 'append', key: 'a', value: '2' })
  await c.waitApplied(r.index, 3)
  for (const n of c.nodes) assert.is(n.fsm.data.get('a'), '12')
  c.assertSafe()
  await c.shutdown()
})

test('persistence: leader and follower crash in turns; votes and terms are kept', async () => {
  const c = new SimCluster({ servers: 5, seed: 22 })
  await c.start()
  let value = ''
  for (let round = 0; round < 6; round++) {
    const leader = await c.waitForLeader()
    value += `${round}`
    await c.apply({ op: 'append', key: 'k', value: `${round}` })
    await c.crash(leader)
    const follower = c.nodes.find((n) => n.raft && n.id !== leader)!.id
    if (round % 2 === 0) await c.crash(follower)
    await c.run(400)
    await c.restart(leader)
    if (round % 2 === 0) await c.restart(follower)
  }
  await c.waitForLeader()
  const r = await c.apply({ op: 'get', key: 'k' })
  assert.is(r.response, value)
  await c.waitApplied(r.index, 5)
  await c.checkLogMatching()
  c.assertSafe()
  await c.shutdown()
})

test('persistence: a partitioned leader and a crashed majority come back consistent', async () => {
  const c = new SimCluster({ servers: 3, seed: 23 })
  await c.start()
  const leader = await c.waitForLeader()
  await c.apply({ op: 'put', key: 'k', value: 'v1' })
  const others = c.nodes.map((n) => n.id).filter((id) => id !== leader)
  c.network.isolate(c.node(leader).address)
  c.raft(leader)
    .apply(encodeCommand({ op: 'put', key: 'k', value: 'never' }), { timeoutMs: 500 })
    .catch(() => {})
  await c.waitForLeader(5000, others)
  await c.apply({ op: 'put', key: 'k', value: 'v2' })
  for (const id of others) await c.crash(id)
  c.network.heal()
  await c.run(1000)
  for (const id of others) await c.restart(id)
  await c.waitForLeader()
  const r = await c.apply({ op: 'get', key: 'k' })
  assert.is(r.response, 'v2')
  c.assertSafe()
  await c.shutdown()
})

async function figure8(seed: number, unreliable: boolean): Promise<void> {
  const c = new SimCluster({ servers: 5, seed, config: simConfig() })
  await c.start()
  if (unreliable) c.network.setFaults({ dropRate: 0.1, minDelayMs: 0, maxDelayMs: 20, reorderRate: 0.1 })
  await c.waitForLeader()
  let alive = 5
  for (let iter = 0; iter < 120; iter++) {
    const leader = c.leaders()[0]
    if (leader) {
      c.raft(leader)
        .apply(encodeCommand({ op: 'put', key: `k${iter % 7}`, value: String(iter) }), { timeoutMs: 1000 })
        .catch(() => {})
    }
    await c.run(c.rng.chance(0.1) ? c.rng.between(0, 600) : c.rng.between(0, 20))
    const now = c.leaders()[0]
    if (now && c.rng.chance(0.5)) {
      await c.crash(now)
      alive--
    }
    if (alive < 3) {
      const down = c.nodes.filter((n) => !n.raft)
      const pick = down[c.rng.int(down.length)]!
      await c.restart(pick.id)
      alive++
    }
  }
  c.network.setFaults({ dropRate: 0, minDelayMs: 0, maxDelayMs: 0, reorderRate: 0 })
  for (const n of c.nodes) if (!n.raft) await c.restart(n.id)
  await c.waitForLeader(10_000)
  const r = await c.apply({ op: 'put', key: 'final', value: 'yes' }, 20_000)
  await c.waitApplied(r.index, 5, 20_000)
  await c.checkLogMatching()
  c.assertSafe()
  await c.shutdown()
}

test('Figure 8: leaders crash right after proposing; nothing committed is lost', async () => {
  for (const seed of [31, 32, 33]) await figure8(seed, false)
})

test('Figure 8 on an unreliable network', async () => {
  for (const seed of [41, 42, 43]) await figure8(seed, true)
})

test('unreliable agreement: drops, delays and reorders; concurrent clients all commit', async () => {
  const c = new SimCluster({ servers: 5, seed: 51 })
  await c.start()
  c.network.setFaults({ dropRate: 0.1, minDelayMs: 0, maxDelayMs: 25, reorderRate: 0.2, duplicateRate: 0.05 })
  await c.waitForLeader()
  for (let i = 0; i < 50; i++) await c.apply({ op: 'append', key: `c${i % 4}`, value: `${i},` })
  c.network.setFaults({ dropRate: 0, maxDelayMs: 0, reorderRate: 0, duplicateRate: 0 })
  const r = await c.apply({ op: 'get', key: 'c0' })
  const expected = Array.from({ length: 50 }, (_, i) => i)
    .filter((i) => i % 4 === 0)
    .map((i) => `${i},`)
    .join('')
  assert.is(r.response, expected)
  await c.waitApplied(r.index, 5)
  c.assertSafe()
  await c.shutdown()
})

async function churn(seed: number, unreliable: boolean): Promise<void> {
  const c = new SimCluster({ servers: 5, seed })
  await c.start()
  if (unreliable) c.network.setFaults({ dropRate: 0.05, maxDelayMs: 20, reorderRate: 0.1 })
  await c.waitForLeader()
  const committed: string[] = []
  for (let step = 0; step < 60; step++) {
    const leader = c.leaders()[0]
    if (leader) {
      const v = `v${step}`
      c.raft(leader)
        .apply(encodeCommand({ op: 'append', key: 'log', value: `${v};` }), { timeoutMs: 2000 })
        .then(() => committed.push(v))
        .catch(() => {})
    }
    const roll = c.rng.next()
    const victim = c.nodes[c.rng.int(c.nodes.length)]!
    if (roll < 0.2) await c.crash(victim.id)
    else if (roll < 0.4) await c.restart(victim.id)
    else if (roll < 0.5) c.network.isolate(victim.address)
    else if (roll < 0.6) c.network.heal()
    await c.run(c.rng.between(10, 300))
  }
  c.network.heal()
  c.network.setFaults({ dropRate: 0, maxDelayMs: 0, reorderRate: 0 })
  for (const n of c.nodes) if (!n.raft) await c.restart(n.id)
  await c.waitForLeader(10_000)
  const r = await c.apply({ op: 'get', key: 'log' }, 20_000)
  const present = new Set(String(r.response).split(';').filter(Boolean))
  for (const v of committed) assert.ok(present.has(v), `acknowledged ${v} was lost (seed ${seed})`)
  await c.waitApplied(r.index, 5, 20_000)
  await c.checkLogMatching()
  c.assertSafe()
  await c.shutdown()
}

test('churn: crashes, restarts and isolation while clients write; nothing acknowledged is lost', async () => {
  for (const seed of [61, 62]) await churn(seed, false)
})

test('churn on an unreliable network', async () => {
  for (const seed of [71, 72]) await churn(seed, true)
})

test.run()

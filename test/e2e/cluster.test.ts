/**
 * End-to-end: real `shoal agent` processes on their own loopback addresses form one cluster,
 * keep a leader through SIGKILL, survive losing a minority, refuse strangers, and manage
 * membership (SIGTERM leaves, a non-voter is promoted).
 */

import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { AgentCluster } from './support/agents.js'

const test = suite('e2e cluster formation and failover')

test('3 peers form one cluster; SIGKILL the leader → a new leader commits; the old one catches up', async () => {
  const c = new AgentCluster(21, 3)
  try {
    for (const i of [1, 2, 3]) c.start(i)
    const leader = await c.leader([1, 2, 3], 30_000)
    // A follower learns of the leader from its first heartbeat, which may come before the
    // configuration entry reaches it: wait for that too.
    const s = await c.until('peer-1 to know 3 members', async () => {
      const st = await c.status(1)
      return st && st.members.length === 3 ? st : null
    })
    assert.is(s.members.length, 3)
    assert.ok(s.members.every((m) => m.suffrage === 'voter'))
    assert.is(await c.put(leader, 'before', 'kill'), 200)

    await c.stop(leader, 'SIGKILL')
    const rest = [1, 2, 3].filter((i) => i !== leader)
    const next = await c.leader(rest, 15_000)
    assert.is.not(next, leader)
    // A write through either survivor commits.
    await c.until('a write after failover', async () => (await c.put(rest[0]!, 'after', 'failover')) === 200)

    c.start(leader)
    await c.until('the restarted peer to catch up', async () => (await c.get(leader, 'after')) === 'failover')
    assert.is(await c.get(leader, 'before'), 'kill')
    assert.is(await c.get(leader, 'after', true), 'failover', 'consistent read through the leader')
  } finally {
    await c.destroy()
  }
})

test('peers started in every order form exactly one cluster', async () => {
  const orders = [
    [1, 2, 3],
    [3, 2, 1],
    [2, 3, 1],
  ]
  for (const [k, order] of orders.entries()) {
    const c = new AgentCluster(22 + k, 3)
    try {
      for (const i of order) {
        c.start(i)
        await new Promise((r) => setTimeout(r, 300))
      }
      await c.leader([1, 2, 3], 30_000)
      // A peer may learn who leads (from a first AppendEntries) a moment before it holds the
      // configuration entry: wait until all three hold a configuration of three.
      const statuses = await c.until('every peer to hold the configuration', async () => {
        const all = await Promise.all([1, 2, 3].map((i) => c.status(i)))
        return all.every((s) => s?.members.length === 3) ? all : null
      })
      const configs = new Set(statuses.map((s) => JSON.stringify(s!.members.map((m) => m.id).sort())))
      assert.is(configs.size, 1, `order ${order.join(',')}: one configuration`)
      const leaders = new Set(statuses.map((s) => s!.leader?.id))
      assert.is(leaders.size, 1, `order ${order.join(',')}: one leader`)
    } finally {
      await c.destroy()
    }
  }
})

test('a peer with a wrong or missing secret cannot join', async () => {
  const c = new AgentCluster(26, 4)
  try {
    for (const i of [1, 2, 3]) c.start(i, { join: [1, 2, 3].filter((j) => j !== i) })
    await c.leader([1, 2, 3], 30_000)
    // Missing: a joining peer without the secret file refuses to start (usage error).
    const missing = c.start(4, { join: [1], secretFile: `${c.dir}/does-not-exist` })
    assert.ok(missing)
    assert.is(await c.waitExit(4), 2)
    // Wrong: another secret — it starts, but no stream to the cluster ever opens.
    const { writeFileSync } = await import('node:fs')
    const { newClusterSecret } = await import('../../src/p2p/secret.js')
    writeFileSync(`${c.dir}/other-secret`, newClusterSecret(), { mode: 0o600 })
    c.start(4, { join: [1], secretFile: `${c.dir}/other-secret` })
    await c.until('the stranger to be up', async () => (await c.status(4)) !== null)
    await new Promise((r) => setTimeout(r, 3000))
    const s = (await c.status(1))!
    assert.is(s.members.length, 3, 'the cluster did not take the stranger in')
    const stranger = (await c.status(4))!
    assert.is(stranger.members.length, 0)
    assert.is(stranger.leader, null)
  } finally {
    await c.destroy()
  }
})

test('5 peers survive losing 2; SIGTERM makes a voter leave and a non-voter is promoted', async () => {
  const c = new AgentCluster(27, 5)
  try {
    for (const i of [1, 2, 3, 4, 5]) c.start(i, { bootstrapExpect: 3 })
    // Three bootstrap; two join as non-voters and autopilot promotes them (5 peers → 5 voters).
    await c.until(
      '5 voters',
      async () => {
        const s = await c.status(1)
        return s && s.members.length === 5 && s.members.every((m) => m.suffrage === 'voter') ? s : null
      },
      40_000,
    )
    const leader = await c.leader([1, 2, 3, 4, 5])
    const victims = [1, 2, 3, 4, 5].filter((i) => i !== leader).slice(0, 2)
    for (const v of victims) await c.stop(v, 'SIGKILL')
    const alive = [1, 2, 3, 4, 5].filter((i) => !victims.includes(i))
    await c.until('a write with 2 of 5 down', async () => (await c.put(alive[0]!, 'k', 'v')) === 200, 20_000)
    for (const v of victims) c.start(v, { bootstrapExpect: 3 })
    await c.until('everyone back', async () => {
      for (const i of [1, 2, 3, 4, 5]) if ((await c.get(i, 'k')) !== 'v') return null
      return true
    })

    // SIGTERM a voter: it leaves cleanly; with 4 servers the target is 3 voters + 1 non-voter.
    const leaving = [1, 2, 3, 4, 5].find((i) => i !== leader)!
    const code = await c.stop(leaving, 'SIGTERM')
    assert.is(code, 0)
    await c.until('the leaver removed', async () => {
      const s = await c.status(leader)
      return s && s.members.length === 4 && !s.members.some((m) => m.name === c.spec(leaving).name) ? s : null
    })
    const s = await c.until('3 voters and 1 non-voter', async () => {
      const st = await c.status(leader)
      const voters = st?.members.filter((m) => m.suffrage === 'voter').length
      return st && voters === 3 ? st : null
    })
    assert.is(s.members.filter((m) => m.suffrage === 'nonvoter').length, 1)
    // Kill a voter: autopilot promotes the healthy non-voter in its place.
    const voterVictim = s.members.find((m) => m.suffrage === 'voter' && m.name !== c.spec(leader).name)!
    const victimIndex = Number(voterVictim.name.split('-')[1])
    const standIn = s.members.find((m) => m.suffrage === 'nonvoter')!
    await c.stop(victimIndex, 'SIGKILL')
    await c.until('the non-voter promoted in place of the dead voter', async () => {
      const st = await c.status(leader)
      const m = st?.members.find((x) => x.id === standIn.id)
      return m?.suffrage === 'voter' ? st : null
    })
  } finally {
    await c.destroy()
  }
})

test.run()

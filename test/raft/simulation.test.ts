/**
 * The randomized simulation: many seeded schedules, each a cluster under a random mix of
 * partitions, drops, delays, reorders, duplicates, crashes and restarts, with clients
 * writing and reading. Every step is checked for Raft's safety properties (SimCluster), and
 * each schedule's client history is checked for linearizability.
 *
 *   RAFT_SIM_SCHEDULES=5000 make test T=raft/simulation   # more schedules
 *   RAFT_SIM_SEED=1234 make test T=raft/simulation        # replay one schedule
 */

import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { RaftConfig } from '../../src/raft/config.js'
import { checkOperations, type KvInput, type KvOperation, kvModel } from '../support/linearizability.js'
import { encodeCommand, SimCluster, simConfig } from './sim-cluster.js'

const test = suite('raft randomized simulation')

const schedules = Number(process.env.RAFT_SIM_SCHEDULES ?? 1000)
const onlySeed = process.env.RAFT_SIM_SEED ? Number(process.env.RAFT_SIM_SEED) : null
// Seeds that once failed stay here for good (a regression suite).
const REGRESSION_SEEDS: number[] = []

interface ScheduleOutcome {
  ops: number
  completed: number
  crashes: number
  leaders: number
}

/** Runs one schedule; throws with the seed in the message on any violation. */
async function runSchedule(seed: number): Promise<ScheduleOutcome> {
  // Draw the shape of the schedule from its own stream, so the cluster's stream is independent.
  const shape = new SimCluster({ servers: 1, seed: seed ^ 0x5eed }).rng
  const servers = shape.chance(0.5) ? 3 : 5
  const extra: Partial<RaftConfig> = shape.chance(0.4)
    ? { snapshotThreshold: shape.between(10, 40), trailingLogs: shape.between(0, 8), snapshotChunkBytes: 32 }
    : {}
  // Half the schedules are calm (a fault every 100–400 ms), half stormy (every 20–150 ms).
  const [minGapMs, maxGapMs] = shape.chance(0.5) ? [100, 400] : [20, 150]
  const c = new SimCluster({ servers, seed, config: simConfig({ ...extra, snapshotIntervalMs: 250 }) })
  await c.start()

  const history: KvOperation[] = []
  const keys = ['a', 'b', 'c']
  const durationMs = 4000
  const endAt = c.clock.now() + durationMs
  let crashes = 0
  let completed = 0
  const leaderTerms = new Set<string>()
  let stopClients = false

  const sleep = (ms: number) => new Promise<void>((r) => c.clock.setTimeout(r, ms))

  async function client(clientId: number): Promise<void> {
    let seq = 0
    let preferred = 0
    while (!stopClients) {
      const roll = c.rng.next()
      const key = keys[c.rng.int(keys.length)]!
      const input: KvInput =
        roll < 0.35
          ? { op: 'get', key }
          : roll < 0.6
            ? { op: 'put', key, value: `${clientId}.${seq}` }
            : { op: 'append', key, value: `${clientId}.${seq};` }
      seq++
      const live = c.nodes.filter((n) => n.raft)
      if (live.length === 0) {
        await sleep(50)
        continue
      }
      const node = live[preferred % live.length]!
      const raft = node.raft!
      const callMs = c.clock.now()
      const useBarrierRead = input.op === 'get' && c.rng.chance(0.5)
      try {
        let output = ''
        if (useBarrierRead) {
          // A linearizable read without a log entry of its own: confirm leadership, make sure
          // everything committed before is applied, then read the local state.
          await raft.verifyLeader({ timeoutMs: 500 })
          await raft.barrier({ timeoutMs: 500 })
          output = node.fsm.data.get(input.key) ?? ''
        } else {
          const r = await raft.apply(encodeCommand(input), { timeoutMs: 800 })
          output = input.op === 'get' ? String(r.response) : ''
        }
        history.push({ clientId, input, output, callMs, returnMs: c.clock.now() })
        completed++
      } catch (err) {
        const name = (err as Error).name
        if (
          name === 'NotLeaderError' ||
          name === 'LeadershipTransferInProgressError' ||
          name === 'OverloadedError'
        ) {
          // Definite: nothing was appended. Try another server next time.
          preferred++
        } else if (input.op !== 'get' || !useBarrierRead) {
          // Ambiguous: it may have been committed (or may still be).
          history.push({ clientId, input, callMs, pending: true })
          preferred++
        }
      }
      await sleep(c.rng.between(0, 30))
    }
  }

  const clients = [0, 1, 2].map((id) => client(id))

  // The nemesis: one random fault at every step.
  while (c.clock.now() < endAt) {
    await c.run(c.rng.between(minGapMs, maxGapMs))
    for (const id of c.leaders()) leaderTerms.add(`${id}@${c.raft(id).stats().term}`)
    const roll = c.rng.next()
    const victim = c.nodes[c.rng.int(c.nodes.length)]!
    if (roll < 0.15) {
      if (c.nodes.filter((n) => n.raft).length > 1) {
        await c.crash(victim.id)
        crashes++
      }
    } else if (roll < 0.35) {
      for (const n of c.nodes) if (!n.raft && c.rng.chance(0.7)) await c.restart(n.id)
    } else if (roll < 0.5) {
      const shuffled = [...c.nodes].sort(() => c.rng.next() - 0.5)
      const cut = c.rng.between(1, Math.floor(servers / 2))
      c.network.partition(
        shuffled.slice(0, cut).map((n) => n.address),
        shuffled.slice(cut).map((n) => n.address),
      )
    } else if (roll < 0.6) {
      c.network.isolate(victim.address)
    } else if (roll < 0.8) {
      c.network.heal()
    } else {
      c.network.setFaults({
        dropRate: c.rng.chance(0.5) ? c.rng.next() * 0.2 : 0,
        minDelayMs: 0,
        maxDelayMs: c.rng.chance(0.5) ? c.rng.between(1, 40) : 0,
        reorderRate: c.rng.chance(0.3) ? c.rng.next() * 0.3 : 0,
        duplicateRate: c.rng.chance(0.2) ? c.rng.next() * 0.1 : 0,
      })
    }
    c.assertSafe()
  }

  // Quiesce: heal everything, bring everyone back, and let the clients finish.
  stopClients = true
  c.network.heal()
  c.network.setFaults({ dropRate: 0, minDelayMs: 0, maxDelayMs: 0, reorderRate: 0, duplicateRate: 0 })
  for (const n of c.nodes) if (!n.raft) await c.restart(n.id)
  const settled = await c.settle(Promise.all(clients), 5000)
  if (!settled.ok) throw new Error(`seed ${seed}: clients did not finish`)
  await c.waitForLeader(10_000)
  // Liveness once healed: a write commits and reaches everyone.
  const r = await c.apply({ op: 'put', key: 'final', value: String(seed) }, 20_000)
  await c.waitApplied(r.index, servers, 20_000)
  await c.checkLogMatching()
  c.assertSafe()

  const verdict = checkOperations(kvModel, history, { timeoutMs: 10_000 })
  if (verdict.result !== 'ok') {
    throw new Error(
      `seed ${seed}: history is ${verdict.result} (${history.length} ops)\n${verdict.info ?? ''}`,
    )
  }
  await c.shutdown()
  return { ops: history.length, completed, crashes, leaders: leaderTerms.size }
}

test(`${onlySeed !== null ? `seed ${onlySeed}` : `${schedules} seeded schedules`}: safety holds and histories linearize`, async () => {
  const seeds =
    onlySeed !== null
      ? [onlySeed]
      : [...REGRESSION_SEEDS, ...Array.from({ length: schedules }, (_, i) => i + 1)]
  let ops = 0
  let completed = 0
  let crashes = 0
  let leaders = 0
  for (const seed of seeds) {
    try {
      const out = await runSchedule(seed)
      ops += out.ops
      completed += out.completed
      crashes += out.crashes
      leaders += out.leaders
    } catch (err) {
      console.error(`\nFAILED schedule: replay with RAFT_SIM_SEED=${seed} make test T=raft/simulation`)
      throw err
    }
  }
  console.log(
    `  ${seeds.length} schedules: ${ops} operations (${completed} completed), ${crashes} crashes, ${leaders} leader terms`,
  )
  assert.ok(completed > seeds.length * 5, 'clients made progress')
})

test.run()

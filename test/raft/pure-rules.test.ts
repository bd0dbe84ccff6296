import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { advanceCommitIndex, candidateLogIsUpToDate, quorumMatchIndex } from '../../src/raft/commitment.js'
import { defaultRaftConfig, validateRaftConfig } from '../../src/raft/config.js'
import {
  type Configuration,
  checkConfiguration,
  decodeConfiguration,
  encodeConfiguration,
  nextConfiguration,
  quorumSize,
} from '../../src/raft/configuration.js'
import {
  canSend,
  newProgress,
  onAppendRejected,
  onAppendSuccess,
  onSendFailed,
} from '../../src/raft/progress.js'
import { SerialQueue } from '../../src/raft/serial-queue.js'

const test = suite('raft pure rules')

const three: Configuration = {
  servers: [
    { id: 'a', address: 'A', suffrage: 'voter' },
    { id: 'b', address: 'B', suffrage: 'voter' },
    { id: 'c', address: 'C', suffrage: 'voter' },
    { id: 'n', address: 'N', suffrage: 'nonvoter' },
  ],
}

test('quorum match index counts voters only', () => {
  const m = new Map([
    ['a', 10],
    ['b', 7],
    ['c', 3],
    ['n', 100],
  ])
  assert.is(quorumMatchIndex(three, m), 7)
  assert.is(quorumSize(three), 2)
  assert.is(quorumMatchIndex({ servers: [] }, m), 0)
})

test('Figure 8: entries of older terms are never committed by counting replicas', () => {
  const m = new Map([
    ['a', 10],
    ['b', 10],
    ['c', 2],
  ])
  // Our term started at index 11: index 10 is on a majority but of an older term.
  assert.is(advanceCommitIndex(three, m, 2, 11), 2)
  m.set('b', 11)
  m.set('a', 11)
  assert.is(advanceCommitIndex(three, m, 2, 11), 11)
  // Never moves backwards.
  assert.is(advanceCommitIndex(three, new Map(), 5, 1), 5)
})

test('vote rule: later term wins, then longer log', () => {
  assert.ok(candidateLogIsUpToDate(3, 1, 2, 100))
  assert.not.ok(candidateLogIsUpToDate(2, 100, 3, 1))
  assert.ok(candidateLogIsUpToDate(3, 5, 3, 5))
  assert.not.ok(candidateLogIsUpToDate(3, 4, 3, 5))
})

test('configuration changes, one server at a time, and the codec', () => {
  let c = nextConfiguration(three, { command: 'addNonvoter', id: 'd', address: 'D' })
  assert.is(c.servers.find((s) => s.id === 'd')?.suffrage, 'nonvoter')
  c = nextConfiguration(c, { command: 'addVoter', id: 'd', address: 'D2' })
  assert.equal(
    c.servers.find((s) => s.id === 'd'),
    { id: 'd', address: 'D2', suffrage: 'voter' },
  )
  c = nextConfiguration(c, { command: 'addNonvoter', id: 'd', address: 'D3' })
  assert.is(c.servers.find((s) => s.id === 'd')?.suffrage, 'voter', 'addNonvoter never demotes')
  c = nextConfiguration(c, { command: 'demoteVoter', id: 'a' })
  assert.is(c.servers.find((s) => s.id === 'a')?.suffrage, 'nonvoter')
  c = nextConfiguration(c, { command: 'removeServer', id: 'b' })
  assert.not.ok(c.servers.some((s) => s.id === 'b'))
  assert.equal(decodeConfiguration(encodeConfiguration(c)), c)
  assert.throws(
    () => checkConfiguration({ servers: [{ id: 'x', address: 'X', suffrage: 'nonvoter' }] }),
    /no voter/,
  )
  assert.throws(
    () =>
      checkConfiguration({
        servers: [
          { id: 'x', address: 'X', suffrage: 'voter' },
          { id: 'x', address: 'Y', suffrage: 'voter' },
        ],
      }),
    /twice/,
  )
  assert.throws(() =>
    nextConfiguration({ servers: [three.servers[0]!] }, { command: 'removeServer', id: 'a' }),
  )
})

test('progress: probe finds the match point; replicate pipelines; stale rejections are ignored', () => {
  const p = newProgress(10)
  assert.is(p.nextIndex, 11)
  assert.ok(canSend(p, 4))
  p.inflight = 1
  assert.not.ok(canSend(p, 4), 'probe sends one at a time')
  p.inflight = 0
  // Rejected at prev 10 with a hint of 4: jump back.
  assert.ok(onAppendRejected(p, 10, 4))
  assert.is(p.nextIndex, 4)
  // A stale rejection for prev 10 again changes nothing.
  assert.not.ok(onAppendRejected(p, 10, 1))
  assert.is(p.nextIndex, 4)
  // A hint beyond the rejected index still moves back by at least one.
  assert.ok(onAppendRejected(p, 3, 50))
  assert.is(p.nextIndex, 3)
  assert.ok(onAppendSuccess(p, 9))
  assert.is(p.mode, 'replicate')
  assert.is(p.matchIndex, 9)
  assert.is(p.nextIndex, 10)
  p.inflight = 3
  assert.ok(canSend(p, 4))
  p.inflight = 4
  assert.not.ok(canSend(p, 4))
  // In replicate, a rejection at or below the match index is old news.
  assert.not.ok(onAppendRejected(p, 9, 1))
  assert.ok(onAppendRejected(p, 12, 11))
  assert.is(p.mode, 'probe')
  assert.is(p.nextIndex, 10, 'never below match + 1')
  onAppendSuccess(p, 12)
  onSendFailed(p)
  assert.is(p.mode, 'probe')
  assert.is(p.nextIndex, 13)
  p.mode = 'snapshot'
  assert.not.ok(canSend(p, 4))
})

test('config validation names the field and the value', () => {
  assert.equal(validateRaftConfig({}), defaultRaftConfig())
  assert.throws(
    () => validateRaftConfig({ heartbeatIntervalMs: 0 }),
    /heartbeatIntervalMs must be a positive number, got 0/,
  )
  assert.throws(
    () => validateRaftConfig({ heartbeatIntervalMs: 500, electionTimeoutMs: 300 }),
    /below electionTimeoutMs/,
  )
  assert.throws(() => validateRaftConfig({ trailingLogs: -1 }), /trailingLogs/)
})

test('serial queue runs tasks one at a time, in order, and refuses after close', async () => {
  const q = new SerialQueue()
  const order: string[] = []
  const slow = q.run(async () => {
    order.push('a-start')
    await new Promise((r) => setImmediate(r))
    order.push('a-end')
    return 1
  })
  const fast = q.run(() => {
    order.push('b')
    return 2
  })
  const failing = q.run(() => {
    throw new Error('boom')
  })
  const after = q.run(() => 'c')
  assert.equal(await Promise.all([slow, fast, failing.catch((e: Error) => e.message), after]), [
    1,
    2,
    'boom',
    'c',
  ])
  assert.equal(order, ['a-start', 'a-end', 'b'])
  q.close()
  await assert.not.throws(() => q.run(() => 1).catch(() => {}))
  await q
    .run(() => 1)
    .then(
      () => assert.unreachable('closed'),
      (e: Error) => assert.match(e.message, /closed/),
    )
})

test.run()

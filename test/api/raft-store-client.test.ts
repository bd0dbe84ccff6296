import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { RaftStoreClient } from '../../src/api/raft-store-client.js'
import type { ClusterManager, LeaderRequest } from '../../src/p2p/cluster-manager.js'
import type { Raft } from '../../src/raft/raft.js'
import { StoreError } from '../../src/store/errors.js'
import type { StoreCommand } from '../../src/store/object-store.js'
import { createCommand, FsmHarness } from '../store/fsm-harness.js'

const test = suite('RaftStoreClient: a write answered by the leader or by this peer’s own apply')

const createConfigMap = (name: string): StoreCommand =>
  createCommand('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } })

/**
 * A peer whose store has applied what `harness` applied, and whose leader answers every apply
 * with `answer(index of the entry the command became)`; the command is applied here as the
 * Raft log would (the leader's copy and this one alike).
 */
function peer(answer: (index: number, harness: FsmHarness) => unknown) {
  const harness = new FsmHarness()
  const sent: LeaderRequest[] = []
  const cluster = {
    leaderCall: async (request: LeaderRequest) => {
      sent.push(request)
      if (request.type !== 'apply') throw new Error('unexpected')
      harness.apply(JSON.parse(Buffer.from(request.data).toString('utf8')) as StoreCommand)
      return answer(harness.index, harness)
    },
  } as unknown as ClusterManager
  const raft = {
    waitApplied: async (index: number) => {
      if (harness.index < index) throw new Error(`index ${index} not applied`)
    },
  } as unknown as Raft
  return { harness, sent, client: new RaftStoreClient(harness.store, raft, cluster) }
}

test('a forwarded write asks for the index alone and answers from this peer’s apply', async () => {
  const { client, sent } = peer((index) => ({ index }))
  const made = await client.propose(createConfigMap('a'))
  assert.ok(made.ok)
  assert.is(made.ok && made.object?.metadata.name, 'a')
  assert.is(made.ok && made.object?.metadata.uid, 'uid-a')
  assert.is(sent[0]?.type === 'apply' && sent[0].indexOnly, true)
  const again = await client.propose(createConfigMap('a'))
  assert.is(!again.ok && again.status.code, 409, 'a refusal is this peer’s apply’s too')
})

test('a leader’s answer with the result (this peer leads, or an older leader) is used as it is', async () => {
  const answered = { ok: true, object: null }
  const { client } = peer((index) => ({ index, response: answered }))
  assert.is(await client.propose(createConfigMap('b')), answered)
})

test('a write this peer reached by a snapshot answers 504 Timeout: committed, result unknown', async () => {
  // The entry is applied, then this peer's state is replaced by a snapshot that covers it (it
  // had fallen behind), before the leader's answer is read.
  const { client } = peer(async (index, harness) => {
    await harness.store.restore(harness.store.snapshotBytes())
    return { index }
  })
  try {
    await client.propose(createConfigMap('d'))
    assert.unreachable('should have thrown')
  } catch (err) {
    assert.instance(err, StoreError)
    assert.is((err as StoreError).code, 504)
    assert.is((err as StoreError).reason, 'Timeout')
    assert.match((err as StoreError).message, /committed/)
  }
})

test.run()

import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { BatchingStoreClient } from '../../src/store/batching-store-client.js'
import { ObjectStore, type StoreCommand, type StoreResult } from '../../src/store/object-store.js'
import { LocalStoreClient } from '../../src/store/store-client.js'

const now = '2026-11-26T03:40:00Z'
const cm = (name: string): StoreCommand => ({
  op: 'create',
  resource: 'configmaps',
  namespace: 'default',
  object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } },
  uid: crypto.randomUUID(),
  now,
})

class Recording extends LocalStoreClient {
  ops: string[] = []
  override propose(command: StoreCommand): Promise<StoreResult> {
    this.ops.push(command.op === 'batch' ? `batch(${command.commands.length})` : command.op)
    return super.propose(command)
  }
}

test('the writes of one turn go as one batch, each caller getting its own result', async () => {
  const inner = new Recording(new ObjectStore())
  const client = new BatchingStoreClient(inner)
  await client.propose(cm('taken'))
  const results = await Promise.all([
    client.propose(cm('a')),
    client.propose(cm('taken')),
    client.propose(cm('b')),
  ])
  assert.equal(inner.ops, ['create', 'batch(3)'])
  assert.equal(
    results.map((r) => r.ok),
    [true, false, true],
  )
  assert.is((results[0] as { object: { metadata: { name: string } } }).object.metadata.name, 'a')
  // A batch of the caller's own goes out as it is.
  const own = await client.propose({ op: 'batch', commands: [cm('c'), cm('d')] })
  assert.ok(own.ok)
  assert.equal(inner.ops.slice(2), ['batch(2)'])
})

test('a failure of the whole write rejects every caller of the batch', async () => {
  const inner = new Recording(new ObjectStore())
  const client = new BatchingStoreClient(inner)
  inner.failNext = { count: 1, error: new Error('no leader') }
  const outcomes = await Promise.allSettled([client.propose(cm('a')), client.propose(cm('b'))])
  assert.equal(
    outcomes.map((o) => o.status),
    ['rejected', 'rejected'],
  )
})

test.run()

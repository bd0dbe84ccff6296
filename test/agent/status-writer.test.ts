import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { StatusWriter } from '../../src/agent/status-writer.js'
import { ObjectStore, type StoreCommand, type StoreResult } from '../../src/store/object-store.js'
import { LocalStoreClient } from '../../src/store/store-client.js'
import type { KubeObject } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/logger.js'

const now = '2026-11-26T03:30:00Z'

class CountingClient extends LocalStoreClient {
  ops: string[] = []
  override propose(command: StoreCommand): Promise<StoreResult> {
    this.ops.push(command.op)
    return super.propose(command)
  }
}

async function setUp(): Promise<{ client: CountingClient; clock: ManualClock; pods: KubeObject[] }> {
  const client = new CountingClient(new ObjectStore())
  const pods: KubeObject[] = []
  for (const name of ['a', 'b', 'c']) {
    const r = await client.propose({
      op: 'create',
      resource: 'pods',
      namespace: 'default',
      uid: crypto.randomUUID(),
      now,
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: { containers: [{ name: 'c', image: 'x' }] },
      },
    })
    pods.push((r as { object: KubeObject }).object)
  }
  client.ops = []
  return { client, clock: new ManualClock(Date.parse(now)), pods }
}

const settle = () => new Promise((r) => setTimeout(r, 0))

test('statuses waiting together go out as one batch; the newest status of a pod wins', async () => {
  const { client, clock, pods } = await setUp()
  const w = new StatusWriter(client, clock, silentLogger())
  w.set(pods[0]!, { phase: 'Pending' })
  w.set(pods[0]!, { phase: 'Running' })
  w.set(pods[1]!, { phase: 'Running' })
  clock.advance(10)
  await settle()
  assert.equal(client.ops, ['batch'])
  assert.is(w.written, 2)
  const phase = (name: string) =>
    (client.store.get('pods', 'default', name)!.status as { phase?: string } | undefined)?.phase
  assert.is(phase('a'), 'Running')
  assert.is(phase('b'), 'Running')
  // Alone, a status still goes as a (quiet) batch of one.
  w.set(pods[2]!, { phase: 'Running' })
  clock.advance(10)
  await settle()
  assert.equal(client.ops, ['batch', 'batch'])
  assert.is(phase('c'), 'Running')
  w.stop()
})

test('a failed write is retried; a status for a pod that is gone is dropped', async () => {
  const { client, clock, pods } = await setUp()
  const w = new StatusWriter(client, clock, silentLogger())
  client.failNext = { count: 1, error: new Error('no leader') }
  w.set(pods[0]!, { phase: 'Running' })
  w.set(pods[1]!, { phase: 'Running' })
  clock.advance(10)
  await settle()
  assert.is(w.written, 0)
  assert.ok(w.has(pods[0]!.metadata.uid!) && w.has(pods[1]!.metadata.uid!), 'both wait again')
  await client.propose({
    op: 'remove',
    resource: 'pods',
    namespace: 'default',
    name: 'b',
    gracePeriodSeconds: 0,
    now,
  })
  clock.advance(1000)
  await settle()
  assert.is(w.written, 1, 'a written; b is gone (404), dropped')
  assert.not.ok(w.has(pods[1]!.metadata.uid!))
  w.stop()
})

test.run()

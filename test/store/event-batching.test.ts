import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { EventRecorder, EventSink } from '../../src/store/event-recorder.js'
import { ObjectStore, type StoreCommand, type StoreResult } from '../../src/store/object-store.js'
import { LocalStoreClient } from '../../src/store/store-client.js'
import type { KubeObject } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/logger.js'

const now = '2026-11-26T03:00:00Z'

function configMap(name: string): StoreCommand {
  return {
    op: 'create',
    resource: 'configmaps',
    namespace: 'default',
    object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: '1' } },
    uid: crypto.randomUUID(),
    now,
  }
}

test('batch: each command applies and answers for itself; one failing does not undo the others', async () => {
  const store = new ObjectStore()
  const client = new LocalStoreClient(store)
  await client.propose(configMap('taken'))
  const r = await client.propose({
    op: 'batch',
    commands: [configMap('one'), configMap('taken'), configMap('two')],
  })
  assert.ok(r.ok)
  const results = (r as { results: StoreResult[] }).results
  assert.equal(
    results.map((x) => x.ok),
    [true, false, true],
  )
  assert.is((results[1] as { status: { reason: string } }).status.reason, 'AlreadyExists')
  const one = store.get('configmaps', 'default', 'one')!
  const two = store.get('configmaps', 'default', 'two')!
  assert.ok(one && two)
  assert.is(one.metadata.resourceVersion, two.metadata.resourceVersion, 'one entry, one resourceVersion')
  // Quiet: the same, without the objects in the answer (errors still say why).
  const quiet = await client.propose({
    op: 'batch',
    commands: [configMap('three'), configMap('one')],
    quiet: true,
  })
  const qr = (quiet as { results: StoreResult[] }).results
  assert.equal(qr[0], { ok: true, object: null })
  assert.is(qr[1]!.ok, false)
  assert.ok(store.get('configmaps', 'default', 'three'))
})

test('batch: empty, oversized and nested batches are refused', async () => {
  const store = new ObjectStore()
  const client = new LocalStoreClient(store)
  const empty = await client.propose({ op: 'batch', commands: [] })
  assert.is(empty.ok, false)
  const big = await client.propose({
    op: 'batch',
    commands: Array.from({ length: ObjectStore.MAX_BATCH + 1 }, (_, i) => configMap(`c${i}`)),
  })
  assert.is(big.ok, false)
  assert.is(store.list('configmaps').items.length, 0)
  const nested = await client.propose({
    op: 'batch',
    commands: [{ op: 'batch', commands: [configMap('x')] }, configMap('y')],
  })
  assert.ok(nested.ok)
  assert.equal(
    (nested as { results: StoreResult[] }).results.map((x) => x.ok),
    [false, true],
  )
  assert.not.ok(store.get('configmaps', 'default', 'x'))
})

/** A client whose proposals wait until released, counting them. */
class HeldClient extends LocalStoreClient {
  held: (() => void)[] = []
  commands: StoreCommand[] = []
  override async propose(command: StoreCommand): Promise<StoreResult> {
    this.commands.push(command)
    await new Promise<void>((r) => this.held.push(r))
    return super.propose(command)
  }
  release(): void {
    for (const r of this.held.splice(0)) r()
  }
}

test('events: one write each while the sink keeps up, one batch of the rest when it does not', async () => {
  const store = new ObjectStore()
  const client = new HeldClient(store)
  const sink = new EventSink(client, silentLogger(), 2)
  const clock = new ManualClock(Date.parse(now))
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: 'u' },
  }
  // Two recorders (two node agents) share the sink.
  const a = new EventRecorder(client, { component: 'kubelet', host: 'n1' }, clock, silentLogger(), sink)
  const b = new EventRecorder(client, { component: 'kubelet', host: 'n2' }, clock, silentLogger(), sink)
  const written = [a, b, a, b, a].map((r, i) => r.record(pod, 'Normal', 'Started', `event ${i}`))
  await Promise.resolve()
  // Two went out alone (two in flight at most); the other three wait. Every write is a quiet
  // batch (the events need not come back).
  const sizes = () => client.commands.map((c) => (c.op === 'batch' && c.quiet ? c.commands.length : -1))
  assert.equal(sizes(), [1, 1])
  client.release()
  await new Promise((r) => setTimeout(r, 0))
  assert.equal(sizes(), [1, 1, 3])
  client.release()
  await Promise.all(written)
  const events = store.list('events').items
  assert.is(events.length, 5)
  assert.equal(
    events.map((e) => (e as unknown as { message: string }).message).sort(),
    [0, 1, 2, 3, 4].map((i) => `event ${i}`),
  )
  assert.is(a.dropped, 0)
})

test.run()

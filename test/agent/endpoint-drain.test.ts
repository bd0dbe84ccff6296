import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { drainFromEndpoints, listedAsReady, PROXY_SETTLE_MS } from '../../src/agent/endpoint-drain.js'
import { ObjectStore, type StoreCommand } from '../../src/store/object-store.js'
import { LocalStoreClient } from '../../src/store/store-client.js'
import type { KubeObject } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'

// Addresses here are Endpoints data in an in-memory store: nothing is dialled.
const NOW = '2026-11-26T00:00:00Z'

function endpoints(ready: string[], notReady: string[] = []): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'web', namespace: 'default' },
    subsets: [
      {
        addresses: ready.map((ip) => ({ ip })),
        notReadyAddresses: notReady.map((ip) => ({ ip })),
        ports: [{ name: 'http', port: 8080 }],
      },
    ],
  } as KubeObject
}

async function world(
  ready: string[],
): Promise<{ store: ObjectStore; set: (ready: string[], notReady?: string[]) => Promise<void> }> {
  const store = new ObjectStore()
  const client = new LocalStoreClient(store)
  const propose = async (cmd: StoreCommand) => {
    const r = await client.propose(cmd)
    if (!r.ok) throw new Error(r.status.message)
  }
  await propose({
    op: 'create',
    resource: 'endpoints',
    namespace: 'default',
    object: endpoints(ready),
    uid: 'u1',
    now: NOW,
  })
  return {
    store,
    set: (r, nr = []) =>
      propose({
        op: 'update',
        resource: 'endpoints',
        namespace: 'default',
        name: 'web',
        object: endpoints(r, nr),
        now: NOW,
      }),
  }
}

const settled = async <T>(p: Promise<T>): Promise<boolean> => {
  let done = false
  void p.then(() => {
    done = true
  })
  for (let i = 0; i < 5; i++) await Promise.resolve()
  return done
}

test('a pod in no Endpoints (or only not ready) is not held back', async () => {
  const w = await world(['10.244.0.2'])
  const clock = new ManualClock(0)
  assert.is(await drainFromEndpoints(w.store, clock, 'default', '10.244.0.9', 500), false)
  assert.is(await drainFromEndpoints(w.store, clock, 'other', '10.244.0.2', 500), false)
  await w.set([], ['10.244.0.2'])
  assert.is(listedAsReady(w.store, 'default', '10.244.0.2'), false)
  assert.is(await drainFromEndpoints(w.store, clock, 'default', '10.244.0.2', 500), false)
})

test('a listed pod waits until its address leaves the Endpoints, then the proxies’ settle time', async () => {
  const w = await world(['10.244.0.2', '10.244.0.3'])
  const clock = new ManualClock(0)
  const drained = drainFromEndpoints(w.store, clock, 'default', '10.244.0.2', 2_000)
  await w.set(['10.244.0.2']) // another address leaves: still listed
  assert.is(await settled(drained), false)
  await w.set(['10.244.0.3'], ['10.244.0.2'])
  assert.is(await settled(drained), false)
  clock.advance(PROXY_SETTLE_MS)
  assert.is(await drained, true)
})

test('the wait is bounded', async () => {
  const w = await world(['10.244.0.2'])
  const clock = new ManualClock(0)
  const drained = drainFromEndpoints(w.store, clock, 'default', '10.244.0.2', 500)
  clock.advance(499)
  assert.is(await settled(drained), false)
  clock.advance(1)
  assert.is(await drained, true)
})

test.run()

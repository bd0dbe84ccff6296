import '../../src/util/polyfill.js'
import { EventEmitter } from 'node:events'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Controller } from '../../src/controllers/controller.js'
import { ControllerManager } from '../../src/controllers/controller-manager.js'
import { computeSubsets, EndpointsController } from '../../src/controllers/endpoints.js'
import { GarbageCollector } from '../../src/controllers/garbage-collector.js'
import { NodeLifecycle } from '../../src/controllers/node-lifecycle.js'
import { LogType } from '../../src/raft/log.js'
import { encodeStoreCommand, ObjectStore, type StoreResult } from '../../src/store/object-store.js'
import type { KubeObject } from '../../src/store/types.js'
import { silentLogger } from '../../src/util/logger.js'
import { SeededRng } from '../../src/util/random.js'
import { ControllerWorld, settle } from './support.js'

test('a fenced command applies only in the term it was made in', () => {
  const store = new ObjectStore()
  const cm = (name: string) => ({
    op: 'create' as const,
    resource: 'configmaps',
    namespace: 'default',
    object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } },
    uid: globalThis.crypto.randomUUID(),
    now: '2026-11-25T12:00:00Z',
  })
  const apply = (index: number, term: number, command: unknown) =>
    store.apply({
      index,
      term,
      type: LogType.Command,
      data: encodeStoreCommand(command as never),
    }) as StoreResult
  const same = apply(1, 3, { op: 'fenced', term: 3, command: cm('a') })
  assert.ok(same.ok)
  const late = apply(2, 4, { op: 'fenced', term: 3, command: cm('b') })
  assert.not.ok(late.ok)
  assert.is(late.ok ? 0 : late.status.code, 409)
  assert.ok(store.get('configmaps', 'default', 'a'))
  assert.not.ok(store.get('configmaps', 'default', 'b'))
})

test('bind sets the node and PodScheduled once; a second bind is 409', async () => {
  const w = new ControllerWorld()
  await w.node('n1')
  const pod = await w.pod('p')
  const bound = await w.propose({
    op: 'bind',
    namespace: 'default',
    name: 'p',
    uid: pod.metadata.uid,
    node: 'n1',
    now: w.nowIso(),
  })
  assert.is((bound.spec as { nodeName: string }).nodeName, 'n1')
  const cond = (bound.status as { conditions: { type: string; status: string }[] }).conditions.find(
    (c) => c.type === 'PodScheduled',
  )
  assert.is(cond?.status, 'True')
  const again = await w.client.propose({
    op: 'bind',
    namespace: 'default',
    name: 'p',
    node: 'n1',
    now: w.nowIso(),
  })
  assert.is(again.ok ? 0 : again.status.code, 409)
  const noNode = await w.pod('q')
  const missing = await w.client.propose({
    op: 'bind',
    namespace: 'default',
    name: 'q',
    uid: noNode.metadata.uid,
    node: 'nope',
    now: w.nowIso(),
  })
  assert.is(missing.ok ? 0 : missing.status.code, 404)
})

test('delete with orphan: dependents lose their owner reference and stay', async () => {
  const w = new ControllerWorld()
  const owner = await w.create('configmaps', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'owner' },
  })
  await w.pod('child', { owner })
  await w.propose({
    op: 'remove',
    resource: 'configmaps',
    namespace: 'default',
    name: 'owner',
    orphan: true,
    now: w.nowIso(),
  })
  const child = w.store.get('pods', 'default', 'child')!
  assert.is(child.metadata.ownerReferences, undefined)
})

class FakeLeadership extends EventEmitter {
  leader = false
  term = 1
  barriers = 0
  state() {
    return this.leader ? 'leader' : 'follower'
  }
  stats() {
    return { term: this.term }
  }
  async barrier() {
    this.barriers += 1
  }
  set(leader: boolean, term: number) {
    this.leader = leader
    this.term = term
    this.emit('leader', leader ? {} : null)
  }
}

test('the controller manager runs controllers only while leading, fresh each term, after a barrier', async () => {
  const w = new ControllerWorld()
  const leadership = new FakeLeadership()
  const log: string[] = []
  let made = 0
  const factory = (): Controller => {
    const id = ++made
    return {
      name: 'probe',
      start: () => {
        log.push(`start ${id}`)
      },
      stop: () => {
        log.push(`stop ${id}`)
      },
    }
  }
  const m = new ControllerManager({
    leadership,
    client: w.client,
    store: w.store,
    factories: [factory],
    clock: w.clock,
    rng: new SeededRng(1),
    logger: silentLogger(),
  })
  m.start()
  await settle()
  assert.equal(log, [])
  leadership.set(true, 2)
  await settle()
  assert.equal(log, ['start 1'])
  assert.is(m.runningTerm(), 2)
  assert.is(leadership.barriers, 1)
  leadership.set(false, 2)
  await settle()
  assert.equal(log, ['start 1', 'stop 1'])
  leadership.set(true, 4)
  await settle()
  // A new term without a 'leader' event is caught by the poll.
  leadership.term = 5
  await w.run(600)
  assert.equal(log, ['start 1', 'stop 1', 'start 2', 'stop 2', 'start 3'])
  m.stop()
  assert.equal(log.at(-1), 'stop 3')
})

test('node lifecycle: a silent node goes NotReady, its pods not ready, then evicted; a live one stays', async () => {
  const w = new ControllerWorld()
  await w.node('alive')
  await w.node('dead')
  await w.pod('on-dead', { node: 'dead', ip: '10.0.0.1' })
  await w.pod('on-alive', { node: 'alive', ip: '10.0.0.2' })
  const nl = new NodeLifecycle({ gracePeriodMs: 5000, evictionTimeoutMs: 2000, checkIntervalMs: 500 })
  nl.start(w.context())
  const ready = (name: string) =>
    (
      w.store.get('nodes', undefined, name)!.status as { conditions: { type: string; status: string }[] }
    ).conditions.find((c) => c.type === 'Ready')?.status
  for (let i = 0; i < 14; i++) {
    await w.run(600)
    await w.heartbeat('alive')
  }
  assert.is(ready('alive'), 'True')
  assert.is(ready('dead'), 'Unknown')
  assert.not.ok(w.store.get('pods', 'default', 'on-dead'), 'evicted')
  assert.ok(w.store.get('pods', 'default', 'on-alive'))
  const events = w.store.list('events').items.map((e) => e.reason)
  assert.ok(events.includes('NodeNotReady'))
  assert.ok(events.includes('NodeControllerEviction'))
  // It comes back: Ready again, nothing more happens to it.
  await w.heartbeat('dead')
  await w.run(1000)
  assert.is(ready('dead'), 'True')
  nl.stop()
})

test('node lifecycle: a new leader gives every node a full grace period', async () => {
  const w = new ControllerWorld()
  await w.node('n1')
  await w.run(60_000) // heartbeat long stale by the clock, but this controller never saw it move
  const nl = new NodeLifecycle({ gracePeriodMs: 5000, evictionTimeoutMs: 2000, checkIntervalMs: 500 })
  nl.start(w.context())
  await w.run(3000)
  const cond = (
    w.store.get('nodes', undefined, 'n1')!.status as { conditions: { type: string; status: string }[] }
  ).conditions[0]
  assert.is(cond?.status, 'True')
  nl.stop()
})

test('endpoints: ready and not-ready addresses, named target ports, follow pods and the service', async () => {
  const w = new ControllerWorld()
  await w.create('services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default', labels: { tier: 'front' } },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  })
  const ports = [{ name: 'http', containerPort: 8080 }]
  await w.pod('a', { labels: { app: 'web' }, ip: '10.0.0.1', node: 'n1', ports })
  await w.pod('b', { labels: { app: 'web' }, ip: '10.0.0.2', ready: false, ports })
  await w.pod('c', { labels: { app: 'other' }, ip: '10.0.0.3', ports })
  await w.pod('d', { labels: { app: 'web' }, ip: '10.0.0.4' }) // no port named http
  const ec = new EndpointsController()
  ec.start(w.context())
  await w.run(100)
  await ec.whenIdle()
  const ep = () => w.store.get('endpoints', 'default', 'web')
  const subsets = ep()!.subsets as {
    addresses?: { ip: string; nodeName?: string; targetRef: { name: string } }[]
    notReadyAddresses?: { ip: string }[]
    ports: unknown[]
  }[]
  assert.is(subsets.length, 1)
  assert.equal(
    subsets[0]!.addresses!.map((a) => a.ip),
    ['10.0.0.1'],
  )
  assert.is(subsets[0]!.addresses![0]!.nodeName, 'n1')
  assert.is(subsets[0]!.addresses![0]!.targetRef.name, 'a')
  assert.equal(
    subsets[0]!.notReadyAddresses!.map((a) => a.ip),
    ['10.0.0.2'],
  )
  assert.equal(subsets[0]!.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }])
  assert.is(ep()!.metadata.labels?.tier, 'front')
  // Relabelled: b leaves the service (only its old labels matched), c joins it.
  for (const [name, app] of [
    ['b', 'gone'],
    ['c', 'web'],
  ] as const) {
    await w.propose({
      op: 'patch',
      resource: 'pods',
      namespace: 'default',
      name,
      patchType: 'merge',
      patch: { metadata: { labels: { app } } },
      uid: crypto.randomUUID(),
      now: w.nowIso(),
    })
  }
  await w.run(100)
  await ec.whenIdle()
  const relabelled = (ep()!.subsets as { addresses?: { ip: string }[]; notReadyAddresses?: unknown[] }[])[0]!
  assert.equal(
    relabelled.addresses!.map((a) => a.ip),
    ['10.0.0.1', '10.0.0.3'],
  )
  assert.is(relabelled.notReadyAddresses, undefined)
  await w.propose({
    op: 'remove',
    resource: 'pods',
    namespace: 'default',
    name: 'a',
    gracePeriodSeconds: 0,
    now: w.nowIso(),
  })
  await w.run(100)
  await ec.whenIdle()
  assert.equal(
    (ep()!.subsets as { addresses?: { ip: string }[] }[])[0]!.addresses!.map((a) => a.ip),
    ['10.0.0.3'],
  )
  await w.propose({ op: 'remove', resource: 'services', namespace: 'default', name: 'web', now: w.nowIso() })
  await w.run(100)
  await ec.whenIdle()
  assert.not.ok(ep(), 'gone with its service')
  ec.stop()
})

test('computeSubsets groups pods by their resolved ports and ignores finished and deleting pods', () => {
  const svc: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 's' },
    spec: { selector: { app: 'x' }, ports: [{ port: 80, targetPort: 'web' }] },
  }
  const pod = (name: string, port: number, extra: Partial<KubeObject> = {}): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'd', uid: name, labels: { app: 'x' } },
    spec: { containers: [{ name: 'c', ports: [{ name: 'web', containerPort: port }] }] },
    status: {
      phase: 'Running',
      podIP: `10.0.0.${port % 100}`,
      conditions: [{ type: 'Ready', status: 'True' }],
    },
    ...extra,
  })
  const subsets = computeSubsets(svc, [
    pod('p1', 8080),
    pod('p2', 8081),
    pod('p3', 8080),
    pod('done', 8080, { status: { phase: 'Succeeded', podIP: '10.0.0.9' } }),
    {
      ...pod('going', 8080),
      metadata: { name: 'going', namespace: 'd', labels: { app: 'x' }, deletionTimestamp: 'x' },
    },
  ])
  assert.is(subsets.length, 2)
  assert.equal(
    subsets.map((s) => (s.addresses ?? []).length),
    [2, 1],
  )
})

test('garbage collection: dependents of a deleted owner go; others stay', async () => {
  const w = new ControllerWorld()
  const owner = await w.create('replicationcontrollers', {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name: 'rc', namespace: 'default' },
    spec: {
      replicas: 0,
      selector: { app: 'a' },
      template: { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
    },
  })
  const keeper = await w.create('replicationcontrollers', {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name: 'keep', namespace: 'default' },
    spec: {
      replicas: 0,
      selector: { app: 'k' },
      template: { metadata: { labels: { app: 'k' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
    },
  })
  await w.pod('mine-1', { owner })
  await w.pod('mine-2', { owner })
  await w.pod('kept', { owner: keeper })
  await w.pod('free')
  const gc = new GarbageCollector(10_000)
  gc.start(w.context())
  await w.run(200)
  assert.is(w.store.list('pods').items.length, 4)
  await w.propose({
    op: 'remove',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'rc',
    now: w.nowIso(),
  })
  await w.run(300)
  assert.equal(
    w.store
      .list('pods')
      .items.map((p) => p.metadata.name)
      .sort(),
    ['free', 'kept'],
  )
  gc.stop()
})

test.run()

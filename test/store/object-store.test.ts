import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { LogType } from '../../src/raft/log.js'
import type { SnapshotSink } from '../../src/raft/snapshot.js'
import {
  ObjectStore,
  RECENT_RESULTS,
  type StoreCommand,
  type StoreResult,
} from '../../src/store/object-store.js'
import type { KubeObject } from '../../src/store/types.js'
import type { WatchEvent } from '../../src/store/watch-hub.js'
import { createCommand, FsmHarness } from './fsm-harness.js'

const test = suite('object store (the Raft FSM)')

const NOW = '2026-11-25T12:00:00Z'

/** A small watch history, so that tests reach its bound. */
const harness = () => new FsmHarness(new ObjectStore({ historyPerResource: 50 }), NOW)

const pod = (name: string, extra: Partial<KubeObject> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app: 'web' } },
  spec: { containers: [{ name: 'main', image: 'busybox' }] },
  ...extra,
})

const create = (resource: string, object: KubeObject, namespace?: string, uid?: string): StoreCommand =>
  createCommand(resource, object, namespace, uid, NOW)

test('default and kube-system exist; a write into a missing namespace is refused', () => {
  const h = harness()
  h.ok(create('pods', pod('a')))
  assert.ok(h.store.get('namespaces', undefined, 'default'))
  assert.ok(h.store.get('namespaces', undefined, 'kube-system'))
  const st = h.fail(create('pods', pod('b'), 'nope'))
  assert.is(st.code, 404)
  assert.match(st.message!, /namespaces "nope" not found/)
})

test('create sets uid, creationTimestamp, resourceVersion from the index, generation 1, defaults, Pending', () => {
  const h = harness()
  const p = h.ok(create('pods', pod('web-1')))
  assert.is(p.metadata.uid, 'uid-web-1')
  assert.is(p.metadata.creationTimestamp, NOW)
  assert.is(p.metadata.resourceVersion, String(h.index))
  assert.is(p.metadata.generation, 1)
  assert.is(p.metadata.namespace, 'default')
  assert.is((p.spec as { restartPolicy: string }).restartPolicy, 'Always')
  assert.is((p.status as { phase: string }).phase, 'Pending')
  assert.ok(Object.isFrozen(p), 'stored objects are frozen')
  const again = h.fail(create('pods', pod('web-1')))
  assert.is(again.code, 409)
  assert.is(again.reason, 'AlreadyExists')
})

test('invalid objects are refused with 422 naming the field, and nothing is stored', () => {
  const h = harness()
  const bad = pod('Bad_Name')
  ;(bad.spec as { containers: unknown[] }).containers = [{ name: 'main' }]
  const st = h.fail(create('pods', bad))
  assert.is(st.code, 422)
  assert.match(st.message!, /metadata.name/)
  assert.match(st.message!, /spec.containers\[0\].image: Required value/)
  assert.is(h.store.list('pods').items.length, 0)
})

test('update: optimistic concurrency, generation bumps only on spec changes, status is its own subresource', () => {
  const h = harness()
  const v1 = h.ok(
    create('replicationcontrollers', {
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'c', image: 'nginx:1' }] },
        },
      },
    }),
  )
  const stale = structuredClone(v1)
  const next = structuredClone(v1)
  ;(next.spec as { replicas: number }).replicas = 3
  const v2 = h.ok({
    op: 'update',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'web',
    object: next,
    now: NOW,
  })
  assert.is(v2.metadata.generation, 2)
  assert.is(Number(v2.metadata.resourceVersion), h.index)
  ;(stale.spec as { replicas: number }).replicas = 5
  const conflict = h.fail({
    op: 'update',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'web',
    object: stale,
    now: NOW,
  })
  assert.is(conflict.code, 409)
  assert.is(conflict.reason, 'Conflict')
  // Labels change: no generation bump.
  const labelled = structuredClone(v2)
  labelled.metadata.labels = { ...(labelled.metadata.labels ?? {}), tier: 'fe' }
  const v3 = h.ok({
    op: 'update',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'web',
    object: labelled,
    now: NOW,
  })
  assert.is(v3.metadata.generation, 2)
  // Status through the main resource is ignored; through /status it sticks.
  const withStatus = { ...structuredClone(v3), status: { replicas: 9 } }
  const v4 = h.ok({
    op: 'update',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'web',
    object: withStatus,
    now: NOW,
  })
  assert.is((v4.status as { replicas: number }).replicas, 0)
  const v5 = h.ok({
    op: 'update',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'web',
    object: withStatus,
    subresource: 'status',
    now: NOW,
  })
  assert.is((v5.status as { replicas: number }).replicas, 9)
  assert.is(v5.metadata.generation, 2)
  // An update that changes nothing keeps the resourceVersion.
  const same = h.ok({
    op: 'update',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'web',
    object: structuredClone(v5),
    now: NOW,
  })
  assert.is(same.metadata.resourceVersion, v5.metadata.resourceVersion)
})

test('patches: merge for labels, strategic keeps list items, scale, and a missing object is 404', () => {
  const h = harness()
  h.ok(
    create(
      'pods',
      pod('p', { spec: { containers: [{ name: 'a', image: 'x', env: [{ name: 'A', value: '1' }] }] } }),
    ),
  )
  const merged = h.ok({
    op: 'patch',
    resource: 'pods',
    namespace: 'default',
    name: 'p',
    patchType: 'merge',
    patch: { metadata: { labels: { tier: 'fe' } } },
    uid: 'u',
    now: NOW,
  })
  assert.equal(merged.metadata.labels, { app: 'web', tier: 'fe' })
  const smp = h.ok({
    op: 'patch',
    resource: 'pods',
    namespace: 'default',
    name: 'p',
    patchType: 'strategic',
    patch: { spec: { containers: [{ name: 'a', image: 'y' }] } },
    uid: 'u',
    now: NOW,
  })
  const c = (smp.spec as { containers: { image: string; env: unknown[] }[] }).containers[0]!
  assert.is(c.image, 'y')
  assert.is(c.env.length, 1, 'a strategic merge keeps the env the patch does not mention')
  const missing = h.fail({
    op: 'patch',
    resource: 'pods',
    namespace: 'default',
    name: 'zz',
    patchType: 'merge',
    patch: {},
    uid: 'u',
    now: NOW,
  })
  assert.is(missing.code, 404)
  h.ok(
    create('replicationcontrollers', {
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: { name: 'rc' },
      spec: {
        replicas: 1,
        selector: { app: 'rc' },
        template: { metadata: { labels: { app: 'rc' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
      },
    }),
  )
  const scaled = h.ok({
    op: 'scale',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'rc',
    replicas: 4,
    now: NOW,
  })
  assert.is((scaled.spec as { replicas: number }).replicas, 4)
  const badScale = h.fail({
    op: 'scale',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'rc',
    replicas: 4,
    resourceVersion: '1',
    now: NOW,
  })
  assert.is(badScale.code, 409)
})

test('server-side apply creates when absent and merges when present; conflicts change nothing; force', () => {
  const h = harness()
  const applyCommand = (manager: string, data: Record<string, string>, force?: boolean) =>
    ({
      op: 'patch',
      resource: 'configmaps',
      namespace: 'default',
      name: 'cfg',
      patchType: 'apply',
      patch: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data },
      manager,
      ...(force ? { force } : {}),
      uid: 'uid-cfg',
      now: NOW,
    }) as const
  const created = h.apply(applyCommand('kubectl', { a: '1' }))
  assert.ok(created.ok && created.created)
  // Another manager's fields merge in.
  const merged = h.ok(applyCommand('ops', { b: '2' }))
  assert.equal(merged.data, { a: '1', b: '2' })
  assert.is(merged.metadata.uid, 'uid-cfg')
  // kubectl drops a (it goes) and sets c; b stays, it is ops'.
  const third = h.ok(applyCommand('kubectl', { c: '3' }))
  assert.equal(third.data, { b: '2', c: '3' })
  assert.equal(
    third.metadata.managedFields?.map((e) => (e as { fieldsV1: unknown }).fieldsV1),
    [{ 'f:data': { 'f:c': {} } }, { 'f:data': { 'f:b': {} } }],
  )
  // kubectl changing ops' b: 409 naming the field, and the store unchanged.
  const conflict = h.fail(applyCommand('kubectl', { b: '9', c: '3' }))
  assert.is(conflict.code, 409)
  assert.is(conflict.message, 'Apply failed with 1 conflict: conflict with "ops" using v1: .data.b')
  assert.equal(conflict.details?.causes?.[0], {
    reason: 'FieldManagerConflict',
    message: 'conflict with "ops" using v1',
    field: '.data.b',
  })
  assert.is(h.store.get('configmaps', 'default', 'cfg'), third)
  const forced = h.ok(applyCommand('kubectl', { b: '9', c: '3' }, true))
  assert.equal(forced.data, { b: '9', c: '3' })
  assert.equal(forced.metadata.managedFields?.length, 1, 'ops owned nothing more')
  // A PUT without managedFields keeps the owners, and its manager takes the field it changed
  // (an Update entry): kubectl changing it back is then a conflict with the editor.
  const { managedFields: _, ...metaWithout } = forced.metadata
  const updated = h.ok({
    op: 'update',
    resource: 'configmaps',
    namespace: 'default',
    name: 'cfg',
    object: { ...forced, metadata: metaWithout, data: { b: '9', c: '4' } },
    manager: 'editor',
    now: NOW,
  })
  assert.equal(
    updated.metadata.managedFields?.map((e) => {
      const { manager, operation, fieldsV1 } = e as Record<string, unknown>
      return { manager, operation, fieldsV1 }
    }),
    [
      { manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:data': { 'f:b': {} } } },
      { manager: 'editor', operation: 'Update', fieldsV1: { 'f:data': { 'f:c': {} } } },
    ],
  )
  const back = h.fail(applyCommand('kubectl', { b: '9', c: '3' }))
  assert.is(back.message, 'Apply failed with 1 conflict: conflict with "editor" using v1: .data.c')
  // A merge patch by another manager takes b over the same way; removing a field frees it.
  const patched = h.ok({
    op: 'patch',
    resource: 'configmaps',
    namespace: 'default',
    name: 'cfg',
    patchType: 'merge',
    patch: { data: { b: '10', c: null } },
    manager: 'hpa',
    uid: 'x',
    now: NOW,
  })
  assert.equal(
    patched.metadata.managedFields?.map((e) => (e as { manager: string }).manager),
    ['hpa'],
    'kubectl lost b, the editor lost c (removed): only hpa owns anything',
  )
  const cleared = h.ok({
    op: 'update',
    resource: 'configmaps',
    namespace: 'default',
    name: 'cfg',
    object: { ...patched, metadata: { ...patched.metadata, managedFields: [] } },
    now: NOW,
  })
  assert.is(cleared.metadata.managedFields, undefined)
})

test('delete: preconditions, graceful pods on a node, finalizers, namespaces take their objects along', () => {
  const h = harness()
  h.ok(
    create(
      'namespaces',
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } },
      undefined as unknown as string,
    ),
  )
  h.ok(create('pods', pod('a'), 'team'))
  h.ok(
    create(
      'pods',
      pod('bound', { spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'i' }] } }),
      'team',
    ),
  )
  h.ok(
    create(
      'configmaps',
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'held', finalizers: ['example.com/keep'] },
        data: {},
      },
      'team',
    ),
  )
  const pre = h.fail({
    op: 'remove',
    resource: 'pods',
    namespace: 'team',
    name: 'a',
    preconditions: { uid: 'wrong' },
    now: NOW,
  })
  assert.is(pre.code, 409)
  h.ok({ op: 'remove', resource: 'pods', namespace: 'team', name: 'a', now: NOW })
  assert.not.ok(h.store.get('pods', 'team', 'a'))
  const graceful = h.ok({ op: 'remove', resource: 'pods', namespace: 'team', name: 'bound', now: NOW })
  assert.is(graceful.metadata.deletionTimestamp, NOW)
  assert.is(graceful.metadata.deletionGracePeriodSeconds, 30)
  assert.ok(h.store.get('pods', 'team', 'bound'), 'still there until its node confirms')
  h.ok({ op: 'remove', resource: 'pods', namespace: 'team', name: 'bound', gracePeriodSeconds: 0, now: NOW })
  assert.not.ok(h.store.get('pods', 'team', 'bound'))
  const held = h.ok({ op: 'remove', resource: 'configmaps', namespace: 'team', name: 'held', now: NOW })
  assert.ok(held.metadata.deletionTimestamp)
  const released = structuredClone(held)
  released.metadata.finalizers = []
  h.ok({ op: 'update', resource: 'configmaps', namespace: 'team', name: 'held', object: released, now: NOW })
  assert.not.ok(h.store.get('configmaps', 'team', 'held'), 'gone once the last finalizer is')
  h.ok(create('pods', pod('c'), 'team'))
  h.ok({ op: 'remove', resource: 'namespaces', name: 'team', now: NOW })
  assert.not.ok(h.store.get('namespaces', undefined, 'team'))
  assert.is(h.store.list('pods', { namespace: 'team' }).items.length, 0)
  const sys = h.fail({ op: 'remove', resource: 'namespaces', name: 'default', now: NOW })
  assert.is(sys.code, 403)
})

test('watch: resume from a resourceVersion, selector transitions, 410 when the history is gone', () => {
  const h = harness()
  h.ok(create('pods', pod('w1')))
  const rv = h.store.hub.currentResourceVersion()
  const seen: string[] = []
  const watch = h.store.hub.watch(
    'pods',
    rv,
    (o) => o.metadata.labels?.app === 'web',
    (e: WatchEvent) => seen.push(`${e.type}:${e.object.metadata.name}`),
  )
  h.ok(create('pods', pod('w2')))
  h.ok({
    op: 'patch',
    resource: 'pods',
    namespace: 'default',
    name: 'w2',
    patchType: 'merge',
    patch: { metadata: { labels: { app: 'other' } } },
    uid: 'u',
    now: NOW,
  })
  h.ok({
    op: 'patch',
    resource: 'pods',
    namespace: 'default',
    name: 'w2',
    patchType: 'merge',
    patch: { metadata: { labels: { app: 'web' } } },
    uid: 'u',
    now: NOW,
  })
  h.ok({ op: 'remove', resource: 'pods', namespace: 'default', name: 'w1', now: NOW })
  watch.cancel()
  assert.equal(seen, ['ADDED:w2', 'DELETED:w2', 'ADDED:w2', 'DELETED:w1'])
  // Resuming from the same point replays the same events.
  const replay: string[] = []
  h.store.hub
    .watch(
      'pods',
      rv,
      () => true,
      (e) => replay.push(`${e.type}:${e.object.metadata.name}`),
    )
    .cancel()
  assert.equal(replay, ['ADDED:w2', 'MODIFIED:w2', 'MODIFIED:w2', 'DELETED:w1'])
  for (let i = 0; i < 60; i++) h.ok(create('pods', pod(`many-${i}`)))
  assert.throws(
    () =>
      h.store.hub.watch(
        'pods',
        rv,
        () => true,
        () => {},
      ),
    (err: Error) => err.name === 'GoneError' && /too old resource version/.test(err.message),
  )
})

test('snapshot and restore keep every object, uid and resourceVersion', async () => {
  const h = harness()
  h.ok(create('pods', pod('keep')))
  h.apply({ op: 'put', key: 'members/x', value: '{}' })
  const snap = await h.store.snapshot()
  const chunks: Uint8Array[] = []
  const sink: SnapshotSink = {
    id: 's',
    write: async (c) => {
      chunks.push(c)
    },
    close: async () => {},
    cancel: async () => {},
  }
  await snap.persist(sink)
  const restored = new ObjectStore()
  await restored.restore(Buffer.concat(chunks.map((c) => Buffer.from(c))))
  const before = h.store.get('pods', 'default', 'keep')!
  const after = restored.get('pods', 'default', 'keep')!
  assert.equal(after, before)
  assert.is(restored.kvGet('members/x'), '{}')
  assert.is(restored.hub.currentResourceVersion(), h.store.hub.currentResourceVersion())
  assert.throws(
    () =>
      restored.hub.watch(
        'pods',
        1,
        () => true,
        () => {},
      ),
    (err: Error) => err.name === 'GoneError',
  )
})

test('events expire: expire-events removes the events last seen before the cut-off', () => {
  const h = harness()
  const ev = (name: string, lastTimestamp: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name },
    involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' },
    reason: 'Scheduled',
    message: 'm',
    type: 'Normal',
    lastTimestamp,
  })
  h.ok(create('events', ev('old', '2026-11-25T10:00:00Z')))
  h.ok(create('events', ev('new', '2026-11-25T11:30:00Z')))
  h.apply({ op: 'expire-events', before: '2026-11-25T11:00:00Z' })
  assert.equal(
    h.store.list('events').items.map((e) => e.metadata.name),
    ['new'],
  )
})

test('a malformed or unknown command changes nothing and answers an error', () => {
  const h = harness()
  h.index++
  const r = h.store.apply({
    index: h.index,
    term: 1,
    type: LogType.Command,
    data: new TextEncoder().encode('{nope'),
  }) as StoreResult
  assert.is(r.ok, false)
  const unknown = h.fail({
    op: 'create',
    resource: 'widgets',
    object: pod('x'),
    uid: 'u',
    now: NOW,
  } as StoreCommand)
  assert.is(unknown.code, 404)
  const kindless = h.fail(create('pods', { metadata: null } as unknown as KubeObject, 'default', 'uid-x'))
  assert.is(kindless.code, 400)
})

test('resultOf answers what applying an entry answered, for the last RECENT_RESULTS entries', async () => {
  const h = harness()
  const made = h.apply(create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }))
  const refused = h.apply(
    create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }),
  )
  assert.is(h.store.resultOf(h.index - 1), made)
  assert.is(h.store.resultOf(h.index), refused)
  assert.is((refused as { status: { code: number } }).status.code, 409)
  assert.is(h.store.resultOf(h.index + 1), undefined, 'not applied yet')
  const first = h.index - 1
  for (let i = 0; i < RECENT_RESULTS; i++) h.apply({ op: 'put', key: 'k', value: String(i) })
  assert.is(h.store.resultOf(first), undefined, 'forgotten after RECENT_RESULTS more')
  assert.ok(h.store.resultOf(first + 2), 'the last RECENT_RESULTS are kept')
  assert.ok(h.store.resultOf(h.index))

  // A store that got its state by a snapshot applied none of the entries it stands for.
  await h.store.restore(h.store.snapshotBytes())
  assert.is(h.store.resultOf(h.index), undefined)
})

test.run()

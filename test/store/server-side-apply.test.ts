import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { StoreError } from '../../src/store/errors.js'
import { strategicMergeSchemaFor } from '../../src/store/patch.js'
import {
  ApplyConflictError,
  applyServerSideApply,
  changedFields,
  FieldSet,
  fieldsOfApplied,
  formatPath,
  recordUpdate,
} from '../../src/store/server-side-apply.js'
import { thrown } from '../support/assertions.js'
import { deepFreeze, type Json } from '../support/json.js'

/** An applied ReplicationController configuration with what `spec` says. */
function rc(spec: Json, labels: Json | null = { app: 'web' }): Json {
  const metadata = labels === null ? { name: 'web' } : { name: 'web', labels }
  return { apiVersion: 'v1', kind: 'ReplicationController', metadata, spec }
}

const container = (name: string, image: string): Json => ({ name, image })

/** Applies as `manager`, on a frozen live object (the function must not mutate it). */
function apply(live: unknown, applied: Json, manager: string, force = false): Json {
  return applyServerSideApply(
    live === undefined ? undefined : deepFreeze(live),
    deepFreeze(applied),
    'ReplicationController',
    manager,
    { force, now: '2026-11-26T09:00:00Z' },
  ) as Json
}

const conflictOf = (fn: () => unknown): ApplyConflictError => thrown(fn, ApplyConflictError)

const spec = (o: Json) => o.spec as Json
const managers = (o: Json) =>
  ((o.metadata as Json).managedFields as Json[]).map((e) => `${e.manager}/${e.operation}`)
const fieldsOf = (o: Json, manager: string) =>
  FieldSet.fromFieldsV1(
    ((o.metadata as Json).managedFields as Json[]).find((e) => e.manager === manager)?.fieldsV1,
  )

test('field sets: fieldsV1 in and out, paths, and how Kubernetes prints them', () => {
  const fieldsV1 = {
    'f:metadata': { 'f:labels': { 'f:app': {} }, 'f:finalizers': { 'v:"a/b"': {} } },
    'f:spec': {
      'f:replicas': {},
      'f:template': {
        'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
      },
    },
  }
  const set = FieldSet.fromFieldsV1(fieldsV1)
  assert.equal(set.toFieldsV1(), fieldsV1)
  assert.equal(set.paths().map(formatPath), [
    '.metadata.labels.app',
    '.metadata.finalizers[="a/b"]',
    '.spec.replicas',
    '.spec.template.spec.containers[name="web"]',
    '.spec.template.spec.containers[name="web"].image',
    '.spec.template.spec.containers[name="web"].name',
  ])
  assert.ok(set.reaches(['f:spec', 'f:template']), 'a parent reaches what is below it')
  assert.not.ok(set.has(['f:spec', 'f:template']), 'but does not own it')
  assert.equal(FieldSet.fromFieldsV1('junk').paths(), [], 'junk reads as no fields')
  // What an applied configuration sets: never its identity or status.
  const applied = {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' }, finalizers: ['a/b'] },
    spec: { replicas: 2, template: { spec: { containers: [container('web', 'nginx')] } } },
    status: { replicas: 9 },
  }
  assert.equal(
    fieldsOfApplied(applied, strategicMergeSchemaFor('ReplicationController')).toFieldsV1(),
    fieldsV1,
  )
})

test('another manager changing an owned field is a 409 naming the field and the owner; the same value is shared', () => {
  const first = apply(undefined, rc({ replicas: 3, selector: { app: 'web' } }), 'ci')
  assert.equal(managers(first), ['ci/Apply'])
  assert.is(((first.metadata as Json).managedFields as Json[])[0]!.time, '2026-11-26T09:00:00Z')

  const e = conflictOf(() => apply(first, rc({ replicas: 5 }), 'alice'))
  assert.is(e.code, 409)
  assert.is(e.reason, 'Conflict')
  assert.is(e.message, 'Apply failed with 1 conflict: conflict with "ci" using v1: .spec.replicas')
  assert.equal(e.toStatus().details?.causes, [
    { reason: 'FieldManagerConflict', message: 'conflict with "ci" using v1', field: '.spec.replicas' },
  ])

  // The value it has already: no conflict, both own it.
  const shared = apply(first, rc({ replicas: 3 }), 'alice')
  assert.ok(fieldsOf(shared, 'ci').has(['f:spec', 'f:replicas']))
  assert.ok(fieldsOf(shared, 'alice').has(['f:spec', 'f:replicas']))
  // ci drops replicas from its configuration: alice still holds it, so it stays.
  const ciDrops = apply(shared, rc({ selector: { app: 'web' } }), 'ci')
  assert.is(spec(ciDrops).replicas, 3)
  assert.not.ok(fieldsOf(ciDrops, 'ci').has(['f:spec', 'f:replicas']))
  // alice drops it too: nobody holds it any more, so it goes.
  const aliceDrops = apply(ciDrops, rc({}), 'alice')
  assert.is(spec(aliceDrops).replicas, undefined)
  assert.equal(spec(aliceDrops).selector, { app: 'web' }, "ci's field stays")
})

test('force takes the fields over; a manager forced out of everything leaves managedFields', () => {
  const first = apply(undefined, rc({ replicas: 3 }), 'ci')
  const forced = apply(first, rc({ replicas: 5 }), 'alice', true)
  assert.is(spec(forced).replicas, 5)
  // ci owned only replicas (and the label, which alice set to the same value, so shared).
  assert.ok(fieldsOf(forced, 'alice').has(['f:spec', 'f:replicas']))
  assert.not.ok(fieldsOf(forced, 'ci').has(['f:spec', 'f:replicas']))
  assert.equal(managers(forced), ['ci/Apply', 'alice/Apply'])
  const e = conflictOf(() => apply(forced, rc({ replicas: 3 }), 'ci'))
  assert.match(e.message, /conflict with "alice" using v1: \.spec\.replicas/)

  const onlyReplicas = apply(undefined, rc({ replicas: 3 }, null), 'ci')
  const takenOver = apply(onlyReplicas, rc({ replicas: 4 }, null), 'alice', true)
  assert.equal(managers(takenOver), ['alice/Apply'], 'ci had nothing left')
})

test('an item or label dropped from the configuration is removed; what others set stays', () => {
  const template = (containers: Json[]) => ({ template: { spec: { containers } } })
  const first = apply(
    undefined,
    rc(template([container('web', 'nginx:1'), container('log', 'busybox')]), { app: 'web', tier: 'front' }),
    'ci',
  )
  // A field nobody applied (as defaulting or a controller would set it) is nobody's to remove.
  const live = structuredClone(first)
  ;((spec(live).template as Json).spec as Json).dnsPolicy = 'ClusterFirst'
  const second = apply(live, rc(template([container('web', 'nginx:2')]), { app: 'web' }), 'ci')
  const containers = ((spec(second).template as Json).spec as Json).containers as Json[]
  assert.equal(containers, [container('web', 'nginx:2')], 'the dropped item is gone')
  assert.equal((second.metadata as Json).labels, { app: 'web' }, 'the dropped label is gone')
  assert.is(((spec(second).template as Json).spec as Json).dnsPolicy, 'ClusterFirst')

  // A list item changed by someone else: the conflict names the item by its key.
  const e = conflictOf(() => apply(second, rc(template([container('web', 'nginx:3')])), 'alice'))
  assert.is(
    e.message,
    'Apply failed with 1 conflict: conflict with "ci" using v1: .spec.template.spec.containers[name="web"].image',
  )
})

test('Update entries a client wrote count as owners; several conflicts are listed', () => {
  const live = {
    ...rc({ replicas: 2, minReadySeconds: 5 }),
    metadata: {
      name: 'web',
      labels: { app: 'web' },
      managedFields: [
        {
          manager: 'kubectl-client-side-apply',
          operation: 'Update',
          apiVersion: 'v1',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:spec': { 'f:replicas': {}, 'f:minReadySeconds': {} } },
        },
      ],
    },
  }
  const e = conflictOf(() => apply(live, rc({ replicas: 3, minReadySeconds: 1 }), 'kubectl'))
  assert.is(
    e.message,
    'Apply failed with 2 conflicts: \n- conflict with "kubectl-client-side-apply" using v1: .spec.replicas\n- conflict with "kubectl-client-side-apply" using v1: .spec.minReadySeconds',
  )
  assert.is(e.toStatus().details?.causes?.length, 2)
  assert.instance(e, StoreError)
})

test('a field applied empty ({}) and later with contents keeps them; an item another manager holds keeps its key', () => {
  const template = (containers: Json[]) => ({ template: { spec: { containers } } })
  const first = apply(undefined, rc(template([{ name: 'web', image: 'nginx', resources: {} }])), 'ci')
  const second = apply(
    first,
    rc(template([{ name: 'web', image: 'nginx', resources: { limits: { cpu: '1' } } }])),
    'ci',
  )
  const web = (((spec(second).template as Json).spec as Json).containers as Json[])[0]!
  assert.equal(web.resources, { limits: { cpu: '1' } })
  assert.ok(
    fieldsOf(second, 'ci').has([
      'f:spec',
      'f:template',
      'f:spec',
      'f:containers',
      'k:{"name":"web"}',
      'f:resources',
      'f:limits',
      'f:cpu',
    ]),
  )

  // Another manager holds the image of the item ci drops: the item stays, whole, with its key.
  const shared = structuredClone(second)
  ;((shared.metadata as Json).managedFields as Json[]).push({
    manager: 'ops',
    operation: 'Update',
    apiVersion: 'v1',
    fieldsType: 'FieldsV1',
    fieldsV1: {
      'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { 'f:image': {} } } } } },
    },
  })
  const dropped = apply(shared, rc(template([])), 'ci')
  const left = ((spec(dropped).template as Json).spec as Json).containers as Json[]
  assert.equal(left, [{ name: 'web', image: 'nginx' }], "ops' image stays, with the key; ci's resources go")
})

test('replacing what others own below (null, a scalar over a map) is a conflict for each of their fields', () => {
  const first = apply(undefined, rc({ selector: { app: 'web', tier: 'front' } }), 'ci')
  const e = conflictOf(() => apply(first, rc({ selector: null }), 'alice'))
  assert.is(e.toStatus().details?.causes?.length, 2)
  assert.match(e.message, /conflict with "ci" using v1: \.spec\.selector\.app/)
  assert.match(e.message, /conflict with "ci" using v1: \.spec\.selector\.tier/)
  const forced = apply(first, rc({ selector: null }), 'alice', true)
  assert.is(spec(forced).selector, undefined)
  assert.not.ok(fieldsOf(forced, 'ci').reaches(['f:spec', 'f:selector']), 'ci gave them up')
})

test('ports are keyed by port and protocol (TCP when absent): a Service serves 53 over TCP and UDP', () => {
  const svc = (ports: Json[]) =>
    deepFreeze({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'dns' }, spec: { ports } })
  const first = applyServerSideApply(
    undefined,
    svc([
      { name: 'dns-tcp', port: 53 },
      { name: 'dns', port: 53, protocol: 'UDP' },
    ]),
    'Service',
    'ci',
  ) as Json
  assert.equal(spec(first).ports, [
    { name: 'dns-tcp', port: 53 },
    { name: 'dns', port: 53, protocol: 'UDP' },
  ])
  assert.equal(Object.keys((fieldsOf(first, 'ci').toFieldsV1()['f:spec'] as Json)['f:ports'] as Json), [
    'k:{"port":53,"protocol":"TCP"}',
    'k:{"port":53,"protocol":"UDP"}',
  ])
  // As stored (defaulted: protocol TCP written out), then the UDP one changed alone.
  const stored = structuredClone(first)
  ;((spec(stored).ports as Json[])[0] as Json).protocol = 'TCP'
  const second = applyServerSideApply(
    deepFreeze(stored),
    svc([
      { name: 'dns-tcp', port: 53 },
      { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 },
    ]),
    'Service',
    'ci',
  ) as Json
  assert.equal(spec(second).ports, [
    { name: 'dns-tcp', port: 53, protocol: 'TCP' },
    { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 },
  ])
})

test('an update takes the fields it changed; removed fields leave every owner; an owner left with nothing goes', () => {
  const schema = strategicMergeSchemaFor('ReplicationController')
  // The same controller before and after a write: replicas, containers, finalizer changed.
  const version = (replicas: number, containers: Json[], finalizer: string, resourceVersion: string) => ({
    ...rc({ replicas, template: { spec: { containers } } }),
    metadata: { name: 'web', labels: { app: 'web' }, finalizers: [finalizer], resourceVersion },
    status: { replicas },
  })
  const before = version(2, [container('web', 'nginx:1'), container('log', 'busybox')], 'a/b', '7')
  const after = version(5, [container('web', 'nginx:2'), container('metrics', 'x')], 'c/d', '8')
  const changes = changedFields(before, after, schema)
  assert.equal(changes.changed.paths().map(formatPath), [
    '.metadata.finalizers[="c/d"]',
    '.spec.replicas',
    '.spec.template.spec.containers[name="web"].image',
    '.spec.template.spec.containers[name="metrics"]',
    '.spec.template.spec.containers[name="metrics"].name',
    '.spec.template.spec.containers[name="metrics"].image',
  ])
  assert.equal(changes.removed.paths().map(formatPath), [
    '.metadata.finalizers[="a/b"]',
    '.spec.template.spec.containers[name="log"]',
  ])
  const owners = recordUpdate(
    [
      {
        manager: 'ci',
        operation: 'Apply',
        apiVersion: 'v1',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': { 'f:replicas': {} } },
      },
      {
        manager: 'ops',
        operation: 'Apply',
        apiVersion: 'v1',
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': {
            'f:template': {
              'f:spec': { 'f:containers': { 'k:{"name":"log"}': { '.': {}, 'f:image': {} } } },
            },
          },
        },
      },
    ],
    changes,
    'hpa',
    '2026-11-26T09:30:00Z',
  )
  assert.equal(
    owners.map((e) => e.manager),
    ['ops', 'hpa'],
    'ci lost replicas (its only field) and goes; ops keeps its label, not the removed item',
  )
  assert.equal(owners[0]!.fieldsV1, { 'f:metadata': { 'f:labels': { 'f:app': {} } } })
  assert.is(owners[1]!.operation, 'Update')
  assert.is(owners[1]!.time, '2026-11-26T09:30:00Z')
  assert.ok(FieldSet.fromFieldsV1(owners[1]!.fieldsV1).has(['f:spec', 'f:replicas']))
  // Nothing changed: the owners as they were.
  assert.is(recordUpdate(owners, changedFields(after, after, schema), 'x', 'now').length, 2)
})

test.run()

import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  adoptPatch,
  availabilityRecheckMs,
  claimPods,
  computeRcStatus,
  isPodActive,
  podFromTemplate,
  podNameFor,
  podsToDelete,
  releasePatch,
  replicaDiff,
  selectorMatches,
  uidFrom,
} from '../../src/controllers/replication.js'
import { applyStrategicMergePatch } from '../../src/store/patch.js'
import type { KubeObject } from '../../src/store/types.js'
import { SeededRng } from '../../src/util/random.js'

const T0 = Date.parse('2026-01-01T00:00:00Z')
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')

function rc(extra: { replicas?: number; minReadySeconds?: number; deleting?: boolean } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: {
      name: 'web',
      namespace: 'default',
      uid: 'rc-uid',
      generation: 3,
      ...(extra.deleting ? { deletionTimestamp: iso(T0) } : {}),
    },
    spec: {
      replicas: extra.replicas ?? 3,
      minReadySeconds: extra.minReadySeconds ?? 0,
      selector: { app: 'web' },
      template: {
        metadata: { labels: { app: 'web', tier: 'front' }, annotations: { note: 'x' } },
        spec: { containers: [{ name: 'c', image: 'busybox' }] },
      },
    },
  }
}

interface PodOpts {
  labels?: Record<string, string>
  owner?: string | null
  ownerKind?: string
  node?: string
  phase?: string
  ready?: boolean
  readySince?: number
  created?: number
  restarts?: number
  deleting?: boolean
  namespace?: string
}

function pod(name: string, o: PodOpts = {}): KubeObject {
  const owner = o.owner === undefined ? 'rc-uid' : o.owner
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? 'default',
      uid: `${name}-uid`,
      labels: o.labels ?? { app: 'web', tier: 'front' },
      creationTimestamp: iso(o.created ?? T0),
      ...(owner
        ? {
            ownerReferences: [
              {
                apiVersion: 'v1',
                kind: o.ownerKind ?? 'ReplicationController',
                name: 'web',
                uid: owner,
                controller: true,
              },
            ],
          }
        : {}),
      ...(o.deleting ? { deletionTimestamp: iso(T0) } : {}),
    },
    spec: { ...(o.node ? { nodeName: o.node } : {}), containers: [{ name: 'c', image: 'busybox' }] },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [
        { type: 'Ready', status: o.ready ? 'True' : 'False', lastTransitionTime: iso(o.readySince ?? T0) },
      ],
      containerStatuses: [{ name: 'c', restartCount: o.restarts ?? 0 }],
    },
  }
}

const names = (pods: KubeObject[]) => pods.map((p) => p.metadata.name)

test('selectors: every key with its value; an empty selector selects nothing', () => {
  assert.ok(selectorMatches({ app: 'web' }, { app: 'web', x: 'y' }))
  assert.not.ok(selectorMatches({ app: 'web', tier: 'a' }, { app: 'web' }))
  assert.not.ok(selectorMatches({}, { app: 'web' }))
  assert.not.ok(selectorMatches(undefined, { app: 'web' }))
})

test('active pods: not terminal, not being deleted', () => {
  assert.ok(isPodActive(pod('a')))
  assert.ok(isPodActive(pod('a', { phase: 'Pending' })))
  assert.not.ok(isPodActive(pod('a', { phase: 'Succeeded' })))
  assert.not.ok(isPodActive(pod('a', { phase: 'Failed' })))
  assert.not.ok(isPodActive(pod('a', { deleting: true })))
})

test('claim: owned, orphans adopted, non-matching released, others untouched', () => {
  const pods = [
    pod('owned'),
    pod('orphan', { owner: null }),
    pod('orphan-other-labels', { owner: null, labels: { app: 'db' } }),
    pod('strayed', { labels: { app: 'other' } }),
    pod('someone-elses', { owner: 'other-uid' }),
    pod('other-kind', { owner: 'x', ownerKind: 'ReplicaSet' }),
    pod('done', { phase: 'Succeeded' }),
    pod('done-orphan', { owner: null, phase: 'Failed' }),
    pod('going', { deleting: true }),
    pod('going-orphan', { owner: null, deleting: true }),
    pod('elsewhere', { owner: null, namespace: 'other' }),
  ]
  const c = claimPods(rc(), pods)
  assert.equal(names(c.owned), ['owned'])
  assert.equal(names(c.adopt), ['orphan'])
  assert.equal(names(c.release), ['strayed'])
})

test('claim: an RC being deleted adopts nothing', () => {
  const c = claimPods(rc({ deleting: true }), [pod('orphan', { owner: null }), pod('owned')])
  assert.equal(names(c.adopt), [])
  assert.equal(names(c.owned), ['owned'])
})

test('adopt and release patches: the controller reference, the pod uid as precondition', () => {
  const p = pod('orphan', { owner: null })
  const adopt = adoptPatch(rc(), p)
  assert.equal(adopt, {
    metadata: {
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'ReplicationController',
          name: 'web',
          uid: 'rc-uid',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      uid: 'orphan-uid',
    },
  })
  const adopted = applyStrategicMergePatch(structuredClone(p), adopt, 'Pod') as KubeObject
  assert.equal(adopted.metadata.ownerReferences?.length, 1)
  const released = applyStrategicMergePatch(
    structuredClone(adopted),
    releasePatch(rc(), p),
    'Pod',
  ) as KubeObject
  assert.equal(released.metadata.ownerReferences ?? [], [])
})

test('diff: desired minus active owned, bounded by the burst', () => {
  assert.is(replicaDiff(rc({ replicas: 3 }), 1), 2)
  assert.is(replicaDiff(rc({ replicas: 1 }), 4), -3)
  assert.is(replicaDiff(rc({ replicas: 1000 }), 0), 500)
  assert.is(replicaDiff(rc({ replicas: 0 }), 900, 500), -500)
})

test('delete order: unassigned, Pending < Unknown < Running, not ready, ready less long, restarts, newer', () => {
  const pods = [
    pod('running-ready-old', { node: 'n', ready: true, readySince: T0, created: T0 }),
    pod('running-ready-recent', { node: 'n', ready: true, readySince: T0 + 60_000, created: T0 }),
    pod('running-notready', { node: 'n' }),
    pod('unknown', { node: 'n', phase: 'Unknown' }),
    pod('pending', { node: 'n', phase: 'Pending' }),
    pod('unassigned', { phase: 'Pending' }),
    pod('running-ready-old-restarts', { node: 'n', ready: true, readySince: T0, created: T0, restarts: 4 }),
    pod('running-ready-old-newer', { node: 'n', ready: true, readySince: T0, created: T0 + 1000 }),
  ]
  assert.equal(names(podsToDelete(pods, pods.length)), [
    'unassigned',
    'pending',
    'unknown',
    'running-notready',
    'running-ready-recent',
    'running-ready-old-restarts',
    'running-ready-old-newer',
    'running-ready-old',
  ])
  assert.equal(names(podsToDelete(pods, 2)), ['unassigned', 'pending'])
  assert.equal(podsToDelete(pods, 0), [])
})

test('delete order: the deletion-cost annotation goes before readiness time', () => {
  const cheap = pod('cheap', { node: 'n', ready: true, readySince: T0 })
  cheap.metadata.annotations = { 'controller.kubernetes.io/pod-deletion-cost': '-10' }
  const recent = pod('recent', { node: 'n', ready: true, readySince: T0 + 5000 })
  assert.equal(names(podsToDelete([recent, cheap], 1)), ['cheap'])
})

test('status: replicas, fully labeled, ready, available after minReadySeconds, observedGeneration', () => {
  const owned = [
    pod('a', { ready: true, readySince: T0 }),
    pod('b', { ready: true, readySince: T0 + 8000 }),
    pod('c', { labels: { app: 'web' } }),
  ]
  const s = computeRcStatus(rc({ minReadySeconds: 10 }), owned, T0 + 12_000)
  assert.equal(s, {
    replicas: 3,
    fullyLabeledReplicas: 2,
    readyReplicas: 2,
    availableReplicas: 1,
    observedGeneration: 3,
  })
  assert.is(computeRcStatus(rc(), owned, T0).availableReplicas, 2)
})

test('status: ReplicaFailure while creating fails, gone once it does not', () => {
  const r = rc()
  const failed = computeRcStatus(r, [], T0, { reason: 'FailedCreate', message: 'quota' })
  assert.equal(failed.conditions, [
    {
      type: 'ReplicaFailure',
      status: 'True',
      lastTransitionTime: iso(T0),
      reason: 'FailedCreate',
      message: 'quota',
    },
  ])
  const withCondition = { ...r, status: failed as unknown as Record<string, unknown> }
  const again = computeRcStatus(withCondition, [], T0 + 5000, { reason: 'FailedCreate', message: 'quota' })
  assert.is(again.conditions?.[0]?.lastTransitionTime, iso(T0))
  assert.is(computeRcStatus(withCondition, [], T0).conditions, undefined)
})

test('availability recheck: all ready but not yet available with minReadySeconds', () => {
  const r = rc({ replicas: 2, minReadySeconds: 5 })
  const s = {
    replicas: 2,
    fullyLabeledReplicas: 2,
    readyReplicas: 2,
    availableReplicas: 0,
    observedGeneration: 3,
  }
  assert.is(availabilityRecheckMs(r, s), 5000)
  assert.is(availabilityRecheckMs(r, { ...s, availableReplicas: 2 }), null)
  assert.is(availabilityRecheckMs(rc({ replicas: 2 }), s), null)
})

test('pod from template: name from the rng, labels, annotations, owner, spec', () => {
  const rng = new SeededRng(7)
  const name = podNameFor(rc(), rng)
  assert.match(name, /^web-[a-z0-9]{5}$/)
  assert.is.not(podNameFor(rc(), rng), name)
  assert.is(podNameFor(rc(), new SeededRng(7)), name)
  const p = podFromTemplate(rc(), name)
  assert.is(p.metadata.name, name)
  assert.is(p.metadata.namespace, 'default')
  assert.equal(p.metadata.labels, { app: 'web', tier: 'front' })
  assert.equal(p.metadata.annotations, { note: 'x' })
  assert.equal(p.metadata.ownerReferences?.[0]?.uid, 'rc-uid')
  assert.is(p.metadata.ownerReferences?.[0]?.controller, true)
  assert.equal(p.spec, { containers: [{ name: 'c', image: 'busybox' }] })
  assert.match(uidFrom(rng), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
})

test.run()

import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { SchedulerCache } from '../../src/controllers/scheduler-cache.js'
import {
  filterNode,
  isPendingForUs,
  leastAllocatedScore,
  NO_NODES_MESSAGE,
  NodeInfo,
  nodeFacts,
  podInfo,
  type ScheduleResult,
  schedulePod,
  scoreNodes,
  serviceSelectors,
  tolerates,
  unschedulableMessage,
} from '../../src/controllers/scheduling.js'
import type { KubeObject } from '../../src/store/types.js'
import { SeededRng } from '../../src/util/random.js'

const test = suite('scheduling (filters, scores, messages)')

interface NodeOpts {
  cpu?: string
  memory?: string
  pods?: string
  labels?: Record<string, string>
  taints?: { key: string; value?: string; effect: string }[]
  unschedulable?: boolean
  ready?: boolean
}

function node(name: string, o: NodeOpts = {}): KubeObject {
  const capacity = { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' }
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: `uid-${name}`, labels: { 'kubernetes.io/hostname': name, ...(o.labels ?? {}) } },
    spec: { ...(o.unschedulable ? { unschedulable: true } : {}), ...(o.taints ? { taints: o.taints } : {}) },
    status: {
      capacity,
      allocatable: capacity,
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  }
}

interface PodOpts {
  cpu?: string
  memory?: string
  containers?: number
  hostPort?: number
  hostIP?: string
  protocol?: string
  nodeSelector?: Record<string, string>
  tolerations?: Record<string, string>[]
  owner?: string
  labels?: Record<string, string>
  nodeName?: string
  schedulerName?: string
  phase?: string
  namespace?: string
}

let podSeq = 0
function pod(name: string, o: PodOpts = {}): KubeObject {
  podSeq += 1
  const requests: Record<string, string> = {}
  if (o.cpu) requests.cpu = o.cpu
  if (o.memory) requests.memory = o.memory
  const containers = Array.from({ length: o.containers ?? 1 }, (_, i) => ({
    name: `c${i}`,
    image: 'busybox',
    ...(o.cpu || o.memory ? { resources: { requests } } : {}),
    ...(o.hostPort && i === 0
      ? {
          ports: [
            {
              containerPort: o.hostPort,
              hostPort: o.hostPort,
              protocol: o.protocol ?? 'TCP',
              ...(o.hostIP ? { hostIP: o.hostIP } : {}),
            },
          ],
        }
      : {}),
  }))
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? 'default',
      uid: `uid-${name}-${podSeq}`,
      labels: o.labels ?? {},
      ...(o.owner
        ? {
            ownerReferences: [
              { apiVersion: 'v1', kind: 'ReplicationController', name: 'rc', uid: o.owner, controller: true },
            ],
          }
        : {}),
    },
    spec: {
      containers,
      ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
      ...(o.tolerations ? { tolerations: o.tolerations } : {}),
      ...(o.nodeName ? { nodeName: o.nodeName } : {}),
      ...(o.schedulerName ? { schedulerName: o.schedulerName } : {}),
    },
    status: { phase: o.phase ?? 'Pending' },
  }
}

function info(n: KubeObject, pods: KubeObject[] = []): NodeInfo {
  const i = new NodeInfo(n.metadata.name!)
  i.facts = nodeFacts(n)
  for (const p of pods) i.addPod(podInfo(p))
  return i
}

const reasons = (p: KubeObject, n: NodeInfo): string[] => filterNode(p, podInfo(p), n)

test('quantities: requests summed over containers, missing ones 0 for fit and defaults for scoring', () => {
  const p = podInfo(pod('a', { cpu: '250m', memory: '64Mi', containers: 2 }))
  assert.equal(p.requests, { milliCpu: 500, memory: 128 * 1024 * 1024 })
  assert.equal(p.nonZeroRequests, p.requests)
  const none = podInfo(pod('b'))
  assert.equal(none.requests, { milliCpu: 0, memory: 0 })
  assert.equal(none.nonZeroRequests, { milliCpu: 100, memory: 200 * 1024 * 1024 })
  assert.equal(podInfo(pod('c', { cpu: '0.1' })).requests.milliCpu, 100)
  assert.equal(nodeFacts(node('n', { cpu: '32', memory: '128Gi' })).allocatable, {
    milliCpu: 32_000,
    memory: 128 * 1024 ** 3,
    pods: 110,
  })
})

test('pending: unbound, not being deleted, ours', () => {
  assert.ok(isPendingForUs(pod('a')))
  assert.ok(isPendingForUs(pod('a', { schedulerName: 'default-scheduler' })))
  assert.not.ok(isPendingForUs(pod('a', { schedulerName: 'other' })))
  assert.not.ok(isPendingForUs(pod('a', { nodeName: 'n1' })))
  const deleting = pod('a')
  deleting.metadata.deletionTimestamp = '2026-01-01T00:00:00Z'
  assert.not.ok(isPendingForUs(deleting))
})

test('filter: ready and schedulable nodes only', () => {
  assert.equal(reasons(pod('a'), info(node('n', { ready: false }))), ['node(s) were not ready'])
  assert.equal(reasons(pod('a'), info(node('n', { unschedulable: true }))), ['node(s) were unschedulable'])
  const tolerant = pod('a', {
    tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }],
  })
  assert.equal(reasons(tolerant, info(node('n', { unschedulable: true }))), [])
  assert.equal(reasons(pod('a'), info(node('n'))), [])
})

test('filter: taints NoSchedule and NoExecute need a toleration; PreferNoSchedule does not', () => {
  const tainted = info(node('n', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }))
  assert.equal(reasons(pod('a'), tainted), ['node(s) had untolerated taint {dedicated: gpu}'])
  const exec = info(node('n', { taints: [{ key: 'k', effect: 'NoExecute' }] }))
  assert.equal(reasons(pod('a'), exec), ['node(s) had untolerated taint {k: }'])
  const prefer = info(node('n', { taints: [{ key: 'k', effect: 'PreferNoSchedule' }] }))
  assert.equal(reasons(pod('a'), prefer), [])
  const eq = pod('a', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu' }] })
  assert.equal(reasons(eq, tainted), [])
  const wrong = pod('a', { tolerations: [{ key: 'dedicated', value: 'cpu' }] })
  assert.equal(reasons(wrong, tainted).length, 1)
  const exists = pod('a', { tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] })
  assert.equal(reasons(exists, tainted), [])
  const otherEffect = pod('a', {
    tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }],
  })
  assert.equal(reasons(otherEffect, tainted).length, 1)
  assert.ok(tolerates({ operator: 'Exists' }, { key: 'anything', effect: 'NoExecute' }))
})

test('filter: nodeSelector must match the node labels', () => {
  const n = info(node('n', { labels: { disk: 'ssd' } }))
  assert.equal(reasons(pod('a', { nodeSelector: { disk: 'ssd' } }), n), [])
  assert.equal(reasons(pod('a', { nodeSelector: { disk: 'hdd' } }), n), [
    "node(s) didn't match Pod's node affinity/selector",
  ])
  assert.equal(reasons(pod('a', { nodeSelector: { zone: 'a' } }), n).length, 1)
})

test('filter: hostPort conflicts on port, protocol and address (0.0.0.0 is every address)', () => {
  const n = info(node('n'), [pod('b', { hostPort: 8080, nodeName: 'n' })])
  const conflict = ["node(s) didn't have free ports for the requested pod ports"]
  assert.equal(reasons(pod('a', { hostPort: 8080 }), n), conflict)
  assert.equal(reasons(pod('a', { hostPort: 8080, protocol: 'UDP' }), n), [])
  assert.equal(reasons(pod('a', { hostPort: 8081 }), n), [])
  assert.equal(reasons(pod('a', { hostPort: 8080, hostIP: '10.0.0.1' }), n), conflict)
  const specific = info(node('n'), [pod('b', { hostPort: 80, hostIP: '10.0.0.1', nodeName: 'n' })])
  assert.equal(reasons(pod('a', { hostPort: 80, hostIP: '10.0.0.2' }), specific), [])
  assert.equal(reasons(pod('a', { hostPort: 80, hostIP: '10.0.0.1' }), specific), conflict)
  // Removing the pod frees its port.
  const i = info(node('n'))
  const b = podInfo(pod('b', { hostPort: 9000 }))
  i.addPod(b)
  assert.equal(reasons(pod('a', { hostPort: 9000 }), i), conflict)
  i.removePod(b.uid)
  assert.equal(reasons(pod('a', { hostPort: 9000 }), i), [])
})

test('filter: resources — cpu, memory, pod count, every shortage named', () => {
  const n = info(node('n', { cpu: '1', memory: '1Gi', pods: '2' }), [
    pod('b', { cpu: '600m', memory: '512Mi' }),
  ])
  assert.equal(reasons(pod('a', { cpu: '400m', memory: '512Mi' }), n), [])
  assert.equal(reasons(pod('a', { cpu: '401m' }), n), ['Insufficient cpu'])
  assert.equal(reasons(pod('a', { memory: '513Mi' }), n), ['Insufficient memory'])
  assert.equal(reasons(pod('a', { cpu: '2', memory: '2Gi' }), n), ['Insufficient cpu', 'Insufficient memory'])
  // A pod asking for nothing fits any node with room for one more pod.
  assert.equal(reasons(pod('a'), n), [])
  n.addPod(podInfo(pod('c')))
  assert.equal(reasons(pod('a'), n), ['Too many pods'])
})

test('message: Kubernetes wording, reasons counted and sorted', () => {
  assert.equal(
    unschedulableMessage(3, [['Insufficient cpu'], [REASON_SEL], [REASON_SEL]]),
    "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector.",
  )
  assert.equal(
    unschedulableMessage(2, [['Insufficient cpu', 'Insufficient memory'], ['Insufficient cpu']]),
    '0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.',
  )
  assert.equal(unschedulableMessage(0, []), NO_NODES_MESSAGE)
  const r = schedulePod(
    pod('a', { cpu: '8' }),
    podInfo(pod('a', { cpu: '8' })),
    [info(node('n1')), info(node('n2', { ready: false })), info(node('n3', { labels: {} }))],
    new SeededRng(1),
  )
  assert.not.ok(r.ok)
  assert.equal(
    (r as Extract<ScheduleResult, { ok: false }>).message,
    '0/3 nodes are available: 1 node(s) were not ready, 2 Insufficient cpu.',
  )
})
const REASON_SEL = "node(s) didn't match Pod's node affinity/selector"

test('score: least allocated prefers the emptier node', () => {
  const p = podInfo(pod('a', { cpu: '1', memory: '1Gi' }))
  const empty = info(node('e', { cpu: '4', memory: '4Gi' }))
  const half = info(node('h', { cpu: '4', memory: '4Gi' }), [pod('b', { cpu: '2', memory: '2Gi' })])
  assert.is(leastAllocatedScore(p, empty), 75)
  assert.is(leastAllocatedScore(p, half), 25)
  const [se, sh] = scoreNodes(p, [empty, half])
  assert.ok(se! > sh!)
  const r = schedulePod(pod('a', { cpu: '1', memory: '1Gi' }), p, [half, empty], new SeededRng(7))
  assert.equal(r.ok && r.node, 'e')
})

test('spreading: 6 replicas of one controller on 3 equal nodes land 2/2/2, whatever the seed', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const rng = new SeededRng(seed)
    const nodes = ['n1', 'n2', 'n3'].map((n) => info(node(n)))
    for (let i = 0; i < 6; i++) {
      const p = pod(`rc-${i}`, { owner: 'rc-uid', cpu: '100m' })
      const pi = podInfo(p)
      const r = schedulePod(p, pi, nodes, rng)
      assert.ok(r.ok)
      nodes.find((n) => n.name === (r as { node: string }).node)!.addPod(pi)
    }
    assert.equal(
      nodes.map((n) => n.pods.size),
      [2, 2, 2],
      `seed ${seed}`,
    )
  }
})

test('spreading: a Service groups pods of different controllers', () => {
  const services = serviceSelectors([
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default', uid: 'svc-uid' },
      spec: { selector: { app: 'web' } },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'other-ns', namespace: 'other', uid: 'svc2' },
      spec: { selector: { app: 'web' } },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'manual', namespace: 'default', uid: 'svc3' },
      spec: {},
    },
  ])
  const p = pod('a', { labels: { app: 'web' } })
  assert.equal(podInfo(p, services).spreadKeys, ['service:svc-uid'])
  const crowded = new NodeInfo('c')
  crowded.facts = nodeFacts(node('c'))
  crowded.addPod(podInfo(pod('b', { labels: { app: 'web' }, owner: 'x' }), services))
  const free = info(node('f'), [pod('d', { labels: { app: 'db' } })])
  for (let seed = 1; seed <= 20; seed++) {
    const r = schedulePod(p, podInfo(p, services), [crowded, free], new SeededRng(seed))
    assert.equal(r.ok && r.node, 'f')
  }
})

test('ties are broken by the rng: every tied node gets picked', () => {
  const nodes = ['n1', 'n2', 'n3', 'n4'].map((n) => info(node(n)))
  const seen = new Set<string>()
  const rng = new SeededRng(3)
  for (let i = 0; i < 100; i++) {
    const r = schedulePod(pod('a'), podInfo(pod('a')), nodes, rng)
    if (r.ok) seen.add(r.node)
  }
  assert.is(seen.size, 4)
})

test('cache: assumed pods count, forget undoes, confirm keeps, terminal pods free room', () => {
  const cache = new SchedulerCache()
  cache.setNode(node('n', { cpu: '1', pods: '10' }))
  const a = pod('a', { cpu: '600m' })
  const ai = cache.podInfo(a)
  cache.assume(a, ai, 'n')
  assert.ok(cache.isAssumed(ai.uid))
  const b = pod('b', { cpu: '600m' })
  let r = schedulePod(b, cache.podInfo(b), cache.nodeInfos(), new SeededRng(1))
  assert.equal(!r.ok && r.message, '0/1 nodes are available: 1 Insufficient cpu.')
  assert.ok(cache.forget(ai.uid))
  r = schedulePod(b, cache.podInfo(b), cache.nodeInfos(), new SeededRng(1))
  assert.ok(r.ok)
  // Assumed, then seen bound: forget no longer drops it.
  cache.assume(a, ai, 'n')
  const bound = { ...a, spec: { ...a.spec, nodeName: 'n' }, status: { phase: 'Running' } }
  assert.not.ok(cache.updatePod(bound))
  assert.not.ok(cache.isAssumed(ai.uid))
  assert.not.ok(cache.forget(ai.uid))
  assert.is(cache.node('n')!.requested.milliCpu, 600)
  // It finishes: room again.
  assert.ok(cache.updatePod({ ...bound, status: { phase: 'Succeeded' } }))
  assert.is(cache.node('n')!.requested.milliCpu, 0)
  // A heartbeat is no change; a label is.
  assert.not.ok(cache.setNode(node('n', { cpu: '1', pods: '10' })))
  assert.ok(cache.setNode(node('n', { cpu: '1', pods: '10', labels: { x: 'y' } })))
})

test.run()

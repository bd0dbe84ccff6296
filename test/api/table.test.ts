import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  humanDuration,
  negotiateTable,
  parseAccept,
  type Table,
  type TableColumnDefinition,
  tableIncludeObject,
  toTable,
  wantsTable,
} from '../../src/api/table.js'
import type { KubeObject } from '../../src/store/types.js'

const nowMs = Date.parse('2025-03-01T12:00:00Z')
const secondMs = 1000
const minuteMs = 60 * secondMs
const hourMs = 60 * minuteMs
const dayMs = 24 * hourMs

/** An RFC3339 timestamp `ms` before `nowMs`, second precision as the API writes them. */
function ago(ms: number): string {
  return new Date(nowMs - ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

const kubectlAccept =
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json'

function table(kind: string, objects: KubeObject[]): Table {
  return toTable(kind, objects, { nowMs, includeObject: 'None', resourceVersion: '42' })
}

function cells(kind: string, obj: KubeObject): (string | number)[] {
  return table(kind, [obj]).rows[0]!.cells
}

/** Column names, with `*` marking priority-1 (wide) columns; and the non-string types. */
function shape(columns: TableColumnDefinition[]): { names: string[]; types: Record<string, string> } {
  const types: Record<string, string> = {}
  for (const c of columns) if (c.type !== 'string') types[c.name] = c.type
  return { names: columns.map((c) => (c.priority === 1 ? `${c.name}*` : c.name)), types }
}

function obj(kind: string, name: string, rest: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind,
    ...rest,
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      creationTimestamp: ago(5 * minuteMs),
      ...rest.metadata,
    },
  }
}

function pod(status: Record<string, unknown>, extra: Partial<KubeObject> = {}): KubeObject {
  return obj('Pod', 'web-1', {
    spec: { containers: [{ name: 'app', image: 'nginx:1.27' }], nodeName: 'node1', ...extra.spec },
    status,
    metadata: { name: 'web-1', ...extra.metadata },
  })
}

// ---------------------------------------------------------------------------------------------
// Accept negotiation

test('wantsTable: the exact header kubectl sends asks for a v1 Table', () => {
  assert.ok(wantsTable(kubectlAccept))
  assert.is(negotiateTable(kubectlAccept), 'v1')
})

test('wantsTable: the v1beta1 variant alone asks for a v1beta1 Table', () => {
  const accept = 'application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json'
  assert.ok(wantsTable(accept))
  assert.is(negotiateTable(accept), 'v1beta1')
})

test('wantsTable: plain JSON, wildcards, missing and empty headers do not', () => {
  for (const accept of [
    undefined,
    '',
    'application/json',
    '*/*',
    'application/json, */*',
    'application/vnd.kubernetes.protobuf, */*',
  ]) {
    assert.is(wantsTable(accept), false, String(accept))
  }
})

test('wantsTable: whitespace, case of names, quoted values and extra parameters are tolerated', () => {
  assert.ok(wantsTable('Application/JSON ; AS=Table ;  v=v1;g=meta.k8s.io'))
  assert.ok(wantsTable('application/json;as="Table";v="v1";g="meta.k8s.io";charset=utf-8'))
})

test('wantsTable: wrong group, version or transformation do not match', () => {
  assert.is(wantsTable('application/json;as=Table;v=v2;g=meta.k8s.io'), false)
  assert.is(wantsTable('application/json;as=Table;v=v1;g=apps'), false)
  assert.is(wantsTable('application/json;as=Table;v=v1'), false)
  assert.is(wantsTable('application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io'), false)
  assert.is(wantsTable('application/yaml;as=Table;v=v1;g=meta.k8s.io'), false)
})

test('wantsTable: q weights decide, ties go to header order, q=0 is refused', () => {
  assert.ok(wantsTable('application/json;q=0.5, application/json;as=Table;v=v1;g=meta.k8s.io'))
  assert.is(wantsTable('application/json, application/json;as=Table;v=v1;g=meta.k8s.io'), false)
  assert.is(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io;q=0, application/json'), false)
  // Ranges Shoal cannot serve are skipped, not taken as the answer.
  assert.ok(wantsTable('application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, ' + kubectlAccept))
})

test('parseAccept: commas and semicolons inside quoted values do not split', () => {
  const ranges = parseAccept('text/plain;x="a,b;c";q=0.2, application/json')
  assert.is(ranges.length, 2)
  assert.is(ranges[0]!.params.get('x'), 'a,b;c')
  assert.is(ranges[0]!.q, 0.2)
  assert.is(`${ranges[1]!.type}/${ranges[1]!.subtype}`, 'application/json')
  assert.is(ranges[1]!.q, 1)
})

test('tableIncludeObject: Metadata by default and for unknown values', () => {
  assert.is(tableIncludeObject(new URLSearchParams('')), 'Metadata')
  assert.is(tableIncludeObject(new URLSearchParams('includeObject=Metadata')), 'Metadata')
  assert.is(tableIncludeObject(new URLSearchParams('includeObject=None')), 'None')
  assert.is(tableIncludeObject(new URLSearchParams('includeObject=Object&watch=1')), 'Object')
  assert.is(tableIncludeObject(new URLSearchParams('includeObject=object')), 'Metadata')
})

// ---------------------------------------------------------------------------------------------
// humanDuration

test('humanDuration matches k8s.io/apimachinery duration.HumanDuration', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [999, '0s'],
    [-1500, '0s'],
    [-2 * secondMs, '<invalid>'],
    [5 * secondMs, '5s'],
    [59 * secondMs, '59s'],
    [60 * secondMs, '60s'],
    [119 * secondMs, '119s'],
    [120 * secondMs, '2m'],
    [150 * secondMs, '2m30s'],
    [9 * minuteMs + 59 * secondMs, '9m59s'],
    [10 * minuteMs, '10m'],
    [10 * minuteMs + 30 * secondMs, '10m'],
    [179 * minuteMs, '179m'],
    [3 * hourMs, '3h'],
    [3 * hourMs + 5 * minuteMs, '3h5m'],
    [7 * hourMs + 59 * minuteMs, '7h59m'],
    [8 * hourMs, '8h'],
    [47 * hourMs + 59 * minuteMs, '47h'],
    [2 * dayMs, '2d'],
    [2 * dayMs + 5 * hourMs, '2d5h'],
    [7 * dayMs + 23 * hourMs, '7d23h'],
    [8 * dayMs, '8d'],
    [729 * dayMs, '729d'],
    [730 * dayMs, '2y'],
    [830 * dayMs, '2y100d'],
    [8 * 365 * dayMs, '8y'],
    [9 * 365 * dayMs + 100 * dayMs, '9y'],
  ]
  for (const [ms, want] of cases) assert.is(humanDuration(ms), want, `${ms} ms`)
})

// ---------------------------------------------------------------------------------------------
// Table shape and includeObject

test('toTable: Table envelope, resourceVersion, and PartialObjectMetadata rows by default', () => {
  const p = pod({ phase: 'Running' })
  const t = toTable('Pod', [p], { nowMs, includeObject: 'Metadata', resourceVersion: '107' })
  assert.is(t.kind, 'Table')
  assert.is(t.apiVersion, 'meta.k8s.io/v1')
  assert.equal(t.metadata, { resourceVersion: '107' })
  assert.equal(t.rows[0]!.object, {
    kind: 'PartialObjectMetadata',
    apiVersion: 'meta.k8s.io/v1',
    metadata: p.metadata,
  })
  for (const c of t.columnDefinitions) {
    assert.equal(Object.keys(c).sort(), ['description', 'format', 'name', 'priority', 'type'])
  }
})

test('toTable: includeObject=Object carries the full object, None none at all', () => {
  const p = pod({ phase: 'Running' })
  const full = toTable('Pod', [p], { nowMs, includeObject: 'Object', resourceVersion: '1' })
  assert.equal(full.rows[0]!.object, p)
  const none = toTable('Pod', [p], { nowMs, includeObject: 'None', resourceVersion: '1' })
  assert.is('object' in none.rows[0]!, false)
  assert.is(JSON.stringify(none).includes('"object"'), false)
})

test('toTable: a v1beta1 Table labels itself and its partial objects v1beta1', () => {
  const t = toTable('ConfigMap', [obj('ConfigMap', 'c')], {
    nowMs,
    includeObject: 'Metadata',
    resourceVersion: '3',
    version: 'v1beta1',
  })
  assert.is(t.apiVersion, 'meta.k8s.io/v1beta1')
  assert.is((t.rows[0]!.object as { apiVersion: string }).apiVersion, 'meta.k8s.io/v1beta1')
})

test('toTable: an empty list still has its columns; rows keep the given order', () => {
  const empty = table('Namespace', [])
  assert.is(empty.rows.length, 0)
  assert.is(empty.columnDefinitions.length, 3)
  const two = table('Namespace', [obj('Namespace', 'b'), obj('Namespace', 'a')])
  assert.equal(
    two.rows.map((r) => r.cells[0]),
    ['b', 'a'],
  )
})

test('toTable: kinds without a printer get the generic Name / Created At table', () => {
  const t = table('Lease', [obj('Lease', 'l1', { metadata: { creationTimestamp: '2025-02-01T10:00:00Z' } })])
  assert.equal(shape(t.columnDefinitions), { names: ['Name', 'Created At'], types: { 'Created At': 'date' } })
  assert.equal(t.rows[0]!.cells, ['l1', '2025-02-01T10:00:00Z'])
})

test('toTable: a missing creationTimestamp ages as <unknown>', () => {
  const ns = obj('Namespace', 'x', { status: { phase: 'Active' } })
  delete ns.metadata.creationTimestamp
  assert.equal(cells('Namespace', ns), ['x', 'Active', '<unknown>'])
})

// ---------------------------------------------------------------------------------------------
// Pods

test('pods: columns, types and wide priorities', () => {
  assert.equal(shape(table('Pod', []).columnDefinitions), {
    names: [
      'Name',
      'Ready',
      'Status',
      'Restarts',
      'Age',
      'IP*',
      'Node*',
      'Nominated Node*',
      'Readiness Gates*',
    ],
    types: {},
  })
  assert.is(table('Pod', []).columnDefinitions[0]!.format, 'name')
})

test('pods: a running pod, 1/1, with every wide cell', () => {
  const p = pod({
    phase: 'Running',
    podIP: '10.244.0.7',
    podIPs: [{ ip: '10.244.0.7' }],
    conditions: [{ type: 'Ready', status: 'True' }],
    containerStatuses: [
      { name: 'app', ready: true, restartCount: 0, state: { running: { startedAt: ago(minuteMs) } } },
    ],
  })
  assert.equal(cells('Pod', p), [
    'web-1',
    '1/1',
    'Running',
    '0',
    '5m',
    '10.244.0.7',
    'node1',
    '<none>',
    '<none>',
  ])
})

test('pods: pending and unscheduled', () => {
  const p = pod({ phase: 'Pending' }, { spec: { containers: [{ name: 'a' }, { name: 'b' }], nodeName: '' } })
  assert.equal(cells('Pod', p).slice(0, 4), ['web-1', '0/2', 'Pending', '0'])
  assert.equal(cells('Pod', p).slice(5), ['<none>', '<none>', '<none>', '<none>'])
})

test('pods: a waiting container shows its reason (ContainerCreating)', () => {
  const p = pod({
    phase: 'Pending',
    containerStatuses: [
      { name: 'app', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } },
    ],
  })
  assert.equal(cells('Pod', p).slice(1, 4), ['0/1', 'ContainerCreating', '0'])
})

test('pods: CrashLoopBackOff from the waiting reason, restarts with the last restart age', () => {
  const p = pod({
    phase: 'Running',
    containerStatuses: [
      {
        name: 'app',
        ready: false,
        restartCount: 5,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 2m40s' } },
        lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(30 * secondMs) } },
      },
    ],
  })
  assert.equal(cells('Pod', p).slice(1, 4), ['0/1', 'CrashLoopBackOff', '5 (30s ago)'])
})

test('pods: restarts sum over containers; without a finish time there is no age', () => {
  const p = pod(
    {
      phase: 'Running',
      containerStatuses: [
        { name: 'a', ready: true, restartCount: 2, state: { running: {} } },
        { name: 'b', ready: true, restartCount: 1, state: { running: {} } },
      ],
    },
    { spec: { containers: [{ name: 'a' }, { name: 'b' }] } },
  )
  assert.equal(cells('Pod', p).slice(1, 4), ['2/2', 'Running', '3'])
})

test('pods: a succeeded pod reads Completed and carries the Completed row condition', () => {
  const p = pod({
    phase: 'Succeeded',
    containerStatuses: [
      {
        name: 'app',
        ready: false,
        restartCount: 0,
        state: { terminated: { exitCode: 0, reason: 'Completed' } },
      },
    ],
  })
  const row = table('Pod', [p]).rows[0]!
  assert.equal(row.cells.slice(1, 4), ['0/1', 'Completed', '0'])
  assert.equal(row.conditions, [
    {
      type: 'Completed',
      status: 'True',
      reason: 'Succeeded',
      message: 'The pod has completed successfully.',
    },
  ])
})

test('pods: a failed container without a reason reads ExitCode:N, or Signal:N', () => {
  const exit = pod({
    phase: 'Failed',
    containerStatuses: [{ name: 'app', restartCount: 0, state: { terminated: { exitCode: 137 } } }],
  })
  assert.is(cells('Pod', exit)[2], 'ExitCode:137')
  assert.equal(table('Pod', [exit]).rows[0]!.conditions?.[0]?.reason, 'Failed')
  const signal = pod({
    phase: 'Failed',
    containerStatuses: [{ name: 'app', restartCount: 0, state: { terminated: { exitCode: 0, signal: 9 } } }],
  })
  assert.is(cells('Pod', signal)[2], 'Signal:9')
})

test('pods: Completed with another container still running reads Running or NotReady', () => {
  const status = (ready: string) => ({
    phase: 'Running',
    conditions: [{ type: 'Ready', status: ready }],
    containerStatuses: [
      { name: 'a', ready: false, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
      { name: 'b', ready: true, state: { running: {} } },
    ],
  })
  const spec = { spec: { containers: [{ name: 'a' }, { name: 'b' }] } }
  assert.equal(cells('Pod', pod(status('True'), spec)).slice(1, 3), ['1/2', 'Running'])
  assert.equal(cells('Pod', pod(status('False'), spec)).slice(1, 3), ['1/2', 'NotReady'])
})

test('pods: Terminating while deleting, but finished pods keep their status; NodeLost reads Unknown', () => {
  const running = pod(
    { phase: 'Running', containerStatuses: [{ name: 'app', ready: true, state: { running: {} } }] },
    { metadata: { deletionTimestamp: ago(secondMs) } },
  )
  assert.equal(cells('Pod', running).slice(1, 3), ['1/1', 'Terminating'])
  const done = pod(
    {
      phase: 'Succeeded',
      containerStatuses: [{ name: 'app', state: { terminated: { exitCode: 0, reason: 'Completed' } } }],
    },
    { metadata: { deletionTimestamp: ago(secondMs) } },
  )
  assert.is(cells('Pod', done)[2], 'Completed')
  const lost = pod(
    { phase: 'Running', reason: 'NodeLost' },
    { metadata: { deletionTimestamp: ago(secondMs) } },
  )
  assert.is(cells('Pod', lost)[2], 'Unknown')
})

test('pods: init containers show Init:i/n, Init:<reason>, and count restarts', () => {
  const spec = { spec: { initContainers: [{ name: 'i1' }, { name: 'i2' }], containers: [{ name: 'app' }] } }
  const second = pod(
    {
      phase: 'Pending',
      initContainerStatuses: [
        { name: 'i1', restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
        { name: 'i2', restartCount: 0, state: { running: {} } },
      ],
    },
    spec,
  )
  assert.equal(cells('Pod', second).slice(1, 4), ['0/1', 'Init:1/2', '0'])
  const crashing = pod(
    {
      phase: 'Pending',
      initContainerStatuses: [
        { name: 'i1', restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } } },
      ],
    },
    spec,
  )
  assert.equal(cells('Pod', crashing).slice(1, 4), ['0/1', 'Init:CrashLoopBackOff', '3'])
  const failed = pod(
    { phase: 'Pending', initContainerStatuses: [{ name: 'i1', state: { terminated: { exitCode: 2 } } }] },
    spec,
  )
  assert.is(cells('Pod', failed)[2], 'Init:ExitCode:2')
})

test('pods: a started sidecar (restartable init container) counts toward Ready', () => {
  const p = pod(
    {
      phase: 'Running',
      conditions: [{ type: 'Initialized', status: 'True' }],
      initContainerStatuses: [
        { name: 'proxy', ready: true, started: true, restartCount: 1, state: { running: {} } },
      ],
      containerStatuses: [{ name: 'app', ready: true, restartCount: 0, state: { running: {} } }],
    },
    { spec: { initContainers: [{ name: 'proxy', restartPolicy: 'Always' }], containers: [{ name: 'app' }] } },
  )
  assert.equal(cells('Pod', p).slice(1, 4), ['2/2', 'Running', '1'])
})

test('pods: readiness gates count the true conditions; SchedulingGated shows', () => {
  const gated = pod(
    {
      phase: 'Running',
      conditions: [
        { type: 'example.com/a', status: 'True' },
        { type: 'example.com/b', status: 'False' },
      ],
    },
    { spec: { readinessGates: [{ conditionType: 'example.com/a' }, { conditionType: 'example.com/b' }] } },
  )
  assert.is(cells('Pod', gated)[8], '1/2')
  const scheduling = pod({
    phase: 'Pending',
    conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }],
  })
  assert.is(cells('Pod', scheduling)[2], 'SchedulingGated')
})

// ---------------------------------------------------------------------------------------------
// ReplicationControllers

test('replicationcontrollers: columns and a row', () => {
  assert.equal(shape(table('ReplicationController', []).columnDefinitions), {
    names: ['Name', 'Desired', 'Current', 'Ready', 'Age', 'Containers*', 'Images*', 'Selector*'],
    types: { Desired: 'integer', Current: 'integer', Ready: 'integer' },
  })
  const rc = obj('ReplicationController', 'web', {
    metadata: { creationTimestamp: ago(2 * dayMs + 5 * hourMs) },
    spec: {
      replicas: 3,
      selector: { tier: 'front', app: 'web' },
      template: {
        spec: {
          containers: [
            { name: 'app', image: 'nginx:1.27' },
            { name: 'log', image: 'busybox' },
          ],
        },
      },
    },
    status: { replicas: 3, readyReplicas: 2 },
  })
  assert.equal(cells('ReplicationController', rc), [
    'web',
    3,
    3,
    2,
    '2d5h',
    'app,log',
    'nginx:1.27,busybox',
    'app=web,tier=front',
  ])
})

test('replicationcontrollers: no status yet, no selector', () => {
  const rc = obj('ReplicationController', 'new', {
    spec: { replicas: 0, template: { spec: { containers: [] } } },
  })
  assert.equal(cells('ReplicationController', rc), ['new', 0, 0, 0, '5m', '', '', '<none>'])
})

// ---------------------------------------------------------------------------------------------
// Services

test('services: columns and a ClusterIP row', () => {
  assert.equal(shape(table('Service', []).columnDefinitions), {
    names: ['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age', 'Selector*'],
    types: {},
  })
  const svc = obj('Service', 'web', {
    spec: {
      type: 'ClusterIP',
      clusterIP: '10.96.0.10',
      clusterIPs: ['10.96.0.10'],
      selector: { app: 'web' },
      ports: [
        { port: 80, protocol: 'TCP', targetPort: 8080 },
        { port: 53, protocol: 'UDP' },
      ],
    },
  })
  assert.equal(cells('Service', svc), [
    'web',
    'ClusterIP',
    '10.96.0.10',
    '<none>',
    '80/TCP,53/UDP',
    '5m',
    'app=web',
  ])
})

test('services: NodePort ports show port:nodePort/protocol', () => {
  const svc = obj('Service', 'np', {
    spec: {
      type: 'NodePort',
      clusterIPs: ['10.96.0.11'],
      externalIPs: ['192.0.2.1'],
      ports: [
        { port: 80, nodePort: 30080, protocol: 'TCP' },
        { port: 443, nodePort: 30443 },
      ],
    },
  })
  assert.equal(cells('Service', svc).slice(1, 5), [
    'NodePort',
    '10.96.0.11',
    '192.0.2.1',
    '80:30080/TCP,443:30443/TCP',
  ])
})

test('services: headless, no ports, LoadBalancer pending and assigned, ExternalName', () => {
  const headless = obj('Service', 'h', { spec: { clusterIP: 'None', clusterIPs: ['None'], selector: {} } })
  assert.equal(cells('Service', headless), ['h', 'ClusterIP', 'None', '<none>', '<none>', '5m', '<none>'])
  const pending = obj('Service', 'lb', {
    spec: { type: 'LoadBalancer', clusterIPs: ['10.96.0.12'], ports: [] },
  })
  assert.is(cells('Service', pending)[3], '<pending>')
  const assigned = obj('Service', 'lb', {
    spec: { type: 'LoadBalancer', clusterIPs: ['10.96.0.12'] },
    status: {
      loadBalancer: {
        ingress: [{ ip: '203.0.113.9' }, { hostname: 'lb.example.com' }, { ip: '203.0.113.9' }],
      },
    },
  })
  assert.is(cells('Service', assigned)[3], '203.0.113.9,lb.example.com')
  const external = obj('Service', 'ext', { spec: { type: 'ExternalName', externalName: 'db.example.com' } })
  assert.equal(cells('Service', external).slice(1, 4), ['ExternalName', '<none>', 'db.example.com'])
})

// ---------------------------------------------------------------------------------------------
// Nodes

test('nodes: columns and a ready node with every wide cell', () => {
  assert.equal(shape(table('Node', []).columnDefinitions), {
    names: [
      'Name',
      'Status',
      'Roles',
      'Age',
      'Version',
      'Internal-IP*',
      'External-IP*',
      'OS-Image*',
      'Kernel-Version*',
      'Container-Runtime*',
    ],
    types: {},
  })
  const node = obj('Node', 'node1', {
    metadata: { creationTimestamp: ago(8 * dayMs) },
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False' },
        { type: 'Ready', status: 'True' },
      ],
      addresses: [
        { type: 'Hostname', address: 'node1' },
        { type: 'InternalIP', address: '192.168.1.10' },
      ],
      nodeInfo: {
        kubeletVersion: 'v1.32.0-shoal',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        kernelVersion: '6.1.0-18-amd64',
        containerRuntimeVersion: 'docker://26.1.0',
      },
    },
  })
  delete node.metadata.namespace
  assert.equal(cells('Node', node), [
    'node1',
    'Ready',
    '<none>',
    '8d',
    'v1.32.0-shoal',
    '192.168.1.10',
    '<none>',
    'Debian GNU/Linux 12 (bookworm)',
    '6.1.0-18-amd64',
    'docker://26.1.0',
  ])
})

test('nodes: NotReady, Unknown, SchedulingDisabled, roles from labels, unknown node info', () => {
  const notReady = obj('Node', 'n2', {
    metadata: {
      labels: {
        'node-role.kubernetes.io/worker': '',
        'node-role.kubernetes.io/control-plane': '',
        'kubernetes.io/role': 'edge',
      },
    },
    spec: { unschedulable: true },
    status: { conditions: [{ type: 'Ready', status: 'Unknown' }] },
  })
  assert.equal(cells('Node', notReady).slice(1, 3), [
    'NotReady,SchedulingDisabled',
    'control-plane,edge,worker',
  ])
  const unknown = obj('Node', 'n3', { status: {} })
  assert.equal(cells('Node', unknown), [
    'n3',
    'Unknown',
    '<none>',
    '5m',
    '',
    '<none>',
    '<none>',
    '<unknown>',
    '<unknown>',
    '<unknown>',
  ])
})

// ---------------------------------------------------------------------------------------------
// Endpoints

test('endpoints: columns, none, and ip:port pairs', () => {
  assert.equal(shape(table('Endpoints', []).columnDefinitions), {
    names: ['Name', 'Endpoints', 'Age'],
    types: {},
  })
  assert.equal(cells('Endpoints', obj('Endpoints', 'empty')), ['empty', '<none>', '5m'])
  const ep = obj('Endpoints', 'web', {
    subsets: [
      { addresses: [{ ip: '10.244.0.7' }, { ip: '10.244.1.3' }], ports: [{ port: 8080, protocol: 'TCP' }] },
    ],
  })
  assert.equal(cells('Endpoints', ep), ['web', '10.244.0.7:8080,10.244.1.3:8080', '5m'])
})

test('endpoints: more than three are cut to three and counted', () => {
  const addresses = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'].map((ip) => ({ ip }))
  const ep = obj('Endpoints', 'big', { subsets: [{ addresses, ports: [{ port: 80 }] }] })
  assert.is(cells('Endpoints', ep)[1], '10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more...')
  // Every (address, port) pair counts, across ports and subsets.
  const multi = obj('Endpoints', 'multi', {
    subsets: [
      {
        addresses: addresses.slice(0, 2),
        ports: [
          { name: 'http', port: 80 },
          { name: 'https', port: 443 },
        ],
      },
      { addresses: addresses.slice(2, 3), notReadyAddresses: [{ ip: '10.0.0.9' }], ports: [{ port: 80 }] },
    ],
  })
  assert.is(cells('Endpoints', multi)[1], '10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...')
})

test('endpoints: exactly three show no suffix; headless lists bare IPs; IPv6 is bracketed', () => {
  const three = obj('Endpoints', 'three', {
    subsets: [
      { addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }], ports: [{ port: 80 }] },
    ],
  })
  assert.is(cells('Endpoints', three)[1], '10.0.0.1:80,10.0.0.2:80,10.0.0.3:80')
  const headless = obj('Endpoints', 'h', {
    subsets: [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }] }],
  })
  assert.is(cells('Endpoints', headless)[1], '10.0.0.1,10.0.0.2')
  const v6 = obj('Endpoints', 'v6', { subsets: [{ addresses: [{ ip: 'fd00::1' }], ports: [{ port: 80 }] }] })
  assert.is(cells('Endpoints', v6)[1], '[fd00::1]:80')
})

// ---------------------------------------------------------------------------------------------
// Namespaces, Events, ConfigMaps

test('namespaces: columns and rows', () => {
  assert.equal(shape(table('Namespace', []).columnDefinitions), {
    names: ['Name', 'Status', 'Age'],
    types: {},
  })
  const ns = obj('Namespace', 'kube-system', { status: { phase: 'Active' } })
  assert.equal(cells('Namespace', ns), ['kube-system', 'Active', '5m'])
  const terminating = obj('Namespace', 'old', { status: { phase: 'Terminating' } })
  assert.is(cells('Namespace', terminating)[1], 'Terminating')
})

test('events: columns (wide ones marked) and a row', () => {
  const t = table('Event', [])
  assert.equal(shape(t.columnDefinitions), {
    names: [
      'Last Seen',
      'Type',
      'Reason',
      'Object',
      'Subobject*',
      'Source*',
      'Message',
      'First Seen*',
      'Count*',
      'Name*',
    ],
    types: {},
  })
  assert.is(t.columnDefinitions[9]!.format, 'name')
  const ev = obj('Event', 'web-1.17f0a', {
    involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'default', fieldPath: 'spec.containers{app}' },
    reason: 'Pulled',
    message: 'Container image "nginx:1.27" already present on machine\n',
    source: { component: 'kubelet', host: 'node1' },
    firstTimestamp: ago(10 * minuteMs),
    lastTimestamp: ago(150 * secondMs),
    count: 4,
    type: 'Normal',
  })
  assert.equal(cells('Event', ev), [
    '2m30s',
    'Normal',
    'Pulled',
    'pod/web-1',
    'spec.containers{app}',
    'kubelet, node1',
    'Container image "nginx:1.27" already present on machine',
    '10m',
    4,
    'web-1.17f0a',
  ])
})

test('events: eventTime and series (events.k8s.io style), reporting fields, default count 1', () => {
  const single = obj('Event', 'e1', {
    involvedObject: { kind: 'Node' },
    eventTime: new Date(nowMs - 45 * secondMs).toISOString().replace('Z', '123Z'),
    reportingComponent: 'shoal-scheduler',
    reportingInstance: '',
    type: 'Warning',
    reason: 'FailedScheduling',
    message: 'no nodes',
  })
  assert.equal(cells('Event', single), [
    '45s',
    'Warning',
    'FailedScheduling',
    'node',
    '',
    'shoal-scheduler',
    'no nodes',
    '45s',
    1,
    'e1',
  ])
  const series = obj('Event', 'e2', {
    involvedObject: { kind: 'Pod', name: 'p' },
    eventTime: ago(hourMs),
    series: { count: 12, lastObservedTime: ago(20 * secondMs) },
  })
  const row = cells('Event', series)
  assert.equal([row[0], row[7], row[8]], ['20s', '60m', 12])
})

test('configmaps: Name, Data (count of data and binaryData keys), Age', () => {
  assert.equal(shape(table('ConfigMap', []).columnDefinitions), { names: ['Name', 'Data', 'Age'], types: {} })
  const cm = obj('ConfigMap', 'settings', {
    metadata: { creationTimestamp: ago(3 * hourMs) },
    data: { a: '1', b: '2' },
    binaryData: { c: 'AA==' },
  })
  assert.equal(cells('ConfigMap', cm), ['settings', 3, '3h'])
  assert.equal(cells('ConfigMap', obj('ConfigMap', 'empty')), ['empty', 0, '5m'])
})

test.run()

import '../../src/util/polyfill.js'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { InvalidError } from '../../src/store/errors.js'
import { formatQuantity, isQuantity, parseQuantity, QuantityError } from '../../src/store/quantity.js'
import type { KubeObject, StatusCause } from '../../src/store/types.js'
import {
  defaultObject,
  isDns1035Label,
  isDns1123Label,
  isDns1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  validateObject,
} from '../../src/store/validation.js'

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type Obj = Record<string, unknown>

/** The InvalidError's causes, or [] when the object is valid; any other throw fails the test. */
function causesOf(
  obj: unknown,
  opts: { isCreate: boolean; old?: KubeObject } = { isCreate: true },
): StatusCause[] {
  try {
    validateObject(obj as KubeObject, opts)
  } catch (err) {
    if (err instanceof InvalidError) return err.causes
    throw err
  }
  return []
}

/** Each cause as Kubernetes prints it: `field: message`. */
function problems(obj: unknown, opts?: { isCreate: boolean; old?: KubeObject }): string[] {
  return causesOf(obj, opts).map((c) => `${c.field}: ${c.message}`)
}

function expectProblem(obj: unknown, expected: string, opts?: { isCreate: boolean; old?: KubeObject }): void {
  const found = problems(obj, opts)
  assert.ok(
    found.includes(expected),
    `expected\n  ${expected}\namong\n  ${found.join('\n  ') || '(no problems)'}`,
  )
}

function expectValid(obj: unknown, opts?: { isCreate: boolean; old?: KubeObject }): void {
  assert.equal(problems(obj, opts), [])
}

const clone = <T>(v: T): T => structuredClone(v)

/** Sets a nested value, creating objects and lists on the way. */
function setAt(obj: unknown, path: (string | number)[], value: unknown): void {
  let cur = obj as Obj
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string
    if (cur[key] === undefined || cur[key] === null || typeof cur[key] !== 'object')
      cur[key] = typeof path[i + 1] === 'number' ? [] : {}
    cur = cur[key] as Obj
  }
  cur[path[path.length - 1] as string] = value
}

function with_(base: unknown, path: (string | number)[], value: unknown): Obj {
  const copy = clone(base) as Obj
  setAt(copy, path, value)
  return copy
}

function pod(spec: Obj = {}, meta: Obj = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', ...meta },
    spec: { containers: [{ name: 'web', image: 'nginx:1.25' }], ...spec },
  }
}

function rc(): Obj {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas: 2,
      selector: { app: 'web' },
      template: {
        metadata: { labels: { app: 'web', tier: 'frontend' } },
        spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] },
      },
    },
  }
}

function service(spec: Obj = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: { selector: { app: 'web' }, ports: [{ port: 80 }], ...spec },
  }
}

const configMap = (data: unknown): Obj => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'settings' },
  data,
})

const endpoints = (subsets: unknown): Obj => ({
  apiVersion: 'v1',
  kind: 'Endpoints',
  metadata: { name: 'web', namespace: 'default' },
  subsets,
})

const event = (extra: Obj = {}): Obj => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'web.1', namespace: 'default' },
  involvedObject: { kind: 'Pod', name: 'web', namespace: 'default' },
  reason: 'Scheduled',
  message: 'assigned',
  ...extra,
})

const namespace = (name: string): Obj => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
const node = (name: string): Obj => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } })

const d = (obj: Obj): Obj => defaultObject(obj as KubeObject) as Obj

const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
const DNS1035_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
const QUALIFIED_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
const QUANTITY_MSG =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

// ---------------------------------------------------------------------------------------------
// Quantities
// ---------------------------------------------------------------------------------------------

test('parseQuantity reads every suffix and form', () => {
  const table: [string, number][] = [
    ['100m', 0.1],
    ['0.5', 0.5],
    ['2', 2],
    ['64Mi', 64 * 1024 ** 2],
    ['1Gi', 1024 ** 3],
    ['1.5Gi', 1.5 * 1024 ** 3],
    ['1Ki', 1024],
    ['2Ti', 2 * 1024 ** 4],
    ['1Pi', 1024 ** 5],
    ['1Ei', 1024 ** 6],
    ['1G', 1e9],
    ['1e3', 1000],
    ['1E3', 1000],
    ['1E', 1e18],
    ['2e-3', 0.002],
    ['1.5e+2', 150],
    ['500k', 500000],
    ['3M', 3e6],
    ['4T', 4e12],
    ['5P', 5e15],
    ['250u', 0.00025],
    ['7n', 7e-9],
    ['.5', 0.5],
    ['5.', 5],
    ['+3', 3],
    ['-1', -1],
    ['0', 0],
    ['-0', 0],
    ['1500m', 1.5],
  ]
  for (const [input, want] of table) assert.is(parseQuantity(input), want, input)
})

test('parseQuantity rejects junk with a QuantityError', () => {
  const junk = [
    '',
    ' ',
    '1 Mi',
    'Mi',
    '1K',
    '1mi',
    '1.2.3',
    '--1',
    '1ee3',
    '0x10',
    'Infinity',
    'NaN',
    '1e',
    '1Mi3',
  ]
  for (const input of [...junk, '1i', 'e3', '.', '+', '1e400', '1 ', ' 1', '1,5', '١']) {
    assert.throws(
      () => parseQuantity(input),
      (err: unknown) => err instanceof QuantityError && err.name === 'QuantityError',
      JSON.stringify(input),
    )
    assert.not.ok(isQuantity(input), input)
  }
  assert.throws(
    () => parseQuantity(5 as unknown as string),
    (err: unknown) => err instanceof QuantityError,
  )
  assert.ok(isQuantity('100m'))
})

test('formatQuantity writes canonical-looking quantities that parse back', () => {
  assert.is(formatQuantity(0.1), '100m')
  assert.is(formatQuantity(0.25), '250m')
  assert.is(formatQuantity(2), '2')
  assert.is(formatQuantity(1500), '1500')
  assert.is(formatQuantity(2000), '2k')
  assert.is(formatQuantity(64 * 1024 ** 2, 'BinarySI'), '64Mi')
  assert.is(formatQuantity(1024 ** 3, 'BinarySI'), '1Gi')
  assert.is(formatQuantity(1e9, 'BinarySI'), '1G')
  assert.is(formatQuantity(-0.5), '-500m')
  assert.is(formatQuantity(0), '0')
  for (const v of [0.1, 0.001, 3, 1e9, 123456, 1.5 * 1024 ** 3, 0.000002, 1 / 3])
    for (const f of ['BinarySI', 'DecimalSI'] as const)
      assert.is(parseQuantity(formatQuantity(v, f)), v, `${v} ${f}`)
})

// ---------------------------------------------------------------------------------------------
// Name rules
// ---------------------------------------------------------------------------------------------

test('name predicates follow Kubernetes regexes and lengths', () => {
  for (const ok of ['a', '0', 'my-name', '123-abc', 'a'.repeat(63)]) assert.ok(isDns1123Label(ok), ok)
  for (const bad of ['', 'A', '-a', 'a-', 'a.b', 'a_b', 'a'.repeat(64), 'é'])
    assert.not.ok(isDns1123Label(bad), bad)

  for (const ok of [
    'example.com',
    'a',
    'a-b.c-d',
    `${'a'.repeat(63)}.${'b'.repeat(63)}`,
    'a.'.repeat(126) + 'a',
  ])
    assert.ok(isDns1123Subdomain(ok), ok)
  for (const bad of ['', 'a..b', '.a', 'a.', 'A.com', 'a_b', `${'a.'.repeat(126)}ab`])
    assert.not.ok(isDns1123Subdomain(bad), bad)
  assert.is(`${'a.'.repeat(126)}ab`.length, 254)

  assert.ok(isDns1035Label('my-name'))
  assert.not.ok(isDns1035Label('1abc'))

  for (const ok of [
    'MyName',
    'my.name',
    '123-abc',
    'a_b',
    'example.com/MyName',
    'kubernetes.io/metadata.name',
    'a'.repeat(63),
  ])
    assert.ok(isQualifiedName(ok), ok)
  for (const bad of [
    '',
    '/a',
    'a/',
    'a/b/c',
    '-a',
    'a-',
    'Example.com/a',
    'a b',
    'a'.repeat(64),
    `${'a'.repeat(254)}/b`,
  ])
    assert.not.ok(isQualifiedName(bad), bad)

  for (const ok of ['', 'MyValue', 'my_value', '12345', 'a.b-c_d', 'v'.repeat(63)])
    assert.ok(isValidLabelValue(ok), ok)
  for (const bad of ['-a', 'a-', 'a b', 'a/b', 'v'.repeat(64)]) assert.not.ok(isValidLabelValue(bad), bad)
})

// ---------------------------------------------------------------------------------------------
// The guestbook
// ---------------------------------------------------------------------------------------------

function guestbookDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  for (const dir of [
    process.env.SHOAL_GUESTBOOK_DIR,
    resolve(here, '../../../examples/guestbook'),
    resolve(here, '../../../../examples/guestbook'),
    '/work/shared/examples/guestbook',
  ])
    if (dir && existsSync(dir)) return dir
  throw new Error('guestbook manifests not found; set SHOAL_GUESTBOOK_DIR')
}

test('the guestbook manifests validate after defaulting, and their pods too', () => {
  const dir = guestbookDir()
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
  assert.is(files.length, 5)
  for (const file of files) {
    const manifest = parse(readFileSync(join(dir, file), 'utf8')) as Obj
    const defaulted = d(manifest)
    assert.equal(problems(defaulted), [], file)
    assert.equal(problems(manifest), [], `${file} (undefaulted)`)
    if (manifest.kind === 'ReplicationController') {
      const template = (defaulted.spec as Obj).template as Obj
      const podFromTemplate = d({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          ...(template.metadata as Obj),
          name: `${(manifest.metadata as Obj).name}-x1`,
          namespace: 'default',
        },
        spec: template.spec as Obj,
      })
      expectValid(podFromTemplate)
    }
  }
})

test('the frontend controller defaults as Kubernetes would', () => {
  const manifest = parse(readFileSync(join(guestbookDir(), 'frontend-controller.yaml'), 'utf8')) as Obj
  const out = d(manifest)
  const spec = out.spec as Obj
  assert.is(spec.replicas, 3)
  const podSpec = (spec.template as Obj).spec as Obj
  assert.is(podSpec.restartPolicy, 'Always')
  assert.is(podSpec.dnsPolicy, 'ClusterFirst')
  const ctr = (podSpec.containers as Obj[])[0] as Obj
  assert.is(ctr.imagePullPolicy, 'IfNotPresent')
  assert.equal(ctr.ports, [{ containerPort: 80, protocol: 'TCP' }])
  assert.is((spec.template as Obj).status, undefined)
})

// ---------------------------------------------------------------------------------------------
// Defaulting
// ---------------------------------------------------------------------------------------------

test('a pod gets its spec, container, port and probe defaults, and phase Pending', () => {
  const input = pod({
    containers: [
      {
        name: 'web',
        image: 'nginx',
        ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'UDP' }],
        livenessProbe: { httpGet: { port: 80 } },
        readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 5, timeoutSeconds: 0 },
        resources: { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '100m' } },
      },
    ],
  })
  const frozen = JSON.stringify(input)
  const out = d(input)
  assert.is(JSON.stringify(input), frozen, 'defaultObject must not mutate its input')
  const spec = out.spec as Obj
  assert.is(spec.restartPolicy, 'Always')
  assert.is(spec.dnsPolicy, 'ClusterFirst')
  assert.is(spec.terminationGracePeriodSeconds, 30)
  assert.is(spec.schedulerName, 'default-scheduler')
  const ctr = (spec.containers as Obj[])[0] as Obj
  assert.is(ctr.imagePullPolicy, 'Always')
  assert.is(ctr.terminationMessagePath, '/dev/termination-log')
  assert.is(ctr.terminationMessagePolicy, 'File')
  assert.equal(ctr.ports, [
    { containerPort: 80, protocol: 'TCP' },
    { containerPort: 53, protocol: 'UDP' },
  ])
  assert.equal(ctr.livenessProbe, {
    httpGet: { port: 80, path: '/', scheme: 'HTTP' },
    timeoutSeconds: 1,
    periodSeconds: 10,
    successThreshold: 1,
    failureThreshold: 3,
  })
  assert.equal(ctr.readinessProbe, {
    tcpSocket: { port: 80 },
    periodSeconds: 5,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
  })
  // Requests default to limits where absent; given requests stay.
  assert.equal(ctr.resources, {
    limits: { cpu: '500m', memory: '64Mi' },
    requests: { cpu: '100m', memory: '64Mi' },
  })
  assert.equal(out.status, { phase: 'Pending' })
  expectValid(out)
})

test('explicit pod values survive defaulting', () => {
  const input = pod({
    restartPolicy: 'Never',
    dnsPolicy: 'Default',
    terminationGracePeriodSeconds: 0,
    schedulerName: 'mine',
    containers: [
      {
        name: 'a',
        image: 'busybox',
        imagePullPolicy: 'Never',
        terminationMessagePolicy: 'FallbackToLogsOnError',
      },
    ],
  })
  input.status = { phase: 'Running' }
  const out = d(input)
  const spec = out.spec as Obj
  assert.is(spec.restartPolicy, 'Never')
  assert.is(spec.dnsPolicy, 'Default')
  assert.is(spec.terminationGracePeriodSeconds, 0)
  assert.is(spec.schedulerName, 'mine')
  const ctr = (spec.containers as Obj[])[0] as Obj
  assert.is(ctr.imagePullPolicy, 'Never')
  assert.is(ctr.terminationMessagePolicy, 'FallbackToLogsOnError')
  assert.equal(out.status, { phase: 'Running' })
})

test('imagePullPolicy defaults to Always for :latest or no tag, else IfNotPresent', () => {
  const table: [unknown, string][] = [
    ['nginx', 'Always'],
    ['nginx:latest', 'Always'],
    ['library/nginx', 'Always'],
    ['docker.io/library/nginx:latest', 'Always'],
    ['localhost:5000/nginx', 'Always'],
    ['localhost:5000/nginx:latest', 'Always'],
    ['nginx:1.25', 'IfNotPresent'],
    ['localhost:5000/nginx:v1', 'IfNotPresent'],
    ['nginx@sha256:0123456789abcdef', 'IfNotPresent'],
    ['nginx:1.25@sha256:0123456789abcdef', 'IfNotPresent'],
    ['nginx:latest@sha256:0123456789abcdef', 'Always'],
    ['gcr.io/google_containers/redis:e2e', 'IfNotPresent'],
    [undefined, 'IfNotPresent'],
    [42, 'IfNotPresent'],
  ]
  for (const [image, want] of table) {
    const out = d(pod({ containers: [{ name: 'a', image }] }))
    const ctr = ((out.spec as Obj).containers as Obj[])[0] as Obj
    assert.is(ctr.imagePullPolicy, want, String(image))
  }
})

test('volumes default to emptyDir, hostPath type to "", host-network ports to their container port', () => {
  const out = d(
    pod({
      hostNetwork: true,
      volumes: [{ name: 'scratch' }, { name: 'logs', hostPath: { path: '/var/log' } }],
      containers: [{ name: 'a', image: 'x:1', ports: [{ containerPort: 8080 }] }],
    }),
  )
  const spec = out.spec as Obj
  assert.equal(spec.volumes, [
    { name: 'scratch', emptyDir: {} },
    { name: 'logs', hostPath: { path: '/var/log', type: '' } },
  ])
  assert.equal(((spec.containers as Obj[])[0] as Obj).ports, [
    { containerPort: 8080, protocol: 'TCP', hostPort: 8080 },
  ])
  expectValid(out)
})

test('a replication controller takes selector and labels from its template', () => {
  const input = rc()
  delete (input.spec as Obj).selector
  delete (input.spec as Obj).replicas
  const out = d(input)
  const spec = out.spec as Obj
  assert.equal(spec.selector, { app: 'web', tier: 'frontend' })
  assert.equal((out.metadata as Obj).labels, { app: 'web', tier: 'frontend' })
  assert.is(spec.replicas, 1)
  // Copies, not shared references.
  ;(spec.selector as Obj).app = 'changed'
  assert.equal(((spec.template as Obj).metadata as Obj).labels, { app: 'web', tier: 'frontend' })
  assert.equal((out.metadata as Obj).labels, { app: 'web', tier: 'frontend' })
  // The template's pod spec is defaulted as a pod's, without a pod's status.
  const podSpec = (spec.template as Obj).spec as Obj
  assert.is(podSpec.restartPolicy, 'Always')
  assert.is(((podSpec.containers as Obj[])[0] as Obj).imagePullPolicy, 'IfNotPresent')
  assert.is((spec.template as Obj).status, undefined)
  expectValid(d(input))
})

test('a replication controller keeps an explicit selector, labels and replicas (even 0)', () => {
  const input = rc()
  ;(input.metadata as Obj).labels = { owner: 'me' }
  ;(input.spec as Obj).replicas = 0
  const out = d(input)
  assert.equal((out.spec as Obj).selector, { app: 'web' })
  assert.equal((out.metadata as Obj).labels, { owner: 'me' })
  assert.is((out.spec as Obj).replicas, 0)
  // An empty selector counts as absent.
  const empty = with_(input, ['spec', 'selector'], {})
  assert.equal((d(empty).spec as Obj).selector, { app: 'web', tier: 'frontend' })
})

test('a service gets type, session affinity, protocol and targetPort defaults', () => {
  const out = d(
    service({ ports: [{ port: 80 }, { port: 53, protocol: 'UDP', targetPort: 'dns', name: 'dns' }] }),
  )
  const spec = out.spec as Obj
  assert.is(spec.type, 'ClusterIP')
  assert.is(spec.sessionAffinity, 'None')
  assert.equal(spec.ports, [
    { port: 80, protocol: 'TCP', targetPort: 80 },
    { port: 53, protocol: 'UDP', targetPort: 'dns', name: 'dns' },
  ])
  const sticky = d(service({ sessionAffinity: 'ClientIP' }))
  assert.equal((sticky.spec as Obj).sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } })
})

test('namespaces, events, nodes and endpoints get their defaults', () => {
  const ns = d(namespace('team-a'))
  assert.equal(ns.spec, { finalizers: ['kubernetes'] })
  assert.equal(ns.status, { phase: 'Active' })
  assert.equal((ns.metadata as Obj).labels, { 'kubernetes.io/metadata.name': 'team-a' })
  expectValid(ns)

  const ev = d(event())
  assert.is(ev.count, 1)
  assert.is(ev.type, 'Normal')
  const warning = d(event({ type: 'Warning', count: 7 }))
  assert.is(warning.type, 'Warning')
  assert.is(warning.count, 7)

  const n = d({ ...node('n1'), status: { capacity: { cpu: '4', memory: '8Gi' } } })
  assert.equal((n.status as Obj).allocatable, { cpu: '4', memory: '8Gi' })

  const ep = d(endpoints([{ addresses: [{ ip: '10.1.0.5' }], ports: [{ port: 80 }] }]))
  assert.equal(((ep.subsets as Obj[])[0] as Obj).ports, [{ port: 80, protocol: 'TCP' }])
  expectValid(ep)
})

test('defaulting leaves metadata.namespace to the API and never mutates', () => {
  const input = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'a', image: 'b' }] },
  }
  const out = d(input)
  assert.is((out.metadata as Obj).namespace, undefined)
  assert.is(Object.hasOwn(input, 'status'), false)
  assert.is.not(out, input)
})

// ---------------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------------

test('names: required unless generateName on create; per-kind rules and lengths', () => {
  expectProblem(
    pod({}, { name: undefined }),
    'metadata.name: Required value: name or generateName is required',
  )
  expectValid(pod({}, { name: undefined, generateName: 'web-' }))
  expectProblem(
    pod({}, { name: undefined, generateName: 'web-' }),
    'metadata.name: Required value: name or generateName is required',
    { isCreate: false, old: pod() as KubeObject },
  )
  expectProblem(
    pod({}, { name: undefined, generateName: 'Web-' }),
    `metadata.generateName: Invalid value: "Web-": ${SUBDOMAIN_MSG}`,
  )
  expectProblem(pod({}, { name: 'Web' }), `metadata.name: Invalid value: "Web": ${SUBDOMAIN_MSG}`)
  expectValid(pod({}, { name: 'web.v1' }))
  const long = `${'a'.repeat(250)}.bcd`
  expectProblem(
    pod({}, { name: long }),
    `metadata.name: Invalid value: "${long}": must be no more than 253 characters`,
  )
  // Namespaces are labels: no dots, at most 63.
  expectProblem(namespace('team.a'), 'metadata.name: Invalid value: "team.a": must not contain dots')
  expectProblem(
    namespace('a'.repeat(64)),
    `metadata.name: Invalid value: "${'a'.repeat(64)}": must be no more than 63 characters`,
  )
  // Services are RFC 1035 labels: a leading letter.
  const svc = service()
  ;(svc.metadata as Obj).name = '1web'
  expectProblem(svc, `metadata.name: Invalid value: "1web": ${DNS1035_MSG}`)
  expectProblem(node('Node_1'), `metadata.name: Invalid value: "Node_1": ${SUBDOMAIN_MSG}`)
  expectValid(node('node-1.example.com'))
})

test('namespaces: valid labels where namespaced, forbidden where not', () => {
  expectProblem(pod({}, { namespace: 'Team_A' }), `metadata.namespace: Invalid value: "Team_A": ${LABEL_MSG}`)
  expectValid(pod({}, { namespace: undefined }))
  expectProblem(
    { ...node('n1'), metadata: { name: 'n1', namespace: 'default' } },
    'metadata.namespace: Forbidden: not allowed on this type',
  )
  expectProblem(
    { ...namespace('a'), metadata: { name: 'a', namespace: 'b' } },
    'metadata.namespace: Forbidden: not allowed on this type',
  )
})

test('labels and annotations follow Kubernetes key and value rules', () => {
  expectValid(pod({}, { labels: { app: 'web', 'example.com/tier': 'front_end.1', empty: '' } }))
  expectProblem(
    pod({}, { labels: { 'bad key!': 'x' } }),
    `metadata.labels: Invalid value: "bad key!": ${QUALIFIED_MSG}`,
  )
  expectProblem(
    pod({}, { labels: { 'Example.com/a': 'x' } }),
    `metadata.labels: Invalid value: "Example.com/a": prefix part ${SUBDOMAIN_MSG}`,
  )
  expectProblem(
    pod({}, { labels: { '/a': 'x' } }),
    'metadata.labels: Invalid value: "/a": prefix part must be non-empty',
  )
  expectProblem(
    pod({}, { labels: { [`${'k'.repeat(64)}`]: 'x' } }),
    `metadata.labels: Invalid value: "${'k'.repeat(64)}": name part must be no more than 63 characters`,
  )
  const v = 'v'.repeat(64)
  expectProblem(
    pod({}, { labels: { app: v } }),
    `metadata.labels: Invalid value: "${v}": must be no more than 63 characters`,
  )
  expectProblem(pod({}, { labels: { app: 5 } }), 'metadata.labels[app]: Invalid value: 5: must be a string')
  // Annotation keys ignore case; their values are free, but all of them together are bounded.
  expectValid(pod({}, { annotations: { 'Example.com/Note': 'anything at all: ✓' } }))
  expectProblem(
    pod({}, { annotations: { big: 'x'.repeat(256 * 1024) } }),
    'metadata.annotations: Too long: must have at most 262144 bytes',
  )
  expectValid(pod({}, { annotations: { big: 'x'.repeat(256 * 1024 - 3) } }))
  expectProblem(
    pod({}, { annotations: { 'a b': '' } }),
    `metadata.annotations: Invalid value: "a b": ${QUALIFIED_MSG}`,
  )
})

test('owner references, finalizers and immutable metadata', () => {
  expectProblem(
    pod({}, { ownerReferences: [{ apiVersion: 'v1', kind: 'ReplicationController', name: 'web' }] }),
    'metadata.ownerReferences[0].uid: Invalid value: "": must not be empty',
  )
  const two = [
    { apiVersion: 'v1', kind: 'ReplicationController', name: 'a', uid: '1', controller: true },
    { apiVersion: 'v1', kind: 'ReplicationController', name: 'b', uid: '2', controller: true },
  ]
  expectProblem(
    pod({}, { ownerReferences: two }),
    'metadata.ownerReferences: Invalid value: Only one reference can have Controller set to true. Found "true" in references for ReplicationController/a and ReplicationController/b',
  )
  expectValid(pod({}, { finalizers: ['example.com/cleanup', 'foregroundDeletion'] }))
  expectProblem(
    pod({}, { finalizers: ['cleanup'] }),
    'metadata.finalizers[0]: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified',
  )
  const old = pod() as KubeObject
  ;(old.metadata as Obj).uid = 'u1'
  expectProblem(pod({}, { name: 'other' }), 'metadata.name: Invalid value: "other": field is immutable', {
    isCreate: false,
    old,
  })
  expectProblem(pod({}, { uid: 'u2' }), 'metadata.uid: Invalid value: "u2": field is immutable', {
    isCreate: false,
    old,
  })
  expectValid(pod({}, { uid: 'u1' }), { isCreate: false, old })
  // On create the old object plays no part.
  expectValid(pod({}, { name: 'other' }), { isCreate: true, old })
})

// ---------------------------------------------------------------------------------------------
// Pods
// ---------------------------------------------------------------------------------------------

test('pods: containers required, names unique DNS labels, image required', () => {
  expectProblem(pod({ containers: [] }), 'spec.containers: Required value')
  expectProblem(pod({ containers: undefined }), 'spec.containers: Required value')
  expectProblem({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } }, 'spec.containers: Required value')
  expectProblem(
    pod({
      containers: [
        { name: 'web', image: 'a' },
        { name: 'web', image: 'b' },
      ],
    }),
    'spec.containers[1].name: Duplicate value: "web"',
  )
  expectProblem(
    pod({ initContainers: [{ name: 'web', image: 'a' }] }),
    'spec.containers[0].name: Duplicate value: "web"',
  )
  expectProblem(
    pod({ containers: [{ name: 'Web_1', image: 'a' }] }),
    `spec.containers[0].name: Invalid value: "Web_1": ${LABEL_MSG}`,
  )
  expectProblem(pod({ containers: [{ image: 'a' }] }), 'spec.containers[0].name: Required value')
  expectProblem(pod({ containers: [{ name: 'a' }] }), 'spec.containers[0].image: Required value')
  expectProblem(pod({ containers: [{ name: 'a', image: '' }] }), 'spec.containers[0].image: Required value')
  expectProblem(
    pod({ containers: [{ name: 'a', image: ' nginx' }] }),
    'spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace',
  )
})

test('pods: container ports', () => {
  const withPorts = (ports: unknown): Obj => pod({ containers: [{ name: 'a', image: 'b', ports }] })
  expectValid(
    withPorts([
      { containerPort: 80, name: 'http' },
      { containerPort: 53, protocol: 'UDP', name: 'dns' },
    ]),
  )
  expectProblem(
    withPorts([{ containerPort: 70000 }]),
    'spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
  )
  expectProblem(
    withPorts([{ containerPort: -1 }]),
    'spec.containers[0].ports[0].containerPort: Invalid value: -1: must be between 1 and 65535, inclusive',
  )
  expectProblem(withPorts([{ name: 'x' }]), 'spec.containers[0].ports[0].containerPort: Required value')
  expectProblem(
    withPorts([{ containerPort: 0 }]),
    'spec.containers[0].ports[0].containerPort: Required value',
  )
  expectProblem(
    withPorts([{ containerPort: 80, hostPort: 65536 }]),
    'spec.containers[0].ports[0].hostPort: Invalid value: 65536: must be between 1 and 65535, inclusive',
  )
  expectProblem(
    withPorts([
      { containerPort: 80, name: 'http' },
      { containerPort: 81, name: 'http' },
    ]),
    'spec.containers[0].ports[1].name: Duplicate value: "http"',
  )
  expectProblem(
    withPorts([{ containerPort: 80 }, { containerPort: 81, name: 'a-very-long-port-name' }]),
    'spec.containers[0].ports[1].name: Invalid value: "a-very-long-port-name": must be no more than 15 characters',
  )
  expectProblem(
    withPorts([{ containerPort: 80, name: '8080' }]),
    'spec.containers[0].ports[0].name: Invalid value: "8080": must contain at least one letter (a-z)',
  )
  expectProblem(
    withPorts([{ containerPort: 80, name: 'Http' }]),
    'spec.containers[0].ports[0].name: Invalid value: "Http": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
  )
  expectProblem(
    withPorts([{ containerPort: 80, name: 'a--b' }]),
    'spec.containers[0].ports[0].name: Invalid value: "a--b": must not contain consecutive hyphens',
  )
  expectProblem(
    withPorts([{ containerPort: 80, protocol: 'ICMP' }]),
    'spec.containers[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
  )
  expectProblem(
    withPorts([{ containerPort: 80, protocol: '' }]),
    'spec.containers[0].ports[0].protocol: Required value',
  )
  // Two containers may not claim the same host port.
  expectProblem(
    pod({
      containers: [
        { name: 'a', image: 'b', ports: [{ containerPort: 80, hostPort: 8080 }] },
        { name: 'c', image: 'd', ports: [{ containerPort: 81, hostPort: 8080 }] },
      ],
    }),
    'spec.containers[1].ports[0].hostPort: Duplicate value: "/TCP/8080"',
  )
  expectProblem(
    pod({
      hostNetwork: true,
      containers: [{ name: 'a', image: 'b', ports: [{ containerPort: 80, hostPort: 81 }] }],
    }),
    'spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true',
  )
})

test('pods: restart, pull, DNS policies and grace period', () => {
  expectProblem(
    pod({ restartPolicy: 'Sometimes' }),
    'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
  )
  for (const policy of ['Always', 'OnFailure', 'Never']) expectValid(pod({ restartPolicy: policy }))
  expectProblem(
    pod({ containers: [{ name: 'a', image: 'b', imagePullPolicy: 'Maybe' }] }),
    'spec.containers[0].imagePullPolicy: Unsupported value: "Maybe": supported values: "Always", "IfNotPresent", "Never"',
  )
  expectProblem(
    pod({ dnsPolicy: 'Google' }),
    'spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"',
  )
  expectProblem(
    pod({ dnsPolicy: 'None' }),
    'spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None',
  )
  expectProblem(
    pod({ dnsPolicy: 'None', dnsConfig: { searches: ['a.b'] } }),
    'spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when `dnsPolicy` is None',
  )
  expectValid(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'] } }))
  expectValid(
    pod({
      dnsConfig: {
        nameservers: ['10.0.0.10'],
        searches: ['corp.example.', 'x.y'],
        options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
      },
    }),
  )
  expectProblem(
    pod({ dnsConfig: { nameservers: ['1.1.1.1', '1.0.0.1', '8.8.8.8', '8.8.4.4'] } }),
    'spec.dnsConfig.nameservers: Invalid value: ["1.1.1.1","1.0.0.1","8.8.8.8","8.8.4.4"]: must not have more than 3 nameservers',
  )
  expectProblem(
    pod({ dnsConfig: { nameservers: ['dns.example'] } }),
    'spec.dnsConfig.nameservers[0]: Invalid value: "dns.example": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
  )
  expectProblem(
    pod({ dnsConfig: { searches: ['Bad_Domain'] } }),
    "spec.dnsConfig.searches[0]: Invalid value: \"Bad_Domain\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
  )
  expectProblem(
    pod({ dnsConfig: { options: [{ value: '2' }] } }),
    'spec.dnsConfig.options[0]: Required value: Option.Name must not be empty',
  )
  expectProblem(
    pod({ terminationGracePeriodSeconds: -1 }),
    'spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0',
  )
  expectValid(pod({ terminationGracePeriodSeconds: 0 }))
  expectProblem(
    pod({ activeDeadlineSeconds: 0 }),
    'spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive',
  )
  expectProblem(
    pod({ nodeSelector: { 'disk type': 'ssd' } }),
    `spec.nodeSelector: Invalid value: "disk type": ${QUALIFIED_MSG}`,
  )
  expectProblem(pod({ nodeName: 'Node_1' }), `spec.nodeName: Invalid value: "Node_1": ${SUBDOMAIN_MSG}`)
})

test('pods: resources parse as quantities and requests stay within limits', () => {
  const withResources = (resources: unknown): Obj =>
    pod({ containers: [{ name: 'a', image: 'b', resources }] })
  expectValid(
    withResources({ requests: { cpu: '250m', memory: '64Mi' }, limits: { cpu: 1, memory: '128Mi' } }),
  )
  expectValid(withResources({ requests: { cpu: '0.5' }, limits: { cpu: '500m' } }))
  expectProblem(
    withResources({ limits: { cpu: 'lots' } }),
    `spec.containers[0].resources.limits[cpu]: Invalid value: "lots": ${QUANTITY_MSG}`,
  )
  expectProblem(
    withResources({ requests: { memory: '1Gi' }, limits: { memory: '512Mi' } }),
    'spec.containers[0].resources.requests: Invalid value: "1Gi": must be less than or equal to memory limit of 512Mi',
  )
  expectProblem(
    withResources({ requests: { cpu: '2' }, limits: { cpu: '500m' } }),
    'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 500m',
  )
  expectProblem(
    withResources({ requests: { cpu: '-1' } }),
    'spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0',
  )
  expectProblem(
    withResources({ limits: { gpu: '1' } }),
    'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers',
  )
  expectValid(withResources({ limits: { 'example.com/gpu': '1' }, requests: { 'example.com/gpu': '1' } }))
  expectProblem(
    withResources({ limits: { 'example.com/gpu': '2' }, requests: { 'example.com/gpu': '1' } }),
    'spec.containers[0].resources.requests: Invalid value: "1": must be equal to example.com/gpu limit of 2',
  )
  expectProblem(
    withResources({ limits: { 'example.com/gpu': '500m' } }),
    'spec.containers[0].resources.limits[example.com/gpu]: Invalid value: "500m": must be an integer',
  )
  expectProblem(
    withResources({ limits: { cpu: true } }),
    'spec.containers[0].resources.limits[cpu]: Invalid value: true: must be a quantity (a string such as "100m" or "64Mi", or a number)',
  )
})

test('pods: volumes are unique, have exactly one supported source, and mounts name them', () => {
  const withVolumes = (volumes: unknown, mounts: unknown = []): Obj =>
    pod({ volumes, containers: [{ name: 'a', image: 'b', volumeMounts: mounts }] })
  expectValid(
    withVolumes(
      [
        { name: 'data', emptyDir: {} },
        { name: 'logs', hostPath: { path: '/var/log', type: 'Directory' } },
      ],
      [
        { name: 'data', mountPath: '/data' },
        { name: 'logs', mountPath: '/logs', readOnly: true },
      ],
    ),
  )
  expectProblem(
    withVolumes([
      { name: 'data', emptyDir: {} },
      { name: 'data', emptyDir: {} },
    ]),
    'spec.volumes[1].name: Duplicate value: "data"',
  )
  expectProblem(
    withVolumes([{ name: 'Data', emptyDir: {} }]),
    `spec.volumes[0].name: Invalid value: "Data": ${LABEL_MSG}`,
  )
  expectProblem(withVolumes([{ emptyDir: {} }]), 'spec.volumes[0].name: Required value')
  expectProblem(
    withVolumes([{ name: 'data' }]),
    'spec.volumes[0]: Required value: must specify a volume type',
  )
  expectProblem(
    withVolumes([{ name: 'data', emptyDir: {}, hostPath: { path: '/x' } }]),
    'spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type',
  )
  expectProblem(
    withVolumes([{ name: 'data', nfs: { server: 'x', path: '/' } }]),
    'spec.volumes[0]: Unsupported value: "nfs": supported values: "emptyDir", "hostPath"',
  )
  expectProblem(
    withVolumes([{ name: 'data', hostPath: {} }]),
    'spec.volumes[0].hostPath.path: Required value',
  )
  expectProblem(
    withVolumes([{ name: 'data', hostPath: { path: '/var/../etc' } }]),
    `spec.volumes[0].hostPath.path: Invalid value: "/var/../etc": must not contain '..'`,
  )
  expectProblem(
    withVolumes([{ name: 'data', hostPath: { path: '/x', type: 'Pipe' } }]),
    'spec.volumes[0].hostPath.type: Unsupported value: "Pipe": supported values: "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"',
  )
  expectProblem(
    withVolumes([{ name: 'data', emptyDir: { medium: 'HugePages' } }]),
    'spec.volumes[0].emptyDir.medium: Unsupported value: "HugePages": supported values: "", "Memory"',
  )
  expectProblem(
    withVolumes([{ name: 'data', emptyDir: {} }], [{ name: 'missing', mountPath: '/m' }]),
    'spec.containers[0].volumeMounts[0].name: Not found: "missing"',
  )
  expectProblem(
    withVolumes([{ name: 'data', emptyDir: {} }], [{ name: 'data' }]),
    'spec.containers[0].volumeMounts[0].mountPath: Required value',
  )
  expectProblem(
    withVolumes(
      [{ name: 'data', emptyDir: {} }],
      [
        { name: 'data', mountPath: '/d' },
        { name: 'data', mountPath: '/d' },
      ],
    ),
    'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/d": must be unique',
  )
  expectProblem(
    withVolumes([{ name: 'data', emptyDir: {} }], [{ name: 'data', mountPath: '/d', subPath: '../x' }]),
    `spec.containers[0].volumeMounts[0].subPath: Invalid value: "../x": must not contain '..'`,
  )
})

test('pods: probes have exactly one handler and sane numbers', () => {
  const withProbe = (livenessProbe: unknown, readinessProbe?: unknown): Obj =>
    pod({ containers: [{ name: 'a', image: 'b', livenessProbe, readinessProbe }] })
  expectValid(
    withProbe(
      { httpGet: { path: '/healthz', port: 8080 } },
      { tcpSocket: { port: 'http' }, successThreshold: 3 },
    ),
  )
  expectValid(withProbe({ exec: { command: ['true'] }, initialDelaySeconds: 5 }))
  expectProblem(
    withProbe({ periodSeconds: 5 }),
    'spec.containers[0].livenessProbe: Required value: must specify a handler type',
  )
  expectProblem(
    withProbe({ httpGet: { port: 80 }, tcpSocket: { port: 80 } }),
    'spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type',
  )
  expectProblem(
    withProbe({ exec: { command: ['true'] }, periodSeconds: -5 }),
    'spec.containers[0].livenessProbe.periodSeconds: Invalid value: -5: must be greater than or equal to 0',
  )
  expectProblem(
    withProbe({ exec: { command: ['true'] }, successThreshold: 2 }),
    'spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1',
  )
  expectProblem(
    withProbe({ exec: { command: [] } }),
    'spec.containers[0].livenessProbe.exec.command: Required value',
  )
  expectProblem(withProbe({ httpGet: {} }), 'spec.containers[0].livenessProbe.httpGet.port: Required value')
  expectProblem(
    withProbe({ tcpSocket: { port: 0 } }),
    'spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: 0: must be between 1 and 65535, inclusive',
  )
  expectProblem(
    withProbe({ httpGet: { port: 'HTTP' } }),
    'spec.containers[0].livenessProbe.httpGet.port: Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
  )
  expectProblem(
    withProbe({ httpGet: { port: 80, scheme: 'FTP' } }),
    'spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"',
  )
  expectProblem(
    pod({ initContainers: [{ name: 'i', image: 'b', readinessProbe: { exec: { command: ['x'] } } }] }),
    'spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers',
  )
})

test('pods: environment variable names', () => {
  const withEnv = (env: unknown): Obj => pod({ containers: [{ name: 'a', image: 'b', env }] })
  expectValid(
    withEnv([{ name: 'GET_HOSTS_FROM', value: 'dns' }, { name: 'my.env-name' }, { name: '_x', value: '' }]),
  )
  expectProblem(
    withEnv([{ name: '1BAD', value: 'x' }]),
    "spec.containers[0].env[0].name: Invalid value: \"1BAD\": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')",
  )
  expectProblem(
    withEnv([{ name: '..' }]),
    `spec.containers[0].env[0].name: Invalid value: "..": must not be '..'`,
  )
  expectProblem(withEnv([{ value: 'x' }]), 'spec.containers[0].env[0].name: Required value')
  expectProblem(
    withEnv([{ name: 'A', value: 5 }]),
    'spec.containers[0].env[0].value: Invalid value: 5: must be a string',
  )
  expectProblem(
    withEnv([{ name: 'A', value: 'x', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]),
    'spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when `value` is not empty',
  )
})

// ---------------------------------------------------------------------------------------------
// ReplicationControllers
// ---------------------------------------------------------------------------------------------

test('replication controllers: replicas, selector, template', () => {
  expectValid(rc())
  expectProblem(
    with_(rc(), ['spec', 'replicas'], -1),
    'spec.replicas: Invalid value: -1: must be greater than or equal to 0',
  )
  expectProblem(
    with_(rc(), ['spec', 'replicas'], 1.5),
    'spec.replicas: Invalid value: 1.5: must be an integer',
  )
  expectProblem(with_(rc(), ['spec', 'selector'], {}), 'spec.selector: Required value')
  expectProblem(with_(rc(), ['spec', 'selector'], undefined), 'spec.selector: Required value')
  expectProblem(
    with_(rc(), ['spec', 'selector'], { app: 'api' }),
    'spec.template.metadata.labels: Invalid value: {"app":"web","tier":"frontend"}: `selector` does not match template `labels`',
  )
  expectProblem(
    with_(rc(), ['spec', 'template', 'metadata', 'labels'], undefined),
    'spec.template.metadata.labels: Invalid value: {}: `selector` does not match template `labels`',
  )
  expectProblem(with_(rc(), ['spec', 'template'], undefined), 'spec.template: Required value')
  expectProblem(
    with_(rc(), ['spec', 'template', 'spec', 'restartPolicy'], 'OnFailure'),
    'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
  )
  expectProblem(
    with_(rc(), ['spec', 'template', 'spec', 'containers'], []),
    'spec.template.spec.containers: Required value',
  )
  expectProblem(
    with_(rc(), ['spec', 'template', 'spec', 'containers', 0, 'ports'], [{ containerPort: 0.5 }]),
    'spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 0.5: must be an integer',
  )
  expectProblem(
    with_(rc(), ['spec', 'template', 'metadata', 'labels', 'x'], '-bad-'),
    "spec.template.metadata.labels: Invalid value: \"-bad-\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
  )
})

// ---------------------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------------------

test('services: ports', () => {
  expectValid(service())
  expectValid(d(service()))
  expectProblem(service({ ports: [] }), 'spec.ports: Required value')
  expectProblem(service({ ports: undefined }), 'spec.ports: Required value')
  expectValid(service({ ports: [], clusterIP: 'None' }))
  expectProblem(
    service({ ports: [{ port: 0 }] }),
    'spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
  )
  expectProblem(
    service({ ports: [{ port: 65536 }] }),
    'spec.ports[0].port: Invalid value: 65536: must be between 1 and 65535, inclusive',
  )
  expectProblem(service({ ports: [{ name: 'http' }] }), 'spec.ports[0].port: Required value')
  expectProblem(
    service({ ports: [{ port: 80, name: 'http' }, { port: 443 }] }),
    'spec.ports[1].name: Required value',
  )
  expectProblem(
    service({
      ports: [
        { port: 80, name: 'http' },
        { port: 443, name: 'http' },
      ],
    }),
    'spec.ports[1].name: Duplicate value: "http"',
  )
  expectProblem(
    service({ ports: [{ port: 80, name: 'HTTP' }] }),
    `spec.ports[0].name: Invalid value: "HTTP": ${LABEL_MSG}`,
  )
  expectProblem(
    service({
      ports: [
        { port: 80, name: 'a' },
        { port: 80, name: 'b' },
      ],
    }),
    'spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}',
  )
  expectValid(
    service({
      ports: [
        { port: 53, name: 'a' },
        { port: 53, name: 'b', protocol: 'UDP' },
      ],
    }),
  )
  expectProblem(
    service({ ports: [{ port: 80, targetPort: 70000 }] }),
    'spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
  )
  expectValid(service({ ports: [{ port: 80, targetPort: 'http' }] }))
  expectProblem(
    service({ ports: [{ port: 80, targetPort: 'http-is-too-long-for-iana' }] }),
    'spec.ports[0].targetPort: Invalid value: "http-is-too-long-for-iana": must be no more than 15 characters',
  )
  expectProblem(
    service({ ports: [{ port: 80, targetPort: { port: 1 } }] }),
    'spec.ports[0].targetPort: Invalid value: {"port":1}: must be an integer or a string',
  )
  expectProblem(
    service({ ports: [{ port: 80, protocol: 'HTTP' }] }),
    'spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
  )
})

test('services: types, node ports, cluster IPs', () => {
  expectValid(service({ type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }))
  expectValid(service({ type: 'NodePort' }))
  expectProblem(
    service({ type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] }),
    'spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767',
  )
  expectProblem(
    service({ type: 'NodePort', ports: [{ port: 80, nodePort: 32768 }] }),
    'spec.ports[0].nodePort: Invalid value: 32768: provided port is not in the valid range. The range of valid ports is 30000-32767',
  )
  expectProblem(
    service({
      type: 'NodePort',
      ports: [
        { port: 80, name: 'a', nodePort: 30001 },
        { port: 81, name: 'b', nodePort: 30001 },
      ],
    }),
    'spec.ports[1].nodePort: Duplicate value: 30001',
  )
  expectProblem(
    service({ ports: [{ port: 80, nodePort: 30080 }] }),
    "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
  )
  expectProblem(
    service({ type: 'LoadBalancer' }),
    'spec.type: Unsupported value: "LoadBalancer": supported values: "ClusterIP", "NodePort", "ExternalName"',
  )
  expectProblem(service({ type: 'ExternalName' }), 'spec.externalName: Required value')
  expectValid(service({ type: 'ExternalName', externalName: 'db.example.org' }))
  expectValid(service({ clusterIP: '10.96.0.10' }))
  expectValid(service({ clusterIP: '' }))
  expectValid(service({ clusterIP: 'None', ports: [{ port: 6379 }] }))
  expectProblem(
    service({ clusterIP: '10.0.0.300' }),
    `spec.clusterIP: Invalid value: "10.0.0.300": must be empty, 'None', or a valid IPv4 address`,
  )
  expectProblem(
    service({ clusterIP: 'fd00::1' }),
    `spec.clusterIP: Invalid value: "fd00::1": must be empty, 'None', or a valid IPv4 address`,
  )
  expectProblem(
    service({ type: 'NodePort', clusterIP: 'None' }),
    `spec.clusterIP: Invalid value: "None": may not be set to 'None' for LoadBalancer or NodePort services`,
  )
  expectProblem(
    service({ sessionAffinity: 'Cookie' }),
    'spec.sessionAffinity: Unsupported value: "Cookie": supported values: "ClientIP", "None"',
  )
  expectProblem(
    service({ selector: { 'a b': 'x' } }),
    `spec.selector: Invalid value: "a b": ${QUALIFIED_MSG}`,
  )
})

test('services: clusterIP is immutable on update', () => {
  const old = service({ clusterIP: '10.96.0.5' }) as KubeObject
  const update = { isCreate: false, old }
  expectValid(service({ clusterIP: '10.96.0.5' }), update)
  expectProblem(
    service({ clusterIP: '10.96.0.6' }),
    'spec.clusterIP: Invalid value: "10.96.0.6": field is immutable',
    update,
  )
  expectProblem(
    service({ clusterIP: 'None' }),
    'spec.clusterIP: Invalid value: "None": field is immutable',
    update,
  )
  // Leaving it out keeps the allocated address (the API carries it over).
  expectValid(service(), update)
  // Before allocation there is nothing to keep.
  expectValid(service({ clusterIP: '10.96.0.6' }), { isCreate: false, old: service() as KubeObject })
})

// ---------------------------------------------------------------------------------------------
// ConfigMaps, Endpoints, Events, Nodes, Namespaces
// ---------------------------------------------------------------------------------------------

test('config maps: keys and total size', () => {
  expectValid(configMap({ 'app.properties': 'a=1', KEY_NAME: 'x', 'key-name': '', '.hidden': 'x' }))
  expectValid({ ...configMap({ a: '1' }), binaryData: { b: Buffer.from('hello').toString('base64') } })
  expectProblem(
    configMap({ 'bad key': 'x' }),
    "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
  )
  expectProblem(
    configMap({ '..data': 'x' }),
    `data[..data]: Invalid value: "..data": must not start with '..'`,
  )
  expectProblem(
    configMap({ [`${'k'.repeat(254)}`]: 'x' }),
    `data[${'k'.repeat(254)}]: Invalid value: "${'k'.repeat(254)}": must be no more than 253 characters`,
  )
  expectProblem(
    configMap({ a: 'x'.repeat(1024 * 1024), b: 'y' }),
    'data: Too long: must have at most 1048576 bytes',
  )
  expectValid(configMap({ a: 'x'.repeat(1024 * 1024) }))
  expectProblem(configMap({ a: 1 }), 'data[a]: Invalid value: 1: must be a string')
  expectProblem(configMap(['a']), 'data: Invalid value: ["a"]: must be an object')
  expectProblem(
    { ...configMap({ a: '1' }), binaryData: { a: 'AA==' } },
    'binaryData[a]: Invalid value: "a": duplicate of key present in data',
  )
  expectProblem(
    { ...configMap({}), binaryData: { b: 'not base64!' } },
    'binaryData[b]: Invalid value: must be base64-encoded',
  )
  const old = { ...configMap({ a: '1' }), immutable: true } as unknown as KubeObject
  expectProblem(
    { ...configMap({ a: '2' }), immutable: true },
    'data: Forbidden: field is immutable when `immutable` is set',
    { isCreate: false, old },
  )
  expectValid({ ...configMap({ a: '1' }), immutable: true }, { isCreate: false, old })
})

test('endpoints: addresses with valid IPs and ports', () => {
  expectValid(
    endpoints([
      {
        addresses: [
          { ip: '10.1.0.5', nodeName: 'node-1', targetRef: { kind: 'Pod', name: 'web-1' } },
          { ip: '127.0.0.2' },
        ],
        notReadyAddresses: [{ ip: 'fd00::5' }],
        ports: [
          { port: 80, name: 'http' },
          { port: 443, name: 'https' },
        ],
      },
    ]),
  )
  expectValid(endpoints([]))
  expectValid(endpoints(undefined))
  expectProblem(
    endpoints([{ addresses: [{ ip: '10.0.0.999' }], ports: [{ port: 80 }] }]),
    'subsets[0].addresses[0].ip: Invalid value: "10.0.0.999": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
  )
  expectProblem(endpoints([{ addresses: [{}] }]), 'subsets[0].addresses[0].ip: Required value')
  expectProblem(
    endpoints([{ addresses: [{ ip: '0.0.0.0' }] }]),
    'subsets[0].addresses[0].ip: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)',
  )
  expectProblem(
    endpoints([{ addresses: [{ ip: '169.254.169.254' }] }]),
    'subsets[0].addresses[0].ip: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)',
  )
  expectProblem(
    endpoints([{ ports: [{ port: 80 }] }]),
    'subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`',
  )
  expectProblem(
    endpoints([{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 0 }] }]),
    'subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
  )
  expectProblem(
    endpoints([{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80, name: 'a' }, { port: 81 }] }]),
    'subsets[0].ports[1].name: Required value',
  )
  expectProblem(
    endpoints([{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80, protocol: 'ICMP' }] }]),
    'subsets[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
  )
})

test('events: involvedObject required and in the event namespace', () => {
  expectValid(event())
  expectValid(d(event()))
  const missing = event()
  delete missing.involvedObject
  expectProblem(missing, 'involvedObject: Required value')
  expectProblem(
    event({ involvedObject: { kind: 'Pod', name: 'web', namespace: 'other' } }),
    'involvedObject.namespace: Invalid value: "other": does not match event.namespace',
  )
  // Events about cluster-scoped objects live in "default".
  expectValid(event({ involvedObject: { kind: 'Node', name: 'node-1' } }))
  expectProblem(
    event({ type: 'Error' }),
    'type: Unsupported value: "Error": supported values: "Normal", "Warning"',
  )
  expectProblem(event({ count: 'many' }), 'count: Invalid value: "many": must be an integer')
})

test('nodes and namespaces: metadata, and namespace finalizers', () => {
  expectValid(d(node('node-1')))
  expectValid({ ...node('n'), spec: { unschedulable: true }, status: { capacity: { cpu: '4' } } })
  expectProblem({ ...node('n'), spec: 'x' }, 'spec: Invalid value: "x": must be an object')
  expectValid(d(namespace('kube-system')))
  expectProblem(
    { ...namespace('a'), spec: { finalizers: ['cleanup'] } },
    'spec.finalizers[0]: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified',
  )
  expectProblem(
    { ...namespace('a'), status: { phase: 'Gone' } },
    'status.phase: Unsupported value: "Gone": supported values: "Active", "Terminating"',
  )
})

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

test('every problem is reported at once, in one InvalidError', () => {
  const bad = pod(
    {
      restartPolicy: 'Sometimes',
      containers: [
        { name: 'web', ports: [{ containerPort: 0 }, { containerPort: 99999, protocol: 'ICMP' }] },
        { name: 'web', image: 'x', imagePullPolicy: 'Maybe' },
      ],
    },
    { name: 'Bad_Name', labels: { 'bad key!': 'v' } },
  )
  let err: unknown
  try {
    validateObject(bad as KubeObject, { isCreate: true })
  } catch (e) {
    err = e
  }
  assert.ok(err instanceof InvalidError)
  const e = err as InvalidError
  assert.is(e.code, 422)
  assert.is(e.name, 'InvalidError')
  assert.equal(
    e.causes.map((c) => c.field),
    [
      'metadata.name',
      'metadata.labels',
      'spec.containers[0].image',
      'spec.containers[0].ports[0].containerPort',
      'spec.containers[0].ports[1].containerPort',
      'spec.containers[0].ports[1].protocol',
      'spec.containers[1].name',
      'spec.containers[1].imagePullPolicy',
      'spec.restartPolicy',
    ],
  )
  assert.equal(
    e.causes.map((c) => c.reason),
    [
      'FieldValueInvalid',
      'FieldValueInvalid',
      'FieldValueRequired',
      'FieldValueRequired',
      'FieldValueInvalid',
      'FieldValueNotSupported',
      'FieldValueDuplicate',
      'FieldValueNotSupported',
      'FieldValueNotSupported',
    ],
  )
  assert.ok(
    e.message.startsWith('Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '),
    e.message,
  )
  assert.ok(e.message.includes(', spec.containers[0].image: Required value, '), e.message)
  assert.ok(
    e.message.endsWith(
      'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ),
  )
  const status = e.toStatus()
  assert.is(status.reason, 'Invalid')
  assert.is(status.details?.kind, 'Pod')
  assert.is(status.details?.name, 'Bad_Name')
  assert.is(status.details?.causes?.length, 9)
})

test('a generated name titles the error by its prefix', () => {
  try {
    validateObject(pod({ containers: [] }, { name: undefined, generateName: 'web-' }) as KubeObject, {
      isCreate: true,
    })
    assert.unreachable('should have thrown')
  } catch (err) {
    assert.ok(err instanceof InvalidError)
    assert.ok(
      (err as InvalidError).message.startsWith('Pod "web-" is invalid: spec.containers: Required value'),
    )
  }
})

// ---------------------------------------------------------------------------------------------
// Junk
// ---------------------------------------------------------------------------------------------

const JUNK: unknown[] = [
  'str',
  '',
  42,
  -1,
  1.5,
  0,
  true,
  false,
  null,
  [],
  {},
  [1, 'a', null, {}],
  { a: { b: [] } },
  '80',
  'None',
  1e300,
]

/** Paths into each kind's valid object where junk goes. */
const JUNK_SITES: [() => Obj, (string | number)[][]][] = [
  [
    () => d(pod({ volumes: [{ name: 'v', emptyDir: {} }] })),
    [
      ['metadata'],
      ['metadata', 'name'],
      ['metadata', 'generateName'],
      ['metadata', 'namespace'],
      ['metadata', 'labels'],
      ['metadata', 'labels', 'app'],
      ['metadata', 'annotations'],
      ['metadata', 'ownerReferences'],
      ['metadata', 'ownerReferences', 0],
      ['metadata', 'ownerReferences', 0, 'controller'],
      ['metadata', 'finalizers'],
      ['metadata', 'finalizers', 0],
      ['metadata', 'generation'],
      ['spec'],
      ['spec', 'containers'],
      ['spec', 'containers', 0],
      ['spec', 'containers', 1],
      ['spec', 'containers', 0, 'name'],
      ['spec', 'containers', 0, 'image'],
      ['spec', 'containers', 0, 'command'],
      ['spec', 'containers', 0, 'command', 0],
      ['spec', 'containers', 0, 'ports'],
      ['spec', 'containers', 0, 'ports', 0],
      ['spec', 'containers', 0, 'ports', 0, 'containerPort'],
      ['spec', 'containers', 0, 'ports', 0, 'hostPort'],
      ['spec', 'containers', 0, 'ports', 0, 'name'],
      ['spec', 'containers', 0, 'ports', 0, 'protocol'],
      ['spec', 'containers', 0, 'ports', 0, 'hostIP'],
      ['spec', 'containers', 0, 'env'],
      ['spec', 'containers', 0, 'env', 0],
      ['spec', 'containers', 0, 'env', 0, 'name'],
      ['spec', 'containers', 0, 'env', 0, 'valueFrom'],
      ['spec', 'containers', 0, 'env', 0, 'valueFrom', 'configMapKeyRef'],
      ['spec', 'containers', 0, 'resources'],
      ['spec', 'containers', 0, 'resources', 'limits'],
      ['spec', 'containers', 0, 'resources', 'limits', 'cpu'],
      ['spec', 'containers', 0, 'resources', 'requests', 'memory'],
      ['spec', 'containers', 0, 'volumeMounts'],
      ['spec', 'containers', 0, 'volumeMounts', 0],
      ['spec', 'containers', 0, 'volumeMounts', 0, 'name'],
      ['spec', 'containers', 0, 'volumeMounts', 0, 'mountPath'],
      ['spec', 'containers', 0, 'livenessProbe'],
      ['spec', 'containers', 0, 'livenessProbe', 'httpGet'],
      ['spec', 'containers', 0, 'livenessProbe', 'httpGet', 'port'],
      ['spec', 'containers', 0, 'livenessProbe', 'httpGet', 'httpHeaders'],
      ['spec', 'containers', 0, 'livenessProbe', 'httpGet', 'httpHeaders', 0],
      ['spec', 'containers', 0, 'livenessProbe', 'exec'],
      ['spec', 'containers', 0, 'livenessProbe', 'exec', 'command'],
      ['spec', 'containers', 0, 'livenessProbe', 'periodSeconds'],
      ['spec', 'containers', 0, 'imagePullPolicy'],
      ['spec', 'initContainers'],
      ['spec', 'volumes'],
      ['spec', 'volumes', 0],
      ['spec', 'volumes', 0, 'name'],
      ['spec', 'volumes', 0, 'emptyDir'],
      ['spec', 'volumes', 0, 'emptyDir', 'sizeLimit'],
      ['spec', 'volumes', 0, 'hostPath'],
      ['spec', 'volumes', 0, 'hostPath', 'path'],
      ['spec', 'restartPolicy'],
      ['spec', 'dnsPolicy'],
      ['spec', 'hostNetwork'],
      ['spec', 'nodeSelector'],
      ['spec', 'nodeName'],
      ['spec', 'terminationGracePeriodSeconds'],
      ['status'],
      ['kind'],
      ['apiVersion'],
    ],
  ],
  [
    () => d(rc()),
    [
      ['spec'],
      ['spec', 'replicas'],
      ['spec', 'selector'],
      ['spec', 'selector', 'app'],
      ['spec', 'template'],
      ['spec', 'template', 'metadata'],
      ['spec', 'template', 'metadata', 'labels'],
      ['spec', 'template', 'spec'],
      ['spec', 'template', 'spec', 'containers'],
      ['spec', 'template', 'spec', 'restartPolicy'],
      ['spec', 'template', 'spec', 'activeDeadlineSeconds'],
    ],
  ],
  [
    () => d(service({ type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] })),
    [
      ['spec'],
      ['spec', 'type'],
      ['spec', 'ports'],
      ['spec', 'ports', 0],
      ['spec', 'ports', 1],
      ['spec', 'ports', 0, 'port'],
      ['spec', 'ports', 0, 'name'],
      ['spec', 'ports', 0, 'targetPort'],
      ['spec', 'ports', 0, 'nodePort'],
      ['spec', 'ports', 0, 'protocol'],
      ['spec', 'selector'],
      ['spec', 'clusterIP'],
      ['spec', 'clusterIPs'],
      ['spec', 'externalIPs'],
      ['spec', 'sessionAffinity'],
      ['spec', 'sessionAffinityConfig'],
      ['spec', 'sessionAffinityConfig', 'clientIP'],
    ],
  ],
  [
    () => d(endpoints([{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80 }] }])),
    [
      ['subsets'],
      ['subsets', 0],
      ['subsets', 0, 'addresses'],
      ['subsets', 0, 'addresses', 0],
      ['subsets', 0, 'addresses', 0, 'ip'],
      ['subsets', 0, 'addresses', 0, 'hostname'],
      ['subsets', 0, 'ports'],
      ['subsets', 0, 'ports', 0],
      ['subsets', 0, 'ports', 0, 'port'],
    ],
  ],
  [
    () => d(configMap({ a: 'b' })),
    [['data'], ['data', 'a'], ['binaryData'], ['binaryData', 'x'], ['immutable']],
  ],
  [
    () => d(event()),
    [['involvedObject'], ['involvedObject', 'namespace'], ['count'], ['type'], ['source'], ['reason']],
  ],
  [
    () => d(namespace('a')),
    [['spec'], ['spec', 'finalizers'], ['spec', 'finalizers', 0], ['status'], ['status', 'phase']],
  ],
  [() => d(node('n')), [['spec'], ['status'], ['metadata', 'labels']]],
]

test('junk in any field is a clean InvalidError naming that field, never a crash', () => {
  let checked = 0
  for (const [make, sites] of JUNK_SITES) {
    const base = make()
    expectValid(base)
    for (const path of sites) {
      for (const junk of JUNK) {
        const obj = with_(base, path, junk)
        const label = `${String(base.kind)} ${path.join('.')} = ${JSON.stringify(junk)}`
        let causes: StatusCause[] = []
        try {
          causes = causesOf(obj)
          causesOf(obj, { isCreate: false, old: base as KubeObject })
          causesOf(d(obj))
        } catch (err) {
          assert.unreachable(`${label}: threw ${String(err)}`)
        }
        for (const c of causes) {
          assert.type(c.field, 'string', label)
          assert.type(c.message, 'string', label)
          assert.ok(c.reason.startsWith('FieldValue'), label)
        }
        checked++
      }
    }
  }
  assert.ok(checked > 1500)
})

test('wrong JSON types read as "must be ..." causes at the right path', () => {
  expectProblem(pod({ containers: {} }), 'spec.containers: Invalid value: {}: must be a list')
  expectProblem(pod({ containers: ['web'] }), 'spec.containers[0]: Invalid value: "web": must be an object')
  expectProblem(pod({ containers: [null] }), 'spec.containers[0]: Invalid value: null: must be an object')
  expectProblem(
    pod({ containers: [{ name: 'a', image: 'b', ports: [{ containerPort: '80' }] }] }),
    'spec.containers[0].ports[0].containerPort: Invalid value: "80": must be an integer',
  )
  expectProblem(
    pod({ containers: [{ name: 'a', image: 'b', ports: { containerPort: 80 } }] }),
    'spec.containers[0].ports: Invalid value: {"containerPort":80}: must be a list',
  )
  expectProblem(
    pod({ containers: [{ name: 7, image: 'b' }] }),
    'spec.containers[0].name: Invalid value: 7: must be a string',
  )
  expectProblem(
    pod({ containers: [{ name: 'a', image: ['b'] }] }),
    'spec.containers[0].image: Invalid value: ["b"]: must be a string',
  )
  expectProblem(pod({ hostNetwork: 'yes' }), 'spec.hostNetwork: Invalid value: "yes": must be a boolean')
  expectProblem(
    pod({ terminationGracePeriodSeconds: '30' }),
    'spec.terminationGracePeriodSeconds: Invalid value: "30": must be an integer',
  )
  expectProblem({ ...pod(), metadata: 'web' }, 'metadata: Invalid value: "web": must be an object')
  expectProblem({ ...pod(), spec: [] }, 'spec: Invalid value: []: must be an object')
  expectProblem(
    pod({ containers: [{ name: 'a', image: 'b', command: ['sh', 1] }] }),
    'spec.containers[0].command[1]: Invalid value: 1: must be a string',
  )
  expectProblem(
    with_(rc(), ['spec', 'selector'], ['app']),
    'spec.selector: Invalid value: ["app"]: must be an object',
  )
  expectProblem(service({ ports: 80 }), 'spec.ports: Invalid value: 80: must be a list')
  const long = { ...pod(), spec: { containers: 'x'.repeat(5000) } }
  const found = problems(long)
  assert.ok((found[0] as string).length < 1200, 'huge values are shortened in messages')
})

test('non-objects are invalid, not crashes', () => {
  for (const junk of [null, 'Pod', 42, [], [pod()]]) {
    assert.throws(
      () => validateObject(junk as unknown as KubeObject, { isCreate: true }),
      (err: unknown) => err instanceof InvalidError,
    )
    assert.not.throws(() => defaultObject(junk as unknown as KubeObject))
  }
  expectProblem({ metadata: { name: 'x' } }, 'kind: Required value')
})

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

// Fixed seeds replay exactly; a seed that ever failed stays listed here.
const SEEDS = [20240601, 7, 424242]

function neverCrashes(obj: unknown): boolean {
  for (const target of [obj, defaultObject(obj as KubeObject)]) {
    try {
      validateObject(target as KubeObject, { isCreate: true })
      validateObject(target as KubeObject, { isCreate: false, old: obj as KubeObject })
    } catch (err) {
      if (!(err instanceof InvalidError)) throw err
      for (const c of err.causes)
        if (typeof c.field !== 'string' || typeof c.message !== 'string') return false
    }
  }
  return true
}

test('property: arbitrary JSON with kind Pod only ever raises InvalidError', () => {
  const anyJson = fc.jsonValue({ maxDepth: 4 })
  const arb = fc
    .tuple(
      fc.dictionary(fc.string(), anyJson, { maxKeys: 5 }),
      fc.record(
        { metadata: anyJson, spec: anyJson, status: anyJson, apiVersion: anyJson },
        { requiredKeys: [] },
      ),
    )
    .map(([extra, known]) => ({ ...extra, ...known, kind: 'Pod' }))
  for (const seed of SEEDS) fc.assert(fc.property(arb, neverCrashes), { seed, numRuns: 400 })
})

test('property: pod-shaped objects with junk in every field only ever raise InvalidError', () => {
  const junk = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined))
  const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
    fc.oneof({ weight: 3, arbitrary: a }, { weight: 1, arbitrary: junk })
  const str = (...values: string[]): fc.Arbitrary<unknown> =>
    maybe(fc.oneof(fc.constantFrom(...values), fc.string({ maxLength: 8 })))
  const int = maybe(
    fc.oneof(fc.integer({ min: -5, max: 70000 }), fc.constantFrom(0, 1, 80, 30080, 65535, 65536)),
  )
  const quantity = maybe(
    fc.oneof(fc.constantFrom('100m', '1', '64Mi', '1Gi', '-1', 'lots', '1e3', ''), fc.double()),
  )
  const list = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<unknown> => maybe(fc.array(maybe(a), { maxLength: 3 }))
  const record = (shape: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> =>
    maybe(fc.record(shape, { requiredKeys: [] }))
  const port = record({
    name: str('http', 'HTTP', '80', 'a--b'),
    containerPort: int,
    hostPort: int,
    protocol: str('TCP', 'UDP', 'ICMP', ''),
  })
  const portRef = maybe(fc.oneof(fc.integer({ min: -1, max: 70000 }), fc.constantFrom('http', 'BAD', '')))
  const probe = record({
    httpGet: record({
      path: str('/', ''),
      port: portRef,
      scheme: str('HTTP', 'FTP'),
      httpHeaders: list(record({ name: str('X-A', 'a b'), value: str('v') })),
    }),
    tcpSocket: record({ port: portRef }),
    exec: record({ command: list(str('true')) }),
    grpc: record({ port: int }),
    periodSeconds: int,
    successThreshold: int,
    terminationGracePeriodSeconds: int,
  })
  const container = record({
    name: str('web', 'db', 'Web'),
    image: str('nginx', 'nginx:1.25', ' x', ''),
    command: list(str('sh')),
    ports: list(port),
    env: list(
      record({
        name: str('A', '1A', ''),
        value: str('x'),
        valueFrom: record({
          fieldRef: record({ fieldPath: str('metadata.name') }),
          secretKeyRef: record({ key: str('k', '..') }),
        }),
      }),
    ),
    resources: record({
      limits: maybe(
        fc.dictionary(
          fc.constantFrom('cpu', 'memory', 'example.com/gpu', 'gpu', 'hugepages-2Mi', 'a/b/c'),
          quantity,
          { maxKeys: 3 },
        ),
      ),
      requests: maybe(
        fc.dictionary(fc.constantFrom('cpu', 'memory', 'example.com/gpu', 'bogus'), quantity, { maxKeys: 3 }),
      ),
    }),
    volumeMounts: list(
      record({ name: str('data', 'missing'), mountPath: str('/d', ''), subPath: str('x', '../y', '/abs') }),
    ),
    livenessProbe: probe,
    readinessProbe: probe,
    imagePullPolicy: str('Always', 'Maybe'),
  })
  const volume = record({
    name: str('data', 'Data'),
    emptyDir: record({ medium: str('', 'Memory', 'Disk'), sizeLimit: quantity }),
    hostPath: record({ path: str('/x', '', '/a/../b'), type: str('', 'File', 'Pipe') }),
    nfs: record({ server: str('x') }),
  })
  const arb = fc.record(
    {
      apiVersion: str('v1'),
      kind: fc.constant('Pod'),
      metadata: record({
        name: str('web', 'Web', ''),
        generateName: str('web-'),
        namespace: str('default', 'Bad_NS'),
        labels: maybe(
          fc.dictionary(fc.string({ maxLength: 10 }), maybe(fc.string({ maxLength: 10 })), { maxKeys: 3 }),
        ),
        annotations: maybe(
          fc.dictionary(fc.string({ maxLength: 10 }), maybe(fc.string({ maxLength: 10 })), { maxKeys: 3 }),
        ),
        ownerReferences: list(
          record({
            apiVersion: str('v1'),
            kind: str('ReplicationController'),
            name: str('a'),
            uid: str('u'),
            controller: maybe(fc.boolean()),
          }),
        ),
        finalizers: list(str('kubernetes', 'x/y', 'bad')),
      }),
      spec: record({
        containers: list(container),
        initContainers: list(container),
        volumes: list(volume),
        restartPolicy: str('Always', 'Never', 'Sometimes'),
        dnsPolicy: str('ClusterFirst', 'None'),
        hostNetwork: maybe(fc.boolean()),
        nodeSelector: maybe(
          fc.dictionary(fc.string({ maxLength: 6 }), maybe(fc.string({ maxLength: 6 })), { maxKeys: 2 }),
        ),
        terminationGracePeriodSeconds: int,
        activeDeadlineSeconds: int,
      }),
      status: record({ phase: str('Pending') }),
    },
    { requiredKeys: ['kind'] },
  )
  for (const seed of SEEDS) fc.assert(fc.property(arb, neverCrashes), { seed, numRuns: 400 })
})

test('property: defaulting is idempotent and never mutates its input', () => {
  const arb = fc.record(
    {
      kind: fc.constantFrom(
        'Pod',
        'ReplicationController',
        'Service',
        'Namespace',
        'Event',
        'Node',
        'Endpoints',
        'ConfigMap',
      ),
      metadata: fc.jsonValue({ maxDepth: 2 }),
      spec: fc.jsonValue({ maxDepth: 4 }),
      status: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: ['kind'] },
  )
  fc.assert(
    fc.property(arb, (obj) => {
      const before = JSON.stringify(obj)
      const once = defaultObject(obj as unknown as KubeObject)
      assert.is(JSON.stringify(obj), before)
      assert.equal(defaultObject(once), once)
    }),
    { seed: SEEDS[0], numRuns: 500 },
  )
  // Idempotence on the real thing too.
  const out = d(rc())
  assert.equal(d(out), out)
})

test.run()

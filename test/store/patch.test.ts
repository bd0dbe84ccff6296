import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { StoreError } from '../../src/store/errors.js'
import {
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  strategicMergeSchemaFor,
} from '../../src/store/patch.js'
import { applyServerSideApply } from '../../src/store/server-side-apply.js'
import { thrown } from '../support/assertions.js'
import { deepFreeze, type Json } from '../support/json.js'

// ---------------------------------------------------------------------------------------------
// helpers

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

/** Runs `fn`, expecting a StoreError with `code` whose message matches `pattern`. */
function expectError(fn: () => unknown, code: number, pattern: RegExp): StoreError {
  const e = thrown(fn, StoreError)
  assert.is(e.code, code, `code of ${e.message}`)
  assert.match(e.message, pattern)
  return e
}

function expectBadRequest(fn: () => unknown, pattern: RegExp): StoreError {
  const e = expectError(fn, 400, pattern)
  assert.is(e.name, 'BadRequestError')
  return e
}

/** Every key anywhere in `value` that starts with `$`. */
function directiveKeys(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => directiveKeys(v, `${path}[${i}]`))
  if (typeof value !== 'object' || value === null) return []
  return Object.entries(value).flatMap(([k, v]) => [
    ...(k.startsWith('$') ? [`${path}.${k}`] : []),
    ...directiveKeys(v, `${path}.${k}`),
  ])
}

function smp(target: unknown, patch: unknown, kind: string): Json {
  const result = applyStrategicMergePatch(deepFreeze(clone(target)), deepFreeze(clone(patch)), kind) as Json
  assert.equal(directiveKeys(result), [], 'no $ keys in the result')
  return result
}

function podWith(spec: Json, extra: Json = {}): Json {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: 'default' }, spec, ...extra }
}

// ---------------------------------------------------------------------------------------------
// RFC 7386 JSON merge patch

test('RFC 7386 appendix A: all fifteen examples', () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ]
  cases.forEach(([target, patch, expected], i) => {
    assert.equal(applyMergePatch(deepFreeze(target), deepFreeze(patch)), expected, `example ${i + 1}`)
  })
})

test('RFC 7386 section 3: the worked example', () => {
  const target = {
    title: 'Goodbye!',
    author: { givenName: 'John', familyName: 'Doe' },
    tags: ['example', 'sample'],
    content: 'This will be unchanged',
  }
  const patch = {
    title: 'Hello!',
    phoneNumber: '+01-123-456-7890',
    author: { familyName: null },
    tags: ['example'],
  }
  assert.equal(applyMergePatch(deepFreeze(target), deepFreeze(patch)), {
    title: 'Hello!',
    author: { givenName: 'John' },
    tags: ['example'],
    content: 'This will be unchanged',
    phoneNumber: '+01-123-456-7890',
  })
})

test('merge patch: kubectl label removal via null, and __proto__ stays plain data', () => {
  const pod = deepFreeze({ metadata: { name: 'web-1', labels: { app: 'web', tier: 'fe' } } })
  assert.equal(applyMergePatch(pod, { metadata: { labels: { tier: null } } }), {
    metadata: { name: 'web-1', labels: { app: 'web' } },
  })
  const out = applyMergePatch({}, JSON.parse('{"__proto__":{"polluted":true}}')) as Json
  assert.is(Object.getPrototypeOf(out), Object.prototype)
  assert.equal(Object.keys(out), ['__proto__'])
  assert.is(({} as Json).polluted, undefined)
})

// ---------------------------------------------------------------------------------------------
// RFC 6902 JSON patch

test('RFC 6902 appendix A: the successful examples', () => {
  const cases: [string, unknown, unknown, unknown][] = [
    [
      'A.1 add an object member',
      { foo: 'bar' },
      [{ op: 'add', path: '/baz', value: 'qux' }],
      { baz: 'qux', foo: 'bar' },
    ],
    [
      'A.2 add an array element',
      { foo: ['bar', 'baz'] },
      [{ op: 'add', path: '/foo/1', value: 'qux' }],
      { foo: ['bar', 'qux', 'baz'] },
    ],
    [
      'A.3 remove an object member',
      { baz: 'qux', foo: 'bar' },
      [{ op: 'remove', path: '/baz' }],
      { foo: 'bar' },
    ],
    [
      'A.4 remove an array element',
      { foo: ['bar', 'qux', 'baz'] },
      [{ op: 'remove', path: '/foo/1' }],
      { foo: ['bar', 'baz'] },
    ],
    [
      'A.5 replace a value',
      { baz: 'qux', foo: 'bar' },
      [{ op: 'replace', path: '/baz', value: 'boo' }],
      { baz: 'boo', foo: 'bar' },
    ],
    [
      'A.6 move a value',
      { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
      [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
      { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
    ],
    [
      'A.7 move an array element',
      { foo: ['all', 'grass', 'cows', 'eat'] },
      [{ op: 'move', from: '/foo/1', path: '/foo/3' }],
      { foo: ['all', 'cows', 'eat', 'grass'] },
    ],
    [
      'A.8 test a value: success',
      { baz: 'qux', foo: ['a', 2, 'c'] },
      [
        { op: 'test', path: '/baz', value: 'qux' },
        { op: 'test', path: '/foo/1', value: 2 },
      ],
      { baz: 'qux', foo: ['a', 2, 'c'] },
    ],
    [
      'A.10 add a nested member object',
      { foo: 'bar' },
      [{ op: 'add', path: '/child', value: { grandchild: {} } }],
      { foo: 'bar', child: { grandchild: {} } },
    ],
    [
      'A.11 ignore unrecognized elements',
      { foo: 'bar' },
      [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }],
      { foo: 'bar', baz: 'qux' },
    ],
    [
      'A.14 ~ escape ordering',
      { '/': 9, '~1': 10 },
      [{ op: 'test', path: '/~01', value: 10 }],
      { '/': 9, '~1': 10 },
    ],
    [
      'A.16 add an array value',
      { foo: ['bar'] },
      [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }],
      { foo: ['bar', ['abc', 'def']] },
    ],
  ]
  for (const [name, doc, ops, expected] of cases) {
    assert.equal(applyJsonPatch(deepFreeze(doc), deepFreeze(ops)), expected, name)
  }
})

test('RFC 6902 appendix A: the failing examples are BadRequestErrors naming the operation', () => {
  expectBadRequest(
    () => applyJsonPatch({ baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }]),
    /operation 0 \(test \/baz\): test failed/,
  ) // A.9
  expectBadRequest(
    () => applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }]),
    /operation 0 \(add \/baz\/bat\): path \/baz does not exist/,
  ) // A.12
  // A.13: a duplicated "op" member; JSON.parse keeps the last one, a remove of a missing member.
  const a13 = JSON.parse('[{ "op": "add", "path": "/baz", "value": "qux", "op": "remove" }]')
  expectBadRequest(() => applyJsonPatch({ foo: 'bar' }, a13), /operation 0 \(remove \/baz\)/)
  expectBadRequest(
    () => applyJsonPatch({ '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: '10' }]),
    /test failed/,
  ) // A.15
})

test('json patch: malformed operations and bad paths name the index', () => {
  const doc = deepFreeze({ a: { b: [1, 2] } })
  const ok = { op: 'test', path: '/a/b/0', value: 1 }
  expectBadRequest(() => applyJsonPatch(doc, { op: 'add' }), /must be a JSON array/)
  expectBadRequest(() => applyJsonPatch(doc, [ok, 'x']), /operation 1: an operation must be a JSON object/)
  expectBadRequest(() => applyJsonPatch(doc, [ok, { path: '/a' }]), /operation 1: missing "op"/)
  expectBadRequest(() => applyJsonPatch(doc, [ok, ok, { op: 'add' }]), /operation 2 \(add\): missing "path"/)
  expectBadRequest(() => applyJsonPatch(doc, [{ op: 'frob', path: '/a' }]), /operation 0 .*unknown op "frob"/)
  expectBadRequest(() => applyJsonPatch(doc, [{ op: 'add', path: '/a/c' }]), /operation 0 .*missing "value"/)
  expectBadRequest(() => applyJsonPatch(doc, [{ op: 'remove', path: 'a' }]), /invalid JSON pointer/)
  expectBadRequest(() => applyJsonPatch(doc, [{ op: 'remove', path: '/a~2' }]), /invalid escape/)
  expectBadRequest(() => applyJsonPatch(doc, [{ op: 'remove', path: '/a/b/01' }]), /not an array index/)
  expectBadRequest(() => applyJsonPatch(doc, [{ op: 'remove', path: '/a/b/2' }]), /out of bounds/)
  expectBadRequest(() => applyJsonPatch(doc, [{ op: 'add', path: '/a/b/3', value: 0 }]), /out of bounds/)
  expectBadRequest(
    () => applyJsonPatch(doc, [{ op: 'replace', path: '/a/x', value: 0 }]),
    /\/a\/x does not exist/,
  )
  expectBadRequest(() => applyJsonPatch(doc, [{ op: 'remove', path: '' }]), /whole document/)
  expectBadRequest(() => applyJsonPatch(doc, [{ op: 'move', from: '/a', path: '/a/c' }]), /own child/)
  expectBadRequest(() => applyJsonPatch(doc, [{ op: 'copy', path: '/c' }]), /missing "from"/)
})

test('json patch: copy, root replace, and a guarded managedFields rewrite', () => {
  const doc = deepFreeze({ a: { b: [1, 2] } })
  const copied = applyJsonPatch(doc, [{ op: 'copy', from: '/a/b', path: '/c' }]) as Json
  assert.equal(copied, { a: { b: [1, 2] }, c: [1, 2] })
  ;(copied.c as number[]).push(3) // the copy is its own array
  assert.equal(copied.a, { b: [1, 2] })
  assert.equal(applyJsonPatch(doc, [{ op: 'replace', path: '', value: { z: 1 } }]), { z: 1 })
  const rc = deepFreeze({
    metadata: { resourceVersion: '7', managedFields: [{ manager: 'kubectl-client-side-apply' }] },
  })
  const migrate = [
    { op: 'test', path: '/metadata/resourceVersion', value: '7' },
    { op: 'replace', path: '/metadata/managedFields', value: [{ manager: 'kubectl', operation: 'Apply' }] },
  ]
  assert.equal(applyJsonPatch(rc, migrate), {
    metadata: { resourceVersion: '7', managedFields: [{ manager: 'kubectl', operation: 'Apply' }] },
  })
  expectBadRequest(
    () => applyJsonPatch({ metadata: { resourceVersion: '8' } }, migrate),
    /operation 0.*test failed/,
  )
})

// ---------------------------------------------------------------------------------------------
// Strategic merge patch: the patches kubectl sends (kubectl-compat.md §3.2)

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'

function liveApiRc(): Json {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: {
      name: 'api',
      namespace: 'default',
      uid: '6f1c0e2a-0000-4000-8000-000000000001',
      resourceVersion: '41',
      generation: 1,
      creationTimestamp: '2025-01-01T00:00:00Z',
      labels: { app: 'api' },
      annotations: { [LAST_APPLIED]: '{"apiVersion":"v1","kind":"ReplicationController","old":true}\n' },
    },
    spec: {
      replicas: 2,
      selector: { app: 'api' },
      template: {
        metadata: { labels: { app: 'api' } },
        spec: {
          containers: [
            {
              name: 'api',
              image: 'nginx:1.25',
              ports: [{ containerPort: 80, protocol: 'TCP' }],
              resources: {},
              terminationMessagePath: '/dev/termination-log',
              terminationMessagePolicy: 'File',
              imagePullPolicy: 'IfNotPresent',
            },
          ],
          restartPolicy: 'Always',
          terminationGracePeriodSeconds: 30,
          dnsPolicy: 'ClusterFirst',
          schedulerName: 'default-scheduler',
        },
      },
    },
    status: { replicas: 2, readyReplicas: 2, observedGeneration: 1 },
  }
}

// Verbatim from kubectl-compat.md §3.2 ("Object present").
const APPLY_UPDATE_PATCH = `{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{...new manifest...}\\n"}},
       "spec":{"replicas":3,"template":{"spec":{"$setElementOrder/containers":[{"name":"api"}],
               "containers":[{"image":"nginx:1.27","name":"api"}]}}}}`

test('smp: the kubectl apply update patch changes replicas and image and keeps everything else', () => {
  const live = liveApiRc()
  const result = smp(live, JSON.parse(APPLY_UPDATE_PATCH), 'ReplicationController')
  const expected = clone(live) as {
    metadata: { annotations: Json }
    spec: { replicas: number; template: { spec: { containers: Json[] } } }
  }
  expected.metadata.annotations[LAST_APPLIED] = '{...new manifest...}\n'
  expected.spec.replicas = 3
  expected.spec.template.spec.containers[0]!.image = 'nginx:1.27'
  assert.equal(result, expected)
})

test('smp vs json merge patch: the same body as a merge patch loses container fields and stores $ keys', () => {
  const live = liveApiRc()
  const patch = JSON.parse(APPLY_UPDATE_PATCH)
  const asMerge = applyMergePatch(live, patch) as { spec: { template: { spec: Json } } }
  assert.equal(asMerge.spec.template.spec.containers, [{ image: 'nginx:1.27', name: 'api' }])
  assert.equal(asMerge.spec.template.spec['$setElementOrder/containers'], [{ name: 'api' }])
  const asSmp = smp(live, patch, 'ReplicationController') as { spec: { template: { spec: Json } } }
  const [container] = asSmp.spec.template.spec.containers as Json[]
  assert.is(container!.image, 'nginx:1.27')
  assert.equal(container!.ports, [{ containerPort: 80, protocol: 'TCP' }])
  assert.is(container!.terminationMessagePath, '/dev/termination-log')
  assert.is(container!.imagePullPolicy, 'IfNotPresent')
})

function liveWebRc(): Json {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: {
      name: 'web',
      namespace: 'default',
      uid: '6f1c0e2a-0000-4000-8000-000000000002',
      resourceVersion: '97',
      labels: { app: 'web', tier: 'fe' },
      annotations: { [LAST_APPLIED]: '{"old":true}\n' },
    },
    spec: {
      replicas: 2,
      selector: { app: 'web' },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'main',
              image: 'web:2.1',
              env: [
                { name: 'A', value: 'alpha' },
                { name: 'B', value: 'beta' },
              ],
              ports: [
                { containerPort: 80, protocol: 'TCP' },
                { containerPort: 443, protocol: 'TCP' },
              ],
              imagePullPolicy: 'IfNotPresent',
            },
            { name: 'sidecar', image: 'envoy:1.30', ports: [{ containerPort: 9901, protocol: 'TCP' }] },
          ],
          restartPolicy: 'Always',
          dnsPolicy: 'ClusterFirst',
        },
      },
    },
    status: { replicas: 2 },
  }
}

// From kubectl-compat.md §3.2 ("Removals"); only the elided annotation body is filled in.
const REMOVALS_PATCH = `{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\\"new\\":true}\\n"},"labels":{"tier":null}},
 "spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"main"}],
   "containers":[{"$setElementOrder/env":[{"name":"B"},{"name":"A"}],"$setElementOrder/ports":[{"containerPort":80}],
                  "name":"main","ports":[{"$patch":"delete","containerPort":443}]},
                 {"$patch":"delete","name":"sidecar"}]}}}}`

test('smp: the kubectl removals patch drops a label, a port and a container and reorders env', () => {
  const result = smp(liveWebRc(), JSON.parse(REMOVALS_PATCH), 'ReplicationController')
  const expected = liveWebRc() as {
    metadata: Json
    spec: { template: { spec: Json } }
  }
  expected.metadata.labels = { app: 'web' }
  expected.metadata.annotations = { [LAST_APPLIED]: '{"new":true}\n' }
  expected.spec.template.spec.containers = [
    {
      name: 'main',
      image: 'web:2.1',
      env: [
        { name: 'B', value: 'beta' },
        { name: 'A', value: 'alpha' },
      ],
      ports: [{ containerPort: 80, protocol: 'TCP' }],
      imagePullPolicy: 'IfNotPresent',
    },
  ]
  assert.equal(result, expected)
})

test('smp: inputs are never mutated and the result shares nothing with them', () => {
  const live = deepFreeze(liveWebRc())
  const patch = deepFreeze(JSON.parse(REMOVALS_PATCH))
  const before = JSON.stringify([live, patch])
  const result = applyStrategicMergePatch(live, patch, 'ReplicationController') as {
    spec: { template: { spec: { containers: Json[] } } }
  }
  assert.is(JSON.stringify([live, patch]), before)
  // Writable all the way down: nothing frozen from the inputs was reused.
  result.spec.template.spec.containers[0]!.image = 'changed'
  ;(result.spec.template.spec.containers[0]!.ports as Json[])[0]!.protocol = 'UDP'
  assert.is(JSON.stringify([live, patch]), before)

  const merged = applyMergePatch(live, { spec: { replicas: 9 } }) as { spec: { selector: Json } }
  merged.spec.selector.app = 'x'
  const jsonPatched = applyJsonPatch(live, [{ op: 'add', path: '/metadata/labels/x', value: 'y' }]) as {
    metadata: { labels: Json }
  }
  jsonPatched.metadata.labels.app = 'z'
  const applied = applyServerSideApply(
    live,
    deepFreeze({ spec: { replicas: 1 } }),
    'ReplicationController',
    'm',
  ) as {
    spec: { selector: Json }
  }
  applied.spec.selector.app = 'w'
  assert.is(JSON.stringify([live, patch]), before)
})

// ---------------------------------------------------------------------------------------------
// Strategic merge patch: lists, keys and order

test('smp: containers merge by name, keeping fields the patch does not mention', () => {
  const pod = podWith({
    containers: [
      { name: 'app', image: 'app:1', args: ['--port=80'], env: [{ name: 'MODE', value: 'prod' }] },
      { name: 'log', image: 'fluent:1' },
    ],
  })
  const result = smp(pod, { spec: { containers: [{ name: 'log', image: 'fluent:2' }] } }, 'Pod') as {
    spec: { containers: Json[] }
  }
  assert.equal(result.spec.containers, [
    { name: 'app', image: 'app:1', args: ['--port=80'], env: [{ name: 'MODE', value: 'prod' }] },
    { name: 'log', image: 'fluent:2' },
  ])
})

test('smp: atomic lists are replaced whole', () => {
  const pod = podWith({
    containers: [{ name: 'app', image: 'app:1', args: ['--a', '--b'], command: ['/bin/app'] }],
    tolerations: [
      { key: 'k1', operator: 'Exists' },
      { key: 'k2', operator: 'Exists' },
    ],
  })
  const result = smp(
    pod,
    {
      spec: {
        tolerations: [{ key: 'k3', operator: 'Exists' }],
        containers: [{ name: 'app', args: ['--c'] }],
      },
    },
    'Pod',
  ) as { spec: Json }
  assert.equal(result.spec.tolerations, [{ key: 'k3', operator: 'Exists' }])
  assert.equal(result.spec.containers, [
    { name: 'app', image: 'app:1', args: ['--c'], command: ['/bin/app'] },
  ])

  const endpoints = {
    kind: 'Endpoints',
    metadata: { name: 'svc' },
    subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80 }] }],
  }
  const newSubsets = [{ addresses: [{ ip: '10.0.0.2' }], ports: [{ port: 8080 }] }]
  assert.equal(smp(endpoints, { subsets: newSubsets }, 'Endpoints').subsets, newSubsets)

  const node = {
    kind: 'Node',
    metadata: { name: 'n1' },
    spec: { taints: [{ key: 'a', effect: 'NoSchedule' }] },
  }
  const taints = [{ key: 'b', effect: 'NoExecute' }]
  assert.equal((smp(node, { spec: { taints } }, 'Node').spec as Json).taints, taints)
})

test('smp: without $setElementOrder the order follows Kubernetes (patch order; new items first)', () => {
  const env = (names: string[]) => names.map((name) => ({ name, value: name.toLowerCase() }))
  const pod = (names: string[]) => podWith({ containers: [{ name: 'app', image: 'app:1', env: env(names) }] })
  const envOf = (r: Json) =>
    ((r.spec as { containers: Json[] }).containers[0]!.env as Json[]).map((e) => e.name)
  // Kubernetes' "preserve the order from the patch in a merging list 2".
  const patch = { spec: { containers: [{ name: 'app', env: [{ name: 'C', value: 'c2' }, { name: 'A' }] }] } }
  assert.equal(envOf(smp(pod(['A', 'B', 'C']), patch, 'Pod')), ['B', 'C', 'A'])
  // A new item goes before the server-only ones.
  const add = { spec: { containers: [{ name: 'app', env: [{ name: 'D', value: 'd' }] }] } }
  assert.equal(envOf(smp(pod(['A', 'B']), add, 'Pod')), ['D', 'A', 'B'])
})

test('smp: $setElementOrder orders the merged list as the Kubernetes implementation does', () => {
  const env = (names: string[]) => names.map((name) => ({ name, value: name.toLowerCase() }))
  const pod = (names: string[]) => podWith({ containers: [{ name: 'app', image: 'app:1', env: env(names) }] })
  const envOf = (r: Json) =>
    ((r.spec as { containers: Json[] }).containers[0]!.env as Json[]).map((e) => e.name)
  const order = (names: string[]) => names.map((name) => ({ name }))
  // Kubernetes' "merge lists of maps": new items placed where the order says.
  const p1 = {
    spec: {
      containers: [
        {
          name: 'app',
          '$setElementOrder/env': order(['D', 'A', 'B', 'C']),
          env: [
            { name: 'D', value: 'd' },
            { name: 'C', value: 'c' },
          ],
        },
      ],
    },
  }
  assert.equal(envOf(smp(pod(['A', 'B']), p1, 'Pod')), ['D', 'A', 'B', 'C'])
  // The design doc's env example: server-only items (E5, E4) are interleaved by their live
  // positions (the implementation), not all put first (the design doc).
  const p2 = {
    spec: {
      containers: [
        {
          name: 'app',
          '$setElementOrder/env': order(['E1', 'E2', 'E6']),
          env: [
            { name: 'E3', $patch: 'delete' },
            { name: 'E6', value: 'new' },
          ],
        },
      ],
    },
  }
  assert.equal(envOf(smp(pod(['E2', 'E5', 'E1', 'E3', 'E4']), p2, 'Pod')), ['E5', 'E1', 'E2', 'E6', 'E4'])
  // Items in the directive but absent from the list are ignored.
  const p3 = { spec: { containers: [{ name: 'app', '$setElementOrder/env': order(['C', 'X', 'A']) }] } }
  assert.equal(envOf(smp(pod(['A', 'C']), p3, 'Pod')), ['C', 'A'])
})

test('smp: $setElementOrder that contradicts the patch list, and missing merge keys, are rejected', () => {
  const pod = podWith({
    containers: [
      { name: 'a', image: 'a' },
      { name: 'b', image: 'b' },
    ],
  })
  expectBadRequest(
    () =>
      applyStrategicMergePatch(
        pod,
        {
          spec: {
            '$setElementOrder/containers': [{ name: 'a' }, { name: 'b' }],
            containers: [
              { name: 'b', image: 'b2' },
              { name: 'a', image: 'a2' },
            ],
          },
        },
        'Pod',
      ),
    /doesn't match \$setElementOrder\/containers/,
  )
  expectBadRequest(
    () => applyStrategicMergePatch(pod, { spec: { containers: [{ image: 'nameless' }] } }, 'Pod'),
    /spec\.containers.*merge key "name"/,
  )
  expectBadRequest(
    () => applyStrategicMergePatch(pod, { spec: { containers: [{ $patch: 'delete', image: 'a' }] } }, 'Pod'),
    /merge key "name"/,
  )
  expectBadRequest(
    () => applyStrategicMergePatch(pod, { spec: { containers: ['a'] } }, 'Pod'),
    /must be objects/,
  )
})

test('smp: Service ports merge by port', () => {
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      type: 'ClusterIP',
      clusterIP: '10.96.0.10',
      selector: { app: 'web' },
      ports: [
        { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
        { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
      ],
    },
  }
  const result = smp(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }] } }, 'Service')
  assert.equal((result.spec as Json).ports, [
    { name: 'http', port: 80, targetPort: 9090, protocol: 'TCP' },
    { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
  ])
  const dropped = smp(svc, { spec: { ports: [{ port: 443, $patch: 'delete' }] } }, 'Service')
  assert.equal((dropped.spec as Json).ports, [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }])
  assert.is((dropped.spec as Json).clusterIP, '10.96.0.10')
})

test('smp: metadata.finalizers merge as a set; $deleteFromPrimitiveList removes values', () => {
  const cm = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c', finalizers: ['a', 'b'] },
    data: { k: 'v' },
  }
  const fin = (r: Json) => (r.metadata as Json).finalizers
  assert.equal(fin(smp(cm, { metadata: { finalizers: ['b'] } }, 'ConfigMap')), ['a', 'b'])
  assert.equal(fin(smp(cm, { metadata: { finalizers: ['c'] } }, 'ConfigMap')), ['c', 'a', 'b'])
  assert.equal(
    fin(
      smp(
        cm,
        { metadata: { '$setElementOrder/finalizers': ['a', 'b', 'c'], finalizers: ['c'] } },
        'ConfigMap',
      ),
    ),
    ['a', 'b', 'c'],
  )
  assert.equal(
    fin(smp(cm, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a', 'zz'] } }, 'ConfigMap')),
    ['b'],
  )
  // Kubernetes' "add and delete items in lists of scalars".
  const cm4 = { ...cm, metadata: { name: 'c', finalizers: ['1', '2', '3', '4'] } }
  const p = {
    metadata: {
      '$setElementOrder/finalizers': ['1', '2', '4'],
      '$deleteFromPrimitiveList/finalizers': ['3'],
    },
  }
  assert.equal(fin(smp(cm4, p, 'ConfigMap')), ['1', '2', '4'])
  // A deletion from a list that is not there does not create it.
  const bare = { kind: 'ConfigMap', metadata: { name: 'c' } }
  assert.equal(smp(bare, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }, 'ConfigMap'), bare)
  // A JSON merge patch would replace the list.
  assert.equal(fin(applyMergePatch(cm, { metadata: { finalizers: ['c'] } }) as Json), ['c'])
})

test('smp: $retainKeys on a volume drops the old volume source', () => {
  const pod = podWith({
    containers: [{ name: 'app', image: 'app:1', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
    volumes: [
      { name: 'data', emptyDir: {} },
      { name: 'config', configMap: { name: 'app-config' } },
    ],
  })
  const patch = (retain: boolean) => ({
    spec: {
      '$setElementOrder/volumes': [{ name: 'data' }, { name: 'config' }],
      volumes: [
        {
          ...(retain ? { $retainKeys: ['hostPath', 'name'] } : {}),
          name: 'data',
          hostPath: { path: '/srv/data', type: 'Directory' },
        },
      ],
    },
  })
  assert.equal((smp(pod, patch(true), 'Pod').spec as Json).volumes, [
    { name: 'data', hostPath: { path: '/srv/data', type: 'Directory' } },
    { name: 'config', configMap: { name: 'app-config' } },
  ])
  // Without the directive both sources would remain.
  assert.equal((smp(pod, patch(false), 'Pod').spec as Json).volumes, [
    { name: 'data', emptyDir: {}, hostPath: { path: '/srv/data', type: 'Directory' } },
    { name: 'config', configMap: { name: 'app-config' } },
  ])
  expectBadRequest(
    () =>
      applyStrategicMergePatch(
        pod,
        { spec: { volumes: [{ $retainKeys: ['name'], name: 'data', hostPath: { path: '/x' } }] } },
        'Pod',
      ),
    /"hostPath", which \$retainKeys does not list/,
  )
})

test('smp: other merge keys from the table — status conditions, podIPs, addresses, ownerReferences, volumeMounts', () => {
  const pod = podWith(
    {
      containers: [
        {
          name: 'app',
          image: 'app:1',
          volumeMounts: [
            { name: 'a', mountPath: '/a' },
            { name: 'b', mountPath: '/b' },
          ],
        },
      ],
    },
    {
      status: {
        phase: 'Pending',
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Ready', status: 'False' },
        ],
        podIPs: [{ ip: '10.244.0.5' }],
      },
    },
  )
  const result = smp(
    pod,
    {
      metadata: {
        ownerReferences: [{ uid: 'u1', kind: 'ReplicationController', name: 'rc', apiVersion: 'v1' }],
      },
      spec: { containers: [{ name: 'app', volumeMounts: [{ mountPath: '/b', readOnly: true }] }] },
      status: {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'True' }],
        podIPs: [{ ip: 'fd00::5' }],
      },
    },
    'Pod',
  ) as { metadata: Json; spec: { containers: Json[] }; status: Json }
  assert.equal(result.status, {
    phase: 'Running',
    conditions: [
      { type: 'PodScheduled', status: 'True' },
      { type: 'Ready', status: 'True' },
    ],
    podIPs: [{ ip: 'fd00::5' }, { ip: '10.244.0.5' }],
  })
  assert.equal(result.spec.containers[0]!.volumeMounts, [
    { name: 'a', mountPath: '/a' },
    { name: 'b', mountPath: '/b', readOnly: true },
  ])
  const owned = smp(
    result,
    { metadata: { ownerReferences: [{ uid: 'u2', kind: 'Node', name: 'n1', apiVersion: 'v1' }] } },
    'Pod',
  )
  assert.equal(
    ((owned.metadata as Json).ownerReferences as Json[]).map((o) => o.uid),
    ['u2', 'u1'],
  )

  const node = {
    kind: 'Node',
    metadata: { name: 'n1' },
    status: {
      addresses: [
        { type: 'InternalIP', address: '192.168.1.10' },
        { type: 'Hostname', address: 'n1' },
      ],
    },
  }
  const n = smp(node, { status: { addresses: [{ type: 'InternalIP', address: '192.168.1.11' }] } }, 'Node')
  assert.equal((n.status as Json).addresses, [
    { type: 'InternalIP', address: '192.168.1.11' },
    { type: 'Hostname', address: 'n1' },
  ])
  // Every kind of the brief has a schema; other kinds are refused with 415.
  for (const kind of [
    'Pod',
    'ReplicationController',
    'Service',
    'Endpoints',
    'Node',
    'Namespace',
    'Event',
    'ConfigMap',
  ]) {
    assert.ok(strategicMergeSchemaFor(kind), kind)
  }
  const e = expectError(
    () => applyStrategicMergePatch({}, {}, 'Deployment'),
    415,
    /not supported for kind "Deployment"/,
  )
  assert.is(e.reason, 'UnsupportedMediaType')
  assert.is(strategicMergeSchemaFor('toString'), undefined)
})

test('smp: $patch directives in maps and lists; null deletes; unknown directives are refused', () => {
  const pod = podWith({
    containers: [
      { name: 'a', image: 'a:1' },
      { name: 'b', image: 'b:1' },
    ],
    nodeSelector: { zone: 'z1', disk: 'hdd' },
    securityContext: { runAsUser: 1000 },
  })
  const spec = (patch: Json) => smp(pod, { spec: patch }, 'Pod').spec as Json
  assert.equal(spec({ nodeSelector: { $patch: 'replace', disk: 'ssd' } }).nodeSelector, { disk: 'ssd' })
  assert.equal(spec({ nodeSelector: { $patch: 'merge', disk: 'ssd' } }).nodeSelector, {
    zone: 'z1',
    disk: 'ssd',
  })
  assert.equal(spec({ containers: [{ $patch: 'replace' }, { name: 'c', image: 'c:1' }] }).containers, [
    { name: 'c', image: 'c:1' },
  ])
  assert.equal(spec({ containers: [{ $patch: 'replace' }] }).containers, [])
  const noSec = spec({ securityContext: { $patch: 'delete' } })
  assert.not.ok('securityContext' in noSec)
  assert.equal(noSec.nodeSelector, { zone: 'z1', disk: 'hdd' })
  assert.not.ok('nodeSelector' in spec({ nodeSelector: null }))
  // A new subtree is merged into nothing: nested nulls and directives do not get stored.
  assert.equal(spec({ dnsConfig: { nameservers: ['1.1.1.1'], searches: null, $patch: 'merge' } }).dnsConfig, {
    nameservers: ['1.1.1.1'],
  })
  // A whole-object replace.
  assert.equal(smp(pod, { $patch: 'replace', kind: 'Pod', metadata: { name: 'p2' } }, 'Pod'), {
    kind: 'Pod',
    metadata: { name: 'p2' },
  })
  expectBadRequest(
    () => applyStrategicMergePatch(pod, { spec: { nodeSelector: { $patch: 'explode' } } }, 'Pod'),
    /unknown \$patch directive "explode"/,
  )
  expectBadRequest(
    () => applyStrategicMergePatch(pod, { spec: { $frobnicate: 1 } }, 'Pod'),
    /unknown directive "\$frobnicate"/,
  )
  expectBadRequest(() => applyStrategicMergePatch(pod, { $patch: 'delete' }, 'Pod'), /whole object/)
  expectBadRequest(() => applyStrategicMergePatch(pod, [], 'Pod'), /must be a JSON object/)
  expectBadRequest(
    () => applyStrategicMergePatch(pod, { metadata: { '$deleteFromPrimitiveList/finalizers': 'a' } }, 'Pod'),
    /list of primitive values/,
  )
})

test('smp: kubectl label removal and an annotation, as a strategic patch too', () => {
  const pod = podWith({ containers: [{ name: 'a', image: 'a' }] }, {})
  ;(pod.metadata as Json).labels = { app: 'web', tier: 'fe' }
  const result = smp(pod, { metadata: { labels: { tier: null }, annotations: { note: 'hello' } } }, 'Pod')
  assert.equal(result.metadata, {
    name: 'p1',
    namespace: 'default',
    labels: { app: 'web' },
    annotations: { note: 'hello' },
  })
})

// ---------------------------------------------------------------------------------------------
// Server-side apply

function appliedRc(image: string): Json {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name: 'api', namespace: 'default', labels: { app: 'api' } },
    spec: {
      replicas: 3,
      selector: { app: 'api' },
      template: {
        metadata: { labels: { app: 'api' } },
        spec: {
          containers: [{ name: 'api', image, args: ['--v=1'], env: [{ name: 'MODE', value: 'prod' }] }],
        },
      },
    },
  }
}

/** The fields appliedRc sets, as Kubernetes writes them in managedFields. */
const APPLIED_RC_FIELDS = {
  'f:metadata': { 'f:labels': { 'f:app': {} } },
  'f:spec': {
    'f:replicas': {},
    'f:selector': { 'f:app': {} },
    'f:template': {
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:containers': {
          'k:{"name":"api"}': {
            '.': {},
            'f:name': {},
            'f:image': {},
            'f:args': {},
            'f:env': { 'k:{"name":"MODE"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
          },
        },
      },
    },
  },
}

const APPLY_ENTRY = (manager: string, fieldsV1: Json = APPLIED_RC_FIELDS) => ({
  manager,
  operation: 'Apply',
  apiVersion: 'v1',
  fieldsType: 'FieldsV1',
  fieldsV1,
})

test('ssa: creates the object from the applied configuration when absent', () => {
  const applied = deepFreeze(appliedRc('nginx:1.27'))
  const result = applyServerSideApply(undefined, applied, 'ReplicationController', 'kubectl')
  const expected = clone(applied) as { metadata: Json }
  expected.metadata.managedFields = [APPLY_ENTRY('kubectl')]
  assert.equal(result, expected)
})

test('ssa: merges into the live object with merge keys; applied values win; the manager owns what it set', () => {
  const live = liveApiRc() as {
    metadata: Json
    spec: { template: { spec: { containers: Json[] } } }
    status: Json
  }
  live.metadata.finalizers = ['example.com/keep']
  live.metadata.managedFields = [
    {
      manager: 'kube-controller-manager',
      operation: 'Update',
      apiVersion: 'v1',
      fieldsType: 'FieldsV1',
      fieldsV1: {},
    },
    {
      manager: 'kubectl',
      operation: 'Apply',
      apiVersion: 'v1',
      fieldsType: 'FieldsV1',
      fieldsV1: { stale: true },
    },
  ]
  live.spec.template.spec.containers[0]!.args = ['--v=5', '--old']
  deepFreeze(live)
  const applied = appliedRc('nginx:1.27') as {
    metadata: Json
    spec: { template: { spec: { containers: Json[] } } }
  }
  applied.metadata.labels = { tier: 'backend' }
  applied.metadata.finalizers = ['example.com/other']
  applied.spec.template.spec.containers.push({ name: 'metrics', image: 'exporter:1' })
  const result = applyServerSideApply(live, deepFreeze(applied), 'ReplicationController', 'kubectl') as {
    metadata: Json
    spec: Json & { template: { spec: Json & { containers: Json[] } } }
    status: Json
  }
  assert.is(result.spec.replicas, 3)
  assert.equal(result.metadata.labels, { app: 'api', tier: 'backend' })
  assert.equal(result.metadata.finalizers, ['example.com/keep', 'example.com/other'])
  assert.is(result.metadata.uid, live.metadata.uid)
  assert.is(result.metadata.resourceVersion, '41')
  assert.equal(result.status, live.status)
  assert.equal(result.spec.template.spec.containers, [
    {
      name: 'api',
      image: 'nginx:1.27',
      ports: [{ containerPort: 80, protocol: 'TCP' }], // live-only fields kept
      resources: {},
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
      imagePullPolicy: 'IfNotPresent',
      args: ['--v=1'], // atomic: replaced
      env: [{ name: 'MODE', value: 'prod' }],
    },
    { name: 'metrics', image: 'exporter:1' },
  ])
  assert.is(result.spec.template.spec.dnsPolicy, 'ClusterFirst')
  assert.equal(result.metadata.managedFields, [
    {
      manager: 'kube-controller-manager',
      operation: 'Update',
      apiVersion: 'v1',
      fieldsType: 'FieldsV1',
      fieldsV1: {},
    },
    APPLY_ENTRY('kubectl', {
      ...APPLIED_RC_FIELDS,
      'f:metadata': { 'f:labels': { 'f:tier': {} }, 'f:finalizers': { 'v:"example.com/other"': {} } },
      'f:spec': {
        ...APPLIED_RC_FIELDS['f:spec'],
        'f:template': {
          ...APPLIED_RC_FIELDS['f:spec']['f:template'],
          'f:spec': {
            'f:containers': {
              ...APPLIED_RC_FIELDS['f:spec']['f:template']['f:spec']['f:containers'],
              'k:{"name":"metrics"}': { '.': {}, 'f:name': {}, 'f:image': {} },
            },
          },
        },
      },
    }),
  ])
  const again = applyServerSideApply(result, appliedRc('nginx:1.27'), 'ReplicationController', 'other') as {
    metadata: Json
  }
  assert.equal(
    (again.metadata.managedFields as Json[]).map((e) => e.manager),
    ['kube-controller-manager', 'kubectl', 'other'],
  )
})

test('ssa: malformed applies are BadRequestErrors', () => {
  const live = liveApiRc()
  expectBadRequest(
    () => applyServerSideApply(live, 'x', 'ReplicationController', 'kubectl'),
    /must be a JSON object/,
  )
  expectBadRequest(
    () => applyServerSideApply(live, appliedRc('a'), 'ReplicationController', ''),
    /fieldManager/,
  )
  expectBadRequest(
    () =>
      applyServerSideApply(
        live,
        { metadata: { managedFields: [{ manager: 'x' }] } },
        'ReplicationController',
        'kubectl',
      ),
    /managedFields must be nil/,
  )
  expectBadRequest(
    () => applyServerSideApply(live, { spec: { $patch: 'replace' } }, 'ReplicationController', 'kubectl'),
    /unknown field "spec\.\$patch"/,
  )
  expectBadRequest(
    () =>
      applyServerSideApply(
        live,
        { spec: { template: { spec: { containers: [{ name: 'a' }, { name: 'a' }] } } } },
        'ReplicationController',
        'kubectl',
      ),
    /duplicate entries for name="a"/,
  )
  expectBadRequest(
    () =>
      applyServerSideApply(
        live,
        { spec: { template: { spec: { containers: [{ image: 'x' }] } } } },
        'ReplicationController',
        'k',
      ),
    /must be an object with the key "name"/,
  )
})

test.run()

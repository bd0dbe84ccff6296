import '../../src/util/polyfill.js'
/**
 * End-to-end: bad input against one real peer, through its HTTPS API and through a stock
 * kubectl (1.32): malformed YAML and JSON, the wrong apiVersion or kind, invalid names and
 * labels, wrong types, an oversized body, no or a wrong token, unknown paths. Each is a Status
 * with the right code and reason (kubectl prints its usual error), the peer keeps serving, and
 * nothing stored changes.
 */

import { request as httpsRequestRaw } from 'node:https'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { httpsRequest } from '../../src/api/https-client.js'
import { RESOURCE_TYPES } from '../../src/store/resources.js'
import type { KubeObject, Status } from '../../src/store/types.js'
import { AgentCluster } from './support/agents.js'
import { Kubectl, writeManifest } from './support/kubectl.js'

const test = suite('e2e API bad input')

const c = new AgentCluster(35, 1)
const k = new Kubectl(c)
const manifests = `${c.dir}/manifests`
const JSON_TYPE = { 'content-type': 'application/json' }
const NS = '/api/v1/namespaces/default'

type Response = { status: number; body: string } | null

/** Checks `r` is a Failure Status with HTTP status `code` = its `code`, and `reason`; returns it. */
function assertStatus(r: Response, code: number, reason: string, what: string): Status {
  assert.ok(r, `${what}: the peer answers`)
  assert.is(r!.status, code, `${what}: HTTP ${code} expected, got ${r!.status}: ${r!.body.slice(0, 500)}`)
  let st: Status
  try {
    st = JSON.parse(r!.body) as Status
  } catch {
    assert.unreachable(`${what}: the body is not JSON: ${r!.body.slice(0, 200)}`)
    throw new Error('unreachable')
  }
  assert.is(st.kind, 'Status', `${what}: kind`)
  assert.is(st.apiVersion, 'v1', `${what}: apiVersion`)
  assert.is(st.status, 'Failure', `${what}: status`)
  assert.is(st.code, code, `${what}: code`)
  assert.is(st.reason, reason, `${what}: reason (${st.message})`)
  assert.ok(typeof st.message === 'string' && st.message.length > 0, `${what}: a message`)
  return st
}

/** The fields named by a 422's causes. */
function causeFields(st: Status): string[] {
  const causes = st.details?.causes ?? []
  for (const cause of causes) {
    assert.type(cause.reason, 'string')
    assert.type(cause.message, 'string')
  }
  return causes.map((cause) => cause.field)
}

const post = (path: string, body: string, headers: Record<string, string> = JSON_TYPE) =>
  c.request(1, 'POST', path, body, 10_000, headers)

/** A request to peer 1 with its CA and exactly the headers given (no token unless told). */
async function bare(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const creds = c.credentials(1)!
  try {
    return await httpsRequest({ url: `${c.spec(1).api}${path}`, method, ca: creds.ca, headers, body })
  } catch {
    return null
  }
}

/** Every object of every kind, and each list's resourceVersion. */
async function everything(): Promise<{
  objects: Record<string, KubeObject>
  listRvs: Record<string, string>
}> {
  const objects: Record<string, KubeObject> = {}
  const listRvs: Record<string, string> = {}
  for (const t of RESOURCE_TYPES) {
    // What the cluster itself keeps changing: nodes (heartbeats), events, endpoints.
    if (t.resource === 'nodes' || t.resource === 'events' || t.resource === 'endpoints') continue
    const r = await c.request(1, 'GET', `/api/v1/${t.resource}`)
    assert.is(r?.status, 200, `LIST ${t.resource}: ${r?.body}`)
    const list = JSON.parse(r!.body) as { metadata: { resourceVersion: string }; items: KubeObject[] }
    listRvs[t.resource] = list.metadata.resourceVersion
    for (const o of list.items) objects[`${t.resource}/${o.metadata.namespace ?? ''}/${o.metadata.name}`] = o
  }
  return { objects, listRvs }
}

let before: Awaited<ReturnType<typeof everything>>

const SEED = [
  'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: seed\n',
  'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: seed-cm\n  labels:\n    app: seed\ndata:\n  a: "1"\n',
  [
    'apiVersion: v1',
    'kind: ReplicationController',
    'metadata:',
    '  name: seed-rc',
    'spec:',
    '  replicas: 0',
    '  selector: {app: seed}',
    '  template:',
    '    metadata: {labels: {app: seed}}',
    '    spec:',
    '      containers: [{name: c, image: "busybox:1.36"}]',
    '',
  ].join('\n'),
  'apiVersion: v1\nkind: Service\nmetadata:\n  name: seed-svc\nspec:\n  selector: {app: seed}\n  ports: [{port: 80}]\n',
  // Bound to a node that does not exist: no scheduler or agent touches it.
  'apiVersion: v1\nkind: Pod\nmetadata:\n  name: seed-pod\n  namespace: seed\nspec:\n  nodeName: nowhere\n  containers: [{name: c, image: "busybox:1.36"}]\n',
].join('---\n')

test.before(async () => {
  c.start(1, { bootstrapExpect: 1, join: [] })
  await c.leader([1], 30_000)
  await c.until('the API to be ready', async () => (await c.request(1, 'GET', '/readyz'))?.status === 200)
  await k.ok(1, ['apply', '-f', writeManifest(manifests, 'seed.yaml', SEED)])
  // The controllers' first writes (the RC's status) land before the picture is taken.
  await new Promise((r) => setTimeout(r, 2000))
  before = await everything()
  assert.ok(Object.keys(before.objects).length >= 7, Object.keys(before.objects).join(', '))
})

test.after(async () => {
  await k.killAll()
  await c.destroy()
})

test('malformed YAML: kubectl create -f and apply -f fail with their own parse error', async () => {
  const file = writeManifest(
    manifests,
    'broken.yaml',
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n data:\n  - [unclosed\n',
  )
  for (const verb of ['create', 'apply']) {
    const r = await k.run(1, [verb, '-f', file])
    assert.is(r.code, 1, `kubectl ${verb}: ${r.stdout}`)
    assert.match(r.stderr, /error parsing .*broken\.yaml: error converting YAML to JSON: yaml: line \d+/)
  }
  // A document that is YAML but not an object.
  const scalar = writeManifest(manifests, 'scalar.yaml', 'just a string\n')
  const r = await k.run(1, ['create', '-f', scalar])
  assert.is(r.code, 1)
  assert.match(r.stderr, /scalar\.yaml/)
})

test('malformed JSON or YAML in a raw request: 400 BadRequest Status', async () => {
  const broken = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"'
  let st = assertStatus(await post(`${NS}/configmaps`, broken), 400, 'BadRequest', 'POST broken JSON')
  assert.match(st.message!, 'could not be decoded')
  st = assertStatus(
    await post(`${NS}/configmaps`, 'apiVersion: v1\nkind: [ConfigMap\n', {
      'content-type': 'application/yaml',
    }),
    400,
    'BadRequest',
    'POST broken YAML',
  )
  assert.match(st.message!, 'could not be decoded')
  assertStatus(await post(`${NS}/configmaps`, ''), 400, 'BadRequest', 'POST an empty body')
  for (const body of ['[1,2]', 'null', '"a string"', '42', 'true']) {
    assertStatus(await post(`${NS}/configmaps`, body), 400, 'BadRequest', `POST ${body}`)
  }
  assertStatus(
    await post(`${NS}/configmaps`, '{"apiVersion":"v1","kind":"ConfigMap","metadata":"x"}'),
    400,
    'BadRequest',
    'POST with metadata a string',
  )
  assertStatus(
    await c.request(1, 'PUT', `${NS}/configmaps/seed-cm`, broken, 10_000, JSON_TYPE),
    400,
    'BadRequest',
    'PUT broken JSON',
  )
  for (const type of [
    'application/merge-patch+json',
    'application/strategic-merge-patch+json',
    'application/json-patch+json',
  ]) {
    assertStatus(
      await c.request(1, 'PATCH', `${NS}/configmaps/seed-cm`, '{"metadata":', 10_000, {
        'content-type': type,
      }),
      400,
      'BadRequest',
      `PATCH broken ${type}`,
    )
  }
  assertStatus(
    await c.request(1, 'PATCH', `${NS}/configmaps/seed-cm`, 'metadata: [x\n', 10_000, {
      'content-type': 'application/apply-patch+yaml',
    }),
    400,
    'BadRequest',
    'server-side apply with broken YAML',
  )
  st = assertStatus(
    await c.request(1, 'PATCH', `${NS}/configmaps/seed-cm?force=true`, '{"data":{"x":"y"}}', 10_000, {
      'content-type': 'application/merge-patch+json',
    }),
    400,
    'BadRequest',
    'force on a merge patch',
  )
  assert.match(st.message!, 'force flag is only valid for apply')
  st = assertStatus(
    await c.request(
      1,
      'PATCH',
      `${NS}/configmaps/seed-cm?fieldManager=x&force=maybe`,
      '{"data":{"x":"y"}}',
      10_000,
      {
        'content-type': 'application/apply-patch+yaml',
      },
    ),
    400,
    'BadRequest',
    'force=maybe on an apply patch',
  )
  assert.match(st.message!, 'invalid value for force')
  assertStatus(
    await c.request(1, 'DELETE', `${NS}/configmaps/seed-cm`, '{"propagationPolicy":', 10_000, JSON_TYPE),
    400,
    'BadRequest',
    'DELETE with broken DeleteOptions',
  )
})

test('a create body in a media type the API does not decode: 415 UnsupportedMediaType', async () => {
  // An unknown patch type is refused as such.
  assertStatus(
    await c.request(1, 'PATCH', `${NS}/configmaps/seed-cm`, '{}', 10_000, { 'content-type': 'text/plain' }),
    415,
    'UnsupportedMediaType',
    'PATCH text/plain',
  )
  // So should a create or update body that is neither JSON nor YAML (Kubernetes answers 415
  // "the body of the request was in an unknown format - accepted media types include: ...").
  assertStatus(
    await post(`${NS}/configmaps`, '<ConfigMap name="media"/>', { 'content-type': 'application/xml' }),
    415,
    'UnsupportedMediaType',
    'POST application/xml',
  )
  assertStatus(
    await c.request(1, 'PUT', `${NS}/configmaps/seed-cm`, '<ConfigMap/>', 10_000, {
      'content-type': 'application/xml',
    }),
    415,
    'UnsupportedMediaType',
    'PUT application/xml',
  )
})

test('a protobuf body (what kubectl create namespace sends) is decoded, or refused as protobuf', async () => {
  // The envelope is "k8s\0" then a runtime.Unknown; this one is cut short. A server that
  // decodes protobuf says the body is bad (400, naming protobuf); one that does not says so
  // with 415 — not "Unexpected token 'k' ... is not valid JSON".
  const protobuf = Buffer.concat([Buffer.from('k8s\0'), Buffer.from([0x0a, 0x0d, 0x0a, 0x02, 0x76, 0x31])])
  const r = await post(`${NS}/configmaps`, protobuf.toString('latin1'), {
    'content-type': 'application/vnd.kubernetes.protobuf',
  })
  if (r?.status === 400) {
    const st = assertStatus(r, 400, 'BadRequest', 'POST truncated protobuf')
    assert.match(st.message!, /protobuf/i, `the message names protobuf: ${st.message}`)
  } else assertStatus(r, 415, 'UnsupportedMediaType', 'POST application/vnd.kubernetes.protobuf')
})

test('the wrong apiVersion or kind in the body: 400 BadRequest Status naming it', async () => {
  const cases: [string, string, string][] = [
    [
      'apiVersion apps/v1',
      `${NS}/configmaps`,
      '{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}',
    ],
    ['apiVersion v2', `${NS}/configmaps`, '{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"x"}}'],
    [
      'kind Service to configmaps',
      `${NS}/configmaps`,
      '{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}',
    ],
    ['kind Gadget', `${NS}/configmaps`, '{"apiVersion":"v1","kind":"Gadget","metadata":{"name":"x"}}'],
    [
      'kind Pod to namespaces',
      '/api/v1/namespaces',
      '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}',
    ],
  ]
  for (const [what, path, body] of cases) {
    const st = assertStatus(await post(path, body), 400, 'BadRequest', what)
    const named = JSON.parse(body) as { apiVersion: string; kind: string }
    assert.ok(
      st.message!.includes(named.kind) || st.message!.includes(named.apiVersion),
      `${what}: the message names it: ${st.message}`,
    )
  }
  // An update naming another kind.
  const cm = JSON.parse((await c.request(1, 'GET', `${NS}/configmaps/seed-cm`))!.body) as KubeObject
  assertStatus(
    await c.request(
      1,
      'PUT',
      `${NS}/configmaps/seed-cm`,
      JSON.stringify({ ...cm, kind: 'Secret' }),
      10_000,
      JSON_TYPE,
    ),
    400,
    'BadRequest',
    'PUT kind Secret',
  )
  assertStatus(
    await c.request(
      1,
      'PUT',
      `${NS}/configmaps/seed-cm`,
      JSON.stringify({ ...cm, apiVersion: 'apps/v1' }),
      10_000,
      JSON_TYPE,
    ),
    400,
    'BadRequest',
    'PUT apiVersion apps/v1',
  )

  // kubectl does not even send these: it has no mapping for them.
  const gadget = writeManifest(
    manifests,
    'gadget.yaml',
    'apiVersion: v1\nkind: Gadget\nmetadata:\n  name: g\n',
  )
  const r = await k.run(1, ['create', '-f', gadget])
  assert.is(r.code, 1)
  assert.match(r.stderr, 'gadget.yaml')
  const unvalidated = await k.run(1, ['create', '-f', gadget, '--validate=false'])
  assert.is(unvalidated.code, 1)
  assert.match(unvalidated.stderr, 'no matches for kind "Gadget" in version "v1"')
  const apps = writeManifest(
    manifests,
    'apps.yaml',
    'apiVersion: apps/v9\nkind: ConfigMap\nmetadata:\n  name: g\n',
  )
  const wrongVersion = await k.run(1, ['create', '-f', apps, '--validate=false'])
  assert.is(wrongVersion.code, 1)
  assert.match(wrongVersion.stderr, 'no matches for kind "ConfigMap" in version "apps/v9"')
})

test('invalid names and labels: 422 Invalid with details.causes naming the fields', async () => {
  const cm = (meta: Record<string, unknown>) =>
    JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta, data: { a: 'b' } })
  let st = assertStatus(
    await post(`${NS}/configmaps`, cm({ name: 'Bad_Name' })),
    422,
    'Invalid',
    'name Bad_Name',
  )
  assert.equal(causeFields(st), ['metadata.name'])
  assert.equal(st.details?.kind, 'ConfigMap')
  assert.equal(st.details?.name, 'Bad_Name')
  assert.match(st.message!, 'ConfigMap "Bad_Name" is invalid')

  st = assertStatus(
    await post(`${NS}/configmaps`, cm({ name: 'x'.repeat(254) })),
    422,
    'Invalid',
    'a name of 254 characters',
  )
  assert.equal(causeFields(st), ['metadata.name'])

  st = assertStatus(
    await post(`${NS}/configmaps`, cm({ name: 'labels', labels: { 'bad key!': 'ok', good: '-bad value-' } })),
    422,
    'Invalid',
    'bad label key and value',
  )
  assert.equal(causeFields(st), ['metadata.labels', 'metadata.labels'])
  assert.ok(st.details!.causes!.some((x) => x.message.includes('bad key!')))
  assert.ok(st.details!.causes!.some((x) => x.message.includes('-bad value-')))

  st = assertStatus(
    await post(
      `${NS}/configmaps`,
      cm({ name: 'Bad_Name', labels: { 'a/b/c': 'x' }, annotations: { 'bad key!': 'x' } }),
    ),
    422,
    'Invalid',
    'name, label and annotation at once',
  )
  assert.equal(causeFields(st).sort(), ['metadata.annotations', 'metadata.labels', 'metadata.name'])

  st = assertStatus(
    await post('/api/v1/namespaces', '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"Team.A"}}'),
    422,
    'Invalid',
    'namespace Team.A',
  )
  assert.equal(causeFields(st), ['metadata.name'])

  st = assertStatus(
    await post(
      `${NS}/pods`,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p' },
        spec: { containers: [{ name: 'Main_Container' }] },
      }),
    ),
    422,
    'Invalid',
    'a pod with a bad container name and no image',
  )
  assert.equal(causeFields(st).sort(), ['spec.containers[0].image', 'spec.containers[0].name'])

  st = assertStatus(
    await post(
      `${NS}/services`,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 's' },
        spec: { ports: [{ port: 70000 }] },
      }),
    ),
    422,
    'Invalid',
    'a service port of 70000',
  )
  // targetPort defaults to port, so Kubernetes names both.
  assert.equal(causeFields(st), ['spec.ports[0].port', 'spec.ports[0].targetPort'])

  // On an update, too: a patch that adds a bad label is refused whole.
  st = assertStatus(
    await c.request(
      1,
      'PATCH',
      `${NS}/configmaps/seed-cm`,
      '{"metadata":{"labels":{"bad key!":"x","fine":"x"}}}',
      10_000,
      {
        'content-type': 'application/merge-patch+json',
      },
    ),
    422,
    'Invalid',
    'PATCH a bad label',
  )
  assert.equal(causeFields(st), ['metadata.labels'])

  // kubectl prints the server's causes.
  const file = writeManifest(
    manifests,
    'badname.yaml',
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  labels:\n    "bad key!": "-x-"\n',
  )
  const r = await k.run(1, ['create', '-f', file])
  assert.is(r.code, 1)
  assert.match(r.stderr, 'The ConfigMap "Bad_Name" is invalid')
  assert.match(r.stderr, '* metadata.name: Invalid value: "Bad_Name"')
  assert.match(r.stderr, '* metadata.labels: Invalid value: "bad key!"')
  assert.match(r.stderr, '* metadata.labels: Invalid value: "-x-"')
})

test('wrong types (replicas: "three" and others): 422 Invalid (or 400) Status', async () => {
  const rc = (spec: Record<string, unknown>) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: { name: 'typed' },
      spec: {
        selector: { app: 't' },
        template: {
          metadata: { labels: { app: 't' } },
          spec: { containers: [{ name: 'c', image: 'busybox' }] },
        },
        ...spec,
      },
    })
  const typeError = (r: Response, what: string, field: string): void => {
    assert.ok(
      r && (r.status === 422 || r.status === 400),
      `${what}: 422 or 400, got ${r?.status}: ${r?.body}`,
    )
    const st = assertStatus(r, r!.status, r!.status === 422 ? 'Invalid' : 'BadRequest', what)
    if (r!.status === 422)
      assert.ok(causeFields(st).includes(field), `${what}: a cause names ${field}: ${r!.body}`)
    else assert.match(st.message!, field.split('.').at(-1)!)
  }
  typeError(
    await post(`${NS}/replicationcontrollers`, rc({ replicas: 'three' })),
    'replicas "three"',
    'spec.replicas',
  )
  typeError(
    await post(`${NS}/replicationcontrollers`, rc({ replicas: 1.5 })),
    'replicas 1.5',
    'spec.replicas',
  )
  typeError(await post(`${NS}/replicationcontrollers`, rc({ replicas: -1 })), 'replicas -1', 'spec.replicas')
  typeError(
    await post(`${NS}/replicationcontrollers`, rc({ selector: 'app=t' })),
    'selector a string',
    'spec.selector',
  )
  typeError(
    await post(
      `${NS}/pods`,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p' },
        spec: { containers: 'busybox' },
      }),
    ),
    'containers a string',
    'spec.containers',
  )
  typeError(
    await post(
      `${NS}/services`,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 's' },
        spec: { ports: [{ port: 'eighty' }] },
      }),
    ),
    'port "eighty"',
    'spec.ports[0].port',
  )
  typeError(
    await post(
      `${NS}/configmaps`,
      '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t","labels":{"a":1}}}',
    ),
    'a label value 1',
    'metadata.labels[a]',
  )
  typeError(
    await post(`${NS}/configmaps`, '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":42}}'),
    'name 42',
    'metadata.name',
  )
  // The same through an update, a patch and the scale subresource of an existing object.
  const live = JSON.parse(
    (await c.request(1, 'GET', `${NS}/replicationcontrollers/seed-rc`))!.body,
  ) as KubeObject
  typeError(
    await c.request(
      1,
      'PUT',
      `${NS}/replicationcontrollers/seed-rc`,
      JSON.stringify({ ...live, spec: { ...live.spec, replicas: 'three' } }),
      10_000,
      JSON_TYPE,
    ),
    'PUT replicas "three"',
    'spec.replicas',
  )
  typeError(
    await c.request(
      1,
      'PATCH',
      `${NS}/replicationcontrollers/seed-rc`,
      '{"spec":{"replicas":"three"}}',
      10_000,
      {
        'content-type': 'application/merge-patch+json',
      },
    ),
    'PATCH replicas "three"',
    'spec.replicas',
  )
  typeError(
    await c.request(
      1,
      'PATCH',
      `${NS}/replicationcontrollers/seed-rc/scale`,
      '{"spec":{"replicas":"three"}}',
      10_000,
      {
        'content-type': 'application/merge-patch+json',
      },
    ),
    'PATCH scale replicas "three"',
    'spec.replicas',
  )
  typeError(
    await c.request(
      1,
      'PUT',
      `${NS}/replicationcontrollers/seed-rc/scale`,
      '{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"seed-rc"},"spec":{"replicas":-3}}',
      10_000,
      JSON_TYPE,
    ),
    'PUT scale replicas -3',
    'spec.replicas',
  )

  const file = writeManifest(
    manifests,
    'three.yaml',
    [
      'apiVersion: v1',
      'kind: ReplicationController',
      'metadata:',
      '  name: three',
      'spec:',
      '  replicas: three',
      '  selector: {a: b}',
      '  template:',
      '    metadata: {labels: {a: b}}',
      '    spec:',
      '      containers: [{name: c, image: busybox}]',
      '',
    ].join('\n'),
  )
  const r = await k.run(1, ['create', '-f', file])
  assert.is(r.code, 1)
  assert.match(r.stderr, /ReplicationController "three" is invalid: spec\.replicas/)
})

test('a 4 MiB body: 413 RequestEntityTooLarge Status (with and without Content-Length)', async () => {
  const big = JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'big' },
    data: { blob: 'x'.repeat(4 * 1024 * 1024) },
  })
  assertStatus(await post(`${NS}/configmaps`, big), 413, 'RequestEntityTooLarge', 'POST 4 MiB')
  const seed = JSON.parse((await c.request(1, 'GET', `${NS}/configmaps/seed-cm`))!.body) as KubeObject
  assertStatus(
    await c.request(
      1,
      'PUT',
      `${NS}/configmaps/seed-cm`,
      JSON.stringify({ ...seed, data: { blob: 'y'.repeat(4 * 1024 * 1024) } }),
      10_000,
      JSON_TYPE,
    ),
    413,
    'RequestEntityTooLarge',
    'PUT 4 MiB',
  )
  // Chunked: no Content-Length to refuse it by; the server must count.
  const creds = c.credentials(1)!
  const chunked = await new Promise<Response>((resolve) => {
    const req = httpsRequestRaw(
      `${c.spec(1).api}${NS}/configmaps`,
      {
        method: 'POST',
        ca: creds.ca,
        headers: { authorization: `Bearer ${creds.token}`, 'content-type': 'application/json' },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          body += d
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      },
    )
    req.on('error', () => resolve(null))
    const chunk = 64 * 1024
    let sent = 0
    const pump = (): void => {
      while (sent < big.length) {
        const part = big.slice(sent, sent + chunk)
        sent += part.length
        if (!req.write(part)) {
          req.once('drain', pump)
          return
        }
      }
      req.end()
    }
    pump()
  })
  assertStatus(chunked, 413, 'RequestEntityTooLarge', 'POST 4 MiB chunked')

  const file = writeManifest(
    manifests,
    'big.yaml',
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  blob: ${'x'.repeat(4 * 1024 * 1024)}\n`,
  )
  const r = await k.run(1, ['create', '-f', file])
  assert.is(r.code, 1)
  assert.match(r.stderr, 'Error from server (RequestEntityTooLarge)')
  // Still serving.
  assert.is((await c.request(1, 'GET', '/healthz'))?.status, 200)
  assert.is((await c.request(1, 'GET', `${NS}/configmaps/big`))?.status, 404)
})

test('no token, a wrong token: 401 Unauthorized Status; kubectl says to log in', async () => {
  const creds = c.credentials(1)!
  const cm = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"sneaky"}}'
  const cases: [string, Record<string, string>][] = [
    ['no token', {}],
    ['a wrong token', { authorization: 'Bearer not-the-token' }],
    ['the token with a suffix', { authorization: `Bearer ${creds.token}x` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
    ['basic auth', { authorization: `Basic ${Buffer.from(`admin:${creds.token}`).toString('base64')}` }],
  ]
  for (const [what, headers] of cases) {
    assertStatus(await bare('GET', `${NS}/pods`, headers), 401, 'Unauthorized', `GET with ${what}`)
    assertStatus(await bare('GET', '/api', headers), 401, 'Unauthorized', `discovery with ${what}`)
    assertStatus(
      await bare('POST', `${NS}/configmaps`, { ...headers, 'content-type': 'application/json' }, cm),
      401,
      'Unauthorized',
      `POST with ${what}`,
    )
    assertStatus(
      await bare('DELETE', `${NS}/configmaps/seed-cm`, headers),
      401,
      'Unauthorized',
      `DELETE with ${what}`,
    )
  }
  // Open without a token: health and version (kubectl's dispatcher asks /version first).
  assert.is((await bare('GET', '/healthz'))?.status, 200)
  assert.is((await bare('GET', '/version'))?.status, 200)

  const wrong = k.kubeconfigWithToken(1, 'not-the-token', 'wrong-token')
  const r = await k.run(1, ['get', 'pods'], { kubeconfig: wrong })
  assert.is(r.code, 1)
  // kubectl 1.32 fails in discovery first (client-go's generic text for a 401 there); the
  // `(Unauthorized)` form is what it prints when a later request is refused.
  assert.match(
    r.stderr,
    /error: You must be logged in to the server \((Unauthorized|the server has asked for the client to provide credentials)\)/,
  )
  const w = await k.run(1, ['create', '-f', writeManifest(manifests, 'sneaky.yaml', cm)], {
    kubeconfig: wrong,
  })
  assert.is(w.code, 1)
  // kubectl asks for the OpenAPI document first and stops there.
  assert.match(
    w.stderr,
    /failed to download openapi: the server has asked for the client to provide credentials/,
  )
  assert.is((await c.request(1, 'GET', `${NS}/configmaps/sneaky`))?.status, 404, 'nothing was created')
})

test('an unknown resource path: 404 NotFound Status', async () => {
  const paths: [string, string][] = [
    ['GET', '/api/v1/gadgets'],
    ['GET', `${NS}/gadgets`],
    ['GET', `${NS}/gadgets/x`],
    ['POST', `${NS}/gadgets`],
    ['DELETE', `${NS}/gadgets/x`],
    ['GET', '/api/v1/namespaces/default/nodes'],
    ['GET', '/apis/apps/v1/namespaces/default/deployments'],
    ['GET', '/api/v2/pods'],
    ['GET', '/nope'],
    ['GET', `${NS}/pods/seed-pod/exec`],
    ['GET', `${NS}/configmaps/seed-cm/scale`],
  ]
  for (const [method, path] of paths) {
    const body = method === 'POST' ? '{"apiVersion":"v1","kind":"Gadget","metadata":{"name":"x"}}' : undefined
    assertStatus(
      await c.request(1, method, path, body, 10_000, JSON_TYPE),
      404,
      'NotFound',
      `${method} ${path}`,
    )
  }
  // A missing object of a known kind names it.
  const st = assertStatus(await c.request(1, 'GET', `${NS}/pods/nope`), 404, 'NotFound', 'a missing pod')
  assert.match(st.message!, 'pods "nope" not found')
  assert.equal(st.details?.name, 'nope')
  assert.equal(st.details?.kind, 'pods')

  const r = await k.run(1, ['get', 'gadgets'])
  assert.is(r.code, 1)
  assert.match(r.stderr, 'error: the server doesn\'t have a resource type "gadgets"')
  const missing = await k.run(1, ['get', 'pod', 'nope'])
  assert.is(missing.code, 1)
  assert.match(missing.stderr, 'Error from server (NotFound): pods "nope" not found')
})

test('unknown fields with fieldValidation=Strict (what kubectl sends): 400 BadRequest naming them', async () => {
  // kubectl leaves validation to the server (OpenAPI says PATCH takes fieldValidation) and
  // sends ?fieldValidation=Strict; Kubernetes then refuses unknown fields: "strict decoding
  // error: unknown field ...".
  try {
    const st = assertStatus(
      await post(
        `${NS}/configmaps?fieldValidation=Strict`,
        '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict"},"dta":{"a":"b"}}',
      ),
      400,
      'BadRequest',
      'POST an unknown field with Strict',
    )
    assert.match(st.message!, 'unknown field "dta"')
  } finally {
    await c.request(1, 'DELETE', `${NS}/configmaps/strict`)
  }
  const patched = await c.request(
    1,
    'PATCH',
    `${NS}/configmaps/seed-cm?fieldValidation=Strict`,
    '{"dta":{"x":"y"}}',
    10_000,
    { 'content-type': 'application/merge-patch+json' },
  )
  try {
    assertStatus(patched, 400, 'BadRequest', 'PATCH an unknown field with Strict')
  } finally {
    if (patched?.status === 200) {
      await c.request(1, 'PATCH', `${NS}/configmaps/seed-cm`, '{"dta":null}', 10_000, {
        'content-type': 'application/merge-patch+json',
      })
    }
  }
  const file = writeManifest(
    manifests,
    'typo.yaml',
    [
      'apiVersion: v1',
      'kind: ReplicationController',
      'metadata:',
      '  name: typo',
      'spec:',
      '  replica: 3',
      '  selector: {a: b}',
      '  template:',
      '    metadata: {labels: {a: b}}',
      '    spec:',
      '      containers: [{name: c, image: busybox, imagePullPolic: Always}]',
      '',
    ].join('\n'),
  )
  try {
    const r = await k.run(1, ['create', '-f', file])
    assert.is(r.code, 1, `kubectl create -f with unknown fields: ${r.stdout}`)
    assert.match(r.stderr, 'strict decoding error: unknown field "spec.replica"')
    assert.match(r.stderr, 'unknown field "spec.template.spec.containers[0].imagePullPolic"')
  } finally {
    await k.run(1, ['delete', 'rc', 'typo', '--ignore-not-found'])
  }
})

test('after all of it, nothing stored changed and the peer still serves writes', async () => {
  const after = await everything()
  assert.equal(Object.keys(after.objects).sort(), Object.keys(before.objects).sort(), 'the same objects')
  for (const [key, o] of Object.entries(before.objects)) {
    assert.equal(after.objects[key], o, `${key} is unchanged`)
  }
  // A list's resourceVersion is the last applied log index: refused writes that reached the
  // state machine advance it without changing anything, so only its direction is checked.
  for (const [resource, rv] of Object.entries(after.listRvs)) {
    assert.ok(Number(rv) >= Number(before.listRvs[resource]), `${resource}: list resourceVersion ${rv}`)
  }
  // And it still takes good input.
  const ok = await post(
    `${NS}/configmaps`,
    '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fine"}}',
  )
  assert.is(ok?.status, 201, ok?.body)
  assert.is(await k.ok(1, ['get', 'cm', 'fine', '-o', 'name']), 'configmap/fine\n')
})

test('without Strict, an unknown field is dropped (Warn, Ignore), never stored', async () => {
  const loose = await post(
    `${NS}/configmaps?fieldValidation=Ignore`,
    '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"loose"},"data":{"a":"b"},"dta":{"a":"b"}}',
  )
  assert.is(loose?.status, 201, loose?.body)
  const stored = JSON.parse((await c.request(1, 'GET', `${NS}/configmaps/loose`))!.body) as KubeObject
  assert.equal(stored.data, { a: 'b' })
  assert.is(stored.dta, undefined, `the unknown field is not stored: ${JSON.stringify(stored)}`)
})

test.run()

import '../../src/util/polyfill.js'
/**
 * End-to-end: a stock kubectl (1.32) drives a 3-peer cluster of real `shoal agent` processes:
 * the guestbook manifests applied, re-applied (unchanged) and edited (configured); get in every
 * output format, describe, label, annotate, scale, delete and `get -w` for Pods,
 * ReplicationControllers, Services, ConfigMaps and Namespaces; every peer answering the same;
 * two writers racing on one resourceVersion; and a restart of the whole cluster.
 */

import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse as parseYaml } from 'yaml'
import { RESOURCE_TYPES } from '../../src/store/resources.js'
import type { KubeObject } from '../../src/store/types.js'
import { AgentCluster } from './support/agents.js'
import { Kubectl, type KubectlProcess, tableRows, writeManifest } from './support/kubectl.js'

const test = suite('e2e kubectl against a 3-peer cluster')

const GUESTBOOK = '/work/shared/examples/guestbook'
const PEERS = [1, 2, 3]

const c = new AgentCluster(34, 3)
const k = new Kubectl(c)
/** A copy of the guestbook manifests that the tests may edit. */
const guestbook = join(c.dir, 'guestbook')
const manifests = join(c.dir, 'manifests')
let leader = 0
/** Peers that do not lead (writes through them are carried to the leader). */
let followers: number[] = []

interface Ident {
  kind: string
  namespace: string
  name: string
  uid: string
  resourceVersion: string
}

function ident(o: KubeObject): Ident {
  return {
    kind: o.kind,
    namespace: o.metadata.namespace ?? '',
    name: o.metadata.name ?? '',
    uid: o.metadata.uid ?? '',
    resourceVersion: o.metadata.resourceVersion ?? '',
  }
}

const identKey = (i: Ident) => `${i.kind}/${i.namespace}/${i.name}`

/**
 * `kubectl get KINDS -A -o json` on all three peers at once: the same items (kind, namespace,
 * name, uid, resourceVersion) everywhere. Reads without a resourceVersion are linearizable, so
 * a follower already shows the last acknowledged write.
 */
async function sameOnEveryPeer(kinds = 'pods,rc,svc,cm,ns'): Promise<Ident[]> {
  const lists = await Promise.all(PEERS.map((i) => k.json<{ items: KubeObject[] }>(i, ['get', kinds, '-A'])))
  const ids = lists.map((l) => l.items.map(ident).sort((a, b) => identKey(a).localeCompare(identKey(b))))
  for (const [n, list] of ids.entries()) {
    assert.equal(list, ids[0], `peer ${n + 1} lists the same ${kinds} as peer 1`)
  }
  return ids[0]!
}

function find(ids: Ident[], kind: string, name: string, namespace = 'default'): Ident | undefined {
  return ids.find(
    (i) => i.kind === kind && i.name === name && i.namespace === (kind === 'Namespace' ? '' : namespace),
  )
}

/** The lines of a kubectl table whose first cell is `name`. */
function rowsNamed(stdout: string, name: string): string[][] {
  return tableRows(stdout).filter((r) => r[0] === name)
}

/** The raw object through peer `i`'s API. */
async function rawGet(i: number, path: string): Promise<KubeObject> {
  const r = await c.request(i, 'GET', path)
  assert.ok(r, `peer ${i} answers GET ${path}`)
  assert.is(r!.status, 200, `GET ${path} through peer ${i}: ${r!.body}`)
  return JSON.parse(r!.body) as KubeObject
}

test.before(async () => {
  // kubectl's verbs are checked against objects at rest: no controller acts on them here.
  for (const i of PEERS) c.start(i, { extraArgs: ['--controllers', 'none'] })
  leader = await c.leader(PEERS, 30_000)
  followers = PEERS.filter((i) => i !== leader)
  // Every peer serves the API (readyz: it knows a leader) before kubectl is pointed at it.
  await c.until('every peer ready', async () => {
    const r = await Promise.all(PEERS.map((i) => c.request(i, 'GET', '/readyz')))
    return r.every((x) => x?.status === 200)
  })
  cpSync(GUESTBOOK, guestbook, { recursive: true })
})

test.after(async () => {
  await k.killAll()
  await c.destroy()
})

test('kubectl apply -f guestbook/ through a follower creates every object; every peer lists the same', async () => {
  const out = await k.ok(followers[0]!, ['apply', '-f', guestbook])
  assert.equal(out.trim().split('\n').sort(), [
    'replicationcontroller/frontend created',
    'replicationcontroller/redis-master created',
    'replicationcontroller/redis-slave created',
    'service/frontend created',
    'service/redis-slave created',
  ])
  const ids = await sameOnEveryPeer('rc,svc')
  assert.equal(
    ids.map((i) => `${i.kind}/${i.name}`),
    [
      'ReplicationController/frontend',
      'ReplicationController/redis-master',
      'ReplicationController/redis-slave',
      'Service/frontend',
      'Service/redis-slave',
    ],
  )
  assert.ok(ids.every((i) => /^[0-9a-f-]{36}$/.test(i.uid) && /^\d+$/.test(i.resourceVersion)))
  assert.is(new Set(ids.map((i) => i.uid)).size, 5, 'five distinct uids')
})

test('a second kubectl apply prints unchanged for every object and changes no resourceVersion', async () => {
  const before = await sameOnEveryPeer('rc,svc')
  const out = await k.ok(followers[1]!, ['apply', '-f', guestbook])
  assert.equal(out.trim().split('\n').sort(), [
    'replicationcontroller/frontend unchanged',
    'replicationcontroller/redis-master unchanged',
    'replicationcontroller/redis-slave unchanged',
    'service/frontend unchanged',
    'service/redis-slave unchanged',
  ])
  assert.equal(await sameOnEveryPeer('rc,svc'), before)
})

test('kubectl get: table, -o wide, -o json, -o yaml and -o name, the same from every peer', async () => {
  // Table (server-side printing).
  for (const i of PEERS) {
    const rows = tableRows(await k.ok(i, ['get', 'rc']))
    assert.equal(rows[0], ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE'], `rc table header on peer ${i}`)
    assert.equal(
      rows.slice(1).map((r) => r.slice(0, 4)),
      [
        ['frontend', '3', '0', '0'],
        ['redis-master', '1', '0', '0'],
        ['redis-slave', '2', '0', '0'],
      ],
      `rc rows on peer ${i}`,
    )
    const svc = tableRows(await k.ok(i, ['get', 'svc']))
    assert.equal(svc[0], ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'])
    assert.equal(
      svc.slice(1).map((r) => [r[0], r[1], r[4]]),
      [
        ['frontend', 'ClusterIP', '80/TCP'],
        ['redis-slave', 'ClusterIP', '6379/TCP'],
      ],
    )
  }
  // -o wide adds the priority-1 columns.
  const wide = tableRows(await k.ok(2, ['get', 'rc', '-o', 'wide']))
  assert.equal(wide[0], ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR'])
  const fe = wide.find((r) => r[0] === 'frontend')!
  assert.equal(fe.slice(5), ['php-redis', 'kubernetes/example-guestbook-php-redis:v3', 'name=frontend'])
  const wideSvc = tableRows(await k.ok(3, ['get', 'svc', '-o', 'wide']))
  assert.is(wideSvc[0]!.at(-1), 'SELECTOR')
  assert.is(wideSvc.find((r) => r[0] === 'frontend')!.at(-1), 'name=frontend')
  // --show-labels needs rows[].object (PartialObjectMetadata).
  const labels = tableRows(await k.ok(1, ['get', 'rc', 'redis-master', '--show-labels']))
  assert.is(labels[0]!.at(-1), 'LABELS')
  assert.is(labels[1]!.at(-1), 'name=redis-master')

  // -o json: a List of full objects; one object for a named get.
  const list = await k.json<{ kind: string; items: KubeObject[] }>(3, ['get', 'rc'])
  assert.is(list.kind, 'List')
  assert.equal(
    list.items.map((o) => [o.kind, o.apiVersion, o.metadata.name]),
    [
      ['ReplicationController', 'v1', 'frontend'],
      ['ReplicationController', 'v1', 'redis-master'],
      ['ReplicationController', 'v1', 'redis-slave'],
    ],
  )
  const json = await k.json<KubeObject>(1, ['get', 'rc', 'frontend'])
  assert.is(json.kind, 'ReplicationController')
  assert.is((json.spec as { replicas: number }).replicas, 3)
  assert.equal((json.spec as { selector: unknown }).selector, { name: 'frontend' })
  assert.is(json.metadata.namespace, 'default')
  assert.ok(json.metadata.creationTimestamp)
  assert.ok(
    json.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'],
    'client-side apply keeps its last-applied annotation',
  )

  // -o yaml from another peer: the very same object.
  const yaml = parseYaml(await k.ok(2, ['get', 'rc', 'frontend', '-o', 'yaml'])) as KubeObject
  assert.equal(yaml, json, '-o yaml on peer 2 = -o json on peer 1')
  const svcYaml = parseYaml(await k.ok(3, ['get', 'svc', 'redis-slave', '-o', 'yaml'])) as KubeObject
  assert.is(svcYaml.kind, 'Service')
  assert.equal((svcYaml.spec as { ports: { port: number }[] }).ports[0]!.port, 6379)

  // -o name.
  assert.equal((await k.ok(1, ['get', 'rc,svc', '-o', 'name'])).trim().split('\n'), [
    'replicationcontroller/frontend',
    'replicationcontroller/redis-master',
    'replicationcontroller/redis-slave',
    'service/frontend',
    'service/redis-slave',
  ])

  // A missing object is NotFound, from every peer.
  for (const i of PEERS) {
    const r = await k.run(i, ['get', 'rc', 'nope'])
    assert.is(r.code, 1)
    assert.match(r.stderr, 'Error from server (NotFound): replicationcontrollers "nope" not found')
  }
})

test('kubectl describe rc and svc', async () => {
  const rc = await k.ok(2, ['describe', 'rc', 'frontend'])
  assert.match(rc, /^Name:\s+frontend$/m)
  assert.match(rc, /^Namespace:\s+default$/m)
  assert.match(rc, /^Selector:\s+name=frontend$/m)
  assert.match(rc, /^Labels:\s+name=frontend$/m)
  assert.match(rc, /^Replicas:\s+0 current \/ 3 desired$/m)
  assert.match(rc, /^Pods Status:\s+0 Running \/ 0 Waiting \/ 0 Succeeded \/ 0 Failed$/m)
  assert.match(rc, /Image:\s+kubernetes\/example-guestbook-php-redis:v3/)
  assert.match(rc, /Port:\s+80\/TCP/)
  assert.match(rc, /^Events:\s+<none>$/m)
  const slave = await k.ok(3, ['describe', 'rc', 'redis-slave'])
  assert.match(slave, /GET_HOSTS_FROM:\s+dns/)

  const svc = await k.ok(1, ['describe', 'svc', 'redis-slave'])
  assert.match(svc, /^Name:\s+redis-slave$/m)
  assert.match(svc, /^Selector:\s+name=redis-slave$/m)
  assert.match(svc, /^Type:\s+ClusterIP$/m)
  assert.match(svc, /^Port:\s+<unset>\s+6379\/TCP$/m)
  assert.match(svc, /^TargetPort:\s+6379\/TCP$/m)

  const all = await k.ok(1, ['describe', 'rc'])
  assert.is((all.match(/^Name:/gm) ?? []).length, 3, 'describe rc describes all three')
})

test('kubectl apply of an edited manifest prints configured; the change is on every peer', async () => {
  const before = await sameOnEveryPeer('rc,svc')
  const gen0 = (await k.json<KubeObject>(1, ['get', 'rc', 'frontend'])).metadata.generation!
  // The controller: 3 → 4 replicas and image v3 → v4. The service: its label goes.
  const rcFile = join(guestbook, 'frontend-controller.yaml')
  writeFileSync(
    rcFile,
    readFileSync(rcFile, 'utf8')
      .replace('replicas: 3', 'replicas: 4')
      .replace('php-redis:v3', 'php-redis:v4'),
  )
  const svcFile = join(guestbook, 'frontend-service.yaml')
  const svcText = readFileSync(svcFile, 'utf8')
  const edited = svcText.replace('  labels:\n    name: frontend\n', '')
  assert.is.not(edited, svcText, 'the label was removed from the manifest')
  writeFileSync(svcFile, edited)

  const out = await k.ok(followers[0]!, ['apply', '-f', guestbook])
  assert.equal(out.trim().split('\n').sort(), [
    'replicationcontroller/frontend configured',
    'replicationcontroller/redis-master unchanged',
    'replicationcontroller/redis-slave unchanged',
    'service/frontend configured',
    'service/redis-slave unchanged',
  ])
  const after = await sameOnEveryPeer('rc,svc')
  for (const id of after) {
    const old = find(before, id.kind, id.name)!
    assert.is(id.uid, old.uid, `${id.kind}/${id.name} keeps its uid`)
    if (id.name === 'frontend') assert.ok(Number(id.resourceVersion) > Number(old.resourceVersion))
    else assert.is(id.resourceVersion, old.resourceVersion, `${id.kind}/${id.name} unchanged`)
  }
  for (const i of PEERS) {
    const rc = await k.json<KubeObject>(i, ['get', 'rc', 'frontend'])
    const spec = rc.spec as {
      replicas: number
      template: { spec: { containers: { image: string }[] } }
    }
    assert.is(spec.replicas, 4, `replicas on peer ${i}`)
    assert.is(spec.template.spec.containers[0]!.image, 'kubernetes/example-guestbook-php-redis:v4')
    assert.is(rc.metadata.generation, gen0 + 1, 'a spec change bumps the generation')
    const svc = await k.json<KubeObject>(i, ['get', 'svc', 'frontend'])
    assert.is(svc.metadata.labels?.name, undefined, `the removed label is gone on peer ${i}`)
  }
  const wide = rowsNamed(await k.ok(3, ['get', 'rc', '-o', 'wide']), 'frontend')[0]!
  assert.is(wide[1], '4')
  assert.is(wide[6], 'kubernetes/example-guestbook-php-redis:v4')
  // And again: nothing left to do.
  const again = await k.ok(2, ['apply', '-f', guestbook])
  assert.ok(
    again
      .trim()
      .split('\n')
      .every((l) => l.endsWith(' unchanged')),
    again,
  )
  assert.equal(await sameOnEveryPeer('rc,svc'), after)
})

test('kubectl label and annotate: add, refuse without --overwrite, overwrite, remove; every peer sees it', async () => {
  assert.is(
    await k.ok(1, ['label', 'rc', 'redis-master', 'tier=backend']),
    'replicationcontroller/redis-master labeled\n',
  )
  let rc = await k.json<KubeObject>(2, ['get', 'rc', 'redis-master'])
  assert.equal(rc.metadata.labels, { name: 'redis-master', tier: 'backend' })

  const refused = await k.run(3, ['label', 'rc', 'redis-master', 'tier=cache'])
  assert.is(refused.code, 1)
  assert.match(refused.stderr, "'tier' already has a value (backend), and --overwrite is false")

  await k.ok(3, ['label', 'rc', 'redis-master', 'tier=cache', '--overwrite'])
  for (const i of PEERS) {
    rc = await k.json<KubeObject>(i, ['get', 'rc', 'redis-master'])
    assert.is(rc.metadata.labels?.tier, 'cache', `overwritten label on peer ${i}`)
  }
  // Selecting by the new label, from another peer.
  assert.is(
    (await k.ok(1, ['get', 'rc', '-l', 'tier=cache', '-o', 'name'])).trim(),
    'replicationcontroller/redis-master',
  )

  assert.is(
    await k.ok(2, ['annotate', 'rc', 'redis-master', 'note=hello world']),
    'replicationcontroller/redis-master annotated\n',
  )
  rc = await k.json<KubeObject>(3, ['get', 'rc', 'redis-master'])
  assert.is(rc.metadata.annotations?.note, 'hello world')
  await k.ok(1, ['annotate', 'rc', 'redis-master', 'note=bye', '--overwrite'])
  assert.match(await k.ok(3, ['describe', 'rc', 'redis-master']), /^Annotations:\s+note: bye$/m)

  // Removal.
  await k.ok(3, ['label', 'rc', 'redis-master', 'tier-'])
  await k.ok(2, ['annotate', 'rc', 'redis-master', 'note-'])
  for (const i of PEERS) {
    rc = await k.json<KubeObject>(i, ['get', 'rc', 'redis-master'])
    assert.equal(rc.metadata.labels, { name: 'redis-master' }, `labels on peer ${i}`)
    assert.is(rc.metadata.annotations?.note, undefined, `no note on peer ${i}`)
  }
  // Labels and annotations are metadata: the generation stays.
  assert.is(rc.metadata.generation, 1)
  await sameOnEveryPeer()
})

test('kubectl scale rc: --replicas=5, then --current-replicas=5 --replicas=2; a wrong precondition fails', async () => {
  assert.is(
    await k.ok(2, ['scale', 'rc', 'frontend', '--replicas=5']),
    'replicationcontroller/frontend scaled\n',
  )
  for (const i of PEERS) {
    const rc = await k.json<KubeObject>(i, ['get', 'rc', 'frontend'])
    assert.is((rc.spec as { replicas: number }).replicas, 5, `5 replicas on peer ${i}`)
  }
  assert.is(
    await k.ok(3, ['scale', 'rc', 'frontend', '--current-replicas=5', '--replicas=2']),
    'replicationcontroller/frontend scaled\n',
  )
  for (const i of PEERS) {
    const row = rowsNamed(await k.ok(i, ['get', 'rc', 'frontend']), 'frontend')[0]!
    assert.is(row[1], '2', `DESIRED 2 on peer ${i}`)
  }
  const wrong = await k.run(1, ['scale', 'rc', 'frontend', '--current-replicas=5', '--replicas=3'])
  assert.is(wrong.code, 1)
  assert.match(wrong.stderr, 'Expected replicas to be 5, was 2')
  // A stale --resource-version is a conflict.
  const rc = await k.json<KubeObject>(1, ['get', 'rc', 'frontend'])
  await k.ok(2, ['scale', 'rc', 'frontend', '--replicas=3'])
  const stale = await k.run(3, [
    'scale',
    'rc',
    'frontend',
    `--resource-version=${rc.metadata.resourceVersion}`,
    '--replicas=7',
  ])
  assert.is(stale.code, 1, stale.stdout)
  // kubectl compares it with the Scale's own resourceVersion before it PUTs.
  assert.match(
    stale.stderr,
    `Expected resource version to be ${rc.metadata.resourceVersion}, was `,
    stale.stderr,
  )
  const scale = await rawGet(1, '/api/v1/namespaces/default/replicationcontrollers/frontend/scale')
  assert.is(scale.kind, 'Scale')
  assert.is(scale.apiVersion, 'autoscaling/v1')
  assert.equal(scale.spec, { replicas: 3 })
  assert.is((scale.status as { selector: string }).selector, 'name=frontend')
  await sameOnEveryPeer()
})

test('kubectl get rc -w on one peer prints a new row for a change made through another peer', async () => {
  const watch = k.start(1, ['get', 'rc', '-w'])
  try {
    await watch.waitFor('the initial rows', (out) => rowsNamed(out, 'redis-slave').length === 1)
    assert.equal(tableRows(watch.stdout)[0], ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE'])
    await k.ok(3, ['scale', 'rc', 'frontend', '--replicas=6'])
    await watch.waitFor('a frontend row with 6 replicas', (out) =>
      rowsNamed(out, 'frontend').some((r) => r[1] === '6'),
    )
    // Another change, through the third peer.
    await k.ok(2, ['label', 'rc', 'redis-slave', 'watched=yes'])
    await watch.waitFor('a second redis-slave row', (out) => rowsNamed(out, 'redis-slave').length === 2)
    assert.is(watch.exitCode, undefined, 'the watch is still running')
  } finally {
    await watch.kill()
  }
  // One object: a field selector on its name and resourceVersion=0 (a synthetic ADDED first,
  // which kubectl prints once), then only its own changes.
  const one = k.start(2, ['get', 'rc', 'redis-master', '-w'])
  try {
    await one.waitFor('the redis-master row', (out) => rowsNamed(out, 'redis-master').length === 1)
    await k.ok(3, ['scale', 'rc', 'frontend', '--replicas=3'])
    await k.ok(1, ['scale', 'rc', 'redis-master', '--replicas=2'])
    await one.waitFor('a redis-master row with 2 replicas', (out) =>
      rowsNamed(out, 'redis-master').some((r) => r[1] === '2'),
    )
    assert.equal(rowsNamed(one.stdout, 'frontend'), [], 'no row for another object')
    assert.is(rowsNamed(one.stdout, 'redis-master').length, 2, one.stdout)
  } finally {
    await one.kill()
  }
})

/** A kind whose whole kubectl life one test walks through. */
interface KindCase {
  /** What `kubectl get` takes: `pods`. */
  resource: string
  /** The singular kubectl prints: `pod` in `pod/NAME created`. */
  singular: string
  kind: string
  name: string
  manifest: string
  header: string[]
  wideHeader: string[]
  /** Checks of the first table row of the object. */
  row?: (cells: string[]) => void
  describe: RegExp[]
}

async function lifecycle(kc: KindCase): Promise<void> {
  const file = writeManifest(manifests, `${kc.resource}.yaml`, kc.manifest)
  assert.is(await k.ok(2, ['apply', '-f', file]), `${kc.singular}/${kc.name} created\n`)
  const ids = await sameOnEveryPeer()
  const id = find(ids, kc.kind, kc.name)
  assert.ok(id, `${kc.kind}/${kc.name} on every peer`)

  // get: table, wide, json, yaml, name.
  const rows = tableRows(await k.ok(3, ['get', kc.resource]))
  assert.equal(rows[0], kc.header)
  const row = rows.find((r) => r[0] === kc.name)
  assert.ok(row, `a row for ${kc.name}`)
  kc.row?.(row!)
  assert.equal(tableRows(await k.ok(1, ['get', kc.resource, '-o', 'wide']))[0], kc.wideHeader)
  const json = await k.json<KubeObject>(2, ['get', kc.resource, kc.name])
  assert.is(json.kind, kc.kind)
  assert.is(json.apiVersion, 'v1')
  assert.is(json.metadata.uid, id!.uid)
  assert.is(json.metadata.resourceVersion, id!.resourceVersion)
  const yaml = parseYaml(await k.ok(3, ['get', kc.resource, kc.name, '-o', 'yaml'])) as KubeObject
  assert.equal(yaml, json, '-o yaml on peer 3 = -o json on peer 2')
  assert.is(await k.ok(1, ['get', kc.resource, kc.name, '-o', 'name']), `${kc.singular}/${kc.name}\n`)

  // describe.
  const described = await k.ok(1, ['describe', kc.resource, kc.name])
  assert.match(described, new RegExp(`^Name:\\s+${kc.name}$`, 'm'))
  for (const re of kc.describe) assert.match(described, re)

  // Watch on peer 1 while peers 2 and 3 label, annotate and delete.
  const watch: KubectlProcess = k.start(1, ['get', kc.resource, '-w'])
  try {
    await watch.waitFor(`the ${kc.name} row`, (out) => rowsNamed(out, kc.name).length === 1)
    assert.is(
      await k.ok(2, ['label', kc.resource, kc.name, `watched=${kc.resource}`]),
      `${kc.singular}/${kc.name} labeled\n`,
    )
    await watch.waitFor('a row for the label', (out) => rowsNamed(out, kc.name).length === 2)
    assert.is(
      await k.ok(3, ['annotate', kc.resource, kc.name, 'note=hi']),
      `${kc.singular}/${kc.name} annotated\n`,
    )
    await watch.waitFor('a row for the annotation', (out) => rowsNamed(out, kc.name).length === 3)
    for (const i of PEERS) {
      const o = await k.json<KubeObject>(i, ['get', kc.resource, kc.name])
      assert.is(o.metadata.labels?.watched, kc.resource, `label on peer ${i}`)
      assert.is(o.metadata.annotations?.note, 'hi', `annotation on peer ${i}`)
      assert.is(o.metadata.uid, id!.uid)
    }
    const labelled = await k.ok(2, ['get', kc.resource, '-l', `watched=${kc.resource}`, '-o', 'name'])
    assert.is(labelled, `${kc.singular}/${kc.name}\n`)
    await sameOnEveryPeer()

    assert.is(await k.ok(2, ['delete', kc.resource, kc.name]), `${kc.singular} "${kc.name}" deleted\n`)
    await watch.waitFor('a row for the deletion', (out) => rowsNamed(out, kc.name).length === 4)
  } finally {
    await watch.kill()
  }
  for (const i of PEERS) {
    const r = await k.run(i, ['get', kc.resource, kc.name])
    assert.is(r.code, 1, `gone on peer ${i}`)
    assert.match(r.stderr, `Error from server (NotFound): ${kc.resource} "${kc.name}" not found`)
  }
  assert.not.ok(find(await sameOnEveryPeer(), kc.kind, kc.name))
}

test('Pods: apply (busybox, no node: Pending), get, describe, label, annotate, get -w, delete', async () => {
  await lifecycle({
    resource: 'pods',
    singular: 'pod',
    kind: 'Pod',
    name: 'sleeper',
    manifest: [
      'apiVersion: v1',
      'kind: Pod',
      'metadata:',
      '  name: sleeper',
      '  labels:',
      '    app: sleeper',
      'spec:',
      '  containers:',
      '  - name: main',
      '    image: busybox:1.36',
      '    command: ["sleep", "3600"]',
      '',
    ].join('\n'),
    header: ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'],
    wideHeader: [
      'NAME',
      'READY',
      'STATUS',
      'RESTARTS',
      'AGE',
      'IP',
      'NODE',
      'NOMINATED NODE',
      'READINESS GATES',
    ],
    row: (cells) => assert.equal(cells.slice(0, 4), ['sleeper', '0/1', 'Pending', '0']),
    describe: [
      /^Node:\s+<none>$/m,
      /^Status:\s+Pending$/m,
      /Image:\s+busybox:1\.36/,
      /^Labels:\s+app=sleeper$/m,
    ],
  })
})

test('ReplicationControllers: apply, get, describe, label, annotate, get -w, delete', async () => {
  await lifecycle({
    resource: 'replicationcontrollers',
    singular: 'replicationcontroller',
    kind: 'ReplicationController',
    name: 'web',
    manifest: [
      'apiVersion: v1',
      'kind: ReplicationController',
      'metadata:',
      '  name: web',
      'spec:',
      '  replicas: 2',
      '  selector:',
      '    app: web',
      '  template:',
      '    metadata:',
      '      labels:',
      '        app: web',
      '    spec:',
      '      containers:',
      '      - name: web',
      '        image: busybox:1.36',
      '        command: ["httpd", "-f", "-p", "8080"]',
      '',
    ].join('\n'),
    header: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE'],
    wideHeader: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR'],
    row: (cells) => assert.equal(cells.slice(0, 4), ['web', '2', '0', '0']),
    describe: [/^Selector:\s+app=web$/m, /^Labels:\s+app=web$/m, /^Replicas:\s+0 current \/ 2 desired$/m],
  })
})

test('Services: apply, get, describe, label, annotate, get -w, delete', async () => {
  await lifecycle({
    resource: 'services',
    singular: 'service',
    kind: 'Service',
    name: 'web',
    manifest: [
      'apiVersion: v1',
      'kind: Service',
      'metadata:',
      '  name: web',
      'spec:',
      '  selector:',
      '    app: web',
      '  ports:',
      '  - name: http',
      '    port: 80',
      '    targetPort: 8080',
      '',
    ].join('\n'),
    header: ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'],
    wideHeader: ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR'],
    row: (cells) => {
      assert.is(cells[1], 'ClusterIP')
      assert.is(cells[4], '80/TCP')
    },
    describe: [/^Selector:\s+app=web$/m, /^Port:\s+http\s+80\/TCP$/m, /^TargetPort:\s+8080\/TCP$/m],
  })
})

test('ConfigMaps: apply, get, describe, label, annotate, get -w, delete', async () => {
  await lifecycle({
    resource: 'configmaps',
    singular: 'configmap',
    kind: 'ConfigMap',
    name: 'settings',
    manifest: [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: settings',
      'data:',
      '  color: blue',
      '  size: large',
      '',
    ].join('\n'),
    header: ['NAME', 'DATA', 'AGE'],
    wideHeader: ['NAME', 'DATA', 'AGE'],
    row: (cells) => assert.is(cells[1], '2'),
    describe: [/^color:\n----\nblue$/m, /^size:\n----\nlarge$/m],
  })
})

test('Namespaces: create one with a configmap in it, get, describe, label, get -w; delete it: the configmap is gone', async () => {
  const file = writeManifest(
    manifests,
    'team-a.yaml',
    [
      'apiVersion: v1',
      'kind: Namespace',
      'metadata:',
      '  name: team-a',
      '---',
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: settings',
      '  namespace: team-a',
      'data:',
      '  color: green',
      '',
    ].join('\n'),
  )
  assert.is(await k.ok(3, ['apply', '-f', file]), 'namespace/team-a created\nconfigmap/settings created\n')
  const ids = await sameOnEveryPeer()
  const ns = find(ids, 'Namespace', 'team-a')
  const cm = find(ids, 'ConfigMap', 'settings', 'team-a')
  assert.ok(ns && cm)

  const rows = tableRows(await k.ok(1, ['get', 'ns']))
  assert.equal(rows[0], ['NAME', 'STATUS', 'AGE'])
  assert.equal(
    rows.slice(1).map((r) => r.slice(0, 2)),
    [
      ['default', 'Active'],
      ['kube-system', 'Active'],
      ['team-a', 'Active'],
    ],
  )
  assert.is(await k.ok(2, ['get', 'ns', 'team-a', '-o', 'name']), 'namespace/team-a\n')
  const json = await k.json<KubeObject>(3, ['get', 'ns', 'team-a'])
  assert.is(json.metadata.uid, ns!.uid)
  assert.is(json.metadata.labels?.['kubernetes.io/metadata.name'], 'team-a')
  const yaml = parseYaml(await k.ok(1, ['get', 'ns', 'team-a', '-o', 'yaml'])) as KubeObject
  assert.equal(yaml, json)
  const described = await k.ok(2, ['describe', 'ns', 'team-a'])
  assert.match(described, /^Name:\s+team-a$/m)
  assert.match(described, /^Status:\s+Active$/m)
  const cmRows = tableRows(await k.ok(3, ['get', 'cm', '-n', 'team-a']))
  assert.equal(
    cmRows.slice(1).map((r) => r.slice(0, 2)),
    [['settings', '1']],
  )
  const everywhere = tableRows(await k.ok(1, ['get', 'cm', '-A']))
  assert.equal(everywhere[0]!.slice(0, 2), ['NAMESPACE', 'NAME'])
  assert.ok(
    everywhere.some((r) => r[0] === 'team-a' && r[1] === 'settings'),
    'get -A shows the namespace',
  )

  const nsWatch = k.start(1, ['get', 'ns', '-w'])
  const cmWatch = k.start(2, ['get', 'cm', '-n', 'team-a', '-w'])
  try {
    await nsWatch.waitFor('the team-a row', (out) => rowsNamed(out, 'team-a').length === 1)
    await cmWatch.waitFor('the settings row', (out) => rowsNamed(out, 'settings').length === 1)
    assert.is(await k.ok(3, ['label', 'ns', 'team-a', 'owner=alice']), 'namespace/team-a labeled\n')
    assert.is(await k.ok(2, ['annotate', 'ns', 'team-a', 'note=hi']), 'namespace/team-a annotated\n')
    await nsWatch.waitFor('rows for the label and annotation', (out) => rowsNamed(out, 'team-a').length === 3)
    for (const i of PEERS) {
      const o = await k.json<KubeObject>(i, ['get', 'ns', 'team-a'])
      assert.is(o.metadata.labels?.owner, 'alice')
      assert.is(o.metadata.annotations?.note, 'hi')
    }

    assert.is(await k.ok(3, ['delete', 'ns', 'team-a']), 'namespace "team-a" deleted\n')
    await nsWatch.waitFor('a row for the deletion', (out) => rowsNamed(out, 'team-a').length === 4)
    await cmWatch.waitFor(
      "a row for the configmap's deletion",
      (out) => rowsNamed(out, 'settings').length === 2,
    )
  } finally {
    await nsWatch.kill()
    await cmWatch.kill()
  }
  for (const i of PEERS) {
    const gone = await k.run(i, ['get', 'ns', 'team-a'])
    assert.is(gone.code, 1)
    assert.match(gone.stderr, 'Error from server (NotFound): namespaces "team-a" not found')
    const list = await k.json<{ items: unknown[] }>(i, ['get', 'cm', '-n', 'team-a'])
    assert.equal(list.items, [], `no configmap left in team-a on peer ${i}`)
    const raw = await c.request(i, 'GET', '/api/v1/namespaces/team-a/configmaps/settings')
    assert.is(raw?.status, 404)
  }
  const after = await sameOnEveryPeer()
  assert.not.ok(find(after, 'Namespace', 'team-a'))
  assert.not.ok(find(after, 'ConfigMap', 'settings', 'team-a'))
  // Nothing can be created in it any more.
  const orphan = writeManifest(
    manifests,
    'orphan.yaml',
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: orphan\n  namespace: team-a\n',
  )
  const refused = await k.run(1, ['create', '-f', orphan])
  assert.is(refused.code, 1)
  assert.match(refused.stderr, 'namespaces "team-a" not found')
  // The system namespaces cannot be deleted.
  const def = await k.run(2, ['delete', 'ns', 'default'])
  assert.is(def.code, 1)
  assert.match(def.stderr, /Forbidden/)
})

test('kubectl create namespace and create configmap (typed clients, protobuf bodies)', async () => {
  // kubectl's generator commands send `Content-Type: application/vnd.kubernetes.protobuf`
  // (Accept: protobuf, then JSON). A server that only speaks JSON must still let them work.
  try {
    const ns = await k.run(1, ['create', 'namespace', 'team-b'])
    assert.is(ns.code, 0, `kubectl create namespace: ${ns.stderr}`)
    assert.is(ns.stdout, 'namespace/team-b created\n')
    const cm = await k.run(2, ['create', 'configmap', 'flags', '-n', 'team-b', '--from-literal=debug=true'])
    assert.is(cm.code, 0, `kubectl create configmap: ${cm.stderr}`)
    assert.is(cm.stdout, 'configmap/flags created\n')
    const got = await k.json<KubeObject>(3, ['get', 'cm', 'flags', '-n', 'team-b'])
    assert.equal(got.data, { debug: 'true' })
  } finally {
    await k.run(3, ['delete', 'ns', 'team-b', '--ignore-not-found'])
  }
})

test('kubectl delete: -f, by name, -l; a missing object is NotFound unless --ignore-not-found', async () => {
  const out = await k.ok(followers[1]!, ['delete', '-f', join(guestbook, 'redis-slave-service.yaml')])
  assert.is(out, 'service "redis-slave" deleted\n')
  assert.is(
    await k.ok(leader, ['delete', 'rc', 'redis-slave']),
    'replicationcontroller "redis-slave" deleted\n',
  )
  const ids = await sameOnEveryPeer('rc,svc')
  assert.equal(
    ids.map((i) => `${i.kind}/${i.name}`),
    ['ReplicationController/frontend', 'ReplicationController/redis-master', 'Service/frontend'],
  )
  const missing = await k.run(1, ['delete', 'rc', 'redis-slave'])
  assert.is(missing.code, 1)
  assert.match(missing.stderr, 'Error from server (NotFound): replicationcontrollers "redis-slave" not found')
  const ignored = await k.run(2, ['delete', 'rc', 'redis-slave', '--ignore-not-found'])
  assert.is(ignored.code, 0, ignored.stderr)

  // -l: a LIST then one DELETE per item.
  const file = writeManifest(
    manifests,
    'batch.yaml',
    ['a', 'b', 'c']
      .map(
        (n) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: batch-${n}\n  labels:\n    batch: "1"\n`,
      )
      .join('---\n'),
  )
  await k.ok(3, ['apply', '-f', file])
  assert.is((await k.ok(1, ['get', 'cm', '-l', 'batch=1', '-o', 'name'])).trim().split('\n').length, 3)
  const del = await k.ok(2, ['delete', 'cm', '-l', 'batch=1'])
  assert.equal(del.trim().split('\n').sort(), [
    'configmap "batch-a" deleted',
    'configmap "batch-b" deleted',
    'configmap "batch-c" deleted',
  ])
  for (const i of PEERS) {
    assert.equal((await k.json<{ items: unknown[] }>(i, ['get', 'cm', '-l', 'batch=1'])).items, [])
  }
})

test('kubectl apply --server-side: two field managers, a conflict naming the field, --force-conflicts, a dropped field removed', async () => {
  const manifest = (name: string, data: Record<string, string>) =>
    writeManifest(
      manifests,
      name,
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n${Object.keys(data).length ? 'data:\n' : ''}${Object.entries(
        data,
      )
        .map(([key, value]) => `  ${key}: "${value}"\n`)
        .join('')}`,
    )
  try {
    const ci = manifest('ssa-ci.yaml', { mode: 'fast', region: 'eu' })
    assert.is(
      await k.ok(1, ['apply', '--server-side', '--field-manager=ci', '-f', ci]),
      'configmap/ssa serverside-applied\n',
    )
    // Another manager changing ci's field: kubectl prints the conflict and fails.
    const ops = manifest('ssa-ops.yaml', { mode: 'safe' })
    const conflict = await k.run(2, ['apply', '--server-side', '--field-manager=ops', '-f', ops])
    assert.is(conflict.code, 1)
    assert.match(conflict.stderr, 'conflict with "ci"')
    assert.match(conflict.stderr, '.data.mode')
    assert.equal((await k.json<KubeObject>(3, ['get', 'cm', 'ssa'])).data, { mode: 'fast', region: 'eu' })
    // --force-conflicts takes the field over.
    await k.ok(3, ['apply', '--server-side', '--field-manager=ops', '--force-conflicts', '-f', ops])
    // ci drops region (nobody else has it: it goes) and keeps its mode (now ops', so it stays ops' value).
    await k.ok(1, ['apply', '--server-side', '--field-manager=ci', '-f', manifest('ssa-ci2.yaml', {})])
    for (const i of PEERS) {
      const cm = await k.json<KubeObject>(i, ['get', 'cm', 'ssa', '--show-managed-fields'])
      assert.equal(cm.data, { mode: 'safe' }, `peer ${i}`)
      assert.equal(
        cm.metadata.managedFields?.map((e) => (e as { manager: string }).manager),
        ['ops'],
        `peer ${i}: ci has nothing left`,
      )
    }
    // Writes other than apply take the fields they change (kubectl label is kubectl-label's
    // Update): ops applying its old value again is a conflict with it.
    await k.ok(2, ['label', 'cm', 'ssa', 'team=blue'])
    await k.ok(3, [
      'apply',
      '--server-side',
      '--field-manager=ops',
      '-f',
      manifest('ssa-ops2.yaml', { mode: 'safe' }),
    ])
    await k.ok(1, ['annotate', 'cm', 'ssa', 'note=x'])
    const patchOps = await k.run(2, ['patch', 'cm', 'ssa', '--type=merge', '-p', '{"data":{"mode":"slow"}}'])
    assert.is(patchOps.code, 0, patchOps.stderr)
    const back = await k.run(3, ['apply', '--server-side', '--field-manager=ops', '-f', ops])
    assert.is(back.code, 1)
    assert.match(back.stderr, 'conflict with "kubectl-patch"')
  } finally {
    await k.run(1, ['delete', 'cm', 'ssa', '--ignore-not-found'])
  }
})

test('two writers PUT the same resourceVersion through two peers: one 200, one 409, only the winner changed it', async () => {
  const path = '/api/v1/namespaces/default/replicationcontrollers/redis-master'
  const json = { 'content-type': 'application/json' }
  for (let round = 0; round < 5; round++) {
    const base = await rawGet(3, path)
    const a = structuredClone(base)
    ;(a.spec as { replicas: number }).replicas = 10 + round
    a.metadata.labels = { ...a.metadata.labels, writer: `a${round}` }
    const b = structuredClone(base)
    ;(b.spec as { replicas: number }).replicas = 20 + round
    b.metadata.annotations = { ...b.metadata.annotations, writer: `b${round}` }
    const [ra, rb] = await Promise.all([
      c.request(1, 'PUT', path, JSON.stringify(a), 10_000, json),
      c.request(2, 'PUT', path, JSON.stringify(b), 10_000, json),
    ])
    assert.ok(ra && rb, 'both peers answer')
    assert.equal([ra!.status, rb!.status].sort(), [200, 409], `round ${round}: ${ra!.body} / ${rb!.body}`)
    const [win, lose] = ra!.status === 200 ? [ra!, rb!] : [rb!, ra!]
    const aWon = win === ra
    const st = JSON.parse(lose.body) as { kind: string; code: number; reason: string; message: string }
    assert.is(st.kind, 'Status')
    assert.is(st.code, 409)
    assert.is(st.reason, 'Conflict')
    assert.match(st.message, 'the object has been modified')
    const winner = JSON.parse(win.body) as KubeObject
    assert.ok(Number(winner.metadata.resourceVersion) > Number(base.metadata.resourceVersion))
    for (const i of PEERS) {
      const now = await rawGet(i, path)
      assert.is(
        now.metadata.resourceVersion,
        winner.metadata.resourceVersion,
        `peer ${i} holds the winner's write`,
      )
      assert.is((now.spec as { replicas: number }).replicas, aWon ? 10 + round : 20 + round)
      assert.is(now.metadata.labels?.writer, aWon ? `a${round}` : undefined, "only the winner's label")
      assert.is(
        now.metadata.annotations?.writer,
        aWon ? undefined : `b${round}`,
        "only the winner's annotation",
      )
    }
    // The loser re-reads and retries: now it goes through.
    const fresh = await rawGet(2, path)
    const retry = aWon ? b : a
    retry.metadata.resourceVersion = fresh.metadata.resourceVersion
    const again = await c.request(aWon ? 2 : 1, 'PUT', path, JSON.stringify(retry), 10_000, json)
    assert.is(again?.status, 200, again?.body)
    // Clean the writer marks for the next round.
    const clean = await rawGet(3, path)
    delete clean.metadata.labels?.writer
    delete clean.metadata.annotations?.writer
    assert.is((await c.request(3, 'PUT', path, JSON.stringify(clean), 10_000, json))?.status, 200)
  }
  await sameOnEveryPeer()
})

/** Every object of every kind, as peer `i` lists it (events and nodes left out: the system writes them). */
async function everything(i: number): Promise<Map<string, KubeObject>> {
  const all = new Map<string, KubeObject>()
  for (const t of RESOURCE_TYPES) {
    if (t.resource === 'events' || t.resource === 'nodes') continue
    const list = (await rawGet(i, `/api/v1/${t.resource}`)) as unknown as { items: KubeObject[] }
    for (const o of list.items) all.set(`${t.resource}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o)
  }
  return all
}

test('a restart of all three peers (SIGINT, SIGKILL) keeps every object with its uid and resourceVersion', async () => {
  // Something of every kind that kubectl manages, in a namespace of its own too.
  const file = writeManifest(
    manifests,
    'keep.yaml',
    [
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: keep\n',
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  namespace: keep\ndata:\n  a: "1"\n',
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: kept\n  namespace: keep\nspec:\n  containers:\n  - name: c\n    image: busybox:1.36\n',
    ].join('---\n'),
  )
  await k.ok(1, ['apply', '-f', file])
  const idsBefore = await sameOnEveryPeer()
  const before = await everything(1)
  assert.ok(before.size >= 8, `objects before: ${[...before.keys()].join(', ')}`)
  for (const i of [2, 3]) assert.equal(await everything(i), before, `peer ${i} holds what peer 1 holds`)
  const maxRv = Math.max(...[...before.values()].map((o) => Number(o.metadata.resourceVersion)))

  // SIGINT stops without leaving; SIGKILL does not even say goodbye.
  await Promise.all([c.stop(1, 'SIGINT'), c.stop(2, 'SIGKILL'), c.stop(3, 'SIGINT')])
  for (const i of PEERS) assert.not.ok(c.running(i))
  // kubectl's verbs are checked against objects at rest: no controller acts on them here.
  for (const i of PEERS) c.start(i, { extraArgs: ['--controllers', 'none'] })
  leader = await c.leader(PEERS, 30_000)
  followers = PEERS.filter((i) => i !== leader)

  for (const i of PEERS) {
    const after = await c.until(`peer ${i} to serve its objects again`, async () => {
      try {
        return await everything(i)
      } catch {
        return null
      }
    })
    assert.equal([...after.keys()].sort(), [...before.keys()].sort(), `the same objects on peer ${i}`)
    for (const [key, o] of before) {
      const a = after.get(key)!
      assert.is(a.metadata.uid, o.metadata.uid, `${key}: uid on peer ${i}`)
      assert.is(
        a.metadata.resourceVersion,
        o.metadata.resourceVersion,
        `${key}: resourceVersion on peer ${i}`,
      )
      assert.equal(a, o, `${key}: the whole object on peer ${i}`)
    }
  }
  assert.equal(await sameOnEveryPeer(), idsBefore, 'kubectl sees the same on every peer after the restart')

  // Writes go on, with resourceVersions after every one before the restart.
  await k.ok(2, ['label', 'cm', 'kept', '-n', 'keep', 'after=restart'])
  const kept = await k.json<KubeObject>(3, ['get', 'cm', 'kept', '-n', 'keep'])
  assert.ok(Number(kept.metadata.resourceVersion) > maxRv, `${kept.metadata.resourceVersion} > ${maxRv}`)
  // A watch from the list RV sees the next change.
  const watch = k.start(1, ['get', 'cm', '-n', 'keep', '-w'])
  try {
    await watch.waitFor('the kept row', (out) => rowsNamed(out, 'kept').length === 1)
    await k.ok(3, ['annotate', 'cm', 'kept', '-n', 'keep', 'seen=yes'])
    await watch.waitFor('a row for the annotation', (out) => rowsNamed(out, 'kept').length === 2)
  } finally {
    await watch.kill()
  }
})

test.run()

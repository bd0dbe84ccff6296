import '../../src/util/polyfill.js'

/**
 * End-to-end: the kubectl-style verbs (`get`, `describe`, `apply`, `create`, `delete`, `label`,
 * `annotate`, `scale`) of the `shoal` CLI against one real peer running as a single-machine
 * cluster on 127.0.33.1, with the guestbook manifests and small manifests of its own; plus the
 * pure parts behind them (the apply patch, the column printers).
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse as parseYaml, stringify as toYaml } from 'yaml'
import { LAST_APPLIED_ANNOTATION, threeWayMergePatch } from '../../cli/apply-patch.js'
import { ColumnAligner, tabwrite } from '../../cli/printers.js'
import { parseResourceArgs } from '../../cli/resources.js'

const test = suite('e2e shoal kubectl-style verbs')
const here = dirname(fileURLToPath(import.meta.url))
const shoalBin = fileURLToPath(new URL('../../../bin/shoal.js', import.meta.url))
const IP = '127.0.33.1'

const root = mkdtempSync(join(tmpdir(), 'shoal-e2e-verbs-'))
const dataDir = join(root, 'solo')
const manifests = join(root, 'manifests')
let peer: ChildProcess | null = null

/** Kills the peer (if still running) and removes every file of the test. */
function cleanUp(): void {
  if (peer && peer.exitCode === null && peer.signalCode === null) peer.kill('SIGKILL')
  rmSync(root, { recursive: true, force: true })
}
// A crash or a failed assertion that skips the after hook still leaves nothing behind.
process.on('exit', cleanUp)

function guestbookDir(): string {
  for (const dir of [
    process.env.SHOAL_GUESTBOOK_DIR,
    resolve(here, '../../../examples/guestbook'),
    resolve(here, '../../../../examples/guestbook'),
    '/work/shared/examples/guestbook',
  ])
    if (dir && existsSync(dir)) return dir
  throw new Error('guestbook manifests not found; set SHOAL_GUESTBOOK_DIR')
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `shoal ARGS --data-dir DIR` (stdin: `input`). */
function shoal(args: string[], input?: string): Run {
  const r = spawnSync(process.execPath, [shoalBin, ...args, '--data-dir', dataDir], {
    encoding: 'utf8',
    timeout: 30_000,
    input,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Runs shoal and asserts exit code 0; returns stdout. */
function ok(args: string[], input?: string): string {
  const r = shoal(args, input)
  assert.is(r.code, 0, `shoal ${args.join(' ')}: exit ${r.code}\n${r.stderr}${r.stdout}`)
  return r.stdout
}

/** Runs shoal and asserts the exit code and one line of stderr matching `pattern`. */
function fails(args: string[], code: number, pattern: RegExp, input?: string): Run {
  const r = shoal(args, input)
  assert.is(r.code, code, `shoal ${args.join(' ')}: exit ${r.code}, expected ${code}\n${r.stderr}${r.stdout}`)
  assert.match(r.stderr, pattern, `shoal ${args.join(' ')}: stderr was ${JSON.stringify(r.stderr)}`)
  return r
}

function json<T = Record<string, unknown>>(args: string[]): T {
  return JSON.parse(ok([...args, '-o', 'json'])) as T
}

interface Obj {
  kind: string
  metadata: {
    name: string
    namespace?: string
    uid: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
  }
  spec?: Record<string, unknown>
  data?: Record<string, string>
  items?: Obj[]
}

/** The offsets where the columns of a table line start (two or more spaces separate them). */
function columnStarts(line: string): number[] {
  const starts = [0]
  for (const m of line.matchAll(/ {2,}(?=\S)/g)) starts.push(m.index + m[0].length)
  return starts
}

function writeManifest(name: string, text: string): string {
  const path = join(manifests, name)
  writeFileSync(path, text)
  return path
}

const configMapV1 = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels:
    app: verbs
    stage: one
data:
  color: blue
  size: large
`

const configMapV2 = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels:
    app: verbs
data:
  color: green
`

const podManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: verbs
spec:
  containers:
  - name: main
    image: shoal-test/busybox:latest
    command: [sleep, "3600"]
    env:
    - name: GREETING
      value: hello
`

const namespaceManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: verbs-ns
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: elsewhere
  namespace: verbs-ns
  labels:
    app: verbs
data:
  k: v
`

test.before(async () => {
  mkdirSync(dataDir, { recursive: true })
  mkdirSync(manifests, { recursive: true })
  const log = openSync(join(root, 'agent.log'), 'a')
  peer = spawn(
    process.execPath,
    [
      shoalBin,
      'agent',
      '--data-dir',
      dataDir,
      '--name',
      'solo',
      '--p2p',
      `/ip4/${IP}/tcp/7400`,
      '--api',
      `${IP}:6443`,
      '--bootstrap-expect',
      '1',
      '--runtime',
      'process',
      // The verbs are checked against objects at rest: no controller acts on them here, and
      // no service proxy puts their cluster IPs on this host.
      '--controllers',
      'none',
      '--no-service-proxy',
    ],
    { stdio: ['ignore', log, log] },
  )
  const deadline = Date.now() + 30_000
  for (;;) {
    const r = shoal(['cluster', 'status', '-o', 'json'])
    if (r.code === 0 && (JSON.parse(r.stdout) as { leader: unknown }).leader) break
    if (Date.now() > deadline || peer.exitCode !== null) {
      throw new Error(
        `the peer did not elect itself:\n${readFileSync(join(root, 'agent.log'), 'utf8').slice(-3000)}`,
      )
    }
    await new Promise((r) => setTimeout(r, 250))
  }
})

test.after(async () => {
  const child = peer
  if (child && child.exitCode === null && child.signalCode === null) {
    await new Promise<void>((done) => {
      child.once('exit', () => done())
      child.kill('SIGKILL')
    })
  }
  cleanUp()
})

// ---------------------------------------------------------------------------------------------
// The pure parts

test('pure: the apply patch deletes what the last apply had, keeps defaults, replaces changed lists', () => {
  const original = { a: 1, m: { c: 1, d: 2 }, l: [{ name: 'x', image: 'i1' }] }
  const current = {
    a: 1,
    m: { c: 1, d: 2, e: 3 },
    l: [{ name: 'x', image: 'i1', pull: 'Always' }],
    status: {},
  }
  assert.equal(threeWayMergePatch(original, original, current), {})
  assert.equal(threeWayMergePatch(original, { a: 1, m: { c: 2 }, l: original.l }, current), {
    m: { c: 2, d: null },
  })
  const newList = [{ name: 'x', image: 'i2' }]
  assert.equal(threeWayMergePatch(original, { ...original, l: newList }, current), { l: newList })
  // Someone else changed a field the manifest sets: it is set back.
  assert.equal(threeWayMergePatch(original, original, { ...current, a: 5 }), { a: 1 })
  // Without a last applied configuration nothing is deleted.
  assert.equal(threeWayMergePatch(undefined, { a: 1 }, current), {})
})

test('pure: tables align like kubectl (min width 6, 3 spaces), describe like Go tabwriter', () => {
  assert.is(
    new ColumnAligner().format([
      ['NAME', 'DATA', 'AGE'],
      ['settings', '2', '5s'],
    ]),
    'NAME       DATA   AGE\nsettings   2      5s\n',
  )
  assert.is(
    tabwrite('Name:\tweb\nAnnotations:\t<none>\nContainers:\n  c:\n    Image:\tx\n', 0, 2),
    ['Name:         web', 'Annotations:  <none>', 'Containers:', '  c:', '    Image:  x', ''].join('\n'),
  )
  assert.equal(
    parseResourceArgs(['rc,svc', 'a']).map((r) => [r.type.resource, r.names]),
    [
      ['replicationcontrollers', ['a']],
      ['services', ['a']],
    ],
  )
  assert.equal(
    parseResourceArgs(['po/a', 'cm/b', 'pod/c']).map((r) => [r.type.resource, r.names]),
    [
      ['pods', ['a', 'c']],
      ['configmaps', ['b']],
    ],
  )
})

// ---------------------------------------------------------------------------------------------
// Against the peer

test('apply: created, then unchanged, then configured after an edit (removed fields go)', () => {
  const guestbook = guestbookDir()
  assert.is(
    ok(['apply', '-f', guestbook]),
    [
      'replicationcontroller/frontend created',
      'service/frontend created',
      'replicationcontroller/redis-master created',
      'replicationcontroller/redis-slave created',
      'service/redis-slave created',
      '',
    ].join('\n'),
  )
  assert.is(
    ok(['apply', '-f', guestbook]),
    [
      'replicationcontroller/frontend unchanged',
      'service/frontend unchanged',
      'replicationcontroller/redis-master unchanged',
      'replicationcontroller/redis-slave unchanged',
      'service/redis-slave unchanged',
      '',
    ].join('\n'),
  )
  const frontend = json<Obj>(['get', 'rc', 'frontend'])
  const lastApplied = JSON.parse(frontend.metadata.annotations?.[LAST_APPLIED_ANNOTATION] ?? '{}') as Obj
  assert.is(lastApplied.metadata.name, 'frontend')
  assert.is((lastApplied.spec as { replicas: number }).replicas, 3)

  // Edited: one file from stdin.
  const edited = readFileSync(join(guestbook, 'frontend-controller.yaml'), 'utf8').replace(
    'replicas: 3',
    'replicas: 2',
  )
  assert.is(ok(['apply', '-f', '-'], edited), 'replicationcontroller/frontend configured\n')
  assert.is((json<Obj>(['get', 'rc', 'frontend']).spec as { replicas: number }).replicas, 2)

  // Our own manifests: a directory of two files (one with two documents), in name order.
  writeManifest('a-namespace.yaml', namespaceManifest)
  writeManifest('b-settings.yaml', configMapV1)
  writeFileSync(join(manifests, 'ignored.txt'), 'not a manifest')
  assert.is(
    ok(['apply', '-f', manifests]),
    'namespace/verbs-ns created\nconfigmap/elsewhere created\nconfigmap/settings created\n',
  )
  assert.is(ok(['apply', '-f', join(manifests, 'b-settings.yaml')]), 'configmap/settings unchanged\n')
  writeManifest('b-settings.yaml', configMapV2)
  assert.is(ok(['apply', '-f', join(manifests, 'b-settings.yaml')]), 'configmap/settings configured\n')
  const settings = json<Obj>(['get', 'cm', 'settings'])
  assert.equal(settings.data, { color: 'green' })
  assert.equal(settings.metadata.labels, { app: 'verbs' })
  assert.is(ok(['apply', '-f', join(manifests, 'b-settings.yaml')]), 'configmap/settings unchanged\n')

  // create -f: a pod; a second create is AlreadyExists (exit 1, kubectl's line).
  const pod = writeManifest('pod.yaml', podManifest)
  assert.is(ok(['create', '-f', pod]), 'pod/web created\n')
  fails(['create', '-f', pod], 1, /^Error from server \(AlreadyExists\): pods "web" already exists\n$/)
  // apply on an object create made: a warning, then it is managed.
  const applied = shoal(['apply', '-f', pod])
  assert.is(applied.code, 0, applied.stderr)
  assert.match(applied.stderr, /last-applied-configuration/)
  assert.is(ok(['apply', '-f', pod]), 'pod/web unchanged\n')
})

test('get: table, wide, json, yaml, name; TYPE/NAME, TYPE1,TYPE2, -l, -A, --show-labels', () => {
  const table = ok(['get', 'rc'])
  const lines = table.trimEnd().split('\n')
  assert.match(lines[0]!, /^NAME {3,}DESIRED {3}CURRENT {3}READY {3}AGE$/)
  assert.is(lines.length, 4)
  const starts = columnStarts(lines[0]!)
  for (const line of lines.slice(1)) assert.equal(columnStarts(line), starts, line)
  assert.match(table, /\nfrontend {3,}2 {9}0 {9}0 {3}/)

  const wide = ok(['get', 'rc', 'frontend', '-o', 'wide']).split('\n')
  assert.match(wide[0]!, /CONTAINERS {3}IMAGES {3,}SELECTOR$/)
  assert.match(wide[1]!, /php-redis {3,}kubernetes\/example-guestbook-php-redis:v3 {3}name=frontend$/)

  const one = json<Obj>(['get', 'rc', 'frontend'])
  assert.is(one.kind, 'ReplicationController')
  const list = json<Obj>(['get', 'svc'])
  assert.is(list.kind, 'List')
  assert.equal(
    list.items!.map((i) => [i.kind, i.metadata.name]),
    [
      ['Service', 'frontend'],
      ['Service', 'redis-slave'],
    ],
  )
  const several = json<Obj>(['get', 'rc/frontend', 'svc/frontend'])
  assert.equal(
    several.items!.map((i) => i.kind),
    ['ReplicationController', 'Service'],
  )
  const yaml = parseYaml(ok(['get', 'cm', 'settings', '-o', 'yaml'])) as Obj
  assert.equal(yaml.data, { color: 'green' })
  assert.is(
    ok(['get', 'rc/redis-master', 'svc/frontend', '-o', 'name']),
    'replicationcontroller/redis-master\nservice/frontend\n',
  )

  // Several types: a table each, names prefixed with the type, a blank line between.
  const both = ok(['get', 'rc,svc', '-l', 'name=frontend'])
  assert.match(
    both,
    /^NAME {3,}DESIRED.*\nreplicationcontroller\/frontend {3,}2 .*\n\nNAME {3,}TYPE .*\nservice\/frontend {3,}ClusterIP/,
  )

  // -l, and the empty answer.
  assert.is(ok(['get', 'cm', '-l', 'app=verbs', '-o', 'name']), 'configmap/settings\n')
  assert.is(ok(['get', 'pods', '-l', 'app=nothing']), 'No resources found in default namespace.\n')
  assert.is(ok(['get', 'pods', '-n', 'verbs-ns']), 'No resources found in verbs-ns namespace.\n')

  // -A: a NAMESPACE column first.
  const all = ok(['get', 'cm', '-A', '-l', 'app=verbs']).trimEnd().split('\n')
  assert.match(all[0]!, /^NAMESPACE {3}NAME {3,}DATA {3}AGE$/)
  assert.equal(
    all.slice(1).map((l) => l.split(/\s+/).slice(0, 2)),
    [
      ['default', 'settings'],
      ['verbs-ns', 'elsewhere'],
    ],
  )
  assert.match(ok(['get', 'cm', 'elsewhere', '-n', 'verbs-ns', '--show-labels']), /LABELS\n.*app=verbs\n$/)
  assert.match(ok(['get', 'namespaces']), /\nverbs-ns {3,}Active /)

  // A missing name among others: the others printed, the error on stderr, exit 1.
  const partial = shoal(['get', 'rc', 'frontend', 'nope'])
  assert.is(partial.code, 1)
  assert.match(partial.stdout, /^NAME .*\nfrontend /)
  assert.is(partial.stderr, 'Error from server (NotFound): replicationcontrollers "nope" not found\n')
  assert.is(ok(['get', 'rc', 'nope', '--ignore-not-found']), '')

  // The namespace of the kubeconfig's context is the default.
  const kubeconfig = parseYaml(ok(['kubeconfig'])) as { contexts: { context: { namespace?: string } }[] }
  for (const c of kubeconfig.contexts) c.context.namespace = 'verbs-ns'
  const kubeconfigPath = join(root, 'kubeconfig')
  writeFileSync(kubeconfigPath, toYaml(kubeconfig))
  const viaKubeconfig = spawnSync(
    process.execPath,
    [shoalBin, 'get', 'cm', '-o', 'name', '--kubeconfig', kubeconfigPath],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  )
  assert.is(viaKubeconfig.status, 0, viaKubeconfig.stderr)
  assert.is(viaKubeconfig.stdout, 'configmap/elsewhere\n')
})

test('describe: metadata, spec summary, status and the object events', () => {
  const rc = ok(['describe', 'rc', 'frontend'])
  assert.match(
    rc,
    /^Name: {9}frontend\nNamespace: {4}default\nSelector: {5}name=frontend\nLabels: {7}name=frontend\n/,
  )
  assert.match(rc, /\nAnnotations: {2}<none>\n/) // the last-applied annotation is not shown
  assert.match(rc, /\nReplicas: +0 current \/ 2 desired\n/)
  assert.match(
    rc,
    /\nPod Template:\n {2}Labels: +name=frontend\n {2}Containers:\n {4}php-redis:\n {6}Image: +kubernetes\/example-guestbook-php-redis:v3\n {6}Port: +80\/TCP\n/,
  )
  assert.match(rc, /\nEvents: +<none>\n$/)

  // An event about the pod (by name, namespace, kind and uid) shows up; one about another uid does not.
  const pod = json<Obj>(['get', 'pod', 'web'])
  const event = (name: string, uid: string, message: string) => `apiVersion: v1
kind: Event
metadata:
  name: ${name}
involvedObject:
  kind: Pod
  name: web
  namespace: default
  uid: ${uid}
reason: Pulled
message: ${message}
type: Normal
source:
  component: kubelet
count: 3
firstTimestamp: "${new Date(Date.now() - 600_000).toISOString().replace(/\.\d+Z$/, 'Z')}"
lastTimestamp: "${new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z')}"
`
  ok(
    ['create', '-f', '-'],
    `${event('web.1', pod.metadata.uid, 'pulled the image')}---\n${event('web.2', 'other-uid', 'an older pod')}`,
  )
  const described = ok(['describe', 'pod/web'])
  assert.match(described, /^Name: +web\nNamespace: +default\n/)
  assert.match(described, /\nLabels: +app=verbs\n/)
  assert.match(described, /\nStatus: +Pending\n/)
  assert.match(described, /\nContainers:\n {2}main:\n {4}Image: +shoal-test\/busybox:latest\n/)
  assert.match(described, /\n {4}Command:\n {6}sleep\n {6}3600\n/)
  assert.match(described, /\n {6}GREETING: +hello\n/)
  assert.match(
    described,
    /\nEvents:\n {2}Type {4}Reason {2}Age {2,}From {5}Message\n {2}---- {4}------ {2}---- {2,}---- {5}-------\n {2}Normal {2}Pulled {2}6\ds \(x3 over 10m\) {2}kubelet {2}pulled the image\n$/,
  )
  assert.not.match(described, /an older pod/)

  const cm = ok(['describe', 'cm', 'settings'])
  assert.match(cm, /\nData\n====\ncolor:\n----\ngreen\n/)
  assert.match(ok(['describe', 'ns', 'verbs-ns']), /^Name: +verbs-ns\n.*\nStatus: +Active\n/s)
  // A prefix describes every match; a name nothing starts with is NotFound.
  assert.match(ok(['describe', 'rc', 'redis']), /Name: +redis-master\n[\s\S]*\n\n\nName: +redis-slave\n/)
  fails(
    ['describe', 'rc', 'nope'],
    1,
    /^Error from server \(NotFound\): replicationcontrollers "nope" not found\n$/,
  )
})

test('label and annotate: add, refuse to overwrite, --overwrite, remove with KEY-', () => {
  assert.is(ok(['label', 'rc', 'frontend', 'tier=web']), 'replicationcontroller/frontend labeled\n')
  fails(
    ['label', 'rc', 'frontend', 'tier=db'],
    1,
    /'tier' already has a value \(web\), and --overwrite is false\n$/,
  )
  assert.is(ok(['label', 'rc', 'frontend', 'tier=web']), 'replicationcontroller/frontend not labeled\n')
  assert.is(
    ok(['label', 'rc/frontend', 'tier=db', '--overwrite']),
    'replicationcontroller/frontend labeled\n',
  )
  assert.is(json<Obj>(['get', 'rc', 'frontend']).metadata.labels?.tier, 'db')
  assert.is(ok(['label', 'pods', '-l', 'app=verbs', 'checked=yes']), 'pod/web labeled\n')
  assert.is(
    ok(['label', 'rc', 'frontend', 'tier-', 'absent-']),
    'label "absent" not found.\nreplicationcontroller/frontend unlabeled\n',
  )
  assert.equal(json<Obj>(['get', 'rc', 'frontend']).metadata.labels, { name: 'frontend' })

  assert.is(ok(['annotate', 'cm', 'settings', 'owner=team a']), 'configmap/settings annotated\n')
  fails(
    ['annotate', 'cm', 'settings', 'owner=team b'],
    1,
    /'owner' already has a value \(team a\), and --overwrite is false/,
  )
  ok(['annotate', 'cm/settings', 'owner=team b', '--overwrite'])
  assert.is(json<Obj>(['get', 'cm', 'settings']).metadata.annotations?.owner, 'team b')
  ok(['annotate', 'cm', 'settings', 'owner-'])
  assert.not.ok('owner' in (json<Obj>(['get', 'cm', 'settings']).metadata.annotations ?? {}))
  // The last-applied annotation survived: the next apply is still a no-op.
  assert.is(ok(['apply', '-f', join(manifests, 'b-settings.yaml')]), 'configmap/settings unchanged\n')
})

test('scale: --replicas through /scale; --current-replicas is a precondition', () => {
  assert.is(ok(['scale', 'rc', 'frontend', '--replicas=4']), 'replicationcontroller/frontend scaled\n')
  assert.is((json<Obj>(['get', 'rc', 'frontend']).spec as { replicas: number }).replicas, 4)
  fails(
    ['scale', 'rc', 'frontend', '--replicas=5', '--current-replicas=3'],
    1,
    /Expected replicas to be 3, was 4\n$/,
  )
  assert.is((json<Obj>(['get', 'rc', 'frontend']).spec as { replicas: number }).replicas, 4)
  assert.is(
    ok(['scale', 'rc/frontend', '--replicas', '5', '--current-replicas', '4']),
    'replicationcontroller/frontend scaled\n',
  )
  assert.is((json<Obj>(['get', 'rc', 'frontend']).spec as { replicas: number }).replicas, 5)
  fails(['scale', 'svc', 'frontend', '--replicas=2'], 2, /services cannot be scaled/)
  fails(
    ['scale', 'rc', 'nope', '--replicas=2'],
    1,
    /^Error from server \(NotFound\): replicationcontrollers "nope" not found\n$/,
  )
})

test('get -w: prints the list, then a row per change, until SIGINT', async () => {
  const child = spawn(process.execPath, [shoalBin, 'get', 'rc', '-w', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString()
  })
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)))
  const waitFor = async (what: string, pattern: RegExp): Promise<void> => {
    const deadline = Date.now() + 15_000
    while (!pattern.test(out)) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`get -w: no ${what}; stdout:\n${out}\nstderr:\n${err}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  try {
    await waitFor('list', /^NAME .*\nfrontend .*\nredis-master .*\nredis-slave .*\n$/)
    ok(['scale', 'rc', 'redis-slave', '--replicas=7'])
    await waitFor('row for the change', /\nredis-slave {3,}7 {3,}/)
    const lines = out.trimEnd().split('\n')
    assert.is(lines.length, 5, out)
    assert.equal(columnStarts(lines[4]!), columnStarts(lines[0]!))
    child.kill('SIGINT')
    assert.is(await exited, 0, err)
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
  }
})

test('delete: by name, -f, -l, --all, --ignore-not-found; a namespace takes its objects', () => {
  assert.is(ok(['delete', 'pod', 'web']), 'pod "web" deleted\n')
  fails(['delete', 'pod', 'web'], 1, /^Error from server \(NotFound\): pods "web" not found\n$/)
  assert.is(ok(['delete', 'pod', 'web', '--ignore-not-found']), '')
  assert.is(
    ok([
      'delete',
      '-f',
      join(guestbookDir(), 'redis-slave-controller.yaml'),
      '-f',
      join(guestbookDir(), 'redis-slave-service.yaml'),
    ]),
    'replicationcontroller "redis-slave" deleted\nservice "redis-slave" deleted\n',
  )
  assert.is(
    ok(['delete', 'rc,svc', '-l', 'name=frontend']),
    'replicationcontroller "frontend" deleted\nservice "frontend" deleted\n',
  )
  assert.is(ok(['delete', 'rc,svc', '-l', 'name=frontend']), 'No resources found\n')
  assert.is(ok(['delete', 'rc/redis-master', '-o', 'name']), 'replicationcontroller/redis-master\n')
  assert.is(ok(['get', 'rc,svc']), 'No resources found in default namespace.\n')
  assert.is(ok(['delete', 'ns', 'verbs-ns']), 'namespace "verbs-ns" deleted\n')
  assert.is(ok(['get', 'cm', '-A', '-l', 'app=verbs', '-o', 'name']), 'configmap/settings\n')
  assert.is(ok(['delete', 'ev', 'web.1', 'web.2']), 'event "web.1" deleted\nevent "web.2" deleted\n')
  assert.is(ok(['delete', 'cm', '--all']), 'configmap "settings" deleted\n')
  assert.is(ok(['get', 'cm']), 'No resources found in default namespace.\n')
  fails(['delete', 'ns', 'default'], 1, /^Error from server \(Forbidden\): namespaces "default" is forbidden/)
})

test("bad usage exits 2 with one line; server errors exit 1 with kubectl's line", () => {
  const usage = (args: string[], pattern: RegExp, input?: string) => {
    const r = fails(args, 2, pattern, input)
    assert.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr)
  }
  usage(['get', 'gizmos'], /the server doesn't have a resource type "gizmos"/)
  usage(['get'], /you must specify the type of resource to get/)
  usage(['get', 'pods', '-o', 'xml'], /-o xml: unable to match a printer/)
  usage(['get', 'rc,svc', '-w'], /only specify a single resource type/)
  usage(['get', 'pods', 'web', '-l', 'a=b'], /a name cannot be given together with -l/)
  usage(['get', 'pod', 'web', '-A'], /cannot be retrieved by name across all namespaces/)
  usage(['get', 'pods', 'po/web'], /no need to specify a resource type as a separate argument/)
  usage(['describe'], /you must specify the type of resource to describe/)
  usage(['delete', 'pods'], /no name was specified/)
  usage(['delete'], /you must specify the type of resource to delete/)
  usage(['apply'], /must specify -f/)
  usage(['apply', '-f', join(root, 'no-such-file.yaml')], /does not exist/)
  usage(
    ['apply', '-f', '-'],
    /^shoal: stdin: document 2 \(line 1[45], column \d+\): /,
    `${configMapV1}---\napiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n`,
  )
  usage(
    ['apply', '-f', '-'],
    /stdin: document 1: no matches for kind "Deployment" in version "apps\/v1"/,
    'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n',
  )
  usage(['apply', '-f', '-'], /stdin: document 1: kind not set/, 'apiVersion: v1\nmetadata:\n  name: d\n')
  usage(['apply', '-f', '-', '-n', 'other'], /does not match the namespace "other"/, namespaceManifest)
  usage(['label', 'rc', 'frontend'], /at least one label update is required/)
  usage(['label', 'rc', 'frontend', 'bad key=x'], /invalid label spec/)
  usage(['label', 'rc', 'frontend', 'a=1', 'a-'], /can not both modify and remove/)
  usage(['scale', 'rc', 'frontend'], /--replicas=COUNT is required/)
  usage(['scale', 'rc', 'frontend', '--replicas=-1'], /expected a whole number/)
  usage(['delete', 'pod', 'x', '--grace-period=-1'], /--grace-period -1/)

  // Refused by the server: Invalid is printed as kubectl prints it.
  const invalid = fails(
    ['create', '-f', '-'],
    1,
    /^The Pod "broken" is invalid: spec\.containers\[0\]\.image: Required value/,
    'apiVersion: v1\nkind: Pod\nmetadata:\n  name: broken\nspec:\n  containers:\n  - name: c\n',
  )
  assert.is(invalid.stdout, '')
  fails(['get', 'pods', '--server', 'http://127.0.0.1:1'], 1, /^shoal: cannot reach http:\/\/127\.0\.0\.1:1/)
})

test.run()

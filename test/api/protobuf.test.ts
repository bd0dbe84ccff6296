import '../../src/util/polyfill.js'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  decodeKubernetesProtobuf,
  isKubernetesProtobufContentType,
  KUBERNETES_PROTOBUF_CONTENT_TYPE,
  ProtobufDecodeError,
  UnsupportedProtobufKindError,
} from '../../src/api/protobuf.js'

// ---------------------------------------------------------------------------------------------
// Fixtures (test/fixtures/protobuf/README.md says where each one comes from)
// ---------------------------------------------------------------------------------------------

function fixtureDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  for (const dir of [
    resolve(here, '../../../test/fixtures/protobuf'),
    resolve(here, '../../../../test/fixtures/protobuf'),
    resolve(process.cwd(), 'test/fixtures/protobuf'),
  ])
    if (existsSync(resolve(dir, 'kubectl-create-namespace.bin'))) return dir
  throw new Error('test/fixtures/protobuf not found; run the test from the repository root')
}

const dir = fixtureDir()

function body(name: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(dir, `${name}.bin`)))
}

function expected(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(resolve(dir, `${name}.json`), 'utf8')) as Record<string, unknown>
}

/** Same value and same key order as the JSON kubectl produced. */
function assertDecodesTo(actual: Record<string, unknown>, want: Record<string, unknown>): void {
  assert.equal(actual, want)
  assert.is(JSON.stringify(actual), JSON.stringify(want))
}

// ---------------------------------------------------------------------------------------------
// A minimal protobuf encoder for hand-made bodies
// ---------------------------------------------------------------------------------------------

type Part = Uint8Array | number[]

function bytes(...parts: Part[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)))
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0))
  let offset = 0
  for (const a of arrays) {
    out.set(a, offset)
    offset += a.length
  }
  return out
}

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n))
  const out: number[] = []
  do {
    let b = Number(v & 0x7fn)
    v >>= 7n
    if (v !== 0n) b |= 0x80
    out.push(b)
  } while (v !== 0n)
  return out
}

const tag = (field: number, wire: number): number[] => varint(field * 8 + wire)
const vint = (field: number, n: number | bigint): Uint8Array => bytes(tag(field, 0), varint(n))
const len = (field: number, ...parts: Part[]): Uint8Array => {
  const payload = bytes(...parts)
  return bytes(tag(field, 2), varint(payload.length), payload)
}
const text = (field: number, s: string): Uint8Array => len(field, new TextEncoder().encode(s))
const entry = (field: number, key: string, value: string): Uint8Array =>
  len(field, text(1, key), text(2, value))

/** Unknown fields of every wire type: varint, 64-bit, length-delimited, 32-bit, and a group. */
function unknownFields(base: number): Uint8Array {
  return bytes(
    vint(base, 2n ** 63n + 5n),
    tag(base + 1, 1),
    [1, 2, 3, 4, 5, 6, 7, 8],
    text(base + 2, 'ignored'),
    tag(base + 3, 5),
    [9, 10, 11, 12],
    tag(base + 4, 3),
    vint(1, 1),
    tag(2, 3),
    text(1, 'nested group'),
    tag(2, 4),
    tag(base + 4, 4),
  )
}

const MAGIC = [0x6b, 0x38, 0x73, 0x00]

function envelope(apiVersion: string, kind: string, raw: Uint8Array, ...extra: Part[]): Uint8Array {
  return bytes(MAGIC, len(1, text(1, apiVersion), text(2, kind)), len(2, raw), ...extra)
}

function decodeError(input: Uint8Array): ProtobufDecodeError {
  try {
    decodeKubernetesProtobuf(input)
  } catch (err) {
    if (err instanceof ProtobufDecodeError) return err
    throw new Error(`expected a ProtobufDecodeError, got ${String(err)}`)
  }
  throw new Error('expected a ProtobufDecodeError, but the body decoded')
}

// ---------------------------------------------------------------------------------------------
// Real kubectl 1.32 request bodies
// ---------------------------------------------------------------------------------------------

const captured: [string, string][] = [
  ['kubectl-create-namespace', 'Namespace'],
  ['kubectl-create-configmap', 'ConfigMap'],
  ['kubectl-create-service-clusterip', 'Service'],
  ['kubectl-create-service-nodeport', 'Service'],
  ['kubectl-debug-node', 'Pod'],
  ['kubectl-debug-copy', 'Pod'],
]

for (const [name, kind] of captured) {
  test(`${name}: decodes to the JSON kubectl would have sent`, () => {
    const decoded = decodeKubernetesProtobuf(body(name))
    assert.is(decoded.apiVersion, 'v1')
    assert.is(decoded.kind, kind)
    assertDecodesTo(decoded.object, expected(name))
  })
}

test('kubectl create configmap: --from-file with non-UTF-8 content lands in binaryData as base64', () => {
  const { object } = decodeKubernetesProtobuf(body('kubectl-create-configmap'))
  assert.equal(object.binaryData, {
    'blob.bin': Buffer.from('\x00\x01\x02\xff\xfebinary', 'latin1').toString('base64'),
  })
  assert.is((object.data as Record<string, string>)['config.txt'], 'line one\nline two\n')
  assert.is((object.data as Record<string, string>).empty, '')
})

test('kubectl create service: targetPort keeps its int-or-string type; port and targetPort are always written', () => {
  const spec = decodeKubernetesProtobuf(body('kubectl-create-service-nodeport')).object.spec as {
    ports: { port: number; targetPort: number | string; nodePort: number }[]
  }
  assert.equal(
    spec.ports.map((p) => [p.port, p.targetPort, p.nodePort]),
    [
      [80, 'http', 30080],
      [443, 8443, 30080],
    ],
  )
})

test('the fixtures of the kubectl captures do carry protobuf, as kubectl sent them', () => {
  for (const [name] of captured) assert.equal([...body(name).subarray(0, 4)], MAGIC, name)
})

// ---------------------------------------------------------------------------------------------
// Hand-made edge cases, checked against kubectl's own (Go) decoding
// ---------------------------------------------------------------------------------------------

for (const kind of ['namespace', 'configmap', 'service', 'pod']) {
  test(`edge-${kind}: decodes exactly as Go's gogo-protobuf + encoding/json do`, () => {
    assertDecodesTo(decodeKubernetesProtobuf(body(`edge-${kind}`)).object, expected(`edge-${kind}`))
  })
}

test('edge cases: pointers keep zero values, times drop to seconds, repeated messages merge', () => {
  const ns = decodeKubernetesProtobuf(body('edge-namespace')).object as {
    metadata: Record<string, unknown>
    status: { conditions: Record<string, unknown>[] }
  }
  assert.is(ns.metadata.deletionGracePeriodSeconds, 0) // *int64 present on the wire
  assert.is(ns.metadata.creationTimestamp, '2025-01-02T03:04:05Z') // nanos dropped
  assert.equal(Object.keys(ns.metadata.labels as object), ['Z', 'a', 'm', 'z', 'ü']) // sorted, last duplicate wins
  assert.is((ns.metadata.labels as Record<string, string>).a, 'dup')
  assert.is(ns.status.conditions[0]!.lastTransitionTime, null) // a non-pointer Time is always written
  assert.is(ns.status.conditions[1]!.lastTransitionTime, '1970-01-01T00:00:00Z') // present, seconds 0

  const svc = decodeKubernetesProtobuf(body('edge-service')).object as {
    metadata: Record<string, unknown>
    spec: { ports: Record<string, unknown>[] }
  }
  assert.equal(svc.metadata.labels, { a: '1', b: '2' }) // metadata sent twice: merged
  assert.equal(svc.metadata.finalizers, ['f1', 'f2'])
  assert.equal(svc.spec.ports[0], { name: 'p', protocol: 'UDP', appProtocol: '', port: 0, targetPort: 0 })
})

// ---------------------------------------------------------------------------------------------
// Unknown fields
// ---------------------------------------------------------------------------------------------

test('unknown fields of every wire type are skipped in the envelope, the type meta and the object', () => {
  const want = expected('kubectl-create-namespace')
  const meta = bytes(text(1, 'demo'), unknownFields(500))
  const raw = bytes(unknownFields(100), len(1, meta), len(2, unknownFields(200)), len(3, unknownFields(300)))
  const typeMeta = len(1, unknownFields(20), text(1, 'v1'), text(2, 'Namespace'), unknownFields(40))
  const input = bytes(
    MAGIC,
    unknownFields(10),
    typeMeta,
    len(2, raw),
    unknownFields(60),
    text(3, ''),
    text(4, ''),
  )
  assertDecodesTo(decodeKubernetesProtobuf(input).object, want)
})

test('unknown fields are skipped inside nested messages, map entries and well-known types', () => {
  const port = len(
    1,
    text(1, 'web'),
    vint(3, 80),
    len(4, vint(1, 0), vint(2, 8080), unknownFields(50)),
    unknownFields(60),
  )
  const spec = len(2, port, len(2, text(1, 'app'), text(2, 'web'), unknownFields(70)), text(4, 'ClusterIP'))
  const meta = len(1, text(1, 'web'), len(8, vint(1, 1735787045), unknownFields(80)))
  const { object } = decodeKubernetesProtobuf(envelope('v1', 'Service', bytes(meta, spec)))
  assert.equal(object, {
    kind: 'Service',
    apiVersion: 'v1',
    metadata: { name: 'web', creationTimestamp: '2025-01-02T03:04:05Z' },
    spec: {
      ports: [{ name: 'web', port: 80, targetPort: 8080 }],
      selector: { app: 'web' },
      type: 'ClusterIP',
    },
    status: { loadBalancer: {} },
  })
})

test('a quantity map and an unknown volume source: values decode, unknown sources are skipped', () => {
  const container = len(
    2,
    text(1, 'c'),
    len(
      8,
      len(1, text(1, 'cpu'), len(2, text(1, '250m'))),
      len(2, text(1, 'memory'), len(2, text(1, '64Mi'))),
    ),
  )
  const iscsiVolume = len(1, text(1, 'v'), len(2, len(8, text(1, 'portal'))))
  const { object } = decodeKubernetesProtobuf(envelope('v1', 'Pod', len(2, iscsiVolume, container)))
  assert.equal(object.spec, {
    volumes: [{ name: 'v' }],
    containers: [{ name: 'c', resources: { limits: { cpu: '250m' }, requests: { memory: '64Mi' } } }],
  })
})

// ---------------------------------------------------------------------------------------------
// Unsupported kinds
// ---------------------------------------------------------------------------------------------

test('kinds other than core/v1 Namespace, ConfigMap, Service and Pod raise UnsupportedProtobufKindError', () => {
  for (const [apiVersion, kind] of [
    ['v1', 'Secret'],
    ['apps/v1', 'Deployment'],
    ['v2', 'Pod'],
    ['', ''],
  ] as const) {
    try {
      decodeKubernetesProtobuf(envelope(apiVersion, kind, new Uint8Array(0)))
      assert.unreachable(`${apiVersion}/${kind} decoded`)
    } catch (err) {
      assert.instance(err, UnsupportedProtobufKindError)
      const e = err as UnsupportedProtobufKindError
      assert.is(e.name, 'UnsupportedProtobufKindError')
      assert.is(e.apiVersion, apiVersion)
      assert.is(e.kind, kind)
      assert.not.instance(err, ProtobufDecodeError)
    }
  }
})

test('a Deployment as kubectl would send it is unsupported, not malformed', () => {
  const raw = bytes(len(1, text(1, 'web')), len(2, vint(1, 3)))
  assert.throws(
    () => decodeKubernetesProtobuf(envelope('apps/v1', 'Deployment', raw)),
    (err: unknown) => {
      return err instanceof UnsupportedProtobufKindError && /Deployment/.test(err.message)
    },
  )
})

// ---------------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------------

test('every truncation of a real body fails cleanly unless it ends on a field boundary of the envelope', () => {
  const full = body('kubectl-create-service-nodeport')
  // magic, type meta {0x0a, length, ...}, then the object {0x12, two-byte length, ...}
  const typeMetaEnd = 4 + 2 + full[5]!
  assert.is(full[typeMetaEnd], 0x12)
  const rawEnd = typeMetaEnd + 3 + (full[typeMetaEnd + 1]! & 0x7f) + 128 * full[typeMetaEnd + 2]!
  let failures = 0
  for (let n = 0; n < full.length; n++) {
    try {
      decodeKubernetesProtobuf(full.subarray(0, n))
      assert.ok(n === typeMetaEnd || n >= rawEnd, `a prefix of ${n} bytes decoded`)
    } catch (err) {
      // just the magic: an envelope without a kind
      if (n === 4) assert.instance(err, UnsupportedProtobufKindError)
      else assert.instance(err, ProtobufDecodeError, `a prefix of ${n} bytes: ${String(err)}`)
      failures++
    }
  }
  assert.is(failures, full.length - 3) // the envelope's end, and before its two trailing empty strings
})

test('truncated varints, lengths and fixed-width fields are ProtobufDecodeErrors', () => {
  const ns = (raw: Uint8Array) => envelope('v1', 'Namespace', raw)
  assert.match(decodeError(ns(bytes([0x38, 0x80]))).message, /truncated varint/)
  assert.match(decodeError(ns(bytes([0x0a, 0x05, 0x0a]))).message, /overruns/)
  assert.match(decodeError(ns(bytes([0x49, 1, 2, 3]))).message, /truncated fixed-width/)
  assert.match(decodeError(ns(bytes([0x4d, 1, 2]))).message, /truncated fixed-width/)
  assert.match(decodeError(ns(bytes([0x4b, 0x08, 0x01]))).message, /unterminated group/)
  assert.match(decodeError(bytes(MAGIC, [0x0a, 0x04, 0x0a, 0x02, 0x76])).message, /overruns/)
})

test('bad magic, illegal tags and wire types, and bad well-known values are ProtobufDecodeErrors', () => {
  const ns = (raw: Uint8Array) => envelope('v1', 'Namespace', raw)
  const svcPort = (targetPort: Uint8Array) =>
    envelope('v1', 'Service', len(2, len(1, vint(3, 80), len(4, targetPort))))
  assert.match(decodeError(new Uint8Array(0)).message, /k8s/)
  assert.match(decodeError(bytes([0x6b, 0x38, 0x73])).message, /k8s/)
  assert.match(decodeError(bytes([0x7b, 0x7d])).message, /k8s/) // JSON sent with the wrong Content-Type
  assert.match(decodeError(ns(bytes([0x00, 0x00]))).message, /illegal field number 0/)
  assert.match(decodeError(ns(bytes([0x4e, 0x00]))).message, /illegal wire type 6/)
  assert.match(decodeError(ns(bytes([0x4f, 0x00]))).message, /illegal wire type 7/)
  assert.match(decodeError(ns(bytes([0x4c]))).message, /end-group/)
  assert.match(decodeError(ns(vint(1, 5))).message, /wrong wire type 0 for field 1 of Namespace/)
  assert.match(decodeError(ns(len(1, len(7, [1])))).message, /wrong wire type 2 for field 7 of ObjectMeta/)
  assert.match(decodeError(ns(len(1, len(8, text(1, 'x'))))).message, /wrong wire type 2 for field 1 of Time/)
  assert.match(decodeError(ns(bytes([0x38, ...Array(10).fill(0xff), 0x01]))).message, /longer than 10 bytes/)
  assert.match(
    decodeError(bytes(MAGIC, vint(1, 1))).message,
    /wrong wire type 0 for field 1 of runtime.Unknown/,
  )
  assert.match(decodeError(svcPort(vint(1, 2))).message, /invalid IntOrString type 2/)
  const pod = (q: string) =>
    envelope('v1', 'Pod', len(2, len(2, text(1, 'c'), len(8, len(1, text(1, 'cpu'), len(2, text(1, q)))))))
  assert.match(decodeError(pod('lots')).message, /invalid resource quantity "lots"/)
  assert.match(decodeError(pod('')).message, /invalid resource quantity ""/)
  const fields = len(1, len(17, len(7, text(1, '{not json'))))
  assert.match(decodeError(ns(fields)).message, /fieldsV1/)
  const gzipped = envelope('v1', 'Namespace', new Uint8Array(0), text(3, 'gzip'))
  assert.match(decodeError(gzipped).message, /contentEncoding/)
  const otherType = envelope('v1', 'Namespace', new Uint8Array(0), text(4, 'application/json'))
  assert.match(decodeError(otherType).message, /contentType/)
  for (const err of [decodeError(new Uint8Array(0)), decodeError(ns(bytes([0x4c])))]) {
    assert.is(err.name, 'ProtobufDecodeError')
    assert.instance(err, Error)
  }
})

// ---------------------------------------------------------------------------------------------
// Details of the JSON shape
// ---------------------------------------------------------------------------------------------

test('an empty object message still has the structs Go always writes', () => {
  const decode = (kind: string) => decodeKubernetesProtobuf(envelope('v1', kind, new Uint8Array(0))).object
  const metadata = { creationTimestamp: null }
  assert.equal(decode('Namespace'), { kind: 'Namespace', apiVersion: 'v1', metadata, spec: {}, status: {} })
  assert.equal(decode('ConfigMap'), { kind: 'ConfigMap', apiVersion: 'v1', metadata })
  assert.equal(decode('Service'), {
    kind: 'Service',
    apiVersion: 'v1',
    metadata,
    spec: {},
    status: { loadBalancer: {} },
  })
  assert.equal(decode('Pod'), {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata,
    spec: { containers: null },
    status: {},
  })
})

test('map keys sort by code point (as Go sorts UTF-8), and odd keys stay own data properties', () => {
  const meta = len(
    1,
    entry(11, '\u{1f600}', 'astral'),
    entry(11, '\ufffd', 'bmp'),
    entry(11, '__proto__', 'x'),
  )
  const { object } = decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', meta))
  const labels = (object.metadata as { labels: Record<string, string> }).labels
  assert.equal(Object.keys(labels), ['__proto__', '\ufffd', '\u{1f600}'])
  assert.is(Object.getPrototypeOf(labels), Object.prototype)
  assert.is(Object.getOwnPropertyDescriptor(labels, '__proto__')?.value, 'x')
})

test('invalid UTF-8 becomes U+FFFD per bad byte, as Go JSON-encodes it', () => {
  const bad = Uint8Array.from([0x61, 0xff, 0x62, 0xe2, 0x82, 0x63, 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98, 0x80])
  const { object } = decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', len(1, len(1, bad))))
  assert.is((object.metadata as { name: string }).name, 'a\ufffdb\ufffd\ufffdc\ufffd\ufffd\ufffd\u{1f600}')
})

test('64-bit and negative integers decode with their Go types', () => {
  const meta = len(1, vint(7, 2n ** 40n), vint(10, -30))
  const spec = len(2, len(2, text(1, 'c')), vint(25, -5), vint(4, 2n ** 53n - 1n))
  const { object } = decodeKubernetesProtobuf(envelope('v1', 'Pod', bytes(meta, spec)))
  const m = object.metadata as Record<string, unknown>
  const s = object.spec as Record<string, unknown>
  assert.is(m.generation, 2 ** 40)
  assert.is(m.deletionGracePeriodSeconds, -30)
  assert.is(s.priority, -5)
  assert.is(s.terminationGracePeriodSeconds, 2 ** 53 - 1)
})

test('Content-Type detection', () => {
  assert.is(KUBERNETES_PROTOBUF_CONTENT_TYPE, 'application/vnd.kubernetes.protobuf')
  assert.ok(isKubernetesProtobufContentType('application/vnd.kubernetes.protobuf'))
  assert.ok(isKubernetesProtobufContentType('Application/VND.Kubernetes.Protobuf; charset=binary'))
  assert.ok(isKubernetesProtobufContentType(' application/vnd.kubernetes.protobuf ;stream=watch'))
  assert.not.ok(isKubernetesProtobufContentType('application/vnd.kubernetes.protobuf+json'))
  assert.not.ok(isKubernetesProtobufContentType('application/json'))
  assert.not.ok(isKubernetesProtobufContentType(undefined))
})

test.run()

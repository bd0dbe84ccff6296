import '../../src/util/polyfill.js'
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { type ClientHttp2Session, connect as connectHttp2 } from 'node:http2'
import { request as httpsRequestRaw } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ApiServer } from '../../src/api/api-server.js'
import { httpsRequest } from '../../src/api/https-client.js'
import {
  isProxyableIp,
  type ProxyTarget,
  parseProxyPath,
  resolveProxyTarget,
  splitSchemeNamePort,
} from '../../src/api/proxy-subresource.js'
import { deriveClusterCa, issueServingCert } from '../../src/api/tls.js'
import type { ClusterManager } from '../../src/p2p/cluster-manager.js'
import { newClusterSecret } from '../../src/p2p/secret.js'
import type { Raft } from '../../src/raft/raft.js'
import { StoreError } from '../../src/store/errors.js'
import { ObjectStore, type StoreCommand } from '../../src/store/object-store.js'
import { LocalStoreClient } from '../../src/store/store-client.js'
import type { KubeObject } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/logger.js'
import { SeededRng } from '../../src/util/random.js'

// ---------------------------------------------------------------- fixtures

const pod = (name: string, ip: string | undefined, ports: { name?: string; containerPort: number }[] = []) =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      containers: [
        { name: 'side', image: 'busybox' },
        { name: 'main', image: 'busybox', ...(ports.length > 0 ? { ports } : {}) },
      ],
    },
    status: ip === undefined ? { phase: 'Pending' } : { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  }) as KubeObject

const service = (
  name: string,
  ports: { name?: string; port: number; targetPort?: number | string }[],
  clusterIP = '10.96.0.10',
) =>
  ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { clusterIP, selector: { app: name }, ports },
  }) as KubeObject

const endpoints = (name: string, subsets: unknown[]) =>
  ({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace: 'default' },
    subsets,
  }) as KubeObject

/** A store of a few objects, as `resolveProxyTarget` reads it. */
function fakeStore(objects: KubeObject[]): {
  get(r: string, ns: string | undefined, n: string): KubeObject | undefined
} {
  const byKey = new Map<string, KubeObject>()
  for (const o of objects) byKey.set(`${o.kind}/${o.metadata.namespace}/${o.metadata.name}`, o)
  const kinds: Record<string, string> = { pods: 'Pod', services: 'Service', endpoints: 'Endpoints' }
  return { get: (r, ns, n) => byKey.get(`${kinds[r]}/${ns}/${n}`) }
}

function expectTarget(result: ProxyTarget | StoreError): ProxyTarget {
  if (result instanceof StoreError) throw new Error(`expected a target, got ${result.code} ${result.message}`)
  return result
}

function expectError(result: ProxyTarget | StoreError, code: number, reason: string, message?: string): void {
  if (!(result instanceof StoreError))
    throw new Error(`expected ${code}, got target ${JSON.stringify(result)}`)
  assert.is(result.code, code, result.message)
  assert.is(result.reason, reason)
  if (message !== undefined) assert.is(result.message, message)
}

// ---------------------------------------------------------------- the pure parts

const pure = suite('proxy subresource: parsing and target resolution')

pure('parseProxyPath takes the kind, namespace, name and the still-encoded rest', () => {
  assert.equal(parseProxyPath('/api/v1/namespaces/ns1/services/https:web:8443/proxy/a%2Fb/c'), {
    kind: 'services',
    namespace: 'ns1',
    nameWithPort: 'https:web:8443',
    rest: '/a%2Fb/c',
  })
  assert.is(parseProxyPath('/api/v1/namespaces/ns1/pods/p/proxy')?.rest, '')
  assert.is(parseProxyPath('/api/v1/namespaces/ns1/pods/p/proxy/')?.rest, '/')
  assert.is(parseProxyPath('/api/v1/namespaces/ns1/pods/p%3A80/proxy/x')?.nameWithPort, 'p:80')
  assert.is(parseProxyPath('/api/v1/namespaces/ns1/pods/p/log'), null)
  assert.is(parseProxyPath('/api/v1/namespaces/ns1/nodes/n/proxy/'), null)
  assert.is(parseProxyPath('/api/v1/namespaces/ns1/pods'), null)
  assert.is(parseProxyPath('/api/v1/namespaces/ns1/pods/%E0%A4%A/proxy/'), null)
})

pure('splitSchemeNamePort follows Kubernetes: NAME, NAME:PORT, SCHEME:NAME:PORT', () => {
  assert.equal(splitSchemeNamePort('web'), { scheme: '', name: 'web', port: '' })
  assert.equal(splitSchemeNamePort('web:http'), { scheme: '', name: 'web', port: 'http' })
  assert.equal(splitSchemeNamePort('https:web:443'), { scheme: 'https', name: 'web', port: '443' })
  assert.equal(splitSchemeNamePort(':web:80'), { scheme: '', name: 'web', port: '80' })
  assert.is(splitSchemeNamePort('ftp:web:21'), null)
  assert.is(splitSchemeNamePort(':80'), null)
  assert.is(splitSchemeNamePort('a:b:c:d'), null)
})

pure('isProxyableIp refuses unspecified, link-local, multicast; allows loopback (process runtime)', () => {
  for (const ip of ['10.244.1.7', '127.0.62.1', '127.200.0.3', 'fd00::1', '::1'])
    assert.ok(isProxyableIp(ip), ip)
  for (const ip of [
    '',
    'nope',
    '0.0.0.0',
    '169.254.169.254',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    'fe80::1',
    'ff02::1',
  ])
    assert.not.ok(isProxyableIp(ip), ip)
})

pure('pods: numeric port, named container port, first declared port, default 80/443', () => {
  const store = fakeStore([
    pod('web', '10.244.0.7', [
      { name: 'http', containerPort: 8080 },
      { name: 'metrics', containerPort: 9090 },
    ]),
    pod('bare', '10.244.0.8'),
  ])
  assert.equal(expectTarget(resolveProxyTarget(store, 'pods', 'default', 'web:3000')), {
    scheme: 'http',
    host: '10.244.0.7',
    port: 3000,
  })
  assert.is(expectTarget(resolveProxyTarget(store, 'pods', 'default', 'web:metrics')).port, 9090)
  assert.is(expectTarget(resolveProxyTarget(store, 'pods', 'default', 'web')).port, 8080)
  assert.equal(expectTarget(resolveProxyTarget(store, 'pods', 'default', 'https:web:')), {
    scheme: 'https',
    host: '10.244.0.7',
    port: 8080,
  })
  assert.is(expectTarget(resolveProxyTarget(store, 'pods', 'default', 'bare')).port, 80)
  assert.is(expectTarget(resolveProxyTarget(store, 'pods', 'default', 'https:bare:')).port, 443)
  expectError(
    resolveProxyTarget(store, 'pods', 'default', 'web:grpc'),
    503,
    'ServiceUnavailable',
    'no container port "grpc" found for pod "web"',
  )
  expectError(resolveProxyTarget(store, 'pods', 'default', 'web:70000'), 503, 'ServiceUnavailable')
})

pure('pods: missing pod 404, pod without IP 400 (address not allowed), malformed name 400', () => {
  const store = fakeStore([pod('pending', undefined), pod('odd', '169.254.169.254')])
  expectError(
    resolveProxyTarget(store, 'pods', 'default', 'nope:80'),
    404,
    'NotFound',
    'pods "nope" not found',
  )
  expectError(resolveProxyTarget(store, 'pods', 'other', 'pending'), 404, 'NotFound')
  expectError(
    resolveProxyTarget(store, 'pods', 'default', 'pending'),
    400,
    'BadRequest',
    'address not allowed: pod "pending" has no IP address yet',
  )
  expectError(resolveProxyTarget(store, 'pods', 'default', 'odd:80'), 400, 'BadRequest')
  expectError(resolveProxyTarget(store, 'pods', 'default', 'ftp:pending:80'), 400, 'BadRequest')
})

pure('services: port by name or number maps to the endpoint port of the same name', () => {
  const store = fakeStore([
    service('web', [
      { name: 'http', port: 80, targetPort: 8080 },
      { name: 'admin', port: 81, targetPort: 'admin' },
    ]),
    endpoints('web', [
      {
        addresses: [{ ip: '10.244.0.7' }],
        notReadyAddresses: [{ ip: '10.244.0.99' }],
        ports: [
          { name: 'http', port: 8080, protocol: 'TCP' },
          { name: 'admin', port: 9000, protocol: 'TCP' },
        ],
      },
    ]),
  ])
  assert.equal(expectTarget(resolveProxyTarget(store, 'services', 'default', 'web:http')), {
    scheme: 'http',
    host: '10.244.0.7',
    port: 8080,
  })
  assert.is(expectTarget(resolveProxyTarget(store, 'services', 'default', 'web:81')).port, 9000)
  assert.is(expectTarget(resolveProxyTarget(store, 'services', 'default', 'https:web:admin')).scheme, 'https')
  expectError(
    resolveProxyTarget(store, 'services', 'default', 'web:82'),
    503,
    'ServiceUnavailable',
    'no service port 82 found for service "web"',
  )
  expectError(resolveProxyTarget(store, 'services', 'default', 'web:grpc'), 503, 'ServiceUnavailable')
  // Two named ports and none asked for: as Kubernetes, only an unnamed port would match.
  expectError(
    resolveProxyTarget(store, 'services', 'default', 'web'),
    503,
    'ServiceUnavailable',
    'no endpoints available for service "web"',
  )
})

pure('services: a one-port service needs no port; headless services proxy to their endpoints', () => {
  const store = fakeStore([
    service('db', [{ name: 'pg', port: 5432 }], 'None'),
    endpoints('db', [{ addresses: [{ ip: '10.244.1.2' }], ports: [{ name: 'pg', port: 5432 }] }]),
    service('plain', [{ port: 80, targetPort: 8080 }]),
    endpoints('plain', [{ addresses: [{ ip: '10.244.1.3' }], ports: [{ port: 8080 }] }]),
  ])
  assert.equal(expectTarget(resolveProxyTarget(store, 'services', 'default', 'db')), {
    scheme: 'http',
    host: '10.244.1.2',
    port: 5432,
  })
  assert.is(expectTarget(resolveProxyTarget(store, 'services', 'default', 'plain')).port, 8080)
  assert.is(expectTarget(resolveProxyTarget(store, 'services', 'default', 'plain:80')).port, 8080)
})

pure('services: no endpoints object, no subsets, only not-ready addresses: 503; no service: 404', () => {
  const store = fakeStore([
    service('a', [{ port: 80 }]),
    service('b', [{ port: 80 }]),
    endpoints('b', []),
    service('c', [{ port: 80 }]),
    endpoints('c', [{ notReadyAddresses: [{ ip: '10.244.0.5' }], ports: [{ port: 80 }] }]),
    service('d', [{ name: 'dns', port: 53 }]),
    endpoints('d', [
      { addresses: [{ ip: '10.244.0.6' }], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] },
    ]),
  ])
  for (const name of ['a', 'b', 'c', 'd']) {
    expectError(
      resolveProxyTarget(store, 'services', 'default', name),
      503,
      'ServiceUnavailable',
      `no endpoints available for service "${name}"`,
    )
  }
  expectError(
    resolveProxyTarget(store, 'services', 'default', 'zzz:80'),
    404,
    'NotFound',
    'services "zzz" not found',
  )
})

pure('services: the pick among ready addresses of every subset is the rng’s, and covers them all', () => {
  const store = fakeStore([
    service('web', [{ name: 'http', port: 80 }]),
    endpoints('web', [
      { addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ name: 'http', port: 8080 }] },
      { addresses: [{ ip: '10.0.0.3' }], ports: [{ name: 'http', port: 8081 }] },
      { addresses: [{ ip: '10.0.0.4' }], ports: [{ name: 'other', port: 1 }] },
    ]),
  ])
  const pick = (seed: number) => {
    const rng = new SeededRng(seed)
    return Array.from({ length: 30 }, () => {
      const t = expectTarget(resolveProxyTarget(store, 'services', 'default', 'web:http', rng))
      return `${t.host}:${t.port}`
    })
  }
  assert.equal(pick(42), pick(42))
  assert.equal([...new Set(pick(42))].sort(), ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8081'])
})

// ---------------------------------------------------------------- through the HTTPS API

const api = suite('proxy subresource: through the HTTPS API')

const TOKEN = randomBytes(16).toString('hex')
const BACKEND_A = '127.0.62.1'
const BACKEND_B = '127.0.62.2'
/** A loopback address where nothing listens (the refused back-end). */
const BACKEND_DOWN = '127.0.62.9'

interface Seen {
  backend: string
  method: string
  url: string
  authorization: string | null
  host: string | null
  body: string
}

const state = {
  server: null as ApiServer | null,
  backends: [] as Server[],
  ports: {} as Record<string, number>,
  ca: '',
  base: '',
  seen: [] as Seen[],
}

/** A back-end that answers with what it received; an upgrade is answered 101, then echoed. */
function echoBackend(name: string): Server {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const seen: Seen = {
        backend: name,
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization ?? null,
        host: req.headers.host ?? null,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      state.seen.push(seen)
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name })
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(seen))
    })
  })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
        `x-seen-url: ${req.url}\r\nx-seen-authorization: ${req.headers.authorization ?? 'none'}\r\n\r\n`,
    )
    socket.pipe(socket)
  })
  return server
}

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return (server.address() as AddressInfo).port
}

async function writeAll(store: ObjectStore, commands: StoreCommand[]): Promise<void> {
  const client = new LocalStoreClient(store, () => Date.parse('2026-11-25T12:00:00Z'))
  for (const command of commands) {
    const r = await client.propose(command)
    if (!r.ok) throw new Error(`${command.op}: ${r.status.message}`)
  }
}

const NOW = '2026-11-25T12:00:00Z'
const create = (resource: string, object: KubeObject): StoreCommand => ({
  op: 'create',
  resource,
  namespace: 'default',
  object,
  uid: globalThis.crypto.randomUUID(),
  now: NOW,
})
const setStatus = (name: string, status: unknown): StoreCommand => ({
  op: 'patch',
  resource: 'pods',
  namespace: 'default',
  name,
  patchType: 'merge',
  patch: { status },
  subresource: 'status',
  uid: globalThis.crypto.randomUUID(),
  now: NOW,
})

api.before(async () => {
  const a = echoBackend('a')
  const b = echoBackend('b')
  state.backends = [a, b]
  state.ports.a = await listen(a, BACKEND_A)
  state.ports.b = await listen(b, BACKEND_B)

  const store = new ObjectStore()
  const portA = state.ports.a
  const portB = state.ports.b
  await writeAll(store, [
    create('pods', pod('pa', undefined, [{ name: 'http', containerPort: portA }])),
    setStatus('pa', { phase: 'Running', podIP: BACKEND_A, podIPs: [{ ip: BACKEND_A }] }),
    create('pods', pod('down', undefined, [{ name: 'http', containerPort: portA }])),
    setStatus('down', { phase: 'Running', podIP: BACKEND_DOWN, podIPs: [{ ip: BACKEND_DOWN }] }),
    create('pods', pod('pending', undefined)),
    create('services', service('web', [{ name: 'http', port: 80, targetPort: 'http' }], '')),
    create(
      'endpoints',
      endpoints('web', [
        {
          addresses: [{ ip: BACKEND_B }],
          notReadyAddresses: [{ ip: BACKEND_A }],
          ports: [{ name: 'http', port: portB, protocol: 'TCP' }],
        },
      ]),
    ),
    create('services', service('empty', [{ name: 'http', port: 80 }], '')),
  ])

  const secret = newClusterSecret()
  const ca = await deriveClusterCa(secret)
  const serving = await issueServingCert(ca, { hosts: ['localhost'], ips: ['127.0.0.1'] })
  state.ca = ca.certPem
  const server = new ApiServer({
    host: '127.0.0.1',
    port: 0,
    tls: { certPem: serving.certPem, keyPem: serving.keyPem },
    token: TOKEN,
    store,
    // The proxy routes read this peer's store only: no Raft or cluster call is made.
    raft: {} as Raft,
    cluster: {} as ClusterManager,
    clock: new ManualClock(Date.parse(NOW)),
    logger: silentLogger(),
    shoalVersion: 'test',
    rng: new SeededRng(1),
  })
  await server.start()
  state.server = server
  state.base = `https://127.0.0.1:${server.port()}`
})

api.after(async () => {
  await state.server?.stop()
  for (const s of state.backends) {
    s.closeAllConnections()
    await new Promise<void>((resolve) => s.close(() => resolve()))
  }
})

api.before.each(() => {
  state.seen = []
})

function call(
  path: string,
  opts: { method?: string; body?: string; headers?: Record<string, string>; token?: string | null } = {},
) {
  return httpsRequest({
    url: `${state.base}${path}`,
    method: opts.method ?? 'GET',
    ca: state.ca,
    ...(opts.token === null ? {} : { token: opts.token ?? TOKEN }),
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    headers: opts.headers ?? {},
    timeoutMs: 10_000,
  })
}

api('GET of a pod by named port keeps the path and query, and hides the Authorization header', async () => {
  const res = await call('/api/v1/namespaces/default/pods/pa:http/proxy/some/path?x=1&y=two%20words')
  assert.is(res.status, 200, res.body)
  assert.is(res.headers['x-backend'], 'a')
  const seen = JSON.parse(res.body) as Seen
  assert.is(seen.method, 'GET')
  assert.is(seen.url, '/some/path?x=1&y=two%20words')
  assert.is(seen.authorization, null)
  assert.is(seen.host, `${BACKEND_A}:${state.ports.a}`)
})

api('POST, PUT, PATCH and DELETE carry their bodies to a pod by numeric port', async () => {
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    const body = JSON.stringify({ hello: method, pad: 'x'.repeat(1000) })
    const res = await call(`/api/v1/namespaces/default/pods/pa:${state.ports.a}/proxy/submit`, {
      method,
      body,
      headers: { 'content-type': 'application/json' },
    })
    assert.is(res.status, 200, res.body)
    const seen = JSON.parse(res.body) as Seen
    assert.is(seen.method, method)
    assert.is(seen.url, '/submit')
    assert.is(seen.body, body)
  }
})

api('a body larger than the API limit (3 MiB) is streamed through', async () => {
  const body = 'z'.repeat(4 * 1024 * 1024)
  const res = await call('/api/v1/namespaces/default/pods/pa/proxy/big', { method: 'POST', body })
  assert.is(res.status, 200, res.body.slice(0, 200))
  assert.is((JSON.parse(res.body) as Seen).body.length, body.length)
})

api('HEAD and OPTIONS are forwarded too', async () => {
  const head = await call('/api/v1/namespaces/default/pods/pa/proxy/h', { method: 'HEAD' })
  assert.is(head.status, 200)
  assert.is(head.headers['x-backend'], 'a')
  const options = await call('/api/v1/namespaces/default/pods/pa/proxy/o', { method: 'OPTIONS' })
  assert.is(options.status, 200)
  assert.is((JSON.parse(options.body) as Seen).method, 'OPTIONS')
  assert.equal(
    state.seen.map((s) => `${s.method} ${s.url}`),
    ['HEAD /h', 'OPTIONS /o'],
  )
})

api('the proxy root without a slash redirects (GET), as Kubernetes does', async () => {
  const res = await call('/api/v1/namespaces/default/pods/pa/proxy?q=1')
  assert.is(res.status, 301)
  assert.is(res.headers.location, '/api/v1/namespaces/default/pods/pa/proxy/?q=1')
  const root = await call('/api/v1/namespaces/default/pods/pa/proxy/')
  assert.is((JSON.parse(root.body) as Seen).url, '/')
})

api('a service goes to a ready endpoint with the endpoint port of the service port', async () => {
  for (const name of ['web', 'web:http', 'web:80', 'http:web:http']) {
    const res = await call(`/api/v1/namespaces/default/services/${name}/proxy/svc?a=b`)
    assert.is(res.status, 200, `${name}: ${res.body}`)
    const seen = JSON.parse(res.body) as Seen
    assert.is(seen.backend, 'b', name)
    assert.is(seen.url, '/svc?a=b')
    assert.is(seen.authorization, null)
  }
})

api('no ready endpoint: 503 Status as Kubernetes words it', async () => {
  const res = await call('/api/v1/namespaces/default/services/empty:http/proxy/')
  assert.is(res.status, 503)
  const st = JSON.parse(res.body)
  assert.is(st.kind, 'Status')
  assert.is(st.reason, 'ServiceUnavailable')
  assert.is(st.message, 'no endpoints available for service "empty"')
})

api('a back-end that refuses: 503 "error trying to reach service"', async () => {
  const res = await call('/api/v1/namespaces/default/pods/down/proxy/x', { method: 'POST', body: 'lost' })
  assert.is(res.status, 503)
  const st = JSON.parse(res.body)
  assert.is(st.kind, 'Status')
  assert.is(st.code, 503)
  assert.match(st.message, /^error trying to reach service: .*ECONNREFUSED/)
})

api('missing pod 404, pod without IP 400, as Status objects', async () => {
  const missing = await call('/api/v1/namespaces/default/pods/nope/proxy/')
  assert.is(missing.status, 404)
  assert.is(JSON.parse(missing.body).message, 'pods "nope" not found')
  const pending = await call('/api/v1/namespaces/default/pods/pending/proxy/')
  assert.is(pending.status, 400)
  assert.match(JSON.parse(pending.body).message, /address not allowed/)
})

api('no token or a wrong one: 401, and the back-end sees nothing', async () => {
  const none = await call('/api/v1/namespaces/default/pods/pa/proxy/secret', { token: null })
  assert.is(none.status, 401)
  assert.is(JSON.parse(none.body).reason, 'Unauthorized')
  const wrong = await call('/api/v1/namespaces/default/services/web/proxy/secret', {
    method: 'POST',
    body: 'x',
    token: 'wrong',
  })
  assert.is(wrong.status, 401)
  assert.equal(state.seen, [])
})

/** Sends an upgrade request; answers the status, headers and what the socket echoed back. */
function upgrade(
  path: string,
  token: string | null,
): Promise<{ status: number; headers: Record<string, unknown>; echo: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${state.base}${path}`)
    const req = httpsRequestRaw({
      host: url.hostname,
      port: url.port,
      path: `${url.pathname}${url.search}`,
      ca: state.ca,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
    })
    req.on('upgrade', (res, socket) => {
      socket.once('data', (data: Buffer) => {
        socket.destroy()
        resolve({ status: res.statusCode ?? 0, headers: res.headers, echo: data.toString('utf8') })
      })
      socket.write('ping')
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          echo: Buffer.concat(chunks).toString('utf8'),
        }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

api('an upgrade (WebSocket) is proxied, without the Authorization header', async () => {
  const res = await upgrade('/api/v1/namespaces/default/pods/pa:http/proxy/ws?room=1', TOKEN)
  assert.is(res.status, 101)
  assert.is(res.headers['x-seen-url'], '/ws?room=1')
  assert.is(res.headers['x-seen-authorization'], 'none')
  assert.is(res.echo, 'ping')
})

api('an upgrade without a token is refused with 401; one to another path with 404', async () => {
  const res = await upgrade('/api/v1/namespaces/default/pods/pa:http/proxy/ws', null)
  assert.is(res.status, 401)
  assert.is(JSON.parse(res.echo).reason, 'Unauthorized')
  const other = await upgrade('/api/v1/namespaces/default/pods', TOKEN)
  assert.is(other.status, 404)
  const down = await upgrade('/api/v1/namespaces/default/pods/down/proxy/ws', TOKEN)
  assert.is(down.status, 503)
  assert.match(JSON.parse(down.echo).message, /^error trying to reach service:/)
})

/** One request over an HTTP/2 session: status, headers, body. */
function h2Call(
  session: ClientHttp2Session,
  path: string,
  opts: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': opts.method ?? 'GET',
      ':path': path,
      authorization: `Bearer ${TOKEN}`,
      ...opts.headers,
    })
    let headers: Record<string, unknown> = {}
    req.on('response', (h) => {
      headers = h
    })
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () =>
      resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks).toString('utf8') }),
    )
    req.on('error', reject)
    req.end(opts.body)
  })
}

api(
  'HTTP/2 (as kubectl negotiates it): API requests, a watch, and proxied requests on one connection',
  async () => {
    const session = connectHttp2(state.base, { ca: state.ca })
    try {
      const version = await h2Call(session, '/version')
      assert.is(session.alpnProtocol, 'h2')
      assert.is(version.status, 200)
      assert.is(JSON.parse(version.body).major, '1')
      // A watch streams its events in DATA frames and ends at its timeout.
      const watch = await h2Call(
        session,
        '/api/v1/namespaces/default/pods?watch=true&resourceVersion=0&timeoutSeconds=1',
      )
      assert.is(watch.status, 200)
      const names = watch.body
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { object: KubeObject }).object.metadata.name)
      assert.ok(names.includes('pa'), watch.body)
      // Proxied: the method, path and body go through, the pseudo-headers are not sent on as
      // headers, and the back-end's HTTP/1.1 connection headers are not sent back.
      for (const method of ['POST', 'GET']) {
        const body = method === 'POST' ? JSON.stringify({ over: 'h2' }) : undefined
        const res = await h2Call(session, '/api/v1/namespaces/default/pods/pa:http/proxy/x?y=1', {
          method,
          ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
        })
        assert.is(res.status, 200, res.body)
        assert.is(res.headers['x-backend'], 'a')
        assert.is(res.headers.connection, undefined)
        const seen = JSON.parse(res.body) as Seen
        assert.is(seen.method, method)
        assert.is(seen.url, '/x?y=1')
        assert.is(seen.authorization, null)
        assert.is(seen.body, body ?? '')
      }
    } finally {
      session.close()
    }
  },
)

api('discovery lists pods/proxy and services/proxy', async () => {
  const res = await call('/api/v1')
  const names = (JSON.parse(res.body).resources as { name: string }[]).map((r) => r.name)
  assert.ok(names.includes('pods/proxy'))
  assert.ok(names.includes('services/proxy'))
})

// Last: it stops the API server.
api('stop() ends upgraded connections, and the back-end side of them', async () => {
  const url = new URL(`${state.base}/api/v1/namespaces/default/pods/pa:http/proxy/ws`)
  const backendClosed = new Promise<void>((resolve) =>
    state.backends[0]!.once('upgrade', (_req, socket: Duplex) => socket.once('close', () => resolve())),
  )
  const clientSocket = await new Promise<Duplex>((resolve, reject) => {
    const req = httpsRequestRaw({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      ca: state.ca,
      headers: { connection: 'Upgrade', upgrade: 'websocket', authorization: `Bearer ${TOKEN}` },
    })
    req.on('upgrade', (_res, socket) => resolve(socket))
    req.on('error', reject)
    req.end()
  })
  const clientClosed = new Promise<void>((resolve) => clientSocket.once('close', () => resolve()))
  clientSocket.on('error', () => {}) // a reset is as good as an end here
  await state.server!.stop()
  await clientClosed
  await backendClosed
})

pure.run()
api.run()

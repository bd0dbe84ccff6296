import '../../src/util/polyfill.js'
import { once } from 'node:events'
import { connect, createServer, type Server } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { KernelForwarder } from '../../src/proxy/kernel-forwarder.js'
import { clusterTag } from '../../src/proxy/kernel-rules.js'
import { LocalAddressesOnly } from '../../src/proxy/service-addresses.js'
import { ServiceProxier } from '../../src/proxy/service-proxier.js'
import { backendsFor, desiredListeners } from '../../src/proxy/service-rules.js'
import { ObjectStore, type StoreCommand } from '../../src/store/object-store.js'
import { LocalStoreClient } from '../../src/store/store-client.js'
import type { KubeObject } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/logger.js'
import { FakeIptables } from './fake-iptables.js'

// Loopback addresses of this file: "cluster IPs" 127.0.63.1-9, the node 127.0.63.20, backends 127.0.63.3x.
const CLUSTER_IP = '127.0.63.1'
const NODE_IP = '127.0.63.20'

function service(name: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec }
}

function endpoints(name: string, subsets: unknown[]): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace: 'default' },
    subsets,
  } as KubeObject
}

test('rules: a listener per service port on the cluster IP, NodePorts on the node address', () => {
  const svc = service('web', {
    type: 'NodePort',
    clusterIP: '10.96.0.20',
    ports: [
      { name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 },
      { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
      { name: 'sctp', port: 99, protocol: 'SCTP' },
    ],
    sessionAffinity: 'ClientIP',
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
  })
  const ep = endpoints('web', [
    {
      addresses: [{ ip: '10.244.1.3' }, { ip: '10.244.0.2' }],
      notReadyAddresses: [{ ip: '10.244.2.9' }],
      ports: [
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: 'dns', port: 5353, protocol: 'UDP' },
      ],
    },
  ])
  const got = desiredListeners([svc], () => ep, '192.0.2.7')
  assert.equal([...got.keys()].sort(), [
    'TCP/10.96.0.20:80',
    'TCP/192.0.2.7:30080',
    'UDP/10.96.0.20:53',
    'UDP/192.0.2.7:30053',
  ])
  const http = got.get('TCP/10.96.0.20:80')!
  assert.equal(http.backends, [
    { host: '10.244.0.2', port: 8080 },
    { host: '10.244.1.3', port: 8080 },
  ])
  assert.is(http.clusterIp, true)
  assert.is(http.sessionAffinity, 'ClientIP')
  assert.is(http.affinityTimeoutMs, 60_000)
  assert.is(got.get('TCP/192.0.2.7:30080')!.clusterIp, false)
  assert.equal(got.get('UDP/10.96.0.20:53')!.backends, [
    { host: '10.244.0.2', port: 5353 },
    { host: '10.244.1.3', port: 5353 },
  ])
})

test('rules: headless, ExternalName and NodePorts without a node address get no listener', () => {
  const headless = service('h', { clusterIP: 'None', ports: [{ port: 80 }] })
  const external = service('x', { type: 'ExternalName', externalName: 'example.org', ports: [{ port: 80 }] })
  const nodePort = service('n', {
    type: 'NodePort',
    clusterIP: '10.96.0.21',
    ports: [{ port: 80, nodePort: 30001 }],
  })
  const got = desiredListeners([headless, external, nodePort], () => undefined, null)
  assert.equal([...got.keys()], ['TCP/10.96.0.21:80'])
  assert.equal(got.get('TCP/10.96.0.21:80')!.backends, [])
})

test('rules: an unnamed service port takes the unnamed endpoint port; other protocols do not match', () => {
  const ep = endpoints('e', [
    { addresses: [{ ip: '10.244.0.5' }], ports: [{ port: 9000, protocol: 'TCP' }] },
    { addresses: [{ ip: '10.244.0.6' }], ports: [{ port: 9001, protocol: 'UDP' }] },
  ])
  assert.equal(backendsFor(ep, { port: 80 }), [{ host: '10.244.0.5', port: 9000 }])
  assert.equal(backendsFor(ep, { port: 80, protocol: 'UDP' }), [{ host: '10.244.0.6', port: 9001 }])
  assert.equal(backendsFor(ep, { port: 80, name: 'http' }), [])
  assert.equal(backendsFor(undefined, { port: 80 }), [])
})

// ------------------------------------------------------------------ the proxier, with sockets

/** A store whose service range is this file's loopback block, so that cluster IPs are local. */
class World {
  readonly store = new ObjectStore({ serviceCidr: '127.0.63.0/24' })
  readonly client = new LocalStoreClient(this.store)
  readonly now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')

  async propose(cmd: StoreCommand): Promise<void> {
    const r = await this.client.propose(cmd)
    if (!r.ok) throw new Error(`${cmd.op}: ${r.status.message}`)
  }

  create(resource: string, object: KubeObject): Promise<void> {
    return this.propose({
      op: 'create',
      resource,
      namespace: 'default',
      object,
      uid: crypto.randomUUID(),
      now: this.now,
    })
  }
}

const servers: Server[] = []

async function nameServer(host: string, name: string): Promise<number> {
  const server = createServer((s) => {
    s.on('error', () => {})
    s.end(name)
  })
  server.listen(0, host)
  await once(server, 'listening')
  servers.push(server)
  return (server.address() as { port: number }).port
}

function fetchName(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port })
    let data = ''
    s.on('data', (d) => {
      data += d
    })
    s.on('end', () => resolve(data))
    s.on('error', reject)
  })
}

async function freePort(host: string, range?: [number, number]): Promise<number> {
  if (range) {
    // A free port in the NodePort range: try a few at random.
    for (;;) {
      const port = range[0] + Math.floor(Math.random() * (range[1] - range[0]))
      const s = createServer().listen(port, host)
      const ok = await new Promise<boolean>((r) => {
        s.once('listening', () => r(true))
        s.once('error', () => r(false))
      })
      if (ok) {
        await new Promise<void>((r) => s.close(() => r()))
        return port
      }
    }
  }
  const s = createServer().listen(0, host)
  await once(s, 'listening')
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

class OnlySome extends LocalAddressesOnly {
  constructor(private readonly refused: string) {
    super()
  }
  override async hold(ip: string): Promise<boolean> {
    return ip !== this.refused && super.hold(ip)
  }
}

function proxier(
  world: World,
  clock: ManualClock,
  refuse = '',
  kernel?: KernelForwarder,
  nodeAddress = NODE_IP,
): ServiceProxier {
  return new ServiceProxier({
    kernel,
    store: world.store,
    clock,
    logger: silentLogger(),
    addresses: new OnlySome(refuse),
    nodeAddress,
    retryMs: 1_000,
    resyncMs: 60_000,
  })
}

test('proxier: serves cluster IP and NodePort round-robin, follows endpoint changes, closes a deleted service', async () => {
  const world = new World()
  const clock = new ManualClock(0)
  const port = await freePort(CLUSTER_IP)
  const nodePort = await freePort(NODE_IP, [30000, 32767])
  const a = await nameServer('127.0.63.31', 'a')
  const b = await nameServer('127.0.63.32', 'b')
  const p = proxier(world, clock)
  p.start()
  await world.create(
    'services',
    service('web', { clusterIP: CLUSTER_IP, type: 'NodePort', ports: [{ port, nodePort }] }),
  )
  await world.create(
    'endpoints',
    endpoints('web', [
      { addresses: [{ ip: '127.0.63.31' }], ports: [{ port: a }] },
      { addresses: [{ ip: '127.0.63.32' }], ports: [{ port: b }] },
    ]),
  )
  await p.synced()
  assert.equal(
    p.status().map((s) => [s.key, s.state, s.backends]),
    [
      [`TCP/${CLUSTER_IP}:${port}`, 'serving', 2],
      [`TCP/${NODE_IP}:${nodePort}`, 'serving', 2],
    ],
  )
  const seen = []
  for (let i = 0; i < 4; i++) seen.push(await fetchName(CLUSTER_IP, port))
  assert.equal(seen.sort(), ['a', 'a', 'b', 'b'])
  assert.ok(['a', 'b'].includes(await fetchName(NODE_IP, nodePort)))

  // b leaves the endpoints: only a answers, the listener is the same.
  await world.propose({
    op: 'update',
    resource: 'endpoints',
    namespace: 'default',
    name: 'web',
    object: endpoints('web', [{ addresses: [{ ip: '127.0.63.31' }], ports: [{ port: a }] }]),
    now: world.now,
  })
  await p.synced()
  for (let i = 0; i < 3; i++) assert.is(await fetchName(CLUSTER_IP, port), 'a')

  await world.propose({
    op: 'remove',
    resource: 'services',
    namespace: 'default',
    name: 'web',
    now: world.now,
  })
  await p.synced()
  assert.equal(p.status(), [])
  const refused = await fetchName(CLUSTER_IP, port).then(
    () => '',
    (err: NodeJS.ErrnoException) => err.code,
  )
  assert.is(refused, 'ECONNREFUSED')
  await p.stop()
})

test('proxier: two peers on one host — one serves, the other takes over when it stops', async () => {
  const world = new World()
  const clock = new ManualClock(0)
  const port = await freePort('127.0.63.2')
  const a = await nameServer('127.0.63.33', 'a')
  await world.create('services', service('db', { clusterIP: '127.0.63.2', ports: [{ port }] }))
  await world.create(
    'endpoints',
    endpoints('db', [{ addresses: [{ ip: '127.0.63.33' }], ports: [{ port: a }] }]),
  )
  const first = proxier(world, clock)
  const second = proxier(world, clock)
  first.start()
  await first.synced()
  second.start()
  await second.synced()
  assert.is(first.status()[0]!.state, 'serving')
  assert.is(second.status()[0]!.state, 'waiting')
  assert.is(await fetchName('127.0.63.2', port), 'a')

  await first.stop()
  clock.advance(1_000)
  await second.synced()
  assert.is(second.status()[0]!.state, 'serving')
  assert.is(await fetchName('127.0.63.2', port), 'a')
  await second.stop()
})

/** A kernel data path on `ipt` for this file's cluster (its service range 127.0.63.0/24), set up. */
async function kernelOn(ipt: FakeIptables): Promise<KernelForwarder> {
  const k = new KernelForwarder({ iptables: ipt, tag: clusterTag('127.0.63.0/24'), logger: silentLogger() })
  assert.is(await k.setUp(), null)
  return k
}

test('proxier with the kernel data path: the serving peer writes the rules, follows endpoints, a takeover rewrites them', async () => {
  const world = new World()
  const clock = new ManualClock(0)
  const ipt = new FakeIptables()
  const kernel = () => kernelOn(ipt)
  const port = await freePort('127.0.63.5')
  const a = await nameServer('127.0.63.35', 'a')
  await world.create(
    'services',
    service('kv', {
      clusterIP: '127.0.63.5',
      ports: [
        { name: 'web', port },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
    }),
  )
  const subset = (ips: string[]) => [
    {
      addresses: ips.map((ip) => ({ ip })),
      ports: [
        { name: 'web', port: a },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
    },
  ]
  await world.create('endpoints', endpoints('kv', subset(['127.0.63.35'])))
  const first = proxier(world, clock, '', await kernel())
  const second = proxier(world, clock, '', await kernel())
  first.start()
  await first.synced()
  second.start()
  await second.synced()
  const tcp = `TCP/127.0.63.5:${port}`
  assert.equal(
    first.status().map((s) => [s.key, s.state, s.dataPath]),
    [
      [tcp, 'serving', 'kernel'],
      ['UDP/127.0.63.5:53', 'serving', 'proxy'],
    ],
  )
  assert.equal(
    second.status().map((s) => [s.state, s.dataPath]),
    [
      ['waiting', 'proxy'],
      ['waiting', 'proxy'],
    ],
  )
  assert.is(ipt.rewrite('c', '127.0.63.5', port).to, `127.0.63.35:${a}`)

  await world.propose({
    op: 'update',
    resource: 'endpoints',
    namespace: 'default',
    name: 'kv',
    object: endpoints('kv', subset(['127.0.63.35', '127.0.63.36'])),
    now: world.now,
  })
  await first.synced()
  const picks = [0, 1, 2, 3].map(() => ipt.rewrite('c', '127.0.63.5', port).to)
  assert.equal(picks.sort(), [`127.0.63.35:${a}`, `127.0.63.35:${a}`, `127.0.63.36:${a}`, `127.0.63.36:${a}`])

  // The serving peer stops: its rules go; the other takes the listener and writes them again.
  await first.stop()
  assert.is(ipt.rewrite('c', '127.0.63.5', port).to, null)
  clock.advance(1_000)
  await second.synced()
  assert.equal(second.status()[0]!.dataPath, 'kernel')
  assert.ok(ipt.rewrite('c', '127.0.63.5', port).to?.startsWith('127.0.63.3'))

  // The service goes: so do its rules.
  await world.propose({
    op: 'remove',
    resource: 'services',
    namespace: 'default',
    name: 'kv',
    now: world.now,
  })
  await second.synced()
  assert.is(ipt.rewrite('c', '127.0.63.5', port).to, null)
  assert.equal(ipt.chains.get(`SHOAL-SVC-${clusterTag('127.0.63.0/24')}`), [])
  await second.stop()
})

test('proxier with the kernel data path: a resync keeps the NodePort rules of the other peers of the host', async () => {
  const world = new World()
  const clock = new ManualClock(0)
  const ipt = new FakeIptables()
  const kernel = () => kernelOn(ipt)
  const nodePort = await freePort(NODE_IP, [30000, 32767])
  const a = await nameServer('127.0.63.37', 'a')
  await world.create(
    'services',
    service('np', {
      clusterIP: '127.0.63.6',
      type: 'NodePort',
      ports: [{ name: 'web', port: 80, nodePort }],
    }),
  )
  await world.create(
    'endpoints',
    endpoints('np', [{ addresses: [{ ip: '127.0.63.37' }], ports: [{ name: 'web', port: a }] }]),
  )
  const first = proxier(world, clock, '', await kernel(), NODE_IP)
  const second = proxier(world, clock, '', await kernel(), '127.0.63.21')
  first.start()
  await first.synced()
  second.start()
  await second.synced()
  assert.is(ipt.rewrite('c', NODE_IP, nodePort).to, `127.0.63.37:${a}`)
  assert.is(ipt.rewrite('c', '127.0.63.21', nodePort).to, `127.0.63.37:${a}`)
  clock.advance(60_000) // both resync
  await first.synced()
  await second.synced()
  assert.is(ipt.rewrite('c', NODE_IP, nodePort).to, `127.0.63.37:${a}`, 'the first peer’s NodePort survives')
  assert.is(ipt.rewrite('c', '127.0.63.21', nodePort).to, `127.0.63.37:${a}`, 'the second peer’s too')
  await first.stop()
  await second.stop()
})

test('proxier: an address the host cannot hold waits without failing the others', async () => {
  const world = new World()
  const clock = new ManualClock(0)
  const port = await freePort('127.0.63.3')
  const a = await nameServer('127.0.63.34', 'a')
  // A holder that can hold nothing beyond 127.0.63.3: 'far' must wait, 'near' must serve.
  await world.create('services', service('far', { clusterIP: '127.0.63.4', ports: [{ port: 80 }] }))
  await world.create('services', service('near', { clusterIP: '127.0.63.3', ports: [{ port }] }))
  await world.create(
    'endpoints',
    endpoints('near', [{ addresses: [{ ip: '127.0.63.34' }], ports: [{ port: a }] }]),
  )
  const p = proxier(world, clock, '127.0.63.4')
  p.start()
  await p.synced()
  assert.equal(
    p.status().map((s) => [s.service, s.state]),
    [
      ['default/near', 'serving'],
      ['default/far', 'waiting'],
    ],
  )
  assert.is(await fetchName('127.0.63.3', port), 'a')
  await p.stop()
})

test.after(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))))
})

test.run()

import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { allocateServiceAddresses, clusterDnsAddress, parseCidr } from '../../src/store/service-allocation.js'
import type { KubeObject } from '../../src/store/types.js'
import { ControllerWorld } from '../controllers/support.js'

function svc(name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { ports: [{ port: 80 }], ...spec },
  }
}

const specOf = (o: KubeObject) =>
  o.spec as { clusterIP?: string; clusterIPs?: string[]; ports: { nodePort?: number }[] }

test('a new service gets a free cluster IP of the range; an explicit one is honoured or refused', async () => {
  const w = new ControllerWorld()
  const a = await w.create('services', svc('a', {}))
  const ip = specOf(a).clusterIP!
  const cidr = parseCidr('10.96.0.0/12')
  const n = ip.split('.').reduce((x, p) => x * 256 + Number(p), 0)
  assert.ok(n > cidr.base && n < cidr.base + cidr.size - 1, ip)
  assert.equal(specOf(a).clusterIPs, [ip])
  const b = await w.create('services', svc('b', { clusterIP: '10.96.0.20' }))
  assert.is(specOf(b).clusterIP, '10.96.0.20')
  const taken = await w.client.propose({
    op: 'create',
    resource: 'services',
    namespace: 'default',
    object: svc('c', { clusterIP: '10.96.0.20' }),
    uid: 'u-c',
    now: w.nowIso(),
  })
  assert.not.ok(taken.ok)
  assert.match(taken.ok ? '' : (taken.status.message ?? ''), /provided IP is already allocated/)
  const outside = await w.client.propose({
    op: 'create',
    resource: 'services',
    namespace: 'default',
    object: svc('d', { clusterIP: '192.168.1.1' }),
    uid: 'u-d',
    now: w.nowIso(),
  })
  assert.match(outside.ok ? '' : (outside.status.message ?? ''), /not in the valid range/)
  const headless = await w.create('services', svc('h', { clusterIP: 'None' }))
  assert.is(specOf(headless).clusterIP, 'None')
  // Released on delete: the same address can be asked for again.
  await w.propose({ op: 'remove', resource: 'services', namespace: 'default', name: 'b', now: w.nowIso() })
  const again = await w.create('services', svc('b2', { clusterIP: '10.96.0.20' }))
  assert.is(specOf(again).clusterIP, '10.96.0.20')
})

test('an update keeps the cluster IP it leaves out and refuses to change it', async () => {
  const w = new ControllerWorld()
  const a = await w.create('services', svc('a', {}))
  const ip = specOf(a).clusterIP
  const updated = await w.propose({
    op: 'update',
    resource: 'services',
    namespace: 'default',
    name: 'a',
    object: svc('a', { ports: [{ port: 81 }] }),
    now: w.nowIso(),
  })
  assert.is(specOf(updated).clusterIP, ip)
  const changed = await w.client.propose({
    op: 'update',
    resource: 'services',
    namespace: 'default',
    name: 'a',
    object: svc('a', { clusterIP: '10.96.0.99' }),
    now: w.nowIso(),
  })
  assert.match(changed.ok ? '' : (changed.status.message ?? ''), /field is immutable/)
})

test('NodePort services get distinct node ports; a taken one is refused; updates keep them', async () => {
  const w = new ControllerWorld()
  const a = await w.create(
    'services',
    svc('a', {
      type: 'NodePort',
      ports: [
        { port: 80, name: 'a' },
        { port: 81, name: 'b' },
      ],
    }),
  )
  const ports = specOf(a).ports.map((p) => p.nodePort!)
  assert.ok(ports.every((p) => p >= 30000 && p <= 32767))
  assert.is(new Set(ports).size, 2)
  const clash = await w.client.propose({
    op: 'create',
    resource: 'services',
    namespace: 'default',
    object: svc('b', { type: 'NodePort', ports: [{ port: 80, nodePort: ports[0] }] }),
    uid: 'u-b',
    now: w.nowIso(),
  })
  assert.match(clash.ok ? '' : (clash.status.message ?? ''), /provided port is already allocated/)
  const updated = await w.propose({
    op: 'update',
    resource: 'services',
    namespace: 'default',
    name: 'a',
    object: svc('a', {
      type: 'NodePort',
      ports: [
        { port: 80, name: 'a' },
        { port: 81, name: 'b' },
      ],
    }),
    now: w.nowIso(),
  })
  assert.equal(
    specOf(updated).ports.map((p) => p.nodePort),
    ports,
  )
})

test('the cluster DNS address is the 10th of the range, never allocated automatically', () => {
  assert.is(clusterDnsAddress(parseCidr('10.96.0.0/12')), '10.96.0.10')
  assert.is(clusterDnsAddress(parseCidr('172.20.0.0/16')), '172.20.0.10')
  assert.is(clusterDnsAddress(parseCidr('192.168.5.0/30')), '192.168.5.2')
  // A /28 has 14 usable addresses; one is the DNS address, so 13 services fill it.
  const cidr = parseCidr('192.168.5.0/28')
  const others: KubeObject[] = []
  for (let i = 0; i < 13; i++) {
    const s = svc(`s${i}`, {})
    allocateServiceAddresses(s, others, `uid-${i}`, cidr)
    others.push(s)
  }
  const ips = others.map((o) => specOf(o).clusterIP)
  assert.is(new Set(ips).size, 13)
  assert.not.ok(ips.includes('192.168.5.10'))
  assert.throws(() => allocateServiceAddresses(svc('full', {}), others, 'uid-full', cidr), /range is full/)
})

test('only kube-system/kube-dns may ask for the cluster DNS address', async () => {
  const w = new ControllerWorld()
  const refused = await w.client.propose({
    op: 'create',
    resource: 'services',
    namespace: 'default',
    object: svc('dns', { clusterIP: '10.96.0.10' }),
    uid: 'u-dns',
    now: w.nowIso(),
  })
  assert.not.ok(refused.ok)
  assert.match(refused.ok ? '' : (refused.status.message ?? ''), /reserved for the cluster DNS/)
  assert.is(refused.ok ? 0 : refused.status.code, 422)
  const kubeDns = await w.create(
    'services',
    {
      ...svc('kube-dns', { clusterIP: '10.96.0.10' }),
      metadata: { name: 'kube-dns', namespace: 'kube-system' },
    },
    'kube-system',
  )
  assert.is(specOf(kubeDns).clusterIP, '10.96.0.10')
})

test('an ExternalName service is an alias: no cluster IP; it needs a valid externalName and no clusterIP', async () => {
  const w = new ControllerWorld()
  const alias = await w.create('services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'db', namespace: 'default' },
    spec: { type: 'ExternalName', externalName: 'db.example.org' },
  })
  assert.is(specOf(alias).clusterIP, undefined)
  const refuse = async (name: string, spec: Record<string, unknown>, field: string) => {
    const r = await w.client.propose({
      op: 'create',
      resource: 'services',
      namespace: 'default',
      object: { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec },
      uid: `u-${name}`,
      now: w.nowIso(),
    })
    assert.not.ok(r.ok, name)
    assert.is(r.ok ? 0 : r.status.code, 422)
    assert.ok(JSON.stringify(r.ok ? {} : r.status.details).includes(field), JSON.stringify(r))
  }
  await refuse('x1', { type: 'ExternalName' }, 'spec.externalName')
  await refuse('x2', { type: 'ExternalName', externalName: 'Not_A_Name' }, 'spec.externalName')
  await refuse(
    'x3',
    { type: 'ExternalName', externalName: 'a.example', clusterIP: '10.96.0.30' },
    'spec.clusterIP',
  )
})

test.run()

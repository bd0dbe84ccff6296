import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ObjectStore, type StoreCommand } from '../../src/store/object-store.js'
import { formatCidr, parsePodCidr, podCidrOf } from '../../src/store/pod-cidr-allocation.js'
import type { KubeObject } from '../../src/store/types.js'
import { FsmHarness } from './fsm-harness.js'

const NOW = '2026-11-25T12:00:00Z'

function node(name: string, spec: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec }
}

const createNode = (name: string, spec: Record<string, unknown> = {}): StoreCommand => ({
  op: 'create',
  resource: 'nodes',
  object: node(name, spec),
  uid: `uid-${name}`,
  now: NOW,
})

const removeNode = (name: string): StoreCommand => ({ op: 'remove', resource: 'nodes', name, now: NOW })

test('pure: the cluster pod range is parsed, aligned and at most a /24', () => {
  assert.is(formatCidr(parsePodCidr('10.244.0.0/16')), '10.244.0.0/16')
  assert.throws(
    () => parsePodCidr('10.244.1.0/16'),
    /podCidr: '10.244.1.0\/16' is not aligned: did you mean 10.244.0.0\/16/,
  )
  assert.throws(() => parsePodCidr('10.244.0.0/25'), /podCidr: .* expected a\.b\.c\.d\/8…24/)
  assert.throws(() => parsePodCidr('10.300.0.0/16'), /podCidr/)
  assert.throws(() => new ObjectStore({ podCidr: 'nonsense' }), /podCidr: 'nonsense'/)
})

test('a new node gets the lowest free /24 of the range; a deleted node frees it', () => {
  const f = new FsmHarness()
  const a = f.ok(createNode('a'))
  assert.equal(a.spec, { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'] })
  assert.is(podCidrOf(f.ok(createNode('b'))), '10.244.1.0/24')
  assert.is(podCidrOf(f.ok(createNode('c'))), '10.244.2.0/24')
  f.ok(removeNode('b'))
  assert.is(podCidrOf(f.ok(createNode('d'))), '10.244.1.0/24', 'the lowest free one again')
  assert.is(podCidrOf(f.ok(createNode('e'))), '10.244.3.0/24')
})

test('the same commands give the same subnets on every peer', () => {
  const peers = [new FsmHarness(), new FsmHarness()]
  const cmds = [createNode('x'), createNode('y'), removeNode('x'), createNode('z'), createNode('w')]
  for (const p of peers) for (const c of cmds) p.apply(c)
  const of = (p: FsmHarness) => p.store.list('nodes').items.map((n) => `${n.metadata.name}=${podCidrOf(n)}`)
  assert.equal(of(peers[0]!), of(peers[1]!))
  assert.equal(of(peers[0]!), ['w=10.244.2.0/24', 'y=10.244.1.0/24', 'z=10.244.0.0/24'])
})

test('an explicit podCIDR is honoured when it is a free, aligned /24 of the range; refused otherwise', () => {
  const f = new FsmHarness()
  assert.equal(f.ok(createNode('a', { podCIDR: '10.244.7.0/24' })).spec, {
    podCIDR: '10.244.7.0/24',
    podCIDRs: ['10.244.7.0/24'],
  })
  assert.is(podCidrOf(f.ok(createNode('b', { podCIDRs: ['10.244.8.0/24'] }))), '10.244.8.0/24')
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ podCIDR: '10.244.7.0/24' }, 'spec.podCIDR', /"10.244.7.0\/24": is already allocated to another node/],
    [{ podCIDR: '10.245.0.0/24' }, 'spec.podCIDR', /is not inside the cluster pod range 10.244.0.0\/16/],
    [{ podCIDR: '10.244.9.5/24' }, 'spec.podCIDR', /must be aligned: did you mean 10.244.9.0\/24\?/],
    [{ podCIDR: '10.244.0.0/23' }, 'spec.podCIDR', /must be a \/24/],
    [{ podCIDR: 'ten/24' }, 'spec.podCIDR', /must be a valid CIDR value/],
    [{ podCIDRs: ['10.244.7.0/24'] }, 'spec.podCIDRs', /is already allocated/],
    [
      { podCIDR: '10.244.9.0/24', podCIDRs: ['10.244.10.0/24'] },
      'spec.podCIDRs',
      /must start with spec.podCIDR/,
    ],
    [{ podCIDRs: ['10.244.9.0/24', 'fd00::/64'] }, 'spec.podCIDRs', /only one \(IPv4\) pod subnet/],
  ]
  for (const [spec, field, message] of cases) {
    const st = f.fail(createNode('bad', spec))
    assert.is(st.code, 422, JSON.stringify(spec))
    assert.match(st.message ?? '', message)
    assert.is(st.details?.causes?.[0]?.field, field, JSON.stringify(spec))
  }
  assert.is(f.store.get('nodes', undefined, 'bad'), undefined)
})

test('the subnet is immutable: a change is refused, leaving it out keeps it', () => {
  const f = new FsmHarness()
  f.ok(createNode('a'))
  const st = f.fail({
    op: 'update',
    resource: 'nodes',
    name: 'a',
    object: node('a', { podCIDR: '10.244.5.0/24' }),
    now: NOW,
  })
  assert.is(st.code, 422)
  assert.match(st.message ?? '', /node updates may not change podCIDR/)
  assert.is(st.details?.causes?.[0]?.field, 'spec.podCIDRs')
  // A PUT of the manifest without the subnet (as `kubectl replace` sends) keeps it.
  const kept = f.ok({
    op: 'update',
    resource: 'nodes',
    name: 'a',
    object: node('a', { unschedulable: true }),
    now: NOW,
  })
  assert.equal(kept.spec, { unschedulable: true, podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'] })
  // So does a merge patch that removes it.
  const patched = f.ok({
    op: 'patch',
    resource: 'nodes',
    name: 'a',
    patchType: 'merge',
    patch: { spec: { podCIDR: null, podCIDRs: null } },
    uid: 'p1',
    now: NOW,
  })
  assert.is(podCidrOf(patched), '10.244.0.0/24')
})

test('a stored node without a subnet (from before pod ranges) gets one at its next update', async () => {
  const f = new FsmHarness()
  // A snapshot of a store whose nodes had no subnets.
  const old = new FsmHarness()
  old.ok(createNode('legacy'))
  const state = JSON.parse(Buffer.from(old.store.snapshotBytes()).toString('utf8'))
  state.objects.nodes[0].spec = {}
  await f.store.restore(Buffer.from(JSON.stringify(state)))
  assert.is(podCidrOf(f.store.get('nodes', undefined, 'legacy')), undefined)
  // A status write does not touch the spec.
  f.ok({
    op: 'update',
    resource: 'nodes',
    name: 'legacy',
    subresource: 'status',
    object: { ...node('legacy'), status: { phase: 'Running' } },
    now: NOW,
  })
  assert.is(podCidrOf(f.store.get('nodes', undefined, 'legacy')), undefined)
  const patched = f.ok({
    op: 'patch',
    resource: 'nodes',
    name: 'legacy',
    patchType: 'merge',
    patch: { metadata: { labels: { a: 'b' } } },
    uid: 'p2',
    now: NOW,
  })
  assert.is(podCidrOf(patched), '10.244.0.0/24')
})

test('another range: the option chooses it; a full range is refused by name', () => {
  const f = new FsmHarness(new ObjectStore({ podCidr: '172.30.0.0/23' }))
  assert.is(podCidrOf(f.ok(createNode('a'))), '172.30.0.0/24')
  assert.is(podCidrOf(f.ok(createNode('b'))), '172.30.1.0/24')
  const st = f.fail(createNode('c'))
  assert.is(st.code, 422)
  assert.match(
    st.message ?? '',
    /failed to allocate a pod subnet: the cluster pod range 172.30.0.0\/23 is full/,
  )
  assert.is(st.details?.causes?.[0]?.field, 'spec.podCIDR')
})

test.run()

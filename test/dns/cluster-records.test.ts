import '../../src/util/polyfill.js'
import type { Answer } from 'dns-packet'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { type ClusterAnswer, ClusterRecords, Rcode, type StoreView } from '../../src/dns/cluster-records.js'
import type { KubeObject } from '../../src/store/types.js'
import { clusterWorld } from './support.js'

async function records(zone?: string): Promise<ClusterRecords> {
  const w = await clusterWorld()
  return new ClusterRecords(w.store, zone)
}

function answered(r: ReturnType<ClusterRecords['answer']>): ClusterAnswer {
  assert.is(r.kind, 'answer')
  return r as ClusterAnswer
}

/** `type data` of each record, sorted, e.g. `A 10.96.0.20`. */
function summary(records: Answer[]): string[] {
  return records
    .map((r) => {
      const d = (r as { data: unknown }).data
      if (r.type === 'SRV') {
        const s = d as { priority: number; weight: number; port: number; target: string }
        return `${r.name} SRV ${s.priority} ${s.weight} ${s.port} ${s.target}`
      }
      return `${r.name} ${r.type} ${typeof d === 'string' ? d : JSON.stringify(d)}`
    })
    .sort()
}

test('a ClusterIP service has an A record with its cluster IP, TTL 5', async () => {
  const r = answered((await records()).answer('web.default.svc.cluster.local', 'A'))
  assert.is(r.rcode, Rcode.NOERROR)
  assert.equal(summary(r.answers), ['web.default.svc.cluster.local A 10.96.0.20'])
  assert.is((r.answers[0] as { ttl: number }).ttl, 5)
  assert.equal(r.authorities, [])
  const other = answered((await records()).answer('cart.shop.svc.cluster.local.', 'A'))
  assert.equal(summary(other.answers), ['cart.shop.svc.cluster.local A 10.96.0.30'])
})

test('names are case-insensitive; the owner name is written back as asked', async () => {
  const r = answered((await records()).answer('WeB.Default.SVC.Cluster.Local', 'A'))
  assert.equal(summary(r.answers), ['WeB.Default.SVC.Cluster.Local A 10.96.0.20'])
  const srv = answered((await records()).answer('_HTTP._Tcp.web.default.svc.cluster.local', 'SRV'))
  assert.is(srv.answers.length, 1)
})

test('a headless service has one A record per ready endpoint; none ready is NODATA, not NXDOMAIN', async () => {
  const rec = await records()
  const r = answered(rec.answer('db.default.svc.cluster.local', 'A'))
  assert.is(r.rcode, Rcode.NOERROR)
  assert.equal(summary(r.answers), [
    'db.default.svc.cluster.local A 10.244.1.5',
    'db.default.svc.cluster.local A 10.244.2.7',
    'db.default.svc.cluster.local A 10.244.3.9',
  ])
  const empty = answered(rec.answer('empty.default.svc.cluster.local', 'A'))
  assert.is(empty.rcode, Rcode.NOERROR)
  assert.equal(empty.answers, [])
  assert.is(empty.authorities[0]?.type, 'SOA')
})

test('a headless endpoint has an A record under its hostname, the pod hostname or its dashed IP', async () => {
  const rec = await records()
  const ask = (name: string) => summary(answered(rec.answer(name, 'A')).answers)
  assert.equal(ask('db-0.db.default.svc.cluster.local'), ['db-0.db.default.svc.cluster.local A 10.244.1.5'])
  assert.equal(ask('db-1.db.default.svc.cluster.local'), ['db-1.db.default.svc.cluster.local A 10.244.2.7'])
  assert.equal(ask('10-244-3-9.db.default.svc.cluster.local'), [
    '10-244-3-9.db.default.svc.cluster.local A 10.244.3.9',
  ])
  // Not ready: no name.
  assert.is(answered(rec.answer('10-244-4-1.db.default.svc.cluster.local', 'A')).rcode, Rcode.NXDOMAIN)
  // Only headless services have endpoint names.
  assert.is(answered(rec.answer('x.web.default.svc.cluster.local', 'A')).rcode, Rcode.NXDOMAIN)
})

test('SRV for a named port aims at the service name, with its A record as additional', async () => {
  const rec = await records()
  const r = answered(rec.answer('_http._tcp.web.default.svc.cluster.local', 'SRV'))
  assert.equal(summary(r.answers), [
    '_http._tcp.web.default.svc.cluster.local SRV 0 100 80 web.default.svc.cluster.local',
  ])
  assert.equal(summary(r.additionals), ['web.default.svc.cluster.local A 10.96.0.20'])
  const udp = answered(rec.answer('_dns._udp.web.default.svc.cluster.local', 'SRV'))
  assert.equal(summary(udp.answers), [
    '_dns._udp.web.default.svc.cluster.local SRV 0 100 53 web.default.svc.cluster.local',
  ])
  // Wrong protocol, unknown port: no such name. The protocol label alone is an empty non-terminal.
  assert.is(answered(rec.answer('_http._udp.web.default.svc.cluster.local', 'SRV')).rcode, Rcode.NXDOMAIN)
  assert.is(answered(rec.answer('_nope._tcp.web.default.svc.cluster.local', 'SRV')).rcode, Rcode.NXDOMAIN)
  // Unnamed ports have no SRV record.
  assert.is(answered(rec.answer('_tcp.cart.shop.svc.cluster.local', 'SRV')).rcode, Rcode.NXDOMAIN)
  const ent = answered(rec.answer('_tcp.web.default.svc.cluster.local', 'SRV'))
  assert.is(ent.rcode, Rcode.NOERROR)
  assert.equal(ent.answers, [])
  // A records at an SRV name: NODATA.
  const nodata = answered(rec.answer('_http._tcp.web.default.svc.cluster.local', 'A'))
  assert.is(nodata.rcode, Rcode.NOERROR)
  assert.equal(nodata.answers, [])
})

test('SRV of a headless service: one record per ready endpoint, its target port, aimed at its name', async () => {
  const r = answered((await records()).answer('_pg._tcp.db.default.svc.cluster.local', 'SRV'))
  assert.equal(summary(r.answers), [
    '_pg._tcp.db.default.svc.cluster.local SRV 0 33 15432 10-244-3-9.db.default.svc.cluster.local',
    '_pg._tcp.db.default.svc.cluster.local SRV 0 33 15432 db-0.db.default.svc.cluster.local',
    '_pg._tcp.db.default.svc.cluster.local SRV 0 33 15432 db-1.db.default.svc.cluster.local',
  ])
  assert.equal(summary(r.additionals), [
    '10-244-3-9.db.default.svc.cluster.local A 10.244.3.9',
    'db-0.db.default.svc.cluster.local A 10.244.1.5',
    'db-1.db.default.svc.cluster.local A 10.244.2.7',
  ])
})

test('pod A records: a-b-c-d.ns.pod.cluster.local is a.b.c.d', async () => {
  const rec = await records()
  const r = answered(rec.answer('10-244-1-5.default.pod.cluster.local', 'A'))
  assert.equal(summary(r.answers), ['10-244-1-5.default.pod.cluster.local A 10.244.1.5'])
  assert.is(answered(rec.answer('10-244-1-300.default.pod.cluster.local', 'A')).rcode, Rcode.NXDOMAIN)
  assert.is(answered(rec.answer('web.default.pod.cluster.local', 'A')).rcode, Rcode.NXDOMAIN)
  assert.is(answered(rec.answer('10-244-1-5.default.pod.cluster.local', 'AAAA')).answers.length, 0)
})

test('an existing name asked for another type is NODATA with the SOA in authority', async () => {
  const rec = await records()
  for (const name of ['web.default.svc.cluster.local', 'db.default.svc.cluster.local']) {
    const r = answered(rec.answer(name, 'AAAA'))
    assert.is(r.rcode, Rcode.NOERROR, name)
    assert.equal(r.answers, [])
    assert.is(r.authorities.length, 1)
    const soa = r.authorities[0] as { name: string; type: string; data: { minimum: number } }
    assert.is(soa.type, 'SOA')
    assert.is(soa.name, 'cluster.local')
    assert.is(soa.data.minimum, 5)
  }
  // Names above the records exist too (empty non-terminals).
  for (const name of [
    'cluster.local',
    'svc.cluster.local',
    'default.svc.cluster.local',
    'shop.pod.cluster.local',
  ])
    assert.is(answered(rec.answer(name, 'A')).rcode, Rcode.NOERROR, name)
  assert.is(answered(rec.answer('cluster.local', 'SOA')).answers[0]?.type, 'SOA')
})

test('unknown names under the cluster domain are NXDOMAIN with the SOA in authority', async () => {
  const rec = await records()
  for (const name of [
    'nope.default.svc.cluster.local',
    'web.nope.svc.cluster.local',
    'nope.svc.cluster.local',
    'web.default.nope.cluster.local',
    'x.cluster.local',
    'a.b.web.default.svc.cluster.local',
  ]) {
    const r = answered(rec.answer(name, 'A'))
    assert.is(r.rcode, Rcode.NXDOMAIN, name)
    assert.equal(r.answers, [])
    assert.is(r.authorities[0]?.type, 'SOA', name)
  }
})

test('an ExternalName service is a CNAME to its external name, whatever the type', async () => {
  // The store's validation refuses ExternalName services today: lay one over the real store.
  const { store } = await clusterWorld()
  const external: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'search', namespace: 'default' },
    spec: { type: 'ExternalName', externalName: 'search.example.org' },
  }
  const view: StoreView = {
    get: (resource, ns, name) =>
      resource === 'services' && ns === 'default' && name === 'search'
        ? external
        : store.get(resource, ns, name),
    list: (resource, options) => store.list(resource, options),
  }
  const rec = new ClusterRecords(view)
  for (const type of ['A', 'AAAA']) {
    const r = answered(rec.answer('search.default.svc.cluster.local', type))
    assert.equal(summary(r.answers), ['search.default.svc.cluster.local CNAME search.example.org'])
  }
  assert.is(answered(rec.answer('_http._tcp.search.default.svc.cluster.local', 'SRV')).rcode, Rcode.NXDOMAIN)
})

test('names outside the cluster domain are not ours; the domain is configurable', async () => {
  const rec = await records()
  assert.equal(rec.answer('example.org', 'A'), { kind: 'outside' })
  assert.equal(rec.answer('web.default.svc.cluster.localhost', 'A'), { kind: 'outside' })
  const custom = await records('Shoal.Internal.')
  assert.equal(custom.answer('web.default.svc.cluster.local', 'A'), { kind: 'outside' })
  assert.equal(summary(answered(custom.answer('web.default.svc.shoal.internal', 'A')).answers), [
    'web.default.svc.shoal.internal A 10.96.0.20',
  ])
  const { store } = await clusterWorld()
  assert.throws(() => new ClusterRecords(store, 'bad domain'), /clusterDomain/)
})

test('dns-version TXT and PTR for cluster addresses; other reverse names are not ours', async () => {
  const rec = await records()
  assert.equal(summary(answered(rec.answer('dns-version.cluster.local', 'TXT')).answers), [
    'dns-version.cluster.local TXT 1.1.0',
  ])
  assert.equal(summary(answered(rec.answer('20.0.96.10.in-addr.arpa', 'PTR')).answers), [
    '20.0.96.10.in-addr.arpa PTR web.default.svc.cluster.local',
  ])
  assert.equal(summary(answered(rec.answer('5.1.244.10.IN-ADDR.ARPA.', 'PTR')).answers), [
    '5.1.244.10.IN-ADDR.ARPA PTR db-0.db.default.svc.cluster.local',
  ])
  assert.equal(rec.answer('1.1.168.192.in-addr.arpa', 'PTR'), { kind: 'outside' })
})

test.run()

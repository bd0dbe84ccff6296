import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { podDns } from '../../src/agent/pod-dns.js'
import type { KubeObject } from '../../src/store/types.js'

const CLUSTER = { server: '10.96.0.10', domain: 'cluster.local' }

function pod(spec: Record<string, unknown> = {}, namespace = 'shop'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace },
    spec: { containers: [{ name: 'web', image: 'nginx' }], ...spec },
  }
}

const clusterResolver = (ns: string, domain = 'cluster.local') => ({
  servers: ['10.96.0.10'],
  searches: [`${ns}.svc.${domain}`, `svc.${domain}`, domain],
  options: ['ndots:5'],
})

test('ClusterFirst (the default): the cluster server, the namespace searches, ndots:5', () => {
  assert.equal(podDns(pod(), CLUSTER), clusterResolver('shop'))
  assert.equal(podDns(pod({ dnsPolicy: 'ClusterFirst' }), CLUSTER), clusterResolver('shop'))
  assert.equal(
    podDns(pod({}, 'default'), { server: '10.96.0.10' }),
    clusterResolver('default'),
    'domain defaults',
  )
  assert.equal(
    podDns(pod(), { server: '10.96.0.10', domain: 'corp.internal' }),
    clusterResolver('shop', 'corp.internal'),
  )
})

test('hostNetwork: ClusterFirst falls back to the host; ClusterFirstWithHostNet keeps the cluster', () => {
  assert.is(podDns(pod({ hostNetwork: true }), CLUSTER), undefined)
  assert.is(podDns(pod({ hostNetwork: true, dnsPolicy: 'ClusterFirst' }), CLUSTER), undefined)
  assert.equal(
    podDns(pod({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), CLUSTER),
    clusterResolver('shop'),
  )
  assert.equal(podDns(pod({ dnsPolicy: 'ClusterFirstWithHostNet' }), CLUSTER), clusterResolver('shop'))
})

test("Default is the host's; without a cluster DNS server, so are the cluster policies", () => {
  assert.is(podDns(pod({ dnsPolicy: 'Default' }), CLUSTER), undefined)
  assert.is(podDns(pod(), undefined), undefined)
  assert.is(podDns(pod({ dnsPolicy: 'ClusterFirstWithHostNet' }), undefined), undefined)
})

test('None: dnsConfig alone', () => {
  const dnsConfig = {
    nameservers: ['1.1.1.1'],
    searches: ['example.com'],
    options: [{ name: 'ndots', value: '2' }],
  }
  const want = { servers: ['1.1.1.1'], searches: ['example.com'], options: ['ndots:2'] }
  assert.equal(podDns(pod({ dnsPolicy: 'None', dnsConfig }), CLUSTER), want)
  assert.equal(podDns(pod({ dnsPolicy: 'None', dnsConfig }), undefined), want, 'no cluster DNS needed')
})

test('dnsConfig merges on top: servers and searches appended once, options replaced by name', () => {
  const dns = podDns(
    pod({
      dnsConfig: {
        nameservers: ['10.96.0.10', '1.1.1.1'],
        searches: ['svc.cluster.local', 'corp.example'],
        options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }, { name: 'timeout', value: '1' }],
      },
    }),
    CLUSTER,
  )
  assert.equal(dns, {
    servers: ['10.96.0.10', '1.1.1.1'],
    searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example'],
    options: ['ndots:2', 'edns0', 'timeout:1'],
  })
  // On the host's resolver (Default), dnsConfig is what is set; the runtime keeps the rest.
  assert.equal(podDns(pod({ dnsPolicy: 'Default', dnsConfig: { searches: ['corp.example'] } }), CLUSTER), {
    servers: [],
    searches: ['corp.example'],
    options: [],
  })
})

test('at most 3 nameservers and 32 searches reach the pod, as the kubelet trims them', () => {
  const dns = podDns(
    pod({
      dnsConfig: {
        nameservers: ['1.1.1.1', '1.0.0.1', '8.8.8.8'],
        searches: Array.from({ length: 40 }, (_, i) => `s${i}.example`),
      },
    }),
    CLUSTER,
  )!
  assert.equal(dns.servers, ['10.96.0.10', '1.1.1.1', '1.0.0.1'])
  assert.is(dns.searches.length, 32)
  assert.is(dns.searches[3], 's0.example')
})

test.run()

import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  formatResolvConf,
  parseResolvConf,
  podDnsConfig,
  upstreamsFromResolvConf,
} from '../../src/dns/resolv-conf.js'

test('parseResolvConf reads nameservers, the last search line and options; ignores comments', () => {
  const conf = parseResolvConf(
    [
      '# generated',
      'nameserver 127.0.0.53',
      'nameserver   fe80::1%eth0 ; link-local',
      'domain old.example',
      'search corp.example lab.example',
      'options edns0 trust-ad',
      'options ndots:2',
      'sortlist 130.155.160.0/255.255.240.0',
      'nameserver ::1',
      '',
    ].join('\n'),
  )
  assert.equal(conf, {
    nameservers: ['127.0.0.53', 'fe80::1%eth0', '::1'],
    search: ['corp.example', 'lab.example'],
    options: ['edns0', 'trust-ad', 'ndots:2'],
  })
  assert.equal(parseResolvConf(''), { nameservers: [], search: [], options: [] })
})

test('upstreamsFromResolvConf leaves out the cluster DNS itself and zoned link-local addresses', () => {
  const conf = parseResolvConf(
    'nameserver 10.96.0.10\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver ::1\n',
  )
  assert.equal(upstreamsFromResolvConf(conf, ['10.96.0.10']), [
    { host: '127.0.0.53', port: 53 },
    { host: '::1', port: 53 },
  ])
})

test('a pod resolves through the cluster DNS with the Kubernetes search path and ndots:5', () => {
  const config = podDnsConfig({
    dnsAddress: '10.96.0.10',
    namespace: 'shop',
    hostSearch: ['corp.example', 'cluster.local', 'a.example', 'b.example', 'c.example'],
  })
  assert.equal(config, {
    nameservers: ['10.96.0.10'],
    search: [
      'shop.svc.cluster.local',
      'svc.cluster.local',
      'cluster.local',
      'corp.example',
      'a.example',
      'b.example',
    ],
    options: ['ndots:5'],
  })
  assert.is(
    formatResolvConf(
      podDnsConfig({ dnsAddress: '10.96.0.10', namespace: 'default', clusterDomain: 'shoal.internal.' }),
    ),
    'nameserver 10.96.0.10\nsearch default.svc.shoal.internal svc.shoal.internal shoal.internal\noptions ndots:5\n',
  )
})

test.run()

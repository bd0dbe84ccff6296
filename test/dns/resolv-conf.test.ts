import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parseResolvConf, upstreamsFromResolvConf } from '../../src/dns/resolv-conf.js'

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

test.run()

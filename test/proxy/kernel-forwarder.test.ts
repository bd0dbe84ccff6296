import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { KernelForwarder, removeClusterRules } from '../../src/proxy/kernel-forwarder.js'
import {
  baseChains,
  clusterTag,
  kernelCanServe,
  parseJumps,
  renderService,
  serviceChain,
} from '../../src/proxy/kernel-rules.js'
import type { ListenerSpec } from '../../src/proxy/service-rules.js'
import { silentLogger } from '../../src/util/logger.js'
import { FakeIptables } from './fake-iptables.js'

// Addresses here are rule data for the in-memory nat table (FakeIptables): nothing is dialled.
const TAG = clusterTag('10.96.0.0/12')

function spec(
  host: string,
  port: number,
  backends: string[],
  extra: Partial<ListenerSpec> = {},
): ListenerSpec {
  return {
    key: `TCP/${host}:${port}`,
    protocol: 'TCP',
    host,
    port,
    service: 'default/web',
    portName: 'http',
    clusterIp: true,
    backends: backends.map((b) => ({ host: b.split(':')[0]!, port: Number(b.split(':')[1]) })),
    sessionAffinity: 'None',
    affinityTimeoutMs: 10_800_000,
    ...extra,
  }
}

async function forwarder(ipt = new FakeIptables(), tag = TAG): Promise<KernelForwarder> {
  const f = new KernelForwarder({ iptables: ipt, tag, logger: silentLogger() })
  assert.is(await f.setUp(), null)
  return f
}

test('names: per cluster, within iptables’ 28 characters, stable', () => {
  assert.is.not(clusterTag('10.96.0.0/12'), clusterTag('198.18.40.0/24'))
  const name = serviceChain(TAG, 'TCP/10.96.0.20:80')
  assert.ok(name.length <= 28, name)
  assert.is(name, serviceChain(TAG, 'TCP/10.96.0.20:80'))
  assert.is.not(name, serviceChain(TAG, 'TCP/10.96.0.20:81'))
})

test('what the kernel carries: TCP over IPv4, not from a loopback address to endpoints elsewhere', () => {
  assert.ok(kernelCanServe(spec('10.96.0.20', 80, ['10.244.1.2:8080'])))
  assert.ok(kernelCanServe(spec('127.100.0.20', 80, ['127.200.0.3:8080'])))
  assert.not.ok(kernelCanServe(spec('127.0.40.1', 30080, ['10.244.1.2:8080'])))
  assert.not.ok(kernelCanServe(spec('10.96.0.20', 53, ['10.244.1.2:53'], { protocol: 'UDP' })))
  assert.not.ok(kernelCanServe(spec('fd00::20', 80, ['10.244.1.2:8080'])))
})

test('set-up: chains made and hooked once, whatever the number of peers on the host', async () => {
  const ipt = new FakeIptables()
  await forwarder(ipt)
  await forwarder(ipt)
  const { services, postrouting } = baseChains(TAG)
  assert.equal(ipt.chains.get('OUTPUT'), [['-j', services]])
  assert.equal(ipt.chains.get('PREROUTING'), [['-j', services]])
  assert.equal(ipt.chains.get('POSTROUTING'), [['-j', postrouting]])
  assert.equal(ipt.chains.get(postrouting)!.length, 1)
})

test('set-up: without iptables, it says why', async () => {
  const f = new KernelForwarder({
    iptables: {
      run: async () => {
        throw Object.assign(new Error('spawn iptables ENOENT'), { code: 'ENOENT' })
      },
      restore: async () => ({ code: 0, stdout: '', stderr: '' }),
    },
    tag: TAG,
    logger: silentLogger(),
  })
  assert.match((await f.setUp()) ?? '', /iptables cannot run/)
})

test('new connections go round-robin, exactly, and marked for masquerade', async () => {
  const ipt = new FakeIptables()
  const f = await forwarder(ipt)
  const three = ['10.244.0.2:8080', '10.244.1.3:8080', '10.244.2.4:8080']
  await f.apply(spec('10.96.0.20', 80, three))
  const seen = Array.from({ length: 9 }, () => ipt.rewrite('10.244.5.5', '10.96.0.20', 80))
  assert.equal(
    seen.map((s) => s.to),
    [...three, ...three, ...three],
  )
  assert.ok(seen.every((s) => s.marked))
  // Another address or port is not touched.
  assert.is(ipt.rewrite('10.244.5.5', '10.96.0.20', 81).to, null)
  assert.is(ipt.rewrite('10.244.5.5', '10.96.0.21', 80).to, null)
})

test('endpoint changes replace the rules in one restore; unchanged rules are not rewritten', async () => {
  const ipt = new FakeIptables()
  const f = await forwarder(ipt)
  await f.apply(spec('10.96.0.20', 80, ['10.244.0.2:8080', '10.244.1.3:8080']))
  await f.apply(spec('10.96.0.20', 80, ['10.244.1.3:8080']))
  const before = ipt.calls.length
  await f.apply(spec('10.96.0.20', 80, ['10.244.1.3:8080']))
  assert.is(ipt.calls.length, before, 'unchanged: no iptables call')
  for (let i = 0; i < 4; i++) assert.is(ipt.rewrite('c', '10.96.0.20', 80).to, '10.244.1.3:8080')
  assert.is(parseJumps(TAG, (await ipt.run(['-t', 'nat', '-S', baseChains(TAG).services])).stdout).length, 1)
})

test('no endpoints: the connection is left to the proxy’s own listener', async () => {
  const ipt = new FakeIptables()
  const f = await forwarder(ipt)
  await f.apply(spec('10.96.0.20', 80, []))
  const r = ipt.rewrite('c', '10.96.0.20', 80)
  assert.is(r.to, null)
  assert.is(r.marked, false)
})

test('ClientIP affinity: a client stays with its endpoint, others still rotate', async () => {
  const ipt = new FakeIptables()
  const f = await forwarder(ipt)
  const affinity = { sessionAffinity: 'ClientIP' as const, affinityTimeoutMs: 60_000 }
  await f.apply(spec('10.96.0.20', 80, ['10.244.0.2:8080', '10.244.1.3:8080'], affinity))
  const first = ipt.rewrite('10.244.9.1', '10.96.0.20', 80).to
  for (let i = 0; i < 5; i++) assert.is(ipt.rewrite('10.244.9.1', '10.96.0.20', 80).to, first)
  const other = ipt.rewrite('10.244.9.2', '10.96.0.20', 80).to
  assert.is.not(other, first)
  assert.match(renderService(TAG, spec('10.96.0.20', 80, ['10.244.0.2:8080'], affinity)), /--seconds 60 /)
  // An endpoint that leaves takes its chain with it.
  await f.apply(spec('10.96.0.20', 80, ['10.244.1.3:8080'], affinity))
  assert.is(ipt.ownChains().filter((c) => c.startsWith('SHOAL-E-')).length, 1)
})

test('remove: the jump and the chains go; removeAll takes everything this peer wrote', async () => {
  const ipt = new FakeIptables()
  const f = await forwarder(ipt)
  await f.apply(spec('10.96.0.20', 80, ['10.244.0.2:8080']))
  await f.apply(spec('10.96.0.21', 80, ['10.244.0.2:8080'], { sessionAffinity: 'ClientIP' }))
  await f.remove('TCP/10.96.0.20:80')
  assert.is(ipt.rewrite('c', '10.96.0.20', 80).to, null)
  assert.equal(f.appliedKeys(), ['TCP/10.96.0.21:80'])
  await f.removeAll()
  assert.equal(ipt.ownChains(), [baseChains(TAG).postrouting, baseChains(TAG).services].sort())
  assert.equal(ipt.chains.get(baseChains(TAG).services), [])
})

test('resync: rules of a gone service, written by a peer that was killed, are removed by another', async () => {
  const ipt = new FakeIptables()
  const killed = await forwarder(ipt)
  await killed.apply(spec('10.96.0.20', 80, ['10.244.0.2:8080']))
  await killed.apply(spec('10.96.0.21', 80, ['10.244.0.2:8080'], { sessionAffinity: 'ClientIP' }))
  const survivor = await forwarder(ipt)
  await survivor.resync((host, port) => `${host}:${port}` === '10.96.0.20:80')
  assert.is(ipt.rewrite('c', '10.96.0.20', 80).to, '10.244.0.2:8080')
  assert.is(ipt.rewrite('c', '10.96.0.21', 80).to, null)
  assert.not.ok(ipt.ownChains().some((c) => c.startsWith('SHOAL-E-')))
})

test('resync: rules flushed under it are written again at the next apply', async () => {
  const ipt = new FakeIptables()
  const f = await forwarder(ipt)
  const s = spec('10.96.0.20', 80, ['10.244.0.2:8080'])
  await f.apply(s)
  ipt.chains.set(baseChains(TAG).services, []) // an operator's flush
  await f.resync(() => true)
  await f.apply(s)
  assert.is(ipt.rewrite('c', '10.96.0.20', 80).to, '10.244.0.2:8080')
  // The whole chain gone: it is set up again.
  await removeClusterRules(ipt, TAG)
  await f.resync(() => true)
  await f.apply(s)
  assert.is(ipt.rewrite('c', '10.96.0.20', 80).to, '10.244.0.2:8080')
})

test('clusters on one host keep to their own chains', async () => {
  const ipt = new FakeIptables()
  const other = clusterTag('198.18.40.0/24')
  const a = await forwarder(ipt)
  const b = await forwarder(ipt, other)
  await a.apply(spec('10.96.0.20', 80, ['10.244.0.2:8080']))
  await b.apply(spec('198.18.40.20', 80, ['10.244.0.3:8080']))
  await b.resync(() => false)
  await removeClusterRules(ipt, other)
  assert.is(ipt.rewrite('c', '10.96.0.20', 80).to, '10.244.0.2:8080')
  assert.is(ipt.rewrite('c', '198.18.40.20', 80).to, null)
  assert.not.ok(ipt.ownChains().some((c) => c.includes(other)))
})

test.run()

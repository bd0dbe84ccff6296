import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { backendKey, InvalidProxyConfigError, RoundRobinPicker } from '../../src/proxy/round-robin.js'
import { ManualClock } from '../../src/util/clock.js'

const b = (i: number) => ({ host: `10.0.0.${i}`, port: 80 })
const keys = (picker: RoundRobinPicker, n: number, ip?: string): string[] =>
  Array.from({ length: n }, () => {
    const p = picker.pick(ip)
    return p === null ? 'none' : p.host
  })

test('round-robin: each backend in turn, equally often', () => {
  const picker = new RoundRobinPicker(new ManualClock())
  assert.is(picker.pick(), null)
  picker.setBackends([b(1), b(2), b(3), b(1)])
  assert.is(picker.list().length, 3, 'duplicates dropped')
  const counts = new Map<string, number>()
  for (const k of keys(picker, 300)) counts.set(k, (counts.get(k) ?? 0) + 1)
  assert.equal([...counts.values()], [100, 100, 100])
  assert.equal(keys(picker, 4), ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.1'])
})

test('an update goes on from the backend due next; a removed one is never picked', () => {
  const picker = new RoundRobinPicker(new ManualClock())
  picker.setBackends([b(1), b(2), b(3)])
  assert.equal(keys(picker, 2), ['10.0.0.1', '10.0.0.2'])
  picker.setBackends([b(4), b(1), b(3), b(2)])
  assert.equal(keys(picker, 4), ['10.0.0.3', '10.0.0.2', '10.0.0.4', '10.0.0.1'])
  // b(3) was due next and is gone: the rotation goes on from the same position
  picker.setBackends([b(4), b(2)])
  assert.equal(keys(picker, 4), ['10.0.0.4', '10.0.0.2', '10.0.0.4', '10.0.0.2'])
  picker.setBackends([])
  assert.is(picker.pick(), null)
})

test('a failed backend is skipped for the cool-down, then used again', () => {
  const clock = new ManualClock(0)
  const picker = new RoundRobinPicker(clock, { failCooldownMs: 1000 })
  picker.setBackends([b(1), b(2), b(3)])
  picker.markFailed(b(2))
  assert.equal(keys(picker, 4), ['10.0.0.1', '10.0.0.3', '10.0.0.1', '10.0.0.3'])
  clock.advance(1000)
  assert.equal(keys(picker, 3), ['10.0.0.1', '10.0.0.2', '10.0.0.3'])
  // markSucceeded ends a cool-down early
  picker.markFailed(b(1))
  picker.markSucceeded(b(1))
  assert.equal(keys(picker, 3), ['10.0.0.1', '10.0.0.2', '10.0.0.3'])
})

test('every backend cooling down: still round-robin among them; exclude is honoured', () => {
  const picker = new RoundRobinPicker(new ManualClock(0))
  picker.setBackends([b(1), b(2)])
  picker.markFailed(b(1))
  picker.markFailed(b(2))
  assert.equal(keys(picker, 2), ['10.0.0.1', '10.0.0.2'])
  assert.is(picker.pick(undefined, new Set([backendKey(b(1)), backendKey(b(2))])), null)
  assert.is(picker.pick(undefined, new Set([backendKey(b(1))]))?.host, '10.0.0.2')
})

test('ClientIP affinity: a client sticks to its backend until the timeout; others rotate', () => {
  const clock = new ManualClock(0)
  const picker = new RoundRobinPicker(clock, { sessionAffinity: 'ClientIP', affinityTimeoutMs: 10_000 })
  picker.setBackends([b(1), b(2), b(3)])
  assert.is(picker.pick('192.168.0.1')?.host, '10.0.0.1')
  assert.is(picker.pick('192.168.0.2')?.host, '10.0.0.2')
  assert.equal(keys(picker, 5, '192.168.0.1'), Array(5).fill('10.0.0.1'))
  clock.advance(9_999) // each use refreshes the timeout
  assert.is(picker.pick('192.168.0.1')?.host, '10.0.0.1')
  clock.advance(10_000)
  assert.is(picker.pick('192.168.0.1')?.host, '10.0.0.3', 'expired: the next in turn')
  assert.is(picker.pick('192.168.0.2')?.host, '10.0.0.1')
})

test('ClientIP affinity: entries survive an update while their backend remains; failures move them', () => {
  const picker = new RoundRobinPicker(new ManualClock(0), { sessionAffinity: 'ClientIP' })
  picker.setBackends([b(1), b(2), b(3)])
  picker.pick('c1') // 1
  picker.pick('c2') // 2
  picker.pick('c3') // 3
  picker.setBackends([b(3), b(1)])
  assert.is(picker.affinitySize(), 2)
  assert.is(picker.pick('c1')?.host, '10.0.0.1')
  assert.is(picker.pick('c3')?.host, '10.0.0.3')
  assert.ok(['10.0.0.1', '10.0.0.3'].includes(picker.pick('c2')!.host))
  picker.markFailed(b(1))
  assert.is(picker.pick('c1')?.host, '10.0.0.3')
})

test('ClientIP affinity is bounded: the least recently used client is forgotten', () => {
  const picker = new RoundRobinPicker(new ManualClock(0), {
    sessionAffinity: 'ClientIP',
    maxAffinityEntries: 2,
  })
  picker.setBackends([b(1), b(2), b(3)])
  picker.pick('a')
  picker.pick('b')
  picker.pick('a')
  picker.pick('c')
  assert.is(picker.affinitySize(), 2)
  assert.is(picker.pick('a')?.host, '10.0.0.1', 'a was used recently: kept')
})

test('config validation names the field and value', () => {
  try {
    new RoundRobinPicker(new ManualClock(), { affinityTimeoutMs: -1 })
    assert.unreachable()
  } catch (err) {
    assert.instance(err, InvalidProxyConfigError)
    assert.match((err as Error).message, /affinityTimeoutMs.*-1/)
  }
})

test.run()

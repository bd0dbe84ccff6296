import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { isoSeconds, ManualClock } from '../../src/util/clock.js'

test('timers fire in due order, ties in creation order, and now() follows', () => {
  const clock = new ManualClock(1000)
  const fired: string[] = []
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20)
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10)
  clock.setTimeout(() => fired.push(`c@${clock.now()}`), 20)
  clock.advance(15)
  assert.equal(fired, ['a@1010'])
  assert.is(clock.now(), 1015)
  clock.advance(100)
  assert.equal(fired, ['a@1010', 'b@1020', 'c@1020'])
  assert.is(clock.now(), 1115)
})

test('cleared timers never fire; timers set while firing are honoured', () => {
  const clock = new ManualClock(0)
  const fired: number[] = []
  const h = clock.setTimeout(() => fired.push(1), 5)
  clock.setTimeout(() => {
    fired.push(2)
    clock.setTimeout(() => fired.push(3), 1)
  }, 6)
  clock.clearTimeout(h)
  clock.advance(10)
  assert.equal(fired, [2, 3])
  assert.is(clock.pendingTimers(), 0)
  assert.is(clock.nextDueMs(), null)
})

test('isoSeconds: RFC 3339 to the second, right across seconds, before 1970 too', () => {
  const t = Date.UTC(2026, 10, 26, 9, 0, 59)
  assert.is(isoSeconds(t), '2026-11-26T09:00:59Z')
  assert.is(isoSeconds(t + 999), '2026-11-26T09:00:59Z')
  assert.is(isoSeconds(t + 1000), '2026-11-26T09:01:00Z')
  assert.is(isoSeconds(t + 999), '2026-11-26T09:00:59Z', 'going back a second')
  assert.is(isoSeconds(-1500), '1969-12-31T23:59:58Z')
  assert.throws(() => isoSeconds(Number.NaN))
})

test.run()

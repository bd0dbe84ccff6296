import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ManualClock } from '../../src/util/clock.js'

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

test.run()

import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SerialQueue } from '../../src/util/serial-queue.js'

test('tasks run one at a time in order; a failure reaches its caller only', async () => {
  const q = new SerialQueue()
  const log: string[] = []
  let running = 0
  const task =
    (name: string, fail = false) =>
    async () => {
      running++
      assert.is(running, 1, `${name} overlapped another task`)
      log.push(`${name} starts`)
      await new Promise((r) => setImmediate(r))
      log.push(`${name} ends`)
      running--
      if (fail) throw new Error(`${name} failed`)
      return name
    }
  const results = await Promise.allSettled([q.run(task('a')), q.run(task('b', true)), q.run(task('c'))])
  assert.equal(log, ['a starts', 'a ends', 'b starts', 'b ends', 'c starts', 'c ends'])
  assert.equal(
    results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
    ['a', 'b failed', 'c'],
  )
})

test.run()

import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SeededRng } from '../../src/util/random.js'

test('the same seed gives the same sequence; another seed another', () => {
  const a = new SeededRng(7)
  const b = new SeededRng(7)
  const c = new SeededRng(8)
  const seqA = Array.from({ length: 20 }, () => a.int(1000))
  const seqB = Array.from({ length: 20 }, () => b.int(1000))
  const seqC = Array.from({ length: 20 }, () => c.int(1000))
  assert.equal(seqA, seqB)
  assert.not.equal(seqA, seqC)
})

test('values stay in range and cover it', () => {
  const rng = new SeededRng(1)
  const seen = new Set<number>()
  for (let i = 0; i < 2000; i++) {
    const v = rng.between(3, 9)
    assert.ok(v >= 3 && v <= 9, `out of range: ${v}`)
    seen.add(v)
    const f = rng.next()
    assert.ok(f >= 0 && f < 1)
  }
  assert.is(seen.size, 7)
})

test('polyfill provides Promise.withResolvers', async () => {
  const withResolvers = (
    Promise as unknown as { withResolvers: <T>() => { promise: Promise<T>; resolve: (v: T) => void } }
  ).withResolvers
  const { promise, resolve } = withResolvers.call(Promise) as {
    promise: Promise<number>
    resolve: (v: number) => void
  }
  resolve(5)
  assert.is(await promise, 5)
})

test.run()

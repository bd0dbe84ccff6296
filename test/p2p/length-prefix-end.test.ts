import '../../src/util/polyfill.js'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useQuietLengthPrefixEnd } from '../../src/p2p/length-prefix-end.js'

/** Noise's framing: a 16-bit big-endian length, which throws a RangeError when short. */
function noiseDecoder(seen: number[]) {
  return new LengthPrefixedDecoder({
    lengthDecoder: (data: { byteLength: number; subarray(a: number, b: number): Uint8Array }) => {
      seen.push(data.byteLength)
      if (data.byteLength < 2) throw new RangeError('Could not decode int16BE')
      const b = data.subarray(0, 2)
      return (b[0]! << 8) | b[1]!
    },
    encodingLength: () => 2,
  })
}

function frame(body: number[]): Uint8Array {
  return Uint8Array.from([body.length >> 8, body.length & 0xff, ...body])
}

function bytes(list: Iterable<{ subarray(): Uint8Array }>): number[][] {
  return [...list].map((b) => [...b.subarray()])
}

test('a chunk that ends on a message boundary does not ask the length decoder again', () => {
  useQuietLengthPrefixEnd()
  useQuietLengthPrefixEnd() // idempotent
  const seen: number[] = []
  const d = noiseDecoder(seen)
  const two = new Uint8Array([...frame([1, 2, 3]), ...frame([4])])
  assert.equal(bytes(d.decode(two)), [[1, 2, 3], [4]])
  assert.equal(seen, [8, 3], 'asked for the two lengths only, never with an empty buffer')
})

test('messages split across chunks, and a split length prefix, still decode', () => {
  useQuietLengthPrefixEnd()
  const seen: number[] = []
  const d = noiseDecoder(seen)
  const stream = new Uint8Array([...frame([9, 8, 7, 6]), ...frame([5, 4])])
  const out: number[][] = []
  // 1 byte (half a prefix), then the rest of the first message and one byte of the second's prefix, …
  for (const [from, to] of [
    [0, 1],
    [1, 7],
    [7, 8],
    [8, 10],
  ] as const)
    out.push(...bytes(d.decode(stream.subarray(from, to))))
  assert.equal(out, [
    [9, 8, 7, 6],
    [5, 4],
  ])
  assert.ok(!seen.includes(0), 'never asked with nothing buffered')
})

test('a length decoder error that is not about a short buffer still surfaces', () => {
  useQuietLengthPrefixEnd()
  const d = new LengthPrefixedDecoder({
    lengthDecoder: () => {
      throw new TypeError('broken')
    },
    encodingLength: () => 2,
  })
  assert.throws(() => [...d.decode(new Uint8Array([0, 1, 2]))], /broken/)
})

test.run()

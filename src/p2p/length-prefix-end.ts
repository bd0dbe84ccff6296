/**
 * No exception per chunk a connection receives. @libp2p/utils' `LengthPrefixedDecoder` (7.x),
 * which @chainsafe/libp2p-noise uses to cut the encrypted byte stream into messages, asks its
 * length decoder for the next length after every message it yields, also when nothing is left
 * in its buffer; Noise's 16-bit decoder then throws a `RangeError`, which the loop catches as
 * its normal end. So every chunk read from a peer built an Error with a stack trace: ~4 µs
 * measured alone, more on a real stack, 3 % of a busy leader's main thread in the API benchmark
 * (docs/BENCHMARKS.md). Here an empty buffer's "length" is 0 without asking the decoder: a
 * message of length 0 still needs its prefix, which is more than the 0 bytes buffered, so the
 * loop ends where it ended before, without the exception. A buffer holding part of a prefix
 * still goes to the decoder (and throws), as before; that is rare.
 *
 * A patch of the library's prototype, applied once when the p2p host module loads; checked
 * by test/p2p/length-prefix-end.test.ts against the installed version.
 */

import { LengthPrefixedDecoder } from '@libp2p/utils'
import { patchMethodOnce } from './library-patch.js'

type LengthDecoder = (data: { byteLength: number }) => number

/** Decoders whose length decoder is wrapped already. */
const wrapped = new WeakSet<object>()

/** Installs the rule (idempotent). */
export function useQuietLengthPrefixEnd(): void {
  patchMethodOnce<(this: { lengthDecoder: LengthDecoder }, buf: unknown) => Generator<unknown>>(
    LengthPrefixedDecoder.prototype,
    'decode',
    '@libp2p/utils LengthPrefixedDecoder',
    (original) =>
      function (this: { lengthDecoder: LengthDecoder }, buf: unknown): Generator<unknown> {
        if (!wrapped.has(this)) {
          const decodeLength = this.lengthDecoder
          if (typeof decodeLength !== 'function')
            throw new Error('@libp2p/utils: LengthPrefixedDecoder has no lengthDecoder (library changed?)')
          this.lengthDecoder = (data) => (data.byteLength === 0 ? 0 : decodeLength(data))
          wrapped.add(this)
        }
        return original.call(this, buf)
      },
  )
}

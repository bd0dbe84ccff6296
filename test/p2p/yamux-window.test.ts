import '../../src/util/polyfill.js'
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { useHalfWindowUpdates } from '../../src/p2p/yamux-window.js'

/** A stream object with just what sendWindowUpdate reads, counting the frames it sends. */
function fakeStream(state: StreamState, recvWindow: number, capacity: number) {
  const frames: { type: number; length: number; flag: number }[] = []
  const s = Object.create(YamuxStream.prototype) as Record<string, unknown>
  Object.assign(s, {
    state,
    recvWindow,
    recvWindowCapacity: capacity,
    epochStart: 0,
    maxStreamWindowSize: recvWindow,
    getRTT: () => -1,
    sendFrame: (f: { type: number; length: number; flag: number }) => frames.push(f),
  })
  return { s: s as unknown as { sendWindowUpdate(): void; recvWindowCapacity: number }, frames }
}

test('an established stream sends a window update only once half its window is used', () => {
  useHalfWindowUpdates()
  useHalfWindowUpdates() // idempotent
  const a = fakeStream(StreamState.Established, 1000, 900)
  a.s.sendWindowUpdate()
  assert.is(a.frames.length, 0, '10 % used: no update')
  const b = fakeStream(StreamState.Established, 1000, 400)
  b.s.sendWindowUpdate()
  assert.is(b.frames.length, 1, '60 % used: an update')
  assert.is(b.frames[0]!.length, 600, 'for everything used')
  assert.is(b.s.recvWindowCapacity, 1000)
})

test('the opening handshake still answers at once', () => {
  useHalfWindowUpdates()
  const c = fakeStream(StreamState.SYNReceived, 1000, 1000)
  c.s.sendWindowUpdate()
  assert.is(c.frames.length, 1, 'the ACK goes out')
})

test.run()

import '../../src/util/polyfill.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ConnectionEncrypter, MessageStream, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { AbstractMessageStream, type SendResult } from '@libp2p/utils'
import { createLibp2p, type Libp2p } from 'libp2p'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { defaultDefer } from '../../src/p2p/coalesce.js'
import { coalesceSends, withCoalescedSends } from '../../src/p2p/connection-sends.js'

/** What a send loop hands on (the library's own Uint8ArrayList). */
type SendChunk = Parameters<AbstractMessageStream['sendData']>[0]

const test = suite('connection sends: one message per connection per run of code')

/** A message stream that records what its send loop hands on, and can say it is full. */
class RecordingStream extends AbstractMessageStream {
  sent: Uint8Array[] = []
  full = false

  constructor() {
    const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, newScope: () => log }) as never
    super({ log, direction: 'outbound' })
  }

  sendData(data: SendChunk): SendResult {
    this.sent.push(data.subarray())
    return { sentBytes: data.byteLength, canSendMore: !this.full }
  }
  sendReset(): void {}
  sendPause(): void {}
  sendResume(): void {}
  async close(): Promise<void> {}
}

const bytes = (...values: number[]) => Uint8Array.from(values)
const microtask = () => new Promise<void>((resolve) => queueMicrotask(resolve))

test('the sends of one run leave together, in order, from a microtask', async () => {
  const stream = new RecordingStream()
  coalesceSends(stream as unknown as MessageStream)
  assert.is(stream.send(bytes(1, 2)), true)
  assert.is(stream.send(bytes(3)), true)
  assert.is(stream.send(bytes(4, 5, 6)), true)
  assert.is(stream.sent.length, 0, 'nothing handed on during the run')
  await microtask()
  assert.equal(stream.sent, [bytes(1, 2, 3, 4, 5, 6)])
  stream.send(bytes(7))
  await microtask()
  assert.equal(stream.sent, [bytes(1, 2, 3, 4, 5, 6), bytes(7)], 'the next run is a message of its own')
})

test('back-pressure is the library’s own: a full stream says so and sends the rest after its drain', async () => {
  const stream = new RecordingStream()
  coalesceSends(stream as unknown as MessageStream)
  stream.full = true
  stream.send(bytes(1))
  await microtask()
  assert.equal(stream.sent, [bytes(1)])
  assert.is(stream.send(bytes(2)), false, 'needs a drain: the caller is told at once')
  assert.is(stream.sent.length, 1, 'queued, not sent')
  stream.full = false
  stream.safeDispatchEvent('drain')
  await microtask()
  await microtask()
  assert.equal(stream.sent, [bytes(1), bytes(2)])
})

test('what is deferred in one turn runs in one callback, in order; one that throws does not stop the rest', async () => {
  const ran: string[] = []
  const uncaught: unknown[] = []
  const onUncaught = (err: unknown): void => {
    uncaught.push(err)
  }
  process.on('uncaughtException', onUncaught)
  try {
    let microtasksBetween = 0
    defaultDefer(() => {
      ran.push('raft')
      queueMicrotask(() => microtasksBetween++)
    })
    defaultDefer(() => {
      // A microtask queued by the first ran only after the whole batch: one synchronous run.
      ran.push(`channel:${microtasksBetween}`)
      throw new Error('boom')
    })
    defaultDefer(() => {
      ran.push('answers')
      defaultDefer(() => ran.push('next turn'))
    })
    assert.equal(ran, [], 'nothing runs during the turn')
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(ran.slice(0, 3), ['raft', 'channel:0', 'answers'])
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(ran, ['raft', 'channel:0', 'answers', 'next turn'])
    assert.is((uncaught[0] as Error | undefined)?.message, 'boom', 'the error is still uncaught, as alone')
  } finally {
    process.off('uncaughtException', onUncaught)
  }
})

test('a stream that is not the library’s message stream is refused loudly', () => {
  assert.throws(() => coalesceSends({ send: () => true } as unknown as MessageStream), /library changed/)
})

/**
 * Two libp2p nodes on loopback with Shoal's encrypter (Noise, wrapped), counting the messages
 * each connection's send loop hands to Noise.
 */
async function pair(): Promise<{ a: Libp2p; b: Libp2p; noiseSends: () => number }> {
  let sends = 0
  const countingNoise = (components: Parameters<ReturnType<typeof noise>>[0]): ConnectionEncrypter => {
    const encrypter = noise()(components)
    for (const side of ['secureInbound', 'secureOutbound'] as const) {
      const secure = encrypter[side].bind(encrypter)
      encrypter[side] = async (connection, options) => {
        const secured = await secure(connection, options)
        const stream = secured.connection as unknown as { sendData: (d: SendChunk) => SendResult }
        const sendData = stream.sendData.bind(stream)
        stream.sendData = (d) => {
          sends++
          return sendData(d)
        }
        return secured
      }
    }
    return encrypter
  }
  const node = async () =>
    createLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [withCoalescedSends(countingNoise)],
      streamMuxers: [yamux()],
    })
  const [a, b] = await Promise.all([node(), node()])
  return { a, b, noiseSends: () => sends }
}

test('on a real connection: sends on two streams in one run are one Noise message, and arrive whole', async () => {
  const { a, b, noiseSends } = await pair()
  try {
    const received = new Map<string, number[]>()
    let allArrived = (): void => {}
    const arrived = new Promise<void>((resolve) => {
      allArrived = resolve
    })
    const bigLength = 100_000
    await b.handle('/test/sends/1.0.0', (stream: Stream) => {
      stream.addEventListener('message', (evt) => {
        const got = received.get(stream.id) ?? []
        got.push(...evt.data.subarray())
        received.set(stream.id, got)
        const total = [...received.values()].reduce((n, v) => n + v.length, 0)
        if (total === 3 + 2 + bigLength) allArrived()
      })
    })
    const [s1, s2] = await Promise.all([
      a.dialProtocol(b.getMultiaddrs()[0]!, '/test/sends/1.0.0'),
      a.dialProtocol(b.getMultiaddrs()[0]!, '/test/sends/1.0.0'),
    ])
    // Let the streams' opening settle, then send in one run.
    await new Promise((resolve) => setTimeout(resolve, 100))
    const before = noiseSends()
    s1.send(bytes(1, 2, 3))
    s2.send(bytes(4, 5))
    await microtask()
    await microtask()
    assert.is(noiseSends() - before, 1, 'two yamux frames, one Noise message')
    const big = new Uint8Array(bigLength).map((_, i) => i % 251)
    s1.send(big)
    await Promise.race([
      arrived,
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 5000)),
    ])
    const streams = [...received.values()].sort((x, y) => x.length - y.length)
    assert.equal(streams[0], [4, 5])
    assert.equal(streams[1]!.slice(0, 3), [1, 2, 3])
    assert.equal(Uint8Array.from(streams[1]!.slice(3)), big, 'a message over Noise’s 64 KiB limit, in order')
  } finally {
    await a.stop()
    await b.stop()
  }
})

test.run()

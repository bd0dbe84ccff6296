import '../../src/util/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  decodeLeaderAnswer,
  decodeLeaderRequest,
  encodeLeaderAnswer,
  encodeLeaderRequest,
} from '../../src/p2p/cluster-manager.js'
import { takeFrames } from '../../src/p2p/coalesce.js'
import { createHost } from '../../src/p2p/host.js'
import { InmemChannelNetwork } from '../../src/p2p/inmem-channel-host.js'
import { RpcError } from '../../src/p2p/json-rpc.js'
import {
  ChannelFrameDecoder,
  ChannelFrameKind,
  type ChannelRequestHandler,
  encodeChannelFrame,
  libp2pChannelHost,
  RequestChannel,
  type RequestChannelOptions,
} from '../../src/p2p/request-channel.js'
import { newClusterSecret } from '../../src/p2p/secret.js'
import { ManualClock } from '../../src/util/clock.js'

const test = suite('p2p request channel')

const enc = new TextEncoder()
const dec = new TextDecoder()
const B = { id: 'b', address: '/b' }

/** Lets every queued microtask and immediate run (in-memory delivery, handler continuations). */
const settle = async (rounds = 5): Promise<void> => {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r))
}

/** What a settled promise came to, without throwing. */
function track<T>(p: Promise<T>): { done: boolean; value?: T; error?: RpcError } {
  const t: { done: boolean; value?: T; error?: RpcError } = { done: false }
  p.then(
    (v) => {
      t.done = true
      t.value = v
    },
    (e: RpcError) => {
      t.done = true
      t.error = e
    },
  )
  return t
}

function pair(
  handler: ChannelRequestHandler,
  options: Partial<RequestChannelOptions> = {},
  serverOptions: Partial<RequestChannelOptions> = {},
) {
  const net = new InmemChannelNetwork()
  const clock = new ManualClock()
  const server = new RequestChannel({ host: net.host('b'), clock, ...serverOptions })
  const client = new RequestChannel({ host: net.host('a'), clock, ...options })
  return { net, clock, server, client, ready: server.serve(handler) }
}

const echo: ChannelRequestHandler = async (payload) => enc.encode(`re:${dec.decode(payload)}`)

test('frames: round trip, split at every byte, several in one chunk', () => {
  const frames = [
    encodeChannelFrame(1, ChannelFrameKind.Request, enc.encode('hello')),
    encodeChannelFrame(0xffffffff, ChannelFrameKind.Answer, new Uint8Array(0)),
    encodeChannelFrame(7, ChannelFrameKind.Error, enc.encode('boom')),
  ]
  const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0))
  let at = 0
  for (const f of frames) {
    all.set(f, at)
    at += f.length
  }
  for (const step of [1, 2, 3, 5, 9, all.length]) {
    const d = new ChannelFrameDecoder(1024)
    const out = []
    for (let i = 0; i < all.length; i += step) {
      d.push(all.subarray(i, i + step))
      for (let f = d.next(); f; f = d.next()) out.push({ ...f, payload: dec.decode(f.payload) })
    }
    assert.equal(
      out,
      [
        { requestId: 1, kind: ChannelFrameKind.Request, payload: 'hello' },
        { requestId: 0xffffffff, kind: ChannelFrameKind.Answer, payload: '' },
        { requestId: 7, kind: ChannelFrameKind.Error, payload: 'boom' },
      ],
      `chunks of ${step}`,
    )
  }
})

test('frames: an oversize length, a short length or an unknown kind is a protocol error', () => {
  const big = new ChannelFrameDecoder(16)
  big.push(encodeChannelFrame(1, ChannelFrameKind.Request, new Uint8Array(64)).subarray(0, 4))
  assert.throws(() => big.next(), /over the 16-byte limit/)
  const short = new ChannelFrameDecoder(16)
  short.push(new Uint8Array([0, 0, 0, 2, 0, 0]))
  assert.throws(() => short.next(), /shorter than its header/)
  const kind = new ChannelFrameDecoder(16)
  const f = encodeChannelFrame(1, ChannelFrameKind.Request, new Uint8Array(1))
  f[8] = 9
  kind.push(f)
  assert.throws(() => kind.next(), /unknown frame kind 9/)
})

test('coalescing: takeFrames joins frames in order up to the bound; a larger one goes alone', () => {
  const f = (n: number, v: number) => new Uint8Array(n).fill(v)
  const q = [f(2, 1), f(3, 2), f(4, 3), f(10, 4), f(1, 5)]
  const first = takeFrames(q, 9)
  assert.equal([...first.bytes], [1, 1, 2, 2, 2, 3, 3, 3, 3])
  assert.is(first.count, 3)
  const big = takeFrames(q, 9)
  assert.is(big.count, 1)
  assert.is(big.bytes.length, 10)
  assert.equal(takeFrames(q, 9), { bytes: f(1, 5), count: 1 })
  assert.is(q.length, 0)
})

test('leader requests: apply travels as raw bytes, the rest as JSON; answers as JSON', () => {
  const data = new Uint8Array([0, 1, 2, 255])
  const apply = encodeLeaderRequest({ type: 'apply', data })
  assert.is(apply.length, 1 + data.length)
  assert.equal(decodeLeaderRequest(apply), { type: 'apply', data })
  assert.equal(decodeLeaderRequest(encodeLeaderRequest({ type: 'transfer', id: 'x' })), {
    type: 'transfer',
    id: 'x',
  })
  assert.equal(decodeLeaderAnswer(encodeLeaderAnswer({ index: 3, response: { ok: true } })), {
    index: 3,
    response: { ok: true },
  })
  assert.throws(() => decodeLeaderRequest(new Uint8Array([9])), /unknown leader request encoding 9/)
})

test('64 concurrent requests share one stream and one send; answers overtake each other and still pair up', async () => {
  const { net, client, server, ready } = pair(async (payload) => {
    const n = Number(dec.decode(payload))
    // Later requests answer first.
    for (let i = 0; i < 64 - n; i++) await Promise.resolve()
    return enc.encode(String(n * 2))
  })
  await ready
  const answers = await Promise.all(
    Array.from({ length: 64 }, (_, n) => client.request(B, enc.encode(String(n)), 1000)),
  )
  assert.equal(
    answers.map((a) => Number(dec.decode(a))),
    Array.from({ length: 64 }, (_, n) => n * 2),
  )
  assert.is(net.streams.length, 1)
  assert.is(client.outboundStreams(), 1)
  // Made in one turn of the event loop, they leave in one send, and so do the answers.
  assert.is(net.streams[0]!.client.sent.length, 1)
  assert.is(net.streams[0]!.server.sent.length, 1)
  // And the stream stays for the next ones.
  assert.is(dec.decode(await client.request(B, enc.encode('x'), 1000)), 'NaN')
  assert.is(net.streams.length, 1)
  await client.close()
  await server.close()
})

test('a handler that throws answers its request with "remote"; the others are unaffected', async () => {
  const { client, server, ready } = pair(async (payload) => {
    if (dec.decode(payload) === 'bad') throw new Error('not the leader; no leader known')
    return payload
  })
  await ready
  const [a, b, c] = await Promise.allSettled([
    client.request(B, enc.encode('ok1'), 1000),
    client.request(B, enc.encode('bad'), 1000),
    client.request(B, enc.encode('ok2'), 1000),
  ])
  assert.is(a.status, 'fulfilled')
  assert.is(c.status, 'fulfilled')
  assert.is(b.status, 'rejected')
  const err = (b as PromiseRejectedResult).reason as RpcError
  assert.instance(err, RpcError)
  assert.is(err.code, 'remote')
  assert.is(err.message, 'not the leader; no leader known')
  await client.close()
  await server.close()
})

test('a stream that breaks rejects what it carried as "unreachable" (maybe carried out); the next request redials', async () => {
  const started: string[] = []
  const { net, client, server, ready } = pair((payload) => {
    started.push(dec.decode(payload))
    return new Promise<Uint8Array>(() => {}) // never answers
  })
  await ready
  const r1 = track(client.request(B, enc.encode('1'), 10_000))
  const r2 = track(client.request(B, enc.encode('2'), 10_000))
  await settle()
  assert.equal(started, ['1', '2'])
  net.breakStreams('a', 'b')
  await settle()
  for (const r of [r1, r2]) {
    assert.ok(r.done)
    assert.is(r.error?.code, 'unreachable')
    assert.match(r.error!.message, /may or may not have been carried out/)
  }
  assert.is(client.outboundStreams(), 0)
  // A fresh stream for the next request.
  await server.close()
  const server2 = new RequestChannel({ host: net.host('b') })
  await server2.serve(echo)
  assert.is(dec.decode(await client.request(B, enc.encode('3'), 1000)), 're:3')
  assert.is(net.streams.length, 2)
  await client.close()
  await server2.close()
})

test('a failed dial rejects its requests as "unreachable", never sent; the next request dials again', async () => {
  const { net, client, server, ready } = pair(echo)
  await ready
  net.setUnreachable('b', true)
  const r = await client.request(B, enc.encode('x'), 1000).catch((e: RpcError) => e)
  assert.instance(r, RpcError)
  assert.is((r as RpcError).code, 'unreachable')
  assert.match((r as RpcError).message, /never sent/)
  net.setUnreachable('b', false)
  assert.is(dec.decode(await client.request(B, enc.encode('y'), 1000)), 're:y')
  await client.close()
  await server.close()
})

test('requests made while the stream opens wait for it, in order', async () => {
  const seen: string[] = []
  const { net, client, server, ready } = pair(async (payload) => {
    seen.push(dec.decode(payload))
    return payload
  })
  await ready
  let release!: () => void
  net.holdDials(new Promise<void>((r) => (release = r)))
  const all = Promise.all(['1', '2', '3'].map((s) => client.request(B, enc.encode(s), 1000)))
  await settle()
  assert.equal(seen, [])
  net.holdDials(undefined)
  release()
  await all
  assert.equal(seen, ['1', '2', '3'])
  assert.is(net.streams.length, 1)
  await client.close()
  await server.close()
})

test('one request timing out leaves the stream to the others; its late answer is dropped', async () => {
  const slow: (() => void)[] = []
  const { net, clock, client, server, ready } = pair((payload) =>
    dec.decode(payload) === 'slow'
      ? new Promise<Uint8Array>((resolve) => slow.push(() => resolve(enc.encode('late'))))
      : Promise.resolve(payload),
  )
  await ready
  const s = track(client.request(B, enc.encode('slow'), 1000))
  assert.is(dec.decode(await client.request(B, enc.encode('fast'), 1000)), 'fast')
  clock.advance(1000)
  await settle()
  assert.is(s.error?.code, 'timeout')
  slow[0]!()
  await settle()
  // The stream is still there and still works.
  assert.is(dec.decode(await client.request(B, enc.encode('next'), 1000)), 'next')
  assert.is(net.streams.length, 1)
  await client.close()
  await server.close()
})

test('a silent stream is retired: new requests go on a new one, those on it keep waiting', async () => {
  const { net, clock, client, server, ready } = pair(echo, { silentStreamMs: 3000 })
  await ready
  assert.is(dec.decode(await client.request(B, enc.encode('warm'), 1000)), 're:warm')
  // The connection dies silently: the server's answers vanish.
  net.streams[0]!.server.blackhole = true
  const long = track(client.request(B, enc.encode('long'), 20_000))
  const short = track(client.request(B, enc.encode('short'), 4000))
  await settle()
  clock.advance(4000)
  await settle()
  assert.is(short.error?.code, 'timeout')
  // Retired, not aborted: the long request still waits on it.
  assert.not.ok(long.done)
  assert.is(net.openStreams('a', 'b').length, 1)
  assert.is(dec.decode(await client.request(B, enc.encode('fresh'), 1000)), 're:fresh')
  assert.is(net.streams.length, 2)
  clock.advance(16_000)
  await settle()
  assert.is(long.error?.code, 'timeout')
  // Its last request settled: the retired stream is closed.
  assert.is(net.openStreams('a', 'b').length, 1)
  assert.is(client.outboundStreams(), 1)
  await client.close()
  await server.close()
})

test('past maxInflightPerPeer a request fails at once with "overloaded"', async () => {
  const { client, server, ready } = pair(() => new Promise<Uint8Array>(() => {}), { maxInflightPerPeer: 2 })
  await ready
  track(client.request(B, enc.encode('1'), 1000))
  track(client.request(B, enc.encode('2'), 1000))
  const third = await client.request(B, enc.encode('3'), 1000).catch((e: RpcError) => e)
  assert.is((third as RpcError).code, 'overloaded')
  await client.close()
  await server.close()
})

test('the server handles at most maxConcurrentHandlersPerStream at once and reads on as they finish', async () => {
  const pending: (() => void)[] = []
  let running = 0
  let most = 0
  const { client, server, ready } = pair(
    (payload) =>
      new Promise<Uint8Array>((resolve) => {
        running++
        most = Math.max(most, running)
        pending.push(() => {
          running--
          resolve(payload)
        })
      }),
    {},
    { maxConcurrentHandlersPerStream: 2 },
  )
  await ready
  const all = Promise.all(Array.from({ length: 6 }, (_, n) => client.request(B, enc.encode(String(n)), 1000)))
  await settle()
  assert.is(running, 2)
  while (pending.length > 0) {
    pending.shift()!()
    await settle()
  }
  const answers = await all
  assert.equal(
    answers.map((a) => dec.decode(a)),
    ['0', '1', '2', '3', '4', '5'],
  )
  assert.is(most, 2)
  await client.close()
  await server.close()
})

test('back-pressure on the sending side: frames wait for drain and go out in order', async () => {
  const seen: string[] = []
  const { net, client, server, ready } = pair(async (payload) => {
    seen.push(dec.decode(payload))
    return payload
  })
  await ready
  await client.request(B, enc.encode('0'), 1000)
  net.streams[0]!.client.drainEvery = 2
  await Promise.all(['1', '2', '3', '4', '5'].map((s) => client.request(B, enc.encode(s), 1000)))
  assert.equal(seen, ['0', '1', '2', '3', '4', '5'])
  await client.close()
  await server.close()
})

test('closeIdle closes idle streams except the kept peer; close() rejects everything with "closed"', async () => {
  const net = new InmemChannelNetwork()
  const clock = new ManualClock()
  const b = new RequestChannel({ host: net.host('b'), clock })
  const c = new RequestChannel({ host: net.host('c'), clock })
  await b.serve(echo)
  await c.serve(() => new Promise<Uint8Array>(() => {}))
  const a = new RequestChannel({ host: net.host('a'), clock })
  await a.request(B, enc.encode('1'), 1000)
  const hanging = track(a.request({ id: 'c', address: '/c' }, enc.encode('2'), 10_000))
  await settle()
  a.closeIdle(['x'])
  // b was idle: closed; c has a request outstanding: kept.
  assert.is(net.openStreams('a', 'b').length, 0)
  assert.is(net.openStreams('a', 'c').length, 1)
  await a.request(B, enc.encode('3'), 1000)
  a.closeIdle(['b'])
  assert.is(net.openStreams('a', 'b').length, 1)
  await a.close()
  await settle()
  assert.is(hanging.error?.code, 'closed')
  const after = await a.request(B, enc.encode('4'), 1000).catch((e: RpcError) => e)
  assert.is((after as RpcError).code, 'closed')
  assert.is(net.openStreams('a', 'b').length + net.openStreams('a', 'c').length, 0)
  assert.is(clock.pendingTimers(), 0)
  await b.close()
  await c.close()
})

test('a new address for the same peer sends new requests on a new stream', async () => {
  const { net, client, server, ready } = pair(echo)
  await ready
  await client.request(B, enc.encode('1'), 1000)
  await client.request({ id: 'b', address: '/b-moved' }, enc.encode('2'), 1000)
  assert.is(net.streams.length, 2)
  // The first was idle once retired, so it is gone.
  assert.is(net.openStreams('a', 'b').length, 1)
  await client.close()
  await server.close()
})

test('over libp2p: pipelined requests on one stream between two real hosts', async () => {
  const secret = newClusterSecret()
  const protocol = '/shoal/test-channel/1.0.0'
  const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
  const ha = await createHost({ privateKey: ka, listen: '/ip4/127.0.0.1/tcp/0', secret })
  const hb = await createHost({ privateKey: kb, listen: '/ip4/127.0.0.1/tcp/0', secret })
  const a = new RequestChannel({ host: libp2pChannelHost(ha, protocol) })
  const b = new RequestChannel({ host: libp2pChannelHost(hb, protocol) })
  try {
    await b.serve(echo)
    const target = { id: hb.peerId.toString(), address: hb.getMultiaddrs()[0]!.toString() }
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, n) => a.request(target, enc.encode(String(n)), 5000)),
    )
    assert.equal(
      answers.map((x) => dec.decode(x)),
      Array.from({ length: 100 }, (_, n) => `re:${n}`),
    )
    // A large payload spans many chunks.
    const big = new Uint8Array(3 * 1024 * 1024).fill(7)
    const back = await a.request(target, big, 5000)
    assert.is(back.length, big.length + 3)
    assert.is(a.outboundStreams(), 1)
  } finally {
    await a.close()
    await b.close()
    await ha.stop()
    await hb.stop()
  }
})

test('over libp2p: the serving host dies with requests outstanding; they fail "unreachable", and its restart is redialed', async () => {
  const secret = newClusterSecret()
  const protocol = '/shoal/test-channel/1.0.0'
  const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
  const ha = await createHost({ privateKey: ka, listen: '/ip4/127.0.0.1/tcp/0', secret })
  let hb = await createHost({ privateKey: kb, listen: '/ip4/127.0.0.1/tcp/0', secret })
  const address = hb.getMultiaddrs()[0]!.toString()
  const target = { id: hb.peerId.toString(), address }
  const a = new RequestChannel({ host: libp2pChannelHost(ha, protocol) })
  let b = new RequestChannel({ host: libp2pChannelHost(hb, protocol) })
  try {
    await b.serve(async (payload) =>
      dec.decode(payload) === 'hang' ? new Promise<Uint8Array>(() => {}) : payload,
    )
    assert.is(dec.decode(await a.request(target, enc.encode('up'), 5000)), 'up')
    const hanging = a.request(target, enc.encode('hang'), 10_000).catch((e: RpcError) => e)
    await new Promise((r) => setTimeout(r, 50))
    await b.close()
    await hb.stop()
    const err = (await hanging) as RpcError
    assert.instance(err, RpcError)
    assert.is(err.code, 'unreachable')
    // The same peer (key and address) comes back.
    hb = await createHost({ privateKey: kb, listen: address.replace(/\/p2p\/.*$/, ''), secret })
    b = new RequestChannel({ host: libp2pChannelHost(hb, protocol) })
    await b.serve(async (payload) => payload)
    assert.is(dec.decode(await a.request(target, enc.encode('again'), 5000)), 'again')
    assert.is(a.outboundStreams(), 1)
  } finally {
    await a.close()
    await b.close()
    await ha.stop()
    await hb.stop()
  }
})

test.run()

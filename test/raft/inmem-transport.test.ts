import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  InmemNetwork,
  type InmemNetworkInit,
  type NetworkEvent,
  type RpcKind,
} from '../../src/raft/inmem-transport.js'
import { LogType } from '../../src/raft/log.js'
import {
  type AppendEntriesRequest,
  type InstallSnapshotRequest,
  type Peer,
  type RequestVoteRequest,
  type RpcHandler,
  type RpcHeader,
  TransportError,
} from '../../src/raft/transport.js'
import { ManualClock } from '../../src/util/clock.js'
import { type Rng, SeededRng } from '../../src/util/random.js'

// Test code may wait on the event loop; the network itself never does.
const flush = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Moves the clock `ms` forward one timer at a time, letting promises settle after each. */
async function run(clock: ManualClock, ms: number): Promise<void> {
  const endMs = clock.now() + ms
  await flush()
  while (clock.fireNext(endMs)) await flush()
  clock.advance(endMs - clock.now())
  await flush()
}

function peer(address: string): Peer {
  return { id: `id-${address}`, address }
}

function ae(from: string, term: number, data: Uint8Array[] = []): AppendEntriesRequest {
  return {
    from: peer(from),
    term,
    prevLogIndex: 0,
    prevLogTerm: 0,
    entries: data.map((d, i) => ({ index: i + 1, term, type: LogType.Command, data: d })),
    leaderCommit: 0,
  }
}

function rv(from: string, term: number): RequestVoteRequest {
  return {
    from: peer(from),
    term,
    lastLogIndex: 0,
    lastLogTerm: 0,
    preVote: false,
    leadershipTransfer: false,
  }
}

function snap(from: string, term: number, data: Uint8Array): InstallSnapshotRequest {
  return {
    from: peer(from),
    term,
    snapshotId: 's1',
    lastIndex: 10,
    lastTerm: term,
    configuration: { servers: [{ id: 'a', address: 'a', suffrage: 'voter' }] },
    configurationIndex: 1,
    size: data.byteLength,
    offset: 0,
    data,
    done: true,
  }
}

interface Received {
  kind: RpcKind
  req: RpcHeader
}

/** A handler that records every request (as `to<-from:kind:term`) and answers with its term. */
function recorder(name: string, log: { push(line: string): unknown }, received: Received[] = []): RpcHandler {
  const note = (kind: RpcKind, req: RpcHeader) => {
    log.push(`${name}<-${req.from.address}:${kind}:${req.term}`)
    received.push({ kind, req })
  }
  return {
    appendEntries: async (req) => {
      note('appendEntries', req)
      return { term: req.term, success: true, lastLogIndex: req.prevLogIndex + req.entries.length }
    },
    requestVote: async (req) => {
      note('requestVote', req)
      return { term: req.term, granted: true }
    },
    installSnapshot: async (req) => {
      note('installSnapshot', req)
      return { term: req.term, success: true, nextOffset: req.offset + req.data.byteLength }
    },
    timeoutNow: async (req) => {
      note('timeoutNow', req)
      return { term: req.term }
    },
  }
}

interface Tracked<T> {
  done: boolean
  value?: T
  error?: TransportError
  atMs?: number
}

/** Records how and when a promise settles, without awaiting it. */
function track<T>(clock: ManualClock, promise: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { done: false }
  promise.then(
    (value) => Object.assign(t, { done: true, value, atMs: clock.now() }),
    (error: TransportError) => Object.assign(t, { done: true, error, atMs: clock.now() }),
  )
  return t
}

function setup(seed = 1, init: InmemNetworkInit = {}) {
  const clock = new ManualClock(1_000)
  const net = new InmemNetwork({ clock, rng: new SeededRng(seed) }, init)
  return { clock, net }
}

const opts = { timeoutMs: 100 }

test('a request reaches the handler and the answer comes back, both as copies', async () => {
  const { clock, net } = setup()
  const a = net.transport('a')
  const b = net.transport('b')
  assert.is(net.transport('a'), a, 'transport() returns the open endpoint')
  assert.is(a.localAddress, 'a')
  const log: string[] = []
  const received: Received[] = []
  b.setHandler(recorder('b', log, received))

  const req = ae('a', 3, [Uint8Array.from([1, 2, 3]), Buffer.from([4, 5])])
  const call = track(clock, a.appendEntries(peer('b'), req, opts))
  assert.equal(log, [], 'delivery is never synchronous, even with zero delay')
  await flush()
  assert.equal(log, [], 'nor on the microtask queue: only the clock delivers')

  await run(clock, 0)
  assert.equal(log, ['b<-a:appendEntries:3'])
  assert.ok(call.done)
  assert.equal(call.value, { term: 3, success: true, lastLogIndex: 2 })
  assert.is(call.atMs, 1_000)

  const got = received[0]!.req as AppendEntriesRequest
  assert.equal(got, { ...req, entries: req.entries.map((e) => ({ ...e, data: Uint8Array.from(e.data) })) })
  assert.is.not(got, req)
  assert.is.not(got.entries, req.entries)
  assert.is.not(got.entries[0]!.data, req.entries[0]!.data)
  assert.is(got.entries[1]!.data.constructor, Uint8Array, 'a Buffer arrives as a plain Uint8Array')
  assert.is(got.entries[1]!.data.byteOffset, 0, 'not a view into a shared buffer')
  assert.is(clock.pendingTimers(), 0, 'the timeout timer is cleared once answered')
})

test('requests on one link keep their send order with equal delays, and with random delays', async () => {
  const { clock, net } = setup(3)
  const a = net.transport('a')
  const log: string[] = []
  net.transport('b').setHandler(recorder('b', log))

  for (let term = 1; term <= 20; term++) void a.requestVote(peer('b'), rv('a', term), opts)
  await run(clock, 0)
  assert.equal(
    log,
    Array.from({ length: 20 }, (_, i) => `b<-a:requestVote:${i + 1}`),
  )

  // Random delays do not reorder a link by themselves: only reorderRate does.
  log.length = 0
  net.setFaults({ minDelayMs: 1, maxDelayMs: 50 })
  for (let term = 1; term <= 40; term++) {
    void a.requestVote(peer('b'), rv('a', term), opts)
    if (term % 7 === 0) await run(clock, 3)
  }
  await run(clock, 200)
  assert.equal(
    log,
    Array.from({ length: 40 }, (_, i) => `b<-a:requestVote:${i + 1}`),
  )
})

test('an RPC over a disconnected link rejects with timeout after exactly timeoutMs', async () => {
  const { clock, net } = setup()
  const a = net.transport('a')
  const log: string[] = []
  net.transport('b').setHandler(recorder('b', log))
  net.disconnect('b', 'a')
  assert.not.ok(net.isConnected('a', 'b'))

  const startMs = clock.now()
  const call = track(clock, a.requestVote(peer('b'), rv('a', 1), { timeoutMs: 250 }))
  await run(clock, 249)
  assert.not.ok(call.done)
  await run(clock, 1)
  assert.ok(call.done)
  assert.instance(call.error, TransportError)
  assert.is(call.error!.name, 'TransportError')
  assert.is(call.error!.code, 'timeout')
  assert.is(call.atMs! - startMs, 250)
  assert.equal(log, [])

  net.connect('a', 'b')
  assert.ok(net.isConnected('a', 'b'))
  const again = track(clock, a.requestVote(peer('b'), rv('a', 2), opts))
  await run(clock, 0)
  assert.equal(again.value, { term: 2, granted: true })
})

test('partition cuts links between groups only, and heal restores them', async () => {
  const { clock, net } = setup()
  const log: string[] = []
  const t = Object.fromEntries(
    ['a', 'b', 'c', 'd', 'e'].map((x) => {
      const tr = net.transport(x)
      tr.setHandler(recorder(x, log))
      return [x, tr]
    }),
  )
  net.partition(['a', 'b'], ['c', 'd', 'e'])
  const ab = track(clock, t.a!.requestVote(peer('b'), rv('a', 1), opts))
  const ac = track(clock, t.a!.requestVote(peer('c'), rv('a', 1), opts))
  const ce = track(clock, t.c!.requestVote(peer('e'), rv('c', 1), opts))
  const ea = track(clock, t.e!.requestVote(peer('a'), rv('e', 1), opts))
  await run(clock, 100)
  assert.ok(ab.value?.granted)
  assert.ok(ce.value?.granted)
  assert.is(ac.error?.code, 'timeout')
  assert.is(ea.error?.code, 'timeout')
  assert.equal(log.sort(), ['b<-a:requestVote:1', 'e<-c:requestVote:1'])

  net.heal()
  const ac2 = track(clock, t.a!.requestVote(peer('c'), rv('a', 2), opts))
  const ea2 = track(clock, t.e!.requestVote(peer('a'), rv('e', 2), opts))
  await run(clock, 0)
  assert.ok(ac2.value?.granted)
  assert.ok(ea2.value?.granted)

  // isolate/rejoin, and a partition that leaves an address out cuts that address off.
  net.isolate('c')
  const dc = track(clock, t.d!.requestVote(peer('c'), rv('d', 3), opts))
  net.partition(['a'], ['b', 'c'])
  const de = track(clock, t.d!.requestVote(peer('e'), rv('d', 3), opts))
  await run(clock, 100)
  assert.is(dc.error?.code, 'timeout')
  assert.is(de.error?.code, 'timeout')
  net.heal()
  assert.ok(net.isConnected('c', 'd'))
  assert.ok(net.isConnected('d', 'e'))
  assert.throws(() => net.partition(['a', 'b'], ['b']), /b is in two groups/)
})

test('cutting a link loses what is in flight on it, request or answer', async () => {
  const { clock, net } = setup()
  net.setFaults({ minDelayMs: 10, maxDelayMs: 10 })
  const a = net.transport('a')
  const log: string[] = []
  net.transport('b').setHandler(recorder('b', log))

  const request = track(clock, a.requestVote(peer('b'), rv('a', 1), opts))
  await run(clock, 5)
  net.disconnect('a', 'b')
  await run(clock, 10)
  net.connect('a', 'b')
  assert.equal(log, [], 'the request was lost')

  const answer = track(clock, a.requestVote(peer('b'), rv('a', 2), opts))
  await run(clock, 15)
  assert.equal(log, ['b<-a:requestVote:2'], 'delivered at 10 ms')
  net.isolate('a')
  await run(clock, 10)
  net.rejoin('a')
  await run(clock, 200)
  assert.is(request.error?.code, 'timeout')
  assert.is(answer.error?.code, 'timeout', 'the answer was lost on the way back')
})

test('drop rate 1 drops every request, 0 drops none, and a response can be dropped alone', async () => {
  const { clock, net } = setup(5)
  const a = net.transport('a')
  const log: string[] = []
  net.transport('b').setHandler(recorder('b', log))

  net.setFaults({ dropRate: 1 })
  const lost = Array.from({ length: 30 }, (_, i) => track(clock, a.requestVote(peer('b'), rv('a', i), opts)))
  await run(clock, 100)
  assert.equal(log, [])
  assert.ok(lost.every((c) => c.error?.code === 'timeout'))

  net.setFaults({ dropRate: 0 })
  const kept = Array.from({ length: 30 }, (_, i) => track(clock, a.requestVote(peer('b'), rv('a', i), opts)))
  await run(clock, 100)
  assert.is(log.length, 30)
  assert.ok(kept.every((c) => c.value?.granted === true))

  // With a middling rate some requests arrive but their answers do not.
  const events: NetworkEvent[] = []
  const net2 = new InmemNetwork(
    { clock, rng: new SeededRng(5) },
    { faults: { dropRate: 0.5 }, onEvent: (e) => events.push(e) },
  )
  const a2 = net2.transport('a')
  net2.transport('b').setHandler(recorder('b', []))
  for (let i = 0; i < 40; i++) void a2.requestVote(peer('b'), rv('a', i), opts).catch(() => {})
  await run(clock, 100)
  const dropped = (leg: string) => events.filter((e) => e.what === 'dropped' && e.leg === leg).length
  assert.ok(dropped('request') > 0, 'some requests dropped')
  assert.ok(dropped('response') > 0, 'some responses dropped after the request was handled')
  assert.ok(
    events.some((e) => e.what === 'answered'),
    'some got through both ways',
  )
})

test('a duplicated request reaches the handler twice; the caller gets one answer', async () => {
  const events: NetworkEvent[] = []
  const { clock, net: net2 } = setup(9, { onEvent: (e) => events.push(e) })
  const a = net2.transport('a')
  const log: string[] = []
  const received: Received[] = []
  net2.transport('b').setHandler(recorder('b', log, received))
  net2.setFaults({ duplicateRate: 1 })

  const calls = Array.from({ length: 5 }, (_, i) => track(clock, a.requestVote(peer('b'), rv('a', i), opts)))
  await run(clock, 10)
  assert.is(log.length, 10)
  assert.equal([...new Set(log)].length, 5)
  assert.is.not(received[0]!.req, received[1]!.req, 'each copy is its own object')
  assert.ok(calls.every((c) => c.value?.granted === true))
  assert.is(events.filter((e) => e.what === 'late').length, 5, 'the extra answers are discarded')
  assert.is(events.filter((e) => e.duplicate).length, 5)
  assert.is(net2.rpcCount(), 5, 'duplicates are the network, not the caller: not counted')
  assert.is(net2.inflightCount('a', 'b'), 0)
})

test('reorder lets later messages overtake, and nothing is lost', async () => {
  const { clock, net } = setup(11)
  net.setFaults({ reorderRate: 0.3, maxReorderDelayMs: 10 })
  const a = net.transport('a')
  const log: string[] = []
  net.transport('b').setHandler(recorder('b', log))
  const sent = Array.from({ length: 50 }, (_, i) => `b<-a:requestVote:${i}`)
  for (let i = 0; i < 50; i++) {
    void a.requestVote(peer('b'), rv('a', i), opts)
    if (i % 5 === 4) await run(clock, 1)
  }
  await run(clock, 100)
  assert.is.not(log.join(), sent.join(), 'some arrive out of order')
  assert.equal([...log].sort(), [...sent].sort(), 'every request arrives exactly once')
})

/**
 * A scripted three-server scenario with every fault on; returns everything observable: the
 * network's events, the handlers' receipts and each call's outcome, all with times.
 */
async function scenario(seed: number): Promise<string[]> {
  const clock = new ManualClock(0)
  const trace: string[] = []
  const net = new InmemNetwork(
    { clock, rng: new SeededRng(seed) },
    {
      faults: { dropRate: 0.15, minDelayMs: 1, maxDelayMs: 30, reorderRate: 0.2, duplicateRate: 0.2 },
      maxInflightPerTarget: 8,
      onEvent: (e) =>
        trace.push(`${e.atMs} #${e.rpcId} ${e.leg} ${e.what} ${e.code ?? ''}${e.duplicate ? ' dup' : ''}`),
    },
  )
  const names = ['a', 'b', 'c']
  const ts = names.map((n) => {
    const t = net.transport(n)
    t.setHandler(recorder(n, { push: (line) => trace.push(`${clock.now()} handle ${line}`) }))
    return t
  })
  const outcome = (label: string, p: Promise<{ term: number }>) =>
    p.then(
      (r) => trace.push(`${clock.now()} ${label} ok ${r.term}`),
      (e: TransportError) => trace.push(`${clock.now()} ${label} ${e.code}`),
    )
  for (let step = 0; step < 60; step++) {
    const from = step % 3
    const to = (step + 1 + (step % 2)) % 3
    const label = `${names[from]}->${names[to]}#${step}`
    if (step % 4 === 0)
      void outcome(label, ts[from]!.requestVote(peer(names[to]!), rv(names[from]!, step), opts))
    else if (step % 4 === 1) {
      const req = ae(names[from]!, step, [Uint8Array.of(step)])
      void outcome(label, ts[from]!.appendEntries(peer(names[to]!), req, { timeoutMs: 60 }))
    } else if (step % 4 === 2) {
      void outcome(
        label,
        ts[from]!.installSnapshot(peer(names[to]!), snap(names[from]!, step, Uint8Array.of(1, 2)), opts),
      )
    } else
      void outcome(
        label,
        ts[from]!.timeoutNow(peer(names[to]!), { from: peer(names[from]!), term: step }, opts),
      )
    if (step === 20) net.partition(['a', 'b'], ['c'])
    if (step === 35) net.heal()
    if (step === 45) net.isolate('b')
    if (step === 50) net.rejoin('b')
    await run(clock, 1 + (step % 4))
  }
  await run(clock, 300)
  trace.push(`rpcs ${net.rpcCount()} bytes ${net.bytesSent()}`)
  return trace
}

test('the same seed replays the exact same deliveries and fault decisions', async () => {
  for (const seed of [1, 42, 2024]) {
    const first = await scenario(seed)
    const second = await scenario(seed)
    assert.equal(second, first, `seed ${seed} did not replay`)
    const kinds = new Set(first.map((line) => line.split(' ')[3]))
    for (const what of ['dropped', 'delivered', 'answered', 'failed']) {
      assert.ok(kinds.has(what), `seed ${seed}: the scenario exercises '${what}'`)
    }
  }
  assert.not.equal(await scenario(1), await scenario(2), 'another seed, another run')
})

test('the default network draws nothing from the rng', async () => {
  let draws = 0
  const inner = new SeededRng(1)
  const counted = <T>(value: T): T => {
    draws++
    return value
  }
  const counting: Rng = {
    next: () => counted(inner.next()),
    int: (n) => counted(inner.int(n)),
    between: (lo, hi) => counted(inner.between(lo, hi)),
    chance: (p) => counted(inner.chance(p)),
    fork: () => inner.fork(),
  }
  const clock = new ManualClock()
  const net = new InmemNetwork({ clock, rng: counting })
  const a = net.transport('a')
  net.transport('b').setHandler(recorder('b', []))
  for (let i = 0; i < 10; i++) void a.requestVote(peer('b'), rv('a', i), opts)
  await run(clock, 10)
  assert.is(draws, 0)
})

test('close rejects pending RPCs with closed and takes the address off the network', async () => {
  const { clock, net } = setup()
  const a = net.transport('a')
  const b = net.transport('b')
  const logB: string[] = []
  b.setHandler(recorder('b', logB))
  const logA: string[] = []
  a.setHandler(recorder('a', logA))

  net.disconnect('a', 'b')
  const pending = track(clock, a.requestVote(peer('b'), rv('a', 1), opts))
  await run(clock, 10)
  await a.close()
  await a.close()
  await flush()
  assert.is(pending.error?.code, 'closed')
  assert.is(pending.atMs, 1_010, 'at once, not at the timeout')
  assert.is(net.inflightCount('a', 'b'), 0)
  const after = track(clock, a.requestVote(peer('b'), rv('a', 2), opts))
  await flush()
  assert.is(after.error?.code, 'closed')

  net.heal()
  assert.not.ok(net.isConnected('b', 'a'))
  const toClosed = track(clock, b.requestVote(peer('a'), rv('b', 1), opts))
  await run(clock, 100)
  assert.is(toClosed.error?.code, 'timeout', 'a closed address is unreachable')
  net.setFastFail(true)
  const fast = track(clock, b.requestVote(peer('a'), rv('b', 1), opts))
  await run(clock, 0)
  assert.is(fast.error?.code, 'unreachable')
  net.setFastFail(false)
  assert.equal(logA, [])

  // A restarted server gets a fresh endpoint at its old address.
  const a2 = net.transport('a')
  assert.is.not(a2, a)
  a2.setHandler(recorder('a', logA))
  const restarted = track(clock, b.requestVote(peer('a'), rv('b', 2), opts))
  await run(clock, 0)
  assert.ok(restarted.value?.granted)

  // Requests in flight to a server that closes, or handled but unanswered, get no answer.
  net.setFaults({ minDelayMs: 10, maxDelayMs: 10 })
  const inFlight = track(clock, a2.requestVote(peer('b'), rv('a', 3), opts))
  await run(clock, 5)
  await b.close()
  await run(clock, 100)
  assert.is(inFlight.error?.code, 'timeout')
  assert.equal(logB, [])

  let answer!: () => void
  const c = net.transport('c')
  c.setHandler({
    ...recorder('c', []),
    requestVote: (req) =>
      new Promise((resolve) => (answer = () => resolve({ term: req.term, granted: true }))),
  })
  const slow = track(clock, a2.requestVote(peer('c'), rv('a', 4), opts))
  await run(clock, 10)
  await c.close()
  answer()
  await run(clock, 100)
  assert.is(slow.error?.code, 'timeout')
})

test('requests to an address without a handler are refused like an unreachable address', async () => {
  const { clock, net } = setup()
  const a = net.transport('a')
  net.transport('b')
  const call = track(clock, a.requestVote(peer('b'), rv('a', 1), opts))
  await run(clock, 100)
  assert.is(call.error?.code, 'timeout')
})

test('fast fail rejects undeliverable requests with unreachable after one message delay', async () => {
  const { clock, net } = setup(1, { fastFail: true, faults: { minDelayMs: 5, maxDelayMs: 5 } })
  const a = net.transport('a')
  net.transport('b').setHandler(recorder('b', []))
  net.transport('c')
  net.disconnect('a', 'b')
  const startMs = clock.now()
  const unknown = track(clock, a.requestVote(peer('zz'), rv('a', 1), opts))
  const cut = track(clock, a.requestVote(peer('b'), rv('a', 1), opts))
  const noHandler = track(clock, a.requestVote(peer('c'), rv('a', 1), opts))
  await run(clock, 4)
  assert.not.ok(unknown.done || cut.done || noHandler.done)
  await run(clock, 1)
  for (const call of [unknown, cut, noHandler]) {
    assert.is(call.error?.code, 'unreachable')
    assert.is(call.atMs! - startMs, 5)
  }
})

test('a handler that throws or rejects gives the caller a remote error', async () => {
  const { clock, net } = setup()
  const a = net.transport('a')
  net.transport('b').setHandler({
    ...recorder('b', []),
    requestVote: () => {
      throw new Error('disk on fire')
    },
    timeoutNow: async () => {
      throw new Error('not now')
    },
  })
  const thrown = track(clock, a.requestVote(peer('b'), rv('a', 1), opts))
  const rejected = track(clock, a.timeoutNow(peer('b'), { from: peer('a'), term: 1 }, opts))
  await run(clock, 0)
  assert.is(thrown.error?.code, 'remote')
  assert.match(thrown.error!.message, /disk on fire/)
  assert.is(rejected.error?.code, 'remote')
  assert.match(rejected.error!.message, /not now/)
})

test('at most maxInflightPerTarget unanswered requests per target; past it overloaded at once', async () => {
  const { clock, net } = setup(1, { maxInflightPerTarget: 3 })
  const a = net.transport('a')
  net.transport('b').setHandler(recorder('b', []))
  net.transport('c').setHandler(recorder('c', []))
  net.disconnect('a', 'b')
  const first = Array.from({ length: 3 }, (_, i) => track(clock, a.requestVote(peer('b'), rv('a', i), opts)))
  assert.is(net.inflightCount('a', 'b'), 3)
  const over = track(clock, a.requestVote(peer('b'), rv('a', 9), opts))
  await flush()
  assert.is(over.error?.code, 'overloaded')
  assert.is(over.atMs, 1_000)
  assert.is(net.rpcCount(), 3, 'a refused request was never sent')
  const other = track(clock, a.requestVote(peer('c'), rv('a', 1), opts))
  await run(clock, 100)
  assert.ok(other.value?.granted, 'another target has its own bound')
  assert.ok(first.every((c) => c.error?.code === 'timeout'))
  assert.is(net.inflightCount('a', 'b'), 0)
  net.connect('a', 'b')
  const again = track(clock, a.requestVote(peer('b'), rv('a', 10), opts))
  await run(clock, 0)
  assert.ok(again.value?.granted, 'room again once the earlier ones timed out')
})

test('counters count sent requests and payload bytes per kind, and reset', async () => {
  const { clock, net } = setup()
  const a = net.transport('a')
  net.transport('b').setHandler(recorder('b', []))
  const to = peer('b')
  void a.appendEntries(to, ae('a', 1, [Uint8Array.of(1, 2, 3)]), opts)
  void a.appendEntries(to, ae('a', 1, [Uint8Array.of(1), Uint8Array.of(2)]), opts)
  void a.requestVote(to, rv('a', 1), opts)
  void a.installSnapshot(to, snap('a', 1, new Uint8Array(10)), opts)
  await run(clock, 0)
  net.disconnect('a', 'b')
  void a.timeoutNow(to, { from: peer('a'), term: 1 }, opts).catch(() => {})
  await run(clock, 100)
  assert.is(net.rpcCount(), 5, 'a request over a cut link was still sent')
  assert.is(net.rpcCount('appendEntries'), 2)
  assert.is(net.rpcCount('requestVote'), 1)
  assert.is(net.rpcCount('installSnapshot'), 1)
  assert.is(net.rpcCount('timeoutNow'), 1)
  assert.is(net.bytesSent(), 15)
  assert.is(net.bytesSent('appendEntries'), 5)
  assert.is(net.bytesSent('installSnapshot'), 10)
  net.resetCounts()
  assert.is(net.rpcCount(), 0)
  assert.is(net.bytesSent(), 0)
})

test('fault settings and options are validated, naming the field and the value', () => {
  const { net } = setup()
  assert.throws(() => net.setFaults({ dropRate: 2 }), /faults\.dropRate must be in \[0, 1\], got 2/)
  assert.throws(() => net.setFaults({ minDelayMs: 10, maxDelayMs: 5 }), /faults\.maxDelayMs .*got 5/)
  assert.throws(() => net.setFaults({ minDelayMs: -1 }), /faults\.minDelayMs .*got -1/)
  assert.equal(net.faults(), {
    dropRate: 0,
    minDelayMs: 0,
    maxDelayMs: 0,
    reorderRate: 0,
    maxReorderDelayMs: 10,
    duplicateRate: 0,
  })
  assert.throws(
    () => new InmemNetwork({ clock: new ManualClock(), rng: new SeededRng(1) }, { maxInflightPerTarget: 0 }),
    /maxInflightPerTarget must be an integer >= 1, got 0/,
  )
})

test('close of the network closes every endpoint and leaves no timer behind', async () => {
  const { clock, net } = setup(1, { faults: { minDelayMs: 5, maxDelayMs: 5 } })
  const a = net.transport('a')
  net.transport('b').setHandler(recorder('b', []))
  const call = track(clock, a.requestVote(peer('b'), rv('a', 1), opts))
  await flush()
  net.close()
  await flush()
  assert.is(call.error?.code, 'closed')
  assert.is(clock.pendingTimers(), 0)
})

test.run()

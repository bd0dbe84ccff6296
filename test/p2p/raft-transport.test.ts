import '../../src/util/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHost, type ShoalHost } from '../../src/p2p/host.js'
import {
  Libp2pRaftTransport,
  type Libp2pRaftTransportOptions,
  RAFT_PROTOCOL,
} from '../../src/p2p/raft-transport.js'
import { newClusterSecret } from '../../src/p2p/secret.js'
import type { Configuration } from '../../src/raft/configuration.js'
import type { FSM, FSMSnapshot } from '../../src/raft/fsm.js'
import { InmemSnapshotStore } from '../../src/raft/inmem-snapshot-store.js'
import { InmemStore } from '../../src/raft/inmem-store.js'
import { type LogEntry, LogType } from '../../src/raft/log.js'
import { Raft } from '../../src/raft/raft.js'
import type { SnapshotSink } from '../../src/raft/snapshot.js'
import type {
  AppendEntriesRequest,
  InstallSnapshotRequest,
  Peer,
  RequestVoteRequest,
  RpcHandler,
} from '../../src/raft/transport.js'
import { TransportError } from '../../src/raft/transport.js'

const secret = newClusterSecret()
const DEADLINE_MS = 10_000

// ---------------------------------------------------------------- helpers

interface Node {
  host: ShoalHost
  transport: Libp2pRaftTransport
  key: PrivateKey
  /** This node as a target: its peer id and advertised address. */
  peer: Peer
}

const running: Node[] = []

async function startNode(
  options: {
    key?: PrivateKey
    listen?: string
    init?: Omit<Libp2pRaftTransportOptions, 'host'>
    handler?: RpcHandler
  } = {},
): Promise<Node> {
  const key = options.key ?? (await generateKeyPair('Ed25519'))
  const host = await createHost({ privateKey: key, listen: options.listen ?? '/ip4/127.0.0.1/tcp/0', secret })
  const transport = new Libp2pRaftTransport({ host, ...options.init })
  if (options.handler) transport.setHandler(options.handler)
  await transport.start()
  const node = { host, transport, key, peer: { id: host.peerId.toString(), address: transport.localAddress } }
  running.push(node)
  return node
}

async function stopNode(node: Node): Promise<void> {
  await node.transport.close()
  await node.host.stop()
}

async function stopAll(): Promise<void> {
  for (const node of running.splice(0)) await stopNode(node)
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it holds; fails the test after `deadlineMs`. */
async function waitFor(what: string, check: () => boolean, deadlineMs = DEADLINE_MS): Promise<void> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > deadlineMs)
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`)
    await sleep(10)
  }
}

/** The settled outcome of `p`, so a test can look at a rejection's code. */
async function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  try {
    return { ok: true, value: await p }
  } catch (error) {
    return { ok: false, error: error as Error }
  }
}

/** Turns an `outcome` back into the promise it came from. */
function unwrap<T>(o: { ok: true; value: T } | { ok: false; error: Error }): T {
  if (o.ok) return o.value
  throw o.error
}

async function expectCode(
  p: Promise<unknown>,
  code: TransportError['code'],
  what: string,
): Promise<TransportError> {
  const o = await outcome(p)
  assert.not.ok(o.ok, `${what}: expected ${code}, got an answer`)
  const err = (o as { error: Error }).error
  assert.ok(
    err instanceof TransportError,
    `${what}: expected a TransportError, got ${err.name}: ${err.message}`,
  )
  assert.is((err as TransportError).code, code, `${what}: ${err.message}`)
  return err as TransportError
}

function appendReq(from: Peer, prevLogIndex: number, entries: LogEntry[] = []): AppendEntriesRequest {
  return { from, term: 1, prevLogIndex, prevLogTerm: 1, entries, leaderCommit: 0 }
}

function voteReq(from: Peer, term = 1): RequestVoteRequest {
  return { from, term, lastLogIndex: 0, lastLogTerm: 0, preVote: false, leadershipTransfer: false }
}

/** A handler that answers at once, echoing what it got; `never` on a term makes it hang. */
function echoHandler(seen: AppendEntriesRequest[] = []): RpcHandler {
  return {
    appendEntries: async (req) => {
      seen.push(req)
      return { term: req.term, success: true, lastLogIndex: req.prevLogIndex + req.entries.length }
    },
    requestVote: async (req) => {
      if (req.term === 666) return new Promise(() => {})
      return { term: req.term, granted: req.lastLogIndex === 0 }
    },
    installSnapshot: async (req) => ({
      term: req.term,
      success: true,
      nextOffset: req.offset + req.data.byteLength,
    }),
    timeoutNow: async (req) => ({ term: req.term + 1 }),
  }
}

/** The number of open Raft streams `host` has to `peer`. */
function raftStreams(host: ShoalHost, peer: Peer): number {
  return host
    .getConnections()
    .filter((c) => c.remotePeer.toString() === peer.id)
    .flatMap((c) => c.streams)
    .filter((s) => s.protocol === RAFT_PROTOCOL && s.status === 'open').length
}

/** Counts the Raft streams `node` dials from now on. */
function countDials(node: Node): { count: number } {
  const counter = { count: 0 }
  const dial = node.host.dialProtocol.bind(node.host)
  node.host.dialProtocol = (...args: Parameters<ShoalHost['dialProtocol']>) => {
    counter.count++
    return dial(...args)
  }
  return counter
}

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (i * 13 + seed) & 0xff
  return out
}

const OPTS = { timeoutMs: 5000 }

// ---------------------------------------------------------------- transport tests

test('localAddress is a dialable multiaddr ending in the peer id', async () => {
  const a = await startNode()
  const ma = multiaddr(a.transport.localAddress)
  assert.ok(a.transport.localAddress.startsWith('/ip4/127.0.0.1/tcp/'), a.transport.localAddress)
  assert.ok(a.transport.localAddress.endsWith(`/p2p/${a.peer.id}`), a.transport.localAddress)
  assert.is(ma.getComponents().find((c) => c.name === 'p2p')?.value, a.peer.id)
  // An override is kept, with the peer id appended when it lacks one.
  const b = new Libp2pRaftTransport({ host: a.host, localAddress: '/ip4/127.0.1.2/tcp/7400' })
  assert.is(b.localAddress, `/ip4/127.0.1.2/tcp/7400/p2p/${a.peer.id}`)
  assert.throws(
    () =>
      new Libp2pRaftTransport({
        host: a.host,
        localAddress: '/ip4/127.0.1.2/tcp/7400/p2p/12D3KooWSfq8DUQbmnLd1DGTZTrcAx5ki1fBYmbNZHDnYqYkJrSH',
      }),
    /names peer/,
  )
  await stopAll()
})

test('a request and its answer, for each RPC', async () => {
  const seen: AppendEntriesRequest[] = []
  const a = await startNode()
  const b = await startNode({ handler: echoHandler(seen) })
  const entries: LogEntry[] = [
    { index: 4, term: 1, type: LogType.Command, data: bytes(100, 1), appendedAtMs: 1_700_000_000_000 },
    { index: 5, term: 1, type: LogType.Noop, data: new Uint8Array(0) },
  ]
  const ae = await a.transport.appendEntries(b.peer, appendReq(a.peer, 3, entries), OPTS)
  assert.equal(ae, { term: 1, success: true, lastLogIndex: 5 })
  assert.equal(seen[0], appendReq(a.peer, 3, entries), 'the request arrives exactly as sent')
  assert.equal(await a.transport.requestVote(b.peer, voteReq(a.peer), OPTS), { term: 1, granted: true })
  assert.equal(await a.transport.timeoutNow(b.peer, { from: a.peer, term: 4 }, OPTS), { term: 5 })
  assert.is(raftStreams(a.host, b.peer), 1, 'one stream, reused')
  await stopAll()
})

test('200 pipelined requests are delivered in send order on one stream and answered in order', async () => {
  const seen: AppendEntriesRequest[] = []
  const a = await startNode()
  const b = await startNode({ handler: echoHandler(seen) })
  const answered: number[] = []
  const calls = Array.from({ length: 200 }, (_, i) =>
    a.transport
      .appendEntries(
        b.peer,
        appendReq(a.peer, i, [{ index: i + 1, term: 1, type: LogType.Command, data: bytes(50, i) }]),
        OPTS,
      )
      .then((r) => {
        answered.push(r.lastLogIndex - 1)
        return r
      }),
  )
  const results = await Promise.all(calls)
  assert.equal(
    results.map((r) => r.lastLogIndex),
    Array.from({ length: 200 }, (_, i) => i + 1),
    'each answer matches its request',
  )
  assert.equal(
    seen.map((r) => r.prevLogIndex),
    Array.from({ length: 200 }, (_, i) => i),
    'delivered in send order',
  )
  assert.equal(
    answered,
    Array.from({ length: 200 }, (_, i) => i),
    'answered in order',
  )
  assert.is(raftStreams(a.host, b.peer), 1)
  await stopAll()
})

test('a handler that never answers: timeout after timeoutMs, and the stream is kept', async () => {
  const a = await startNode()
  const b = await startNode({ handler: echoHandler() })
  const dials = countDials(a)
  await a.transport.requestVote(b.peer, voteReq(a.peer), OPTS)
  const start = Date.now()
  const err = await expectCode(
    a.transport.requestVote(b.peer, voteReq(a.peer, 666), { timeoutMs: 300 }),
    'timeout',
    'hang',
  )
  const took = Date.now() - start
  assert.ok(took >= 290 && took < 3000, `timed out after ${took} ms`)
  assert.match(err.message, /timed out after 300 ms/)
  assert.equal(await a.transport.requestVote(b.peer, voteReq(a.peer), OPTS), { term: 1, granted: true })
  assert.is(dials.count, 1, 'the same stream')
  await stopAll()
})

test('a timeout on a stream silent for silentStreamMs drops it; the next request redials', async () => {
  const a = await startNode({ init: { silentStreamMs: 100 } })
  const b = await startNode({ handler: echoHandler() })
  const dials = countDials(a)
  await expectCode(
    a.transport.requestVote(b.peer, voteReq(a.peer, 666), { timeoutMs: 300 }),
    'timeout',
    'hang',
  )
  await waitFor('the silent stream to be dropped', () => raftStreams(a.host, b.peer) === 0)
  assert.equal(await a.transport.requestVote(b.peer, voteReq(a.peer), OPTS), { term: 1, granted: true })
  assert.is(dials.count, 2, 'redialed')
  await stopAll()
})

test('a handler that throws or rejects: remote, with its message', async () => {
  const a = await startNode()
  const b = await startNode({
    handler: {
      ...echoHandler(),
      appendEntries: async () => {
        throw new Error('disk on fire')
      },
      requestVote: () => {
        throw new Error('thrown synchronously')
      },
    },
  })
  const e1 = await expectCode(
    a.transport.appendEntries(b.peer, appendReq(a.peer, 0), OPTS),
    'remote',
    'reject',
  )
  assert.match(e1.message, /disk on fire/)
  const e2 = await expectCode(a.transport.requestVote(b.peer, voteReq(a.peer), OPTS), 'remote', 'throw')
  assert.match(e2.message, /thrown synchronously/)
  // The stream survives errors.
  assert.equal(await a.transport.timeoutNow(b.peer, { from: a.peer, term: 1 }, OPTS), { term: 2 })
  await stopAll()
})

test('requests before setHandler, and from a sender that is not the connection peer, get error answers', async () => {
  const a = await startNode()
  const b = await startNode()
  const e1 = await expectCode(a.transport.requestVote(b.peer, voteReq(a.peer), OPTS), 'remote', 'no handler')
  assert.match(e1.message, /no RPC handler/)
  b.transport.setHandler(echoHandler())
  const impostor = { id: b.peer.id, address: b.peer.address }
  const e2 = await expectCode(a.transport.requestVote(b.peer, voteReq(impostor), OPTS), 'remote', 'impostor')
  assert.match(e2.message, /sender id/)
  assert.equal(await a.transport.requestVote(b.peer, voteReq(a.peer), OPTS), { term: 1, granted: true })
  await stopAll()
})

test('past maxInflightPerPeer a request is refused at once: overloaded', async () => {
  const a = await startNode({ init: { maxInflightPerPeer: 4 } })
  const b = await startNode({ handler: echoHandler() })
  const c = await startNode({ handler: echoHandler() })
  const hanging = Array.from({ length: 4 }, () =>
    outcome(a.transport.requestVote(b.peer, voteReq(a.peer, 666), { timeoutMs: 500 })),
  )
  const start = Date.now()
  await expectCode(a.transport.requestVote(b.peer, voteReq(a.peer), OPTS), 'overloaded', 'fifth')
  assert.ok(Date.now() - start < 100, 'at once')
  // The bound is per peer.
  assert.equal(await a.transport.requestVote(c.peer, voteReq(a.peer), OPTS), { term: 1, granted: true })
  for (const o of await Promise.all(hanging)) {
    assert.ok(!o.ok && (o.error as TransportError).code === 'timeout')
  }
  assert.equal(await a.transport.requestVote(b.peer, voteReq(a.peer), OPTS), { term: 1, granted: true })
  await stopAll()
})

test('the serving side bounds concurrent handlers per stream and catches up', async () => {
  let active = 0
  let maxActive = 0
  const release: (() => void)[] = []
  const a = await startNode()
  const b = await startNode({
    init: { maxConcurrentHandlersPerStream: 3 },
    handler: {
      ...echoHandler(),
      appendEntries: async (req) => {
        active++
        maxActive = Math.max(maxActive, active)
        await new Promise<void>((resolve) => release.push(resolve))
        active--
        return { term: req.term, success: true, lastLogIndex: req.prevLogIndex }
      },
    },
  })
  const calls = Array.from({ length: 20 }, (_, i) =>
    a.transport.appendEntries(b.peer, appendReq(a.peer, i), OPTS),
  )
  await waitFor('3 handlers running', () => active === 3)
  await sleep(50) // long enough for a 4th to start if the bound did not hold
  assert.is(active, 3)
  const releaser = setInterval(() => release.shift()?.(), 2)
  const results = await Promise.all(calls)
  clearInterval(releaser)
  assert.equal(
    results.map((r) => r.lastLogIndex),
    Array.from({ length: 20 }, (_, i) => i),
  )
  assert.is(maxActive, 3)
  await stopAll()
})

test('a 1 MiB InstallSnapshot chunk, and 32 pipelined 256 KiB chunks (back-pressure)', async () => {
  let received: InstallSnapshotRequest | undefined
  const a = await startNode()
  const b = await startNode({
    handler: {
      ...echoHandler(),
      installSnapshot: async (req) => {
        received = req
        return { term: req.term, success: true, nextOffset: req.offset + req.data.byteLength }
      },
    },
  })
  const configuration: Configuration = {
    servers: [
      { id: a.peer.id, address: a.peer.address, suffrage: 'voter' },
      { id: b.peer.id, address: b.peer.address, suffrage: 'nonvoter' },
    ],
  }
  const data = bytes(1024 * 1024, 5)
  const req: InstallSnapshotRequest = {
    from: a.peer,
    term: 3,
    snapshotId: '3-100-1',
    lastIndex: 100,
    lastTerm: 3,
    configuration,
    configurationIndex: 1,
    size: data.byteLength,
    offset: 0,
    data,
    done: true,
  }
  assert.equal(await a.transport.installSnapshot(b.peer, req, OPTS), {
    term: 3,
    success: true,
    nextOffset: data.byteLength,
  })
  assert.equal(received, req)
  const chunk = 256 * 1024
  const chunks = Array.from({ length: 32 }, (_, i) =>
    a.transport.installSnapshot(
      b.peer,
      { ...req, size: 32 * chunk, offset: i * chunk, data: bytes(chunk, i), done: i === 31 },
      { timeoutMs: 20_000 },
    ),
  )
  const answers = await Promise.all(chunks)
  assert.equal(
    answers.map((r) => r.nextOffset),
    Array.from({ length: 32 }, (_, i) => (i + 1) * chunk),
  )
  await stopAll()
})

test('the remote host stops: outstanding and later requests are unreachable; it restarts: requests work again', async () => {
  const a = await startNode()
  const b = await startNode({ handler: echoHandler() })
  await a.transport.requestVote(b.peer, voteReq(a.peer), OPTS)
  // Caught at once (as `outcome`s): they reject while b is being stopped.
  const outstanding = [1, 2, 3].map(() =>
    outcome(a.transport.requestVote(b.peer, voteReq(a.peer, 666), { timeoutMs: 8000 })),
  )
  await sleep(50) // let the requests reach b's handler, so they are truly outstanding
  const port = multiaddr(b.peer.address)
    .getComponents()
    .find((c) => c.name === 'tcp')!.value!
  running.splice(running.indexOf(b), 1)
  await stopNode(b)
  const start = Date.now()
  for (const p of outstanding) await expectCode(p.then(unwrap), 'unreachable', 'outstanding')
  assert.ok(Date.now() - start < 2000, 'failed promptly, not at the timeout')
  await expectCode(a.transport.requestVote(b.peer, voteReq(a.peer), OPTS), 'unreachable', 'later')

  // Same key, same port: the same server back. The next request redials.
  const b2 = await startNode({ key: b.key, listen: `/ip4/127.0.0.1/tcp/${port}`, handler: echoHandler() })
  assert.is(b2.peer.address, b.peer.address)
  let answer: unknown
  const deadline = Date.now() + DEADLINE_MS
  while (answer === undefined) {
    const o = await outcome(a.transport.requestVote(b.peer, voteReq(a.peer), OPTS))
    if (o.ok) answer = o.value
    else if (Date.now() > deadline) throw o.error
    else await sleep(50)
  }
  assert.equal(answer, { term: 1, granted: true })
  await stopAll()
})

test('close(): outstanding and later requests reject closed; idempotent; the host keeps running', async () => {
  const a = await startNode()
  const b = await startNode({ handler: echoHandler() })
  await a.transport.requestVote(b.peer, voteReq(a.peer), OPTS)
  const outstanding = outcome(a.transport.requestVote(b.peer, voteReq(a.peer, 666), { timeoutMs: 8000 }))
  await sleep(20)
  const closing = Promise.all([a.transport.close(), a.transport.close()])
  await expectCode(outstanding.then(unwrap), 'closed', 'outstanding')
  await closing
  await a.transport.close()
  await expectCode(a.transport.requestVote(b.peer, voteReq(a.peer), OPTS), 'closed', 'later')
  assert.is(a.host.status, 'started', 'the host is not stopped')
  // a no longer serves Raft: b cannot reach it...
  b.transport.setHandler(echoHandler())
  await expectCode(
    b.transport.requestVote(a.peer, voteReq(b.peer), OPTS),
    'unreachable',
    'to a closed transport',
  )
  // ...until a new transport on the same host registers the protocol again.
  const again = new Libp2pRaftTransport({ host: a.host })
  again.setHandler(echoHandler())
  await again.start()
  assert.equal(await b.transport.requestVote(a.peer, voteReq(b.peer), OPTS), { term: 1, granted: true })
  await again.close()
  await stopAll()
})

test('a dial to nobody is unreachable', async () => {
  const a = await startNode()
  const ghostKey = await generateKeyPair('Ed25519')
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
  const ghost = peerIdFromPrivateKey(ghostKey).toString()
  // A port nothing listens on: take one from a host, then stop it.
  const tmp = await createHost({ privateKey: ghostKey, listen: '/ip4/127.0.0.1/tcp/0', secret })
  const address = tmp.getMultiaddrs()[0]!.toString()
  await tmp.stop()
  await expectCode(
    a.transport.requestVote({ id: ghost, address }, voteReq(a.peer), OPTS),
    'unreachable',
    'ghost',
  )
  await expectCode(
    a.transport.requestVote({ id: 'not-a-peer-id', address: 'not a multiaddr' }, voteReq(a.peer), OPTS),
    'unreachable',
    'garbage address',
  )
  await stopAll()
})

// ---------------------------------------------------------------- three Raft servers

/** Records the commands it applies, as strings. */
class ListFsm implements FSM {
  readonly applied: string[] = []

  apply(entry: LogEntry): unknown {
    this.applied.push(new TextDecoder().decode(entry.data))
    return this.applied.length
  }

  async snapshot(): Promise<FSMSnapshot> {
    const copy = JSON.stringify(this.applied)
    return {
      persist: async (sink: SnapshotSink) => sink.write(new TextEncoder().encode(copy)),
      release: () => {},
    }
  }

  async restore(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = []
    if (data instanceof Uint8Array) parts.push(data)
    else for await (const part of data) parts.push(part)
    const text = parts.map((p) => new TextDecoder().decode(p)).join('')
    this.applied.splice(0, this.applied.length, ...(JSON.parse(text) as string[]))
  }
}

test('three Raft servers over the transport elect a leader, commit 100 entries, and fail over', async () => {
  const nodes = [await startNode(), await startNode(), await startNode()]
  const configuration: Configuration = {
    servers: nodes.map((n) => ({
      id: n.peer.id,
      address: n.transport.localAddress,
      suffrage: 'voter' as const,
    })),
  }
  const servers = nodes.map((n) => {
    const store = new InmemStore()
    const fsm = new ListFsm()
    const raft = new Raft({
      id: n.peer.id,
      address: n.transport.localAddress,
      fsm,
      logStore: store,
      stableStore: store,
      snapshotStore: new InmemSnapshotStore(),
      transport: n.transport,
    })
    return { node: n, raft, fsm }
  })
  try {
    for (const s of servers) await s.raft.bootstrapCluster(configuration)
    for (const s of servers) await s.raft.start()

    const leaderOf = (among: typeof servers) => among.filter((s) => s.raft.state() === 'leader')
    await waitFor('one leader', () => leaderOf(servers).length === 1)
    const leader = leaderOf(servers)[0]!
    const enc = new TextEncoder()
    const applies = Array.from({ length: 100 }, (_, i) =>
      leader.raft.apply(enc.encode(`cmd-${i}`), { timeoutMs: 10_000 }),
    )
    const results = await Promise.all(applies)
    assert.equal(
      results.map((r) => r.response),
      Array.from({ length: 100 }, (_, i) => i + 1),
    )
    const expected = Array.from({ length: 100 }, (_, i) => `cmd-${i}`)
    await waitFor('every FSM to apply 100 entries', () => servers.every((s) => s.fsm.applied.length >= 100))
    for (const s of servers) assert.equal(s.fsm.applied, expected)

    // The leader's host goes away; the other two elect a new leader, which commits.
    await leader.node.host.stop()
    const rest = servers.filter((s) => s !== leader)
    await waitFor('a new leader among the other two', () => leaderOf(rest).length === 1)
    let committed = false
    const deadline = Date.now() + DEADLINE_MS
    while (!committed) {
      const newLeader = leaderOf(rest)[0]
      const o = newLeader
        ? await outcome(newLeader.raft.apply(enc.encode('after'), { timeoutMs: 3000 }))
        : undefined
      if (o?.ok) committed = true
      else if (Date.now() > deadline) throw o?.error ?? new Error('no leader')
      else await sleep(50)
    }
    await waitFor('both survivors to apply the new entry', () =>
      rest.every((s) => s.fsm.applied.at(-1) === 'after'),
    )
  } finally {
    for (const s of servers) await s.raft.shutdown()
    await stopAll()
  }
})

test.after(stopAll)

test.run()

import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { ControllerContext } from '../../src/controllers/controller.js'
import { FencedStoreClient } from '../../src/controllers/fenced-store-client.js'
import {
  ReplicationManager,
  type ReplicationManagerConfig,
} from '../../src/controllers/replication-manager.js'
import { LogType } from '../../src/raft/log.js'
import { EventRecorder } from '../../src/store/event-recorder.js'
import { ObjectStore, type StoreCommand, type StoreResult } from '../../src/store/object-store.js'
import type { StoreClient } from '../../src/store/store-client.js'
import type { KubeObject } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/logger.js'
import { SeededRng } from '../../src/util/random.js'

const T0 = Date.parse('2026-03-01T12:00:00Z')
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
let uids = 0
const uid = () => `00000000-0000-4000-8000-${String(++uids).padStart(12, '0')}`

/**
 * The store as Raft would feed it: each proposal is one entry of the current `term` (a leader
 * change is `term += 1`), so fenced writes of an older term are refused as they would be.
 */
class TermStoreClient implements StoreClient {
  term = 1
  private index = 0
  constructor(
    readonly store: ObjectStore,
    private readonly clock: ManualClock,
  ) {}

  async waitCaughtUp(): Promise<void> {}

  async propose(command: StoreCommand): Promise<StoreResult> {
    this.index = Math.max(this.index, this.store.hub.currentResourceVersion()) + 1
    return this.store.apply({
      index: this.index,
      term: this.term,
      type: LogType.Command,
      data: new TextEncoder().encode(JSON.stringify(command)),
      appendedAtMs: this.clock.now(),
    }) as StoreResult
  }
}

/** The pod create inside a (fenced) command, if it is one. */
function podCreate(command: StoreCommand): Extract<StoreCommand, { op: 'create' }> | undefined {
  const inner = command.op === 'fenced' ? command.command : command
  return inner.op === 'create' && inner.resource === 'pods' ? inner : undefined
}

/**
 * A client in front of the controller's: counts pod creates and how many were in flight when
 * each began (the slow-start batches), and can hold them (`hold`) until `release()`.
 */
class ProbeClient implements StoreClient {
  creates = 0
  inFlight = 0
  /** inFlight as each pod create began: 1 | 1 2 | 1 2 3 4 … */
  starts: number[] = []
  /** Pod creates that answer at once but reach the store only at release() (a lagging watch). */
  lag = false
  /** Pod creates that wait for release() before they are sent. */
  hold = false
  async waitCaughtUp(): Promise<void> {}
  /** After this many creates, the next ones are held. */
  holdAfter = Number.POSITIVE_INFINITY
  private held: (() => void)[] = []
  lagged: StoreCommand[] = []
  constructor(readonly inner: StoreClient) {}

  get store() {
    return this.inner.store
  }

  async propose(command: StoreCommand): Promise<StoreResult> {
    const create = podCreate(command)
    if (!create) return this.inner.propose(command)
    this.creates += 1
    this.inFlight += 1
    this.starts.push(this.inFlight)
    try {
      await new Promise((res) => setImmediate(res))
      if (this.hold || this.creates > this.holdAfter) await new Promise<void>((res) => this.held.push(res))
      if (this.lag) {
        this.lagged.push(command)
        return { ok: true, object: create.object }
      }
      return await this.inner.propose(command)
    } finally {
      this.inFlight -= 1
    }
  }

  /** Lets held creates go on; applies lagged ones to the store (through `via`). */
  async release(via: StoreClient = this.inner): Promise<void> {
    for (const r of this.held.splice(0)) r()
    for (const c of this.lagged.splice(0)) await via.propose(c)
  }

  /** The sizes of the slow-start batches seen so far. */
  batches(): number[] {
    const out: number[] = []
    for (const s of this.starts) {
      if (s === 1) out.push(1)
      else out[out.length - 1] = s
    }
    return out
  }
}

interface Rig {
  clock: ManualClock
  store: ObjectStore
  base: TermStoreClient
  probe: ProbeClient
  abort: AbortController
  manager: ReplicationManager
}

const rigs: Rig[] = []

function startManager(
  base: TermStoreClient,
  clock: ManualClock,
  seed: number,
  config: Partial<ReplicationManagerConfig> = {},
): Rig {
  const abort = new AbortController()
  const probe = new ProbeClient(new FencedStoreClient(base, base.term, abort.signal))
  const ctx: ControllerContext = {
    client: probe,
    store: base.store,
    clock,
    rng: new SeededRng(seed),
    logger: silentLogger(),
    events: (component) => new EventRecorder(probe, { component }, clock, silentLogger()),
    signal: abort.signal,
  }
  const manager = new ReplicationManager(config)
  manager.start(ctx)
  const r = { clock, store: base.store, base, probe, abort, manager }
  rigs.push(r)
  return r
}

async function rig(config: Partial<ReplicationManagerConfig> = {}): Promise<Rig> {
  const clock = new ManualClock(T0)
  const store = new ObjectStore()
  const base = new TermStoreClient(store, clock)
  // The first entry makes the system namespaces.
  await base.propose({ op: 'put', key: 'boot', value: '1' })
  return startManager(base, clock, 42, config)
}

test.after.each(() => {
  for (const r of rigs.splice(0)) {
    r.abort.abort()
    r.manager.stop()
  }
})

async function settle(): Promise<void> {
  for (let i = 0; i < 60; i++) await new Promise((res) => setImmediate(res))
}

/** Lets promises run and fires due timers, `ms` of fake time. */
async function run(r: Rig, ms = 0): Promise<void> {
  const end = r.clock.now() + ms
  for (;;) {
    await settle()
    const due = r.clock.nextDueMs()
    if (due === null || due > end) break
    r.clock.fireNext(end)
  }
  r.clock.advance(end - r.clock.now())
  await settle()
}

async function ok(r: Rig, command: StoreCommand): Promise<KubeObject> {
  const res = await r.base.propose(command)
  assert.ok(res.ok, JSON.stringify(res))
  return res.object!
}

function rcObject(
  name: string,
  replicas: number,
  labels: Record<string, string> = { app: name },
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name },
    spec: {
      replicas,
      selector: labels,
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'c', image: 'busybox' }], terminationGracePeriodSeconds: 7 },
      },
    },
  }
}

function createRc(
  r: Rig,
  name: string,
  replicas: number,
  labels?: Record<string, string>,
): Promise<KubeObject> {
  return ok(r, {
    op: 'create',
    resource: 'replicationcontrollers',
    namespace: 'default',
    object: rcObject(name, replicas, labels),
    uid: uid(),
    now: iso(r.clock.now()),
  })
}

function scale(r: Rig, name: string, replicas: number): Promise<KubeObject> {
  return ok(r, {
    op: 'scale',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name,
    replicas,
    now: iso(r.clock.now()),
  })
}

function createPod(r: Rig, name: string, labels: Record<string, string>): Promise<KubeObject> {
  return ok(r, {
    op: 'create',
    resource: 'pods',
    namespace: 'default',
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    },
    uid: uid(),
    now: iso(r.clock.now()),
  })
}

function rcOf(r: Rig, name: string): KubeObject {
  return r.store.get('replicationcontrollers', 'default', name)!
}

function podsOf(r: Rig, rcName: string, opts: { all?: boolean } = {}): KubeObject[] {
  const rcUid = rcOf(r, rcName)?.metadata.uid
  return r.store
    .list('pods', { namespace: 'default' })
    .items.filter((p) => p.metadata.ownerReferences?.some((o) => o.uid === rcUid && o.controller))
    .filter((p) => opts.all || !p.metadata.deletionTimestamp)
}

function eventsWith(r: Rig, reason: string): string[] {
  return r.store
    .list('events')
    .items.filter((e) => e.reason === reason)
    .map((e) => e.message as string)
}

async function setPodStatus(r: Rig, pod: KubeObject, status: Record<string, unknown>): Promise<void> {
  const current = r.store.get('pods', 'default', pod.metadata.name!)!
  await ok(r, {
    op: 'update',
    resource: 'pods',
    namespace: 'default',
    name: pod.metadata.name!,
    subresource: 'status',
    object: { ...current, status: { ...(current.status ?? {}), ...status } },
    now: iso(r.clock.now()),
  })
}

function readyStatus(ready: boolean, sinceMs: number): Record<string, unknown> {
  return {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: iso(sinceMs) }],
  }
}

async function addNode(r: Rig, name: string): Promise<void> {
  await ok(r, {
    op: 'create',
    resource: 'nodes',
    object: { apiVersion: 'v1', kind: 'Node', metadata: { name } },
    uid: uid(),
    now: iso(r.clock.now()),
  })
}

async function bind(r: Rig, pod: KubeObject, node: string): Promise<void> {
  await ok(r, { op: 'bind', namespace: 'default', name: pod.metadata.name!, node, now: iso(r.clock.now()) })
}

// ---------------------------------------------------------------------------------------------

test('creates the replicas in slow-start batches, with events and status', async () => {
  const r = await rig()
  await createRc(r, 'web', 10)
  await run(r)
  const pods = podsOf(r, 'web')
  assert.is(pods.length, 10)
  assert.is(r.probe.creates, 10)
  assert.equal(r.probe.batches(), [1, 2, 4, 3])
  for (const p of pods) {
    assert.match(p.metadata.name!, /^web-[a-z0-9]{5}$/)
    assert.equal(p.metadata.labels, { app: 'web' })
    assert.equal(p.metadata.ownerReferences?.[0]?.blockOwnerDeletion, true)
  }
  assert.is(eventsWith(r, 'SuccessfulCreate').length, 10)
  assert.ok(eventsWith(r, 'SuccessfulCreate').includes(`Created pod: ${pods[0]!.metadata.name}`))
  const status = rcOf(r, 'web').status as Record<string, unknown>
  assert.is(status.replicas, 10)
  assert.is(status.observedGeneration, 1)
})

test('a failing create stops its batch and lowers the expectation; it retries later', async () => {
  const r = await rig()
  // Pod creates are refused (as a quota would refuse them).
  const inner = r.probe.inner
  let refuse = true
  ;(r.probe as unknown as { inner: StoreClient }).inner = {
    store: inner.store,
    propose: async (c: StoreCommand) =>
      podCreate(c) && refuse
        ? {
            ok: false,
            status: {
              kind: 'Status',
              apiVersion: 'v1',
              metadata: {},
              status: 'Failure',
              code: 403,
              reason: 'Forbidden',
              message: 'exceeded quota',
            },
          }
        : inner.propose(c),
  } as StoreClient
  await createRc(r, 'bad', 5)
  await run(r)
  // Each sync's first batch (of one) failed, so none went on to a batch of two. (The status
  // write of the first sync enqueues the RC once more at once, as in Kubernetes.)
  assert.ok(r.probe.batches().every((b) => b === 1))
  assert.is(r.probe.creates, 2)
  assert.ok(eventsWith(r, 'FailedCreate').includes('Error creating: exceeded quota'))
  const cond = ((rcOf(r, 'bad').status as { conditions?: { type: string; reason: string }[] }).conditions ??
    [])[0]
  assert.is(cond?.type, 'ReplicaFailure')
  assert.is(cond?.reason, 'FailedCreate')
  refuse = false
  await run(r, 1000) // the queue's back-off retries; the expectation did not hold it back
  assert.is(podsOf(r, 'bad').length, 5)
  assert.is((rcOf(r, 'bad').status as { conditions?: unknown }).conditions, undefined)
})

test('scales down in Kubernetes order, gracefully, with the uid precondition', async () => {
  const r = await rig()
  await addNode(r, 'n1')
  await createRc(r, 'web', 5)
  await run(r)
  const pods = podsOf(r, 'web').sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1))
  const [unassigned, pending, notReady, readyRecent, readyOld] = pods as [
    KubeObject,
    KubeObject,
    KubeObject,
    KubeObject,
    KubeObject,
  ]
  for (const p of [pending, notReady, readyRecent, readyOld]) await bind(r, p, 'n1')
  await setPodStatus(r, notReady, readyStatus(false, T0))
  await setPodStatus(r, readyRecent, readyStatus(true, T0 + 60_000))
  await setPodStatus(r, readyOld, readyStatus(true, T0))
  await run(r)
  assert.is((rcOf(r, 'web').status as { readyReplicas: number }).readyReplicas, 2)

  await scale(r, 'web', 3)
  await run(r)
  // The unassigned pod goes at once; the pending one is marked, its agent stops it.
  assert.is(r.store.get('pods', 'default', unassigned.metadata.name!), undefined)
  const marked = r.store.get('pods', 'default', pending.metadata.name!)!
  assert.ok(marked.metadata.deletionTimestamp)
  assert.is(marked.metadata.deletionGracePeriodSeconds, 7)
  assert.equal(
    eventsWith(r, 'SuccessfulDelete').sort(),
    [`Deleted pod: ${pending.metadata.name}`, `Deleted pod: ${unassigned.metadata.name}`].sort(),
  )

  await scale(r, 'web', 1)
  await run(r)
  const left = podsOf(r, 'web').map((p) => p.metadata.name)
  assert.equal(left, [readyOld.metadata.name], 'not ready, then ready for less time, go first')
  assert.is(r.probe.creates, 5, 'a pod being deleted is not replaced once the RC was scaled down')
  assert.is((rcOf(r, 'web').status as { replicas: number }).replicas, 1)
})

test('a pod deleted from outside is replaced', async () => {
  const r = await rig()
  await createRc(r, 'web', 2)
  await run(r)
  const victim = podsOf(r, 'web')[0]!
  await ok(r, {
    op: 'remove',
    resource: 'pods',
    namespace: 'default',
    name: victim.metadata.name!,
    now: iso(r.clock.now()),
  })
  await run(r)
  assert.is(podsOf(r, 'web').length, 2)
  assert.is(r.probe.creates, 3)
})

test('adopts matching orphans and creates only the rest', async () => {
  const r = await rig()
  await createPod(r, 'orphan-1', { app: 'web', extra: 'x' })
  await createPod(r, 'orphan-2', { app: 'web' })
  await createPod(r, 'stranger', { app: 'db' })
  await createRc(r, 'web', 3)
  await run(r)
  const owned = podsOf(r, 'web').map((p) => p.metadata.name)
  assert.ok(owned.includes('orphan-1') && owned.includes('orphan-2'))
  assert.is(owned.length, 3)
  assert.is(r.probe.creates, 1)
  assert.is(r.store.get('pods', 'default', 'stranger')!.metadata.ownerReferences, undefined)
  // An orphan that appears later is adopted too, and the excess deleted.
  await createPod(r, 'late', { app: 'web' })
  await run(r)
  assert.is(podsOf(r, 'web').length, 3)
  const status = rcOf(r, 'web').status as { replicas: number; fullyLabeledReplicas: number }
  assert.is(status.replicas, 3)
})

test('releases a pod whose labels stop matching, and replaces it', async () => {
  const r = await rig()
  await createRc(r, 'web', 2)
  await run(r)
  const p = podsOf(r, 'web')[0]!
  await ok(r, {
    op: 'patch',
    resource: 'pods',
    namespace: 'default',
    name: p.metadata.name!,
    patchType: 'merge',
    patch: { metadata: { labels: { app: 'debug' } } },
    uid: uid(),
    now: iso(r.clock.now()),
  })
  await run(r)
  const released = r.store.get('pods', 'default', p.metadata.name!)!
  assert.equal(released.metadata.ownerReferences ?? [], [])
  assert.is(podsOf(r, 'web').length, 2)
  assert.ok(!podsOf(r, 'web').some((x) => x.metadata.name === p.metadata.name))
})

test('expectations: no overshoot while the watch lags; they expire after 5 minutes', async () => {
  const r = await rig()
  r.probe.lag = true
  await createRc(r, 'web', 4)
  await run(r)
  assert.is(r.probe.creates, 4)
  assert.is(podsOf(r, 'web').length, 0, 'the store does not show them yet')
  await run(r, 60_000) // two resyncs: still waiting for the watch
  assert.is(r.probe.creates, 4)
  r.probe.lag = false
  await r.probe.release()
  await run(r, 31_000)
  assert.is(podsOf(r, 'web').length, 4)
  assert.is(r.probe.creates, 4)

  // Creates the watch never shows (lost): after the TTL the RC is acted on again.
  r.probe.lag = true
  await scale(r, 'web', 6)
  await run(r)
  assert.is(r.probe.creates, 6)
  r.probe.lagged.splice(0)
  await run(r, 4 * 60_000)
  assert.is(r.probe.creates, 6)
  r.probe.lag = false
  await run(r, 90_000)
  assert.is(r.probe.creates, 8)
  assert.is(podsOf(r, 'web').length, 6)
})

test('status: readyReplicas, availableReplicas after minReadySeconds, observedGeneration', async () => {
  const r = await rig()
  await createRc(r, 'web', 2)
  await ok(r, {
    op: 'patch',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'web',
    patchType: 'merge',
    patch: { spec: { minReadySeconds: 10 } },
    uid: uid(),
    now: iso(r.clock.now()),
  })
  await run(r)
  let status = rcOf(r, 'web').status as Record<string, number>
  assert.is(status.replicas, 2)
  assert.is(status.readyReplicas, 0)
  assert.is(status.observedGeneration, 2)
  for (const p of podsOf(r, 'web')) await setPodStatus(r, p, readyStatus(true, r.clock.now()))
  await run(r)
  status = rcOf(r, 'web').status as Record<string, number>
  assert.is(status.readyReplicas, 2)
  assert.is(status.availableReplicas, 0)
  await run(r, 11_000)
  status = rcOf(r, 'web').status as Record<string, number>
  assert.is(status.availableReplicas, 2)
  assert.is(status.fullyLabeledReplicas, 2)
  await scale(r, 'web', 3)
  await run(r)
  status = rcOf(r, 'web').status as Record<string, number>
  assert.is(status.observedGeneration, 3)
  assert.is(status.replicas, 3)
})

test('an RC being deleted, or gone, gets nothing created', async () => {
  const r = await rig()
  await createRc(r, 'web', 2)
  await run(r)
  await ok(r, {
    op: 'patch',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'web',
    patchType: 'merge',
    patch: { metadata: { finalizers: ['test/hold'] } },
    uid: uid(),
    now: iso(r.clock.now()),
  })
  await ok(r, {
    op: 'remove',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'web',
    now: iso(r.clock.now()),
  })
  assert.ok(rcOf(r, 'web').metadata.deletionTimestamp)
  for (const p of podsOf(r, 'web'))
    await ok(r, {
      op: 'remove',
      resource: 'pods',
      namespace: 'default',
      name: p.metadata.name!,
      now: iso(r.clock.now()),
    })
  await run(r, 31_000)
  assert.is(r.probe.creates, 2)
  await ok(r, {
    op: 'patch',
    resource: 'replicationcontrollers',
    namespace: 'default',
    name: 'web',
    patchType: 'merge',
    patch: { metadata: { finalizers: null } },
    uid: uid(),
    now: iso(r.clock.now()),
  })
  assert.is(r.store.get('replicationcontrollers', 'default', 'web'), undefined)
  await run(r, 31_000)
  assert.is(r.probe.creates, 2)
})

test('stop() stops: no more syncs, no timers left', async () => {
  const r = await rig()
  await createRc(r, 'web', 1)
  await run(r)
  r.manager.stop()
  r.manager.stop()
  assert.is(r.clock.pendingTimers(), 0)
  await scale(r, 'web', 3)
  await run(r, 60_000)
  assert.is(r.probe.creates, 1)
})

test("a new leader converges without overshoot; the old one's late writes are refused", async () => {
  const r = await rig()
  r.probe.holdAfter = 3 // batches 1 and 2 land; the batch of 4 hangs
  await createRc(r, 'web', 10)
  await run(r)
  assert.is(podsOf(r, 'web').length, 3)
  assert.is(r.probe.creates, 7)

  // Leadership moves: the old controllers stop, a new term begins, new controllers start.
  r.abort.abort()
  r.manager.stop()
  r.base.term = 2
  const next = startManager(r.base, r.clock, 7)
  await run(next)
  assert.is(podsOf(next, 'web').length, 10)
  assert.is(next.probe.creates, 7)

  // The old leader's held creates arrive now: fenced by term 1, refused.
  await r.probe.release()
  await run(next, 31_000)
  assert.is(podsOf(next, 'web').length, 10)
  assert.is(next.probe.creates, 7)
})

test("a new leader after the old one's writes were committed does not redo them", async () => {
  const r = await rig()
  r.probe.holdAfter = 3
  await createRc(r, 'web', 10)
  await run(r)
  // The held batch commits in the old term (before the new leader's barrier).
  await r.probe.release()
  await run(r)
  r.abort.abort()
  r.manager.stop()
  assert.is(podsOf(r, 'web').length, 7)
  r.base.term = 2
  const next = startManager(r.base, r.clock, 7)
  await run(next)
  assert.is(podsOf(next, 'web').length, 10)
  assert.is(next.probe.creates, 3)
})

test.run()

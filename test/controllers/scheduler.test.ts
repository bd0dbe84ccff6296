import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { ControllerContext } from '../../src/controllers/controller.js'
import { FencedStoreClient } from '../../src/controllers/fenced-store-client.js'
import { Scheduler, type SchedulerConfig } from '../../src/controllers/scheduler.js'
import { EventRecorder } from '../../src/store/event-recorder.js'
import { ObjectStore, type StoreCommand, type StoreResult } from '../../src/store/object-store.js'
import { LocalStoreClient, type StoreClient } from '../../src/store/store-client.js'
import type { KubeObject } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/logger.js'
import { SeededRng } from '../../src/util/random.js'

const test = suite('scheduler (the controller)')

/** A client that holds every proposal until the test lets it through (binds in flight). */
class GatedClient implements StoreClient {
  held: { command: StoreCommand; release: () => void }[] = []
  maxHeld = 0
  gated = false
  constructor(readonly inner: LocalStoreClient) {}
  get store() {
    return this.inner.store
  }
  waitCaughtUp(): Promise<void> {
    return this.inner.waitCaughtUp()
  }
  propose(command: StoreCommand): Promise<StoreResult> {
    if (!this.gated) return this.inner.propose(command)
    return new Promise((resolve, reject) => {
      this.held.push({ command, release: () => this.inner.propose(command).then(resolve, reject) })
      // Events have a bound of their own (the EventRecorder's); count binds and status writes.
      const writes = this.held.filter(
        (h) =>
          !(
            h.command.op === 'fenced' &&
            (h.command.command.op === 'create' || h.command.command.op === 'batch')
          ),
      )
      this.maxHeld = Math.max(this.maxHeld, writes.length)
    })
  }
  releaseAll(): void {
    for (const h of this.held.splice(0)) h.release()
  }
}

interface Rig {
  clock: ManualClock
  store: ObjectStore
  local: LocalStoreClient
  gate: GatedClient
  abort: AbortController
  scheduler: Scheduler
  ctx: ControllerContext
}

const rigs: Rig[] = []

async function rig(
  config: Partial<SchedulerConfig> = {},
  options: { term?: number; seed?: number } = {},
): Promise<Rig> {
  const clock = new ManualClock(Date.parse('2026-11-25T12:00:00Z'))
  const store = new ObjectStore()
  const local = new LocalStoreClient(store, () => clock.now())
  const gate = new GatedClient(local)
  const abort = new AbortController()
  const client = new FencedStoreClient(gate, options.term ?? 1, abort.signal)
  const logger = silentLogger()
  const ctx: ControllerContext = {
    client,
    store,
    clock,
    rng: new SeededRng(options.seed ?? 42),
    logger,
    events: (component) => new EventRecorder(client, { component }, clock, logger),
    signal: abort.signal,
  }
  const scheduler = new Scheduler(config)
  const r = { clock, store, local, gate, abort, scheduler, ctx }
  rigs.push(r)
  return r
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((res) => setImmediate(res))
}

/** Lets promises run and fires the clock's timers, `ms` of fake time. */
async function run(r: Rig, ms: number): Promise<void> {
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

test.after.each(() => {
  for (const r of rigs.splice(0)) r.scheduler.stop()
})

const nowIso = (r: Rig): string => new Date(r.clock.now()).toISOString()

async function addNode(r: Rig, name: string, cpu = '4', pods = '110'): Promise<void> {
  const capacity = { cpu, memory: '8Gi', pods }
  const res = await r.local.propose({
    op: 'create',
    resource: 'nodes',
    uid: `node-${name}`,
    now: nowIso(r),
    object: {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name } },
      status: {
        capacity,
        allocatable: capacity,
        conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: nowIso(r) }],
      },
    },
  })
  assert.ok(res.ok, JSON.stringify(res))
}

let uidSeq = 0
async function addPod(
  r: Rig,
  name: string,
  o: { cpu?: string; owner?: string; schedulerName?: string } = {},
): Promise<KubeObject> {
  uidSeq += 1
  const res = await r.local.propose({
    op: 'create',
    resource: 'pods',
    namespace: 'default',
    uid: `pod-${name}-${uidSeq}`,
    now: nowIso(r),
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: 'default',
        ...(o.owner
          ? {
              ownerReferences: [
                {
                  apiVersion: 'v1',
                  kind: 'ReplicationController',
                  name: 'rc',
                  uid: o.owner,
                  controller: true,
                },
              ],
            }
          : {}),
      },
      spec: {
        ...(o.schedulerName ? { schedulerName: o.schedulerName } : {}),
        containers: [
          { name: 'c', image: 'busybox', ...(o.cpu ? { resources: { requests: { cpu: o.cpu } } } : {}) },
        ],
      },
    },
  })
  assert.ok(res.ok, JSON.stringify(res))
  return res.object!
}

const nodeOf = (r: Rig, name: string): string | undefined =>
  (r.store.get('pods', 'default', name)?.spec as { nodeName?: string } | undefined)?.nodeName

function podScheduled(
  r: Rig,
  name: string,
): { status: string; reason?: string; message?: string } | undefined {
  const conds = (r.store.get('pods', 'default', name)?.status as { conditions?: Record<string, string>[] })
    ?.conditions
  return conds?.find((c) => c.type === 'PodScheduled') as
    | { status: string; reason?: string; message?: string }
    | undefined
}

function events(r: Rig, reason: string): KubeObject[] {
  return r.store.list('events').items.filter((e) => e.reason === reason)
}

test('binds the pending pods, spreads a controller 2/2/2, records Scheduled', async () => {
  const r = await rig()
  for (const n of ['n1', 'n2', 'n3']) await addNode(r, n)
  for (let i = 0; i < 6; i++) await addPod(r, `web-${i}`, { owner: 'rc-1', cpu: '100m' })
  await addPod(r, 'not-ours', { schedulerName: 'other-scheduler' })
  r.scheduler.start(r.ctx)
  await run(r, 100)
  const perNode = new Map<string, number>()
  for (let i = 0; i < 6; i++) {
    const n = nodeOf(r, `web-${i}`)
    assert.ok(n, `web-${i} bound`)
    perNode.set(n!, (perNode.get(n!) ?? 0) + 1)
    assert.is(podScheduled(r, `web-${i}`)?.status, 'True')
  }
  assert.equal([...perNode.values()], [2, 2, 2])
  assert.is(nodeOf(r, 'not-ours'), undefined)
  const scheduled = events(r, 'Scheduled')
  assert.is(scheduled.length, 6)
  assert.match(String(scheduled[0]!.message), /^Successfully assigned default\/web-\d to n\d$/)
  assert.is(r.scheduler.stats.bound, 6)
  // A pod created later is bound too.
  await addPod(r, 'late')
  await run(r, 100)
  assert.ok(nodeOf(r, 'late'))
})

test('respects capacity with assumed pods while binds are in flight, and bounds them', async () => {
  const r = await rig({ maxInFlightBinds: 2 })
  await addNode(r, 'n1', '1')
  for (let i = 0; i < 5; i++) await addPod(r, `p${i}`, { cpu: '300m' })
  r.gate.gated = true
  r.scheduler.start(r.ctx)
  await run(r, 10)
  // Two binds in flight, the queue waits for a slot.
  assert.is(r.gate.held.length, 2)
  assert.ok(r.gate.held.every((h) => h.command.op === 'fenced' && h.command.command.op === 'bind'))
  for (let round = 0; round < 10 && r.gate.held.length > 0; round++) {
    r.gate.releaseAll()
    await run(r, 10)
  }
  r.gate.gated = false
  await run(r, 100)
  assert.ok(r.gate.maxHeld <= 2, `at most 2 writes in flight, saw ${r.gate.maxHeld}`)
  const bound = [0, 1, 2, 3, 4].filter((i) => nodeOf(r, `p${i}`) === 'n1')
  assert.is(bound.length, 3, 'three fit in 1 cpu')
  const left = [0, 1, 2, 3, 4].filter((i) => !nodeOf(r, `p${i}`))
  for (const i of left) {
    assert.equal(podScheduled(r, `p${i}`), {
      ...podScheduled(r, `p${i}`),
      status: 'False',
      reason: 'Unschedulable',
      message: '0/1 nodes are available: 1 Insufficient cpu.',
    })
  }
})

test('capacity holds when all binds are in flight at once', async () => {
  const r = await rig()
  await addNode(r, 'n1', '1')
  await addNode(r, 'n2', '1')
  for (let i = 0; i < 10; i++) await addPod(r, `p${i}`, { cpu: '400m' })
  r.gate.gated = true
  r.scheduler.start(r.ctx)
  await run(r, 10)
  // Every decision was made before any bind committed: 4 binds (2 per node), 6 condition writes.
  const binds = r.gate.held.filter((h) => h.command.op === 'fenced' && h.command.command.op === 'bind')
  assert.is(binds.length, 4)
  r.gate.gated = false
  r.gate.releaseAll()
  await run(r, 100)
  const counts = ['n1', 'n2'].map((n) => [...Array(10).keys()].filter((i) => nodeOf(r, `p${i}`) === n).length)
  assert.equal(counts, [2, 2])
})

test('unschedulable: condition and event once, no spinning, scheduled when a node appears', async () => {
  const r = await rig()
  await addNode(r, 'small', '1')
  await addPod(r, 'big', { cpu: '2' })
  r.scheduler.start(r.ctx)
  await run(r, 100)
  assert.is(nodeOf(r, 'big'), undefined)
  const message = '0/1 nodes are available: 1 Insufficient cpu.'
  assert.equal(podScheduled(r, 'big'), {
    ...podScheduled(r, 'big'),
    status: 'False',
    reason: 'Unschedulable',
    message,
  })
  assert.is(events(r, 'FailedScheduling').length, 1)
  assert.is(events(r, 'FailedScheduling')[0]!.message, message)
  assert.is(r.scheduler.unschedulablePods().get('default/big'), message)
  // Nothing changes for 20 s: no new attempt, no new write (its own status write woke nothing).
  const proposals = r.local.proposals
  const attempts = r.scheduler.stats.unschedulable
  await run(r, 20_000)
  assert.is(r.local.proposals, proposals)
  assert.is(r.scheduler.stats.unschedulable, attempts)
  // A heartbeat of the node is not a change that matters.
  await r.local.propose({
    op: 'patch',
    resource: 'nodes',
    name: 'small',
    patchType: 'strategic',
    subresource: 'status',
    patch: { status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: nowIso(r) }] } },
    uid: 'x',
    now: nowIso(r),
  })
  await run(r, 5000)
  assert.is(r.scheduler.stats.unschedulable, attempts)
  // The periodic retry (30 s) tries again, writes nothing new (same message) …
  const writes = r.scheduler.stats.conditionsWritten
  await run(r, 10_000)
  assert.is(r.scheduler.stats.unschedulable, attempts + 1)
  assert.is(r.scheduler.stats.conditionsWritten, writes)
  // … and a node that fits gets it, after the back-off.
  await addNode(r, 'large', '8')
  await run(r, 11_000)
  assert.is(nodeOf(r, 'big'), 'large')
  assert.is(podScheduled(r, 'big')?.status, 'True')
  assert.is(r.scheduler.unschedulablePods().size, 0)
})

test('no nodes: Kubernetes message; a deleted pod frees room for an unschedulable one', async () => {
  const r = await rig()
  await addPod(r, 'early')
  r.scheduler.start(r.ctx)
  await run(r, 100)
  assert.is(podScheduled(r, 'early')?.message, 'no nodes available to schedule pods')
  await addNode(r, 'n1', '1', '1')
  await run(r, 2000)
  assert.is(nodeOf(r, 'early'), 'n1')
  await addPod(r, 'second')
  await run(r, 100)
  assert.is(podScheduled(r, 'second')?.message, '0/1 nodes are available: 1 Too many pods.')
  const early = r.store.get('pods', 'default', 'early')!
  const del = await r.local.propose({
    op: 'remove',
    resource: 'pods',
    namespace: 'default',
    name: 'early',
    gracePeriodSeconds: 0,
    preconditions: { uid: early.metadata.uid! },
    now: nowIso(r),
  })
  assert.ok(del.ok, JSON.stringify(del))
  await run(r, 2000)
  assert.is(nodeOf(r, 'second'), 'n1')
})

test('errors are retried with back-off, not spun on', async () => {
  const r = await rig()
  await addNode(r, 'n1')
  await addPod(r, 'p')
  r.local.failNext = { count: 3, error: new Error('no leader') }
  r.scheduler.start(r.ctx)
  await run(r, 50)
  assert.is(nodeOf(r, 'p'), undefined)
  assert.ok(r.local.proposals <= 4, `proposals: ${r.local.proposals}`)
  await run(r, 2000)
  assert.is(nodeOf(r, 'p'), 'n1')
  assert.is(r.scheduler.stats.errors, 3)
})

test('a bind refused by the fence is dropped, no crash', async () => {
  // The client is fenced by term 2; the store commits in term 1: every write is refused (409).
  const r = await rig({}, { term: 2 })
  await addNode(r, 'n1')
  await addPod(r, 'p')
  r.scheduler.start(r.ctx)
  await run(r, 5000)
  assert.is(nodeOf(r, 'p'), undefined)
  assert.is(r.scheduler.stats.refused, 1)
  assert.is(r.scheduler.stats.bound, 0)
  // Losing leadership (the signal) stops it, and the fenced client refuses to send.
  r.abort.abort()
  await addPod(r, 'q')
  await run(r, 60_000)
  assert.is(nodeOf(r, 'q'), undefined)
  assert.is(r.clock.pendingTimers(), 0)
})

test('stop() stops everything: watches, timers, queue', async () => {
  const r = await rig()
  await addNode(r, 'small', '1')
  await addPod(r, 'big', { cpu: '2' })
  r.scheduler.start(r.ctx)
  await run(r, 100)
  r.scheduler.stop()
  r.scheduler.stop()
  assert.is(r.clock.pendingTimers(), 0)
  const proposals = r.local.proposals
  await addPod(r, 'after')
  await addNode(r, 'large', '8')
  await run(r, 60_000)
  assert.is(nodeOf(r, 'after'), undefined)
  assert.is(nodeOf(r, 'big'), undefined)
  assert.is(r.local.proposals, proposals + 2)
})

test('starts with what is bound already and counts it', async () => {
  const r = await rig()
  await addNode(r, 'n1', '1')
  await addPod(r, 'a', { cpu: '800m' })
  const bind = await r.local.propose({
    op: 'bind',
    namespace: 'default',
    name: 'a',
    node: 'n1',
    now: nowIso(r),
  })
  assert.ok(bind.ok)
  await addPod(r, 'b', { cpu: '800m' })
  r.scheduler.start(r.ctx)
  await run(r, 100)
  assert.is(nodeOf(r, 'b'), undefined)
  assert.is(podScheduled(r, 'b')?.reason, 'Unschedulable')
})

test.run()

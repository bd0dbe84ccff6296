import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  checkReplacement,
  DESIRED_REPLICAS_ANNOTATION,
  ORIGINAL_REPLICAS_ANNOTATION,
  parseGoDuration,
  planScaleDown,
  planScaleUp,
  type RollingUpdateIo,
  type RollingUpdatePlan,
  rollingUpdate,
  SOURCE_ID_ANNOTATION,
} from '../../cli/rolling-update.js'
import type { KubeObject } from '../../src/store/types.js'

function rc(name: string, replicas: number | undefined, version: string): KubeObject {
  const labels = { app: 'web', version }
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name, namespace: 'default' },
    spec: {
      ...(replicas === undefined ? {} : { replicas }),
      selector: labels,
      template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: `web:${version}` }] } },
    },
  }
}

/**
 * A cluster of replication controllers on fake time: a scaled RC's pods exist at once and
 * become ready `readyAfterMs` later (never, for a broken version).
 */
class FakeCluster implements RollingUpdateIo {
  nowMs = 0
  lines: string[] = []
  rcs = new Map<string, KubeObject>()
  /** Per RC: when each of its current pods became (or becomes) ready. */
  private readyAt = new Map<string, number[]>()
  /** Most pods of both RCs seen at once. */
  maxPods = 0
  /** Least ready pods seen at once after the start. */
  minReady = Number.POSITIVE_INFINITY
  neverReady = new Set<string>()
  clock = { now: () => this.nowMs }
  private uids = 0

  constructor(private readonly readyAfterMs = 2000) {}

  add(obj: KubeObject, readyPods = true): void {
    const o = structuredClone(obj)
    o.metadata.uid = `uid-${++this.uids}`
    o.metadata.generation = 1
    this.rcs.set(o.metadata.name!, o)
    const n = (o.spec as { replicas?: number }).replicas ?? 1
    this.readyAt.set(
      o.metadata.name!,
      Array.from({ length: n }, () => (readyPods ? 0 : Number.POSITIVE_INFINITY)),
    )
  }

  private view(name: string): KubeObject | undefined {
    const o = this.rcs.get(name)
    if (!o) return undefined
    const at = this.readyAt.get(name) ?? []
    const ready = at.filter((t) => t <= this.nowMs).length
    return {
      ...structuredClone(o),
      status: { replicas: at.length, readyReplicas: ready, observedGeneration: o.metadata.generation },
    }
  }

  private observe(): void {
    let pods = 0
    let ready = 0
    for (const [name, at] of this.readyAt) {
      if (!this.rcs.has(name)) continue
      pods += at.length
      ready += at.filter((t) => t <= this.nowMs).length
    }
    this.maxPods = Math.max(this.maxPods, pods)
    this.minReady = Math.min(this.minReady, ready)
  }

  async getRc(name: string) {
    return this.view(name)
  }
  async createRc(obj: KubeObject) {
    this.add(obj)
    return this.view(obj.metadata.name!)!
  }
  async patchRc(name: string, patch: Record<string, unknown>) {
    const o = this.rcs.get(name)!
    const annotations = { ...(o.metadata.annotations ?? {}) }
    const want = (patch.metadata as { annotations: Record<string, string | null> }).annotations
    for (const [k, v] of Object.entries(want)) {
      if (v === null) delete annotations[k]
      else annotations[k] = v
    }
    o.metadata.annotations = annotations
    return this.view(name)!
  }
  async scaleRc(name: string, replicas: number) {
    const o = this.rcs.get(name)!
    ;(o.spec as { replicas: number }).replicas = replicas
    o.metadata.generation! += 1
    const at = this.readyAt.get(name)!
    const readyAt = this.neverReady.has(name) ? Number.POSITIVE_INFINITY : this.nowMs + this.readyAfterMs
    while (at.length < replicas) at.push(readyAt)
    // Unready pods go first, then the newest: the replication controller's order.
    at.sort((a, b) => a - b)
    at.length = Math.min(at.length, replicas)
    this.observe()
  }
  async deleteRc(name: string) {
    this.rcs.delete(name)
  }
  async sleep(ms: number) {
    this.nowMs += ms
    this.observe()
  }
  out(line: string) {
    this.lines.push(line)
  }
}

/** The message a promise is rejected with ('' when it resolves). */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return ''
  } catch (err) {
    return (err as Error).message
  }
}

function plan(newRc: KubeObject, extra: Partial<RollingUpdatePlan> = {}): RollingUpdatePlan {
  return {
    oldName: 'web-v1',
    newRc,
    source: 'web-v2.yaml',
    updatePeriodMs: 60_000,
    pollIntervalMs: 3000,
    timeoutMs: 300_000,
    ...extra,
  }
}

test('durations: Go syntax', () => {
  assert.is(parseGoDuration('--t', '1m0s'), 60_000)
  assert.is(parseGoDuration('--t', '3s'), 3000)
  assert.is(parseGoDuration('--t', '500ms'), 500)
  assert.is(parseGoDuration('--t', '1h30m'), 5_400_000)
  assert.is(parseGoDuration('--t', '1.5s'), 1500)
  assert.is(parseGoDuration('--t', '0'), 0)
  for (const bad of ['', '5', '1x', 'm', '1m junk'])
    assert.throws(
      () => parseGoDuration('--t', bad),
      (e: Error) => e.message.includes('--t'),
    )
})

test('replacement rules: other name, a selector value that differs, an RC', () => {
  const old = rc('web-v1', 3, 'v1')
  checkReplacement(old, rc('web-v2', 3, 'v2'), 'f')
  assert.throws(() => checkReplacement(old, rc('web-v1', 3, 'v2'), 'f'), /same name/)
  assert.throws(() => checkReplacement(old, rc('web-v2', 3, 'v1'), 'f'), /non-equal value in Selector/)
  const disjoint = rc('web-v2', 3, 'v2')
  ;(disjoint.spec as { selector: unknown }).selector = { other: 'x' }
  assert.throws(() => checkReplacement(old, disjoint, 'f'), /non-equal value/)
  // A selector left to default from the template's labels counts as those labels.
  const defaulted = rc('web-v2', 3, 'v2')
  delete (defaulted.spec as { selector?: unknown }).selector
  checkReplacement(old, defaulted, 'f')
  assert.throws(
    () => checkReplacement(old, { ...rc('x', 1, 'v2'), kind: 'Pod' }, 'f'),
    /not a ReplicationController/,
  )
})

test('planning: surge of one, nothing unavailable', () => {
  assert.is(planScaleUp({ oldReplicas: 3, newReplicas: 0, desired: 3 }), 1)
  assert.is(planScaleUp({ oldReplicas: 3, newReplicas: 1, desired: 3 }), null, 'at desired + 1 pods')
  assert.is(planScaleUp({ oldReplicas: 2, newReplicas: 1, desired: 3 }), 2)
  assert.is(planScaleUp({ oldReplicas: 0, newReplicas: 1, desired: 3 }), 3, 'old is gone: all the way')
  assert.is(planScaleUp({ oldReplicas: 1, newReplicas: 3, desired: 3 }), null)
  assert.is(planScaleDown({ oldReplicas: 3, newReplicas: 1, desired: 3, newAvailable: 0 }), null)
  assert.is(planScaleDown({ oldReplicas: 3, newReplicas: 1, desired: 3, newAvailable: 1 }), 2)
  assert.is(planScaleDown({ oldReplicas: 5, newReplicas: 0, desired: 3, newAvailable: 0 }), 3)
  assert.is(planScaleDown({ oldReplicas: 1, newReplicas: 3, desired: 3, newAvailable: 3 }), 0)
  assert.is(planScaleDown({ oldReplicas: 0, newReplicas: 3, desired: 3, newAvailable: 3 }), null)
  // Scaling to 0: nothing needs to stay available.
  assert.is(planScaleDown({ oldReplicas: 2, newReplicas: 0, desired: 0, newAvailable: 0 }), 0)
})

test('a whole update: one pod at a time, never more than desired + 1, never fewer ready than desired', async () => {
  const c = new FakeCluster()
  c.add(rc('web-v1', 3, 'v1'))
  await rollingUpdate(c, plan(rc('web-v2', undefined, 'v2')))
  assert.equal(c.lines, [
    'Created web-v2',
    "Scaling up web-v2 from 0 to 3, scaling down web-v1 from 3 to 0 (keep 3 pods available, don't exceed 4 pods)",
    'Scaling web-v2 up to 1',
    'Scaling web-v1 down to 2',
    'Scaling web-v2 up to 2',
    'Scaling web-v1 down to 1',
    'Scaling web-v2 up to 3',
    'Scaling web-v1 down to 0',
    'Update succeeded. Deleting web-v1',
    'replicationcontroller/web-v1 rolling updated to web-v2',
  ])
  assert.is(c.rcs.has('web-v1'), false)
  const v2 = c.rcs.get('web-v2')!
  assert.is((v2.spec as { replicas: number }).replicas, 3)
  assert.is(v2.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION], undefined)
  assert.is(v2.metadata.annotations?.[SOURCE_ID_ANNOTATION], undefined)
  assert.is(c.maxPods, 4)
  assert.is(c.minReady, 3)
  // Three steps, each a wait for readiness (2 s, polled every 3 s) and an update period.
  assert.ok(c.nowMs >= 3 * 60_000 && c.nowMs < 4 * 60_000, String(c.nowMs))
})

test('resumes an interrupted update from the annotations', async () => {
  const c = new FakeCluster()
  c.add(rc('web-v1', 2, 'v1'))
  const oldUid = c.rcs.get('web-v1')!.metadata.uid
  await c.scaleRc('web-v1', 1)
  await c.patchRc('web-v1', { metadata: { annotations: { [ORIGINAL_REPLICAS_ANNOTATION]: '2' } } })
  const partial = rc('web-v2', 1, 'v2')
  partial.metadata.annotations = {
    [DESIRED_REPLICAS_ANNOTATION]: '2',
    [SOURCE_ID_ANNOTATION]: `web-v1:${oldUid}`,
  }
  c.add(partial)
  c.nowMs += 10_000
  await rollingUpdate(c, plan(rc('web-v2', 2, 'v2'), { updatePeriodMs: 1000 }))
  assert.equal(c.lines.slice(0, 3), [
    'Continuing update with existing controller web-v2.',
    "Scaling up web-v2 from 1 to 2, scaling down web-v1 from 1 to 0 (keep 2 pods available, don't exceed 3 pods)",
    'Scaling web-v2 up to 2',
  ])
  assert.is(c.rcs.has('web-v1'), false)
  assert.is((c.rcs.get('web-v2')!.spec as { replicas: number }).replicas, 2)
})

test('refuses to take over a controller that is not from this update', async () => {
  const c = new FakeCluster()
  c.add(rc('web-v1', 2, 'v1'))
  c.add(rc('web-v2', 2, 'v2'))
  assert.match(await failure(rollingUpdate(c, plan(rc('web-v2', 2, 'v2')))), /unexpected annotations/)
})

test('new pods that never get ready: the old stay, and it fails after the timeout', async () => {
  const c = new FakeCluster()
  c.add(rc('web-v1', 2, 'v1'))
  c.neverReady.add('web-v2')
  assert.match(
    await failure(rollingUpdate(c, plan(rc('web-v2', 2, 'v2'), { updatePeriodMs: 1000, timeoutMs: 30_000 }))),
    /timed out waiting for any update progress/,
  )
  assert.is((c.rcs.get('web-v1')!.spec as { replicas: number }).replicas, 2)
  assert.is((c.rcs.get('web-v2')!.spec as { replicas: number }).replicas, 1)
  assert.ok(c.nowMs < 120_000, String(c.nowMs))
})

test.run()

import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Backoff } from '../../src/agent/backoff.js'
import { containerEnv, containerLimits, expandVars } from '../../src/agent/container-config.js'
import { planPod } from '../../src/agent/pod-plan.js'
import type { ContainerStatusView } from '../../src/agent/pod-spec.js'
import { podPhase, qosClass } from '../../src/agent/pod-status.js'
import { ProbeVerdict, probePort, runProbe } from '../../src/agent/prober.js'
import type { ContainerStatus } from '../../src/agent/runtime.js'
import type { KubeObject } from '../../src/store/types.js'

test('back-off: immediate first retry, then 10 s doubling to 5 min, reset after 10 min', () => {
  const b = new Backoff()
  assert.is(b.retryAtMs('k', 1000), 1000)
  b.next('k', 1000)
  assert.is(b.retryAtMs('k', 2000), 12_000)
  const delays: number[] = []
  let t = 2000
  for (let i = 0; i < 8; i++) {
    b.next('k', t)
    delays.push(b.delayMs('k'))
    t += 1000
  }
  assert.equal(delays, [20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000, 300_000])
  b.next('k', t + 600_001)
  assert.is(b.delayMs('k'), 10_000)
})

const view = (
  s: Partial<ContainerStatusView['state']>,
  last: Partial<ContainerStatusView['lastState']> = {},
) =>
  ({
    name: 'x',
    state: s,
    lastState: last,
    ready: false,
    restartCount: 0,
    image: '',
    imageID: '',
  }) as ContainerStatusView

test('phase follows the kubelet: waiting → Pending, running → Running, all done by policy', () => {
  const run = view({ running: {} })
  const ok = view({ terminated: { exitCode: 0 } })
  const bad = view({ terminated: { exitCode: 1 } })
  const crashLoop = view({ waiting: { reason: 'CrashLoopBackOff' } }, { terminated: { exitCode: 1 } })
  const creating = view({ waiting: { reason: 'ContainerCreating' } })
  assert.is(podPhase('Always', [creating]), 'Pending')
  assert.is(podPhase('Always', [run, creating]), 'Pending')
  assert.is(podPhase('Always', [run]), 'Running')
  assert.is(podPhase('Always', [crashLoop]), 'Running')
  assert.is(podPhase('Never', [ok, ok]), 'Succeeded')
  assert.is(podPhase('Never', [ok, bad]), 'Failed')
  assert.is(podPhase('OnFailure', [ok]), 'Succeeded')
  assert.is(podPhase('OnFailure', [bad]), 'Running')
  assert.is(podPhase('Always', [ok]), 'Running')
})

function pod(spec: Record<string, unknown>, extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { app: 'web' } },
    spec: { containers: [{ name: 'a', image: 'img:1' }], restartPolicy: 'Always', ...spec },
    ...extra,
  }
}

function ctr(
  attempt: number,
  state: ContainerStatus['state'],
  extra: Partial<ContainerStatus> = {},
): ContainerStatus {
  return {
    id: `c${attempt}`,
    podUid: 'u1',
    name: 'a',
    attempt,
    image: 'img:1',
    imageId: '',
    state,
    createdAtMs: attempt,
    ...extra,
  }
}

const sandbox = {
  id: 's1',
  podUid: 'u1',
  podName: 'p',
  namespace: 'ns',
  state: 'ready' as const,
  ip: '10.0.0.1',
  createdAtMs: 1,
}

test('plan: a new pod gets a sandbox and its containers at attempt 0', () => {
  const plan = planPod({
    pod: pod({}),
    sandboxes: [],
    containers: [],
    livenessFailed: new Set(),
    backoff: new Backoff(),
    nowMs: 0,
  })
  assert.ok(plan.createSandbox)
  assert.equal(plan.start, [{ name: 'a', attempt: 0, restart: false }])
})

test('plan: a running container is left alone; a failed liveness or a new image kills it', () => {
  const base = { sandboxes: [sandbox], backoff: new Backoff(), nowMs: 0 }
  const running = [ctr(0, 'running')]
  assert.is(planPod({ ...base, pod: pod({}), containers: running, livenessFailed: new Set() }).kill.length, 0)
  assert.is(
    planPod({ ...base, pod: pod({}), containers: running, livenessFailed: new Set(['c0']) }).kill[0]?.reason,
    'Unhealthy',
  )
  const newImage = pod({ containers: [{ name: 'a', image: 'img:2' }] })
  assert.is(
    planPod({ ...base, pod: newImage, containers: running, livenessFailed: new Set() }).kill.length,
    1,
  )
})

test('plan: restart policies, back-off, and a finished pod that stops its sandbox', () => {
  const b = new Backoff()
  const exited = [ctr(0, 'exited', { exitCode: 1, finishedAtMs: 100 })]
  const base = { sandboxes: [sandbox], livenessFailed: new Set<string>(), backoff: b }
  assert.equal(planPod({ ...base, pod: pod({}), containers: exited, nowMs: 200 }).start, [
    { name: 'a', attempt: 1, restart: true },
  ])
  b.next('u1/a', 200)
  const again = [ctr(1, 'exited', { exitCode: 1, finishedAtMs: 300 }), ...exited]
  const waiting = planPod({ ...base, pod: pod({}), containers: again, nowMs: 400 })
  assert.is(waiting.start.length, 0)
  assert.is(waiting.waiting.get('a')?.reason, 'CrashLoopBackOff')
  assert.is(waiting.retryAtMs, 10_300)
  const never = planPod({ ...base, pod: pod({ restartPolicy: 'Never' }), containers: exited, nowMs: 200 })
  assert.is(never.start.length, 0)
  assert.equal(never.stopSandboxes, ['s1'])
  const onFailureOk = [ctr(0, 'exited', { exitCode: 0, finishedAtMs: 100 })]
  assert.is(
    planPod({ ...base, pod: pod({ restartPolicy: 'OnFailure' }), containers: onFailureOk, nowMs: 200 }).start
      .length,
    0,
  )
})

test('plan: only the two latest attempts of a container are kept', () => {
  const containers = [3, 2, 1, 0].map((a) => ctr(a, a === 3 ? 'running' : 'exited', { exitCode: 1 }))
  const plan = planPod({
    pod: pod({}),
    sandboxes: [sandbox],
    containers,
    livenessFailed: new Set(),
    backoff: new Backoff(),
    nowMs: 0,
  })
  assert.equal(plan.removeContainers.sort(), ['c0', 'c1'])
})

test('env: values, fieldRefs, configMap keys, $(VAR) expansion and its $$ escape', () => {
  const p = pod({
    containers: [
      {
        name: 'a',
        image: 'i',
        env: [
          { name: 'A', value: 'one' },
          { name: 'B', value: '$(A)-two-$$(A)-$(NOPE)' },
          { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'CM', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } },
        ],
      },
    ],
  })
  const spec = (p.spec as { containers: never[] }).containers[0]!
  const env = containerEnv(p, spec, {
    configMap: (ns, name) =>
      ns === 'ns' && name === 'cfg' ? ({ data: { k: 'v' } } as unknown as KubeObject) : undefined,
    podIP: '10.1.2.3',
    hostIP: '127.0.0.1',
    nodeName: 'n',
    podsDir: '/tmp',
  })
  assert.equal(env, [
    { name: 'A', value: 'one' },
    { name: 'B', value: 'one-two-$(A)-$(NOPE)' },
    { name: 'NAME', value: 'p' },
    { name: 'APP', value: 'web' },
    { name: 'IP', value: '10.1.2.3' },
    { name: 'CM', value: 'v' },
  ])
  assert.is(expandVars('$$$(A)', new Map([['A', 'x']])), '$x')
  assert.throws(
    () =>
      containerEnv(
        p,
        {
          name: 'a',
          image: 'i',
          env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }],
        },
        {
          configMap: () => undefined,
          podIP: '',
          hostIP: '',
          nodeName: '',
          podsDir: '',
        },
      ),
    (e: Error) => e.name === 'ContainerConfigError',
  )
})

test('limits, QoS class, probe thresholds and named ports', () => {
  assert.equal(
    containerLimits({ name: 'a', image: 'i', resources: { limits: { memory: '64Mi', cpu: '250m' } } }),
    {
      memoryBytes: 64 * 1024 * 1024,
      nanoCpus: 250_000_000,
    },
  )
  assert.is(qosClass(pod({})), 'BestEffort')
  assert.is(
    qosClass(
      pod({ containers: [{ name: 'a', image: 'i', resources: { limits: { cpu: '1', memory: '1Gi' } } }] }),
    ),
    'Guaranteed',
  )
  assert.is(
    qosClass(pod({ containers: [{ name: 'a', image: 'i', resources: { requests: { cpu: '1' } } }] })),
    'Burstable',
  )
  const v = new ProbeVerdict(false, 2, 3)
  assert.is(v.record(true), false)
  assert.is(v.record(true), true)
  assert.ok(v.ok)
  assert.is(v.record(false), false)
  assert.is(v.record(false), false)
  assert.is(v.record(true), false, 'a success resets the failures')
  v.record(false)
  v.record(false)
  assert.is(v.record(false), true)
  assert.not.ok(v.ok)
  assert.is(
    probePort('http', { name: 'a', image: 'i', ports: [{ name: 'http', containerPort: 8080 }] }),
    8080,
  )
  assert.is(probePort(81, { name: 'a', image: 'i' }), 81)
})

test('httpGet and tcpSocket probes: 2xx/3xx pass, 5xx and refused connections fail', async () => {
  const { createServer } = await import('node:http')
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/healthz' ? 200 : req.url === '/moved' ? 302 : 500
    res.end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  const target = {
    podIP: '127.0.0.1',
    containerId: 'c',
    container: { name: 'a', image: 'i', ports: [{ name: 'web', containerPort: port }] },
    runtime: null as never,
  }
  try {
    assert.ok((await runProbe({ httpGet: { path: '/healthz', port: 'web' } }, target)).ok)
    assert.ok((await runProbe({ httpGet: { path: '/moved', port } }, target)).ok)
    const failed = await runProbe({ httpGet: { path: '/broken', port } }, target)
    assert.not.ok(failed.ok)
    assert.match(failed.message, /statuscode: 500/)
    assert.ok((await runProbe({ tcpSocket: { port } }, target)).ok)
  } finally {
    await new Promise((r) => server.close(r))
  }
  const refused = await runProbe({ tcpSocket: { port } }, target)
  assert.not.ok(refused.ok)
  assert.not.ok((await runProbe({ httpGet: { path: '/', port }, timeoutSeconds: 1 }, target)).ok)
})

test.run()

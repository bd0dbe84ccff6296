import '../../src/util/polyfill.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { type FakeProgram, FakeRuntime, FakeRuntimeHost, fakeCommand } from '../../src/agent/fake-runtime.js'
import { NodeAgent, type NodeAgentOptions } from '../../src/agent/node-agent.js'
import type { PodStatusView } from '../../src/agent/pod-spec.js'
import { ObjectStore } from '../../src/store/object-store.js'
import { LocalStoreClient } from '../../src/store/store-client.js'
import type { KubeObject } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/logger.js'

const NODE = 'node-a'

interface Rig {
  clock: ManualClock
  store: ObjectStore
  client: LocalStoreClient
  host: FakeRuntimeHost
  runtime: FakeRuntime
  agent: NodeAgent
  dir: string
}

const rigs: Rig[] = []

async function rig(existing?: Partial<Rig>, options: Partial<NodeAgentOptions> = {}): Promise<Rig> {
  const clock = existing?.clock ?? new ManualClock(Date.parse('2026-11-25T12:00:00Z'))
  const store = existing?.store ?? new ObjectStore()
  const client = existing?.client ?? new LocalStoreClient(store, () => clock.now())
  const host = existing?.host ?? new FakeRuntimeHost(clock)
  const dir = existing?.dir ?? mkdtempSync(join(tmpdir(), 'shoal-agent-'))
  const runtime = new FakeRuntime(host, NODE)
  const agent = new NodeAgent({
    nodeName: NODE,
    client,
    runtime,
    clock,
    logger: silentLogger(),
    podsDir: join(dir, 'pods'),
    hostIP: '127.0.0.9',
    apiPort: 6443,
    ...options,
  })
  const r = { clock, store, client, host, runtime, agent, dir }
  rigs.push(r)
  await agent.start()
  await settle(r)
  return r
}

/** Lets promises run and fires the clock's timers, `ms` of fake time in 10 ms steps. */
async function run(r: Rig, ms: number): Promise<void> {
  const end = r.clock.now() + ms
  for (;;) {
    await settle(r)
    const due = r.clock.nextDueMs()
    if (due === null || due > end) break
    r.clock.fireNext(end)
  }
  r.clock.advance(end - r.clock.now())
  await settle(r)
}

async function settle(_r: Rig): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((res) => setImmediate(res))
}

test.after.each(async () => {
  for (const r of rigs.splice(0)) {
    await r.agent.stop()
    rmSync(r.dir, { recursive: true, force: true })
  }
})

async function createPod(
  r: Rig,
  name: string,
  containers: { name: string; program?: FakeProgram; image?: string; extra?: Record<string, unknown> }[],
  spec: Record<string, unknown> = {},
): Promise<KubeObject> {
  const res = await r.client.propose({
    op: 'create',
    resource: 'pods',
    namespace: 'default',
    uid: globalThis.crypto.randomUUID(),
    now: new Date(r.clock.now()).toISOString(),
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: {
        nodeName: NODE,
        containers: containers.map((c) => ({
          name: c.name,
          image: c.image ?? 'shoal-test/busybox:1',
          command: fakeCommand(c.program ?? {}),
          ...(c.extra ?? {}),
        })),
        ...spec,
      },
    },
  })
  assert.ok(res.ok, JSON.stringify(res))
  return res.object!
}

function podOf(r: Rig, name: string): KubeObject | undefined {
  return r.store.get('pods', 'default', name)
}

function statusOf(r: Rig, name: string): PodStatusView {
  return (podOf(r, name)?.status ?? {}) as unknown as PodStatusView
}

function condition(r: Rig, name: string, type: string): string | undefined {
  return statusOf(r, name).conditions?.find((c) => c.type === type)?.status
}

test('the node registers with capacity, addresses and a Ready condition, and heart-beats', async () => {
  const r = await rig()
  const node = r.store.get('nodes', undefined, NODE)!
  assert.ok(node)
  const st = node.status as {
    capacity: Record<string, string>
    conditions: { type: string; status: string; lastHeartbeatTime: string }[]
    addresses: { type: string; address: string }[]
    daemonEndpoints: { kubeletEndpoint: { Port: number } }
    nodeInfo: { containerRuntimeVersion: string; kubeletVersion: string }
  }
  assert.ok(Number(st.capacity.cpu) >= 1)
  assert.match(st.capacity.memory, /^\d+Ki$/)
  assert.is(st.capacity.pods, '110')
  assert.equal(st.addresses[0], { type: 'InternalIP', address: '127.0.0.9' })
  assert.is(st.daemonEndpoints.kubeletEndpoint.Port, 6443)
  assert.is(st.nodeInfo.containerRuntimeVersion, 'fake://1.0.0')
  const ready = st.conditions.find((c) => c.type === 'Ready')!
  assert.is(ready.status, 'True')
  const first = ready.lastHeartbeatTime
  await run(r, 5000)
  const later = (r.store.get('nodes', undefined, NODE)!.status as typeof st).conditions.find(
    (c) => c.type === 'Ready',
  )!
  assert.ok(later.lastHeartbeatTime > first, `${later.lastHeartbeatTime} > ${first}`)
})

test('a pod bound here runs: Running, Ready, a pod IP, container statuses and events', async () => {
  const r = await rig()
  await createPod(r, 'web', [{ name: 'app', program: { print: ['hi'] } }])
  await run(r, 100)
  const st = statusOf(r, 'web')
  assert.is(st.phase, 'Running')
  assert.match(st.podIP ?? '', /^10\.244\./)
  assert.is(st.hostIP, '127.0.0.9')
  assert.ok(st.startTime)
  assert.is(condition(r, 'web', 'Ready'), 'True')
  assert.is(condition(r, 'web', 'PodScheduled'), 'True')
  const cs = st.containerStatuses[0]!
  assert.is(cs.name, 'app')
  assert.ok(cs.state.running)
  assert.is(cs.ready, true)
  assert.is(cs.restartCount, 0)
  assert.match(cs.containerID ?? '', /^fake:\/\//)
  const reasons = r.store.list('events').items.map((e) => e.reason)
  assert.ok(reasons.includes('Created') && reasons.includes('Started'), reasons.join(','))
  const logs = await r.agent.podLogs(podOf(r, 'web')!, { follow: false, previous: false, timestamps: false })
  let text = ''
  for await (const chunk of logs) text += chunk.toString()
  assert.is(text, 'hi\n')
})

test('restart policies give the right phases: Never+0 Succeeded, Never+1 Failed', async () => {
  const r = await rig()
  await createPod(r, 'ok', [{ name: 'a', program: { exitCode: 0 } }], { restartPolicy: 'Never' })
  await createPod(r, 'bad', [{ name: 'a', program: { exitCode: 2 } }], { restartPolicy: 'Never' })
  await run(r, 3000)
  assert.is(statusOf(r, 'ok').phase, 'Succeeded')
  assert.is(statusOf(r, 'bad').phase, 'Failed')
  const t = statusOf(r, 'bad').containerStatuses[0]!.state.terminated!
  assert.is(t.exitCode, 2)
  assert.is(t.reason, 'Error')
  assert.is(condition(r, 'ok', 'Ready'), 'False')
  // Nothing restarts, whatever time passes.
  await run(r, 60_000)
  assert.is(statusOf(r, 'bad').containerStatuses[0]!.restartCount, 0)
  assert.is(r.host.containers.size, 2)
})

test('a crashing container restarts at once, then waits in CrashLoopBackOff 10 s, 20 s, …', async () => {
  const r = await rig()
  await createPod(r, 'crash', [{ name: 'a', program: { exitCode: 1, exitAfterMs: 100 } }])
  await run(r, 1500)
  // Exited after 100 ms → restarted at once (attempt 1) → exited again → back-off 10 s.
  let st = statusOf(r, 'crash')
  let cs = st.containerStatuses[0]!
  assert.is(cs.restartCount, 1)
  assert.is(cs.state.waiting?.reason, 'CrashLoopBackOff')
  assert.match(
    cs.state.waiting?.message ?? '',
    /back-off 10s restarting failed container=a pod=crash_default/,
  )
  assert.is(cs.lastState.terminated?.exitCode, 1)
  assert.is(st.phase, 'Running')
  await run(r, 8000)
  assert.is(statusOf(r, 'crash').containerStatuses[0]!.restartCount, 1, 'still backing off at 9.5 s')
  await run(r, 1500)
  st = statusOf(r, 'crash')
  cs = st.containerStatuses[0]!
  assert.is(cs.restartCount, 2)
  assert.match(cs.state.waiting?.message ?? '', /back-off 20s/)
  // Only the two latest attempts are kept.
  assert.ok(r.host.containers.size <= 2, `containers kept: ${r.host.containers.size}`)
})

test('OnFailure restarts a failure and not a success', async () => {
  const r = await rig()
  await createPod(r, 'job', [{ name: 'a', program: { exitCode: 0 } }], { restartPolicy: 'OnFailure' })
  await createPod(r, 'flaky', [{ name: 'a', program: { exitCode: 3, exitAfterMs: 50 } }], {
    restartPolicy: 'OnFailure',
  })
  await run(r, 2000)
  assert.is(statusOf(r, 'job').phase, 'Succeeded')
  assert.is(statusOf(r, 'job').containerStatuses[0]!.restartCount, 0)
  assert.ok(statusOf(r, 'flaky').containerStatuses[0]!.restartCount >= 1)
  assert.is(statusOf(r, 'flaky').phase, 'Running')
})

test('a missing image: ErrImagePull, then ImagePullBackOff, and nothing runs', async () => {
  const r = await rig()
  r.host.missingImages.add('nowhere/missing:1')
  await createPod(r, 'nopull', [{ name: 'a', image: 'nowhere/missing:1' }])
  await run(r, 100)
  let cs = statusOf(r, 'nopull').containerStatuses[0]!
  assert.is(cs.state.waiting?.reason, 'ErrImagePull')
  assert.is(statusOf(r, 'nopull').phase, 'Pending')
  await run(r, 2000)
  cs = statusOf(r, 'nopull').containerStatuses[0]!
  assert.is(cs.state.waiting?.reason, 'ImagePullBackOff')
  assert.is(r.host.containers.size, 0)
  const failed = r.store.list('events').items.filter((e) => e.reason === 'Failed')
  assert.ok(failed.length >= 1)
  // The image appears: the next retry runs it.
  r.host.missingImages.delete('nowhere/missing:1')
  await run(r, 11_000)
  assert.is(statusOf(r, 'nopull').phase, 'Running')
})

test('a failing liveness probe restarts the container; readiness flips Ready', async () => {
  const r = await rig()
  let live = true
  let ready = false
  // Probes answer from these flags: the fake runtime's exec of the probe command.
  const probeCommand = (name: string) => ({
    exec: { command: [name] },
    periodSeconds: 1,
    failureThreshold: 2,
  })
  await createPod(r, 'probed', [
    {
      name: 'a',
      program: {},
      extra: {
        livenessProbe: probeCommand('live'),
        readinessProbe: { ...probeCommand('ready'), failureThreshold: 1 },
      },
    },
  ])
  const origExec = r.runtime.exec.bind(r.runtime)
  r.runtime.exec = async (id, command, timeoutMs) => {
    if (command[0] === 'live') return { exitCode: live ? 0 : 1, output: '' }
    if (command[0] === 'ready') return { exitCode: ready ? 0 : 1, output: '' }
    return origExec(id, command, timeoutMs)
  }
  await run(r, 1500)
  assert.is(condition(r, 'probed', 'Ready'), 'False')
  assert.is(statusOf(r, 'probed').containerStatuses[0]!.ready, false)
  ready = true
  await run(r, 1500)
  assert.is(condition(r, 'probed', 'Ready'), 'True')
  ready = false
  await run(r, 1500)
  assert.is(condition(r, 'probed', 'Ready'), 'False')
  live = false
  await run(r, 3500)
  const cs = statusOf(r, 'probed').containerStatuses[0]!
  assert.is(cs.restartCount, 1, 'restarted after the liveness failures')
  assert.ok(r.store.list('events').items.some((e) => e.reason === 'Unhealthy'))
})

test('deleting a pod stops its containers within the grace period and removes it', async () => {
  const r = await rig()
  const pod = await createPod(r, 'gone', [{ name: 'a', program: { ignoreTerm: true } }], {
    terminationGracePeriodSeconds: 5,
  })
  await run(r, 100)
  assert.is(statusOf(r, 'gone').phase, 'Running')
  const del = await r.client.propose({
    op: 'remove',
    resource: 'pods',
    namespace: 'default',
    name: 'gone',
    now: new Date(r.clock.now()).toISOString(),
  })
  assert.ok(del.ok)
  assert.ok(podOf(r, 'gone')?.metadata.deletionTimestamp, 'graceful: marked first')
  await run(r, 4000)
  assert.ok(podOf(r, 'gone'), 'still there while its container gets its grace period')
  await run(r, 1500)
  assert.not.ok(podOf(r, 'gone'), 'removed once its containers stopped')
  await run(r, 100)
  assert.is(r.host.containers.size, 0)
  assert.is(r.host.sandboxes.size, 0)
  assert.ok(pod.metadata.uid)
})

test('a restarted agent adopts running containers: no restart, no duplicate', async () => {
  const r = await rig()
  await createPod(r, 'kept', [{ name: 'a' }, { name: 'b' }])
  await run(r, 200)
  const ids = [...r.host.containers.keys()].sort()
  assert.is(ids.length, 2)
  await r.agent.stop()
  const again = await rig(r)
  await run(again, 3000)
  assert.equal([...again.host.containers.keys()].sort(), ids)
  assert.is(statusOf(again, 'kept').phase, 'Running')
  assert.ok(statusOf(again, 'kept').containerStatuses.every((c) => c.restartCount === 0))
})

test('containers of a pod that vanished from the store are removed (orphans)', async () => {
  const r = await rig()
  await createPod(r, 'orphan', [{ name: 'a' }])
  await run(r, 100)
  assert.is(r.host.containers.size, 1)
  await r.client.propose({
    op: 'remove',
    resource: 'pods',
    namespace: 'default',
    name: 'orphan',
    gracePeriodSeconds: 0,
    now: new Date(r.clock.now()).toISOString(),
  })
  await run(r, 3000)
  assert.is(r.host.containers.size, 0)
  assert.is(r.host.sandboxes.size, 0)
})

test('a pod bound to another node is not run here', async () => {
  const r = await rig()
  const res = await r.client.propose({
    op: 'create',
    resource: 'pods',
    namespace: 'default',
    uid: globalThis.crypto.randomUUID(),
    now: new Date(r.clock.now()).toISOString(),
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'elsewhere' },
      spec: { nodeName: 'node-b', containers: [{ name: 'a', image: 'x:1' }] },
    },
  })
  assert.ok(res.ok)
  await run(r, 2000)
  assert.is(r.host.containers.size, 0)
  assert.is(podOf(r, 'elsewhere')?.status?.phase, 'Pending')
})

test('two containers share an emptyDir and the pod IP; env has fieldRefs and $(VAR) expansion', async () => {
  const r = await rig()
  await createPod(
    r,
    'pair',
    [
      {
        name: 'a',
        program: { appendTo: { path: '/data/out', line: 'a' } },
        extra: { volumeMounts: [{ name: 'shared', mountPath: '/data' }] },
      },
      {
        name: 'b',
        program: { appendTo: { path: '/data/out', line: 'b' } },
        extra: { volumeMounts: [{ name: 'shared', mountPath: '/data' }] },
      },
    ],
    { volumes: [{ name: 'shared', emptyDir: {} }] },
  )
  await run(r, 200)
  const pod = podOf(r, 'pair')!
  const { readFileSync } = await import('node:fs')
  const out = readFileSync(join(r.dir, 'pods', pod.metadata.uid!, 'volumes', 'shared', 'out'), 'utf8')
  assert.equal(out.trim().split('\n').sort(), ['a', 'b'])
  assert.is(r.host.sandboxes.size, 1)
})

// ---------------------------------------------------------------- pod network and DNS

function podCidrOfNode(r: Rig): string | undefined {
  return (r.store.get('nodes', undefined, NODE)?.spec as { podCIDR?: string } | undefined)?.podCIDR
}

test("the node's podCIDR becomes the runtime's pod network; pod IPs come from it", async () => {
  // Another node holds the first subnet: this one gets the next.
  const clock = new ManualClock(Date.parse('2026-11-25T12:00:00Z'))
  const store = new ObjectStore()
  const client = new LocalStoreClient(store, () => clock.now())
  const other = await client.propose({
    op: 'create',
    resource: 'nodes',
    object: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-z' } },
    uid: 'uid-z',
    now: new Date(clock.now()).toISOString(),
  })
  assert.ok(other.ok)
  const r = await rig({ clock, store, client })
  assert.is(podCidrOfNode(r), '10.244.1.0/24')
  assert.is(r.host.podNetworks.get(NODE), '10.244.1.0/24')
  await createPod(r, 'a', [{ name: 'main' }])
  await createPod(r, 'b', [{ name: 'main' }])
  await run(r, 500)
  assert.is(statusOf(r, 'a').podIP, '10.244.1.2')
  assert.is(statusOf(r, 'b').podIP, '10.244.1.3')
})

test('no sandbox runs before the pod network exists; pods start once it does', async () => {
  const clock = new ManualClock(Date.parse('2026-11-25T12:00:00Z'))
  const store = new ObjectStore()
  const client = new LocalStoreClient(store, () => clock.now())
  const host = new FakeRuntimeHost(clock)
  const pre = { clock, store, client, host } as Rig
  // A pod bound here before the node is registered (its registration is refused once).
  await createPod(pre, 'early', [{ name: 'main' }])
  client.failNext = { count: 1, error: new Error('no leader') }
  const r = await rig({ clock, store, client, host })
  await run(r, 500)
  assert.is(store.get('nodes', undefined, NODE), undefined, 'not registered yet')
  assert.is((await r.runtime.listSandboxes()).length, 0, 'no sandbox without a pod network')
  assert.is(statusOf(r, 'early').phase, 'Pending')
  // The heartbeat registers the node; the store gives it a subnet; the pod runs in it.
  await run(r, 3000)
  assert.is(podCidrOfNode(r), '10.244.0.0/24')
  assert.is(statusOf(r, 'early').phase, 'Running')
  assert.is(statusOf(r, 'early').podIP, '10.244.0.2')

  // A runtime that fails to make the network: the pod's sync is retried until it does.
  const r2host = new FakeRuntimeHost(clock)
  r2host.failNextPodNetworks = 3
  const store2 = new ObjectStore()
  const r2 = await rig({
    clock,
    store: store2,
    client: new LocalStoreClient(store2, () => clock.now()),
    host: r2host,
  })
  await createPod(r2, 'late', [{ name: 'main' }])
  await run(r2, 200)
  assert.is((await r2.runtime.listSandboxes()).length, 0)
  await run(r2, 10_000)
  assert.is(statusOf(r2, 'late').phase, 'Running')
  assert.is(statusOf(r2, 'late').podIP, '10.244.0.2')
})

test('sandboxes get the cluster DNS settings of their policy', async () => {
  const r = await rig(undefined, { clusterDns: { server: '10.96.0.10', domain: 'cluster.local' } })
  await createPod(r, 'cf', [{ name: 'main' }])
  await createPod(r, 'host', [{ name: 'main' }], { dnsPolicy: 'Default' })
  await createPod(r, 'none', [{ name: 'main' }], {
    dnsPolicy: 'None',
    dnsConfig: { nameservers: ['1.1.1.1'], options: [{ name: 'ndots', value: '1' }] },
  })
  await run(r, 500)
  const dnsOf = (name: string) =>
    [...r.host.sandboxes.values()].find((s) => s.status.podName === name)?.config.dns ?? 'host'
  assert.equal(dnsOf('cf'), {
    servers: ['10.96.0.10'],
    searches: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
    options: ['ndots:5'],
  })
  assert.is(dnsOf('host'), 'host')
  assert.equal(dnsOf('none'), { servers: ['1.1.1.1'], searches: [], options: ['ndots:1'] })
})

test('without a cluster DNS option, sandboxes keep the host resolver', async () => {
  const r = await rig()
  await createPod(r, 'cf', [{ name: 'main' }])
  await run(r, 500)
  const sb = [...r.host.sandboxes.values()].find((s) => s.status.podName === 'cf')!
  assert.is(sb.config.dns, undefined)
})

test.run()

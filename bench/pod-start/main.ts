/**
 * The pod start benchmark: how long from a pod's create to its status saying Running, on a
 * 3-peer Shoal cluster with the Docker runtime, side by side in the same run with its anchor:
 * the Docker engine alone (dockerode creating and starting the same infra + app containers
 * directly, as fast as a client can).
 *
 * - one pod at a time (SHOAL_BENCH_PODS, default 10): create → Running, p50 and max; the engine:
 *   create+start infra, create+start app. Target: Shoal p50 ≤ engine p50 + 100 ms.
 * - a burst of 30 pods bound round-robin to the 3 peers, all created at once: time until all
 *   are Running; the engine: the same 30 pods, 3 at a time. Target: ≤ 1.2 × the engine.
 *
 * Shoal's times are seen by a watch on every pod (peer 1's API), so the clock stops when the
 * status is committed and visible, not when the container started.
 *
 *   make bench B=pod-start
 */

import '../../src/util/polyfill.js'
import https from 'node:https'
import Docker from 'dockerode'
import { DEFAULT_INFRA_IMAGE } from '../../src/agent/docker-runtime.js'
import { buildPauseImage } from '../../src/agent/pause-image.js'
import { closeHttpAgents } from '../support/http-client.js'
import { cleanup, tempDir } from '../support/processes.js'
import { ShoalCluster } from '../support/shoal-cluster.js'
import { machineInfo, percentile, projectRoot, round, sleep, table, writeFigures } from '../support/stats.js'

const COMMAND = 'make bench B=pod-start'
const SINGLE = Number(process.env.SHOAL_BENCH_PODS ?? 10)
const BURST = 30
const IMAGE = 'shoal-test/busybox:latest'
const BLOCK = 42
const BENCH_LABEL = 'io.shoal.bench'

const docker = new Docker()

// ---------------------------------------------------------------- the engine alone

async function enginePod(name: string): Promise<number> {
  const t0 = performance.now()
  const infra = await docker.createContainer({
    name: `bench_POD_${name}`,
    Image: DEFAULT_INFRA_IMAGE,
    Labels: { [BENCH_LABEL]: 'engine' },
    HostConfig: { NetworkMode: 'bridge', IpcMode: 'shareable' },
  })
  await infra.start()
  const app = await docker.createContainer({
    name: `bench_app_${name}`,
    Image: IMAGE,
    Cmd: ['sleep', '3600'],
    Labels: { [BENCH_LABEL]: 'engine' },
    HostConfig: { NetworkMode: `container:${infra.id}`, IpcMode: `container:${infra.id}` },
  })
  await app.start()
  return performance.now() - t0
}

async function removeEngineContainers(): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${BENCH_LABEL}=engine`] } })
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true })))
}

async function engineRun(): Promise<{ single: number[]; burstMs: number }> {
  await removeEngineContainers()
  const single: number[] = []
  await enginePod('warmup')
  await removeEngineContainers()
  for (let i = 0; i < SINGLE; i++) {
    single.push(await enginePod(`single-${i}`))
    await removeEngineContainers()
  }
  const t0 = performance.now()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < BURST) {
      const i = next++
      await enginePod(`burst-${i}`)
    }
  }
  await Promise.all([worker(), worker(), worker()])
  const burstMs = performance.now() - t0
  await removeEngineContainers()
  return { single, burstMs }
}

// ---------------------------------------------------------------- Shoal

/** Follows every pod's phase through one watch; `runningAt(name)` resolves when it is Running. */
class PodWatch {
  private readonly running = new Map<string, number>()
  private readonly waiters = new Map<string, (t: number) => void>()
  private req: ReturnType<typeof https.request> | null = null

  constructor(private readonly endpoint: { url: string; ca?: string; token?: string }) {}

  start(): void {
    const u = new URL(`${this.endpoint.url}/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=3600`)
    this.req = https.request(u, {
      method: 'GET',
      ca: this.endpoint.ca,
      headers: { authorization: `Bearer ${this.endpoint.token}` },
    })
    this.req.on('response', (res) => {
      let pending = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        const t = performance.now()
        pending += chunk
        let nl = pending.indexOf('\n')
        while (nl >= 0) {
          const line = pending.slice(0, nl)
          pending = pending.slice(nl + 1)
          nl = pending.indexOf('\n')
          if (!line.trim()) continue
          const ev = JSON.parse(line) as {
            object: { metadata: { name: string }; status?: { phase?: string } }
          }
          const name = ev.object.metadata.name
          if (ev.object.status?.phase === 'Running' && !this.running.has(name)) {
            this.running.set(name, t)
            this.waiters.get(name)?.(t)
          }
        }
      })
    })
    this.req.on('error', () => {})
    this.req.end()
  }

  runningAt(name: string, timeoutMs = 60_000): Promise<number> {
    const known = this.running.get(name)
    if (known !== undefined) return Promise.resolve(known)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`pod ${name} not Running after ${timeoutMs} ms`)),
        timeoutMs,
      )
      this.waiters.set(name, (t) => {
        clearTimeout(timer)
        resolve(t)
      })
    })
  }

  stop(): void {
    this.req?.destroy()
  }
}

function podManifest(name: string, node: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { bench: 'pod-start' } },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 0,
      containers: [
        { name: 'app', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] },
      ],
    },
  })
}

async function shoalNodeContainers(): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: ['io.shoal.node'] } })
  return list.filter((c) => /^peer-[123]$/.test(c.Labels['io.shoal.node'] ?? '')).length
}

async function deleteAllPods(cluster: ShoalCluster): Promise<void> {
  const list = await cluster.call(1, 'GET', '/api/v1/namespaces/default/pods', undefined, 10_000)
  const names = (JSON.parse(list.body) as { items: { metadata: { name: string } }[] }).items.map(
    (p) => p.metadata.name,
  )
  await Promise.all(
    names.map((n) =>
      cluster.call(
        1,
        'DELETE',
        `/api/v1/namespaces/default/pods/${n}?gracePeriodSeconds=0`,
        undefined,
        10_000,
      ),
    ),
  )
  const deadline = Date.now() + 60_000
  while ((await shoalNodeContainers()) > 0 && Date.now() < deadline) await sleep(100)
}

async function shoalRun(cluster: ShoalCluster): Promise<{ single: number[]; burstMs: number }> {
  const watch = new PodWatch(cluster.endpointOf(1))
  watch.start()
  await sleep(200)
  const create = async (name: string, peer: number): Promise<number> => {
    const t0 = performance.now()
    const r = await cluster.call(
      1,
      'POST',
      '/api/v1/namespaces/default/pods',
      podManifest(name, `peer-${peer}`),
      10_000,
    )
    if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${r.body.slice(0, 200)}`)
    return t0
  }
  // Warm-up: one pod on each peer (first use of the image, the pause image, the network).
  for (const p of [1, 2, 3]) {
    await create(`warm-${p}`, p)
    await watch.runningAt(`warm-${p}`)
  }
  await deleteAllPods(cluster)
  const single: number[] = []
  for (let i = 0; i < SINGLE; i++) {
    const name = `single-${i}`
    const t0 = await create(name, (i % 3) + 1)
    single.push((await watch.runningAt(name)) - t0)
    await deleteAllPods(cluster)
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: BURST }, (_, i) => create(`burst-${i}`, (i % 3) + 1)))
  const ends = await Promise.all(
    Array.from({ length: BURST }, (_, i) => watch.runningAt(`burst-${i}`, 120_000)),
  )
  const burstMs = Math.max(...ends) - t0
  watch.stop()
  await deleteAllPods(cluster)
  return { single, burstMs }
}

async function main(): Promise<void> {
  const root = projectRoot(import.meta.url)
  await docker.ping()
  if (
    !(await docker
      .getImage(DEFAULT_INFRA_IMAGE)
      .inspect()
      .catch(() => null))
  )
    await buildPauseImage(docker, DEFAULT_INFRA_IMAGE)

  console.log(
    `pod-start: the Docker engine alone (${SINGLE} pods one at a time, then ${BURST}, 3 at a time)…`,
  )
  const engine = await engineRun()

  console.log('pod-start: Shoal, 3 peers with the Docker runtime…')
  const dir = tempDir('shoal-bench-pod-start-')
  const cluster = new ShoalCluster({ projectRoot: root, root: dir, block: BLOCK, runtime: 'docker' })
  let shoal: { single: number[]; burstMs: number }
  try {
    await cluster.start()
    shoal = await shoalRun(cluster)
  } finally {
    await cleanup('SIGKILL')
    closeHttpAgents()
    const left = await docker.listContainers({ all: true, filters: { label: ['io.shoal.node'] } })
    await Promise.all(
      left
        .filter((c) => /^peer-[123]$/.test(c.Labels['io.shoal.node'] ?? ''))
        .map((c) => docker.getContainer(c.Id).remove({ force: true })),
    )
  }

  const p50 = (xs: number[]) => round(percentile(xs, 50), 0)
  const max = (xs: number[]) => round(Math.max(...xs), 0)
  const m = machineInfo()
  console.log(`\n${COMMAND} — ${new Date().toISOString()}, Node.js ${m.node}, ${m.cpu}, ${m.cores} cores`)
  console.log(
    table([
      ['', 'Docker engine alone', 'Shoal (3 peers)', 'target'],
      [
        `one pod at a time, p50 (${SINGLE} pods)`,
        `${p50(engine.single)} ms`,
        `${p50(shoal.single)} ms`,
        `≤ ${p50(engine.single) + 100} ms`,
      ],
      [`one pod at a time, max`, `${max(engine.single)} ms`, `${max(shoal.single)} ms`, ''],
      [
        `${BURST} pods: all Running`,
        `${round(engine.burstMs / 1000, 2)} s (3 at a time)`,
        `${round(shoal.burstMs / 1000, 2)} s (all at once, 10 per peer)`,
        `≤ ${round((engine.burstMs * 1.2) / 1000, 2)} s`,
      ],
    ]),
  )
  const path = await writeFigures(root, 'pod-start', { command: COMMAND, machine: m, engine, shoal })
  console.log(`figures: ${path}`)
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    console.error(err)
    await cleanup('SIGKILL')
    process.exit(1)
  },
)

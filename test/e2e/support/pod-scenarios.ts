/**
 * The node agent's end-to-end scenarios, run on a 3-peer cluster once with the Docker runtime
 * and once with the process runtime (test/e2e/agent-*.test.ts). Pods are bound with
 * spec.nodeName (scheduling is another part); scripts are POSIX sh that busybox (in the test
 * image) and the host's dash both run.
 */

import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'uvu'
import * as assert from 'uvu/assert'
import type { PodStatusView } from '../../../src/agent/pod-spec.js'
import type { KubeObject } from '../../../src/store/types.js'
import { TEST_IMAGE } from '../../support/docker.js'
import type { AgentCluster } from './agents.js'
import type { Kubectl } from './kubectl.js'

const shoalBin = fileURLToPath(new URL('../../../../bin/shoal.js', import.meta.url))

interface PodView extends KubeObject {
  status?: PodStatusView & Record<string, unknown>
}

export function podScenarios(test: Test, c: AgentCluster, k: Kubectl, runtime: 'docker' | 'process'): void {
  const node = (i: number) => c.spec(i).name

  function podManifest(
    name: string,
    nodeIndex: number,
    containers: Record<string, unknown>[],
    spec: Record<string, unknown> = {},
  ): KubeObject {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { test: 'agent' } },
      spec: {
        nodeName: node(nodeIndex),
        containers: containers.map((ctr) => ({ image: TEST_IMAGE, imagePullPolicy: 'IfNotPresent', ...ctr })),
        ...spec,
      },
    }
  }

  async function create(pod: KubeObject, via = 1): Promise<PodView> {
    const r = await c.request(via, 'POST', '/api/v1/namespaces/default/pods', JSON.stringify(pod))
    assert.ok(r && r.status === 201, `create ${pod.metadata.name}: ${r?.status} ${r?.body}`)
    return JSON.parse(r.body) as PodView
  }

  async function get(name: string, via = 1): Promise<PodView | null> {
    const r = await c.request(via, 'GET', `/api/v1/namespaces/default/pods/${name}`)
    if (!r || r.status === 404) return null
    assert.is(r.status, 200, r.body)
    return JSON.parse(r.body) as PodView
  }

  async function waitPod(
    name: string,
    what: string,
    check: (pod: PodView | null) => boolean,
    timeoutMs = 30_000,
  ): Promise<PodView | null> {
    const deadline = Date.now() + timeoutMs
    let last: PodView | null = null
    for (;;) {
      last = await get(name)
      if (check(last)) return last
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for pod ${name}: ${what}\nlast: ${JSON.stringify(last?.status)}\n${c.logTails()}`,
        )
      await new Promise((r) => setTimeout(r, 250))
    }
  }

  async function remove(name: string, gracePeriodSeconds?: number): Promise<void> {
    const q = gracePeriodSeconds === undefined ? '' : `?gracePeriodSeconds=${gracePeriodSeconds}`
    await c.request(1, 'DELETE', `/api/v1/namespaces/default/pods/${name}${q}`)
  }

  const cs = (pod: PodView | null, i = 0) => pod?.status?.containerStatuses?.[i]
  const ready = (pod: PodView | null) => pod?.status?.conditions?.find((x) => x.type === 'Ready')?.status

  /** This node's runtime objects for a pod, straight from the runtime (agent up or not). */
  async function runtimeContainers(i: number, podUid: string) {
    const rt = await c.runtimeOf(i)
    try {
      return (await rt.listContainers()).filter((x) => x.podUid === podUid)
    } finally {
      await rt.close()
    }
  }

  test(`[${runtime}] a pod runs and exits with the right phase`, async () => {
    await create(
      podManifest('done-ok', 2, [{ name: 'main', command: ['sh', '-c', 'echo all good; exit 0'] }], {
        restartPolicy: 'Never',
      }),
    )
    await create(
      podManifest('done-bad', 3, [{ name: 'main', command: ['sh', '-c', 'echo broken; exit 3'] }], {
        restartPolicy: 'Never',
      }),
    )
    const ok = await waitPod('done-ok', 'Succeeded', (p) => p?.status?.phase === 'Succeeded')
    assert.is(cs(ok)?.state.terminated?.exitCode, 0)
    assert.is(cs(ok)?.state.terminated?.reason, 'Completed')
    assert.ok(ok?.status?.podIP, 'a pod IP was reported')
    assert.is(ok?.status?.hostIP, c.spec(2).ip)
    const bad = await waitPod('done-bad', 'Failed', (p) => p?.status?.phase === 'Failed')
    assert.is(cs(bad)?.state.terminated?.exitCode, 3)
    assert.is(cs(bad)?.state.terminated?.reason, 'Error')
    assert.is(cs(bad)?.restartCount, 0)
    const logs = await k.ok(1, ['logs', 'done-bad'])
    assert.is(logs, 'broken\n')
  })

  test(`[${runtime}] a crashing container restarts and shows CrashLoopBackOff; --previous has its output`, async () => {
    await create(podManifest('crasher', 2, [{ name: 'main', command: ['sh', '-c', 'echo crash; exit 1'] }]))
    const p = await waitPod(
      'crasher',
      'CrashLoopBackOff',
      (x) => (cs(x)?.restartCount ?? 0) >= 1 && cs(x)?.state.waiting?.reason === 'CrashLoopBackOff',
    )
    assert.is(p?.status?.phase, 'Running')
    assert.is(cs(p)?.lastState.terminated?.exitCode, 1)
    const previous = await k.ok(3, ['logs', 'crasher', '--previous'])
    assert.is(previous, 'crash\n')
    const table = await k.ok(1, ['get', 'pod', 'crasher'])
    assert.match(table, /CrashLoopBackOff/)
    await remove('crasher', 0)
  })

  test(`[${runtime}] a failing liveness probe restarts the container`, async () => {
    await create(
      podManifest('unhealthy', 3, [
        {
          name: 'main',
          command: ['sh', '-c', 'touch healthy; sleep 2; rm healthy; while true; do sleep 1; done'],
          livenessProbe: { exec: { command: ['cat', 'healthy'] }, periodSeconds: 1, failureThreshold: 1 },
        },
      ]),
    )
    const p = await waitPod('unhealthy', 'a liveness restart', (x) => (cs(x)?.restartCount ?? 0) >= 1, 40_000)
    assert.ok(cs(p)?.lastState.terminated, 'the killed container is the last state')
    const events = await k.ok(1, ['get', 'events', '--field-selector', 'involvedObject.name=unhealthy'])
    assert.match(events, /Unhealthy/)
    await remove('unhealthy', 0)
  })

  test(`[${runtime}] a readiness probe flips the Ready condition both ways`, async () => {
    await create(
      podManifest('flipper', 1, [
        {
          name: 'main',
          command: ['sh', '-c', 'sleep 2; touch ready; sleep 4; rm ready; while true; do sleep 1; done'],
          readinessProbe: { exec: { command: ['cat', 'ready'] }, periodSeconds: 1, failureThreshold: 1 },
        },
      ]),
    )
    await waitPod(
      'flipper',
      'running, not ready',
      (x) => x?.status?.phase === 'Running' && ready(x) === 'False',
    )
    await waitPod('flipper', 'Ready', (x) => ready(x) === 'True' && cs(x)?.ready === true)
    await waitPod('flipper', 'not Ready again', (x) => ready(x) === 'False')
    await remove('flipper', 0)
  })

  test(`[${runtime}] two containers share an emptyDir and one IP`, async () => {
    const podIP = { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }
    await create(
      podManifest(
        'pair',
        2,
        [
          {
            name: 'server',
            env: [podIP],
            volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
            command: [
              'sh',
              '-c',
              'echo from-server > /shared/note; exec busybox httpd -f -p $(POD_IP):8080 -h /shared',
            ],
          },
          {
            name: 'client',
            env: [podIP],
            volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
            command: [
              'sh',
              '-c',
              'until wget -q -O - http://$POD_IP:8080/note; do sleep 0.2; done; cat /shared/note; while true; do sleep 1; done',
            ],
          },
        ],
        { volumes: [{ name: 'shared', emptyDir: {} }] },
      ),
    )
    const p = await waitPod(
      'pair',
      'both running',
      (x) => x?.status?.phase === 'Running' && ready(x) === 'True',
    )
    assert.ok(p?.status?.podIP)
    const deadline = Date.now() + 20_000
    let logs = ''
    while (Date.now() < deadline) {
      logs = (await k.run(1, ['logs', 'pair', '-c', 'client'])).stdout
      if (logs === 'from-server\nfrom-server\n') break
      await new Promise((r) => setTimeout(r, 250))
    }
    // Once over the pod IP from the other container's server, once from the shared directory.
    assert.is(logs, 'from-server\nfrom-server\n')
    await remove('pair', 0)
  })

  test(`[${runtime}] logs, logs -f and shoal logs answer from any peer`, async () => {
    await create(
      podManifest('ticker', 3, [
        {
          name: 'main',
          command: ['sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.5; done'],
        },
      ]),
    )
    await waitPod('ticker', 'Running', (x) => x?.status?.phase === 'Running')
    const follow = k.start(1, ['logs', '-f', 'ticker'])
    await follow.waitFor('tick 4 followed', (out) => /tick 4\n/.test(out), 20_000)
    await follow.kill()
    const tail = await k.ok(2, ['logs', 'ticker', '--tail', '2', '--timestamps'])
    const lines = tail.trim().split('\n')
    assert.is(lines.length, 2)
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z tick \d+$/)
    const viaShoal = spawnSync(
      process.execPath,
      [shoalBin, 'logs', 'ticker', '--tail', '1', '--data-dir', c.spec(1).dataDir],
      { encoding: 'utf8', timeout: 20_000 },
    )
    assert.is(viaShoal.status, 0, viaShoal.stderr)
    assert.match(viaShoal.stdout, /^tick \d+\n$/, JSON.stringify(viaShoal.stdout))
    const bad = await k.run(1, ['logs', 'ticker', '-c', 'nope'])
    assert.is.not(bad.code, 0)
    assert.match(bad.stderr, /container nope is not valid/)
    await remove('ticker', 0)
  })

  test(`[${runtime}] an agent killed with SIGKILL and started again adopts its pods`, async () => {
    const pod = await create(
      podManifest('survivor', 2, [{ name: 'main', command: ['sh', '-c', 'while true; do sleep 1; done'] }]),
    )
    const before = await waitPod('survivor', 'Running', (x) => x?.status?.phase === 'Running')
    const id = cs(before)?.containerID
    assert.ok(id)
    await c.stop(2, 'SIGKILL')
    const still = await runtimeContainers(2, pod.metadata.uid!)
    assert.ok(
      still.some((x) => x.state === 'running'),
      'the container runs on while its agent is down',
    )
    c.start(2)
    // Give the agent time to sync (and so to get it wrong, if it would).
    await new Promise((r) => setTimeout(r, 6000))
    const after = await waitPod('survivor', 'Running after restart', (x) => x?.status?.phase === 'Running')
    assert.is(cs(after)?.containerID, id, 'the same container')
    assert.is(cs(after)?.restartCount, 0)
    const all = await runtimeContainers(2, pod.metadata.uid!)
    assert.is(all.length, 1, 'no duplicate')
    await remove('survivor', 0)
  })

  if (runtime === 'docker') {
    test('[docker] a missing image shows ErrImagePull / ImagePullBackOff and the pod does not run', async () => {
      const pod = await create(
        podManifest('nopull', 1, [{ name: 'main', image: 'shoal-test/no-such-image:1' }]),
      )
      const p = await waitPod('nopull', 'ErrImagePull', (x) =>
        ['ErrImagePull', 'ImagePullBackOff'].includes(cs(x)?.state.waiting?.reason ?? ''),
      )
      assert.is(p?.status?.phase, 'Pending')
      assert.is((await runtimeContainers(1, pod.metadata.uid!)).length, 0)
      const table = await k.ok(2, ['get', 'pod', 'nopull'])
      assert.match(table, /ErrImagePull|ImagePullBackOff/)
      await remove('nopull', 0)
    })
  }

  test(`[${runtime}] deleting a pod stops its containers within the grace period`, async () => {
    const pod = await create(
      podManifest(
        'stubborn',
        3,
        [{ name: 'main', command: ['sh', '-c', 'trap "" TERM; while true; do sleep 1; done'] }],
        { terminationGracePeriodSeconds: 3 },
      ),
    )
    await waitPod('stubborn', 'Running', (x) => x?.status?.phase === 'Running')
    const t0 = Date.now()
    await remove('stubborn')
    const marked = await get('stubborn')
    assert.ok(marked?.metadata.deletionTimestamp, 'marked for deletion first')
    await waitPod('stubborn', 'gone', (x) => x === null, 20_000)
    const tookMs = Date.now() - t0
    assert.ok(tookMs >= 2500, `waited out the grace period (${tookMs} ms)`)
    assert.ok(tookMs < 12_000, `not much longer than the grace period (${tookMs} ms)`)
    const deadline = Date.now() + 10_000
    let left = await runtimeContainers(3, pod.metadata.uid!)
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250))
      left = await runtimeContainers(3, pod.metadata.uid!)
    }
    assert.is(left.length, 0, 'its containers are removed')
  })
}

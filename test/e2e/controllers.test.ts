import '../../src/util/polyfill.js'
/**
 * End-to-end: the leader's controllers on 3 real peers with Docker — an RC of 6 spreads 2/2/2;
 * a peer killed with SIGKILL has its pods replaced on the other two; the leader killed while
 * scaling 3 → 30 ends with exactly 30; a rolling update replaces every pod and keeps the count;
 * endpoints follow readiness; an RC deleted takes its pods with it.
 */

import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { KubeObject } from '../../src/store/types.js'
import { dockerTestOrSkip, TEST_IMAGE } from '../support/docker.js'
import { AgentCluster } from './support/agents.js'
import { Kubectl } from './support/kubectl.js'

const shoalBin = fileURLToPath(new URL('../../../bin/shoal.js', import.meta.url))
const test = suite('e2e controllers on 3 peers with Docker')
const c = new AgentCluster(39, 3, 'docker')
const k = new Kubectl(c)
const dockerTest = await dockerTestOrSkip(test)
const PEERS = [1, 2, 3]

interface PodView extends KubeObject {
  spec: { nodeName?: string }
  status?: { phase?: string; conditions?: { type: string; status: string }[] }
}

function rc(
  name: string,
  replicas: number,
  labels: Record<string, string>,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name },
    spec: {
      replicas,
      selector: labels,
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'main',
              image: TEST_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
              ...extra,
            },
          ],
        },
      },
    },
  })
}

/** A live peer to talk to (the lowest-numbered one running). */
function live(): number {
  return PEERS.find((i) => c.running(i)) ?? 1
}

async function pods(selector: string): Promise<PodView[]> {
  const r = await c.request(
    live(),
    'GET',
    `/api/v1/namespaces/default/pods?labelSelector=${encodeURIComponent(selector)}`,
  )
  assert.ok(r && r.status === 200, r?.body)
  return (JSON.parse(r.body) as { items: PodView[] }).items
}

const running = (list: PodView[]) =>
  list.filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp)

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what} (${String(last ?? '')})\n${c.logTails()}`)
    await new Promise((r) => setTimeout(r, 300))
  }
}

async function post(path: string, body: string): Promise<void> {
  const r = await c.request(live(), 'POST', path, body)
  assert.ok(r && r.status === 201, `${path}: ${r?.status} ${r?.body}`)
}

function byNode(list: PodView[]): number[] {
  const counts = new Map<string, number>()
  for (const p of list) counts.set(p.spec.nodeName ?? '', (counts.get(p.spec.nodeName ?? '') ?? 0) + 1)
  return [...counts.values()].sort()
}

if (typeof (dockerTest as typeof test).before === 'function') {
  test.before(async () => {
    for (const i of PEERS)
      c.start(i, { extraArgs: ['--node-monitor-grace-period', '4', '--pod-eviction-timeout', '1'] })
    await c.leader(PEERS, 30_000)
    await waitFor('3 Ready nodes', async () => {
      const r = await c.request(1, 'GET', '/api/v1/nodes')
      const nodes = (JSON.parse(r?.body ?? '{"items":[]}') as { items: KubeObject[] }).items
      return nodes.length === 3 ? true : undefined
    })
  })
  test.after(async () => {
    await k.killAll()
    await c.destroy()
  })

  test('an RC of 6 replicas runs 6 pods spread 2/2/2', async () => {
    await post('/api/v1/namespaces/default/replicationcontrollers', rc('spread', 6, { app: 'spread' }))
    const list = await waitFor('6 running', async () => {
      const r = running(await pods('app=spread'))
      return r.length === 6 ? r : undefined
    })
    assert.equal(byNode(list), [2, 2, 2])
    const status = JSON.parse(
      (await c.request(1, 'GET', '/api/v1/namespaces/default/replicationcontrollers/spread'))!.body,
    ).status as { replicas: number; readyReplicas: number }
    assert.is(status.replicas, 6)
    const events = await k.ok(1, ['get', 'events'])
    assert.match(events, /Scheduled/)
    assert.match(events, /SuccessfulCreate/)
  })

  test('a peer killed with SIGKILL: its pods run again on the other two', async () => {
    const leader = await c.leader(PEERS)
    const victim = PEERS.find((i) => i !== leader)!
    const t0 = Date.now()
    await c.stop(victim, 'SIGKILL')
    const list = await waitFor(
      '6 running on the survivors',
      async () => {
        const r = running(await pods('app=spread')).filter((p) => p.spec.nodeName !== c.spec(victim).name)
        return r.length === 6 ? r : undefined
      },
      60_000,
    )
    const tookMs = Date.now() - t0
    assert.equal(byNode(list), [3, 3])
    console.log(`  (pods of a dead peer running elsewhere after ${tookMs} ms)`)
    const nodes = await k.ok(live(), ['get', 'nodes'])
    assert.match(nodes, new RegExp(`${c.spec(victim).name}\\s+NotReady`))
    c.start(victim, { extraArgs: ['--node-monitor-grace-period', '4', '--pod-eviction-timeout', '1'] })
    await waitFor('the peer back and Ready', async () => {
      const out = await k.run(1, ['get', 'nodes'])
      return new RegExp(`${c.spec(victim).name}\\s+Ready`).test(out.stdout) ? true : undefined
    })
    // Its old containers are gone: the pods they ran were deleted while it was away.
    await waitFor('still exactly 6', async () =>
      running(await pods('app=spread')).length === 6 ? true : undefined,
    )
    await k.ok(1, ['delete', 'rc', 'spread'])
  })

  test('the leader killed while scaling 3 → 30 ends with exactly 30', async () => {
    await post(
      '/api/v1/namespaces/default/replicationcontrollers',
      rc('big', 3, { app: 'big', version: 'v1' }),
    )
    await waitFor('3 running', async () => (running(await pods('app=big')).length === 3 ? true : undefined))
    const leader = await c.leader(PEERS)
    const other = PEERS.find((i) => i !== leader)!
    await k.ok(other, ['scale', 'rc', 'big', '--replicas=30'])
    await new Promise((r) => setTimeout(r, 300))
    await c.stop(leader, 'SIGKILL')
    c.start(leader, { extraArgs: ['--node-monitor-grace-period', '4', '--pod-eviction-timeout', '1'] })
    await waitFor(
      '30 pods',
      async () => {
        const all = (await pods('app=big')).filter((p) => !p.metadata.deletionTimestamp)
        return all.length === 30 && running(all).length === 30 ? true : undefined
      },
      120_000,
    )
    // And it stays 30: no late create from the old leader lands.
    await new Promise((r) => setTimeout(r, 3000))
    assert.is((await pods('app=big')).filter((p) => !p.metadata.deletionTimestamp).length, 30)
    await k.ok(live(), ['scale', 'rc', 'big', '--replicas=3'])
    await waitFor('back to 3', async () => ((await pods('app=big')).length === 3 ? true : undefined), 60_000)
  })

  test('a rolling update replaces every pod and keeps the count', async () => {
    const before = (await pods('app=big')).map((p) => p.metadata.name)
    const file = join(c.dir, 'big-v2.json')
    writeFileSync(file, rc('big-v2', 3, { app: 'big', version: 'v2' }))
    const out = spawnSync(
      process.execPath,
      [
        shoalBin,
        'rolling-update',
        'big',
        '-f',
        file,
        '--update-period',
        '1s',
        '--data-dir',
        c.spec(live()).dataDir,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    )
    assert.is(out.status, 0, `${out.stdout}\n${out.stderr}`)
    assert.match(out.stdout, /rolling updated to "?big-v2/)
    const after = running(await pods('app=big'))
    assert.is(after.length, 3)
    assert.ok(after.every((p) => p.metadata.labels?.version === 'v2'))
    assert.ok(after.every((p) => !before.includes(p.metadata.name!)))
    const old = await c.request(live(), 'GET', '/api/v1/namespaces/default/replicationcontrollers/big')
    assert.is(old?.status, 404)
  })

  test('endpoints follow readiness', async () => {
    await post(
      '/api/v1/namespaces/default/services',
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'flip' },
        spec: { selector: { app: 'flip' }, ports: [{ port: 80, targetPort: 8080 }] },
      }),
    )
    await post(
      '/api/v1/namespaces/default/replicationcontrollers',
      rc(
        'flip',
        2,
        { app: 'flip' },
        {
          command: ['sh', '-c', 'sleep 3; touch ready; sleep 6; rm ready; while true; do sleep 1; done'],
          readinessProbe: { exec: { command: ['cat', 'ready'] }, periodSeconds: 1, failureThreshold: 1 },
        },
      ),
    )
    const endpoints = async () => {
      const r = await c.request(live(), 'GET', '/api/v1/namespaces/default/endpoints/flip')
      if (r?.status !== 200) return { ready: 0, notReady: 0 }
      const subsets =
        (JSON.parse(r.body) as { subsets?: { addresses?: unknown[]; notReadyAddresses?: unknown[] }[] })
          .subsets ?? []
      return {
        ready: subsets.reduce((n, s) => n + (s.addresses?.length ?? 0), 0),
        notReady: subsets.reduce((n, s) => n + (s.notReadyAddresses?.length ?? 0), 0),
      }
    }
    await waitFor('2 not ready', async () => ((await endpoints()).notReady === 2 ? true : undefined))
    await waitFor('2 ready', async () => ((await endpoints()).ready === 2 ? true : undefined))
    await waitFor('2 not ready again', async () => ((await endpoints()).notReady === 2 ? true : undefined))
  })

  test('an RC deleted deletes its pods', async () => {
    await k.ok(1, ['delete', 'rc', 'flip'])
    await waitFor(
      'no flip pods',
      async () => ((await pods('app=flip')).length === 0 ? true : undefined),
      60_000,
    )
    await k.ok(1, ['delete', 'rc', 'big-v2'])
    await waitFor(
      'no big pods',
      async () => ((await pods('app=big')).length === 0 ? true : undefined),
      60_000,
    )
  })
} else {
  dockerTest('controllers with Docker', () => {})
}

test.run()

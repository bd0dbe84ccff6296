/**
 * The services end-to-end scenarios, run on 3 real peers once with Docker and once with the
 * process runtime (test/e2e/services-*.test.ts): a Service over 3 httpd pods, one per peer,
 * each answering its own name — 300 requests to clusterIP:port from the host (and, with
 * Docker, from inside a pod) reach every pod about a third of the time; a pod deleted under
 * load costs no request once its endpoint is gone; the service's name resolves (inside a pod
 * with Docker: A, SRV, NXDOMAIN and the search path; from the host with the process runtime,
 * whose pods use the host's resolver); the NodePort answers on every peer; the API's proxy
 * subresource reaches the service and a pod from every peer; and when the peer serving the
 * cluster IP dies, another peer of the host takes the address over.
 */

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import type { Test } from 'uvu'
import * as assert from 'uvu/assert'
import { clusterTag } from '../../../src/proxy/kernel-rules.js'
import { clusterDnsAddress, parseCidr } from '../../../src/store/service-allocation.js'
import type { KubeObject } from '../../../src/store/types.js'
import { TEST_IMAGE } from '../../support/docker.js'
import type { AgentCluster } from './agents.js'

const PEERS = [1, 2, 3]
/** How long the proxies may take to follow an Endpoints change (a loaded CI machine included). */
const PROXY_CATCH_UP_MS = 1_000

export function serviceScenarios(
  test: Test,
  c: AgentCluster,
  runtime: 'docker' | 'process',
  /** The peers' --proxy-mode: auto (the kernel data path as root) or userspace. */
  proxyMode: 'auto' | 'userspace' = 'auto',
): void {
  const docker = runtime === 'docker'
  const kernelPath = proxyMode === 'auto' && process.getuid?.() === 0
  /** The cluster DNS: the 10th address of the cluster's service range. */
  const dnsAddress = clusterDnsAddress(parseCidr(c.serviceCidr))
  interface ServiceView extends KubeObject {
    spec: { clusterIP: string; ports: { name: string; port: number; nodePort: number }[] }
  }

  function live(): number {
    return PEERS.find((i) => c.running(i)) ?? 1
  }

  /** Waits until `fn` answers something (errors count as not yet). */
  const waitFor = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> =>
    c.until(what, () => fn().catch(() => undefined), timeoutMs)

  async function create(path: string, object: unknown): Promise<KubeObject> {
    const r = await c.request(live(), 'POST', path, JSON.stringify(object))
    assert.ok(r && r.status === 201, `${path}: ${r?.status} ${r?.body}`)
    return JSON.parse(r.body) as KubeObject
  }

  /**
   * An httpd pod on peer `node` answering its own name (the pod's hostname). With the process
   * runtime it is the host's busybox, on the pod's loopback address (POD_IP).
   */
  function echoPod(name: string, node: number): KubeObject {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { app: 'echo' } },
      spec: {
        nodeName: c.spec(node).name,
        terminationGracePeriodSeconds: 2,
        containers: [
          {
            name: 'httpd',
            image: TEST_IMAGE,
            imagePullPolicy: 'IfNotPresent',
            command: docker
              ? ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
              : [
                  'sh',
                  '-c',
                  'd=$(mktemp -d) && echo "$HOSTNAME" > "$d/index.html" && exec busybox httpd -f -p "$POD_IP:8080" -h "$d"',
                ],
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
          },
        ],
      },
    }
  }

  /** GET http://host:port/ from this (host) process: the body, or the error's code. */
  function hostGet(host: string, port: number): Promise<{ ok: boolean; body: string }> {
    return new Promise((resolve) => {
      const req = httpRequest({ host, port, path: '/', agent: false, timeout: 3000 }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          body += d
        })
        res.on('end', () => resolve({ ok: res.statusCode === 200, body: body.trim() }))
        res.on('error', (err) => resolve({ ok: false, body: String(err) }))
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, body: err.code ?? err.message }))
      req.end()
    })
  }

  function count(names: string[]): Record<string, number> {
    const out: Record<string, number> = {}
    for (const n of names) out[n] = (out[n] ?? 0) + 1
    return out
  }

  /** The id of pod `name`'s running app container (Docker labels set by the runtime). */
  function containerOf(name: string): string {
    const r = spawnSync(
      'docker',
      [
        'ps',
        '-q',
        '--filter',
        `label=io.shoal.pod.name=${name}`,
        '--filter',
        'label=io.shoal.role=container',
      ],
      {
        encoding: 'utf8',
      },
    )
    const id = r.stdout.trim().split('\n')[0] ?? ''
    assert.ok(id, `no running container for pod ${name}: ${r.stderr}`)
    return id
  }

  function podExec(name: string, script: string): string {
    const r = spawnSync('docker', ['exec', containerOf(name), 'sh', '-c', script], {
      encoding: 'utf8',
      timeout: 120_000,
    })
    return `${r.stdout}${r.stderr}`
  }

  async function readyAddresses(): Promise<string[]> {
    const r = await c.request(live(), 'GET', '/api/v1/namespaces/default/endpoints/echo')
    if (r?.status !== 200) return []
    const ep = JSON.parse(r.body) as { subsets?: { addresses?: { ip: string }[] }[] }
    return (ep.subsets ?? []).flatMap((s) => (s.addresses ?? []).map((a) => a.ip)).sort()
  }

  /** Which peer's log says it serves the echo service on its cluster IP. */
  function servingPeer(clusterIP: string): number | undefined {
    for (const i of PEERS) {
      if (!c.running(i)) continue
      const log = readFileSync(join(c.spec(i).dataDir, 'agent.log'), 'utf8')
      if (log.split('\n').some((l) => l.includes('"msg":"serving"') && l.includes(`${clusterIP}:80`)))
        return i
    }
    return undefined
  }

  let svc: ServiceView

  test.before(async () => {
    await setUp().catch((err: unknown) => {
      // uvu reports a failed hook without its error: say it here.
      console.error('set-up failed:', err)
      throw err
    })
  })
  async function setUp(): Promise<void> {
    for (const i of PEERS) c.start(i, { extraArgs: ['--proxy-mode', proxyMode] })
    await c.leader(PEERS, 30_000)
    await waitFor('3 nodes', async () => {
      const r = await c.request(1, 'GET', '/api/v1/nodes')
      const nodes = (JSON.parse(r?.body ?? '{"items":[]}') as { items: KubeObject[] }).items
      return nodes.length === 3 ? true : undefined
    })
    for (const i of PEERS) await create('/api/v1/namespaces/default/pods', echoPod(`echo-${i}`, i))
    if (docker)
      await create('/api/v1/namespaces/default/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'client' },
        spec: {
          nodeName: c.spec(2).name,
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'main',
              image: TEST_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
            },
          ],
        },
      })
    svc = (await create('/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'echo' },
      spec: {
        type: 'NodePort',
        selector: { app: 'echo' },
        ports: [{ name: 'http', port: 80, targetPort: 'http' }],
      },
    })) as ServiceView
    await waitFor(
      '3 ready endpoints',
      async () => ((await readyAddresses()).length === 3 ? true : undefined),
      90_000,
    )
    await waitFor('the cluster IP answers', async () =>
      (await hostGet(svc.spec.clusterIP, 80)).ok ? true : undefined,
    )
  }
  test.after(async () => await c.destroy())

  if (docker)
    test('pods get addresses from their node’s own pod subnet', async () => {
      const r = await c.request(live(), 'GET', '/api/v1/nodes')
      const nodes = (
        JSON.parse(r!.body) as { items: { metadata: { name: string }; spec: { podCIDR?: string } }[] }
      ).items
      const cidrs = nodes.map((n) => n.spec.podCIDR)
      assert.is(new Set(cidrs).size, 3, `distinct pod subnets: ${cidrs}`)
      for (const i of PEERS) {
        const pr = await c.request(live(), 'GET', `/api/v1/namespaces/default/pods/echo-${i}`)
        const pod = JSON.parse(pr!.body) as { status: { podIP: string } }
        const cidr = nodes.find((n) => n.metadata.name === c.spec(i).name)!.spec.podCIDR!
        const prefix = cidr.split('.').slice(0, 3).join('.')
        assert.ok(pod.status.podIP.startsWith(`${prefix}.`), `echo-${i} ${pod.status.podIP} not in ${cidr}`)
      }
    })

  test('300 requests to the cluster IP from the host reach every pod about a third of the time', async () => {
    const names: string[] = []
    for (let i = 0; i < 300; i++) {
      const r = await hostGet(svc.spec.clusterIP, 80)
      assert.ok(r.ok, `request ${i}: ${r.body}`)
      names.push(r.body)
    }
    const counts = count(names)
    assert.equal(Object.keys(counts).sort(), ['echo-1', 'echo-2', 'echo-3'], JSON.stringify(counts))
    for (const n of Object.values(counts)) assert.ok(n >= 70 && n <= 130, JSON.stringify(counts))
  })

  if (kernelPath)
    test('as root, the kernel forwards the cluster IP’s connections (iptables rules of this cluster)', () => {
      const listing = spawnSync(
        'iptables',
        ['-w', '-t', 'nat', '-S', `SHOAL-SVC-${clusterTag(c.serviceCidr)}`],
        {
          encoding: 'utf8',
        },
      )
      assert.is(listing.status, 0, listing.stderr)
      assert.ok(
        listing.stdout.includes(`-d ${svc.spec.clusterIP}/32 -p tcp -m tcp --dport 80 `),
        listing.stdout,
      )
    })

  if (!docker)
    test('pods get loopback addresses, unique across the peers of this host', async () => {
      const ips: string[] = []
      for (const i of PEERS) {
        const pr = await c.request(live(), 'GET', `/api/v1/namespaces/default/pods/echo-${i}`)
        ips.push((JSON.parse(pr!.body) as { status: { podIP: string } }).status.podIP)
      }
      assert.is(new Set(ips).size, 3, ips.join(' '))
      for (const ip of ips) assert.ok(ip.startsWith('127.'), ip)
    })

  if (docker)
    test('300 requests from inside a pod reach every pod about a third of the time', async () => {
      const out = podExec(
        'client',
        `i=0; while [ $i -lt 300 ]; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${svc.spec.clusterIP} 80 | tail -n 1; i=$((i+1)); done`,
      )
      const counts = count(
        out
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => l.trim()),
      )
      assert.equal(Object.keys(counts).sort(), ['echo-1', 'echo-2', 'echo-3'], JSON.stringify(counts))
      for (const n of Object.values(counts)) assert.ok(n >= 70 && n <= 130, JSON.stringify(counts))
    })

  if (!docker)
    test('the cluster DNS answers on this host: A, SRV for the named port, NXDOMAIN for an unknown name', async () => {
      // Process-runtime pods use the host's resolver; the cluster DNS is asked directly.
      const ask = (...args: string[]) => {
        const r = spawnSync('busybox', ['nslookup', ...args, dnsAddress], {
          encoding: 'utf8',
          timeout: 10_000,
        })
        return `${r.stdout}${r.stderr}`
      }
      const a = ask('echo.default.svc.cluster.local')
      assert.ok(a.includes(svc.spec.clusterIP), a)
      const srv = ask('-type=srv', '_http._tcp.echo.default.svc.cluster.local')
      assert.ok(srv.includes('echo.default.svc.cluster.local') && srv.includes(' 80 '), srv)
      assert.ok(/NXDOMAIN/.test(ask('nothere.default.svc.cluster.local')))
    })

  if (docker)
    test('the service name resolves inside a pod: A, SRV for the named port, NXDOMAIN for an unknown name', async () => {
      const a = podExec('client', 'nslookup echo.default.svc.cluster.local')
      assert.ok(a.includes(svc.spec.clusterIP), a)
      // The search path: the bare name resolves from the pod's namespace.
      const short = podExec('client', 'nslookup echo')
      assert.ok(short.includes(svc.spec.clusterIP), short)
      const srv = podExec('client', 'nslookup -type=srv _http._tcp.echo.default.svc.cluster.local')
      assert.ok(srv.includes('echo.default.svc.cluster.local') && srv.includes(' 80 '), srv)
      const missing = podExec('client', 'nslookup nothere.default.svc.cluster.local; true')
      assert.ok(/NXDOMAIN/.test(missing), missing)
    })

  test('the NodePort answers on every peer', async () => {
    const nodePort = svc.spec.ports[0]!.nodePort
    assert.ok(nodePort >= 30000 && nodePort <= 32767)
    for (const i of PEERS) {
      const r = await hostGet(c.spec(i).ip, nodePort)
      assert.ok(r.ok && /^echo-[123]$/.test(r.body), `peer ${i}: ${r.body}`)
    }
  })

  test('the API proxy reaches the service and a pod from every peer', async () => {
    for (const i of PEERS) {
      const s = await c.request(i, 'GET', '/api/v1/namespaces/default/services/echo:http/proxy/')
      assert.ok(
        s && s.status === 200 && /^echo-[123]$/.test(s.body.trim()),
        `peer ${i}: ${s?.status} ${s?.body}`,
      )
      const p = await c.request(i, 'GET', '/api/v1/namespaces/default/pods/echo-3:8080/proxy/')
      assert.ok(p && p.status === 200 && p.body.trim() === 'echo-3', `peer ${i}: ${p?.status} ${p?.body}`)
    }
  })

  test('a pod deleted under load: no failed request once its endpoint is gone', async () => {
    let stop = false
    let goneAt = Number.POSITIVE_INFINITY
    const results: { at: number; ok: boolean; body: string }[] = []
    const load = (async () => {
      while (!stop) {
        const at = Date.now()
        const r = await hostGet(svc.spec.clusterIP, 80)
        results.push({ at, ...r })
      }
    })()
    await new Promise((r) => setTimeout(r, 500))
    const del = await c.request(live(), 'DELETE', '/api/v1/namespaces/default/pods/echo-3')
    assert.ok(del && del.status === 200, del?.body)
    await waitFor('echo-3 out of the endpoints', async () =>
      (await readyAddresses()).length === 2 ? true : undefined,
    )
    goneAt = Date.now()
    await waitFor('echo-3 gone', async () => {
      const r = await c.request(live(), 'GET', '/api/v1/namespaces/default/pods/echo-3')
      return r?.status === 404 ? true : undefined
    })
    await new Promise((r) => setTimeout(r, 1000))
    stop = true
    await load
    const after = results.filter((r) => r.at > goneAt)
    const failedAfter = after.filter((r) => !r.ok)
    const failedAll = results.filter((r) => !r.ok)
    console.log(
      `  (${results.length} requests, ${failedAll.length} failed in all, ${after.length} after the endpoint left)`,
    )
    assert.ok(after.length > 10, `too few requests after the endpoint left: ${after.length}`)
    assert.equal(failedAfter, [], 'requests failed after the endpoint was gone')
    // The proxy serving the cluster IP follows the Endpoints a moment later (a watch event,
    // then its kernel rules or its listener's list); the pod, draining, still answers then.
    // Past that moment it is never picked again.
    const settled = after.filter((r) => r.at > goneAt + PROXY_CATCH_UP_MS)
    assert.ok(settled.length > 10, `too few requests once the proxies caught up: ${settled.length}`)
    assert.ok(
      settled.every((r) => r.body !== 'echo-3'),
      'echo-3 still answered after its endpoint was gone and the proxies caught up',
    )
  })

  test('the peer serving the cluster IP dies: another peer on this host takes it over', async () => {
    const owner = servingPeer(svc.spec.clusterIP)
    assert.ok(owner, 'no peer says it serves the cluster IP')
    await c.stop(owner!, 'SIGKILL')
    const started = Date.now()
    await waitFor(
      'the cluster IP to answer again',
      async () => ((await hostGet(svc.spec.clusterIP, 80)).ok ? true : undefined),
      20_000,
    )
    console.log(`  (cluster IP served again ${Date.now() - started} ms after its peer was killed)`)
    const next = await waitFor('a new owner', async () => servingPeer(svc.spec.clusterIP))
    assert.not.equal(next, owner)
  })
}

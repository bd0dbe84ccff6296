import '../../src/util/polyfill.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { dockerClient } from '../../src/agent/docker-engine.js'
import {
  DockerRuntime,
  type DockerRuntimeOptions,
  normaliseImageRef,
  padLogTimestamps,
  podNetworkName,
  podSubnet,
  validateDockerRuntimeOptions,
} from '../../src/agent/docker-runtime.js'
import { pauseExecutable, splitImageRef, tarArchive } from '../../src/agent/pause-image.js'
import { systemIptables } from '../../src/agent/pod-network-firewall.js'
import { type ContainerConfig, LABELS, type SandboxConfig } from '../../src/agent/runtime.js'
import { silentLogger } from '../../src/util/logger.js'
import { dockerTestOrSkip, TEST_IMAGE } from '../support/docker.js'
import { eventually, type Program, runtimeSuite } from './runtime-suite.js'

const dockerTest = await dockerTestOrSkip(test)
const docker = dockerClient()
const NODE = `rt-docker-test-${process.pid}`
const scratch: string[] = []
/** Subnets of a range of this test run's own (the pid picks it) so parallel runs rarely overlap. */
const NET_RANGE_OCTET = 200 + (process.pid % 50)
const netRange = `10.${NET_RANGE_OCTET}.0.0/16`
const subnet = (third: number) => `10.${NET_RANGE_OCTET}.${third}.0/24`
const podsDir = mkdtempSync(join(tmpdir(), 'shoal-docker-pods-'))

function scratchDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'shoal-docker-'))
  scratch.push(d)
  return d
}

/** Single-quotes `s` for /bin/sh. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/**
 * A Program as a busybox shell script. PID 1 in a container ignores signals it has no handler
 * for, so a polite program traps TERM, and sleeps in the background so that `wait` (which a
 * signal interrupts, unlike a foreground sleep) lets the trap run at once.
 */
function script(p: Program): string {
  const lines = [p.ignoreTerm ? `trap '' TERM` : `trap 'exit 143' TERM`]
  for (const line of p.print ?? []) lines.push(`echo ${q(line)}`)
  if (p.appendTo) lines.push(`echo ${q(p.appendTo.line)} >> ${q(p.appendTo.path)}`)
  if (p.exitCode !== undefined) lines.push(`exit ${p.exitCode}`)
  else if (p.tick)
    lines.push(`while :; do echo ${q(p.tick.line)}; sleep ${p.tick.everyMs / 1000} & wait $!; done`)
  else lines.push('while :; do sleep 1 & wait $!; done')
  return lines.join('\n')
}

/** Force-removes this test's containers only (another test run may share the engine). */
async function cleanup(nodeName: string): Promise<void> {
  const left = await docker.listContainers({ all: true, filters: { label: [`${LABELS.node}=${nodeName}`] } })
  await Promise.all(
    left.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => {}),
    ),
  )
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true })
}

function make(
  nodeName: string,
  infraImage?: string,
  extra: Partial<DockerRuntimeOptions> = {},
): DockerRuntime {
  return new DockerRuntime({
    docker,
    nodeName,
    podsDir,
    logger: silentLogger(),
    ...(infraImage ? { infraImage } : {}),
    // The host's firewall is left alone, but by the one test that checks the rule works.
    clusterPodCidr: netRange,
    iptables: async () => ({ code: 0, stderr: '' }),
    ...extra,
  })
}

runtimeSuite(
  dockerTest,
  {
    make: async (node) => make(node),
    command: (program) => ({ command: ['/bin/sh', '-c', script(program)] }),
    execCommand: (output, exitCode) => ['/bin/sh', '-c', `echo ${q(output)}; exit ${exitCode}`],
    image: TEST_IMAGE,
    missingImage: 'shoal-test/nowhere-missing:1',
    scratchDir,
    cleanup,
    podSubnet: subnet(7),
  },
  NODE,
)

// ---------------------------------------------------------------- without an engine

test('pure: timestamps get nine fractional digits', () => {
  assert.is(
    padLogTimestamps('2024-01-02T03:04:05.12Z a\n2024-01-02T03:04:05Z b\n2024-01-02T03:04:05.123456789Z c\n'),
    '2024-01-02T03:04:05.120000000Z a\n2024-01-02T03:04:05.000000000Z b\n2024-01-02T03:04:05.123456789Z c\n',
  )
})

test('pure: image refs get :latest; registry ports are not tags', () => {
  assert.is(normaliseImageRef('busybox'), 'busybox:latest')
  assert.is(normaliseImageRef('localhost:5000/x'), 'localhost:5000/x:latest')
  assert.is(normaliseImageRef('localhost:5000/x:1'), 'localhost:5000/x:1')
  assert.is(normaliseImageRef('x@sha256:abc'), 'x@sha256:abc')
  assert.equal(splitImageRef('localhost:5000/pause:3.10'), { repo: 'localhost:5000/pause', tag: '3.10' })
})

test('pure: the pause executables are ELF64 for their machine; others are refused', () => {
  const x86 = pauseExecutable('amd64')
  assert.is(x86.subarray(0, 4).toString('latin1'), '\x7fELF')
  assert.is(x86.readUInt16LE(18), 62)
  assert.is(x86.readBigUInt64LE(24), 0x400078n)
  assert.is(pauseExecutable('arm64').readUInt16LE(18), 183)
  assert.throws(() => pauseExecutable('s390x'), /infraImage/)
})

test('pure: a tar archive is whole blocks with a valid header checksum', () => {
  const tar = tarArchive([{ name: 'pause', mode: 0o755, data: Buffer.from('abc') }])
  assert.is(tar.length, 512 + 512 + 1024)
  let sum = 0
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : tar[i]!
  assert.is(Number.parseInt(tar.subarray(148, 154).toString('latin1'), 8), sum)
})

test('pure: options are validated', () => {
  assert.throws(
    () => validateDockerRuntimeOptions({ nodeName: 'n', podsDir: 'relative', logger: silentLogger() }),
    /podsDir/,
  )
  assert.throws(
    () =>
      validateDockerRuntimeOptions({
        nodeName: 'n',
        podsDir: '/x',
        logger: silentLogger(),
        clusterPodCidr: '10.244.1.0/16',
      }),
    /clusterPodCidr: '10.244.1.0\/16'/,
  )
})

test('sandboxes leave their network one at a time, each once the engine is done with it (Docker 20.10 deadlocks otherwise)', async () => {
  // A fake engine: every sandbox is this node's and running; a kill or forced removal takes a
  // few turns, and an inspection after it stands for the engine finishing its exit handling.
  const log: string[] = []
  let busy = 0
  let overlapped = false
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
  }
  const detach = async (what: string) => {
    busy++
    if (busy > 1) overlapped = true
    log.push(`${what} begins`)
    await turns(3)
    log.push(`${what} ends`)
    busy--
  }
  const killed = new Set<string>()
  const engine = {
    listContainers: async () => [],
    getContainer: (id: string) => ({
      inspect: async () => {
        if (killed.has(id)) log.push(`inspect ${id}`)
        return { Config: { Labels: { [LABELS.node]: 'n1', [LABELS.role]: 'sandbox' } } }
      },
      kill: async () => {
        killed.add(id)
        await detach(`kill ${id}`)
      },
      wait: async () => ({ StatusCode: 137 }),
      remove: async () => {
        killed.add(id)
        await detach(`remove ${id}`)
      },
    }),
  }
  const rt = new DockerRuntime({
    nodeName: 'n1',
    podsDir: '/tmp',
    logger: silentLogger(),
    docker: engine as unknown as DockerRuntimeOptions['docker'],
  })
  await Promise.all([rt.stopSandbox('a'), rt.stopSandbox('b'), rt.removeSandbox('c')])
  assert.not.ok(overlapped, log.join('\n'))
  assert.equal(log, [
    'kill a begins',
    'kill a ends',
    'inspect a',
    'kill b begins',
    'kill b ends',
    'inspect b',
    'remove c begins',
    'remove c ends',
    'inspect c',
  ])
  // A failed detach does not stop the ones queued after it.
  const failing = {
    ...engine,
    getContainer: (id: string) => ({
      ...engine.getContainer(id),
      remove: async () => {
        throw Object.assign(new Error('engine error'), { statusCode: 500 })
      },
    }),
  }
  const rt2 = new DockerRuntime({
    nodeName: 'n1',
    podsDir: '/tmp',
    logger: silentLogger(),
    docker: failing as unknown as DockerRuntimeOptions['docker'],
  })
  const results = await Promise.allSettled([rt2.removeSandbox('d'), rt2.stopSandbox('e')])
  assert.equal(
    results.map((r) => r.status),
    ['rejected', 'fulfilled'],
  )
})

test('pure: a pod subnet is aligned, and its gateway is .1', () => {
  assert.equal(podSubnet('10.244.3.0/24'), { subnet: '10.244.3.0/24', gateway: '10.244.3.1' })
  assert.throws(() => podSubnet('10.244.3.7/24'), /not aligned/)
  assert.throws(() => podSubnet('10.244.3.0/31'), /podCidr: '10.244.3.0\/31'/)
  assert.is(podNetworkName('peer-1'), 'shoal-peer-1')
})

// ---------------------------------------------------------------- Docker specifics

let podCounter = 0
function sandboxConfig(extra: Partial<SandboxConfig> = {}): SandboxConfig {
  podCounter += 1
  return {
    podUid: `dddddddd-0000-4000-8000-${String(process.pid).padStart(6, '0')}${String(podCounter).padStart(6, '0')}`,
    podName: `docker-${podCounter}`,
    namespace: 'default',
    hostname: `docker-${podCounter}`,
    ports: [],
    ...extra,
  }
}

function containerConfig(sb: SandboxConfig, name: string, extra: Partial<ContainerConfig>): ContainerConfig {
  return {
    podUid: sb.podUid,
    podName: sb.podName,
    namespace: sb.namespace,
    name,
    attempt: 0,
    image: TEST_IMAGE,
    env: [],
    ports: [],
    mounts: [],
    limits: {},
    ...extra,
  }
}

async function exitedStatus(rt: DockerRuntime, id: string) {
  return eventually(`${id} to exit`, async () => {
    const s = (await rt.listContainers()).find((c) => c.id === id)
    return s?.state === 'exited' ? s : undefined
  })
}

async function logsOf(rt: DockerRuntime, id: string): Promise<string> {
  let text = ''
  for await (const chunk of await rt.logs(id, { follow: false, timestamps: false })) text += chunk.toString()
  return text
}

const rt = make(NODE)
if (dockerTest === test) {
  test.after(async () => {
    await rt.close()
    await cleanup(NODE)
    rmSync(podsDir, { recursive: true, force: true })
  })
}

dockerTest('version is docker://<engine version>', async () => {
  assert.match(await rt.version(), /^docker:\/\/\d+\.\d+/)
})

dockerTest('the infra image is built when absent, and the sandbox runs it', async () => {
  const image = `shoal-test/pause-build-test:${process.pid}`
  await docker
    .getImage(image)
    .remove({ force: true })
    .catch(() => {})
  const builder = make(NODE, image)
  try {
    const sb = sandboxConfig({ hostname: 'built-pause', ports: [{ containerPort: 80, protocol: 'TCP' }] })
    const box = await builder.runSandbox(sb)
    assert.is(box.state, 'ready')
    assert.ok(/^\d+\.\d+\.\d+\.\d+$/.test(box.ip), box.ip)
    const img = await docker.getImage(image).inspect()
    assert.equal(img.Config.Cmd, ['/pause'])
    const info = await docker.getContainer(box.id).inspect()
    assert.is(info.State.Running, true)
    assert.is(info.Config.Hostname, 'built-pause')
    assert.is(info.Config.Labels[LABELS.role], 'sandbox')
    const t0 = Date.now()
    await builder.stopSandbox(box.id)
    assert.ok(Date.now() - t0 < 5000, 'the infra container dies at once (SIGKILL)')
    assert.is((await builder.listSandboxes()).find((s) => s.id === box.id)?.state, 'notready')
    await builder.removeSandbox(box.id)
  } finally {
    await builder.close()
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => {})
  }
})

dockerTest("containers of a pod share the infra's network namespace and hostname", async () => {
  const hostPort = 20_000 + (process.pid % 20_000)
  const sb = sandboxConfig({
    hostname: 'shared-net',
    ports: [{ containerPort: 7777, protocol: 'TCP', hostPort }],
    dns: { servers: ['127.0.60.53'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
  })
  const box = await rt.runSandbox(sb)
  const server = await rt.createContainer(
    box.id,
    containerConfig(sb, 'server', {
      command: [
        '/bin/sh',
        '-c',
        'mkdir -p /tmp/www && echo served >/tmp/www/index.html && exec httpd -f -p 7777 -h /tmp/www',
      ],
    }),
  )
  const client = await rt.createContainer(
    box.id,
    containerConfig(sb, 'client', {
      command: [
        '/bin/sh',
        '-c',
        'hostname; grep nameserver /etc/resolv.conf; for i in $(seq 100); do wget -qO- http://127.0.0.1:7777/ && exit 0; sleep 0.1; done; exit 1',
      ],
    }),
  )
  await rt.startContainer(server)
  await rt.startContainer(client)
  const s = await exitedStatus(rt, client)
  assert.is(s.exitCode, 0)
  assert.is(await logsOf(rt, client), 'shared-net\nnameserver 127.0.60.53\nserved\n')
  // The host port is published on the infra container.
  const page = await eventually('the published host port', async () => {
    const res = await fetch(`http://127.0.0.1:${hostPort}/`).catch(() => undefined)
    return res?.ok ? res.text() : undefined
  })
  assert.is(page, 'served\n')
  await rt.stopContainer(server, 1000)
  await rt.stopSandbox(box.id)
  await rt.removeSandbox(box.id)
  assert.not.ok((await rt.listContainers()).some((c) => c.id === server || c.id === client))
})

dockerTest('command, args, env, working dir, read-only mounts and limits reach the container', async () => {
  const sb = sandboxConfig()
  const box = await rt.runSandbox(sb)
  const dir = scratchDir()
  const id = await rt.createContainer(
    box.id,
    containerConfig(sb, 'main', {
      command: ['/bin/sh', '-c'],
      args: ['echo "$GREETING"; pwd; touch /ro/x 2>/dev/null || echo read-only'],
      env: [{ name: 'GREETING', value: 'hi there' }],
      workingDir: '/tmp',
      mounts: [{ hostPath: dir, containerPath: '/ro', readOnly: true }],
      limits: { memoryBytes: 64 * 1024 * 1024, nanoCpus: 500_000_000 },
    }),
  )
  const info = await docker.getContainer(id).inspect()
  assert.is(info.HostConfig.Memory, 64 * 1024 * 1024)
  assert.is(info.HostConfig.NanoCpus, 500_000_000)
  assert.is(info.HostConfig.NetworkMode, `container:${box.id}`)
  await rt.startContainer(id)
  assert.is((await exitedStatus(rt, id)).exitCode, 0)
  assert.is(await logsOf(rt, id), 'hi there\n/tmp\nread-only\n')
  // `args` alone keeps the image's entrypoint (none) and replaces its CMD.
  const argsOnly = await rt.createContainer(
    box.id,
    containerConfig(sb, 'args-only', { args: ['echo', 'from args'] }),
  )
  await rt.startContainer(argsOnly)
  await exitedStatus(rt, argsOnly)
  assert.is(await logsOf(rt, argsOnly), 'from args\n')
  await rt.stopSandbox(box.id)
  await rt.removeSandbox(box.id)
})

dockerTest('a container ignoring SIGTERM is SIGKILLed after a sub-second grace', async () => {
  const sb = sandboxConfig()
  const box = await rt.runSandbox(sb)
  const id = await rt.createContainer(
    box.id,
    containerConfig(sb, 'stubborn', { command: ['/bin/sh', '-c', script({ ignoreTerm: true })] }),
  )
  await rt.startContainer(id)
  const t0 = Date.now()
  await rt.stopContainer(id, 300)
  const took = Date.now() - t0
  assert.ok(took >= 250 && took < 3000, `stop took ${took} ms`)
  const s = await exitedStatus(rt, id)
  assert.is(s.exitCode, 137)
  assert.is(s.reason, 'Error')
  await rt.stopSandbox(box.id)
  await rt.removeSandbox(box.id)
})

dockerTest(
  'a container that cannot start: RunContainerError, then exited as ContainerCannotRun',
  async () => {
    const sb = sandboxConfig()
    const box = await rt.runSandbox(sb)
    const id = await rt.createContainer(
      box.id,
      containerConfig(sb, 'broken', { command: ['/no/such/program'] }),
    )
    try {
      await rt.startContainer(id)
      assert.unreachable('should have thrown')
    } catch (err) {
      assert.is((err as Error).name, 'RunContainerError')
      assert.match((err as Error).message, /no such file/)
    }
    const s = (await rt.listContainers()).find((c) => c.id === id)
    assert.is(s?.state, 'exited')
    assert.is(s?.reason, 'ContainerCannotRun')
    assert.match(s?.message ?? '', /no such program|no such file/)
    await rt.removeSandbox(box.id)
  },
)

dockerTest(
  'pull policies: Never refuses an absent image; Always falls back to a local one with a warning',
  async () => {
    try {
      await rt.ensureImage('shoal-test/nowhere-missing:2', 'Never')
      assert.unreachable('should have thrown')
    } catch (err) {
      assert.is((err as Error).name, 'ImagePullError')
      assert.match((err as Error).message, /pull policy of Never/)
    }
    const always = await rt.ensureImage(TEST_IMAGE, 'Always')
    assert.ok(always.warning, 'a warning says the pull failed')
    assert.match(always.imageId, /^sha256:/)
    const never = await rt.ensureImage('shoal-test/busybox', 'Never')
    assert.is(never.imageId, always.imageId)
    assert.is(never.warning, undefined)
  },
)

dockerTest(
  'an exit is reported through onContainerEvent, and logs follow to the end of a container',
  async () => {
    const events: string[] = []
    const off = rt.onContainerEvent((id) => events.push(id))
    const sb = sandboxConfig()
    const box = await rt.runSandbox(sb)
    const id = await rt.createContainer(
      box.id,
      containerConfig(sb, 'short', { command: ['/bin/sh', '-c', 'echo one; sleep 0.3; echo two; exit 5'] }),
    )
    await rt.startContainer(id)
    let text = ''
    for await (const chunk of await rt.logs(id, { follow: true, timestamps: true })) text += chunk.toString()
    assert.match(text, /^\S+\.\d{9}Z one\n\S+\.\d{9}Z two\n$/)
    const twoAtMs = Date.parse(text.split('\n')[1]!.split(' ')[0]!)
    let since = ''
    for await (const chunk of await rt.logs(id, { follow: false, timestamps: false, sinceMs: twoAtMs }))
      since += chunk.toString()
    assert.is(since, 'two\n')
    await eventually('the die event', () => (events.filter((e) => e === id).length >= 2 ? true : undefined))
    off()
    assert.is((await exitedStatus(rt, id)).exitCode, 5)
    await rt.removeSandbox(box.id)
  },
)

dockerTest('a broken events stream reconnects and replays what it missed', async () => {
  const events: string[] = []
  const off = rt.onContainerEvent((id) => events.push(id))
  const internals = rt as unknown as { events?: { destroy(): void } }
  await eventually('the events stream', () => internals.events)
  internals.events?.destroy()
  const sb = sandboxConfig()
  const box = await rt.runSandbox(sb)
  const id = await rt.createContainer(box.id, containerConfig(sb, 'quick', { command: ['/bin/true'] }))
  await rt.startContainer(id)
  await eventually('an event after the reconnect', () => (events.includes(id) ? true : undefined))
  off()
  await rt.removeSandbox(box.id)
})

dockerTest('exec that outlives its timeout is an error', async () => {
  const sb = sandboxConfig()
  const box = await rt.runSandbox(sb)
  const id = await rt.createContainer(
    box.id,
    containerConfig(sb, 'main', { command: ['/bin/sh', '-c', script({})] }),
  )
  await rt.startContainer(id)
  const t0 = Date.now()
  try {
    await rt.exec(id, ['sleep', '5'], 300)
    assert.unreachable('should have timed out')
  } catch (err) {
    assert.match((err as Error).message, /timed out/)
  }
  assert.ok(Date.now() - t0 < 2000)
  await rt.stopSandbox(box.id)
  await rt.removeSandbox(box.id)
})

// ---------------------------------------------------------------- pod networks

/** Records iptables calls; every rule is absent until inserted. */
function fakeIptables() {
  const calls: string[][] = []
  const rules = new Set<string>()
  return {
    calls,
    run: async (args: string[]) => {
      calls.push(args)
      const key = args.slice(1).join(' ')
      if (args[0] === '-C') return { code: rules.has(key) ? 0 : 1, stderr: '' }
      rules.add(key)
      return { code: 0, stderr: '' }
    },
  }
}

async function removeNetwork(name: string): Promise<void> {
  await docker
    .getNetwork(name)
    .remove()
    .catch(() => {})
}

async function ipInSubnet(ip: string, cidr: string): Promise<boolean> {
  const { gateway } = podSubnet(cidr)
  const prefix = cidr.split('.').slice(0, 3).join('.')
  return ip.startsWith(`${prefix}.`) && ip !== gateway && ip !== `${prefix}.0` && ip !== `${prefix}.255`
}

dockerTest(
  'ensurePodNetwork makes the node network once; sandboxes get IPs of its subnet; removal cleans it',
  async () => {
    const node = `${NODE}-net`
    const fw = fakeIptables()
    const net = make(node, undefined, { clusterPodCidr: netRange, iptables: fw.run, isRoot: true })
    const name = podNetworkName(node)
    try {
      await net.ensurePodNetwork(subnet(1))
      const first = await docker.getNetwork(name).inspect()
      assert.equal(first.IPAM?.Config, [{ Subnet: subnet(1), Gateway: `10.${NET_RANGE_OCTET}.1.1` }])
      assert.is(first.Labels?.[LABELS.node], node)
      assert.is(first.Labels?.[LABELS.role], 'network')
      // Idempotent: the same network (same id), and the rule checked once per runtime.
      await Promise.all([net.ensurePodNetwork(subnet(1)), net.ensurePodNetwork(subnet(1))])
      assert.is((await docker.getNetwork(name).inspect()).Id, first.Id)
      assert.equal(fw.calls, [
        ['-C', 'DOCKER-USER', '-s', netRange, '-d', netRange, '-j', 'ACCEPT'],
        ['-I', 'DOCKER-USER', '-s', netRange, '-d', netRange, '-j', 'ACCEPT'],
      ])
      // A restarted runtime adopts the network as it is.
      const again = make(node, undefined, { clusterPodCidr: netRange, iptables: fw.run, isRoot: true })
      await again.ensurePodNetwork(subnet(1))
      assert.is((await docker.getNetwork(name).inspect()).Id, first.Id)
      assert.is(fw.calls.length, 3, 'the rule present: checked, not added again')
      await again.close()

      const a = await net.runSandbox(sandboxConfig())
      const b = await net.runSandbox(sandboxConfig())
      assert.ok(await ipInSubnet(a.ip, subnet(1)), a.ip)
      assert.ok(await ipInSubnet(b.ip, subnet(1)), b.ip)
      assert.is.not(a.ip, b.ip)
      assert.ok(
        Object.keys((await docker.getContainer(a.id).inspect()).NetworkSettings.Networks).includes(name),
      )

      // In use: another subnet is refused, naming both.
      try {
        await net.ensurePodNetwork(subnet(2))
        assert.unreachable('a subnet change with sandboxes on the network')
      } catch (err) {
        assert.match(
          (err as Error).message,
          new RegExp(`${name} has subnet ${subnet(1)}, not the node's ${subnet(2)}`),
        )
      }
      let removed = true
      await net.removePodNetwork().catch(() => {
        removed = false
      })
      assert.not.ok(removed, 'a network in use stays')
      for (const box of [a, b]) {
        await net.stopSandbox(box.id)
        await net.removeSandbox(box.id)
      }
      // Unused: replaced by one with the new subnet.
      await net.ensurePodNetwork(subnet(2))
      const replaced = await docker.getNetwork(name).inspect()
      assert.is.not(replaced.Id, first.Id)
      assert.equal(replaced.IPAM?.Config, [{ Subnet: subnet(2), Gateway: `10.${NET_RANGE_OCTET}.2.1` }])
      await net.removePodNetwork()
      await net.removePodNetwork()
      assert.is(
        (await docker.listNetworks({ filters: { name: [name] } })).filter((n) => n.Name === name).length,
        0,
      )
    } finally {
      await net.close()
      await cleanup(node)
      await removeNetwork(name)
    }
  },
)

dockerTest('without root or iptables the rule is skipped, and the network is made all the same', async () => {
  const node = `${NODE}-noroot`
  const fw = fakeIptables()
  const net = make(node, undefined, { clusterPodCidr: netRange, iptables: fw.run, isRoot: false })
  try {
    await net.ensurePodNetwork(subnet(3))
    assert.equal(fw.calls, [])
    const missing = make(`${node}-b`, undefined, {
      clusterPodCidr: netRange,
      isRoot: true,
      iptables: async () => {
        throw Object.assign(new Error('spawn iptables ENOENT'), { code: 'ENOENT' })
      },
    })
    await missing.ensurePodNetwork(subnet(4))
    await missing.removePodNetwork()
    await missing.close()
  } finally {
    await net.removePodNetwork().catch(() => {})
    await net.close()
    await removeNetwork(podNetworkName(node))
    await removeNetwork(podNetworkName(`${node}-b`))
  }
})

dockerTest(
  "pods on two nodes' networks of one host reach each other (the DOCKER-USER rule, as root)",
  async () => {
    if (process.getuid?.() !== 0) return // the rule needs root; the test above covers the rest
    const nodes = [`${NODE}-x1`, `${NODE}-x2`]
    const rts = nodes.map((n) => make(n, undefined, { iptables: systemIptables }))
    const { execFileSync } = await import('node:child_process')
    try {
      await rts[0]!.ensurePodNetwork(subnet(5))
      await rts[1]!.ensurePodNetwork(subnet(6))
      const boxes = await Promise.all(rts.map((r) => r.runSandbox(sandboxConfig())))
      assert.ok(await ipInSubnet(boxes[0]!.ip, subnet(5)), boxes[0]!.ip)
      assert.ok(await ipInSubnet(boxes[1]!.ip, subnet(6)), boxes[1]!.ip)
      const sb = sandboxConfig()
      const id = await rts[0]!.createContainer(
        boxes[0]!.id,
        containerConfig({ ...sb, podUid: boxes[0]!.podUid, podName: boxes[0]!.podName }, 'pinger', {
          command: ['/bin/sh', '-c', 'while :; do sleep 1 & wait $!; done'],
        }),
      )
      await rts[0]!.startContainer(id)
      const r = await rts[0]!.exec(id, ['ping', '-c', '1', '-W', '3', boxes[1]!.ip], 10_000)
      assert.is(r.exitCode, 0, r.output)
    } finally {
      for (const r of rts) await r.close()
      for (const n of nodes) {
        await cleanup(n)
        await removeNetwork(podNetworkName(n))
      }
      // This run's range is its own: its rule goes with it.
      try {
        execFileSync('iptables', ['-w', '-D', 'DOCKER-USER', '-s', netRange, '-d', netRange, '-j', 'ACCEPT'])
      } catch {
        // Not added (no iptables): nothing to remove.
      }
    }
  },
)

test.run()

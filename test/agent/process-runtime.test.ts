import '../../src/util/polyfill.js'
import { spawn } from 'node:child_process'
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  ipCandidates,
  nanosTimestamp,
  ProcessRuntime,
  parseIpRange,
  parseLogLine,
  parseProcStartTime,
  shQuote,
  TIMESTAMPERS,
  type TimestamperKind,
} from '../../src/agent/process-runtime.js'
import type { ContainerConfig, ContainerStatus, Runtime, SandboxConfig } from '../../src/agent/runtime.js'
import { silentLogger } from '../../src/util/logger.js'
import { eventually, type Program, runtimeSuite } from './runtime-suite.js'

const base = mkdtempSync(join(tmpdir(), 'shoal-process-rt-'))
const leaseDir = join(base, 'leases')
const scratch: string[] = []
const runtimes: ProcessRuntime[] = []
// Mount points the tests make on the host (the suite mounts at /shared): removed after, if new.
const hostMountPoints = ['/shared', '/shoal-test-data'].filter((p) => !existsSync(p))

function stateDirOf(node: string): string {
  return join(base, 'nodes', node)
}

function makeRuntime(node: string, extra: Partial<ConstructorParameters<typeof ProcessRuntime>[0]> = {}) {
  const rt = new ProcessRuntime({
    nodeName: node,
    stateDir: stateDirOf(node),
    leaseDir,
    logger: silentLogger(),
    ...extra,
  })
  runtimes.push(rt)
  return rt
}

/** A Program as a /bin/sh script. */
function script(p: Program): string {
  const parts: string[] = []
  if (p.ignoreTerm) parts.push('trap "" TERM')
  if (p.print?.length) parts.push(`printf '%s\\n' ${p.print.map(shQuote).join(' ')}`)
  if (p.appendTo) parts.push(`printf '%s\\n' ${shQuote(p.appendTo.line)} >> ${shQuote(p.appendTo.path)}`)
  if (p.tick) parts.push(`while :; do echo ${shQuote(p.tick.line)}; sleep ${p.tick.everyMs / 1000}; done`)
  if (p.exitCode !== undefined) parts.push(`exit ${p.exitCode}`)
  else parts.push('while :; do sleep 0.1; done')
  return parts.join('\n')
}

/** Kills whatever a node's containers left running (the supervisors' sessions). */
async function killAll(node: string): Promise<void> {
  const pods = join(stateDirOf(node), 'pods')
  if (!existsSync(pods)) return
  for (const uid of readdirSync(pods)) {
    const cdir = join(pods, uid, 'containers')
    if (!existsSync(cdir)) continue
    for (const c of readdirSync(cdir)) {
      for (const f of ['cpid', 'state.json']) {
        const path = join(cdir, c, f)
        if (!existsSync(path)) continue
        const text = readFileSync(path, 'utf8')
        const pid = f === 'cpid' ? Number(text) : (JSON.parse(text) as { pid: number }).pid
        try {
          process.kill(-pid, 'SIGKILL')
        } catch {
          // gone already
        }
      }
    }
  }
}

runtimeSuite(
  test,
  {
    make: async (node) => makeRuntime(node),
    command: (program) => ({ command: ['/bin/sh', '-c', script(program)] }),
    execCommand: (output, exitCode) => ['/bin/sh', '-c', `echo ${shQuote(output)}; exit ${exitCode}`],
    image: 'informational:latest',
    scratchDir: () => {
      const d = mkdtempSync(join(tmpdir(), 'shoal-process-scratch-'))
      scratch.push(d)
      return d
    },
    cleanup: async (node) => {
      await killAll(node)
      for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true })
    },
  },
  'proc-node',
)

// ------------------------------------------------------------------ process-specific tests

let podCounter = 0

function sandboxConfig(): SandboxConfig {
  podCounter += 1
  return {
    podUid: `11111111-0000-4000-8000-${String(process.pid).padStart(6, '0')}${String(podCounter).padStart(6, '0')}`,
    podName: `p-${podCounter}`,
    namespace: 'ns1',
    hostname: `p-${podCounter}`,
    ports: [],
  }
}

function containerConfig(sb: SandboxConfig, name: string, sh: string, extra: Partial<ContainerConfig> = {}) {
  return {
    podUid: sb.podUid,
    podName: sb.podName,
    namespace: sb.namespace,
    name,
    attempt: 0,
    image: 'x',
    command: ['/bin/sh', '-c', sh],
    env: [],
    ports: [],
    mounts: [],
    limits: {},
    ...extra,
  } satisfies ContainerConfig
}

async function statusOf(rt: Runtime, id: string): Promise<ContainerStatus | undefined> {
  return (await rt.listContainers()).find((c) => c.id === id)
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = ''
  for await (const chunk of stream) text += chunk.toString()
  return text
}

let keepAlive: NodeJS.Timeout | undefined
test.before.each(() => {
  keepAlive = setInterval(() => {}, 1000)
})
test.after.each(() => clearInterval(keepAlive))

test('pure parts: IP ranges, /proc stat, log lines', () => {
  assert.equal(parseIpRange('127.200.0.0/16'), { base: (127 << 24) + (200 << 16), size: 65536 })
  assert.throws(() => parseIpRange('10.0.0.0/8'), /loopback/)
  assert.throws(() => parseIpRange('127.0.0.0/31'), /prefix/)
  const all = [...ipCandidates(parseIpRange('127.201.0.0/23'), 'k')]
  assert.is(new Set(all).size, all.length)
  assert.ok(all.every((ip) => !/\.(0|255)$/.test(ip)))
  assert.is(all.length, 510 - 2)
  assert.is(
    parseProcStartTime('42 (a b) c) S 1 42 42 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 98765 1 2'),
    '98765',
  )
  assert.is(
    parseProcStartTime('42 (zz) Z 1 42 42 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 98765 1 2'),
    undefined,
  )
  assert.is(nanosTimestamp('1700000000123456789'), '2023-11-14T22:13:20.123456789Z')
  assert.equal(parseLogLine('1700000000123456789 hi there'), {
    ns: '1700000000123456789',
    ms: 1700000000123,
    text: 'hi there',
  })
  assert.is(parseLogLine('junk').text, 'junk')
})

test('pod IPs are unique across runtimes sharing a lease dir, and freed on remove', async () => {
  const range = '127.201.0.0/28' // 14 addresses
  const a = makeRuntime('lease-a', { ipRange: range })
  const b = makeRuntime('lease-b', { ipRange: range })
  const boxes: { rt: Runtime; id: string; ip: string }[] = []
  for (let i = 0; i < 7; i++) {
    for (const rt of [a, b]) {
      const s = await rt.runSandbox(sandboxConfig())
      boxes.push({ rt, id: s.id, ip: s.ip })
    }
  }
  const ips = boxes.map((x) => x.ip)
  assert.is(new Set(ips).size, 14, ips.join(' '))
  try {
    await a.runSandbox(sandboxConfig())
    assert.unreachable('the range is full')
  } catch (err) {
    assert.match((err as Error).message, /no free pod IP/)
  }
  const freed = boxes[3]!
  await freed.rt.removeSandbox(freed.id)
  assert.not.ok(existsSync(join(leaseDir, freed.ip)))
  const again = await b.runSandbox(sandboxConfig())
  assert.is(again.ip, freed.ip)
  for (const x of boxes) await x.rt.removeSandbox(x.id)
  await b.removeSandbox(again.id)
  assert.is(readdirSync(leaseDir).filter((f) => f.startsWith('127.201.')).length, 0)
})

test('a container sees POD_IP and the pod env; PATH is inherited; exec shares its env', async () => {
  const rt = makeRuntime('env-node')
  const sb = sandboxConfig()
  const box = await rt.runSandbox(sb)
  const id = await rt.createContainer(
    box.id,
    containerConfig(
      sb,
      'main',
      'echo "$POD_IP $POD_NAME $POD_NAMESPACE $HOSTNAME $FOO"; pwd; exec sleep 30',
      {
        env: [{ name: 'FOO', value: 'bar baz' }],
      },
    ),
  )
  await rt.startContainer(id)
  const logs = await eventually('two lines', async () => {
    const text = await readAll(await rt.logs(id, { follow: false, timestamps: false }))
    return text.split('\n').length >= 3 ? text : undefined
  })
  const podDir = join(stateDirOf('env-node'), 'pods', sb.podUid)
  assert.is(logs, `${box.ip} ${sb.podName} ns1 ${sb.hostname} bar baz\n${podDir}\n`)
  const r = await rt.exec(id, ['sh', '-c', 'echo "$FOO"; pwd; echo oops >&2'], 5000)
  assert.is(r.exitCode, 0)
  assert.is(r.output.split('\n').sort().join(' '), ` ${podDir} bar baz oops`)
  try {
    await rt.exec(id, ['sleep', '10'], 300)
    assert.unreachable('should time out')
  } catch (err) {
    assert.match((err as Error).message, /timed out/)
  }
  await rt.removeSandbox(box.id)
})

test('the supervisor does not depend on the container PATH; a TERM to its group still records the exit', async () => {
  const rt = makeRuntime('wrapper-node')
  const sb = sandboxConfig()
  const box = await rt.runSandbox(sb)
  const id = await rt.createContainer(
    box.id,
    containerConfig(
      sb,
      'main',
      // The trap is set before the line the test waits for: no window where TERM would kill it.
      'trap "echo last words; exit 5" TERM; echo "$PATH"; while :; do sleep 0.05; done',
      {
        env: [{ name: 'PATH', value: '/nowhere:/bin' }],
      },
    ),
  )
  await rt.startContainer(id)
  await eventually('the PATH line', async () => {
    const text = await readAll(await rt.logs(id, { follow: false, timestamps: false }))
    return text === '/nowhere:/bin\n' ? true : undefined
  })
  const cdir = join(stateDirOf('wrapper-node'), 'pods', sb.podUid, 'containers', 'main-0')
  const { pid } = JSON.parse(readFileSync(join(cdir, 'state.json'), 'utf8')) as { pid: number }
  process.kill(-pid, 'SIGTERM')
  const s = await eventually('exit', async () => {
    const st = await statusOf(rt, id)
    return st?.state === 'exited' ? st : undefined
  })
  assert.is(s.exitCode, 5)
  // (dash may report its sleep's death by the group's TERM: "Terminated")
  const logs = await readAll(await rt.logs(id, { follow: false, timestamps: false }))
  assert.match(logs, /^\/nowhere:\/bin\n(.*Terminated\n)?last words\n$/)
  await rt.removeSandbox(box.id)
})

test('a stop right after start is a SIGTERM to the command; the group named in cpid exists', async () => {
  const rt = makeRuntime('early-stop-node')
  const sb = sandboxConfig()
  const box = await rt.runSandbox(sb)
  // The supervisor used to name the group as soon as it had forked, before the child called
  // setsid: a stop in that window sent SIGTERM to no group, waited out the grace period and
  // ended with SIGKILL (137). Several containers widen the window on a loaded machine.
  const ids: string[] = []
  for (let i = 0; i < 4; i++) {
    const id = await rt.createContainer(box.id, containerConfig(sb, `c${i}`, 'while :; do sleep 0.1; done'))
    await rt.startContainer(id)
    ids.push(id)
  }
  await Promise.all(ids.map((id) => rt.stopContainer(id, 60_000)))
  for (const id of ids) {
    const s = await statusOf(rt, id)
    assert.is(s?.state, 'exited')
    assert.is(s?.exitCode, 143, `${id} ended by SIGTERM`)
  }
  // Whenever cpid exists, it names a process group (the command is its leader).
  const id = await rt.createContainer(box.id, containerConfig(sb, 'named', 'while :; do sleep 0.1; done'))
  const cpid = join(stateDirOf('early-stop-node'), 'pods', sb.podUid, 'containers', 'named-0', 'cpid')
  await rt.startContainer(id)
  const pid = await eventually('cpid', async () => {
    const text = existsSync(cpid) ? readFileSync(cpid, 'utf8') : ''
    return /^\d+\n$/.test(text) ? Number(text) : undefined
  })
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2])
  assert.is(pgrp, pid)
  await rt.removeSandbox(box.id)
})

if (process.getuid?.() === 0)
  test('a read-only mount cannot be written', async () => {
    const rt = makeRuntime('ro-node')
    const sb = sandboxConfig()
    const box = await rt.runSandbox(sb)
    const dir = mkdtempSync(join(tmpdir(), 'shoal-process-ro-'))
    scratch.push(dir)
    writeFileSync(join(dir, 'in'), 'data\n')
    const id = await rt.createContainer(
      box.id,
      containerConfig(sb, 'main', 'cat /shoal-test-data/in; echo x > /shoal-test-data/out', {
        mounts: [{ hostPath: dir, containerPath: '/shoal-test-data', readOnly: true }],
      }),
    )
    await rt.startContainer(id)
    const s = await eventually('exit', async () => {
      const st = await statusOf(rt, id)
      return st?.state === 'exited' ? st : undefined
    })
    assert.is(s.exitCode, 2)
    assert.match(await readAll(await rt.logs(id, { follow: false, timestamps: false })), /^data\n.*Read-only/)
    assert.not.ok(existsSync(join(dir, 'out')))
    await rt.removeSandbox(box.id)
  })

test('a process that escaped the group and holds the output delays the exit by 2 s at most', async () => {
  const rt = makeRuntime('escape-node')
  const sb = sandboxConfig()
  const box = await rt.runSandbox(sb)
  const pidFile = join(base, 'escaped.pid')
  const id = await rt.createContainer(
    box.id,
    containerConfig(sb, 'main', `echo before; setsid sleep 10 & echo $! > ${shQuote(pidFile)}; exit 0`),
  )
  await rt.startContainer(id)
  try {
    const s = await eventually(
      'exit',
      async () => {
        const st = await statusOf(rt, id)
        return st?.state === 'exited' ? st : undefined
      },
      5000,
    )
    assert.is(s.exitCode, 0)
    assert.is(await readAll(await rt.logs(id, { follow: false, timestamps: false })), 'before\n')
  } finally {
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL')
    } catch {
      // gone already
    }
  }
  await rt.removeSandbox(box.id)
})

test('no command is a CreateContainerError; a missing program is a RunContainerError', async () => {
  const rt = makeRuntime('err-node')
  const sb = sandboxConfig()
  const box = await rt.runSandbox(sb)
  try {
    await rt.createContainer(box.id, { ...containerConfig(sb, 'main', ''), command: [] })
    assert.unreachable()
  } catch (err) {
    assert.is((err as Error).name, 'CreateContainerError')
    assert.match((err as Error).message, /needs a command/)
  }
  const id = await rt.createContainer(box.id, {
    ...containerConfig(sb, 'gone', ''),
    command: ['no-such-program-x'],
  })
  try {
    await rt.startContainer(id)
    assert.unreachable()
  } catch (err) {
    assert.is((err as Error).name, 'RunContainerError')
  }
  await rt.removeSandbox(box.id)
})

test('a container outlives its runtime; a new runtime adopts it and reads its exit code from the file', async () => {
  const first = makeRuntime('adopt-node')
  const sb = sandboxConfig()
  const box = await first.runSandbox(sb)
  const marker = join(base, 'adopt-marker')
  const id = await first.createContainer(
    box.id,
    containerConfig(sb, 'main', `while [ ! -e ${shQuote(marker)} ]; do sleep 0.05; done; echo bye; exit 7`),
  )
  await first.startContainer(id)
  await first.close()
  const second = makeRuntime('adopt-node')
  const events: string[] = []
  second.onContainerEvent((cid) => events.push(cid))
  assert.is((await statusOf(second, id))?.state, 'running')
  await new Promise((r) => setTimeout(r, 1200)) // let the event poll see it running
  writeFileSync(marker, '')
  const s = await eventually('exit 7', async () => {
    const st = await statusOf(second, id)
    return st?.state === 'exited' ? st : undefined
  })
  assert.is(s.exitCode, 7)
  assert.is(s.reason, 'Error')
  await eventually('an event from the poll', () => (events.includes(id) ? true : undefined), 3000)
  assert.is(await readAll(await second.logs(id, { follow: false, timestamps: false })), 'bye\n')
  await second.removeSandbox(box.id)
})

test('an agent SIGKILLed with its whole group leaves its container running, and adoptable', async () => {
  const node = 'killed-agent'
  const dir = mkdtempSync(join(tmpdir(), 'shoal-process-mount-'))
  scratch.push(dir)
  const mounted = process.getuid?.() === 0
  const sb = sandboxConfig()
  const moduleUrl = pathToFileURL(join(import.meta.dirname, '../../src/agent/process-runtime.js')).href
  const loggerUrl = pathToFileURL(join(import.meta.dirname, '../../src/util/logger.js')).href
  const config = containerConfig(
    sb,
    'main',
    mounted ? 'echo up >> /data/out; while :; do sleep 0.1; done' : 'while :; do sleep 0.1; done',
    mounted ? { mounts: [{ hostPath: dir, containerPath: '/shoal-test-data', readOnly: false }] } : {},
  )
  if (mounted)
    config.command = ['/bin/sh', '-c', 'echo up >> /shoal-test-data/out; while :; do sleep 0.1; done']
  const code = `
    import { ProcessRuntime } from ${JSON.stringify(moduleUrl)}
    import { silentLogger } from ${JSON.stringify(loggerUrl)}
    const rt = new ProcessRuntime({ nodeName: ${JSON.stringify(node)}, stateDir: ${JSON.stringify(stateDirOf(node))},
      leaseDir: ${JSON.stringify(leaseDir)}, logger: silentLogger() })
    const box = await rt.runSandbox(${JSON.stringify(sb)})
    const id = await rt.createContainer(box.id, ${JSON.stringify(config)})
    await rt.startContainer(id)
    console.log(JSON.stringify({ box: box.id, id }))
    setInterval(() => {}, 1000)
  `
  const agent = spawn(process.execPath, ['--input-type=module', '-e', code], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const out = await new Promise<string>((resolve, reject) => {
    let text = ''
    agent.stdout.on('data', (c: Buffer) => {
      text += c.toString()
      if (text.includes('\n')) resolve(text)
    })
    agent.once('exit', () => reject(new Error(`the agent exited early: ${text}`)))
  })
  const { box, id } = JSON.parse(out) as { box: string; id: string }
  process.kill(-agent.pid!, 'SIGKILL')
  await new Promise((r) => agent.once('exit', r))
  const rt = makeRuntime(node)
  await new Promise((r) => setTimeout(r, 300))
  assert.is((await statusOf(rt, id))?.state, 'running')
  if (mounted) {
    await eventually('the line in the mount', () => (existsSync(join(dir, 'out')) ? true : undefined))
    assert.is(readFileSync(join(dir, 'out'), 'utf8'), 'up\n')
    assert.not.ok(existsSync('/shoal-test-data/out'), 'the bind mount stays in the container')
    const r = await rt.exec(id, ['cat', '/shoal-test-data/out'], 5000)
    assert.is(r.output, 'up\n')
  }
  await rt.stopContainer(id, 2000)
  const s = await statusOf(rt, id)
  assert.is(s?.state, 'exited')
  assert.is(s?.exitCode, 143)
  await rt.removeSandbox(box)
})

test('a reused pid is not mistaken for the container', async () => {
  const rt = makeRuntime('reuse-node')
  const sb = sandboxConfig()
  const box = await rt.runSandbox(sb)
  const id = await rt.createContainer(box.id, containerConfig(sb, 'main', 'exit 0'))
  const cdir = join(stateDirOf('reuse-node'), 'pods', sb.podUid, 'containers', 'main-0')
  const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8')
  const startTime = Number(parseProcStartTime(stat))
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  writeFileSync(
    join(cdir, 'state.json'),
    JSON.stringify({ pid: process.pid, startTime: String(startTime + 1), bootId, startedAtMs: Date.now() }),
  )
  const s = await statusOf(rt, id)
  assert.is(s?.state, 'exited')
  assert.is(s?.exitCode, 137)
  assert.is(s?.reason, 'Error')
  assert.match(s?.message ?? '', /without recording/)
  // The same pid with its true start time is running (this test process).
  const rt2 = makeRuntime('reuse-node')
  writeFileSync(
    join(cdir, 'state.json'),
    JSON.stringify({ pid: process.pid, startTime: String(startTime), bootId, startedAtMs: Date.now() }),
  )
  assert.is((await statusOf(rt2, id))?.state, 'running')
  rmSync(join(cdir, 'state.json'))
  await rt2.removeSandbox(box.id)
})

test('every timestamper that works here stamps lines; tail and since select them', async () => {
  const probe = makeRuntime('ts-probe')
  void probe
  for (const kind of TIMESTAMPERS as readonly TimestamperKind[]) {
    const rt = makeRuntime(`ts-${kind}`, { timestamper: kind })
    const sb = sandboxConfig()
    const box = await rt.runSandbox(sb)
    const id = await rt.createContainer(
      box.id,
      containerConfig(sb, 'main', "printf 'a\\n\\nb c\\nno-newline'"),
    )
    try {
      await rt.startContainer(id)
    } catch (err) {
      assert.match((err as Error).message, /does not work on this host/)
      await rt.removeSandbox(box.id)
      continue
    }
    await eventually(`exit (${kind})`, async () =>
      (await statusOf(rt, id))?.state === 'exited' ? true : undefined,
    )
    const stamped = await readAll(await rt.logs(id, { follow: false, timestamps: true }))
    assert.match(stamped, /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z .*\n){4}$/, `${kind}: ${stamped}`)
    assert.is(
      await readAll(await rt.logs(id, { follow: false, timestamps: false })),
      'a\n\nb c\nno-newline\n',
      kind,
    )
    assert.is(
      await readAll(await rt.logs(id, { follow: false, timestamps: false, tailLines: 2 })),
      'b c\nno-newline\n',
    )
    assert.is(await readAll(await rt.logs(id, { follow: false, timestamps: false, tailLines: 0 })), '')
    assert.is(
      await readAll(await rt.logs(id, { follow: false, timestamps: false, sinceMs: Date.now() + 1000 })),
      '',
    )
    // A follow of an exited container answers what is there and ends.
    assert.is((await readAll(await rt.logs(id, { follow: true, timestamps: false }))).split('\n').length, 5)
    await rt.removeSandbox(box.id)
  }
})

test('a log line still being written is left out of a running container’s logs, not cut in half', async () => {
  const node = 'partial-line'
  const rt = makeRuntime(node)
  const sb = sandboxConfig()
  const box = await rt.runSandbox(sb)
  const id = await rt.createContainer(box.id, containerConfig(sb, 'main', "printf 'one\\ntwo\\n'; sleep 30"))
  await rt.startContainer(id)
  const read = (options: { tailLines?: number } = {}) =>
    rt.logs(id, { follow: false, timestamps: false, ...options }).then(readAll)
  await eventually('two lines', async () => ((await read()) === 'one\ntwo\n' ? true : undefined))
  // As the timestamper leaves it between two writes of one line.
  const [uid, name, attempt] = id.split('.')
  const log = join(stateDirOf(node), 'pods', uid!, 'containers', `${name}-${attempt}`, 'log')
  appendFileSync(log, `${Date.now()}000000 thr`)
  assert.is(await read(), 'one\ntwo\n')
  assert.is(await read({ tailLines: 1 }), 'two\n')
  assert.is(await read({ tailLines: 2 }), 'one\ntwo\n')
  appendFileSync(log, 'ee\n')
  assert.is(await read({ tailLines: 1 }), 'three\n')
  await rt.stopContainer(id, 5000)
  await rt.removeSandbox(box.id)
})

test('a mount is refused without root; ignored limits do not fail the create', async () => {
  const rt = makeRuntime('limits-node')
  const sb = sandboxConfig()
  const box = await rt.runSandbox(sb)
  const id = await rt.createContainer(
    box.id,
    containerConfig(sb, 'main', 'exit 0', { limits: { memoryBytes: 1 << 20, nanoCpus: 1e8 } }),
  )
  assert.ok(id)
  try {
    await rt.createContainer(
      box.id,
      containerConfig(sb, 'rel', 'exit 0', {
        mounts: [{ hostPath: base, containerPath: 'rel', readOnly: false }],
      }),
    )
    assert.unreachable()
  } catch (err) {
    assert.is((err as Error).name, 'CreateContainerError')
  }
  await rt.removeSandbox(box.id)
})

test.after(async () => {
  for (const rt of runtimes) await rt.close()
  const nodes = join(base, 'nodes')
  if (existsSync(nodes)) for (const node of readdirSync(nodes)) await killAll(node)
  rmSync(base, { recursive: true, force: true })
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true })
  for (const p of hostMountPoints) {
    try {
      rmdirSync(p)
    } catch {
      // not made by this run after all, or not empty: leave it
    }
  }
})

test.run()

/**
 * The test suite every Runtime passes (FakeRuntime, ProcessRuntime, DockerRuntime): one
 * contract, one set of tests, run by each implementation's test file with its own harness.
 *
 * Programs are described, not written in shell, so that the fake can run them too: the harness
 * turns a `Program` into a command for its runtime (`/bin/sh -c …` for the real ones).
 */

import type { Test } from 'uvu'
import * as assert from 'uvu/assert'
import type { ContainerConfig, ContainerStatus, Runtime, SandboxConfig } from '../../src/agent/runtime.js'

/** What a test container does: print lines, then exit with a code or keep running. */
export interface Program {
  /** Lines printed to stdout at start, in order. */
  print?: string[]
  /** Exit with this code after printing; absent: keep running until stopped. */
  exitCode?: number
  /** Ignore SIGTERM (so only the grace period's SIGKILL stops it). */
  ignoreTerm?: boolean
  /** Append this line to the file at this path (inside a mount), then go on. */
  appendTo?: { path: string; line: string }
  /** Print a line every `everyMs` while running. */
  tick?: { line: string; everyMs: number }
}

/** What each runtime's test file provides. */
export interface RuntimeHarness {
  /** A runtime for node `nodeName` (a second call with the same name = the agent restarted). */
  make(nodeName: string): Promise<Runtime>
  /** The command and args that run `program` in this runtime. */
  command(program: Program): { command: string[]; args?: string[] }
  /** An exec command that prints `output` and exits with `exitCode`. */
  execCommand(output: string, exitCode: number): string[]
  /** An image the runtime has (ignored by runtimes without images). */
  image: string
  /** An image that exists nowhere, when the runtime has images (else undefined: test skipped). */
  missingImage?: string
  /** A host directory for mounts, removed by the harness. */
  scratchDir(): string
  /** Removes whatever the suite left behind on this node. */
  cleanup(nodeName: string): Promise<void>
  /** A /24 for the pod network test (runtimes with `ensurePodNetwork`), free on this host. */
  podSubnet?: string
}

let podCounter = 0

function sandboxConfig(): SandboxConfig {
  podCounter += 1
  const uid = `00000000-0000-4000-8000-${String(process.pid).padStart(6, '0')}${String(podCounter).padStart(6, '0')}`
  return {
    podUid: uid,
    podName: `suite-${podCounter}`,
    namespace: 'default',
    hostname: `suite-${podCounter}`,
    ports: [],
  }
}

function containerConfig(
  h: RuntimeHarness,
  sandbox: SandboxConfig,
  name: string,
  program: Program,
  extra: Partial<ContainerConfig> = {},
): ContainerConfig {
  return {
    podUid: sandbox.podUid,
    podName: sandbox.podName,
    namespace: sandbox.namespace,
    name,
    attempt: 0,
    image: h.image,
    ...h.command(program),
    env: [],
    ports: [],
    mounts: [],
    limits: {},
    ...extra,
  }
}

/** Polls `fn` until it returns a value that is not undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function statusOf(rt: Runtime, id: string): Promise<ContainerStatus | undefined> {
  return (await rt.listContainers()).find((c) => c.id === id)
}

async function exited(rt: Runtime, id: string, timeoutMs = 10_000): Promise<ContainerStatus> {
  return eventually(
    `container ${id} to exit`,
    async () => {
      const s = await statusOf(rt, id)
      return s?.state === 'exited' ? s : undefined
    },
    timeoutMs,
  )
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = ''
  for await (const chunk of stream) text += chunk.toString()
  return text
}

/** Registers the suite's tests on `test`, for the runtime `h` makes. */
export function runtimeSuite(suite: Test | Test['skip'], h: RuntimeHarness, nodeName: string): void {
  // A skipped suite (no Docker on a developer's machine) registers skips and no hooks.
  const test = suite as Test
  const skipping = typeof (suite as Test).after !== 'function'
  const started: Runtime[] = []
  const make = async (name = nodeName): Promise<Runtime> => {
    const rt = await h.make(name)
    started.push(rt)
    return rt
  }

  // Runtimes time things with unref'd timers; keep the process alive while a test awaits them.
  let keepAlive: NodeJS.Timeout | undefined
  if (!skipping) {
    test.before.each(() => {
      keepAlive = setInterval(() => {}, 1000)
    })
    test.after.each(() => clearInterval(keepAlive))
  }
  if (!skipping)
    test.after(async () => {
      for (const rt of started) await rt.close().catch(() => {})
      await h.cleanup(nodeName)
      await h.cleanup(`${nodeName}-other`)
    })

  test('a sandbox runs with an IP, is listed, and is removed', async () => {
    const rt = await make()
    const sb = sandboxConfig()
    const status = await rt.runSandbox(sb)
    assert.is(status.state, 'ready')
    assert.is(status.podUid, sb.podUid)
    assert.ok(/^\d+\.\d+\.\d+\.\d+$/.test(status.ip), `pod IP ${status.ip}`)
    const listed = (await rt.listSandboxes()).find((s) => s.id === status.id)
    assert.ok(listed)
    assert.is(listed.ip, status.ip)
    await rt.stopSandbox(status.id)
    await rt.removeSandbox(status.id)
    await rt.removeSandbox(status.id) // idempotent
    assert.not.ok((await rt.listSandboxes()).some((s) => s.id === status.id))
  })

  test('two sandboxes get different IPs', async () => {
    const rt = await make()
    const a = await rt.runSandbox(sandboxConfig())
    const b = await rt.runSandbox(sandboxConfig())
    assert.is.not(a.ip, b.ip)
    for (const s of [a, b]) {
      await rt.stopSandbox(s.id)
      await rt.removeSandbox(s.id)
    }
  })

  test('with a pod network, sandboxes get IPs of its subnet; ensuring it again changes nothing', async () => {
    const node = `${nodeName}-podnet`
    const rt = await make(node)
    if (!rt.ensurePodNetwork || !h.podSubnet) return // loopback pod IPs: no pod network
    const prefix = h.podSubnet.split('.').slice(0, 3).join('.')
    try {
      await rt.ensurePodNetwork(h.podSubnet)
      const a = await rt.runSandbox(sandboxConfig())
      await rt.ensurePodNetwork(h.podSubnet)
      const b = await rt.runSandbox(sandboxConfig())
      for (const ip of [a.ip, b.ip]) {
        assert.ok(ip.startsWith(`${prefix}.`), `${ip} in ${h.podSubnet}`)
        assert.ok(ip !== `${prefix}.0` && ip !== `${prefix}.1` && ip !== `${prefix}.255`, ip)
      }
      assert.is.not(a.ip, b.ip)
      assert.equal((await rt.listSandboxes()).map((s) => s.ip).sort(), [a.ip, b.ip].sort())
      for (const s of [a, b]) {
        await rt.stopSandbox(s.id)
        await rt.removeSandbox(s.id)
      }
    } finally {
      await h.cleanup(node)
      await rt.removePodNetwork?.()
    }
  })

  test('a container prints, exits 0 as Completed, and its logs stay readable', async () => {
    const rt = await make()
    const sb = sandboxConfig()
    const box = await rt.runSandbox(sb)
    const id = await rt.createContainer(
      box.id,
      containerConfig(h, sb, 'main', { print: ['hello', 'world'], exitCode: 0 }),
    )
    const created = await statusOf(rt, id)
    assert.ok(created)
    assert.is(created.name, 'main')
    assert.is(created.attempt, 0)
    assert.is(created.podUid, sb.podUid)
    await rt.startContainer(id)
    const s = await exited(rt, id)
    assert.is(s.exitCode, 0)
    assert.is(s.reason, 'Completed')
    assert.ok(s.startedAtMs !== undefined && s.finishedAtMs !== undefined && s.finishedAtMs >= s.startedAtMs)
    const logs = await readAll(await rt.logs(id, { follow: false, timestamps: false }))
    assert.is(logs, 'hello\nworld\n')
    const tail = await readAll(await rt.logs(id, { follow: false, timestamps: false, tailLines: 1 }))
    assert.is(tail, 'world\n')
    const stamped = await readAll(await rt.logs(id, { follow: false, timestamps: true }))
    assert.match(stamped, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z hello\n\d{4}-.*Z world\n$/)
    await rt.removeContainer(id)
    await rt.removeContainer(id) // idempotent
    assert.not.ok(await statusOf(rt, id))
    await rt.stopSandbox(box.id)
    await rt.removeSandbox(box.id)
  })

  test('a failing container exits with its code as Error, and the runtime says so', async () => {
    const rt = await make()
    const events: string[] = []
    const unsubscribe = rt.onContainerEvent((id) => events.push(id))
    const sb = sandboxConfig()
    const box = await rt.runSandbox(sb)
    const id = await rt.createContainer(box.id, containerConfig(h, sb, 'main', { exitCode: 3 }))
    await rt.startContainer(id)
    const s = await exited(rt, id)
    assert.is(s.exitCode, 3)
    assert.is(s.reason, 'Error')
    await eventually('an event for the exit', () => (events.includes(id) ? true : undefined))
    unsubscribe()
    await rt.stopSandbox(box.id)
    await rt.removeSandbox(box.id)
  })

  test('stop: SIGTERM ends a running container; one that ignores it is killed after the grace period', async () => {
    const rt = await make()
    const sb = sandboxConfig()
    const box = await rt.runSandbox(sb)
    const polite = await rt.createContainer(box.id, containerConfig(h, sb, 'polite', { print: ['up'] }))
    const stubborn = await rt.createContainer(
      box.id,
      containerConfig(h, sb, 'stubborn', { ignoreTerm: true }),
    )
    await rt.startContainer(polite)
    await rt.startContainer(stubborn)
    await eventually('both running', async () => {
      const all = await rt.listContainers()
      return all.filter((c) => (c.id === polite || c.id === stubborn) && c.state === 'running').length === 2
        ? true
        : undefined
    })
    // What proves SIGTERM ended it is its exit code (143, not the grace period's SIGKILL 137)
    // and a stop well short of a long grace period; how long a stop takes on a loaded CI
    // machine (the supervisor noticing the exit) is not what this test is about.
    const t0 = Date.now()
    await rt.stopContainer(polite, 30_000)
    assert.ok(Date.now() - t0 < 15_000, 'SIGTERM should end it well before the grace period')
    const p = await exited(rt, polite)
    assert.is(p.exitCode, 143)
    const t1 = Date.now()
    await rt.stopContainer(stubborn, 1000)
    assert.ok(Date.now() - t1 >= 900, 'the grace period should be waited out')
    const s = await exited(rt, stubborn)
    assert.is(s.exitCode, 137)
    await rt.stopContainer(stubborn, 1000) // idempotent
    await rt.stopSandbox(box.id)
    await rt.removeSandbox(box.id)
  })

  test('exec runs in a running container and answers its exit code and output', async () => {
    const rt = await make()
    const sb = sandboxConfig()
    const box = await rt.runSandbox(sb)
    const id = await rt.createContainer(box.id, containerConfig(h, sb, 'main', {}))
    await rt.startContainer(id)
    const ok = await rt.exec(id, h.execCommand('fine', 0), 5000)
    assert.is(ok.exitCode, 0)
    assert.match(ok.output, /fine/)
    const bad = await rt.exec(id, h.execCommand('broken', 4), 5000)
    assert.is(bad.exitCode, 4)
    await rt.stopContainer(id, 1000)
    await rt.stopSandbox(box.id)
    await rt.removeSandbox(box.id)
  })

  test('logs follow new lines until aborted', async () => {
    const rt = await make()
    const sb = sandboxConfig()
    const box = await rt.runSandbox(sb)
    const id = await rt.createContainer(
      box.id,
      containerConfig(h, sb, 'main', { tick: { line: 'tick', everyMs: 100 } }),
    )
    await rt.startContainer(id)
    const abort = new AbortController()
    const stream = await rt.logs(id, { follow: true, timestamps: false, signal: abort.signal })
    let text = ''
    const done = (async () => {
      for await (const chunk of stream) text += chunk.toString()
    })()
    await eventually('three followed lines', () =>
      (text.match(/tick\n/g) ?? []).length >= 3 ? true : undefined,
    )
    abort.abort()
    await done
    await rt.stopContainer(id, 1000)
    await rt.stopSandbox(box.id)
    await rt.removeSandbox(box.id)
  })

  test('two containers of one pod share a mounted directory and the pod IP', async () => {
    const rt = await make()
    const sb = sandboxConfig()
    const box = await rt.runSandbox(sb)
    const dir = h.scratchDir()
    const mounts = [{ hostPath: dir, containerPath: '/shared', readOnly: false }]
    const a = await rt.createContainer(
      box.id,
      containerConfig(
        h,
        sb,
        'a',
        { appendTo: { path: '/shared/out', line: 'from-a' }, exitCode: 0 },
        { mounts },
      ),
    )
    const b = await rt.createContainer(
      box.id,
      containerConfig(
        h,
        sb,
        'b',
        { appendTo: { path: '/shared/out', line: 'from-b' }, exitCode: 0 },
        { mounts },
      ),
    )
    await rt.startContainer(a)
    await rt.startContainer(b)
    await exited(rt, a)
    await exited(rt, b)
    const { readFileSync } = await import('node:fs')
    const lines = readFileSync(`${dir}/out`, 'utf8').trim().split('\n').sort()
    assert.equal(lines, ['from-a', 'from-b'])
    const listed = (await rt.listSandboxes()).find((s) => s.id === box.id)
    assert.is(listed?.ip, box.ip)
    await rt.stopSandbox(box.id)
    await rt.removeSandbox(box.id)
  })

  test('a restarted runtime adopts what the previous one made; another node does not see it', async () => {
    const first = await make()
    const sb = sandboxConfig()
    const box = await first.runSandbox(sb)
    const id = await first.createContainer(
      box.id,
      containerConfig(h, sb, 'main', { print: ['before'] }, { attempt: 2 }),
    )
    await first.startContainer(id)
    await eventually('running', async () =>
      (await statusOf(first, id))?.state === 'running' ? true : undefined,
    )
    await first.close()
    const second = await make()
    const adopted = await statusOf(second, id)
    assert.ok(adopted, 'the container is listed by the new runtime')
    assert.is(adopted.state, 'running')
    assert.is(adopted.attempt, 2)
    assert.is(adopted.name, 'main')
    assert.ok(
      (await second.listSandboxes()).some((s) => s.id === box.id && s.state === 'ready' && s.ip === box.ip),
    )
    const other = await make(`${nodeName}-other`)
    assert.not.ok((await other.listContainers()).some((c) => c.id === id))
    assert.not.ok((await other.listSandboxes()).some((s) => s.id === box.id))
    // A grace long enough for a loaded machine: the point is that SIGTERM ends it (143).
    await second.stopContainer(id, 5000)
    const s = await exited(second, id)
    assert.is(s.exitCode, 143)
    await second.stopSandbox(box.id)
    await second.removeSandbox(box.id)
  })

  test('removing a sandbox removes its containers', async () => {
    const rt = await make()
    const sb = sandboxConfig()
    const box = await rt.runSandbox(sb)
    const id = await rt.createContainer(box.id, containerConfig(h, sb, 'main', {}))
    await rt.startContainer(id)
    await rt.stopContainer(id, 1000)
    await rt.stopSandbox(box.id)
    await rt.removeSandbox(box.id)
    assert.not.ok(await statusOf(rt, id))
  })

  if (h.missingImage) {
    const missing = h.missingImage
    test('a missing image is an ImagePullError', async () => {
      const rt = await make()
      try {
        await rt.ensureImage(missing, 'IfNotPresent')
        assert.unreachable('should have thrown')
      } catch (err) {
        assert.is((err as Error).name, 'ImagePullError')
      }
      const present = await rt.ensureImage(h.image, 'IfNotPresent')
      assert.ok(present.imageId.length > 0)
    })
  }
}

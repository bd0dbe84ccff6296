/**
 * End-to-end: the `shoal` CLI against real peers — cluster status (table and JSON), leadership
 * transfer, removal — plus mDNS discovery without --join, autopilot removing a dead peer, and
 * the exit codes of bad usage.
 */

import '../../src/util/polyfill.js'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { AgentCluster } from './support/agents.js'

const test = suite('e2e shoal CLI and membership')
const shoalBin = fileURLToPath(new URL('../../../bin/shoal.js', import.meta.url))

function shoal(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [shoalBin, ...args], { encoding: 'utf8', timeout: 30_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

test('peers found by mDNS alone form a cluster; status, transfer-leadership and remove work from the CLI', async () => {
  const c = new AgentCluster(31, 3)
  try {
    // libp2p's mDNS logs (queries sent and answered, peers found, socket warnings), printed if
    // no leader comes. They showed this test's old failure: every peer's mDNS found the others,
    // but before the cluster manager listened, and libp2p announces a peer only once
    // (discovered-peers.ts).
    const env = { DEBUG: 'libp2p:mdns,libp2p:mdns:error,libp2p:mdns:trace' }
    for (const i of [1, 2, 3]) c.start(i, { join: [], extraArgs: ['--mdns'], env })
    const leader = await c.leader([1, 2, 3], 30_000).catch((err: Error) => {
      const mdnsLines = (i: number) =>
        c
          .log(i)
          .split('\n')
          .filter((l) => l.includes('libp2p:mdns') || l.includes('peer found by discovery'))
          .slice(-30)
          .join('\n')
      throw new Error(
        `${err.message}\n${[1, 2, 3].map((i) => `--- peer-${i} mDNS\n${mdnsLines(i)}`).join('\n')}`,
      )
    })

    const json = shoal(['cluster', 'status', '-o', 'json', '--data-dir', c.spec(1).dataDir])
    assert.is(json.code, 0, json.stderr)
    const status = JSON.parse(json.stdout) as {
      leader: { name: string; id: string }
      term: number
      commitIndex: number
      appliedIndex: number
      members: {
        name: string
        id: string
        suffrage: string
        reachable: boolean
        lastContactMs: number | null
      }[]
    }
    assert.is(status.leader.name, c.spec(leader).name)
    assert.ok(status.term >= 1 && status.commitIndex >= 1 && status.appliedIndex >= 1)
    assert.is(status.members.length, 3)
    assert.ok(status.members.every((m) => m.suffrage === 'voter' && m.reachable && m.id.startsWith('12D3')))
    assert.equal(Object.keys(status.members[0]!).sort(), [
      'id',
      'lastContactMs',
      'name',
      'reachable',
      'suffrage',
    ])

    const table = shoal(['cluster', 'status', '--data-dir', c.spec(2).dataDir])
    assert.is(table.code, 0, table.stderr)
    assert.match(table.stdout, new RegExp(`leader: ${c.spec(leader).name}`))
    assert.is(
      table.stdout
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('peer-')).length,
      3,
    )

    const target = [1, 2, 3].find((i) => i !== leader)!
    const moved = shoal([
      'cluster',
      'transfer-leadership',
      c.spec(target).name,
      '--data-dir',
      c.spec(target).dataDir,
    ])
    assert.is(moved.code, 0, moved.stderr)
    assert.is(await c.leader([1, 2, 3]), target)

    const victim = [1, 2, 3].find((i) => i !== target)!
    await c.stop(victim, 'SIGKILL')
    const removed = shoal(['cluster', 'remove', c.spec(victim).name, '--data-dir', c.spec(target).dataDir])
    assert.is(removed.code, 0, removed.stderr)
    await c.until('2 members', async () => ((await c.status(target))?.members.length === 2 ? true : null))
    const unknown = shoal(['cluster', 'remove', 'no-such-peer', '--data-dir', c.spec(target).dataDir])
    assert.is(unknown.code, 1)
    assert.match(unknown.stderr, /no member named no-such-peer/)
  } finally {
    await c.destroy()
  }
})

test('autopilot removes a peer dead longer than --remove-dead-after', async () => {
  const c = new AgentCluster(32, 4)
  try {
    for (const i of [1, 2, 3, 4]) c.start(i, { bootstrapExpect: 3, extraArgs: ['--remove-dead-after', '3'] })
    await c.until('4 members', async () => ((await c.status(1))?.members.length === 4 ? true : null), 30_000)
    const leader = await c.leader([1, 2, 3, 4])
    const victim = [1, 2, 3, 4].find((i) => i !== leader)!
    await c.stop(victim, 'SIGKILL')
    await c.until(
      'the dead peer removed',
      async () => {
        const s = await c.status(leader)
        return s && s.members.length === 3 && !s.members.some((m) => m.name === c.spec(victim).name)
          ? s
          : null
      },
      20_000,
    )
  } finally {
    await c.destroy()
  }
})

test('bad usage exits 2 with one line; an unreachable server exits 1', () => {
  const badOutput = shoal(['cluster', 'status', '-o', 'xml', '--server', 'http://127.0.0.1:1'])
  assert.is(badOutput.code, 2)
  assert.match(badOutput.stderr, /-o xml: expected table or json/)
  const unreachable = shoal(['cluster', 'status', '--server', 'http://127.0.0.1:1'])
  assert.is(unreachable.code, 1)
  assert.match(unreachable.stderr, /cannot reach http:\/\/127\.0\.0\.1:1/)
  const badRuntime = shoal(['agent', '--runtime', 'nope'])
  assert.is(badRuntime.code, 2)
  const badApi = shoal(['agent', '--api', 'nonsense', '--data-dir', '/tmp/shoal-e2e-bad-api'])
  assert.is(badApi.code, 2)
  assert.match(badApi.stderr, /--api nonsense: expected host:port/)
  const unknown = shoal(['no-such-command'])
  assert.is(unknown.code, 2)
  const version = shoal(['--version'])
  assert.is(version.code, 0)
  assert.match(version.stdout, /^\d+\.\d+\.\d+/)
})

test.run()

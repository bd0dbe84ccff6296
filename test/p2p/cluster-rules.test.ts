import '../../src/util/polyfill.js'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  type AutopilotServer,
  defaultAutopilotConfig,
  planAutopilot,
  targetVoters,
} from '../../src/p2p/autopilot.js'
import { decideFormation, mayAcceptProposal } from '../../src/p2p/formation.js'
import { parseJoinAddress } from '../../src/p2p/host.js'
import { isPeerInfo, type PeerInfo, PeerTable } from '../../src/p2p/peer-table.js'
import { loadClusterSecret, parseClusterSecret } from '../../src/p2p/secret.js'

const test = suite('p2p cluster rules')

const peer = (id: string, member = false): PeerInfo => ({
  id,
  name: `n-${id}`,
  address: `/ip4/127.0.0.1/tcp/1/p2p/${id}`,
  api: 'http://x',
  member,
  bootstrapExpect: 3,
})
const row = (p: PeerInfo) => ({ info: p, lastSeenMs: 1 })

test('formation: wait for N, the lowest id of the lowest N proposes, members mean join', () => {
  assert.is(decideFormation(peer('b'), [row(peer('c'))], 3).action, 'wait')
  const d = decideFormation(peer('b'), [row(peer('c')), row(peer('d')), row(peer('e'))], 3)
  assert.equal(d, {
    action: 'propose',
    servers: ['b', 'c', 'd'].map((id) => ({ id, address: peer(id).address })),
  })
  // Someone lower exists: it coordinates, we wait.
  assert.is(decideFormation(peer('b'), [row(peer('a')), row(peer('c'))], 3).action, 'wait')
  // Any member around: join it, whatever the count.
  const j = decideFormation(peer('b'), [row(peer('a', true)), row(peer('c')), row(peer('d'))], 3)
  assert.is(j.action, 'join')
  // No --bootstrap-expect: never propose.
  assert.is(decideFormation(peer('a'), [row(peer('b')), row(peer('c'))], 0).action, 'wait')
  // Single-machine cluster.
  assert.is(decideFormation(peer('z'), [], 1).action, 'propose')
})

test('formation: every start order of N fresh peers that see each other picks one set', () => {
  const ids = ['p1', 'p2', 'p3', 'p4']
  const proposers = new Set<string>()
  for (const self of ids) {
    const others = ids.filter((x) => x !== self).map((x) => row(peer(x)))
    const d = decideFormation(peer(self), others, 3)
    if (d.action === 'propose') proposers.add(JSON.stringify(d.servers))
  }
  assert.is(proposers.size, 1)
})

test('a bootstrap lock admits only its own proposal', () => {
  assert.ok(mayAcceptProposal(null, 'x'))
  const lock = { proposal: 'x', coordinator: 'a', coordinatorAddress: '/a', servers: [] }
  assert.ok(mayAcceptProposal(lock, 'x'))
  assert.not.ok(mayAcceptProposal(lock, 'y'))
})

test('autopilot: target voters, promotion, replacement of a dead voter, removal', () => {
  assert.equal([1, 2, 3, 4, 5, 6, 9].map(targetVoters), [1, 2, 3, 3, 5, 5, 5])
  const cfg = defaultAutopilotConfig()
  const s = (
    id: string,
    suffrage: 'voter' | 'nonvoter',
    lastContactAgoMs = 10,
    lagEntries = 0,
  ): AutopilotServer => ({
    id,
    suffrage,
    lastContactAgoMs,
    lagEntries,
  })
  // Healthy 3 voters + a non-voter: nothing to do.
  assert.is(
    planAutopilot('a', [s('a', 'voter'), s('b', 'voter'), s('c', 'voter'), s('d', 'nonvoter')], cfg),
    null,
  )
  // Two voters and a caught-up non-voter: promote it.
  assert.equal(
    planAutopilot('a', [s('a', 'voter'), s('b', 'voter'), s('d', 'nonvoter')], cfg)?.action,
    'promote',
  )
  // A lagging non-voter waits.
  assert.is(planAutopilot('a', [s('a', 'voter'), s('b', 'voter'), s('d', 'nonvoter', 10, 10_000)], cfg), null)
  // A dead voter with a healthy stand-in: promote the stand-in first…
  const dead = [s('a', 'voter'), s('b', 'voter'), s('c', 'voter', 5000), s('d', 'nonvoter')]
  assert.equal(planAutopilot('a', dead, cfg), {
    action: 'promote',
    id: 'd',
    reason: 'replacing dead voter c',
  })
  // …then demote the dead voter.
  const after = [s('a', 'voter'), s('b', 'voter'), s('c', 'voter', 5000), s('d', 'voter')]
  assert.equal(planAutopilot('a', after, cfg)?.action, 'demote')
  assert.equal(planAutopilot('a', after, cfg)?.id, 'c')
  // Gone for longer than removeDeadAfterMs: removed. The leader never is.
  const gone = [
    s('a', 'voter'),
    s('b', 'voter'),
    s('c', 'voter'),
    s('e', 'nonvoter', cfg.removeDeadAfterMs + 1),
  ]
  assert.equal(planAutopilot('a', gone, cfg), {
    action: 'remove',
    id: 'e',
    reason: `silent for ${Math.round((cfg.removeDeadAfterMs + 1) / 1000)} s`,
  })
  assert.is(planAutopilot('a', [s('a', 'voter', cfg.removeDeadAfterMs * 2)], cfg), null)
  // Five servers want five voters.
  const five = [s('a', 'voter'), s('b', 'voter'), s('c', 'voter'), s('d', 'nonvoter'), s('e', 'nonvoter')]
  assert.equal(planAutopilot('a', five, cfg)?.action, 'promote')
})

test('peer table: first-hand data wins, bounded size, alive window', () => {
  const t = new PeerTable('self', 2)
  t.heardOf(peer('a'))
  t.seen({ ...peer('a'), name: 'real' }, 100)
  t.heardOf({ ...peer('a'), name: 'rumour' })
  assert.is(t.get('a')?.info.name, 'real')
  t.seen(peer('b'), 100)
  t.seen(peer('c'), 100)
  assert.is(t.all().length, 2, 'bounded')
  t.seen(peer('self'), 100)
  assert.not.ok(t.get('self'))
  assert.is(t.alive(1000, 2000).length, 2)
  assert.is(t.alive(5000, 2000).length, 0)
  assert.not.ok(isPeerInfo({ id: 'x' }))
  assert.ok(isPeerInfo(peer('x')))
})

test('join addresses: host:port, IPv6, DNS names and multiaddrs; junk is refused', () => {
  assert.is(parseJoinAddress('127.0.1.1:7400').toString(), '/ip4/127.0.1.1/tcp/7400')
  assert.is(parseJoinAddress('[::1]:7400').toString(), '/ip6/::1/tcp/7400')
  assert.is(parseJoinAddress('peer1.example:7400').toString(), '/dns/peer1.example/tcp/7400')
  assert.is(parseJoinAddress('/ip4/10.0.0.1/tcp/7400').toString(), '/ip4/10.0.0.1/tcp/7400')
  assert.throws(() => parseJoinAddress('nonsense'), /expected host:port/)
  assert.throws(() => parseJoinAddress('1.2.3.4:99999'), /bad port/)
  assert.throws(() => parseJoinAddress('/nope/1'), /multiaddr/)
})

test('cluster secret: created 0600 when allowed, refused when missing or malformed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-secret-'))
  try {
    const path = join(dir, 'secret')
    assert.throws(() => loadClusterSecret(path, false), /no such cluster secret/)
    const made = loadClusterSecret(path, true)
    assert.ok(made.created)
    assert.is(statSync(path).mode & 0o777, 0o600)
    const again = loadClusterSecret(path, false)
    assert.not.ok(again.created)
    assert.equal(again.secret, made.secret)
    writeFileSync(join(dir, 'bad'), 'hello')
    assert.throws(() => loadClusterSecret(join(dir, 'bad'), false), /not a cluster secret/)
    assert.throws(
      () => parseClusterSecret(new TextEncoder().encode('/key/swarm/psk/1.0.0/\n/base16/\nxyz\n'), 's'),
      /64 hexadecimal/,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()

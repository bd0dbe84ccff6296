/**
 * End-to-end: disaster recovery. Save a snapshot from a live 3-peer cluster, destroy every
 * data dir, restore into a new single-peer cluster: every object is back with its uid and
 * resourceVersion, and a new peer joins it and gets them too.
 */

import '../../src/util/polyfill.js'
import { spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { AgentCluster } from './support/agents.js'

const test = suite('e2e snapshot save and restore')
const shoalBin = fileURLToPath(new URL('../../../bin/shoal.js', import.meta.url))

function shoal(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [shoalBin, ...args], { encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

interface Item {
  metadata: { name: string; uid: string; resourceVersion: string; namespace?: string }
}

test('save from any peer, destroy everything, restore: every object is back; a new peer joins', async () => {
  const c = new AgentCluster(36, 3)
  try {
    for (const i of [1, 2, 3]) c.start(i)
    await c.leader([1, 2, 3], 30_000)
    const ns = await c.request(
      1,
      'POST',
      '/api/v1/namespaces',
      JSON.stringify({ metadata: { name: 'team' } }),
    )
    assert.is(ns?.status, 201, ns?.body)
    for (let k = 0; k < 5; k++) {
      const r = await c.request(
        1 + (k % 3),
        'POST',
        '/api/v1/namespaces/team/configmaps',
        JSON.stringify({ metadata: { name: `cm-${k}` }, data: { k: String(k) } }),
      )
      assert.is(r?.status, 201, r?.body)
    }
    const before = JSON.parse((await c.request(2, 'GET', '/api/v1/namespaces/team/configmaps'))!.body) as {
      items: Item[]
    }
    assert.is(before.items.length, 5)

    const file = join(c.dir, 'backup.snap')
    const saved = shoal(['snapshot', 'save', file, '--data-dir', c.spec(3).dataDir])
    assert.is(saved.code, 0, saved.stderr)
    assert.match(saved.stdout, /saved \d+ objects/)

    for (const i of [1, 2, 3]) await c.stop(i, 'SIGKILL')
    for (const i of [1, 2, 3]) rmSync(c.spec(i).dataDir, { recursive: true, force: true })

    const bad = shoal(['snapshot', 'restore', c.secretFile, '--data-dir', c.spec(1).dataDir])
    assert.is(bad.code, 2, 'a file that is not a snapshot is refused')
    const restored = shoal(['snapshot', 'restore', file, '--data-dir', c.spec(1).dataDir])
    assert.is(restored.code, 0, restored.stderr)
    const again = shoal(['snapshot', 'restore', file, '--data-dir', c.spec(1).dataDir])
    assert.is(again.code, 2, 'never into a data dir that holds state')

    c.start(1, { bootstrapExpect: 1, join: [] })
    await c.leader([1], 30_000)
    const after = JSON.parse((await c.request(1, 'GET', '/api/v1/namespaces/team/configmaps'))!.body) as {
      items: Item[]
    }
    assert.equal(
      after.items.map((i) => [i.metadata.name, i.metadata.uid, i.metadata.resourceVersion]),
      before.items.map((i) => [i.metadata.name, i.metadata.uid, i.metadata.resourceVersion]),
    )
    // Writes go on from there, and a new peer joins the restored cluster.
    const write = await c.request(
      1,
      'POST',
      '/api/v1/namespaces/team/configmaps',
      JSON.stringify({ metadata: { name: 'new' }, data: {} }),
    )
    assert.is(write?.status, 201, write?.body)
    c.start(2, { bootstrapExpect: 1, join: [1] })
    await c.until('the new peer to hold the objects', async () => {
      const r = await c.request(2, 'GET', '/api/v1/namespaces/team/configmaps?resourceVersion=0')
      return r?.status === 200 && (JSON.parse(r.body) as { items: Item[] }).items.length === 6
    })
  } finally {
    await c.destroy()
  }
})

test.run()

import '../../src/util/polyfill.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { openRaftStorage } from '../../src/daemon/raft-storage.js'
import { LevelStore } from '../../src/raft/level-store.js'
import { LogType } from '../../src/raft/log.js'
import { StableKeys } from '../../src/raft/stable.js'
import { silentLogger } from '../../src/util/logger.js'

const entry = (index: number) => ({ index, term: 3, type: LogType.Command, data: Uint8Array.of(index % 256) })

test('a log kept in LevelDB by an earlier version moves into the WAL, once; the stable state stays', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-raft-storage-'))
  try {
    const old = await LevelStore.open(join(dir, 'raft'))
    await old.storeLogs(Array.from({ length: 2500 }, (_, i) => entry(i + 101)))
    await old.setUint64(StableKeys.currentTerm, 3)
    await old.close()

    const storage = await openRaftStorage(dir, silentLogger())
    assert.equal([await storage.log.firstIndex(), await storage.log.lastIndex()], [101, 2600])
    assert.equal(await storage.log.getLog(2600), entry(2600))
    assert.equal([await storage.stable.firstIndex(), await storage.stable.lastIndex()], [0, 0])
    assert.is(await storage.stable.getUint64(StableKeys.currentTerm), 3)
    await storage.log.deleteRange(2501, Number.MAX_SAFE_INTEGER)
    await storage.close()

    const again = await openRaftStorage(dir, silentLogger())
    assert.equal([await again.log.firstIndex(), await again.log.lastIndex()], [101, 2500])
    await again.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()

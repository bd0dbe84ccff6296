/**
 * Raft's storage in a peer's data dir: the log in a write-ahead log of its own
 * (`raft-log/`, WalLogStore) and the stable state — term and vote — in LevelDB (`raft/`,
 * LevelStore). A log an earlier version kept in LevelDB is moved into the WAL once, before
 * Raft starts.
 */

import { join } from 'node:path'
import { LevelStore } from '../raft/level-store.js'
import type { LogEntry } from '../raft/log.js'
import { WalLogStore } from '../raft/wal-log-store.js'
import type { Logger } from '../util/logger.js'

export interface RaftStorage {
  log: WalLogStore
  stable: LevelStore
  close(): Promise<void>
}

const MOVE_SLICE = 1024

export async function openRaftStorage(dataDir: string, logger: Logger): Promise<RaftStorage> {
  const stable = await LevelStore.open(join(dataDir, 'raft'))
  let log: WalLogStore
  try {
    log = await WalLogStore.open(join(dataDir, 'raft-log'))
  } catch (err) {
    await stable.close()
    throw err
  }
  try {
    await moveLevelLog(stable, log, logger)
  } catch (err) {
    await log.close()
    await stable.close()
    throw err
  }
  return {
    log,
    stable,
    async close() {
      await log.close()
      await stable.close()
    },
  }
}

/**
 * Copies every entry of the LevelDB log into the WAL, then deletes them from LevelDB. A crash
 * in between copies again next time (the WAL's later copy of an index replaces the earlier).
 */
async function moveLevelLog(from: LevelStore, to: WalLogStore, logger: Logger): Promise<void> {
  const first = await from.firstIndex()
  const last = await from.lastIndex()
  if (last === 0) return
  let moved = 0
  for (let lo = first; lo <= last; lo += MOVE_SLICE) {
    const hi = Math.min(last, lo + MOVE_SLICE - 1)
    let slice: LogEntry[] = await from.getLogs(lo, hi)
    if (slice.length < hi - lo + 1) {
      // A gap: take what there is, index by index.
      slice = []
      for (let i = lo; i <= hi; i++) {
        const entry = await from.getLog(i)
        if (entry) slice.push(entry)
      }
    }
    await to.storeLogs(slice)
    moved += slice.length
  }
  await from.deleteRange(first, last)
  logger.info({ entries: moved, first, last }, 'raft log moved from LevelDB into its write-ahead log')
}

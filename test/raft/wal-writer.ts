/**
 * A child process for the WAL's crash test: appends batches of entries to the WalLogStore in
 * DIR, from the store's last index on, and prints each acknowledged last index on its own
 * line, until it is killed. Usage: `node wal-writer.js DIR`.
 */

import '../../src/util/polyfill.js'
import { LogType } from '../../src/raft/log.js'
import { WalLogStore } from '../../src/raft/wal-log-store.js'

const dir = process.argv[2]!
const wal = await WalLogStore.open(dir, { segmentBytes: 64 * 1024 })
let next = (await wal.lastIndex()) + 1
for (;;) {
  const size = 1 + (next % 7)
  const batch = Array.from({ length: size }, (_, i) => ({
    index: next + i,
    term: 1,
    type: LogType.Command,
    data: new Uint8Array(50 + ((next + i) % 300)).fill((next + i) % 256),
  }))
  // Every other batch through the thread pool, as a busy leader writes them.
  await wal.storeLogs(batch, { offThread: size % 2 === 0 })
  next += size
  process.stdout.write(`${next - 1}\n`)
}

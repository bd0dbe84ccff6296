/**
 * BatchingStoreClient: a StoreClient that gathers the writes proposed within one turn of the
 * event loop and sends them as one `batch` command — one Raft entry, one round trip to the
 * leader — each caller getting its own command's result. For writers that issue many small
 * independent writes back to back (a leader's scheduler binding hundreds of pods a second).
 *
 * A command that is itself a batch goes out alone, as it is. A failure of the whole write (no
 * leader, leadership lost) rejects every caller of that batch, as it would have each write.
 */

import { ObjectStore, type StoreCommand, type StoreResult } from './object-store.js'
import { proposeBatch, type StoreClient } from './store-client.js'

interface Waiting {
  command: StoreCommand
  resolve: (r: StoreResult) => void
  reject: (err: unknown) => void
}

export class BatchingStoreClient implements StoreClient {
  private queue: Waiting[] = []
  private flushScheduled = false

  constructor(
    private readonly inner: StoreClient,
    private readonly maxBatch = 256,
  ) {}

  get store(): ObjectStore {
    return this.inner.store
  }

  waitCaughtUp(): Promise<void> {
    return this.inner.waitCaughtUp()
  }

  propose(command: StoreCommand): Promise<StoreResult> {
    if (command.op === 'batch') return this.inner.propose(command)
    return new Promise((resolve, reject) => {
      this.queue.push({ command, resolve, reject })
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(() => this.flush())
      }
    })
  }

  private flush(): void {
    this.flushScheduled = false
    const waiting = this.queue
    this.queue = []
    const size = Math.min(this.maxBatch, ObjectStore.MAX_BATCH)
    for (let i = 0; i < waiting.length; i += size) {
      const batch = waiting.slice(i, i + size)
      proposeBatch(
        this.inner,
        batch.map((w) => w.command),
      ).then(
        (results) => {
          batch.forEach((w, k) => {
            w.resolve(results[k]!)
          })
        },
        (err: unknown) => {
          for (const w of batch) w.reject(err)
        },
      )
    }
  }
}

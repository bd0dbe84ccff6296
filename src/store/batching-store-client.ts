/**
 * BatchingStoreClient: a StoreClient that gathers the writes proposed within one turn of the
 * event loop and sends them as one `batch` command — one Raft entry, one round trip to the
 * leader — each caller getting its own command's result. For writers that issue many small
 * independent writes back to back (a leader's scheduler binding hundreds of pods a second).
 *
 * A command that is itself a batch goes out alone, as it is. A failure of the whole write (no
 * leader, leadership lost) rejects every caller of that batch, as it would have each write.
 */

import { StoreError } from './errors.js'
import { ObjectStore, type StoreCommand, type StoreResult } from './object-store.js'
import type { StoreClient } from './store-client.js'

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
    for (let i = 0; i < waiting.length; i += Math.min(this.maxBatch, ObjectStore.MAX_BATCH)) {
      const batch = waiting.slice(i, i + Math.min(this.maxBatch, ObjectStore.MAX_BATCH))
      if (batch.length === 1) {
        const w = batch[0]!
        this.inner.propose(w.command).then(w.resolve, w.reject)
        continue
      }
      this.inner.propose({ op: 'batch', commands: batch.map((w) => w.command) }).then(
        (r) => {
          const results = r.ok ? (r.results ?? []) : []
          batch.forEach((w, k) => {
            w.resolve(r.ok ? (results[k] ?? missing()) : r)
          })
        },
        (err: unknown) => {
          for (const w of batch) w.reject(err)
        },
      )
    }
  }
}

function missing(): StoreResult {
  return {
    ok: false,
    status: new StoreError(500, 'InternalError', 'the batch answered no result for this write').toStatus(),
  }
}

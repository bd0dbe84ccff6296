/**
 * StoreClient: what the parts that run inside a peer (the node agent, the controllers) need of
 * the replicated store — this peer's copy to read and watch, and a way to propose writes that
 * reach the leader. The daemon gives them one backed by Raft; tests give them
 * `LocalStoreClient`, an ObjectStore that applies writes at once.
 */

import { type LogEntry, LogType } from '../raft/log.js'
import { StoreError } from './errors.js'
import type { ObjectStore, StoreCommand, StoreResult } from './object-store.js'
import type { KubeObject } from './types.js'
import type { WatchEvent } from './watch-hub.js'

export interface StoreClient {
  /** This peer's copy (local reads: may lag the leader by a little). */
  readonly store: ObjectStore
  /** Proposes a write; answers once it is committed and applied on this peer. */
  propose(command: StoreCommand): Promise<StoreResult>
  /**
   * Resolves once this peer's copy holds everything the cluster had committed when it was
   * called (a read index); throws when that cannot be learnt now (no leader).
   */
  waitCaughtUp(): Promise<void>
}

/** Watches `resource` from now on (no replay): every later change that `filter` lets through. */
export function watchFromNow(
  store: ObjectStore,
  resource: string,
  filter: (obj: KubeObject) => boolean,
  listener: (event: WatchEvent) => void,
): () => void {
  const w = store.hub.watch(resource, store.hub.currentResourceVersion(), filter, listener)
  return () => w.cancel()
}

/**
 * Proposes `commands` as one `batch` entry and answers each command's own result (the batch's
 * error for each, when it was refused as a whole). A single command goes alone unless `quiet`
 * is asked (a quiet batch answers no objects: writers that only need to know it worked).
 */
export async function proposeBatch(
  client: StoreClient,
  commands: StoreCommand[],
  options: { quiet?: boolean } = {},
): Promise<StoreResult[]> {
  if (commands.length === 1 && !options.quiet) return [await client.propose(commands[0]!)]
  const r = await client.propose({ op: 'batch', commands, ...(options.quiet ? { quiet: true } : {}) })
  if (!r.ok) return commands.map(() => r)
  return commands.map((_, i) => r.results?.[i] ?? noResult())
}

function noResult(): StoreResult {
  return {
    ok: false,
    status: new StoreError(500, 'InternalError', 'the batch answered no result for this write').toStatus(),
  }
}

/** A StoreClient over an ObjectStore alone: each proposal is applied at once (tests, simulations). */
export class LocalStoreClient implements StoreClient {
  private index: number
  /** Proposals made so far (tests count them). */
  proposals = 0
  /** Fails the next N proposals with this error (tests of retries). */
  failNext: { count: number; error: Error } | null = null

  constructor(
    readonly store: ObjectStore,
    private readonly now: () => number = Date.now,
  ) {
    this.index = store.hub.currentResourceVersion()
  }

  async waitCaughtUp(): Promise<void> {}

  async propose(command: StoreCommand): Promise<StoreResult> {
    this.proposals += 1
    if (this.failNext && this.failNext.count > 0) {
      this.failNext.count -= 1
      throw this.failNext.error
    }
    this.index = Math.max(this.index, this.store.hub.currentResourceVersion()) + 1
    const entry: LogEntry = {
      index: this.index,
      term: 1,
      type: LogType.Command,
      data: new TextEncoder().encode(JSON.stringify(command)),
      appendedAtMs: this.now(),
    }
    return this.store.apply(entry) as StoreResult
  }
}

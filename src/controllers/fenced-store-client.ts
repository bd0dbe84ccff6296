/**
 * FencedStoreClient: a StoreClient whose every write carries the Raft term its leader started
 * in. The state machine applies it only if it is committed in that same term (ObjectStore's
 * `fenced` command): a write that a deposed leader sends on — to the new leader, through the
 * usual forwarding — is refused with 409, whatever it was. Once aborted, it refuses to send.
 */

import type { StoreCommand, StoreResult } from '../store/object-store.js'
import type { StoreClient } from '../store/store-client.js'

export class LeadershipLostError extends Error {
  override name = 'LeadershipLostError'
}

export class FencedStoreClient implements StoreClient {
  constructor(
    private readonly inner: StoreClient,
    readonly term: number,
    private readonly signal: AbortSignal,
  ) {}

  get store() {
    return this.inner.store
  }

  waitCaughtUp(): Promise<void> {
    return this.inner.waitCaughtUp()
  }

  async propose(command: StoreCommand): Promise<StoreResult> {
    if (this.signal.aborted) throw new LeadershipLostError(`no longer the leader of term ${this.term}`)
    return this.inner.propose({ op: 'fenced', term: this.term, command })
  }
}

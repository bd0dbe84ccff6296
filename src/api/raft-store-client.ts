/**
 * RaftStoreClient: the StoreClient of a running peer (its API, agent and controllers all write
 * through one). Writes travel to the leader (this peer
 * or another) through the cluster manager, and answer once this peer has applied them, so the
 * writer reads its own write from its local copy.
 *
 * A write forwarded to another peer's leader is answered with its log index alone; its result
 * is what this peer's own apply of that entry gave (`ObjectStore.resultOf`: applying is
 * deterministic, so it is the leader's answer), as an etcd member answers its client from its
 * own apply. The object does not travel back, and neither side encodes or parses it.
 */

import type { ClusterManager } from '../p2p/cluster-manager.js'
import type { Raft } from '../raft/raft.js'
import { StoreError } from '../store/errors.js'
import {
  encodeStoreCommand,
  type ObjectStore,
  type StoreCommand,
  type StoreResult,
} from '../store/object-store.js'
import type { StoreClient } from '../store/store-client.js'

export class RaftStoreClient implements StoreClient {
  constructor(
    readonly store: ObjectStore,
    private readonly raft: Raft,
    private readonly cluster: ClusterManager,
    private readonly timeoutMs = 10_000,
  ) {}

  waitCaughtUp(): Promise<void> {
    return this.cluster.waitReadIndex()
  }

  async propose(command: StoreCommand): Promise<StoreResult> {
    const data = encodeStoreCommand(command)
    const { index, response } = (await this.cluster.leaderCall(
      { type: 'apply', data, indexOnly: true },
      this.timeoutMs,
    )) as { index: number; response?: StoreResult }
    await this.raft.waitApplied(index, 5000)
    if (response !== undefined) return response
    const own = this.store.resultOf(index)
    if (own === undefined) {
      // This peer reached the entry by a snapshot (it had fallen far behind), so it never
      // applied it: the write is committed, its answer unknown here. Kubernetes' answer for
      // a write that may have been carried out.
      throw new StoreError(
        504,
        'Timeout',
        `the write was committed (log index ${index}), but this peer caught up by a snapshot and does not know its result: read the object to see it`,
      )
    }
    return own as StoreResult
  }
}

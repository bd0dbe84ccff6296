/**
 * RaftStoreClient: the StoreClient of a running peer (its API, agent and controllers all write
 * through one). Writes travel to the leader (this peer
 * or another) through the cluster manager, and answer once this peer has applied them, so the
 * writer reads its own write from its local copy.
 */

import type { ClusterManager } from '../p2p/cluster-manager.js'
import type { Raft } from '../raft/raft.js'
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
    const { index, response } = (await this.cluster.leaderCall({ type: 'apply', data }, this.timeoutMs)) as {
      index: number
      response: StoreResult
    }
    await this.raft.waitApplied(index, 5000)
    return response
  }
}

/**
 * raft: Shoal's consensus library, a port of hashicorp/raft's design, tested by
 * deterministic simulation. It imports nothing from the rest of Shoal but src/util.
 *
 *   const raft = new Raft({ id: 'a', config, fsm, logStore, stableStore: logStore, snapshotStore, transport })
 *   await raft.bootstrapCluster({ servers: [{ id: 'a', address: 'a:7400', suffrage: 'voter' }] })
 *   await raft.start()
 *   const { index, response } = await raft.apply(new TextEncoder().encode('x=1'), { timeoutMs: 5000 })
 *   await raft.shutdown()
 */

export * from './commitment.js'
export * from './config.js'
export * from './configuration.js'
export * from './errors.js'
export * from './file-snapshot-store.js'
export * from './fsm.js'
export * from './inmem-snapshot-store.js'
export * from './inmem-store.js'
export * from './inmem-transport.js'
export * from './level-store.js'
export * from './log.js'
export * from './log-codec.js'
export * from './raft.js'
export * from './snapshot.js'
export * from './stable.js'
export * from './transport.js'

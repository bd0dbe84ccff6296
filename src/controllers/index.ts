/**
 * controllers: the loops only the Raft leader runs — scheduler, replication controllers,
 * node lifecycle, endpoints and garbage collection — started fresh in each term of
 * leadership and fenced by it (a deposed leader's writes are refused by the state machine).
 *
 *   const manager = new ControllerManager({ leadership: raft, client, store, clock, rng, logger,
 *     factories: [() => new Scheduler(), () => new ReplicationManager(), () => new NodeLifecycle(),
 *       () => new EndpointsController(), () => new GarbageCollector()] })
 *   manager.start()                // runs them whenever this peer leads
 *   manager.runningTerm()          // the term they run in, or null
 *   manager.stop()
 */

export * from './controller.js'
export * from './controller-manager.js'
export * from './endpoints.js'
export * from './fenced-store-client.js'
export * from './garbage-collector.js'
export * from './node-lifecycle.js'
export * from './replication-manager.js'
export * from './scheduler.js'

/**
 * What a leader-run controller is, and what it is given. A controller starts when its peer
 * becomes the Raft leader and stops the moment it is not (its `signal` aborts); every write
 * it makes through `client` is fenced by the term it started in (see FencedStoreClient), so a
 * deposed leader's controller can neither bind nor create nor delete.
 *
 * Controllers read the leader's own copy of the store (`store`, up to date: the manager waits
 * for a barrier before starting them) and react to its watch events, Kubernetes-style: event
 * handlers only enqueue keys; a WorkQueue syncs each key against the current state.
 */

import type { EventRecorder } from '../store/event-recorder.js'
import type { ObjectStore } from '../store/object-store.js'
import type { StoreClient } from '../store/store-client.js'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import type { Rng } from '../util/random.js'

export interface ControllerContext {
  /** Writes, fenced by the leader's term. */
  client: StoreClient
  /** The leader's copy of the store, to read and watch. */
  store: ObjectStore
  clock: Clock
  rng: Rng
  logger: Logger
  /** An event recorder for a component (e.g. 'default-scheduler'). */
  events(component: string): EventRecorder
  /** Aborted when this peer stops leading. */
  signal: AbortSignal
}

export interface Controller {
  /** e.g. 'scheduler', 'replication', 'node-lifecycle'. */
  readonly name: string
  /** Starts watching and syncing; must not block for long. */
  start(ctx: ControllerContext): void | Promise<void>
  /** Stops at once: timers, queues, watches. Idempotent. */
  stop(): void
}

/** Makes a fresh controller for each term of leadership (no state carries over). */
export type ControllerFactory = () => Controller

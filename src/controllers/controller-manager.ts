/**
 * ControllerManager: runs the controllers on the Raft leader, and only there. When this peer
 * becomes leader it waits for a barrier (everything committed before its term is applied to
 * its store), then starts a fresh set of controllers with a client fenced by its term. When it
 * stops leading — a 'leader' event naming another or nobody, a new term, shutdown — it stops
 * them at once and aborts their signal; writes they still send are refused by the fence.
 *
 * A safety poll every `checkIntervalMs` catches a missed transition.
 */

import { BatchingStoreClient } from '../store/batching-store-client.js'
import { EventRecorder, EventSink } from '../store/event-recorder.js'
import type { ObjectStore } from '../store/object-store.js'
import type { StoreClient } from '../store/store-client.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import type { Rng } from '../util/random.js'
import type { Controller, ControllerFactory } from './controller.js'
import { FencedStoreClient } from './fenced-store-client.js'

/** What the manager needs of Raft (Raft itself; a fake in tests). */
export interface Leadership {
  state(): string
  stats(): { term: number }
  barrier(options?: { timeoutMs?: number }): Promise<void>
  on(event: 'leader', listener: (leader: unknown) => void): unknown
  off(event: 'leader', listener: (leader: unknown) => void): unknown
}

export interface ControllerManagerOptions {
  leadership: Leadership
  /** The peer's (unfenced) client; the manager fences it per term. */
  client: StoreClient
  store: ObjectStore
  factories: ControllerFactory[]
  clock: Clock
  rng: Rng
  logger: Logger
  checkIntervalMs?: number
}

export class ControllerManager {
  private running: { term: number; controllers: Controller[]; abort: AbortController } | null = null
  private starting: Promise<void> | null = null
  private timer: TimerHandle | null = null
  private stopped = false
  private readonly log: Logger
  private readonly onLeader = (): void => {
    void this.check()
  }

  constructor(private readonly options: ControllerManagerOptions) {
    this.log = options.logger.child({ component: 'controllers' })
  }

  start(): void {
    this.options.leadership.on('leader', this.onLeader)
    this.poll()
    void this.check()
  }

  stop(): void {
    this.stopped = true
    this.options.leadership.off('leader', this.onLeader)
    this.options.clock.clearTimeout(this.timer)
    this.stopControllers('stopping')
  }

  /** The term the controllers run in, or null when they do not run here. */
  runningTerm(): number | null {
    return this.running?.term ?? null
  }

  private poll(): void {
    this.timer = this.options.clock.setTimeout(() => {
      if (this.stopped) return
      void this.check()
      this.poll()
    }, this.options.checkIntervalMs ?? 500)
  }

  private async check(): Promise<void> {
    if (this.stopped) return
    const l = this.options.leadership
    const leading = l.state() === 'leader'
    const term = l.stats().term
    if (this.running && (!leading || this.running.term !== term)) this.stopControllers('leadership lost')
    if (!leading || this.running || this.starting) return
    this.starting = this.startControllers(term).finally(() => {
      this.starting = null
    })
  }

  private async startControllers(term: number): Promise<void> {
    const l = this.options.leadership
    try {
      // Everything committed before this term is applied here before a controller reads.
      await l.barrier({ timeoutMs: 5000 })
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'barrier failed; controllers not started')
      return
    }
    if (this.stopped || l.state() !== 'leader' || l.stats().term !== term) return
    const abort = new AbortController()
    // Fenced by the term; the writes of one event-loop turn go out as one batch (one entry).
    const client = new BatchingStoreClient(new FencedStoreClient(this.options.client, term, abort.signal))
    const controllers = this.options.factories.map((f) => f())
    // One sink for every controller of this term: their events go out in shared batches.
    const sink = new EventSink(client, this.log)
    this.running = { term, controllers, abort }
    for (const c of controllers) {
      try {
        await c.start({
          client,
          store: this.options.store,
          clock: this.options.clock,
          rng: this.options.rng.fork(),
          logger: this.log.child({ controller: c.name }),
          events: (component) => new EventRecorder(client, { component }, this.options.clock, this.log, sink),
          signal: abort.signal,
        })
      } catch (err) {
        this.log.error({ controller: c.name, err: (err as Error).message }, 'controller failed to start')
      }
      if (abort.signal.aborted) return
    }
    this.log.info({ term, controllers: controllers.map((c) => c.name) }, 'controllers started')
  }

  private stopControllers(why: string): void {
    const r = this.running
    if (!r) return
    this.running = null
    r.abort.abort()
    for (const c of r.controllers) c.stop()
    this.log.info({ term: r.term, why }, 'controllers stopped')
  }
}

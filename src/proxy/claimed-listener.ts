/**
 * ClaimedListener: a listener that keeps trying to own its address and port. Several peers on
 * one host (the playground) all want clusterIP:port; the first to bind serves, the others get
 * EADDRINUSE and try again every `retryMs`, so when the owner dies one of them takes over
 * within about that long. The same holds for an address the host does not have yet
 * (EADDRNOTAVAIL) or cannot have (not root): the listener waits, and says so once in the log.
 */

import type { Clock, TimerHandle } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import type { ServiceAddressHolder } from './service-addresses.js'

/** What can be claimed: a proxy or a DNS server. */
export interface Listener {
  start(): Promise<void>
  stop(): Promise<void>
}

export interface ClaimedListenerOptions {
  host: string
  port: number
  /** Put `host` on the host first (a cluster IP); false for addresses the host has (a node's). */
  holdAddress: boolean
  listener: Listener
  addresses: ServiceAddressHolder
  clock: Clock
  logger: Logger
  /** How often a listener that could not bind tries again. */
  retryMs: number
  /** What it serves, for logs: `default/web:http`. */
  label: string
  /** Called each time it starts serving (the service proxy then writes its kernel rules). */
  onServing?: () => void
}

export type ClaimState = 'serving' | 'waiting' | 'released'

export class ClaimedListener {
  private state: ClaimState = 'waiting'
  private timer: TimerHandle | null = null
  private attempt: Promise<void> | null = null
  /** The reason it is waiting, logged once per change. */
  private waitingFor = ''

  constructor(private readonly o: ClaimedListenerOptions) {}

  get status(): ClaimState {
    return this.state
  }

  /** Starts trying to serve (idempotent). */
  claim(): void {
    if (this.state !== 'waiting' || this.attempt !== null || this.timer !== null) return
    this.attempt = this.tryOnce().finally(() => {
      this.attempt = null
    })
  }

  /** Resolves once the current attempt, if any, has finished (tests). */
  async settled(): Promise<void> {
    await this.attempt
  }

  /** Stops trying and stops serving. */
  async release(): Promise<void> {
    this.state = 'released'
    this.o.clock.clearTimeout(this.timer)
    this.timer = null
    await this.attempt
    await this.o.listener.stop()
  }

  private async tryOnce(): Promise<void> {
    const { host, port, label } = this.o
    let reason = ''
    if (this.o.holdAddress && !(await this.o.addresses.hold(host))) {
      reason = `this host cannot hold ${host}`
    } else if (this.state === 'waiting') {
      try {
        await this.o.listener.start()
        if (this.state !== 'waiting') {
          await this.o.listener.stop()
          return
        }
        this.state = 'serving'
        this.o.logger.info({ service: label, address: `${host}:${port}` }, 'serving')
        this.o.onServing?.()
        return
      } catch (err) {
        const code = (err as { code?: string }).code ?? ''
        reason =
          code === 'EADDRINUSE'
            ? 'address in use (another peer on this host serves it)'
            : code === 'EADDRNOTAVAIL'
              ? 'address not on this host yet'
              : `${code || (err as Error).message}`
      }
    }
    if (this.state !== 'waiting') return
    if (reason !== this.waitingFor) {
      this.waitingFor = reason
      this.o.logger.info({ service: label, address: `${host}:${port}`, reason }, 'not serving; will retry')
    }
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = null
      this.claim()
    }, this.o.retryMs)
  }
}

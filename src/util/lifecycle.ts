/**
 * Lifecycle: the start/stop contract of every long-lived part.
 *
 * `start()` opens what the part needs; `stop()` closes all of it and is idempotent, so a
 * shutdown path can call it without knowing what already stopped.
 */

/** A long-lived part of the daemon. */
export interface Startable {
  start(): Promise<void>
  /** Closes every timer, socket, stream and child the part opened. Safe to call twice. */
  stop(): Promise<void>
}

/**
 * Starts parts in order and stops them in reverse. If one fails to start, the ones already
 * started are stopped before the error is rethrown.
 */
export class LifecycleGroup implements Startable {
  private readonly started: Startable[] = []

  constructor(private readonly parts: Startable[]) {}

  async start(): Promise<void> {
    for (const part of this.parts) {
      try {
        await part.start()
      } catch (err) {
        await this.stop()
        throw err
      }
      this.started.push(part)
    }
  }

  async stop(): Promise<void> {
    const errors: unknown[] = []
    while (this.started.length > 0) {
      const part = this.started.pop()!
      try {
        await part.stop()
      } catch (err) {
        errors.push(err)
      }
    }
    if (errors.length === 1) throw errors[0]
    if (errors.length > 1) throw new AggregateError(errors, 'several parts failed to stop')
  }
}

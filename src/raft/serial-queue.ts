/**
 * SerialQueue: runs async tasks one at a time, in the order they were queued.
 *
 * Raft's state changes (handling an RPC, an election, appending a batch) await storage; a
 * second task must not see the state half-changed, so every such task goes through one
 * queue, as hashicorp/raft funnels them through one goroutine.
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve()
  private closed = false
  private pending = 0

  /** Queues `task`; resolves or rejects with its result once it ran. */
  run<T>(task: () => Promise<T> | T): Promise<T> {
    if (this.closed) return Promise.reject(new Error('serial queue closed'))
    this.pending++
    const result = this.tail.then(task)
    this.tail = result.then(
      () => {
        this.pending--
      },
      () => {
        this.pending--
      },
    )
    return result
  }

  /** Tasks queued or running. */
  size(): number {
    return this.pending
  }

  /** Refuses new tasks; tasks already queued still run. */
  close(): void {
    this.closed = true
  }

  /** Resolves when every task queued so far has run. */
  drain(): Promise<void> {
    return this.tail
  }
}

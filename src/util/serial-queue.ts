/**
 * SerialQueue: runs async tasks one after another, in the order they were given. Each caller
 * gets its own task's result or error; a task that fails does not stop the ones after it.
 *
 *   const writes = new SerialQueue()
 *   await writes.run(() => applyRules(spec))
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve()

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task)
    // The chain only orders the tasks; each caller sees its own error from `result`.
    this.tail = result.catch(() => undefined)
    return result
  }
}

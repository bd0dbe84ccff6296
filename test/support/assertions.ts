/** Assertions the test files share. */

import * as assert from 'uvu/assert'

/** Asserts that `promise` rejects with an error named `name`. */
export async function rejectsWith(promise: Promise<unknown>, name: string): Promise<void> {
  try {
    await promise
  } catch (err) {
    assert.is((err as Error).name, name)
    return
  }
  assert.unreachable(`expected a ${name}`)
}

/** Runs `fn`, asserting that it throws an instance of `type`; returns what it threw. */
export function thrown<E>(fn: () => unknown, type: abstract new (...args: never[]) => E): E {
  try {
    fn()
  } catch (err) {
    assert.instance(err, type)
    return err as E
  }
  assert.unreachable(`expected a ${type.name}`)
  throw new Error('unreachable')
}

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

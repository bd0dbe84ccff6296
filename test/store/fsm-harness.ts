/** An ObjectStore fed commands as the Raft log would feed them: one index after another. */

import { type LogEntry, LogType } from '../../src/raft/log.js'
import {
  encodeStoreCommand,
  ObjectStore,
  type StoreCommand,
  type StoreResult,
} from '../../src/store/object-store.js'
import type { KubeObject, Status } from '../../src/store/types.js'

/** The time the harness's entries and commands carry unless told otherwise. */
export const HARNESS_NOW = '2026-11-25T12:00:00Z'

/** A `create` command as the API makes one (the uid derived from the name unless given). */
export function createCommand(
  resource: string,
  object: KubeObject,
  namespace = 'default',
  uid = `uid-${object.metadata.name}`,
  now = HARNESS_NOW,
): StoreCommand {
  return { op: 'create', resource, namespace, object, uid, now }
}

export class FsmHarness {
  index = 0

  constructor(
    readonly store = new ObjectStore(),
    private readonly now = HARNESS_NOW,
  ) {}

  apply(cmd: StoreCommand): StoreResult {
    this.index++
    const entry: LogEntry = {
      index: this.index,
      term: 1,
      type: LogType.Command,
      data: encodeStoreCommand(cmd),
      appendedAtMs: Date.parse(this.now),
    }
    return this.store.apply(entry) as StoreResult
  }

  /** Applies `cmd`, which must succeed: the object it answers. */
  ok(cmd: StoreCommand): KubeObject {
    const r = this.apply(cmd)
    if (!r.ok) throw new Error(`expected success, got ${JSON.stringify(r.status)}`)
    return r.object!
  }

  /** Applies `cmd`, which must fail: its Status. */
  fail(cmd: StoreCommand): Status {
    const r = this.apply(cmd)
    if (r.ok) throw new Error(`expected failure, got ${JSON.stringify(r.object)}`)
    return r.status
  }
}

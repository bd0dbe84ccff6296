/**
 * KvStateMachine: the replicated key-value map that the daemon runs as its Raft FSM until
 * the object store (the store/API issue) replaces it. It holds the member registry (names
 * and API addresses of peers, under `members/<peer id>`) and whatever the debug endpoint
 * `/shoal/v1/kv` writes.
 */

import type { FSM, FSMSnapshot } from '../raft/fsm.js'
import type { LogEntry } from '../raft/log.js'
import type { SnapshotSink } from '../raft/snapshot.js'

/** A command of the key-value machine. Persisted in the log: add ops, never change one. */
export type KvCommand = { op: 'put'; key: string; value: string } | { op: 'delete'; key: string }

const enc = new TextEncoder()
const dec = new TextDecoder()

export function encodeKvCommand(command: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(command))
}

/** The FSM: a map, applied in log order; snapshots are the whole map as JSON. */
export class KvStateMachine implements FSM {
  private data = new Map<string, string>()
  private listeners: ((key: string, value: string | undefined) => void)[] = []

  apply(entry: LogEntry): unknown {
    let cmd: KvCommand
    try {
      cmd = JSON.parse(dec.decode(entry.data)) as KvCommand
    } catch {
      // A malformed entry must not stop the FSM on every peer: it is applied as a no-op.
      return { error: 'malformed command' }
    }
    if (cmd.op === 'put') {
      this.data.set(cmd.key, cmd.value)
      this.notify(cmd.key, cmd.value)
      return { key: cmd.key }
    }
    if (cmd.op === 'delete') {
      const existed = this.data.delete(cmd.key)
      this.notify(cmd.key, undefined)
      return { key: cmd.key, deleted: existed }
    }
    return { error: 'unknown op' }
  }

  get(key: string): string | undefined {
    return this.data.get(key)
  }

  /** Entries whose key starts with `prefix`, sorted by key. */
  list(prefix = ''): [string, string][] {
    return [...this.data.entries()].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1))
  }

  /** Calls `fn` after every change (key, new value or undefined when deleted). */
  onChange(fn: (key: string, value: string | undefined) => void): void {
    this.listeners.push(fn)
  }

  private notify(key: string, value: string | undefined): void {
    for (const fn of this.listeners) fn(key, value)
  }

  async snapshot(): Promise<FSMSnapshot> {
    const bytes = enc.encode(JSON.stringify([...this.data.entries()]))
    return {
      persist: async (sink: SnapshotSink) => {
        await sink.write(bytes)
      },
      release: () => {},
    }
  }

  async restore(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = []
    if (data instanceof Uint8Array) parts.push(data)
    else for await (const p of data) parts.push(p)
    const text = Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))).toString(
      'utf8',
    )
    this.data = new Map(text.length > 0 ? (JSON.parse(text) as [string, string][]) : [])
    for (const [k, v] of this.data) this.notify(k, v)
  }
}

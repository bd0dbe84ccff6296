/**
 * WatchHub: every change the store applies, kept in a bounded history per resource type and
 * handed to the watchers of that type. A watch resumes from a resourceVersion: the events
 * after it are replayed from the history, then live ones follow. A resourceVersion older than
 * the history answers 410 Gone (the client lists again), as Kubernetes' watch cache does.
 *
 * Filters see both the new and the old object, so that a watch with a selector gets ADDED
 * when an object starts to match and DELETED when it stops, as Kubernetes sends.
 */

import { GoneError } from './errors.js'
import type { KubeObject } from './types.js'

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED'

/** One change, as the store applied it. Objects are frozen: never mutate them. */
export interface StoreEvent {
  type: WatchEventType
  object: KubeObject
  /** The object before a MODIFIED or DELETED change. */
  oldObject?: KubeObject
  resourceVersion: number
}

/** What a watcher receives: the event as it should see it through its filter. */
export interface WatchEvent {
  type: WatchEventType
  object: KubeObject
  resourceVersion: number
}

/** Which objects a watcher wants. */
export type WatchFilter = (object: KubeObject) => boolean

/** A running watch. */
export interface Watch {
  cancel(): void
}

interface Watcher {
  filter: WatchFilter
  listener: (event: WatchEvent) => void
}

/** Turns a store event into what a filtered watcher sees, or null. */
export function filterEvent(event: StoreEvent, filter: WatchFilter): WatchEvent | null {
  const now = filter(event.object)
  if (event.type === 'ADDED')
    return now ? { type: 'ADDED', object: event.object, resourceVersion: event.resourceVersion } : null
  if (event.type === 'DELETED') {
    const before = event.oldObject ? filter(event.oldObject) : now
    return before || now
      ? { type: 'DELETED', object: event.object, resourceVersion: event.resourceVersion }
      : null
  }
  const before = event.oldObject ? filter(event.oldObject) : now
  if (before && now) return { type: 'MODIFIED', object: event.object, resourceVersion: event.resourceVersion }
  if (!before && now) return { type: 'ADDED', object: event.object, resourceVersion: event.resourceVersion }
  if (before && !now) return { type: 'DELETED', object: event.object, resourceVersion: event.resourceVersion }
  return null
}

/** The hub; `historyPerResource` bounds each type's history (older events are forgotten; up to a quarter more are kept between trims). */
export class WatchHub {
  private readonly history = new Map<string, StoreEvent[]>()
  /** Per type: the newest resourceVersion forgotten from its history (resuming at or below it is 410). */
  private readonly forgottenThrough = new Map<string, number>()
  private readonly watchers = new Map<string, Set<Watcher>>()
  private lastResourceVersion = 0
  /** Every type's history starts after this (set when the store was replaced by a snapshot). */
  private floor = 0

  constructor(private readonly historyPerResource = 4096) {}

  /** The store's current resourceVersion (the last one applied). */
  currentResourceVersion(): number {
    return this.lastResourceVersion
  }

  /** Moves the current resourceVersion (entries that changed nothing still advance it). */
  advance(resourceVersion: number): void {
    if (resourceVersion > this.lastResourceVersion) this.lastResourceVersion = resourceVersion
  }

  /** Records a change and tells the watchers of its type. */
  publish(resource: string, event: StoreEvent): void {
    this.advance(event.resourceVersion)
    let list = this.history.get(resource)
    if (!list) {
      list = []
      this.history.set(resource, list)
    }
    list.push(event)
    // Trimmed in chunks (a quarter of the bound at a time), not one event per publish: taking
    // the first element of a long array moves all the others, on every write.
    if (list.length > this.historyPerResource + Math.max(1, this.historyPerResource >> 2)) {
      const dropped = list.splice(0, list.length - this.historyPerResource)
      this.forgottenThrough.set(resource, dropped[dropped.length - 1]!.resourceVersion)
    }
    for (const w of this.watchers.get(resource) ?? []) {
      const seen = filterEvent(event, w.filter)
      if (seen) w.listener(seen)
    }
  }

  /**
   * Forgets the whole history (after the store was replaced by a snapshot): every watch must
   * start again from a list, so resuming from anything older than now answers 410.
   */
  reset(resourceVersion: number): void {
    this.forgottenThrough.clear()
    this.floor = resourceVersion
    this.history.clear()
    this.lastResourceVersion = resourceVersion
  }

  /**
   * Watches `resource` from `fromResourceVersion` (exclusive): replays the history after it,
   * then follows live changes. Throws GoneError when the history no longer reaches back that
   * far. `listener` is called synchronously; it must not block.
   */
  watch(
    resource: string,
    fromResourceVersion: number,
    filter: WatchFilter,
    listener: (event: WatchEvent) => void,
  ): Watch {
    const forgotten = Math.max(this.forgottenThrough.get(resource) ?? 0, this.floor)
    if (fromResourceVersion < forgotten) {
      throw new GoneError(fromResourceVersion, forgotten + 1)
    }
    for (const event of this.history.get(resource) ?? []) {
      if (event.resourceVersion <= fromResourceVersion) continue
      const seen = filterEvent(event, filter)
      if (seen) listener(seen)
    }
    const watcher: Watcher = { filter, listener }
    let set = this.watchers.get(resource)
    if (!set) {
      set = new Set()
      this.watchers.set(resource, set)
    }
    set.add(watcher)
    return {
      cancel: () => {
        this.watchers.get(resource)?.delete(watcher)
      },
    }
  }

  /** Watchers open now, over all types. */
  watcherCount(): number {
    let n = 0
    for (const set of this.watchers.values()) n += set.size
    return n
  }
}

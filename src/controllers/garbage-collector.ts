/**
 * GarbageCollector: deletes objects whose owners are all gone (ownerReferences, matched by
 * uid), in the background — what Kubernetes does when an RC is deleted with the default
 * propagation. Pods go with their own grace period (their agents stop them first).
 * `propagationPolicy=Orphan` is handled by the store itself (the dependents lose the reference
 * in the same step as the owner goes); Foreground is treated as Background.
 *
 * A sweep reads every object once (uids) and runs after any deletion (debounced) and every
 * `sweepIntervalMs`.
 */

import { RESOURCE_TYPES } from '../store/resources.js'
import { watchFromNow } from '../store/store-client.js'
import type { KubeObject } from '../store/types.js'
import { isoSeconds, type TimerHandle } from '../util/clock.js'
import type { Controller, ControllerContext } from './controller.js'

/** The objects whose every owner is absent from `uids`. */
export function orphanedDependents(objects: KubeObject[], uids: ReadonlySet<string>): KubeObject[] {
  return objects.filter((o) => {
    const refs = o.metadata.ownerReferences ?? []
    return refs.length > 0 && !o.metadata.deletionTimestamp && refs.every((r) => !uids.has(r.uid))
  })
}

export class GarbageCollector implements Controller {
  readonly name = 'garbage-collector'
  private ctx: ControllerContext | null = null
  private timer: TimerHandle | null = null
  private soon: TimerHandle | null = null
  private readonly unwatch: (() => void)[] = []
  private sweeping = false
  private stopped = false

  constructor(private readonly sweepIntervalMs = 10_000) {}

  start(ctx: ControllerContext): void {
    this.ctx = ctx
    for (const t of RESOURCE_TYPES) {
      this.unwatch.push(
        watchFromNow(
          ctx.store,
          t.resource,
          () => true,
          (ev) => {
            if (ev.type === 'DELETED') this.sweepSoon()
          },
        ),
      )
    }
    this.sweepSoon()
    this.schedule()
  }

  stop(): void {
    this.stopped = true
    for (const u of this.unwatch.splice(0)) u()
    this.ctx?.clock.clearTimeout(this.timer)
    this.ctx?.clock.clearTimeout(this.soon)
  }

  private schedule(): void {
    if (this.stopped) return
    this.timer = this.ctx!.clock.setTimeout(() => {
      void this.sweep().finally(() => this.schedule())
    }, this.sweepIntervalMs)
  }

  private sweepSoon(): void {
    if (this.soon || this.stopped) return
    this.soon = this.ctx!.clock.setTimeout(() => {
      this.soon = null
      void this.sweep()
    }, 100)
  }

  /** One pass: every object whose owners are all gone is deleted. */
  async sweep(): Promise<void> {
    const ctx = this.ctx
    if (!ctx || this.sweeping || this.stopped) return
    this.sweeping = true
    try {
      const uids = new Set<string>()
      const all: { resource: string; obj: KubeObject }[] = []
      for (const t of RESOURCE_TYPES) {
        for (const obj of ctx.store.list(t.resource).items) {
          if (obj.metadata.uid) uids.add(obj.metadata.uid)
          all.push({ resource: t.resource, obj })
        }
      }
      const doomed = new Set(
        orphanedDependents(
          all.map((a) => a.obj),
          uids,
        ),
      )
      const now = isoSeconds(ctx.clock.now())
      await Promise.all(
        all
          .filter((a) => doomed.has(a.obj))
          .map(async ({ resource, obj }) => {
            const r = await ctx.client.propose({
              op: 'remove',
              resource,
              namespace: obj.metadata.namespace,
              name: obj.metadata.name ?? '',
              preconditions: { uid: obj.metadata.uid },
              now,
            })
            if (r.ok)
              ctx.logger.debug(
                { resource, name: obj.metadata.name },
                'deleted a dependent whose owners are gone',
              )
          }),
      )
    } catch (err) {
      ctx.logger.debug({ err: (err as Error).message }, 'garbage collection failed; next sweep')
    } finally {
      this.sweeping = false
    }
  }
}

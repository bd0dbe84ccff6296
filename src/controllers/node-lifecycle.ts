/**
 * NodeLifecycle: the node controller. A node whose heartbeat (its Ready condition's
 * lastHeartbeatTime, renewed by its agent every 2 s) has not moved for `gracePeriodMs` on the
 * leader's clock becomes Ready=Unknown ("Kubelet stopped posting node status"), its pods are
 * marked not ready (so endpoints drop them), and `evictionTimeoutMs` later its pods are deleted
 * at once (grace 0: the node is gone) so their controllers replace them elsewhere. A node that
 * comes back heart-beats Ready again; its agent then removes the pods it no longer has.
 *
 * Heartbeats are compared as values, and their age measured on this leader's clock from when
 * it first saw each value: a new leader gives every node a full grace period, and clocks of
 * different machines never need to agree.
 *
 * Defaults (5 s + 2 s) put a dead peer's pods back to running elsewhere in well under 10 s.
 */

import { watchFromNow } from '../store/store-client.js'
import type { KubeObject } from '../store/types.js'
import { isoSeconds, type TimerHandle } from '../util/clock.js'
import type { Controller, ControllerContext } from './controller.js'

export interface NodeLifecycleConfig {
  /** A heartbeat older than this makes the node NotReady (Unknown). */
  gracePeriodMs: number
  /** A node NotReady this long has its pods deleted. */
  evictionTimeoutMs: number
  /** How often nodes are checked. */
  checkIntervalMs: number
}

export function defaultNodeLifecycleConfig(): NodeLifecycleConfig {
  return { gracePeriodMs: 5000, evictionTimeoutMs: 2000, checkIntervalMs: 500 }
}

export function validateNodeLifecycleConfig(c: NodeLifecycleConfig): void {
  for (const [k, v] of Object.entries(c)) {
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0))
      throw new Error(`node lifecycle: ${k} must be a positive number of milliseconds, got ${v}`)
  }
}

interface Condition {
  type: string
  status: string
  lastHeartbeatTime?: string
  lastTransitionTime?: string
  reason?: string
  message?: string
}

function readyOf(node: KubeObject): Condition | undefined {
  return ((node.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find(
    (c) => c.type === 'Ready',
  )
}

interface Seen {
  heartbeat: string
  /** Local time the heartbeat value was first seen. */
  sinceMs: number
  /** Local time the node was found NotReady (by us or already). */
  notReadySinceMs?: number
}

export class NodeLifecycle implements Controller {
  readonly name = 'node-lifecycle'
  private ctx: ControllerContext | null = null
  private timer: TimerHandle | null = null
  private readonly seen = new Map<string, Seen>()
  private unwatch: (() => void) | null = null
  private stopped = false
  private checking = false

  constructor(private readonly config: NodeLifecycleConfig = defaultNodeLifecycleConfig()) {
    validateNodeLifecycleConfig(config)
  }

  start(ctx: ControllerContext): void {
    this.ctx = ctx
    // Deleted nodes are forgotten; the rest is read at each check.
    this.unwatch = watchFromNow(
      ctx.store,
      'nodes',
      () => true,
      (ev) => {
        if (ev.type === 'DELETED') this.seen.delete(ev.object.metadata.name ?? '')
      },
    )
    this.schedule()
  }

  stop(): void {
    this.stopped = true
    this.unwatch?.()
    this.ctx?.clock.clearTimeout(this.timer)
    this.timer = null
  }

  private schedule(): void {
    if (this.stopped || !this.ctx) return
    this.timer = this.ctx.clock.setTimeout(() => {
      this.timer = null
      void this.check().finally(() => this.schedule())
    }, this.config.checkIntervalMs)
  }

  /** One pass over every node (exported for tests through `checkNow`). */
  async checkNow(): Promise<void> {
    await this.check()
  }

  private async check(): Promise<void> {
    const ctx = this.ctx
    if (!ctx || this.stopped || this.checking) return
    this.checking = true
    try {
      const now = ctx.clock.now()
      for (const node of ctx.store.list('nodes').items) {
        const name = node.metadata.name ?? ''
        const ready = readyOf(node)
        const heartbeat = ready?.lastHeartbeatTime ?? ''
        let s = this.seen.get(name)
        if (!s || s.heartbeat !== heartbeat) {
          const wasNotReady = s?.notReadySinceMs !== undefined
          s = { heartbeat, sinceMs: now }
          this.seen.set(name, s)
          if (ready?.status === 'True') {
            if (wasNotReady) ctx.logger.info({ node: name }, 'node is ready again')
          } else s.notReadySinceMs = now
          continue
        }
        if (ready?.status === 'True' && now - s.sinceMs > this.config.gracePeriodMs) {
          await this.markUnknown(node, now)
          s.notReadySinceMs = now
          continue
        }
        if (ready?.status !== 'True') {
          s.notReadySinceMs ??= now
          // Every pass past the timeout: pods bound to it since are evicted too.
          if (now - s.notReadySinceMs >= this.config.evictionTimeoutMs) await this.evictPods(name, now)
        }
      }
    } catch (err) {
      ctx.logger.debug({ err: (err as Error).message }, 'node check failed; next time')
    } finally {
      this.checking = false
    }
  }

  /** Ready → Unknown; the node's pods → not ready. */
  private async markUnknown(node: KubeObject, now: number): Promise<void> {
    const ctx = this.ctx!
    const name = node.metadata.name ?? ''
    const at = isoSeconds(now)
    const conditions = ((node.status as { conditions?: Condition[] })?.conditions ?? []).map((c) => ({
      ...c,
      status: 'Unknown',
      reason: 'NodeStatusUnknown',
      message: 'Kubelet stopped posting node status.',
      lastTransitionTime: at,
    }))
    const r = await ctx.client.propose({
      op: 'patch',
      resource: 'nodes',
      name,
      patchType: 'merge',
      subresource: 'status',
      patch: { status: { conditions } },
      uid: globalThis.crypto.randomUUID(),
      now: at,
    })
    if (!r.ok) throw new Error(`node ${name} not marked unknown: ${r.status.message}`)
    ctx.logger.warn({ node: name }, 'node stopped posting status: NotReady')
    void ctx
      .events('node-controller')
      .record(node, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`)
    for (const pod of this.podsOn(name)) {
      const status = (pod.status ?? {}) as { conditions?: Condition[] }
      const conds = (status.conditions ?? []).map((c) =>
        c.type === 'Ready' && c.status === 'True'
          ? {
              ...c,
              status: 'False',
              lastTransitionTime: at,
              reason: 'NodeNotReady',
              message: `node ${name} is not ready`,
            }
          : c,
      )
      await ctx.client.propose({
        op: 'update',
        resource: 'pods',
        namespace: pod.metadata.namespace,
        name: pod.metadata.name ?? '',
        subresource: 'status',
        object: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { uid: pod.metadata.uid },
          status: { ...status, conditions: conds },
        },
        now: at,
      })
    }
  }

  /** Deletes every pod on a dead node (grace 0), with an event each. */
  private async evictPods(node: string, now: number): Promise<void> {
    const ctx = this.ctx!
    const pods = this.podsOn(node)
    if (pods.length > 0)
      ctx.logger.warn({ node, pods: pods.length }, 'evicting the pods of a node that is not ready')
    const recorder = ctx.events('node-controller')
    await Promise.all(
      pods.map(async (pod) => {
        void recorder.record(
          pod,
          'Normal',
          'NodeControllerEviction',
          `Marking for deletion Pod ${pod.metadata.namespace}/${pod.metadata.name} from Node ${node}`,
        )
        const r = await ctx.client.propose({
          op: 'remove',
          resource: 'pods',
          namespace: pod.metadata.namespace,
          name: pod.metadata.name ?? '',
          preconditions: { uid: pod.metadata.uid },
          gracePeriodSeconds: 0,
          now: isoSeconds(now),
        })
        if (!r.ok && r.status.code !== 404 && r.status.code !== 409)
          throw new Error(`pod ${pod.metadata.name} not evicted: ${r.status.message}`)
      }),
    )
  }

  private podsOn(node: string): KubeObject[] {
    return this.ctx!.store.list('pods', {
      filter: (p) => (p.spec as { nodeName?: string } | undefined)?.nodeName === node,
    }).items
  }
}

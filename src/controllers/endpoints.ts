/**
 * EndpointsController: each Service with a selector gets an Endpoints object of the same name
 * listing its pods — ready ones in `addresses`, the others in `notReadyAddresses` — with pod
 * IP, node name and targetRef, and the service's ports with named target ports resolved
 * against each pod's container ports (pods that lack a named port are left out of that port's
 * subset, as in Kubernetes). Services without a selector keep the Endpoints their users write.
 *
 * `computeSubsets` is pure; the controller syncs one service per key (`namespace/name`),
 * enqueued by service changes and by changes of the pods it selects or selected, and reads
 * only those pods (`ServiceMembership`).
 */

import { stableStringify } from '../store/object-store.js'
import { labelSelectorFromMap } from '../store/selectors.js'
import { watchFromNow } from '../store/store-client.js'
import type { KubeObject } from '../store/types.js'
import { isoSeconds } from '../util/clock.js'
import { WorkQueue } from '../util/work-queue.js'
import type { Controller, ControllerContext } from './controller.js'
import { objectKey, ServiceMembership } from './service-membership.js'

interface ServicePort {
  name?: string
  port: number
  protocol?: string
  targetPort?: number | string
}

interface EndpointAddress {
  ip: string
  nodeName?: string
  targetRef: { kind: 'Pod'; namespace: string; name: string; uid: string }
}

export interface EndpointSubset {
  addresses?: EndpointAddress[]
  notReadyAddresses?: EndpointAddress[]
  ports: { name?: string; port: number; protocol: string }[]
}

function podReady(pod: KubeObject): boolean {
  const conds =
    (pod.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []
  return conds.some((c) => c.type === 'Ready' && c.status === 'True')
}

/** The container port a service port's targetPort names on this pod, or undefined. */
export function resolveTargetPort(port: ServicePort, pod: KubeObject): number | undefined {
  const target = port.targetPort ?? port.port
  if (typeof target === 'number') return target
  if (/^\d+$/.test(target)) return Number(target)
  const containers =
    (pod.spec as { containers?: { ports?: { name?: string; containerPort: number; protocol?: string }[] }[] })
      ?.containers ?? []
  for (const c of containers)
    for (const p of c.ports ?? [])
      if (p.name === target && (p.protocol ?? 'TCP') === (port.protocol ?? 'TCP')) return p.containerPort
  return undefined
}

/** The Endpoints subsets of `service` over `pods` (all pods of its namespace). */
export function computeSubsets(service: KubeObject, pods: KubeObject[]): EndpointSubset[] {
  const spec = (service.spec ?? {}) as {
    selector?: Record<string, string>
    ports?: ServicePort[]
    publishNotReadyAddresses?: boolean
  }
  const selector = labelSelectorFromMap(spec.selector ?? {})
  const ports = spec.ports ?? []
  const groups = new Map<string, EndpointSubset>()
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue
    if (!selector.matches(pod.metadata.labels ?? {})) continue
    const phase = (pod.status as { phase?: string } | undefined)?.phase
    if (phase === 'Succeeded' || phase === 'Failed') continue
    const ip = (pod.status as { podIP?: string } | undefined)?.podIP
    if (!ip) continue
    const resolved: EndpointSubset['ports'] = []
    for (const p of ports) {
      const target = resolveTargetPort(p, pod)
      if (target === undefined) continue
      resolved.push({ ...(p.name ? { name: p.name } : {}), port: target, protocol: p.protocol ?? 'TCP' })
    }
    if (ports.length > 0 && resolved.length === 0) continue
    const key = stableStringify(resolved)
    let subset = groups.get(key)
    if (!subset) {
      subset = { ports: resolved }
      groups.set(key, subset)
    }
    const address: EndpointAddress = {
      ip,
      ...((pod.spec as { nodeName?: string })?.nodeName
        ? { nodeName: (pod.spec as { nodeName: string }).nodeName }
        : {}),
      targetRef: {
        kind: 'Pod',
        namespace: pod.metadata.namespace ?? '',
        name: pod.metadata.name ?? '',
        uid: pod.metadata.uid ?? '',
      },
    }
    if (podReady(pod) || spec.publishNotReadyAddresses) {
      subset.addresses ??= []
      subset.addresses.push(address)
    } else {
      subset.notReadyAddresses ??= []
      subset.notReadyAddresses.push(address)
    }
  }
  const byIp = (a: EndpointAddress, b: EndpointAddress) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0)
  const subsets = [...groups.values()]
  for (const s of subsets) {
    s.addresses?.sort(byIp)
    s.notReadyAddresses?.sort(byIp)
  }
  return subsets.sort((a, b) => (stableStringify(a.ports) < stableStringify(b.ports) ? -1 : 1))
}

export class EndpointsController implements Controller {
  readonly name = 'endpoints'
  private ctx: ControllerContext | null = null
  private queue: WorkQueue | null = null
  private readonly unwatch: (() => void)[] = []
  private readonly membership = new ServiceMembership()

  start(ctx: ControllerContext): void {
    this.ctx = ctx
    const queue = new WorkQueue('endpoints', (key) => this.sync(key), ctx.clock, ctx.logger, {
      concurrency: 4,
    })
    this.queue = queue
    const keyOf = objectKey
    const podsIn = (namespace: string | undefined) => ctx.store.list('pods', { namespace }).items
    this.unwatch.push(
      watchFromNow(
        ctx.store,
        'services',
        () => true,
        (ev) => {
          const key = keyOf(ev.object)
          const svc = ev.type === 'DELETED' ? null : ev.object
          const ns = ev.object.metadata.namespace ?? ''
          this.membership.serviceChanged(key, ns, svc, podsIn(ns))
          queue.add(key)
        },
      ),
    )
    this.unwatch.push(
      watchFromNow(
        ctx.store,
        'pods',
        () => true,
        (ev) => {
          const pod = ev.type === 'DELETED' ? null : ev.object
          const wake = this.membership.podChanged(keyOf(ev.object), pod)
          for (const key of wake) queue.add(key)
        },
      ),
    )
    // Every service's selector first, then every pod once (not every pod once per service).
    for (const svc of ctx.store.list('services').items)
      this.membership.serviceChanged(keyOf(svc), svc.metadata.namespace ?? '', svc, [])
    for (const pod of ctx.store.list('pods').items) this.membership.podChanged(keyOf(pod), pod)
    // Endpoints edited or deleted by someone else are put back.
    this.unwatch.push(
      watchFromNow(
        ctx.store,
        'endpoints',
        () => true,
        (ev) => queue.add(keyOf(ev.object)),
      ),
    )
    for (const svc of ctx.store.list('services').items) queue.add(keyOf(svc))
  }

  stop(): void {
    for (const u of this.unwatch.splice(0)) u()
    this.queue?.stop()
    this.membership.clear()
  }

  /** Resolves when nothing waits to sync (tests). */
  whenIdle(): Promise<void> {
    return this.queue?.whenIdle() ?? Promise.resolve()
  }

  private async sync(key: string): Promise<void> {
    const ctx = this.ctx!
    const [namespace, name] = key.split('/') as [string, string]
    const service = ctx.store.get('services', namespace, name)
    const current = ctx.store.get('endpoints', namespace, name)
    const now = isoSeconds(ctx.clock.now())
    if (!service) {
      // The service is gone: so are the endpoints this controller made for it.
      if (current?.metadata.labels?.['endpoints.shoal.io/managed'] === 'true') {
        await ctx.client.propose({
          op: 'remove',
          resource: 'endpoints',
          namespace,
          name,
          preconditions: { uid: current.metadata.uid },
          now,
        })
      }
      return
    }
    const selector = (service.spec as { selector?: Record<string, string> } | undefined)?.selector
    if (!selector || Object.keys(selector).length === 0) return
    const pods: KubeObject[] = []
    for (const podKey of this.membership.podsOf(key)) {
      const pod = ctx.store.get('pods', namespace, podKey.slice(namespace.length + 1))
      if (pod) pods.push(pod)
    }
    const subsets = computeSubsets(service, pods)
    const labels = { ...(service.metadata.labels ?? {}), 'endpoints.shoal.io/managed': 'true' }
    const desired: KubeObject = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name, namespace, labels },
      subsets: subsets as unknown[],
    }
    if (current) {
      const same =
        stableStringify(current.subsets ?? []) === stableStringify(subsets) &&
        stableStringify(current.metadata.labels ?? {}) === stableStringify(labels)
      if (same) return
      desired.metadata.resourceVersion = current.metadata.resourceVersion
      const r = await ctx.client.propose({
        op: 'update',
        resource: 'endpoints',
        namespace,
        name,
        object: desired,
        now,
      })
      if (!r.ok && r.status.code !== 409 && r.status.code !== 404) throw new Error(r.status.message)
      if (!r.ok) this.queue?.add(key, 50)
      return
    }
    const r = await ctx.client.propose({
      op: 'create',
      resource: 'endpoints',
      namespace,
      object: desired,
      uid: globalThis.crypto.randomUUID(),
      now,
    })
    if (!r.ok && r.status.code !== 409) throw new Error(r.status.message)
    if (!r.ok) this.queue?.add(key, 50)
  }
}

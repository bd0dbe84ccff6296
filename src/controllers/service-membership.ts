/**
 * Which pods each Service selects, kept up to date from pod and service events, both ways:
 * a pod event wakes only the services its old or new labels match, and a service's sync reads
 * only its own pods — not every pod of the namespace, which at thousands of pods made the
 * endpoints controller quadratic (every bind or status write of a pod listed them all).
 *
 * Pure bookkeeping over keys (`namespace/name`); the caller reads objects from its store.
 */

import type { KubeObject } from '../store/types.js'

function selectorOf(service: KubeObject): Record<string, string> | null {
  const selector = (service.spec as { selector?: Record<string, string> } | undefined)?.selector
  return selector && Object.keys(selector).length > 0 ? selector : null
}

function selects(selector: Record<string, string>, pod: KubeObject): boolean {
  const labels = pod.metadata.labels ?? {}
  for (const k in selector) if (labels[k] !== selector[k]) return false
  return true
}

export function objectKey(o: KubeObject): string {
  return `${o.metadata.namespace}/${o.metadata.name}`
}

export class ServiceMembership {
  /** Pod key → the services selecting it. */
  private readonly servicesOfPod = new Map<string, Set<string>>()
  /** Service key → the pods it selects. */
  private readonly podsOfService = new Map<string, Set<string>>()

  /**
   * A pod was added or changed (`pod`), or deleted (`pod` null). `servicesInNamespace` are the
   * services of its namespace. Answers the services whose pods changed: before's and now's.
   */
  podChanged(
    podKey: string,
    pod: KubeObject | null,
    servicesInNamespace: readonly KubeObject[],
  ): Set<string> {
    const before = this.servicesOfPod.get(podKey) ?? new Set<string>()
    const now = new Set<string>()
    if (pod) {
      for (const svc of servicesInNamespace) {
        const selector = selectorOf(svc)
        if (selector && selects(selector, pod)) now.add(objectKey(svc))
      }
    }
    for (const s of before) if (!now.has(s)) this.podsOfService.get(s)?.delete(podKey)
    for (const s of now) {
      let pods = this.podsOfService.get(s)
      if (!pods) {
        pods = new Set()
        this.podsOfService.set(s, pods)
      }
      pods.add(podKey)
    }
    if (now.size > 0) this.servicesOfPod.set(podKey, now)
    else this.servicesOfPod.delete(podKey)
    return new Set([...before, ...now])
  }

  /** A service was added or changed (`service`), or deleted (null): its pods are found again. */
  serviceChanged(
    serviceKey: string,
    service: KubeObject | null,
    podsInNamespace: readonly KubeObject[],
  ): void {
    for (const podKey of this.podsOfService.get(serviceKey) ?? []) {
      const services = this.servicesOfPod.get(podKey)
      services?.delete(serviceKey)
      if (services?.size === 0) this.servicesOfPod.delete(podKey)
    }
    this.podsOfService.delete(serviceKey)
    const selector = service ? selectorOf(service) : null
    if (!selector) return
    const pods = new Set<string>()
    for (const pod of podsInNamespace) {
      if (!selects(selector, pod)) continue
      const podKey = objectKey(pod)
      pods.add(podKey)
      let services = this.servicesOfPod.get(podKey)
      if (!services) {
        services = new Set()
        this.servicesOfPod.set(podKey, services)
      }
      services.add(serviceKey)
    }
    this.podsOfService.set(serviceKey, pods)
  }

  /** The keys of the pods `serviceKey` selects. */
  podsOf(serviceKey: string): readonly string[] {
    return [...(this.podsOfService.get(serviceKey) ?? [])]
  }

  clear(): void {
    this.servicesOfPod.clear()
    this.podsOfService.clear()
  }
}

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

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key)
  if (!set) {
    set = new Set()
    map.set(key, set)
  }
  set.add(value)
}

export class ServiceMembership {
  /** Namespace → service key → its selector (services without one are not kept). */
  private readonly selectors = new Map<string, Map<string, Record<string, string>>>()
  /** Pod key → the services selecting it. */
  private readonly servicesOfPod = new Map<string, Set<string>>()
  /** Service key → the pods it selects. */
  private readonly podsOfService = new Map<string, Set<string>>()

  /**
   * A pod was added or changed (`pod`), or deleted (`pod` null). Answers the services whose
   * pods changed: those that selected it before, and those that select it now.
   */
  podChanged(podKey: string, pod: KubeObject | null): Set<string> {
    const before = this.servicesOfPod.get(podKey) ?? new Set<string>()
    const now = new Set<string>()
    if (pod) {
      for (const [serviceKey, selector] of this.selectors.get(pod.metadata.namespace ?? '') ?? [])
        if (selects(selector, pod)) now.add(serviceKey)
    }
    for (const s of before) if (!now.has(s)) this.podsOfService.get(s)?.delete(podKey)
    for (const s of now) addTo(this.podsOfService, s, podKey)
    if (now.size > 0) this.servicesOfPod.set(podKey, now)
    else this.servicesOfPod.delete(podKey)
    return new Set([...before, ...now])
  }

  /**
   * A service was added or changed (`service`), or deleted (null): its pods are found again
   * among `podsInNamespace` (none, when podChanged is to tell them afterwards).
   */
  serviceChanged(
    serviceKey: string,
    namespace: string,
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
    const inNamespace = this.selectors.get(namespace) ?? new Map<string, Record<string, string>>()
    if (!selector) {
      inNamespace.delete(serviceKey)
      if (inNamespace.size === 0) this.selectors.delete(namespace)
      return
    }
    inNamespace.set(serviceKey, selector)
    this.selectors.set(namespace, inNamespace)
    const pods = new Set<string>()
    for (const pod of podsInNamespace) {
      if (!selects(selector, pod)) continue
      const podKey = objectKey(pod)
      pods.add(podKey)
      addTo(this.servicesOfPod, podKey, serviceKey)
    }
    this.podsOfService.set(serviceKey, pods)
  }

  /** The keys of the pods `serviceKey` selects. */
  podsOf(serviceKey: string): readonly string[] {
    return [...(this.podsOfService.get(serviceKey) ?? [])]
  }

  clear(): void {
    this.selectors.clear()
    this.servicesOfPod.clear()
    this.podsOfService.clear()
  }
}

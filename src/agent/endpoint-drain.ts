/**
 * Draining a pod out of its Services before its containers are stopped (Nomad's
 * `shutdown_delay`, the `preStop: sleep` Kubernetes users add by hand).
 *
 * When a pod is deleted, the endpoints controller takes it out of its Services' Endpoints
 * and, at the same moment, its node agent would stop it. With the kernel data path the
 * service proxy no longer retries a refused connection on the next endpoint, so a connection
 * made in between would fail. The agent therefore first waits, on its own copy of the store,
 * until no Endpoints lists the pod's address as ready, then a moment more for every peer's
 * proxy to rewrite its rules — never longer than `maxMs` (a small part of the grace period),
 * and not at all for a pod that was in no Endpoints.
 */

import type { ObjectStore } from '../store/object-store.js'
import { watchFromNow } from '../store/store-client.js'
import type { KubeObject } from '../store/types.js'
import type { Clock } from '../util/clock.js'

/** How long after the address left the Endpoints the proxies are given to follow. */
export const PROXY_SETTLE_MS = 100

interface Subset {
  addresses?: { ip?: string }[]
}

/** True while an Endpoints of `namespace` lists `ip` among its ready addresses. */
export function listedAsReady(store: ObjectStore, namespace: string, ip: string): boolean {
  return store
    .list('endpoints', { namespace })
    .items.some((ep: KubeObject) =>
      ((ep as { subsets?: Subset[] }).subsets ?? []).some((s) =>
        (s.addresses ?? []).some((a) => a.ip === ip),
      ),
    )
}

/**
 * Resolves once `ip` has left every Endpoints of `namespace` (plus PROXY_SETTLE_MS), or
 * after `maxMs`; at once when it was in none. Answers whether it waited at all.
 */
export function drainFromEndpoints(
  store: ObjectStore,
  clock: Clock,
  namespace: string,
  ip: string,
  maxMs: number,
): Promise<boolean> {
  if (!ip || maxMs <= 0 || !listedAsReady(store, namespace, ip)) return Promise.resolve(false)
  return new Promise((resolve) => {
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      cancel()
      clock.clearTimeout(deadline)
      resolve(true)
    }
    const deadline = clock.setTimeout(finish, maxMs)
    const cancel = watchFromNow(
      store,
      'endpoints',
      (obj) => obj.metadata.namespace === namespace,
      () => {
        if (done || listedAsReady(store, namespace, ip)) return
        cancel()
        clock.clearTimeout(deadline)
        clock.setTimeout(finish, PROXY_SETTLE_MS)
      },
    )
  })
}

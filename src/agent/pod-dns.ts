/**
 * A pod's resolver settings from its spec.dnsPolicy and spec.dnsConfig: the kubelet's
 * `GetPodDNS`, as a pure function.
 *
 * - ClusterFirst (the default): the cluster's DNS server, searches `<ns>.svc.<domain>`,
 *   `svc.<domain>`, `<domain>`, options `ndots:5`; a hostNetwork pod falls back to Default.
 * - ClusterFirstWithHostNet: the cluster's, hostNetwork or not.
 * - Default: the host's resolver (nothing set: the runtime gives the host's).
 * - None: spec.dnsConfig alone.
 * Then spec.dnsConfig is merged on top: nameservers and searches appended without duplicates,
 * options by name (the pod's value wins). Without a cluster DNS server, the cluster policies
 * fall back to the host's, as the kubelet does without --cluster-dns.
 *
 * Deviation: the kubelet reads the host's resolv.conf and merges dnsConfig into it; here the
 * host's settings are not read, so for Default (and the fallbacks) the answer holds dnsConfig
 * alone, and Docker keeps the host's value of each field left empty (nameservers, searches,
 * options independently) rather than appending to it.
 */

import type { KubeObject } from '../store/types.js'
import type { SandboxConfig } from './runtime.js'

/** The cluster's DNS service, as the agent is told it (kubelet --cluster-dns, --cluster-domain). */
export interface ClusterDns {
  /** The DNS server's address (a Service's cluster IP). */
  server: string
  /** The cluster domain (default cluster.local). */
  domain?: string
}

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local'
/** Kubernetes' limits of what reaches resolv.conf (the kubelet drops the excess). */
const MAX_NAMESERVERS = 3
const MAX_SEARCHES = 32

interface PodDnsSpec {
  dnsPolicy?: string
  hostNetwork?: boolean
  dnsConfig?: {
    nameservers?: string[]
    searches?: string[]
    options?: { name: string; value?: string }[]
  }
}

type Resolver = NonNullable<SandboxConfig['dns']>

function unique(list: string[]): string[] {
  return [...new Set(list)]
}

/** Options by name, later ones replacing earlier ones in place (`name` or `name:value`). */
function mergeOptions(base: string[], extra: { name: string; value?: string }[]): string[] {
  const byName = new Map<string, string | undefined>()
  for (const o of base) {
    const colon = o.indexOf(':')
    if (colon === -1) byName.set(o, undefined)
    else byName.set(o.slice(0, colon), o.slice(colon + 1))
  }
  for (const o of extra) byName.set(o.name, o.value || undefined)
  return [...byName].map(([name, value]) => (value === undefined ? name : `${name}:${value}`))
}

/** The resolver of `pod`'s sandbox; undefined means the host's (the runtime's default). */
export function podDns(pod: KubeObject, cluster: ClusterDns | undefined): Resolver | undefined {
  const spec = (pod.spec ?? {}) as PodDnsSpec
  const policy = spec.dnsPolicy ?? 'ClusterFirst'
  const useCluster =
    policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && spec.hostNetwork !== true)
  let base: Resolver | undefined
  if (policy === 'None') base = { servers: [], searches: [], options: [] }
  else if (useCluster && cluster) {
    const domain = cluster.domain || DEFAULT_CLUSTER_DOMAIN
    const ns = pod.metadata.namespace ?? 'default'
    base = {
      servers: [cluster.server],
      searches: [`${ns}.svc.${domain}`, `svc.${domain}`, domain],
      options: ['ndots:5'],
    }
  }
  const extra = spec.dnsConfig
  if (!extra) return base
  const merged = base ?? { servers: [], searches: [], options: [] }
  return {
    servers: unique([...merged.servers, ...(extra.nameservers ?? [])]).slice(0, MAX_NAMESERVERS),
    searches: unique([...merged.searches, ...(extra.searches ?? [])]).slice(0, MAX_SEARCHES),
    options: mergeOptions(merged.options, extra.options ?? []),
  }
}

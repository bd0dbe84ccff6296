/**
 * Reading an Endpoints object the way its consumers need it: the ready addresses behind one
 * service port (the subset port named like the service port — an unnamed port matches the
 * unnamed one — and of its protocol), each with that port, without duplicates, in a stable
 * order (ip, then port). The service proxy forwards to them; the API's service proxy
 * subresource picks one.
 */

import type { KubeObject } from './types.js'

interface EndpointsSubset {
  addresses?: { ip?: string }[]
  ports?: { name?: string; port?: number; protocol?: string }[]
}

export interface EndpointAddress {
  ip: string
  port: number
}

export function readyEndpointAddresses(
  endpoints: KubeObject | undefined,
  portName: string,
  protocol = 'TCP',
): EndpointAddress[] {
  const out: EndpointAddress[] = []
  const seen = new Set<string>()
  const subsets = ((endpoints as { subsets?: EndpointsSubset[] } | undefined)?.subsets ??
    []) as EndpointsSubset[]
  for (const subset of subsets) {
    const match = (subset.ports ?? []).find(
      (p) => (p.name ?? '') === portName && (p.protocol ?? 'TCP') === protocol,
    )
    if (!match || typeof match.port !== 'number') continue
    // Only ready addresses: notReadyAddresses are never forwarded to (kube-proxy neither).
    for (const a of subset.addresses ?? []) {
      if (typeof a.ip !== 'string' || a.ip === '') continue
      const key = `${a.ip}:${match.port}`
      if (seen.has(key)) continue
      seen.add(key)
      out.push({ ip: a.ip, port: match.port })
    }
  }
  out.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port))
  return out
}

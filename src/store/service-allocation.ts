/**
 * Cluster IPs and node ports for Services, allocated inside the state machine so that every
 * peer makes the same choice: a new Service without `clusterIP` gets a free address of the
 * service range, starting from a point derived from its uid and probing upwards; a NodePort
 * (or LoadBalancer) port without `nodePort` gets a free port of 30000–32767 the same way. An
 * explicit value is honoured if it is in range and free, refused (422) otherwise. Addresses
 * and ports are free again once their Service is gone (what is used is read off the stored
 * Services). On update, allocated values the client left out are kept, and a cluster IP
 * cannot change (Kubernetes: "field is immutable").
 *
 * The 10th address of the range (10.96.0.10 by default, as kube-dns) is the cluster DNS
 * address every peer serves: it is never handed out, and only `kube-system/kube-dns` may ask
 * for it (so Kubernetes' own kube-dns manifests still apply).
 */

import { createHash } from 'node:crypto'
import { InvalidError } from './errors.js'
import type { KubeObject, StatusCause } from './types.js'

/** The default service range (Kubernetes' own default). */
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12'
export const NODE_PORTS = { min: 30000, max: 32767 } as const

export interface Cidr {
  /** The network address as a 32-bit number. */
  base: number
  size: number
}

export function ipToNumber(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0)
}

export function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.')
}

/** `a.b.c.d/n` read as numbers (the address need not be aligned to n), or undefined. */
export function readCidr(text: string): { ip: number; bits: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text)
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) return undefined
  return { ip: ipToNumber(text.split('/')[0]!), bits: Number(m[5]) }
}

export function parseCidr(cidr: string): Cidr {
  const c = readCidr(cidr)
  if (!c || !(c.bits >= 8 && c.bits <= 30))
    throw new Error(`bad service range ${cidr}: expected a.b.c.d/8…30`)
  const size = 2 ** (32 - c.bits)
  return { base: Math.floor(c.ip / size) * size, size }
}

/**
 * The cluster DNS address of a service range: its 10th address, as kube-dns uses. Pods get it
 * as their resolver, so no ordinary Service may take it.
 */
export function clusterDnsAddress(cidr: Cidr): string {
  // A range too small for a 10th usable address (a /29 or /30) uses its last usable one.
  return numberToIp(cidr.base + Math.min(10, cidr.size - 2))
}

/** The one Service allowed to hold the cluster DNS address (Kubernetes' own kube-dns manifests). */
const DNS_SERVICE = { namespace: 'kube-system', name: 'kube-dns' } as const

function seedOf(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0)
}

interface ServicePort {
  name?: string
  port: number
  protocol?: string
  nodePort?: number
}

interface ServiceSpec {
  type?: string
  clusterIP?: string
  clusterIPs?: string[]
  ports?: ServicePort[]
  ipFamilies?: string[]
  ipFamilyPolicy?: string
}

/**
 * Fills in a Service's cluster IP and node ports (mutating `svc`, a fresh copy). `others` are
 * every other stored Service; `old` is this one before an update.
 */
export function allocateServiceAddresses(
  svc: KubeObject,
  others: KubeObject[],
  seed: string,
  cidr: Cidr,
  old?: KubeObject,
): void {
  svc.spec ??= {}
  const spec = svc.spec as ServiceSpec
  const oldSpec = (old?.spec ?? {}) as ServiceSpec
  const causes: StatusCause[] = []
  const type = spec.type ?? 'ClusterIP'
  if (type === 'ExternalName') return

  // Cluster IP.
  if (old && (spec.clusterIP === undefined || spec.clusterIP === '')) spec.clusterIP = oldSpec.clusterIP
  if (old && oldSpec.clusterIP && spec.clusterIP !== oldSpec.clusterIP) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.clusterIP',
      message: `Invalid value: "${spec.clusterIP}": field is immutable`,
    })
  } else if (!old) {
    const used = new Set(
      others.map((o) => (o.spec as ServiceSpec | undefined)?.clusterIP).filter((ip): ip is string => !!ip),
    )
    const dnsIp = clusterDnsAddress(cidr)
    const isDnsService =
      svc.metadata.namespace === DNS_SERVICE.namespace && svc.metadata.name === DNS_SERVICE.name
    if (spec.clusterIP === 'None') {
      // Headless: no address.
    } else if (spec.clusterIP) {
      const n = ipToNumber(spec.clusterIP)
      if (n <= cidr.base || n >= cidr.base + cidr.size - 1)
        causes.push({
          reason: 'FieldValueInvalid',
          field: 'spec.clusterIPs',
          message: `Invalid value: "${spec.clusterIP}": failed to allocate IP ${spec.clusterIP}: provided IP is not in the valid range. The range of valid IPs is ${numberToIp(cidr.base)}/${32 - Math.log2(cidr.size)}`,
        })
      else if (spec.clusterIP === dnsIp && !isDnsService)
        causes.push({
          reason: 'FieldValueInvalid',
          field: 'spec.clusterIPs',
          message: `Invalid value: "${spec.clusterIP}": failed to allocate IP ${spec.clusterIP}: provided IP is reserved for the cluster DNS (only ${DNS_SERVICE.namespace}/${DNS_SERVICE.name} may use it)`,
        })
      else if (used.has(spec.clusterIP))
        causes.push({
          reason: 'FieldValueInvalid',
          field: 'spec.clusterIPs',
          message: `Invalid value: "${spec.clusterIP}": failed to allocate IP ${spec.clusterIP}: provided IP is already allocated`,
        })
    } else {
      const usable = cidr.size - 2
      const start = seedOf(seed) % usable
      let chosen: string | undefined
      for (let i = 0; i < usable; i++) {
        const ip = numberToIp(cidr.base + 1 + ((start + i) % usable))
        // The DNS address is never chosen automatically, even for kube-dns: it asks explicitly.
        if (!used.has(ip) && ip !== dnsIp) {
          chosen = ip
          break
        }
      }
      if (!chosen)
        causes.push({
          reason: 'FieldValueInvalid',
          field: 'spec.clusterIPs',
          message: 'failed to allocate a service IP: range is full',
        })
      else spec.clusterIP = chosen
    }
  }
  if (spec.clusterIP) {
    spec.clusterIPs = [spec.clusterIP]
    if (spec.clusterIP !== 'None') {
      spec.ipFamilies ??= ['IPv4']
      spec.ipFamilyPolicy ??= 'SingleStack'
    }
  }

  // Node ports.
  const wantsNodePorts = type === 'NodePort' || type === 'LoadBalancer'
  if (wantsNodePorts) {
    const used = new Set<string>()
    for (const o of others)
      for (const p of (o.spec as ServiceSpec | undefined)?.ports ?? [])
        if (p.nodePort) used.add(`${p.protocol ?? 'TCP'}/${p.nodePort}`)
    const mine = new Set<string>()
    const ports = spec.ports ?? []
    ports.forEach((p, i) => {
      const protocol = p.protocol ?? 'TCP'
      if (!p.nodePort && old) {
        const before = (oldSpec.ports ?? []).find(
          (q) => q.port === p.port && (q.protocol ?? 'TCP') === protocol,
        )
        if (before?.nodePort) p.nodePort = before.nodePort
      }
      if (p.nodePort) {
        const key = `${protocol}/${p.nodePort}`
        if (used.has(key))
          causes.push({
            reason: 'FieldValueInvalid',
            field: `spec.ports[${i}].nodePort`,
            message: `Invalid value: ${p.nodePort}: provided port is already allocated`,
          })
        mine.add(key)
      }
    })
    const span = NODE_PORTS.max - NODE_PORTS.min + 1
    ports.forEach((p, i) => {
      if (p.nodePort) return
      const protocol = p.protocol ?? 'TCP'
      const start = seedOf(`${seed}/${i}`) % span
      for (let k = 0; k < span; k++) {
        const port = NODE_PORTS.min + ((start + k) % span)
        const key = `${protocol}/${port}`
        if (!used.has(key) && !mine.has(key)) {
          p.nodePort = port
          mine.add(key)
          return
        }
      }
      causes.push({
        reason: 'FieldValueInvalid',
        field: `spec.ports[${i}].nodePort`,
        message: 'failed to allocate a node port: range is full',
      })
    })
  }
  if (causes.length > 0) throw new InvalidError('Service', svc.metadata.name ?? '', causes)
}

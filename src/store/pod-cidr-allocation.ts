/**
 * Pod subnets for Nodes, allocated inside the state machine so that every peer makes the same
 * choice (Kubernetes' node IPAM range allocator, run in `apply` instead of a controller): a
 * Node without `spec.podCIDR` gets the lowest free /24 of the cluster pod range; an explicit one
 * is honoured if it is a /24 of the range, aligned, and free, refused (422) otherwise. A subnet
 * is free again once its Node is gone (what is used is read off the stored Nodes, as service
 * addresses are). On update, a subnet the client left out is kept, one the Node lacks is
 * assigned, and one it has cannot change (Kubernetes: "node updates may not change podCIDR
 * except from \"\" to valid").
 */

import { InvalidError } from './errors.js'
import { type Cidr, numberToIp, readCidr } from './service-allocation.js'
import type { KubeObject, StatusCause } from './types.js'

/** The default cluster pod range (what kubeadm and flannel use). */
export const DEFAULT_POD_CIDR = '10.244.0.0/16'
/** The prefix length of each node's subnet (kube-controller-manager's --node-cidr-mask-size). */
export const NODE_POD_CIDR_BITS = 24

/** Parses a cluster pod range: an aligned a.b.c.d/8…24 (room for at least one /24). */
export function parsePodCidr(cidr: string): Cidr {
  const c = readCidr(cidr)
  const bits = c?.bits ?? Number.NaN
  if (!c || !(bits >= 8 && bits <= NODE_POD_CIDR_BITS))
    throw new Error(`podCidr: '${cidr}' is not a pod range: expected a.b.c.d/8…${NODE_POD_CIDR_BITS}`)
  const size = 2 ** (32 - bits)
  const base = c.ip
  if (base % size !== 0)
    throw new Error(
      `podCidr: '${cidr}' is not aligned: did you mean ${numberToIp(base - (base % size))}/${bits}?`,
    )
  return { base, size }
}

/** The text of a range, `a.b.c.d/n`. */
export function formatCidr(cidr: Cidr): string {
  return `${numberToIp(cidr.base)}/${32 - Math.log2(cidr.size)}`
}

interface NodeSpec {
  podCIDR?: string
  podCIDRs?: string[]
}

/** The subnet a stored Node holds, if any. */
export function podCidrOf(node: KubeObject | undefined): string | undefined {
  const spec = node?.spec as NodeSpec | undefined
  return spec?.podCIDR || spec?.podCIDRs?.[0] || undefined
}

/**
 * Fills in a Node's pod subnet (mutating `node`, a fresh copy). `others` are every other stored
 * Node; `old` is this one before an update.
 */
export function allocateNodePodCidr(
  node: KubeObject,
  others: KubeObject[],
  range: Cidr,
  old?: KubeObject,
): void {
  node.spec ??= {}
  const spec = node.spec as NodeSpec
  const causes: StatusCause[] = []
  const field = spec.podCIDRs !== undefined && !spec.podCIDR ? 'spec.podCIDRs' : 'spec.podCIDR'
  if (spec.podCIDR && spec.podCIDRs?.length && spec.podCIDRs[0] !== spec.podCIDR)
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.podCIDRs',
      message: `Invalid value: ${JSON.stringify(spec.podCIDRs)}: must start with spec.podCIDR (${spec.podCIDR})`,
    })
  if ((spec.podCIDRs?.length ?? 0) > 1)
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.podCIDRs',
      message: `Invalid value: ${JSON.stringify(spec.podCIDRs)}: only one (IPv4) pod subnet per node is supported`,
    })
  if (causes.length > 0) throw new InvalidError('Node', node.metadata.name ?? '', causes)

  const before = podCidrOf(old)
  let wanted = podCidrOf(node)
  // A client that leaves the subnet out (a PUT of its own manifest) keeps the allocated one.
  if (before && !wanted) wanted = before
  if (before && wanted !== before) {
    throw new InvalidError('Node', node.metadata.name ?? '', [
      {
        reason: 'FieldValueForbidden',
        field: 'spec.podCIDRs',
        message: 'Forbidden: node updates may not change podCIDR except from "" to valid',
      },
    ])
  }
  const used = new Set(others.map(podCidrOf).filter((c): c is string => !!c))
  const nodeSize = 2 ** (32 - NODE_POD_CIDR_BITS)
  if (wanted && wanted !== before) {
    const parsed = readCidr(wanted)
    const problem = !parsed
      ? 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'
      : parsed.bits !== NODE_POD_CIDR_BITS
        ? `must be a /${NODE_POD_CIDR_BITS} (the size of every node's pod subnet)`
        : parsed.ip % nodeSize !== 0
          ? `must be aligned: did you mean ${numberToIp(parsed.ip - (parsed.ip % nodeSize))}/${NODE_POD_CIDR_BITS}?`
          : parsed.ip < range.base || parsed.ip >= range.base + range.size
            ? `is not inside the cluster pod range ${formatCidr(range)}`
            : used.has(wanted)
              ? 'is already allocated to another node'
              : undefined
    if (problem)
      throw new InvalidError('Node', node.metadata.name ?? '', [
        { reason: 'FieldValueInvalid', field, message: `Invalid value: "${wanted}": ${problem}` },
      ])
  }
  if (!wanted) {
    for (let ip = range.base; ip < range.base + range.size; ip += nodeSize) {
      const candidate = `${numberToIp(ip)}/${NODE_POD_CIDR_BITS}`
      if (!used.has(candidate)) {
        wanted = candidate
        break
      }
    }
    if (!wanted)
      throw new InvalidError('Node', node.metadata.name ?? '', [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.podCIDR',
          message: `failed to allocate a pod subnet: the cluster pod range ${formatCidr(range)} is full`,
        },
      ])
  }
  spec.podCIDR = wanted
  spec.podCIDRs = [wanted]
}

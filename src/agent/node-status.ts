/**
 * A peer's Node object: what the node agent registers and keeps fresh. Capacity and
 * allocatable come from the host (cores, memory, a pod limit), addresses from where the peer
 * listens, nodeInfo from the host and the runtime, the API port as the kubelet endpoint (other
 * peers fetch this node's pod logs there). The Ready condition's lastHeartbeatTime is the
 * heartbeat the node lifecycle controller watches.
 */

import { arch, cpus, hostname, release, totalmem } from 'node:os'
import type { KubeObject } from '../store/types.js'
import { isoSeconds } from '../util/clock.js'
import { SHOAL_VERSION } from '../util/version.js'

/** What the node offers to pods. */
export interface NodeCapacity {
  cpu: string
  memory: string
  pods: string
}

/** The host's own capacity: its cores, its memory in Ki, 110 pods (Kubernetes' default). */
export function hostCapacity(): NodeCapacity {
  return { cpu: String(cpus().length), memory: `${Math.floor(totalmem() / 1024)}Ki`, pods: '110' }
}

export interface NodeFacts {
  name: string
  /** The address pods and peers reach this node at. */
  internalIP: string
  /** This peer's API port (the "kubelet endpoint" that serves pod logs). */
  apiPort: number
  runtimeVersion: string
  capacity: NodeCapacity
  labels?: Record<string, string>
  peerId?: string
}

const GOARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
}

/** The kubelet version a Shoal node reports (kubectl shows it in VERSION). */
export const NODE_VERSION = `v1.32.0-shoal.${SHOAL_VERSION}`

/** The node's conditions, Ready among them, heart-beating at `nowMs`. */
export function nodeConditions(nowMs: number, old?: KubeObject): Record<string, unknown>[] {
  const now = isoSeconds(nowMs)
  const prev = ((
    old?.status as { conditions?: { type: string; status: string; lastTransitionTime?: string }[] }
  )?.conditions ?? []) as { type: string; status: string; lastTransitionTime?: string }[]
  const cond = (
    type: string,
    status: 'True' | 'False',
    reason: string,
    message: string,
  ): Record<string, unknown> => {
    const p = prev.find((c) => c.type === type)
    return {
      type,
      status,
      lastHeartbeatTime: now,
      lastTransitionTime: p && p.status === status && p.lastTransitionTime ? p.lastTransitionTime : now,
      reason,
      message,
    }
  }
  return [
    cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
  ]
}

/** The whole Node object for a (re-)registration. */
export function buildNode(facts: NodeFacts, nowMs: number, old?: KubeObject): KubeObject {
  const goArch = GOARCH[arch()] ?? arch()
  const labels = {
    'kubernetes.io/hostname': facts.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': goArch,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': goArch,
    ...(old?.metadata.labels ?? {}),
    ...(facts.labels ?? {}),
  }
  const annotations: Record<string, string> = { ...(old?.metadata.annotations ?? {}) }
  if (facts.peerId) annotations['shoal.io/peer-id'] = facts.peerId
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: facts.name,
      labels,
      annotations,
      ...(old?.metadata.resourceVersion ? { resourceVersion: old.metadata.resourceVersion } : {}),
    },
    spec: { ...((old?.spec as Record<string, unknown>) ?? {}) },
    status: {
      capacity: { ...facts.capacity },
      allocatable: { ...facts.capacity },
      conditions: nodeConditions(nowMs, old),
      addresses: [
        { type: 'InternalIP', address: facts.internalIP },
        { type: 'Hostname', address: facts.name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: facts.apiPort } },
      nodeInfo: {
        machineID: '',
        systemUUID: '',
        bootID: '',
        kernelVersion: release(),
        osImage: `Shoal on ${hostname()}`,
        containerRuntimeVersion: facts.runtimeVersion,
        kubeletVersion: NODE_VERSION,
        kubeProxyVersion: NODE_VERSION,
        operatingSystem: 'linux',
        architecture: goArch,
      },
    },
  }
}

/** Where a node serves its API (pod logs): its InternalIP and kubelet endpoint port. */
export function nodeApiEndpoint(node: KubeObject): { host: string; port: number } | undefined {
  const status = node.status as
    | {
        addresses?: { type: string; address: string }[]
        daemonEndpoints?: { kubeletEndpoint?: { Port?: number } }
      }
    | undefined
  const host = status?.addresses?.find((a) => a.type === 'InternalIP')?.address
  const port = status?.daemonEndpoints?.kubeletEndpoint?.Port
  return host && port ? { host, port } : undefined
}

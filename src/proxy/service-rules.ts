/**
 * What the service proxy of one peer should listen on, computed from Services and Endpoints:
 * for each port of each Service with a cluster IP, a listener on clusterIP:port; for a
 * NodePort (or LoadBalancer) Service, also one on this node's address and the node port. Each
 * listener forwards to the ready addresses of the Endpoints of the same name, at the port of
 * the subset's port named like the service port (an unnamed port matches the unnamed one).
 *
 * Pure: objects in, listener specs out. The ServiceProxier turns them into sockets.
 */

import { readyEndpointAddresses } from '../store/endpoint-addresses.js'
import type { KubeObject } from '../store/types.js'
import type { Backend, SessionAffinity } from './round-robin.js'

export type ListenerProtocol = 'TCP' | 'UDP'

/** One address and port to serve, and where its connections go. */
export interface ListenerSpec {
  /** `TCP/10.96.0.12:80`: the identity of the listener (its protocol, address and port). */
  key: string
  protocol: ListenerProtocol
  host: string
  port: number
  /** The Service, as `namespace/name`, and the service port's name (logs and status). */
  service: string
  portName: string
  /** True for a cluster IP listener (its address is held on the host's service interface). */
  clusterIp: boolean
  backends: Backend[]
  sessionAffinity: SessionAffinity
  affinityTimeoutMs: number
}

interface ServicePortSpec {
  name?: string
  port?: number
  protocol?: string
  nodePort?: number
}

/** Kubernetes' default ClientIP affinity timeout (3 hours). */
const DEFAULT_AFFINITY_TIMEOUT_S = 10_800

function listenerKey(protocol: string, host: string, port: number): string {
  return `${protocol}/${host}:${port}`
}

/** The ready backends of one service port, in a stable order (ip, then port). */
export function backendsFor(endpoints: KubeObject | undefined, port: ServicePortSpec): Backend[] {
  return readyEndpointAddresses(endpoints, port.name ?? '', port.protocol ?? 'TCP').map((a) => ({
    host: a.ip,
    port: a.port,
  }))
}

/**
 * Every listener this node should have. `nodeAddress` is where NodePorts listen (null: none).
 * SCTP ports and headless or ExternalName Services get no listener (Kubernetes' proxy has
 * none for them either).
 */
export function desiredListeners(
  services: readonly KubeObject[],
  endpointsOf: (namespace: string, name: string) => KubeObject | undefined,
  nodeAddress: string | null,
): Map<string, ListenerSpec> {
  const out = new Map<string, ListenerSpec>()
  for (const svc of services) {
    const spec = (svc.spec ?? {}) as {
      type?: string
      clusterIP?: string
      ports?: ServicePortSpec[]
      sessionAffinity?: string
      sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } }
    }
    if (spec.type === 'ExternalName') continue
    const ns = svc.metadata.namespace ?? 'default'
    const name = svc.metadata.name ?? ''
    const endpoints = endpointsOf(ns, name)
    const affinity: SessionAffinity = spec.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None'
    const timeoutS = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_S
    const hasClusterIp =
      typeof spec.clusterIP === 'string' && spec.clusterIP !== '' && spec.clusterIP !== 'None'
    const nodePorts = spec.type === 'NodePort' || spec.type === 'LoadBalancer'
    for (const port of spec.ports ?? []) {
      const protocol = port.protocol ?? 'TCP'
      if ((protocol !== 'TCP' && protocol !== 'UDP') || typeof port.port !== 'number') continue
      const common = {
        protocol: protocol as ListenerProtocol,
        service: `${ns}/${name}`,
        portName: port.name ?? '',
        backends: backendsFor(endpoints, port),
        sessionAffinity: affinity,
        affinityTimeoutMs: timeoutS * 1000,
      }
      if (hasClusterIp) {
        const key = listenerKey(protocol, spec.clusterIP!, port.port)
        out.set(key, { key, host: spec.clusterIP!, port: port.port, clusterIp: true, ...common })
      }
      if (nodePorts && nodeAddress && typeof port.nodePort === 'number') {
        const key = listenerKey(protocol, nodeAddress, port.nodePort)
        out.set(key, { key, host: nodeAddress, port: port.nodePort, clusterIp: false, ...common })
      }
    }
  }
  return out
}

/** True when two specs differ only in their backends (the listener can be kept). */
export function sameListenerConfig(a: ListenerSpec, b: ListenerSpec): boolean {
  return a.sessionAffinity === b.sessionAffinity && a.affinityTimeoutMs === b.affinityTimeoutMs
}

export function sameBackends(a: readonly Backend[], b: readonly Backend[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i]!.host !== b[i]!.host || a[i]!.port !== b[i]!.port) return false
  return true
}

/**
 * The resource types the store and the API serve: names, kinds, scope and subresources, as
 * Kubernetes' core/v1 discovery describes them. Adding a kind starts here.
 */

/** One resource type. */
export interface ResourceType {
  /** Plural, as in URLs: `pods`. */
  resource: string
  kind: string
  listKind: string
  singular: string
  shortNames: string[]
  namespaced: boolean
  /** Has a `/status` subresource: the main resource ignores status changes. */
  hasStatus: boolean
  /** Has a `/scale` subresource (autoscaling/v1 Scale over spec.replicas). */
  hasScale: boolean
}

const rt = (
  resource: string,
  kind: string,
  singular: string,
  shortNames: string[],
  namespaced: boolean,
  hasStatus: boolean,
  hasScale = false,
): ResourceType => ({
  resource,
  kind,
  listKind: `${kind}List`,
  singular,
  shortNames,
  namespaced,
  hasStatus,
  hasScale,
})

/** Every resource type, in discovery order. */
export const RESOURCE_TYPES: readonly ResourceType[] = [
  rt('namespaces', 'Namespace', 'namespace', ['ns'], false, true),
  rt('pods', 'Pod', 'pod', ['po'], true, true),
  rt('replicationcontrollers', 'ReplicationController', 'replicationcontroller', ['rc'], true, true, true),
  rt('services', 'Service', 'service', ['svc'], true, true),
  rt('endpoints', 'Endpoints', 'endpoints', ['ep'], true, false),
  rt('nodes', 'Node', 'node', ['no'], false, true),
  rt('events', 'Event', 'event', ['ev'], true, false),
  rt('configmaps', 'ConfigMap', 'configmap', ['cm'], true, false),
]

const byResource = new Map(RESOURCE_TYPES.map((t) => [t.resource, t]))
const byKind = new Map(RESOURCE_TYPES.map((t) => [t.kind, t]))

/** The type for a URL plural (`pods`), or undefined. */
export function resourceType(resource: string): ResourceType | undefined {
  return byResource.get(resource)
}

/** The type for a kind (`Pod`), or undefined. */
export function resourceTypeForKind(kind: string): ResourceType | undefined {
  return byKind.get(kind)
}

/** The namespaces that always exist. */
export const SYSTEM_NAMESPACES = ['default', 'kube-system'] as const

/**
 * Discovery documents: what a client (kubectl 1.32) asks for before anything else — /api,
 * /apis, /api/v1, /version, and the minimal OpenAPI v3 that lets `kubectl create/apply -f`
 * run with its default strict validation (../shared/reference/kubectl-compat.md §1).
 */

import { RESOURCE_TYPES } from '../store/resources.js'

/** The Kubernetes version Shoal speaks. kubectl's gcloud dispatcher picks its build from `minor`. */
export const KUBERNETES_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-shoal' }

export function versionDocument(shoalVersion: string): Record<string, string> {
  return {
    major: KUBERNETES_VERSION.major,
    minor: KUBERNETES_VERSION.minor,
    gitVersion: KUBERNETES_VERSION.gitVersion,
    gitCommit: `shoal-${shoalVersion}`,
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'tsc',
    platform: `${process.platform}/${process.arch}`,
  }
}

export function apiVersionsDocument(serverAddress: string): unknown {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  }
}

export function apiGroupListDocument(): unknown {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [] }
}

const READ_WRITE = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']

/** The APIResourceList of /api/v1, with the status, scale, log and proxy subresources. */
export function apiResourceListDocument(): unknown {
  const resources: unknown[] = []
  for (const t of RESOURCE_TYPES) {
    resources.push({
      name: t.resource,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: READ_WRITE,
      shortNames: t.shortNames,
      ...(t.resource === 'pods' || t.resource === 'replicationcontrollers' || t.resource === 'services'
        ? { categories: ['all'] }
        : {}),
    })
    if (t.hasStatus) {
      resources.push({
        name: `${t.resource}/status`,
        singularName: '',
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ['get', 'patch', 'update'],
      })
    }
    if (t.hasScale) {
      resources.push({
        name: `${t.resource}/scale`,
        singularName: '',
        namespaced: t.namespaced,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: ['get', 'patch', 'update'],
      })
    }
    if (t.resource === 'pods') {
      resources.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] })
    }
    if (t.resource === 'pods' || t.resource === 'services') {
      resources.push({
        name: `${t.resource}/proxy`,
        singularName: '',
        namespaced: true,
        kind: t.resource === 'pods' ? 'PodProxyOptions' : 'ServiceProxyOptions',
        verbs: ['create', 'delete', 'get', 'patch', 'update'],
      })
    }
  }
  return { kind: 'APIResourceList', groupVersion: 'v1', resources }
}

/** A stable hash for the OpenAPI URL (kubectl caches by it). */
const OPENAPI_HASH = '5E0A1C6D1B2C3D4E'

export function openApiV3Index(): unknown {
  return { paths: { 'api/v1': { serverRelativeURL: `/openapi/v3/api/v1?hash=${OPENAPI_HASH}` } } }
}

/**
 * The minimal OpenAPI v3 document for api/v1: one PATCH operation per kind that declares the
 * `fieldValidation` parameter, and no requestBody (so kubectl builds strategic merge patches
 * from its compiled-in types, as kubectl-compat.md §1.3 explains).
 */
export function openApiV3ApiV1(): unknown {
  const paths: Record<string, unknown> = {}
  for (const t of RESOURCE_TYPES) {
    const path = t.namespaced
      ? `/api/v1/namespaces/{namespace}/${t.resource}/{name}`
      : `/api/v1/${t.resource}/{name}`
    paths[path] = {
      patch: {
        'x-kubernetes-group-version-kind': { group: '', version: 'v1', kind: t.kind },
        parameters: [
          { name: 'fieldValidation', in: 'query', schema: { type: 'string' } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string' } },
          { name: 'dryRun', in: 'query', schema: { type: 'string' } },
        ],
        responses: { '200': { description: 'OK' } },
      },
    }
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: KUBERNETES_VERSION.gitVersion },
    paths,
    components: { schemas: {} },
  }
}

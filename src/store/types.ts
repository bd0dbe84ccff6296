/**
 * The shapes of API objects as the store keeps them: Kubernetes core/v1 JSON, loosely typed
 * beyond the metadata (validation checks the rest).
 */

/** An owner of an object (ObjectMeta.ownerReferences). */
export interface OwnerReference {
  apiVersion: string
  kind: string
  name: string
  uid: string
  controller?: boolean
  blockOwnerDeletion?: boolean
}

/** Kubernetes ObjectMeta, the fields Shoal keeps. */
export interface ObjectMeta {
  name?: string
  generateName?: string
  namespace?: string
  uid?: string
  resourceVersion?: string
  generation?: number
  creationTimestamp?: string
  deletionTimestamp?: string
  deletionGracePeriodSeconds?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  ownerReferences?: OwnerReference[]
  finalizers?: string[]
  managedFields?: unknown[]
}

/** Any API object: kind, apiVersion, metadata, and whatever its kind carries. */
export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: ObjectMeta
  spec?: Record<string, unknown>
  status?: Record<string, unknown>
  [field: string]: unknown
}

/** One reason a field is invalid (Status.details.causes). */
export interface StatusCause {
  /** e.g. FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, FieldValueDuplicate. */
  reason: string
  message: string
  /** The field path, e.g. `spec.containers[0].image`. */
  field: string
}

/** A Kubernetes `Status` (errors, and successful deletes). */
export interface Status {
  kind: 'Status'
  apiVersion: 'v1'
  metadata: Record<string, unknown>
  status: 'Success' | 'Failure'
  message?: string
  reason?: string
  code: number
  details?: {
    name?: string
    group?: string
    kind?: string
    uid?: string
    causes?: StatusCause[]
    retryAfterSeconds?: number
  }
}

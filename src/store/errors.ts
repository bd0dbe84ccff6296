/**
 * The store's expected failures, each carrying the Kubernetes `Status` it becomes at the API
 * (the API turns them into responses in one place).
 */

import type { Status, StatusCause } from './types.js'

/** Base: an error that knows its HTTP code, reason and details. */
export class StoreError extends Error {
  override name = 'StoreError'
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details: Status['details'] = {},
  ) {
    super(message)
  }

  toStatus(): Status {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
      details: this.details,
    }
  }
}

/** 404: `pods "x" not found`. */
export class NotFoundError extends StoreError {
  override name = 'NotFoundError'
  constructor(resource: string, name: string) {
    super(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource })
  }
}

/** 409: `pods "x" already exists`. */
export class AlreadyExistsError extends StoreError {
  override name = 'AlreadyExistsError'
  constructor(resource: string, name: string) {
    super(409, 'AlreadyExists', `${resource} "${name}" already exists`, { name, kind: resource })
  }
}

/** 409: a stale resourceVersion (optimistic concurrency) or a uid precondition that failed. */
export class ConflictError extends StoreError {
  override name = 'ConflictError'
  constructor(
    resource: string,
    name: string,
    why = 'the object has been modified; please apply your changes to the latest version and try again',
  ) {
    super(409, 'Conflict', `Operation cannot be fulfilled on ${resource} "${name}": ${why}`, {
      name,
      kind: resource,
    })
  }
}

/** 422: `Pod "p1" is invalid: spec.containers[0].image: Required value`, naming each field. */
export class InvalidError extends StoreError {
  override name = 'InvalidError'
  constructor(
    kind: string,
    name: string,
    readonly causes: StatusCause[],
  ) {
    const list = causes.map((c) => `${c.field}: ${c.message}`).join(', ')
    super(422, 'Invalid', `${kind} "${name}" is invalid: ${list}`, { name, kind, causes })
  }
}

/** 400: the request itself is malformed. */
export class BadRequestError extends StoreError {
  override name = 'BadRequestError'
  constructor(message: string) {
    super(400, 'BadRequest', message)
  }
}

/** 410: a watch asked to resume from a resourceVersion the history no longer holds. */
export class GoneError extends StoreError {
  override name = 'GoneError'
  constructor(requested: number, oldest: number) {
    super(410, 'Expired', `too old resource version: ${requested} (${oldest})`)
  }
}

/** 403: e.g. writing into a namespace that is being deleted. */
export class ForbiddenError extends StoreError {
  override name = 'ForbiddenError'
  constructor(message: string) {
    super(403, 'Forbidden', message)
  }
}

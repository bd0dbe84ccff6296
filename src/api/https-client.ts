/**
 * A small HTTP(S) client for the CLI and tests: one request, a bearer token, the cluster CA as
 * the only trust anchor, and a JSON variant. `http://` URLs work too (no TLS), so callers need
 * one function whichever way a peer serves.
 *
 * Certificates are always verified; there is no switch to turn that off. Transport and TLS
 * failures reject with Node's own errors (match on `err.code`, e.g.
 * `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`, `ERR_TLS_CERT_ALTNAME_INVALID`, `ECONNREFUSED`).
 */

import http from 'node:http'
import https from 'node:https'

/** Time a request may take, from sending to the last byte of the response, unless told. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
/** Largest response body read, unless told; a larger one rejects with `ResponseTooLargeError`. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024

/** Options of `httpsRequest`. */
export interface HttpsRequestOptions {
  /** An `https:` or `http:` URL. */
  url: string | URL
  /** Defaults to GET. */
  method?: string
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string
  /** PEM of the CA to trust instead of the system's (for `https:` only). */
  ca?: string
  body?: string | Uint8Array
  /** Extra request headers; names are case-insensitive. */
  headers?: Record<string, string>
  /** Defaults to `DEFAULT_REQUEST_TIMEOUT_MS`. */
  timeoutMs?: number
  /** Defaults to `DEFAULT_MAX_RESPONSE_BYTES`. */
  maxResponseBytes?: number
  /** Aborting rejects the request with the signal's reason. */
  signal?: AbortSignal
}

/** A response whose body has been read whole. */
export interface HttpsResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** Options of `httpsJson`: the body, if any, is sent as JSON. */
export interface JsonRequestOptions extends Omit<HttpsRequestOptions, 'body'> {
  body?: unknown
}

/** A response whose body has been parsed as JSON; an empty body is `undefined`. */
export interface JsonResponse<T> {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: T | undefined
}

/** A request that took longer than its `timeoutMs`. */
export class RequestTimeoutError extends Error {
  override name = 'RequestTimeoutError'
  constructor(
    readonly url: string,
    readonly timeoutMs: number,
  ) {
    super(`${url}: no complete response within ${timeoutMs} ms`)
  }
}

/** A response body larger than the request's `maxResponseBytes`. */
export class ResponseTooLargeError extends Error {
  override name = 'ResponseTooLargeError'
  constructor(
    readonly url: string,
    readonly maxResponseBytes: number,
  ) {
    super(`${url}: response body larger than ${maxResponseBytes} bytes`)
  }
}

/** A connection that closed before the whole response arrived. */
export class ResponseIncompleteError extends Error {
  override name = 'ResponseIncompleteError'
  constructor(readonly url: string) {
    super(`${url}: the connection closed before the response was complete`)
  }
}

/** A response to `httpsJson` whose body is not JSON. */
export class InvalidJsonResponseError extends Error {
  override name = 'InvalidJsonResponseError'
  constructor(
    readonly url: string,
    readonly status: number,
    readonly bodyStart: string,
  ) {
    super(`${url}: status ${status} with a body that is not JSON: ${JSON.stringify(bodyStart)}`)
  }
}

/** Sends one request and reads the whole response. Any status resolves; only failures reject. */
export function httpsRequest(opts: HttpsRequestOptions): Promise<HttpsResponse> {
  const url = new URL(opts.url)
  // The URL without its query, for error messages: queries may carry things not to be logged.
  const where = `${url.origin}${url.pathname}`
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return Promise.reject(new TypeError(`${opts.url}: only https: and http: URLs are supported`))
  }
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(opts.headers ?? {})) headers[name.toLowerCase()] = value
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
  const body = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body
  if (body !== undefined) headers['content-length'] = String(body.byteLength)
  const timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES
  const signal = opts.signal
  const requestOptions: https.RequestOptions = { method: opts.method ?? 'GET', headers }
  if (url.protocol === 'https:' && opts.ca !== undefined) requestOptions.ca = opts.ca

  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    let settled = false
    const settle = (err: unknown, response?: HttpsResponse): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      if (response !== undefined) {
        resolve(response)
      } else {
        req.destroy()
        reject(err)
      }
    }
    const onAbort = (): void => settle(signal?.reason)
    const transport = url.protocol === 'https:' ? https : http
    const req = transport.request(url, requestOptions, (res) => {
      const chunks: Buffer[] = []
      let bytes = 0
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.byteLength
        if (bytes > maxResponseBytes) settle(new ResponseTooLargeError(where, maxResponseBytes))
        else chunks.push(chunk)
      })
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        settle(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: text })
      })
      res.on('error', (err) => settle(err))
      res.on('close', () => {
        if (!res.complete) settle(new ResponseIncompleteError(where))
      })
    })
    // These listeners stay for the request's whole life: once settled, the errors that destroying
    // the request provokes are expected and ignored by `settle`, instead of crashing the process.
    req.on('error', (err) => settle(err))
    const timer = setTimeout(() => settle(new RequestTimeoutError(where, timeoutMs)), timeoutMs)
    signal?.addEventListener('abort', onAbort, { once: true })
    req.end(body)
  })
}

/**
 * Sends one request with a JSON body (if any) and parses the response as JSON. Any status
 * resolves; a body that is not JSON rejects with `InvalidJsonResponseError`.
 */
export async function httpsJson<T = unknown>(opts: JsonRequestOptions): Promise<JsonResponse<T>> {
  const { body, headers, ...rest } = opts
  const request: HttpsRequestOptions = {
    ...rest,
    headers: { accept: 'application/json', ...lowerCased(headers) },
  }
  if (body !== undefined) {
    request.body = JSON.stringify(body)
    request.headers = { 'content-type': 'application/json', ...request.headers }
  }
  const res = await httpsRequest(request)
  if (res.body.trim() === '') return { status: res.status, headers: res.headers, body: undefined }
  try {
    return { status: res.status, headers: res.headers, body: JSON.parse(res.body) as T }
  } catch {
    // The parse error says only where parsing failed; the status and body start say more.
    const url = new URL(opts.url)
    throw new InvalidJsonResponseError(`${url.origin}${url.pathname}`, res.status, res.body.slice(0, 200))
  }
}

function lowerCased(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value
  return out
}

/**
 * ResourceCommand: the base of the kubectl-style verbs (`get`, `describe`, `apply`, ...). It adds
 * to ClientCommand what those need: requests with any Accept and Content-Type, Kubernetes
 * `Status` errors kept whole (code, reason, causes), streamed watches, and the namespace to use
 * (`-n`, else the kubeconfig context's, else `default`).
 *
 * Errors from the server are printed as kubectl prints them — `Error from server (NotFound):
 * pods "x" not found` — and exit 1; verbs that act on several objects print one such line per
 * failed object, go on with the rest and exit 1 at the end. Usage errors still go to
 * ShoalCommand (exit 2).
 */

import http from 'node:http'
import https from 'node:https'
import { Option, UsageError } from 'clipanion'
import { httpsRequest } from '../src/api/https-client.js'
import type { ResourceType } from '../src/store/resources.js'
import type { KubeObject, Status } from '../src/store/types.js'
import { ApiError, ClientCommand, type Connection } from './client.js'
import { placeManifest, readAllStdin, readManifests } from './manifests.js'
import { parseResourceArgs, query, resourcePath } from './resources.js'
import { CommandUsageError } from './shoal-command.js'

/** The Accept header that asks for a server-side Table (with plain JSON as the fallback). */
export const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json'

/** Time a single (non-watch) request may take. */
const REQUEST_TIMEOUT_MS = 30_000
/** A watch line longer than this ends the watch with an error (a bound on what is buffered). */
const MAX_WATCH_LINE_BYTES = 16 * 1024 * 1024

/** The server answered with an error Status; the message is kubectl's wording of it. */
export class ServerError extends Error {
  override name = 'ServerError'
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly status: Partial<Status>,
  ) {
    super(describeStatus(code, reason, status))
  }
}

/** kubectl's one-line rendering of an error Status (cmdutil.StandardErrorMessage). */
export function describeStatus(code: number, reason: string, status: Partial<Status>): string {
  const message = status.message ?? `the server answered ${code}`
  const causes = status.details?.causes ?? []
  if (reason === 'Invalid' && causes.length > 0) {
    const what =
      status.details?.kind || status.details?.name
        ? `The ${status.details?.kind ?? ''} "${status.details?.name ?? ''}" is invalid`
        : 'The request is invalid'
    return `${what}: ${causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ')}`
  }
  return reason ? `Error from server (${reason}): ${message}` : `Error from server: ${message}`
}

/** One event of a watch stream. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'
  object: unknown
}

/** Options of ResourceCommand.request. */
export interface RequestOptions {
  /** Sent as JSON. */
  body?: unknown
  /** Defaults to application/json when there is a body. */
  contentType?: string
  /** Defaults to application/json. */
  accept?: string
}

/** One object a verb acts on. */
export interface SelectedObject {
  type: ResourceType
  /** Undefined for cluster-scoped kinds. */
  namespace: string | undefined
  name: string
}

/** How a verb that acts on existing objects was told which ones. */
export interface Selection {
  /** The verb, for messages (`delete`, `label`). */
  verb: string
  /** `TYPE NAME...` or `TYPE/NAME...`. */
  args: string[]
  /** `-f` paths. */
  filenames: string[]
  /** `-l`. */
  selector: string | undefined
  /** `--all`: every object of the types. */
  all: boolean
  /** `-A`: with `-l` or `--all`, in every namespace. */
  allNamespaces: boolean
}

/** A command that reads and writes API objects. Implement `runVerb()`. */
export abstract class ResourceCommand extends ClientCommand {
  namespaceOption = Option.String('-n,--namespace', {
    description: 'the namespace (default: the kubeconfig context namespace, else default)',
  })

  abstract runVerb(): Promise<number>

  async run(): Promise<number> {
    try {
      return await this.runVerb()
    } catch (err) {
      // The one place a verb's server error becomes kubectl's line and exit code 1.
      if (err instanceof ServerError) {
        this.context.stderr.write(`${err.message}\n`)
        return 1
      }
      throw err
    }
  }

  /** The namespace for namespaced objects that do not name one. */
  protected namespace(): string {
    if (this.namespaceOption !== undefined) {
      if (this.namespaceOption === '') throw new CommandUsageError('-n: the namespace may not be empty')
      return this.namespaceOption
    }
    const fromContext = (this.connection() as Connection & { namespace?: string }).namespace
    return fromContext || 'default'
  }

  /**
   * Prints the error of one object among several (kubectl's line for server errors, `shoal:`
   * otherwise) so the verb can go on with the others; usage errors are rethrown.
   */
  protected reportError(err: unknown): void {
    if (err instanceof UsageError) throw err
    if (err instanceof ServerError) this.context.stderr.write(`${err.message}\n`)
    else this.context.stderr.write(`shoal: ${err instanceof Error ? err.message : String(err)}\n`)
  }

  /** Sends a request; returns the parsed JSON answer, or throws ServerError / ApiError (unreachable). */
  protected async request(method: string, path: string, opts: RequestOptions = {}): Promise<unknown> {
    const c = this.connection()
    const headers: Record<string, string> = { accept: opts.accept ?? 'application/json' }
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json'
    let res: { status: number; body: string }
    try {
      res = await httpsRequest({
        url: `${c.server}${path}`,
        method,
        token: c.token,
        ca: c.ca,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        headers,
        timeoutMs: REQUEST_TIMEOUT_MS,
      })
    } catch (err) {
      const e = err as Error & { code?: string }
      throw new ApiError(`cannot reach ${c.server}: ${e.code ?? e.message}`, 0)
    }
    let parsed: unknown = res.body
    try {
      parsed = res.body === '' ? undefined : JSON.parse(res.body)
    } catch {
      // Not JSON (a proxy's error page, say): the text itself is the best message there is.
    }
    if (res.status >= 400) throw toServerError(res.status, parsed)
    return parsed
  }

  /**
   * The objects a verb acts on, from names, manifests (`-f`), a selector (`-l`) or `--all`,
   * with kubectl's usage rules. Selectors and `--all` list the objects now.
   */
  protected async select(sel: Selection): Promise<SelectedObject[]> {
    if (sel.filenames.length > 0) {
      if (sel.args.length > 0) throw new CommandUsageError('give either resource arguments or -f, not both')
      if (sel.selector || sel.all) throw new CommandUsageError('-l and --all cannot be used with -f')
      const manifests = await readManifests(sel.filenames, () => readAllStdin(this.context.stdin))
      const namespace = this.namespace()
      return manifests.map((m) => {
        const placed = placeManifest(m, namespace, this.namespaceOption !== undefined)
        const name = placed.object.metadata.name
        if (!name) throw new CommandUsageError(`${m.source}: metadata.name not set`)
        return { type: m.type, namespace: placed.namespace, name }
      })
    }
    const requests = parseResourceArgs(sel.args)
    if (requests.length === 0)
      throw new CommandUsageError(
        `you must specify the type of resource to ${sel.verb}, or -f (e.g. shoal ${sel.verb} pod NAME)`,
      )
    const named = requests.some((r) => r.names.length > 0)
    if (named && sel.selector) throw new CommandUsageError('a name cannot be given together with -l')
    if (named && sel.all) throw new CommandUsageError('a name cannot be given together with --all')
    if (named && sel.allNamespaces)
      throw new CommandUsageError('a resource cannot be named across all namespaces (-A)')
    if (!named && !sel.selector && !sel.all)
      throw new CommandUsageError(
        `resource(s) were provided, but no name was specified (give NAME, -l SELECTOR or --all)`,
      )
    const namespace = sel.allNamespaces ? undefined : this.namespace()
    const out: SelectedObject[] = []
    for (const r of requests) {
      const ns = r.type.namespaced ? namespace : undefined
      if (named) {
        for (const name of r.names) out.push({ type: r.type, namespace: ns, name })
        continue
      }
      const list = (await this.request(
        'GET',
        resourcePath(r.type, ns) + query({ labelSelector: sel.selector }),
      )) as { items?: KubeObject[] }
      for (const item of list.items ?? []) {
        out.push({
          type: r.type,
          namespace: r.type.namespaced ? item.metadata.namespace : undefined,
          name: item.metadata.name ?? '',
        })
      }
    }
    return out
  }

  /** GET an object; undefined when it does not exist (404). */
  protected async getOrUndefined(path: string): Promise<KubeObject | undefined> {
    try {
      return (await this.request('GET', path)) as KubeObject
    } catch (err) {
      if (err instanceof ServerError && err.code === 404) return undefined
      throw err
    }
  }

  /**
   * Streams a watch (`path` must carry `watch=true`), calling `onEvent` for each event, until the
   * server ends it ('closed') or `signal` aborts ('aborted'). A non-200 answer throws ServerError.
   */
  protected watchStream(
    path: string,
    accept: string,
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<'closed' | 'aborted'> {
    let pending = ''
    return this.streamGet(path, accept, signal, (chunk) => {
      pending += chunk
      let nl = pending.indexOf('\n')
      while (nl >= 0) {
        const line = pending.slice(0, nl).trim()
        pending = pending.slice(nl + 1)
        if (line !== '') onEvent(JSON.parse(line) as WatchEvent)
        nl = pending.indexOf('\n')
      }
      if (pending.length > MAX_WATCH_LINE_BYTES)
        throw new Error(`a watch event is larger than ${MAX_WATCH_LINE_BYTES} bytes`)
    })
  }

  /**
   * GETs `path` and hands each chunk of the answer's text to `onChunk` as it arrives (a watch,
   * a followed log), until the server ends it ('closed') or `signal` aborts ('aborted'). A
   * non-200 answer throws ServerError; so does anything `onChunk` throws.
   */
  protected streamGet(
    path: string,
    accept: string,
    signal: AbortSignal,
    onChunk: (chunk: string) => void,
  ): Promise<'closed' | 'aborted'> {
    const c = this.connection()
    const url = new URL(`${c.server}${path}`)
    const headers: Record<string, string> = { accept }
    if (c.token !== undefined) headers.authorization = `Bearer ${c.token}`
    const options: https.RequestOptions = { method: 'GET', headers }
    if (url.protocol === 'https:' && c.ca !== undefined) options.ca = c.ca
    const transport = url.protocol === 'https:' ? https : http
    return new Promise((resolve, reject) => {
      let settled = false
      const settle = (err: unknown, how?: 'closed' | 'aborted'): void => {
        if (settled) return
        settled = true
        signal.removeEventListener('abort', onAbort)
        req.destroy()
        if (how) resolve(how)
        else reject(err)
      }
      const onAbort = (): void => settle(undefined, 'aborted')
      const req = transport.request(url, options, (res) => {
        const chunks: Buffer[] = []
        res.setEncoding('utf8')
        if (res.statusCode !== 200) {
          res.on('data', (chunk: string) => chunks.push(Buffer.from(chunk)))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            let parsed: unknown = text
            try {
              parsed = JSON.parse(text)
            } catch {
              // Plain text: used as the message below.
            }
            settle(toServerError(res.statusCode ?? 0, parsed))
          })
          return
        }
        res.on('data', (chunk: string) => {
          try {
            onChunk(chunk)
          } catch (err) {
            settle(err)
          }
        })
        res.on('end', () => settle(undefined, 'closed'))
        res.on('error', (err) => settle(err))
      })
      req.on('error', (err: Error & { code?: string }) =>
        settle(new ApiError(`cannot reach ${c.server}: ${err.code ?? err.message}`, 0)),
      )
      if (signal.aborted) {
        settle(undefined, 'aborted')
        return
      }
      signal.addEventListener('abort', onAbort, { once: true })
      req.end()
    })
  }
}

/** The ServerError for an error answer (a Status when the server sent one). */
export function toServerError(code: number, body: unknown): ServerError {
  const st =
    body && typeof body === 'object' && (body as { kind?: unknown }).kind === 'Status'
      ? (body as Partial<Status>)
      : { message: typeof body === 'string' && body !== '' ? body.trim() : `the server answered ${code}` }
  return new ServerError(code, st.reason ?? reasonForCode(code), st)
}

function reasonForCode(code: number): string {
  const reasons: Record<number, string> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    405: 'MethodNotAllowed',
    409: 'Conflict',
    410: 'Expired',
    415: 'UnsupportedMediaType',
    422: 'Invalid',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  }
  return reasons[code] ?? ''
}

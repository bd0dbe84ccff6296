/** `shoal get`: list or read objects as a table, JSON, YAML or names; `-w` keeps printing changes. */

import { Option } from 'clipanion'
import type { ResourceType } from '../src/store/resources.js'
import type { KubeObject, ObjectMeta } from '../src/store/types.js'
import { readAllStdin, readManifests } from './manifests.js'
import {
  ColumnAligner,
  isTable,
  type OutputFormat,
  parseOutputFormat,
  renderObjects,
  type ServerTable,
  type TableColumn,
  type TableOptions,
  type TableRowData,
  tableHeader,
  tableRow,
  toJsonText,
  toYamlText,
} from './printers.js'
import { ResourceCommand, ServerError, TABLE_ACCEPT, type WatchEvent } from './resource-command.js'
import { parseResourceArgs, query, resourcePath, typeLabel } from './resources.js'
import { CommandUsageError } from './shoal-command.js'

/** What to read: objects of one type in one namespace (undefined: cluster-scoped or every namespace). */
export interface Target {
  type: ResourceType
  namespace: string | undefined
  /** Empty: every object (subject to selectors). */
  names: string[]
}

/** A list answer: the items and the resourceVersion to watch from. */
interface Listed {
  table?: ServerTable
  objects: KubeObject[]
  resourceVersion: string
}

export class GetCommand extends ResourceCommand {
  static override paths = [['get']]
  static override usage = ResourceCommand.Usage({
    description: 'display one or many objects',
    details: `
      TYPE is a resource type in any form kubectl accepts: plural (pods), singular (pod), short
      name (po) or kind (Pod); several are joined with commas (rc,svc), and \`all\` stands for
      pods, replication controllers and services. Objects can also be named as TYPE/NAME, or
      by the manifests that describe them (-f). Tables come from the server, as kubectl's do.
    `,
    examples: [
      ['List the pods of the current namespace', 'shoal get pods'],
      ['Every replication controller and service, in every namespace', 'shoal get rc,svc -A'],
      ['One pod, as YAML', 'shoal get pod/web -o yaml'],
      ['Pods labelled app=web, with their node and IP', 'shoal get po -l app=web -o wide'],
      ['Watch the pods change', 'shoal get pods -w'],
    ],
  })

  output = Option.String('-o,--output', 'table', { description: 'table, wide, json, yaml or name' })
  watch = Option.Boolean('-w,--watch', false, { description: 'after listing, print each change' })
  watchOnly = Option.Boolean('--watch-only', false, { description: 'print changes only, not the list first' })
  outputWatchEvents = Option.Boolean('--output-watch-events', false, {
    description: 'with -w, print the event type (ADDED, MODIFIED, DELETED) too',
  })
  selector = Option.String('-l,--selector', { description: 'label selector, e.g. app=web,tier!=db' })
  fieldSelector = Option.String('--field-selector', {
    description: 'field selector, e.g. status.phase=Running',
  })
  allNamespaces = Option.Boolean('-A,--all-namespaces', false, { description: 'across every namespace' })
  filename = Option.Array('-f,--filename', [], {
    description: 'the objects a manifest file, directory or - names',
  })
  showLabels = Option.Boolean('--show-labels', false, { description: 'a LABELS column last' })
  noHeaders = Option.Boolean('--no-headers', false, { description: 'no header line' })
  ignoreNotFound = Option.Boolean('--ignore-not-found', false, {
    description: 'a missing object is no error',
  })
  args = Option.Rest({ name: 'TYPE[,TYPE...] [NAME...] | TYPE/NAME...' })

  async runVerb(): Promise<number> {
    const format = parseOutputFormat(this.output)
    const targets = await this.targets()
    if (this.watch || this.watchOnly) return this.watchTarget(targets, format)

    let failed = false
    const onError = (err: unknown): void => {
      if (this.ignoreNotFound && err instanceof ServerError && err.code === 404) return
      failed = true
      this.reportError(err)
    }
    const listed: boolean = targets.some((t) => t.names.length === 0)
    if (format === 'table' || format === 'wide') {
      const multi = targets.length > 1
      let out = ''
      let rowCount = 0
      let groups = 0
      for (const target of targets) {
        const table = await this.readTable(target, onError)
        if (!table || table.rows.length === 0) continue
        rowCount += table.rows.length
        const opts = this.tableOptions(target.type, format, multi)
        const lines: string[][] = []
        if (!this.noHeaders) lines.push(tableHeader(table.columnDefinitions, opts))
        for (const row of table.rows) lines.push(tableRow(table.columnDefinitions, row, opts))
        // Each type is its own table, as kubectl prints them: aligned on its own, a blank line between.
        out += `${groups > 0 ? '\n' : ''}${new ColumnAligner().format(lines)}`
        groups++
      }
      this.context.stdout.write(out)
      if (rowCount === 0 && listed && !failed) this.context.stdout.write(`${this.noResources(targets)}\n`)
      return failed ? 1 : 0
    }

    const objects: { object: unknown; label: string }[] = []
    for (const target of targets) {
      for (const object of await this.readObjects(target, onError))
        objects.push({ object, label: typeLabel(target.type) })
    }
    const single = !listed && targets.reduce((n, t) => n + t.names.length, 0) === 1
    if (objects.length === 0 && listed && !failed && format === 'name') {
      this.context.stdout.write(`${this.noResources(targets)}\n`)
      return 0
    }
    if (objects.length > 0 || listed) this.context.stdout.write(renderObjects(objects, format, single))
    return failed ? 1 : 0
  }

  /** The targets the arguments or manifests name. */
  private async targets(): Promise<Target[]> {
    if (this.filename.length > 0) {
      if (this.args.length > 0) throw new CommandUsageError('give either resource arguments or -f, not both')
      if (this.selector) throw new CommandUsageError('-l cannot be used with -f')
      const manifests = await readManifests(this.filename, () => readAllStdin(this.context.stdin))
      const out: Target[] = []
      for (const m of manifests) {
        const namespace = m.type.namespaced ? (m.object.metadata?.namespace ?? this.namespace()) : undefined
        const name = m.object.metadata?.name
        if (!name) throw new CommandUsageError(`${m.source}: metadata.name not set`)
        const same = out.find((t) => t.type === m.type && t.namespace === namespace)
        if (same) same.names.push(name)
        else out.push({ type: m.type, namespace, names: [name] })
      }
      return out
    }
    const requests = parseResourceArgs(this.args)
    if (requests.length === 0) {
      throw new CommandUsageError(
        'you must specify the type of resource to get, e.g. shoal get pods (types: pods, replicationcontrollers, services, endpoints, configmaps, events, namespaces, nodes)',
      )
    }
    const named = requests.some((r) => r.names.length > 0)
    if (named && this.selector) throw new CommandUsageError('a name cannot be given together with -l')
    if (named && this.allNamespaces && requests.some((r) => r.type.namespaced))
      throw new CommandUsageError('a resource cannot be retrieved by name across all namespaces')
    const namespace = this.allNamespaces ? undefined : this.namespace()
    return requests.map((r) => ({
      type: r.type,
      namespace: r.type.namespaced ? namespace : undefined,
      names: r.names,
    }))
  }

  private tableOptions(type: ResourceType, format: OutputFormat, multi: boolean): TableOptions {
    return {
      wide: format === 'wide',
      withNamespace: this.allNamespaces && type.namespaced,
      showLabels: this.showLabels,
      namePrefix: multi ? `${typeLabel(type)}/` : '',
    }
  }

  private noResources(targets: Target[]): string {
    const ns = targets.find((t) => t.type.namespaced)?.namespace
    return ns === undefined ? 'No resources found' : `No resources found in ${ns} namespace.`
  }

  private listQuery(extraField?: string): Record<string, string | undefined> {
    const fields = [this.fieldSelector, extraField].filter((f): f is string => !!f).join(',')
    return { labelSelector: this.selector, fieldSelector: fields || undefined }
  }

  /** The target's Table: the list, or the named objects' rows in one Table (errors reported). */
  private async readTable(target: Target, onError: (err: unknown) => void): Promise<ServerTable | undefined> {
    if (target.names.length === 0) {
      const path = resourcePath(target.type, target.namespace) + query(this.listQuery())
      return asTable(await this.request('GET', path, { accept: TABLE_ACCEPT }))
    }
    let merged: ServerTable | undefined
    for (const name of target.names) {
      try {
        const table = asTable(
          await this.request('GET', resourcePath(target.type, target.namespace, name), {
            accept: TABLE_ACCEPT,
          }),
        )
        if (!merged) merged = table
        else merged.rows.push(...table.rows)
      } catch (err) {
        onError(err)
      }
    }
    return merged
  }

  /** The target's objects: the list, or the named objects (errors reported). */
  private async readObjects(target: Target, onError: (err: unknown) => void): Promise<KubeObject[]> {
    if (target.names.length === 0) return (await this.list(target, false)).objects
    const out: KubeObject[] = []
    for (const name of target.names) {
      try {
        out.push((await this.request('GET', resourcePath(target.type, target.namespace, name))) as KubeObject)
      } catch (err) {
        onError(err)
      }
    }
    return out
  }

  private async list(target: Target, table: boolean, extraField?: string): Promise<Listed> {
    const path = resourcePath(target.type, target.namespace) + query(this.listQuery(extraField))
    const answer = await this.request('GET', path, table ? { accept: TABLE_ACCEPT } : {})
    if (table) {
      const t = asTable(answer)
      return { table: t, objects: [], resourceVersion: t.metadata?.resourceVersion ?? '' }
    }
    const list = answer as { items?: KubeObject[]; metadata?: { resourceVersion?: string } }
    const objects = (list.items ?? []).map((o) => ({ ...o, apiVersion: 'v1', kind: target.type.kind }))
    return { objects, resourceVersion: list.metadata?.resourceVersion ?? '' }
  }

  /** `-w`: list (unless --watch-only), then print every change until Ctrl-C. */
  private async watchTarget(targets: Target[], format: OutputFormat): Promise<number> {
    if (targets.length !== 1)
      throw new CommandUsageError('you may only specify a single resource type with -w')
    const target = targets[0]!
    if (target.names.length > 1) {
      throw new CommandUsageError(
        `watch is only supported on individual resources and resource collections, but ${target.names.length} resources were given`,
      )
    }
    const nameField = target.names[0] === undefined ? undefined : `metadata.name=${target.names[0]}`
    const tableFormat = format === 'table' || format === 'wide'
    const opts = this.tableOptions(target.type, format, false)
    const aligner = new ColumnAligner()
    let columns: TableColumn[] = []
    let headerPrinted = this.noHeaders
    let printedObjects = 0
    const out = this.context.stdout

    const printRows = (rows: TableRowData[], eventType?: string): void => {
      const lines: string[][] = []
      if (!headerPrinted && rows.length > 0) {
        const header = tableHeader(columns, opts)
        lines.push(this.outputWatchEvents ? ['EVENT', ...header] : header)
        headerPrinted = true
      }
      for (const row of rows) {
        const cells = tableRow(columns, row, opts)
        lines.push(this.outputWatchEvents ? [eventType ?? 'ADDED', ...cells] : cells)
      }
      if (lines.length > 0) out.write(aligner.format(lines))
    }
    const printObject = (object: unknown, eventType: string): void => {
      const shown = this.outputWatchEvents ? { type: eventType, object } : object
      if (format === 'json') out.write(toJsonText(shown))
      else if (format === 'yaml') out.write(`${printedObjects > 0 ? '---\n' : ''}${toYamlText(shown)}`)
      else {
        const line = renderObjects([{ object, label: typeLabel(target.type) }], 'name', true)
        out.write(this.outputWatchEvents ? `${eventType} ${line}` : line)
      }
      printedObjects++
    }

    const listed = await this.list(target, tableFormat, nameField)
    let resourceVersion = listed.resourceVersion
    if (listed.table) columns = listed.table.columnDefinitions
    if (!this.watchOnly) {
      if (listed.table) printRows(listed.table.rows)
      else for (const object of listed.objects) printObject(object, 'ADDED')
    }

    const controller = new AbortController()
    const stop = (): void => controller.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      for (;;) {
        const startedMs = Date.now()
        const path =
          resourcePath(target.type, target.namespace) +
          query({ ...this.listQuery(nameField), watch: 'true', resourceVersion })
        const how = await this.watchStream(
          path,
          tableFormat ? TABLE_ACCEPT : 'application/json',
          (event: WatchEvent) => {
            if (event.type === 'ERROR') {
              const st = event.object as { code?: number; reason?: string }
              throw new ServerError(st.code ?? 500, st.reason ?? '', event.object as object)
            }
            if (event.type === 'BOOKMARK') {
              resourceVersion = rvOf(event.object) ?? resourceVersion
              return
            }
            if (tableFormat && isTable(event.object)) {
              if (event.object.columnDefinitions.length > 0 && columns.length === 0)
                columns = event.object.columnDefinitions
              printRows(event.object.rows, event.type)
              resourceVersion = event.object.metadata?.resourceVersion || resourceVersion
            } else {
              const object = { ...(event.object as KubeObject), apiVersion: 'v1', kind: target.type.kind }
              printObject(object, event.type)
              resourceVersion = rvOf(object) ?? resourceVersion
            }
          },
          controller.signal,
        )
        // The server ends a watch after its timeout: resume from the last version seen, but
        // not in a tight loop when it keeps ending them at once.
        if (how === 'aborted') return 0
        if (Date.now() - startedMs < WATCH_RETRY_MS) await abortableSleep(WATCH_RETRY_MS, controller.signal)
        if (controller.signal.aborted) return 0
      }
    } finally {
      process.removeListener('SIGINT', stop)
      process.removeListener('SIGTERM', stop)
    }
  }
}

/** The least time between two watch requests when the server ends them early. */
const WATCH_RETRY_MS = 1000

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

function asTable(value: unknown): ServerTable {
  if (!isTable(value)) throw new Error('the server did not answer with a Table')
  return value
}

function rvOf(object: unknown): string | undefined {
  return (object as { metadata?: ObjectMeta } | undefined)?.metadata?.resourceVersion || undefined
}

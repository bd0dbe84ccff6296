/**
 * Server-side Table printing: the `meta.k8s.io/v1` Table that `kubectl get` asks for, with the
 * columns and cell logic of Kubernetes' printers (pkg/printers/internalversion/printers.go,
 * v1.32) for the kinds Shoal serves, and the generic Name / Created At table for the rest.
 *
 * Pure: ages are computed against the `nowMs` the caller passes in; nothing here reads a clock.
 *
 * Like kube-apiserver (pkg/printers/storage: `GenerateOptions{Wide: true}`), every row carries
 * the priority-1 cells too; kubectl hides those columns unless `-o wide`.
 */

import type { KubeObject, ObjectMeta } from '../store/types.js'

/** One column of a Table (metav1.TableColumnDefinition); every field is always serialized. */
export interface TableColumnDefinition {
  name: string
  /** An OpenAPI type: `string`, `integer`, `number`, `boolean`, `date`. */
  type: string
  /** An OpenAPI format; `name` marks the column holding the object's name. */
  format: string
  description: string
  /** 0 for default output, 1 for columns kubectl shows only with `-o wide`. */
  priority: number
}

/** A condition of a row (metav1.TableRowCondition); pods that finished carry `Completed`. */
export interface TableRowCondition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  reason?: string
  message?: string
}

/** An object's metadata without its spec and status (meta.k8s.io PartialObjectMetadata). */
export interface PartialObjectMetadata {
  kind: 'PartialObjectMetadata'
  apiVersion: string
  metadata: ObjectMeta
}

/** A cell of a row: strings, and integers for `integer` columns (and a few `string` ones, as upstream). */
export type TableCell = string | number

/** One row of a Table (metav1.TableRow); one per object, in the order given. */
export interface TableRow {
  cells: TableCell[]
  conditions?: TableRowCondition[]
  /** The object per `includeObject`: PartialObjectMetadata, the full object, or absent. */
  object?: PartialObjectMetadata | KubeObject
}

/** A Kubernetes Table (`kind: Table`, group meta.k8s.io). */
export interface Table {
  kind: 'Table'
  apiVersion: string
  metadata: { resourceVersion?: string }
  columnDefinitions: TableColumnDefinition[]
  rows: TableRow[]
}

/** How much of each object a Table row carries (the `includeObject` query parameter). */
export type IncludeObject = 'None' | 'Metadata' | 'Object'

/** The versions of meta.k8s.io a Table may be served in. */
export type TableVersion = 'v1' | 'v1beta1'

/** Options of {@link toTable}. */
export interface ToTableOptions {
  /** The reference time for every age cell, in Unix milliseconds. */
  nowMs: number
  includeObject: IncludeObject
  /** Goes to the Table's `metadata.resourceVersion`. */
  resourceVersion: string
  /** The meta.k8s.io version to answer in (from {@link negotiateTable}); default `v1`. */
  version?: TableVersion
}

/** One media range of an Accept header, type and parameter names lower-cased. */
export interface MediaRange {
  type: string
  subtype: string
  params: Map<string, string>
  /** The `q` weight, 1 when absent, 0 when malformed (as goautoneg, which Kubernetes uses). */
  q: number
}

// ---------------------------------------------------------------------------------------------
// Accept negotiation

/**
 * The media ranges of an HTTP Accept header, in header order. Commas and semicolons inside
 * quoted parameter values do not split; quoted values are unquoted.
 */
export function parseAccept(header: string | undefined): MediaRange[] {
  if (header === undefined) return []
  const ranges: MediaRange[] = []
  for (const entry of splitOutsideQuotes(header, ',')) {
    const [typePart, ...paramParts] = splitOutsideQuotes(entry, ';')
    const full = (typePart ?? '').trim().toLowerCase()
    if (full === '') continue
    const slash = full.indexOf('/')
    const type = slash < 0 ? full : full.slice(0, slash).trim()
    const subtype = slash < 0 ? '*' : full.slice(slash + 1).trim()
    const params = new Map<string, string>()
    let q = 1
    for (const part of paramParts) {
      const eq = part.indexOf('=')
      if (eq < 0) continue
      const key = part.slice(0, eq).trim().toLowerCase()
      const value = unquote(part.slice(eq + 1).trim())
      if (key === 'q') {
        const parsed = Number(value)
        q = value !== '' && Number.isFinite(parsed) ? parsed : 0
      } else {
        params.set(key, value)
      }
    }
    ranges.push({ type, subtype, params, q })
  }
  return ranges
}

/**
 * The meta.k8s.io version of Table an Accept header negotiates, or undefined when the client
 * should get plain JSON. As kube-apiserver: ranges are taken by descending `q` (ties in header
 * order, `q=0` never), and the first one Shoal can serve decides: a Table range
 * (`application/json;as=Table;v=v1|v1beta1;g=meta.k8s.io`) or a plain JSON one
 * (`application/json` without `as`, `application/*`, `*\/*`). Ranges for other media types or
 * other `as` transformations are skipped.
 */
export function negotiateTable(accept: string | undefined): TableVersion | undefined {
  const ranges = parseAccept(accept)
    .map((range, index) => ({ range, index }))
    .filter(({ range }) => range.q > 0)
    .sort((a, b) => b.range.q - a.range.q || a.index - b.index)
  for (const { range } of ranges) {
    const as = range.params.get('as')
    if (range.type === '*' && range.subtype === '*' && as === undefined) return undefined
    if (range.type !== 'application') continue
    if (range.subtype === '*' && as === undefined) return undefined
    if (range.subtype !== 'json') continue
    if (as === undefined) return undefined
    const version = range.params.get('v')
    if (
      as === 'Table' &&
      range.params.get('g') === 'meta.k8s.io' &&
      (version === 'v1' || version === 'v1beta1')
    ) {
      return version
    }
  }
  return undefined
}

/** Whether a request with this Accept header gets a Table (see {@link negotiateTable}). */
export function wantsTable(accept: string | undefined): boolean {
  return negotiateTable(accept) !== undefined
}

/**
 * The `includeObject` query parameter: `None`, `Metadata` or `Object`; `Metadata` when it is
 * absent or not one of those (kube-apiserver's default).
 */
export function tableIncludeObject(query: URLSearchParams): IncludeObject {
  const value = query.get('includeObject')
  return value === 'None' || value === 'Object' ? value : 'Metadata'
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = []
  let current = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (quoted && ch === '\\' && i + 1 < text.length) {
      current += ch + text[i + 1]
      i++
      continue
    }
    if (ch === '"') quoted = !quoted
    if (ch === separator && !quoted) {
      parts.push(current)
      current = ''
    } else {
      current += ch
    }
  }
  parts.push(current)
  return parts
}

function unquote(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value
  return value.slice(1, -1).replace(/\\(.)/g, '$1')
}

// ---------------------------------------------------------------------------------------------
// Durations

/**
 * A duration as Kubernetes prints ages (k8s.io/apimachinery/pkg/util/duration.HumanDuration):
 * ~2-3 significant figures, e.g. `59s`, `119s`, `2m30s`, `10m`, `3h5m`, `47h`, `2d5h`, `8d`,
 * `2y100d`, `9y`. Up to 2 s in the future reads `0s` (clock skew); further is `<invalid>`.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000)
  if (seconds < -1) return '<invalid>'
  if (seconds < 0) return '0s'
  if (seconds < 60 * 2) return `${seconds}s`
  const minutes = Math.trunc(ms / 60_000)
  if (minutes < 10) {
    const s = seconds % 60
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`
  }
  if (minutes < 60 * 3) return `${minutes}m`
  const hours = Math.trunc(ms / 3_600_000)
  if (hours < 8) {
    const m = minutes % 60
    return m === 0 ? `${hours}h` : `${hours}h${m}m`
  }
  if (hours < 48) return `${hours}h`
  const days = Math.trunc(hours / 24)
  if (hours < 24 * 8) {
    const h = hours % 24
    return h === 0 ? `${days}d` : `${days}d${h}h`
  }
  if (hours < 24 * 365 * 2) return `${days}d`
  const years = Math.trunc(days / 365)
  if (hours < 24 * 365 * 8) {
    const dy = days % 365
    return dy === 0 ? `${years}y` : `${years}y${dy}d`
  }
  return `${years}y`
}

// ---------------------------------------------------------------------------------------------
// The Table

/**
 * The Table of `objects` (all of kind `kind`) as kube-apiserver 1.32 renders it for kubectl:
 * Pod, ReplicationController, Service, Node, Endpoints, Namespace, Event and ConfigMap get
 * their upstream columns; any other kind gets the generic `Name`, `Created At` table.
 */
export function toTable(kind: string, objects: KubeObject[], opts: ToTableOptions): Table {
  const printer = printers[kind] ?? defaultPrinter
  const apiVersion = `meta.k8s.io/${opts.version ?? 'v1'}`
  const rows = objects.map((obj): TableRow => {
    const printed = printer.row(obj, opts.nowMs)
    const row: TableRow = { cells: printed.cells }
    if (printed.conditions !== undefined) row.conditions = printed.conditions
    if (opts.includeObject === 'Object') {
      row.object = obj
    } else if (opts.includeObject === 'Metadata') {
      row.object = { kind: 'PartialObjectMetadata', apiVersion, metadata: obj.metadata }
    }
    return row
  })
  return {
    kind: 'Table',
    apiVersion,
    metadata: { resourceVersion: opts.resourceVersion },
    columnDefinitions: printer.columns.map((c) => ({ ...c })),
    rows,
  }
}

interface PrintedRow {
  cells: TableCell[]
  conditions?: TableRowCondition[]
}

interface KindPrinter {
  columns: TableColumnDefinition[]
  row(obj: KubeObject, nowMs: number): PrintedRow
}

// Descriptions are informational (kubectl never prints them). Those printers.go spells out are
// verbatim; those it takes from the API's field docs are the docs' first sentences.
const nameDoc =
  'Name must be unique within a namespace. Is required when creating resources, although some resources ' +
  'may allow a client to request the generation of an appropriate name automatically. Name is primarily ' +
  'intended for creation idempotence and configuration definition. Cannot be updated. More info: ' +
  'https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names'
const creationDoc =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not ' +
  'guaranteed to be set in happens-before order across separate operations. Clients may not set this ' +
  'value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for ' +
  'lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata'
const nodeAddressesDoc = 'List of addresses reachable to the node. Queried from cloud provider, if available.'

function col(
  name: string,
  type: string,
  description: string,
  priority = 0,
  format = '',
): TableColumnDefinition {
  return { name, type, format, description, priority }
}
const nameCol = col('Name', 'string', nameDoc, 0, 'name')
const ageCol = col('Age', 'string', creationDoc)

const podSucceeded: TableRowCondition[] = [
  { type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' },
]
const podFailed: TableRowCondition[] = [
  { type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' },
]

const podPrinter: KindPrinter = {
  columns: [
    nameCol,
    col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'string', 'The aggregate status of the containers in this pod.'),
    col(
      'Restarts',
      'string',
      'The number of times the containers in this pod have been restarted and when the last container in ' +
        'this pod has restarted.',
    ),
    ageCol,
    col('IP', 'string', 'podIP address allocated to the pod. Routable at least within the cluster.', 1),
    col('Node', 'string', 'NodeName indicates in which node this pod is scheduled.', 1),
    col(
      'Nominated Node',
      'string',
      'nominatedNodeName is set only when this pod preempts other pods on the node.',
      1,
    ),
    col(
      'Readiness Gates',
      'string',
      'If specified, all readiness gates will be evaluated for pod readiness.',
      1,
    ),
  ],
  row: printPod,
}

// printPod in printers.go, over the v1 JSON shape.
function printPod(pod: KubeObject, nowMs: number): PrintedRow {
  const spec = rec(pod.spec)
  const status = rec(pod.status)
  const initContainers = arr(spec.initContainers).map(rec)
  const restartableInit = new Set(initContainers.filter(isRestartable).map((c) => str(c.name)))
  const totalContainers = arr(spec.containers).length + initContainers.filter(isRestartable).length
  let readyContainers = 0
  let restarts = 0
  let restartableInitRestarts = 0
  let lastRestartMs: number | undefined
  let lastRestartableInitRestartMs: number | undefined

  const phase = str(status.phase)
  let reason = str(status.reason) || phase
  const conditions = arr(status.conditions).map(rec)
  if (conditions.some((c) => c.type === 'PodScheduled' && c.reason === 'SchedulingGated')) {
    reason = 'SchedulingGated'
  }

  let initializing = false
  const initStatuses = arr(status.initContainerStatuses).map(rec)
  for (let i = 0; i < initStatuses.length; i++) {
    const cs = initStatuses[i]!
    const count = int(cs.restartCount)
    const finishedMs = lastTerminatedMs(cs)
    restarts += count
    lastRestartMs = later(lastRestartMs, finishedMs)
    const restartable = restartableInit.has(str(cs.name))
    if (restartable) {
      restartableInitRestarts += count
      lastRestartableInitRestartMs = later(lastRestartableInitRestartMs, finishedMs)
    }
    const state = rec(cs.state)
    if (isObject(state.terminated) && int(state.terminated.exitCode) === 0) continue
    if (restartable && cs.started === true) {
      if (cs.ready === true) readyContainers++
      continue
    }
    if (isObject(state.terminated)) {
      const t = state.terminated
      if (str(t.reason) === '') {
        reason = int(t.signal) !== 0 ? `Init:Signal:${int(t.signal)}` : `Init:ExitCode:${int(t.exitCode)}`
      } else {
        reason = `Init:${str(t.reason)}`
      }
    } else if (
      isObject(state.waiting) &&
      str(state.waiting.reason) !== '' &&
      state.waiting.reason !== 'PodInitializing'
    ) {
      reason = `Init:${str(state.waiting.reason)}`
    } else {
      reason = `Init:${i}/${initContainers.length}`
    }
    initializing = true
    break
  }

  if (!initializing || conditions.some((c) => c.type === 'Initialized' && c.status === 'True')) {
    restarts = restartableInitRestarts
    lastRestartMs = lastRestartableInitRestartMs
    let hasRunning = false
    const statuses = arr(status.containerStatuses).map(rec)
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = statuses[i]!
      restarts += int(cs.restartCount)
      lastRestartMs = later(lastRestartMs, lastTerminatedMs(cs))
      const state = rec(cs.state)
      const waiting = state.waiting
      const terminated = state.terminated
      if (isObject(waiting) && str(waiting.reason) !== '') {
        reason = str(waiting.reason)
      } else if (isObject(terminated) && str(terminated.reason) !== '') {
        reason = str(terminated.reason)
      } else if (isObject(terminated)) {
        reason =
          int(terminated.signal) !== 0
            ? `Signal:${int(terminated.signal)}`
            : `ExitCode:${int(terminated.exitCode)}`
      } else if (cs.ready === true && isObject(state.running)) {
        hasRunning = true
        readyContainers++
      }
    }
    // A pod reads Completed when its last-listed container finished; with others still running it is not.
    if (reason === 'Completed' && hasRunning) {
      reason = conditions.some((c) => c.type === 'Ready' && c.status === 'True') ? 'Running' : 'NotReady'
    }
  }

  if (isDeleting(pod) && status.reason === 'NodeLost') {
    reason = 'Unknown'
  } else if (isDeleting(pod) && phase !== 'Succeeded' && phase !== 'Failed') {
    reason = 'Terminating'
  }

  let restartsCell = String(restarts)
  if (restarts !== 0 && lastRestartMs !== undefined) {
    restartsCell = `${restarts} (${humanDuration(nowMs - lastRestartMs)} ago)`
  }

  const podIPs = arr(status.podIPs).map(rec)
  const podIP = (podIPs.length > 0 ? str(podIPs[0]!.ip) : str(status.podIP)) || '<none>'
  const gates = arr(spec.readinessGates).map(rec)
  let readinessGates = '<none>'
  if (gates.length > 0) {
    let trueGates = 0
    for (const gate of gates) {
      const condition = conditions.find((c) => c.type === gate.conditionType)
      if (condition?.status === 'True') trueGates++
    }
    readinessGates = `${trueGates}/${gates.length}`
  }

  const cells = [
    name(pod),
    `${readyContainers}/${totalContainers}`,
    reason,
    restartsCell,
    age(pod.metadata.creationTimestamp, nowMs),
    podIP,
    str(spec.nodeName) || '<none>',
    str(status.nominatedNodeName) || '<none>',
    readinessGates,
  ]
  if (phase === 'Succeeded') return { cells, conditions: podSucceeded.map((c) => ({ ...c })) }
  if (phase === 'Failed') return { cells, conditions: podFailed.map((c) => ({ ...c })) }
  return { cells }
}

function isRestartable(container: Record<string, unknown>): boolean {
  return container.restartPolicy === 'Always'
}

function lastTerminatedMs(containerStatus: Record<string, unknown>): number | undefined {
  const terminated = rec(containerStatus.lastState).terminated
  return isObject(terminated) ? timeMs(terminated.finishedAt) : undefined
}

function later(a: number | undefined, b: number | undefined): number | undefined {
  if (b === undefined) return a
  return a === undefined || a < b ? b : a
}

const replicationControllerPrinter: KindPrinter = {
  columns: [
    nameCol,
    col('Desired', 'integer', 'Replicas is the number of desired replicas.'),
    col('Current', 'integer', 'Replicas is the most recently observed number of replicas.'),
    col('Ready', 'integer', 'The number of ready replicas for this replication controller.'),
    ageCol,
    col('Containers', 'string', 'Names of each container in the template.', 1),
    col('Images', 'string', 'Images referenced by each container in the template.', 1),
    col('Selector', 'string', 'Selector is a label query over pods that should match the Replicas count.', 1),
  ],
  row(rc, nowMs) {
    const spec = rec(rc.spec)
    const status = rec(rc.status)
    // The API defaults spec.replicas to 1 (SetDefaults_ReplicationController).
    const desired = typeof spec.replicas === 'number' ? int(spec.replicas) : 1
    const containers = arr(rec(rec(spec.template).spec).containers).map(rec)
    return {
      cells: [
        name(rc),
        desired,
        int(status.replicas),
        int(status.readyReplicas),
        age(rc.metadata.creationTimestamp, nowMs),
        containers.map((c) => str(c.name)).join(','),
        containers.map((c) => str(c.image)).join(','),
        formatLabels(spec.selector),
      ],
    }
  },
}

const servicePrinter: KindPrinter = {
  columns: [
    nameCol,
    col('Type', 'string', 'type determines how the Service is exposed.'),
    col(
      'Cluster-IP',
      'string',
      'clusterIP is the IP address of the service and is usually assigned randomly.',
    ),
    col(
      'External-IP',
      'string',
      'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.',
    ),
    col('Port(s)', 'string', 'The list of ports that are exposed by this service.'),
    ageCol,
    col(
      'Selector',
      'string',
      'Route service traffic to pods with label keys and values matching this selector.',
      1,
    ),
  ],
  row(svc, nowMs) {
    const spec = rec(svc.spec)
    // The API defaults spec.type to ClusterIP and each port's protocol to TCP.
    const type = str(spec.type) || 'ClusterIP'
    const clusterIPs = arr(spec.clusterIPs)
    const clusterIP = (clusterIPs.length > 0 ? str(clusterIPs[0]) : str(spec.clusterIP)) || '<none>'
    const ports = arr(spec.ports)
      .map(rec)
      .map((p) => {
        const protocol = str(p.protocol) || 'TCP'
        const nodePort = int(p.nodePort)
        return nodePort > 0 ? `${int(p.port)}:${nodePort}/${protocol}` : `${int(p.port)}/${protocol}`
      })
      .join(',')
    return {
      cells: [
        name(svc),
        type,
        clusterIP,
        serviceExternalIP(type, spec, rec(svc.status)),
        ports || '<none>',
        age(svc.metadata.creationTimestamp, nowMs),
        formatLabels(spec.selector),
      ],
    }
  },
}

// getServiceExternalIP with wide=true: the server never clips load-balancer addresses.
function serviceExternalIP(
  type: string,
  spec: Record<string, unknown>,
  status: Record<string, unknown>,
): string {
  const externalIPs = arr(spec.externalIPs).map(str)
  switch (type) {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>'
    case 'LoadBalancer': {
      const ingress = arr(rec(status.loadBalancer).ingress).map(rec)
      const addresses = [...new Set(ingress.map((i) => str(i.ip) || str(i.hostname)).filter((a) => a !== ''))]
      addresses.sort()
      const all = [...addresses, ...externalIPs]
      return all.length > 0 ? all.join(',') : '<pending>'
    }
    case 'ExternalName':
      return str(spec.externalName)
    default:
      return '<unknown>'
  }
}

const nodePrinter: KindPrinter = {
  columns: [
    nameCol,
    col('Status', 'string', 'The status of the node'),
    col('Roles', 'string', 'The roles of the node'),
    ageCol,
    col('Version', 'string', 'Kubelet Version reported by the node.'),
    col('Internal-IP', 'string', nodeAddressesDoc, 1),
    col('External-IP', 'string', nodeAddressesDoc, 1),
    col(
      'OS-Image',
      'string',
      'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).',
      1,
    ),
    col(
      'Kernel-Version',
      'string',
      "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
      1,
    ),
    col(
      'Container-Runtime',
      'string',
      'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).',
      1,
    ),
  ],
  row(node, nowMs) {
    const status = rec(node.status)
    // Only the Ready condition counts; the last one of that type wins, as in the upstream map.
    const ready = arr(status.conditions)
      .map(rec)
      .filter((c) => c.type === 'Ready')
      .pop()
    const states = [ready === undefined ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady']
    if (rec(node.spec).unschedulable === true) states.push('SchedulingDisabled')
    const roles = nodeRoles(node.metadata.labels).join(',') || '<none>'
    const info = rec(status.nodeInfo)
    const addresses = arr(status.addresses).map(rec)
    const address = (type: string): string => str(addresses.find((a) => a.type === type)?.address) || '<none>'
    return {
      cells: [
        name(node),
        states.join(','),
        roles,
        age(node.metadata.creationTimestamp, nowMs),
        str(info.kubeletVersion),
        address('InternalIP'),
        address('ExternalIP'),
        str(info.osImage) || '<unknown>',
        str(info.kernelVersion) || '<unknown>',
        str(info.containerRuntimeVersion) || '<unknown>',
      ],
    }
  },
}

// findNodeRoles: `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role=<role>`, sorted, unique.
function nodeRoles(labels: Record<string, string> | undefined): string[] {
  const roles = new Set<string>()
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (key.startsWith('node-role.kubernetes.io/')) {
      const role = key.slice('node-role.kubernetes.io/'.length)
      if (role !== '') roles.add(role)
    } else if (key === 'kubernetes.io/role' && value !== '') {
      roles.add(value)
    }
  }
  return [...roles].sort()
}

const endpointsPrinter: KindPrinter = {
  columns: [
    nameCol,
    col('Endpoints', 'string', 'The set of all endpoints is the union of all subsets.'),
    ageCol,
  ],
  row(ep, nowMs) {
    return { cells: [name(ep), formatEndpoints(ep), age(ep.metadata.creationTimestamp, nowMs)] }
  },
}

/** At most this many endpoints are listed; the rest are counted (`+ N more...`). */
const maxEndpointsShown = 3

// formatEndpoints(endpoints, nil): every address of every port of every subset.
function formatEndpoints(ep: KubeObject): string {
  const subsets = arr(ep.subsets).map(rec)
  if (subsets.length === 0) return '<none>'
  const list: string[] = []
  let more = false
  let count = 0
  for (const subset of subsets) {
    const addresses = arr(subset.addresses).map((a) => str(rec(a).ip))
    const ports = arr(subset.ports).map(rec)
    // Headless services may have no ports: list bare IPs.
    const targets = ports.length === 0 ? [undefined] : ports.map((p) => int(p.port))
    for (const port of targets) {
      count += addresses.length
      for (const ip of addresses) {
        if (list.length === maxEndpointsShown) {
          more = true
          break
        }
        list.push(port === undefined ? ip : joinHostPort(ip, port))
      }
    }
  }
  const joined = list.join(',')
  return more ? `${joined} + ${count - maxEndpointsShown} more...` : joined
}

function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

const namespacePrinter: KindPrinter = {
  columns: [nameCol, col('Status', 'string', 'The status of the namespace'), ageCol],
  row(ns, nowMs) {
    return { cells: [name(ns), str(rec(ns.status).phase), age(ns.metadata.creationTimestamp, nowMs)] }
  },
}

const eventPrinter: KindPrinter = {
  columns: [
    col('Last Seen', 'string', 'The time at which the most recent occurrence of this event was recorded.'),
    col('Type', 'string', 'Type of this event (Normal, Warning), new types could be added in the future'),
    col(
      'Reason',
      'string',
      "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    col('Object', 'string', 'The object that this event is about.'),
    col(
      'Subobject',
      'string',
      'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].',
      1,
    ),
    col(
      'Source',
      'string',
      'The component reporting this event. Should be a short machine understandable string.',
      1,
    ),
    col('Message', 'string', 'A human-readable description of the status of this operation.'),
    col(
      'First Seen',
      'string',
      'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)',
      1,
    ),
    col('Count', 'string', 'The number of times this event has occurred.', 1),
    col('Name', 'string', nameDoc, 1, 'name'),
  ],
  row(ev, nowMs) {
    const firstMs = timeMs(ev.firstTimestamp) ?? timeMs(ev.eventTime)
    const firstSeen = firstMs === undefined ? '<unknown>' : humanDuration(nowMs - firstMs)
    let lastSeen = timeMs(ev.lastTimestamp) === undefined ? firstSeen : age(ev.lastTimestamp, nowMs)
    let count = int(ev.count)
    if (isObject(ev.series)) {
      lastSeen = age(ev.series.lastObservedTime, nowMs)
      count = int(ev.series.count)
    } else if (count === 0) {
      // Singleton events of the events.k8s.io API carry no count.
      count = 1
    }
    const involved = rec(ev.involvedObject)
    const kind = str(involved.kind).toLowerCase()
    const target = str(involved.name) !== '' ? `${kind}/${str(involved.name)}` : kind
    const source = rec(ev.source)
    const component = str(source.component) || str(ev.reportingComponent)
    const instance = str(source.host) || str(ev.reportingInstance)
    return {
      cells: [
        lastSeen,
        str(ev.type),
        str(ev.reason),
        target,
        str(involved.fieldPath),
        instance === '' ? component : `${component}, ${instance}`,
        str(ev.message).trim(),
        firstSeen,
        count,
        name(ev),
      ],
    }
  },
}

const configMapPrinter: KindPrinter = {
  columns: [nameCol, col('Data', 'string', 'Data contains the configuration data.'), ageCol],
  row(cm, nowMs) {
    const count = Object.keys(rec(cm.data)).length + Object.keys(rec(cm.binaryData)).length
    return { cells: [name(cm), count, age(cm.metadata.creationTimestamp, nowMs)] }
  },
}

// rest.DefaultTableConvertor, for kinds without a printer.
const defaultPrinter: KindPrinter = {
  columns: [nameCol, col('Created At', 'date', creationDoc)],
  row(obj) {
    const createdMs = timeMs(obj.metadata.creationTimestamp) ?? goZeroTimeMs
    return { cells: [name(obj), new Date(createdMs).toISOString().replace(/\.\d{3}Z$/, 'Z')] }
  },
}

const printers: Record<string, KindPrinter> = {
  Pod: podPrinter,
  ReplicationController: replicationControllerPrinter,
  Service: servicePrinter,
  Node: nodePrinter,
  Endpoints: endpointsPrinter,
  Namespace: namespacePrinter,
  Event: eventPrinter,
  ConfigMap: configMapPrinter,
}

// ---------------------------------------------------------------------------------------------
// Reading loosely typed JSON without trusting its shape

type Json = Record<string, unknown>

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function rec(value: unknown): Json {
  return isObject(value) ? value : {}
}

function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : []
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

function int(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.trunc(value) : 0
}

function name(obj: KubeObject): string {
  return obj.metadata.name ?? ''
}

function isDeleting(obj: KubeObject): boolean {
  return typeof obj.metadata.deletionTimestamp === 'string' && obj.metadata.deletionTimestamp !== ''
}

/** Go's zero time.Time (0001-01-01T00:00:00Z), which Kubernetes treats as "not set". */
const goZeroTimeMs = -62_135_596_800_000

/** A timestamp in Unix ms; undefined when absent, unparseable or Go's zero time. */
function timeMs(value: unknown): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined
  const ms = Date.parse(value)
  return Number.isNaN(ms) || ms === goZeroTimeMs ? undefined : ms
}

// translateTimestampSince.
function age(timestamp: unknown, nowMs: number): string {
  const ms = timeMs(timestamp)
  return ms === undefined ? '<unknown>' : humanDuration(nowMs - ms)
}

// labels.FormatLabels: sorted `k=v` pairs, or `<none>`.
function formatLabels(value: unknown): string {
  const pairs = Object.entries(rec(value))
    .map(([k, v]) => [k, str(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
  return pairs.length > 0 ? pairs.join(',') : '<none>'
}

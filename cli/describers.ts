/**
 * The text of `shoal describe`: kubectl's describers (pkg/describe) for the kinds Shoal serves —
 * metadata, labels, annotations, a summary of the spec, the status and the object's events —
 * with a generic describer (every field, capitalized) for the rest. Pure: the caller passes the
 * object, what else it fetched (events, pods, endpoints) and the time ages are measured from.
 * Lines are tab-separated and aligned with Go's tabwriter (minimum width 0, padding 2), as
 * kubectl does.
 */

import { humanDuration } from '../src/api/table.js'
import type { KubeObject } from '../src/store/types.js'
import { LAST_APPLIED_ANNOTATION } from './apply-patch.js'
import { tabwrite } from './printers.js'

/** What a describer may use besides the object. */
export interface DescribeContext {
  /** The object's events (any order; sorted here). */
  events: KubeObject[]
  /** For a replication controller: the pods its selector matches. */
  pods?: KubeObject[]
  /** For a service: its Endpoints object, if any. */
  endpoints?: KubeObject
  /** The reference time for ages, in Unix milliseconds. */
  nowMs: number
}

type Json = Record<string, unknown>

/** Annotation values longer than this are cut (kubectl's maxAnnotationLen). */
const MAX_ANNOTATION_LENGTH = 140

/** The description of one object, ending with a newline. */
export function describeObject(obj: KubeObject, ctx: DescribeContext): string {
  const w = new PrefixWriter()
  switch (obj.kind) {
    case 'Pod':
      describePod(w, obj, ctx)
      break
    case 'ReplicationController':
      describeReplicationController(w, obj, ctx)
      break
    case 'Service':
      describeService(w, obj, ctx)
      break
    case 'ConfigMap':
      describeConfigMap(w, obj)
      break
    case 'Namespace':
      describeNamespace(w, obj)
      break
    case 'Node':
      describeNode(w, obj)
      break
    case 'Endpoints':
      describeEndpoints(w, obj)
      break
    default:
      describeGeneric(w, obj)
  }
  if (obj.kind !== 'Namespace') describeEvents(w, ctx)
  return tabwrite(w.text(), 0, 2)
}

/** Lines at indentation levels of two spaces, as kubectl's PrefixWriter. */
class PrefixWriter {
  private out = ''
  write(level: number, text: string): void {
    this.out += '  '.repeat(level) + text
  }
  text(): string {
    return this.out
  }
}

// ---------------------------------------------------------------------------------------------
// Kinds

function describeMeta(w: PrefixWriter, obj: KubeObject, namespaced = true): void {
  w.write(0, `Name:\t${obj.metadata.name ?? ''}\n`)
  if (namespaced) w.write(0, `Namespace:\t${obj.metadata.namespace ?? ''}\n`)
}

function describePod(w: PrefixWriter, pod: KubeObject, ctx: DescribeContext): void {
  const spec = rec(pod.spec)
  const status = rec(pod.status)
  describeMeta(w, pod)
  w.write(0, `Priority:\t${num(spec.priority)}\n`)
  w.write(0, `Service Account:\t${str(spec.serviceAccountName) || 'default'}\n`)
  const host = str(status.hostIP)
  w.write(0, `Node:\t${str(spec.nodeName) ? `${str(spec.nodeName)}${host ? `/${host}` : ''}` : '<none>'}\n`)
  if (str(status.startTime)) w.write(0, `Start Time:\t${formatTime(str(status.startTime))}\n`)
  printMapMultiline(w, 'Labels', pod.metadata.labels)
  printMapMultiline(w, 'Annotations', annotationsToShow(pod.metadata.annotations))
  if (pod.metadata.deletionTimestamp) {
    w.write(
      0,
      `Status:\tTerminating (lasts ${humanDuration(ctx.nowMs - timeMs(pod.metadata.deletionTimestamp))})\n`,
    )
    w.write(
      0,
      `Termination Grace Period:\t${pod.metadata.deletionGracePeriodSeconds ?? num(spec.terminationGracePeriodSeconds)}s\n`,
    )
  } else {
    w.write(0, `Status:\t${str(status.phase) || 'Unknown'}\n`)
  }
  if (str(status.reason)) w.write(0, `Reason:\t${str(status.reason)}\n`)
  if (str(status.message)) w.write(0, `Message:\t${str(status.message)}\n`)
  w.write(0, `IP:\t${str(status.podIP)}\n`)
  const ips = arr(status.podIPs).map((ip) => str(rec(ip).ip))
  if (ips.length === 0) w.write(0, 'IPs:\t<none>\n')
  else {
    w.write(0, 'IPs:\n')
    for (const ip of ips) w.write(1, `IP:\t${ip}\n`)
  }
  const statuses = new Map(arr(status.containerStatuses).map((s) => [str(rec(s).name), rec(s)]))
  const initStatuses = new Map(arr(status.initContainerStatuses).map((s) => [str(rec(s).name), rec(s)]))
  if (arr(spec.initContainers).length > 0) {
    w.write(0, 'Init Containers:\n')
    describeContainers(w, arr(spec.initContainers), initStatuses, 1)
  }
  w.write(0, 'Containers:\n')
  describeContainers(w, arr(spec.containers), statuses, 1)
  const conditions = arr(status.conditions).map(rec)
  if (conditions.length > 0) {
    w.write(0, 'Conditions:\n')
    w.write(1, 'Type\tStatus\n')
    for (const c of conditions) w.write(1, `${str(c.type)} \t${str(c.status)} \n`)
  }
  describeVolumes(w, arr(spec.volumes), 0)
  w.write(0, `QoS Class:\t${str(status.qosClass) || 'BestEffort'}\n`)
  printMapMultiline(w, 'Node-Selectors', rec(spec.nodeSelector) as Record<string, string>)
  const tolerations = arr(spec.tolerations).map(rec)
  w.write(
    0,
    `Tolerations:\t${tolerations.length === 0 ? '<none>' : tolerations.map(formatToleration).join('\n\t')}\n`,
  )
}

function describeReplicationController(w: PrefixWriter, rc: KubeObject, ctx: DescribeContext): void {
  const spec = rec(rc.spec)
  const status = rec(rc.status)
  describeMeta(w, rc)
  w.write(0, `Selector:\t${formatSelector(rec(spec.selector) as Record<string, string>)}\n`)
  printMapMultiline(w, 'Labels', rc.metadata.labels)
  printMapMultiline(w, 'Annotations', annotationsToShow(rc.metadata.annotations))
  w.write(0, `Replicas:\t${num(status.replicas)} current / ${num(spec.replicas ?? 1)} desired\n`)
  const phases = { Running: 0, Pending: 0, Succeeded: 0, Failed: 0 }
  for (const pod of ctx.pods ?? []) {
    const phase = str(rec(pod.status).phase) as keyof typeof phases
    if (phase in phases) phases[phase]++
  }
  w.write(
    0,
    `Pods Status:\t${phases.Running} Running / ${phases.Pending} Waiting / ${phases.Succeeded} Succeeded / ${phases.Failed} Failed\n`,
  )
  const template = rec(spec.template)
  w.write(0, 'Pod Template:\n')
  const templateMeta = rec(template.metadata)
  printMapMultiline(w, 'Labels', templateMeta.labels as Record<string, string> | undefined, 1)
  const templateAnnotations = templateMeta.annotations as Record<string, string> | undefined
  if (templateAnnotations && Object.keys(templateAnnotations).length > 0)
    printMapMultiline(w, 'Annotations', templateAnnotations, 1)
  const podSpec = rec(template.spec)
  if (arr(podSpec.initContainers).length > 0) {
    w.write(1, 'Init Containers:\n')
    describeContainers(w, arr(podSpec.initContainers), new Map(), 2)
  }
  w.write(1, 'Containers:\n')
  describeContainers(w, arr(podSpec.containers), new Map(), 2)
  describeVolumes(w, arr(podSpec.volumes), 1)
  const conditions = arr(status.conditions).map(rec)
  if (conditions.length > 0) {
    w.write(0, 'Conditions:\n')
    w.write(1, 'Type\tStatus\tReason\n')
    w.write(1, '----\t------\t------\n')
    for (const c of conditions) w.write(1, `${str(c.type)} \t${str(c.status)}\t${str(c.reason)}\n`)
  }
}

function describeService(w: PrefixWriter, svc: KubeObject, ctx: DescribeContext): void {
  const spec = rec(svc.spec)
  describeMeta(w, svc)
  printMapMultiline(w, 'Labels', svc.metadata.labels)
  printMapMultiline(w, 'Annotations', annotationsToShow(svc.metadata.annotations))
  w.write(0, `Selector:\t${formatSelector(rec(spec.selector) as Record<string, string>)}\n`)
  w.write(0, `Type:\t${str(spec.type) || 'ClusterIP'}\n`)
  if (str(spec.ipFamilyPolicy)) w.write(0, `IP Family Policy:\t${str(spec.ipFamilyPolicy)}\n`)
  const families = arr(spec.ipFamilies).map(str)
  if (families.length > 0) w.write(0, `IP Families:\t${families.join(',')}\n`)
  w.write(0, `IP:\t${str(spec.clusterIP) || '<none>'}\n`)
  const ips = arr(spec.clusterIPs).map(str)
  if (ips.length > 0) w.write(0, `IPs:\t${ips.join(',')}\n`)
  const external = arr(spec.externalIPs).map(str)
  if (external.length > 0) w.write(0, `External IPs:\t${external.join(',')}\n`)
  for (const p of arr(spec.ports).map(rec)) {
    const protocol = str(p.protocol) || 'TCP'
    const name = str(p.name) || '<unset>'
    w.write(0, `Port:\t${name}\t${num(p.port)}/${protocol}\n`)
    const target = p.targetPort ?? p.port
    w.write(0, `TargetPort:\t${String(target)}/${protocol}\n`)
    if (p.nodePort !== undefined) w.write(0, `NodePort:\t${name}\t${num(p.nodePort)}/${protocol}\n`)
    w.write(0, `Endpoints:\t${formatServiceEndpoints(ctx.endpoints, str(p.name))}\n`)
  }
  w.write(0, `Session Affinity:\t${str(spec.sessionAffinity) || 'None'}\n`)
  if (str(spec.externalTrafficPolicy))
    w.write(0, `External Traffic Policy:\t${str(spec.externalTrafficPolicy)}\n`)
  if (str(spec.internalTrafficPolicy))
    w.write(0, `Internal Traffic Policy:\t${str(spec.internalTrafficPolicy)}\n`)
}

function describeConfigMap(w: PrefixWriter, cm: KubeObject): void {
  describeMeta(w, cm)
  printMapMultiline(w, 'Labels', cm.metadata.labels)
  printMapMultiline(w, 'Annotations', annotationsToShow(cm.metadata.annotations))
  w.write(0, '\nData\n====\n')
  for (const [key, value] of Object.entries(rec(cm.data)).sort(byKey)) {
    w.write(0, `${key}:\n----\n`)
    w.write(0, `${String(value)}\n`)
    w.write(0, '\n')
  }
  w.write(0, '\nBinaryData\n====\n')
  for (const [key, value] of Object.entries(rec(cm.binaryData)).sort(byKey))
    w.write(0, `${key}: ${Buffer.from(str(value), 'base64').length} bytes\n`)
  w.write(0, '\n')
}

function describeNamespace(w: PrefixWriter, ns: KubeObject): void {
  describeMeta(w, ns, false)
  printMapMultiline(w, 'Labels', ns.metadata.labels)
  printMapMultiline(w, 'Annotations', annotationsToShow(ns.metadata.annotations))
  w.write(0, `Status:\t${str(rec(ns.status).phase) || 'Active'}\n`)
  w.write(0, '\nNo resource quota.\n')
  w.write(0, '\nNo LimitRange resource.\n')
}

function describeNode(w: PrefixWriter, node: KubeObject): void {
  const spec = rec(node.spec)
  const status = rec(node.status)
  describeMeta(w, node, false)
  const roles = Object.keys(node.metadata.labels ?? {})
    .filter((l) => l.startsWith('node-role.kubernetes.io/'))
    .map((l) => l.slice('node-role.kubernetes.io/'.length))
  w.write(0, `Roles:\t${roles.length > 0 ? roles.join(',') : '<none>'}\n`)
  printMapMultiline(w, 'Labels', node.metadata.labels)
  printMapMultiline(w, 'Annotations', annotationsToShow(node.metadata.annotations))
  w.write(0, `CreationTimestamp:\t${formatTime(node.metadata.creationTimestamp ?? '')}\n`)
  const taints = arr(spec.taints).map(rec)
  w.write(
    0,
    `Taints:\t${taints.length === 0 ? '<none>' : taints.map((t) => `${str(t.key)}${t.value ? `=${str(t.value)}` : ''}:${str(t.effect)}`).join('\n\t')}\n`,
  )
  w.write(0, `Unschedulable:\t${spec.unschedulable === true}\n`)
  const conditions = arr(status.conditions).map(rec)
  if (conditions.length > 0) {
    w.write(0, 'Conditions:\n')
    w.write(1, 'Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n')
    w.write(1, '----\t------\t-----------------\t------------------\t------\t-------\n')
    for (const c of conditions) {
      w.write(
        1,
        `${str(c.type)} \t${str(c.status)} \t${formatTime(str(c.lastHeartbeatTime))} \t${formatTime(str(c.lastTransitionTime))} \t${str(c.reason)} \t${str(c.message)}\n`,
      )
    }
  }
  const addresses = arr(status.addresses).map(rec)
  w.write(0, `Addresses:${addresses.length === 0 ? '\t<none>' : ''}\n`)
  for (const a of addresses) w.write(1, `${str(a.type)}:\t${str(a.address)}\n`)
  for (const [title, field] of [
    ['Capacity', 'capacity'],
    ['Allocatable', 'allocatable'],
  ] as const) {
    const resources = rec(status[field])
    if (Object.keys(resources).length === 0) continue
    w.write(0, `${title}:\n`)
    for (const [k, v] of Object.entries(resources).sort(byKey)) w.write(1, `${k}:\t${String(v)}\n`)
  }
  const info = rec(status.nodeInfo)
  if (Object.keys(info).length > 0) {
    w.write(0, 'System Info:\n')
    for (const [k, v] of Object.entries(info)) w.write(1, `${smartLabel(k)}:\t${String(v)}\n`)
  }
}

function describeEndpoints(w: PrefixWriter, ep: KubeObject): void {
  describeMeta(w, ep)
  printMapMultiline(w, 'Labels', ep.metadata.labels)
  printMapMultiline(w, 'Annotations', annotationsToShow(ep.metadata.annotations))
  w.write(0, 'Subsets:\n')
  for (const subset of arr(ep.subsets).map(rec)) {
    const ready = arr(subset.addresses).map((a) => str(rec(a).ip))
    const notReady = arr(subset.notReadyAddresses).map((a) => str(rec(a).ip))
    w.write(1, `Addresses:\t${ready.length > 0 ? ready.join(',') : '<none>'}\n`)
    w.write(1, `NotReadyAddresses:\t${notReady.length > 0 ? notReady.join(',') : '<none>'}\n`)
    const ports = arr(subset.ports).map(rec)
    if (ports.length === 0) w.write(1, 'Ports:\t<none>\n')
    else {
      w.write(1, 'Ports:\n')
      w.write(2, 'Name\tPort\tProtocol\n')
      w.write(2, '----\t----\t--------\n')
      for (const p of ports)
        w.write(2, `${str(p.name) || '<unset>'}\t${num(p.port)}\t${str(p.protocol) || 'TCP'}\n`)
    }
    w.write(0, '\n')
  }
}

/** Any other kind: metadata, then every other field, capitalized, as kubectl's generic describer. */
function describeGeneric(w: PrefixWriter, obj: KubeObject): void {
  describeMeta(w, obj, obj.metadata.namespace !== undefined)
  printMapMultiline(w, 'Labels', obj.metadata.labels)
  printMapMultiline(w, 'Annotations', annotationsToShow(obj.metadata.annotations))
  w.write(0, `API Version:\t${obj.apiVersion}\n`)
  w.write(0, `Kind:\t${obj.kind}\n`)
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'apiVersion' || key === 'kind' || key === 'metadata') continue
    printValue(w, 0, key, value)
  }
}

function printValue(w: PrefixWriter, level: number, key: string, value: unknown): void {
  const label = smartLabel(key)
  if (Array.isArray(value)) {
    if (value.length === 0) return
    w.write(level, `${label}:\n`)
    for (const item of value) {
      if (isRecord(item)) for (const [k, v] of Object.entries(item)) printValue(w, level + 1, k, v)
      else w.write(level + 1, `${String(item)}\n`)
    }
    return
  }
  if (isRecord(value)) {
    if (Object.keys(value).length === 0) return
    w.write(level, `${label}:\n`)
    for (const [k, v] of Object.entries(value)) printValue(w, level + 1, k, v)
    return
  }
  w.write(level, `${label}:\t${value === null || value === undefined ? '<none>' : String(value)}\n`)
}

// ---------------------------------------------------------------------------------------------
// Parts

function describeContainers(
  w: PrefixWriter,
  containers: unknown[],
  statuses: Map<string, Json>,
  level: number,
): void {
  for (const c of containers.map(rec)) {
    const name = str(c.name)
    const st = statuses.get(name)
    w.write(level, `${name}:\n`)
    if (st && str(st.containerID)) w.write(level + 1, `Container ID:\t${str(st.containerID)}\n`)
    w.write(level + 1, `Image:\t${str(c.image)}\n`)
    if (st && str(st.imageID)) w.write(level + 1, `Image ID:\t${str(st.imageID)}\n`)
    const ports = arr(c.ports).map(rec)
    w.write(
      level + 1,
      `Port:\t${ports.length === 0 ? '<none>' : ports.map((p) => `${num(p.containerPort)}/${str(p.protocol) || 'TCP'}`).join(', ')}\n`,
    )
    w.write(
      level + 1,
      `Host Port:\t${ports.length === 0 ? '<none>' : ports.map((p) => `${num(p.hostPort)}/${str(p.protocol) || 'TCP'}`).join(', ')}\n`,
    )
    for (const [title, field] of [
      ['Command', 'command'],
      ['Args', 'args'],
    ] as const) {
      const words = arr(c[field]).map(String)
      if (words.length === 0) continue
      w.write(level + 1, `${title}:\n`)
      for (const word of words) w.write(level + 2, `${word}\n`)
    }
    if (st) {
      describeContainerState(w, 'State', rec(st.state), level + 1)
      if (Object.keys(rec(st.lastState)).length > 0)
        describeContainerState(w, 'Last State', rec(st.lastState), level + 1)
      w.write(level + 1, `Ready:\t${st.ready === true ? 'True' : 'False'}\n`)
      w.write(level + 1, `Restart Count:\t${num(st.restartCount)}\n`)
    }
    const env = arr(c.env).map(rec)
    if (env.length === 0) w.write(level + 1, 'Environment:\t<none>\n')
    else {
      w.write(level + 1, 'Environment:\n')
      for (const e of env) {
        const from = rec(e.valueFrom)
        const value =
          e.value !== undefined
            ? str(e.value)
            : Object.keys(from).length > 0
              ? `<set from ${Object.keys(from)[0]}>`
              : ''
        w.write(level + 2, `${str(e.name)}:\t${value}\n`)
      }
    }
    const mounts = arr(c.volumeMounts).map(rec)
    if (mounts.length === 0) w.write(level + 1, 'Mounts:\t<none>\n')
    else {
      w.write(level + 1, 'Mounts:\n')
      for (const m of mounts)
        w.write(level + 2, `${str(m.mountPath)} from ${str(m.name)} (${m.readOnly === true ? 'ro' : 'rw'})\n`)
    }
  }
}

function describeContainerState(w: PrefixWriter, title: string, state: Json, level: number): void {
  const [which, detail] = Object.entries(state)[0] ?? ['', {}]
  const d = rec(detail)
  if (which === 'running') {
    w.write(level, `${title}:\tRunning\n`)
    w.write(level + 1, `Started:\t${formatTime(str(d.startedAt))}\n`)
  } else if (which === 'waiting') {
    w.write(level, `${title}:\tWaiting\n`)
    if (str(d.reason)) w.write(level + 1, `Reason:\t${str(d.reason)}\n`)
    if (str(d.message)) w.write(level + 1, `Message:\t${str(d.message)}\n`)
  } else if (which === 'terminated') {
    w.write(level, `${title}:\tTerminated\n`)
    if (str(d.reason)) w.write(level + 1, `Reason:\t${str(d.reason)}\n`)
    w.write(level + 1, `Exit Code:\t${num(d.exitCode)}\n`)
    if (str(d.startedAt)) w.write(level + 1, `Started:\t${formatTime(str(d.startedAt))}\n`)
    if (str(d.finishedAt)) w.write(level + 1, `Finished:\t${formatTime(str(d.finishedAt))}\n`)
  } else {
    w.write(level, `${title}:\tWaiting\n`)
  }
}

function describeVolumes(w: PrefixWriter, volumes: unknown[], level: number): void {
  if (volumes.length === 0) {
    w.write(level, 'Volumes:\t<none>\n')
    return
  }
  w.write(level, 'Volumes:\n')
  for (const v of volumes.map(rec)) {
    w.write(level + 1, `${str(v.name)}:\n`)
    const [source, detail] = Object.entries(v).find(([k]) => k !== 'name') ?? ['', {}]
    w.write(level + 2, `Type:\t${smartLabel(source)}\n`)
    for (const [k, value] of Object.entries(rec(detail)))
      w.write(level + 2, `${smartLabel(k)}:\t${String(value)}\n`)
  }
}

function describeEvents(w: PrefixWriter, ctx: DescribeContext): void {
  if (ctx.events.length === 0) {
    w.write(0, 'Events:\t<none>\n')
    return
  }
  const events = [...ctx.events].sort((a, b) => eventTimeMs(a, 'last') - eventTimeMs(b, 'last'))
  w.write(0, 'Events:\n')
  w.write(1, 'Type\tReason\tAge\tFrom\tMessage\n')
  w.write(1, '----\t------\t----\t----\t-------\n')
  for (const e of events) {
    const count = num(e.count)
    const last = humanDuration(ctx.nowMs - eventTimeMs(e, 'last'))
    const interval =
      count > 1 ? `${last} (x${count} over ${humanDuration(ctx.nowMs - eventTimeMs(e, 'first'))})` : last
    const source = rec(e.source)
    const from = str(source.component)
      ? `${str(source.component)}${str(source.host) ? `, ${str(source.host)}` : ''}`
      : str(e.reportingComponent)
    w.write(1, `${str(e.type)}\t${str(e.reason)}\t${interval}\t${from}\t${str(e.message).trim()}\n`)
  }
}

function eventTimeMs(e: KubeObject, which: 'first' | 'last'): number {
  const candidates =
    which === 'last'
      ? [e.lastTimestamp, e.eventTime, e.firstTimestamp, e.metadata.creationTimestamp]
      : [e.firstTimestamp, e.eventTime, e.lastTimestamp, e.metadata.creationTimestamp]
  for (const c of candidates) {
    const ms = timeMs(c)
    if (!Number.isNaN(ms)) return ms
  }
  return 0
}

/** `Labels:  a=b` then `         c=d` on the following lines; `<none>` when empty. */
function printMapMultiline(
  w: PrefixWriter,
  title: string,
  map: Record<string, string> | undefined,
  level = 0,
): void {
  const entries = Object.entries(map ?? {}).sort(byKey)
  if (entries.length === 0) {
    w.write(level, `${title}:\t<none>\n`)
    return
  }
  entries.forEach(([k, v], i) => {
    let value = String(v)
    if (title === 'Annotations' && (value.length > MAX_ANNOTATION_LENGTH || value.includes('\n')))
      value = `${value.replace(/\n/g, ' ').slice(0, MAX_ANNOTATION_LENGTH)}...`
    w.write(level, `${i === 0 ? `${title}:` : ''}\t${k}=${value}\n`)
  })
}

/** The annotations describe shows: not the last-applied configuration (as kubectl). */
function annotationsToShow(annotations: Record<string, string> | undefined): Record<string, string> {
  const out = { ...(annotations ?? {}) }
  delete out[LAST_APPLIED_ANNOTATION]
  return out
}

function formatSelector(selector: Record<string, string>): string {
  const entries = Object.entries(selector).sort(byKey)
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${v}`).join(',')
}

function formatServiceEndpoints(endpoints: KubeObject | undefined, portName: string): string {
  if (!endpoints) return '<none>'
  const out: string[] = []
  for (const subset of arr(endpoints.subsets).map(rec)) {
    const ports = arr(subset.ports).map(rec)
    const port = ports.find((p) => str(p.name) === portName) ?? (ports.length === 1 ? ports[0] : undefined)
    for (const a of arr(subset.addresses).map(rec)) {
      const ip = str(a.ip)
      out.push(port ? `${ip.includes(':') ? `[${ip}]` : ip}:${num(port.port)}` : ip)
    }
  }
  return out.length === 0 ? '<none>' : out.join(',')
}

function formatToleration(t: Json): string {
  let s = str(t.key)
  if (str(t.value)) s += `=${str(t.value)}`
  else if (str(t.operator) === 'Exists' && !str(t.key)) s = ''
  if (str(t.effect)) s += `:${str(t.effect)}`
  if (t.tolerationSeconds !== undefined) s += ` for ${num(t.tolerationSeconds)}s`
  return s === '' ? 'op=Exists' : s
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** A timestamp as kubectl's describe prints it (RFC 1123 with a numeric zone, in UTC). */
export function formatTime(iso: string): string {
  const ms = timeMs(iso)
  if (Number.isNaN(ms)) return iso === '' ? '<unknown>' : iso
  const d = new Date(ms)
  const two = (n: number) => String(n).padStart(2, '0')
  return `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
}

/** `restartPolicy` → `Restart Policy`, `podIP` → `Pod IP`, as kubectl's smartLabelFor. */
export function smartLabel(key: string): string {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[\s_-]+/)
    .filter(Boolean)
  const acronyms = new Set(['ip', 'ips', 'id', 'uid', 'url', 'api', 'tcp', 'udp', 'dns', 'cpu'])
  return words
    .map((word) =>
      acronyms.has(word.toLowerCase())
        ? word.toLowerCase() === 'ips'
          ? 'IPs'
          : word.toUpperCase()
        : word.charAt(0).toUpperCase() + word.slice(1),
    )
    .join(' ')
}

function byKey([a]: [string, unknown], [b]: [string, unknown]): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function rec(value: unknown): Json {
  return isRecord(value) ? value : {}
}

function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : []
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value)
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0
}

function timeMs(value: unknown): number {
  return typeof value === 'string' && value !== '' ? Date.parse(value) : Number.NaN
}

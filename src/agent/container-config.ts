/**
 * From a pod's spec to what a runtime needs to make one container: the environment with
 * `valueFrom` read and `$(VAR)` references expanded, volume mounts resolved to host paths,
 * limits in bytes and nano-CPUs. Pure but for the reads it is given (ConfigMaps).
 *
 * Volumes live under `<podsDir>/<pod uid>/volumes/<name>`: an emptyDir is that directory, a
 * configMap volume is that directory filled with the map's keys; a hostPath is the host's path.
 */

import { join } from 'node:path'
import { parseQuantity } from '../store/quantity.js'
import type { KubeObject } from '../store/types.js'
import type { ContainerSpec, PodSpec } from './pod-spec.js'
import type { ContainerConfig, Mount } from './runtime.js'

/** The container cannot be configured from its spec (CreateContainerConfigError in status). */
export class ContainerConfigError extends Error {
  override name = 'ContainerConfigError'
}

/** What building a container's config may read. */
export interface ConfigSources {
  configMap(namespace: string, name: string): KubeObject | undefined
  podIP: string
  hostIP: string
  nodeName: string
  podsDir: string
}

/** The host directory of a pod's volume. */
export function volumeDir(podsDir: string, podUid: string, volume: string): string {
  return join(podsDir, podUid, 'volumes', volume)
}

/** Kubernetes' `$(VAR)` expansion: known names are replaced, `$$` escapes, others stay. */
export function expandVars(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$'
    return name !== undefined && vars.has(name) ? vars.get(name)! : m
  })
}

function fieldValue(pod: KubeObject, path: string, src: ConfigSources): string {
  const meta = pod.metadata
  const spec = pod.spec as unknown as PodSpec & { serviceAccountName?: string }
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path)
  if (m) return (m[1] === 'labels' ? meta.labels : meta.annotations)?.[m[2]!] ?? ''
  switch (path) {
    case 'metadata.name':
      return meta.name ?? ''
    case 'metadata.namespace':
      return meta.namespace ?? ''
    case 'metadata.uid':
      return meta.uid ?? ''
    case 'spec.nodeName':
      return src.nodeName
    case 'spec.serviceAccountName':
      return spec.serviceAccountName ?? 'default'
    case 'status.podIP':
    case 'status.podIPs':
      return src.podIP
    case 'status.hostIP':
    case 'status.hostIPs':
      return src.hostIP
    default:
      throw new ContainerConfigError(`unsupported fieldRef ${path}`)
  }
}

/** The container's environment, in order, as Kubernetes builds it. */
export function containerEnv(
  pod: KubeObject,
  ctr: ContainerSpec,
  src: ConfigSources,
): { name: string; value: string }[] {
  const vars = new Map<string, string>()
  const out: { name: string; value: string }[] = []
  const namespace = pod.metadata.namespace ?? 'default'
  for (const e of ctr.env ?? []) {
    let value: string | undefined
    if (e.value !== undefined) value = expandVars(e.value, vars)
    else if (e.valueFrom?.fieldRef) value = fieldValue(pod, e.valueFrom.fieldRef.fieldPath, src)
    else if (e.valueFrom?.configMapKeyRef) {
      const ref = e.valueFrom.configMapKeyRef
      const cm = src.configMap(namespace, ref.name)
      const data = (cm?.data ?? {}) as Record<string, string>
      if (!cm && !ref.optional) throw new ContainerConfigError(`configmap "${ref.name}" not found`)
      if (cm && data[ref.key] === undefined && !ref.optional)
        throw new ContainerConfigError(`couldn't find key ${ref.key} in ConfigMap ${namespace}/${ref.name}`)
      value = data[ref.key]
    } else if (e.valueFrom?.secretKeyRef) {
      if (e.valueFrom.secretKeyRef.optional) continue
      throw new ContainerConfigError(
        `secret "${e.valueFrom.secretKeyRef.name}" not found (Shoal has no Secrets yet)`,
      )
    } else if (e.valueFrom?.resourceFieldRef) {
      value = resourceField(ctr, e.valueFrom.resourceFieldRef.resource)
    } else value = ''
    if (value === undefined) continue
    vars.set(e.name, value)
    out.push({ name: e.name, value })
  }
  return out
}

function resourceField(ctr: ContainerSpec, resource: string): string {
  const [kind, which] = resource.split('.') as [string, string]
  const q = (kind === 'limits' ? ctr.resources?.limits : ctr.resources?.requests)?.[which]
  if (q === undefined) return '0'
  // Divisor 1: cpu rounds up to whole cores, memory is in bytes (Kubernetes' defaults).
  return String(Math.ceil(parseQuantity(q)))
}

/** The container's mounts: its volumeMounts resolved against the pod's volumes. */
export function containerMounts(pod: KubeObject, ctr: ContainerSpec, podsDir: string): Mount[] {
  const spec = pod.spec as unknown as PodSpec
  const uid = pod.metadata.uid ?? ''
  const mounts: Mount[] = []
  for (const vm of ctr.volumeMounts ?? []) {
    const vol = (spec.volumes ?? []).find((v) => v.name === vm.name)
    if (!vol) throw new ContainerConfigError(`volume "${vm.name}" is not defined in the pod`)
    let hostPath: string
    if (vol.hostPath) hostPath = vol.hostPath.path
    else if (vol.emptyDir || vol.configMap) hostPath = volumeDir(podsDir, uid, vol.name)
    else
      throw new ContainerConfigError(
        `volume "${vm.name}": only emptyDir, hostPath and configMap volumes are supported`,
      )
    if (vm.subPath) hostPath = join(hostPath, vm.subPath)
    mounts.push({ hostPath, containerPath: vm.mountPath, readOnly: vm.readOnly === true || !!vol.configMap })
  }
  return mounts
}

/** Limits in the runtime's units: bytes of memory and billionths of a CPU. */
export function containerLimits(ctr: ContainerSpec): ContainerConfig['limits'] {
  const limits = ctr.resources?.limits ?? {}
  const out: ContainerConfig['limits'] = {}
  if (limits.memory !== undefined) {
    out.memoryBytes = Math.round(parseQuantity(limits.memory))
  }
  if (limits.cpu !== undefined) {
    out.nanoCpus = Math.round(parseQuantity(limits.cpu) * 1e9)
  }
  return out
}

/** The runtime config of container `name` of `pod`, attempt `attempt`. */
export function buildContainerConfig(
  pod: KubeObject,
  ctr: ContainerSpec,
  attempt: number,
  src: ConfigSources,
): ContainerConfig {
  const env = containerEnv(pod, ctr, src)
  const vars = new Map(env.map((e) => [e.name, e.value]))
  const config: ContainerConfig = {
    podUid: pod.metadata.uid ?? '',
    podName: pod.metadata.name ?? '',
    namespace: pod.metadata.namespace ?? 'default',
    name: ctr.name,
    attempt,
    image: ctr.image,
    env,
    ports: (ctr.ports ?? []).map((p) => ({ containerPort: p.containerPort, protocol: p.protocol ?? 'TCP' })),
    mounts: containerMounts(pod, ctr, src.podsDir),
    limits: containerLimits(ctr),
  }
  if (ctr.command) config.command = ctr.command.map((a) => expandVars(a, vars))
  if (ctr.args) config.args = ctr.args.map((a) => expandVars(a, vars))
  if (ctr.workingDir) config.workingDir = ctr.workingDir
  if (ctr.terminationMessagePath) config.terminationMessagePath = ctr.terminationMessagePath
  return config
}

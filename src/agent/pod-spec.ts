/**
 * The parts of a Pod's spec and status the agent reads and writes, typed. Objects come from
 * the store already defaulted and validated, so these are views, not checks.
 */

import type { KubeObject } from '../store/types.js'

export interface ProbeSpec {
  httpGet?: {
    path?: string
    port: number | string
    host?: string
    scheme?: string
    httpHeaders?: { name: string; value: string }[]
  }
  tcpSocket?: { port: number | string; host?: string }
  exec?: { command?: string[] }
  initialDelaySeconds?: number
  periodSeconds?: number
  timeoutSeconds?: number
  failureThreshold?: number
  successThreshold?: number
}

export interface EnvVarSpec {
  name: string
  value?: string
  valueFrom?: {
    fieldRef?: { fieldPath: string }
    configMapKeyRef?: { name: string; key: string; optional?: boolean }
    secretKeyRef?: { name: string; key: string; optional?: boolean }
    resourceFieldRef?: { resource: string; containerName?: string }
  }
}

export interface ContainerSpec {
  name: string
  image: string
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never'
  command?: string[]
  args?: string[]
  workingDir?: string
  env?: EnvVarSpec[]
  ports?: { name?: string; containerPort: number; protocol?: 'TCP' | 'UDP' | 'SCTP'; hostPort?: number }[]
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> }
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[]
  livenessProbe?: ProbeSpec
  readinessProbe?: ProbeSpec
  startupProbe?: ProbeSpec
  terminationMessagePath?: string
}

export interface VolumeSpec {
  name: string
  emptyDir?: { medium?: string; sizeLimit?: string }
  hostPath?: { path: string; type?: string }
  configMap?: { name: string; items?: { key: string; path: string }[]; optional?: boolean }
}

export interface PodSpec {
  nodeName?: string
  containers: ContainerSpec[]
  initContainers?: ContainerSpec[]
  volumes?: VolumeSpec[]
  restartPolicy?: 'Always' | 'OnFailure' | 'Never'
  terminationGracePeriodSeconds?: number
  hostname?: string
  subdomain?: string
  hostNetwork?: boolean
}

export interface ContainerStateView {
  waiting?: { reason?: string; message?: string }
  running?: { startedAt?: string }
  terminated?: {
    exitCode: number
    signal?: number
    reason?: string
    message?: string
    startedAt?: string
    finishedAt?: string
    containerID?: string
  }
}

export interface ContainerStatusView {
  name: string
  state: ContainerStateView
  lastState: ContainerStateView
  ready: boolean
  restartCount: number
  image: string
  imageID: string
  containerID?: string
  started?: boolean
}

export interface PodCondition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  lastProbeTime: string | null
  lastTransitionTime: string
  reason?: string
  message?: string
}

export interface PodStatusView {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown'
  conditions: PodCondition[]
  hostIP?: string
  hostIPs?: { ip: string }[]
  podIP?: string
  podIPs?: { ip: string }[]
  startTime?: string
  containerStatuses: ContainerStatusView[]
  qosClass: string
  reason?: string
  message?: string
}

export function podSpec(pod: KubeObject): PodSpec {
  return pod.spec as unknown as PodSpec
}

export function podStatus(pod: KubeObject): Partial<PodStatusView> {
  return (pod.status ?? {}) as Partial<PodStatusView>
}

/** `namespace/name`, the key of a pod in the agent's queues and logs. */
export function podKey(pod: KubeObject): string {
  return `${pod.metadata.namespace}/${pod.metadata.name}`
}

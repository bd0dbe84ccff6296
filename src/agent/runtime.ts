/**
 * Runtime: the seam between the node agent and whatever runs containers (Docker, host
 * processes, or nothing at all in simulations). Shaped after Kubernetes' CRI, cut down to what
 * the agent uses: a pod is a *sandbox* (what holds its network identity: an infra container
 * with Docker, a loopback address with processes) plus app containers created into it, one new
 * container per restart (`attempt`), so the previous one's logs and exit code stay readable.
 *
 * Every runtime serves one node: it labels what it makes with that node's name and lists only
 * its own, so several agents can share one Docker engine (the playground) without adopting each
 * other's pods. What a runtime made survives the agent: a restarted agent lists it and adopts it.
 *
 * Implementations: DockerRuntime (dockerode), ProcessRuntime (child process groups on the host),
 * FakeRuntime (in memory). All pass test/agent/runtime-suite.ts.
 */

import type { Readable } from 'node:stream'

/** What the agent asks of a new sandbox. */
export interface SandboxConfig {
  podUid: string
  podName: string
  namespace: string
  /** The pod's hostname (spec.hostname, else its name). */
  hostname: string
  /** Ports the pod's containers declare, with the host ports to publish (hostPort). */
  ports: { containerPort: number; protocol: 'TCP' | 'UDP' | 'SCTP'; hostPort?: number }[]
  /** The pod's resolver (pod-dns.ts); absent: the host's. */
  dns?: { servers: string[]; searches: string[]; options: string[] }
}

/** A sandbox as the runtime sees it now. */
export interface SandboxStatus {
  id: string
  podUid: string
  podName: string
  namespace: string
  /** 'ready' while it holds the pod's network; 'notready' once stopped or broken. */
  state: 'ready' | 'notready'
  /** The pod IP ('' when it has none, e.g. stopped). */
  ip: string
  createdAtMs: number
}

/** A volume mount, already resolved to a host path by the agent (emptyDir, hostPath). */
export interface Mount {
  hostPath: string
  containerPath: string
  readOnly: boolean
}

/** What the agent asks of a new container. */
export interface ContainerConfig {
  podUid: string
  podName: string
  namespace: string
  /** The container's name in the pod spec. */
  name: string
  /** 0 for the first container of this name in this pod, +1 at each restart. */
  attempt: number
  image: string
  /** Kubernetes' `command` (the entrypoint) and `args`; absent means the image's own. */
  command?: string[]
  args?: string[]
  /** Environment, resolved (valueFrom already read) and in order. */
  env: { name: string; value: string }[]
  workingDir?: string
  ports: { containerPort: number; protocol: 'TCP' | 'UDP' | 'SCTP' }[]
  mounts: Mount[]
  limits: { memoryBytes?: number; nanoCpus?: number }
  /** Kubernetes' terminationMessagePath: read after exit (runtimes that can). */
  terminationMessagePath?: string
}

/** A container as the runtime sees it now. */
export interface ContainerStatus {
  id: string
  podUid: string
  /** The container's name in the pod spec. */
  name: string
  attempt: number
  image: string
  /** The image's id, e.g. `docker-pullable://…` or `sha256:…`; '' when unknown. */
  imageId: string
  state: 'created' | 'running' | 'exited' | 'unknown'
  createdAtMs: number
  startedAtMs?: number
  finishedAtMs?: number
  exitCode?: number
  /** Why it ended, as Kubernetes words it: Completed, Error, OOMKilled, ContainerCannotRun. */
  reason?: string
  message?: string
}

/** The image could not be pulled (ErrImagePull in pod status). */
export class ImagePullError extends Error {
  override name = 'ImagePullError'
}

/** The container could not be created (CreateContainerError in pod status). */
export class CreateContainerError extends Error {
  override name = 'CreateContainerError'
}

/** The container was created but could not start (RunContainerError in pod status). */
export class RunContainerError extends Error {
  override name = 'RunContainerError'
}

/** What `ensureImage` did. */
export interface ImageResult {
  /** The image's id, for containerStatuses[].imageID. */
  imageId: string
  /** Set when the pull failed but a local copy is used (policy Always without a registry). */
  warning?: string
}

/** Options of `logs`. */
export interface LogOptions {
  follow: boolean
  /** Only the last N lines. */
  tailLines?: number
  /** Each line starts with its RFC 3339 time (with nanoseconds) and a space. */
  timestamps: boolean
  /** Only lines from this time (ms since the epoch) on. */
  sinceMs?: number
  /** Stops following (and closes the stream) when aborted. */
  signal?: AbortSignal
}

/** A container runtime, for one node. */
export interface Runtime {
  /** 'docker', 'process' or 'fake': the scheme of container ids in pod status (`docker://…`). */
  readonly name: string
  /** The runtime's name and version, for Node.status.nodeInfo.containerRuntimeVersion. */
  version(): Promise<string>

  /** Makes sure `image` is present, pulling as `policy` says. Throws ImagePullError. */
  ensureImage(image: string, policy: 'Always' | 'IfNotPresent' | 'Never'): Promise<ImageResult>

  /** Creates and starts a sandbox; answers when it holds its IP. */
  runSandbox(config: SandboxConfig): Promise<SandboxStatus>
  /** Stops a sandbox and every container in it (SIGKILL: containers were stopped first). */
  stopSandbox(id: string): Promise<void>
  /** Removes a stopped sandbox and every container in it, and frees its IP. Idempotent. */
  removeSandbox(id: string): Promise<void>
  /** This node's sandboxes, running or not. */
  listSandboxes(): Promise<SandboxStatus[]>

  /** Creates a container in a sandbox (not started). Throws CreateContainerError. */
  createContainer(sandboxId: string, config: ContainerConfig): Promise<string>
  /** Starts a created container. Throws RunContainerError. */
  startContainer(id: string): Promise<void>
  /** SIGTERM, then SIGKILL after `gracePeriodMs`; answers once it has exited. Idempotent. */
  stopContainer(id: string, gracePeriodMs: number): Promise<void>
  /** Removes an exited container. Idempotent. */
  removeContainer(id: string): Promise<void>
  /** This node's containers, in any state. */
  listContainers(): Promise<ContainerStatus[]>

  /** Runs a command inside a running container (exec probes). */
  exec(id: string, command: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }>
  /** The container's output (stdout and stderr interleaved), as text. */
  logs(id: string, options: LogOptions): Promise<Readable>

  /**
   * Calls `listener` when one of this node's containers changes state by itself (exits, is
   * OOM-killed): a hint to look again sooner than the next periodic list. Returns an unsubscribe.
   */
  onContainerEvent(listener: (containerId: string) => void): () => void

  /** Releases what the runtime holds (event streams, timers). Leaves containers running. */
  close(): Promise<void>

  /**
   * Makes (idempotently) this node's pod network with subnet `podCidr` (the Node's
   * spec.podCIDR, e.g. 10.244.3.0/24, gateway .1); sandboxes run after it get their IPs there.
   * Optional: a runtime whose pods cannot live in the cluster pod range (the process runtime's
   * loopback addresses) leaves it out, and the agent runs its sandboxes without waiting for one.
   */
  ensurePodNetwork?(podCidr: string): Promise<void>
  /** Removes this node's pod network, once no sandbox uses it (cleanup of a node gone for good). */
  removePodNetwork?(): Promise<void>
}

/** The labels every runtime object carries (Docker labels; fields in the process runtime's state). */
export const LABELS = {
  node: 'io.shoal.node',
  podUid: 'io.shoal.pod.uid',
  podName: 'io.shoal.pod.name',
  namespace: 'io.shoal.pod.namespace',
  container: 'io.shoal.container.name',
  attempt: 'io.shoal.container.attempt',
  /** 'sandbox', 'container' or 'network'. */
  role: 'io.shoal.role',
} as const

/** RFC 3339 with nanoseconds, as Kubernetes timestamps log lines. */
export function logTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z')
}

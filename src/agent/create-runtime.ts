/**
 * Picks and builds the container runtime a peer's agent uses: `--runtime docker`, `process`,
 * or `auto` (Docker when an engine answers, the process runtime otherwise). `fake` runs
 * nothing (simulated nodes in benchmarks).
 */

import { join } from 'node:path'
import type { Clock } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import { dockerClient, probeDockerEngine } from './docker-engine.js'
import { DockerRuntime } from './docker-runtime.js'
import { FakeRuntime, FakeRuntimeHost } from './fake-runtime.js'
import { ProcessRuntime } from './process-runtime.js'
import type { Runtime } from './runtime.js'

export type RuntimeKind = 'auto' | 'docker' | 'process' | 'fake'

/** The runtime flag is wrong for this machine (e.g. docker without an engine). */
export class RuntimeChoiceError extends Error {
  override name = 'RuntimeChoiceError'
}

/** Which runtime `kind` means on this machine. */
export async function resolveRuntimeKind(kind: RuntimeKind): Promise<'docker' | 'process' | 'fake'> {
  if (kind === 'process' || kind === 'fake') return kind
  const probe = await probeDockerEngine()
  if (kind === 'docker') {
    if (!probe.available)
      throw new RuntimeChoiceError(`--runtime docker: no Docker engine answers (${probe.reason})`)
    return 'docker'
  }
  return probe.available ? 'docker' : 'process'
}

export interface RuntimeContext {
  nodeName: string
  dataDir: string
  logger: Logger
  clock: Clock
  /** The cluster's pod range (Docker lets traffic between the nodes' pod networks through). */
  clusterPodCidr?: string
}

export async function createRuntime(
  kind: 'docker' | 'process' | 'fake',
  ctx: RuntimeContext,
): Promise<Runtime> {
  switch (kind) {
    case 'fake':
      return new FakeRuntime(new FakeRuntimeHost(ctx.clock), ctx.nodeName)
    case 'docker':
      return new DockerRuntime({
        docker: dockerClient(),
        nodeName: ctx.nodeName,
        podsDir: join(ctx.dataDir, 'pods'),
        logger: ctx.logger,
        clock: ctx.clock,
        ...(ctx.clusterPodCidr ? { clusterPodCidr: ctx.clusterPodCidr } : {}),
      })
    case 'process':
      return new ProcessRuntime({
        nodeName: ctx.nodeName,
        stateDir: join(ctx.dataDir, 'process-runtime'),
        logger: ctx.logger,
        clock: ctx.clock,
      })
  }
}

/**
 * Docker engine discovery: whether a Docker engine answers on this machine, and which.
 *
 * `--runtime auto` picks Docker when this says the engine answers, the process runtime
 * otherwise, and the agent says which at start. Talking to the engine goes through dockerode.
 */

import Docker from 'dockerode'

/** What we learned from the engine, or why it did not answer. */
export type DockerEngineProbe =
  | { available: true; version: string; apiVersion: string; socketPath: string }
  | { available: false; reason: string; socketPath: string }

/** The engine's socket: `DOCKER_HOST=unix://...` when set, else the standard path. */
export function dockerSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST
  if (host?.startsWith('unix://')) return host.slice('unix://'.length)
  return '/var/run/docker.sock'
}

/** A dockerode client for the local engine. */
export function dockerClient(socketPath = dockerSocketPath()): Docker {
  return new Docker({ socketPath })
}

/** Asks the engine for its version, giving up after `timeoutMs`. Never throws. */
export async function probeDockerEngine(
  socketPath = dockerSocketPath(),
  timeoutMs = 2000,
): Promise<DockerEngineProbe> {
  const docker = new Docker({ socketPath, timeout: timeoutMs })
  try {
    const v = await docker.version()
    return { available: true, version: v.Version, apiVersion: v.ApiVersion, socketPath }
  } catch (err) {
    return { available: false, reason: (err as Error).message, socketPath }
  }
}

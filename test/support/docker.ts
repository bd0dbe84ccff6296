/**
 * Docker in tests: `dockerTestOrSkip(suite)` gives the suite itself when a Docker engine
 * answers, or when `SHOAL_REQUIRE_DOCKER=1` (CI: the tests then run and fail loudly), and its
 * `skip` with a loud message otherwise (a developer's machine without Docker).
 */

import type { Test } from 'uvu'
import { probeDockerEngine } from '../../src/agent/docker-engine.js'

/** The offline test image that `test/fixtures/build-test-image.sh` builds. */
export const TEST_IMAGE = 'shoal-test/busybox:latest'

export async function dockerTestOrSkip(suite: Test): Promise<Test | Test['skip']> {
  const probe = await probeDockerEngine()
  if (probe.available) return suite
  if (process.env.SHOAL_REQUIRE_DOCKER === '1') {
    console.error(`Docker is required (SHOAL_REQUIRE_DOCKER=1) but does not answer: ${probe.reason}`)
    return suite
  }
  console.error(`!!! SKIPPING Docker tests: no engine answers at ${probe.socketPath} (${probe.reason})`)
  return suite.skip
}

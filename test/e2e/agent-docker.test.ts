import '../../src/util/polyfill.js'
/**
 * End-to-end: the node agent with the Docker runtime, on 3 real peers sharing this machine's
 * Docker engine (the scenarios are in support/pod-scenarios.ts).
 */

import { suite } from 'uvu'
import { dockerTestOrSkip } from '../support/docker.js'
import { AgentCluster } from './support/agents.js'
import { Kubectl } from './support/kubectl.js'
import { podScenarios } from './support/pod-scenarios.js'

const test = suite('e2e node agent, Docker runtime')
const c = new AgentCluster(37, 3, 'docker')
const k = new Kubectl(c)
const dockerTest = await dockerTestOrSkip(test)

if (typeof (dockerTest as typeof test).before === 'function') {
  test.before(async () => {
    for (const i of [1, 2, 3]) c.start(i)
    await c.leader([1, 2, 3], 30_000)
  })
  test.after(async () => {
    await k.killAll()
    await c.destroy()
  })
  podScenarios(test, c, k, 'docker')
} else {
  dockerTest('node agent scenarios with Docker', () => {})
}

test.run()

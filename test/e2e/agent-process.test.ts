import '../../src/util/polyfill.js'
/**
 * End-to-end: the node agent with the process runtime (containers as process groups on this
 * host), on 3 real peers; the same scenarios as with Docker (support/pod-scenarios.ts), but
 * for image pulls, which the process runtime has none of.
 */

import { suite } from 'uvu'
import { AgentCluster } from './support/agents.js'
import { Kubectl } from './support/kubectl.js'
import { podScenarios } from './support/pod-scenarios.js'

const test = suite('e2e node agent, process runtime')
const c = new AgentCluster(38, 3, 'process')
const k = new Kubectl(c)

test.before(async () => {
  for (const i of [1, 2, 3]) c.start(i)
  await c.leader([1, 2, 3], 30_000)
})
test.after(async () => {
  await k.killAll()
  await c.destroy()
})
podScenarios(test, c, k, 'process')

test.run()

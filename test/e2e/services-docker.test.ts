import '../../src/util/polyfill.js'
/** End-to-end: Services on 3 real peers with Docker (the scenarios: support/service-scenarios.ts). */

import { suite } from 'uvu'
import { dockerTestOrSkip } from '../support/docker.js'
import { AgentCluster } from './support/agents.js'
import { serviceScenarios } from './support/service-scenarios.js'

const test = suite('e2e services on 3 peers with Docker')
const dockerTest = await dockerTestOrSkip(test)
if (typeof (dockerTest as typeof test).before === 'function')
  serviceScenarios(test, new AgentCluster(40, 3, 'docker'), 'docker')

test.run()

import '../../src/util/polyfill.js'
/** End-to-end: Services on 3 real peers with the process runtime (support/service-scenarios.ts). */

import { suite } from 'uvu'
import { AgentCluster } from './support/agents.js'
import { serviceScenarios } from './support/service-scenarios.js'

const test = suite('e2e services on 3 peers with the process runtime')
// The cluster's service range is loopback (AgentCluster): no root needed, nothing added to the host.
// The proxy in user space, as without root: the Docker file covers the kernel data path.
serviceScenarios(test, new AgentCluster(41, 3, 'process'), 'process', 'userspace')

test.run()

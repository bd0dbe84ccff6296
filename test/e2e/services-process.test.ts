import '../../src/util/polyfill.js'
/** End-to-end: Services on 3 real peers with the process runtime (support/service-scenarios.ts). */

import { suite } from 'uvu'
import { AgentCluster } from './support/agents.js'
import { serviceScenarios } from './support/service-scenarios.js'

const test = suite('e2e services on 3 peers with the process runtime')
// Cluster IPs are put on the host's loopback interface, which needs root (CI runs as root).
if (process.getuid?.() === 0) serviceScenarios(test, new AgentCluster(41, 3, 'process'), 'process')
else console.error('!!! SKIPPING the process-runtime services e2e: cluster IPs need root')

test.run()

/**
 * agent: the node agent every peer runs (its kubelet) — it registers the peer's Node, keeps
 * its Ready heartbeat, and runs the pods bound to it through a Runtime (Docker, host
 * processes, or an in-memory fake), reporting their status back to the store.
 *
 *   const runtime = await createRuntime('docker', { nodeName: 'peer-1', dataDir, logger, clock })
 *   const agent = new NodeAgent({ nodeName: 'peer-1', client, runtime, clock, logger,
 *     podsDir: join(dataDir, 'pods'), hostIP: '127.0.1.1', apiPort: 6443,
 *     clusterDns: { server: '10.96.0.10', domain: 'cluster.local' } })
 *   await agent.start()            // registers, makes the pod network, adopts, follows the store
 *   const logs = await agent.podLogs(pod, { follow: true, previous: false, timestamps: false })
 *   await agent.stop()             // containers keep running; a new agent adopts them
 */

export * from './create-runtime.js'
export * from './docker-runtime.js'
export * from './fake-runtime.js'
export * from './node-agent.js'
export * from './pod-dns.js'
export * from './process-runtime.js'
export * from './runtime.js'

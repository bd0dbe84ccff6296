/**
 * The Shoal side of bench/proxy: one TcpServiceProxy in a process of its own, and with
 * DATA_PATH `kernel` also the kernel rules (KernelForwarder, iptables; root) that a peer
 * serving the address as root writes over it, as `shoal agent` does by default as root.
 * Usage: `node proxy-process.js LISTEN_HOST:PORT DATA_PATH BACKEND_HOST:PORT...`.
 */

import '../../src/util/polyfill.js'
import { KernelForwarder, removeClusterRules } from '../../src/proxy/kernel-forwarder.js'
import { clusterTag } from '../../src/proxy/kernel-rules.js'
import type { TcpDataPath } from '../../src/proxy/tcp-proxy.js'
import { TcpServiceProxy } from '../../src/proxy/tcp-proxy.js'
import { SystemClock } from '../../src/util/clock.js'
import { systemIptables } from '../../src/util/iptables.js'
import { silentLogger } from '../../src/util/logger.js'

const split = (hostPort: string): { host: string; port: number } => {
  const i = hostPort.lastIndexOf(':')
  return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) }
}

/** The benchmark's own cluster tag: its chains never meet a real cluster's. */
const BENCH_TAG = clusterTag('bench/proxy')

const [listen, dataPath, ...backends] = process.argv.slice(2)
const kernelPath = dataPath === 'kernel'
const at = split(listen!)
const proxy = new TcpServiceProxy(
  { clock: new SystemClock() },
  { ...at, dataPath: (kernelPath ? 'auto' : dataPath) as TcpDataPath },
)
proxy.setBackends(backends.map(split))
await proxy.start()
let kernel: KernelForwarder | null = null
if (kernelPath) {
  kernel = new KernelForwarder({ iptables: systemIptables, tag: BENCH_TAG, logger: silentLogger() })
  const failed = await kernel.setUp()
  if (failed) throw new Error(`kernel data path: ${failed}`)
  await kernel.apply({
    key: `TCP/${listen}`,
    protocol: 'TCP',
    ...at,
    service: 'bench/proxy',
    portName: '',
    clusterIp: true,
    backends: backends.map(split),
    sessionAffinity: 'None',
    affinityTimeoutMs: 0,
  })
}
console.log(`listening ${listen} data path ${kernelPath ? 'kernel' : proxy.dataPath}`)
process.on('SIGTERM', () => {
  void (async () => {
    if (kernel) await removeClusterRules(systemIptables, BENCH_TAG)
    await proxy.stop()
    process.exit(0)
  })()
})

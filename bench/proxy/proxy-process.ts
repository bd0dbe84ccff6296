/**
 * The Shoal side of bench/proxy: one TcpServiceProxy in a process of its own.
 * Usage: `node proxy-process.js LISTEN_HOST:PORT DATA_PATH BACKEND_HOST:PORT...`.
 */

import '../../src/util/polyfill.js'
import type { TcpDataPath } from '../../src/proxy/tcp-proxy.js'
import { TcpServiceProxy } from '../../src/proxy/tcp-proxy.js'
import { SystemClock } from '../../src/util/clock.js'

const split = (hostPort: string): { host: string; port: number } => {
  const i = hostPort.lastIndexOf(':')
  return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) }
}

const [listen, dataPath, ...backends] = process.argv.slice(2)
const proxy = new TcpServiceProxy(
  { clock: new SystemClock() },
  { ...split(listen!), dataPath: dataPath as TcpDataPath },
)
proxy.setBackends(backends.map(split))
await proxy.start()
console.log(`listening ${listen} data path ${proxy.dataPath}`)
process.on('SIGTERM', () => {
  void proxy.stop().then(() => process.exit(0))
})

/**
 * The back-ends of bench/proxy: three small Node.js HTTP servers in this one process, each
 * answering every request with its own name. Usage: `node backends.js PORT HOST...`.
 */

import { createServer } from 'node:http'

const [port, ...hosts] = process.argv.slice(2)
for (const host of hosts) {
  const body = `${host}\n`
  const headers = { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) }
  createServer((_req, res) => {
    res.writeHead(200, headers)
    res.end(body)
  }).listen(Number(port), host)
}

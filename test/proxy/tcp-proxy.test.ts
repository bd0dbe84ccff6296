import '../../src/util/polyfill.js'
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Backend } from '../../src/proxy/round-robin.js'
import { fastDataPathAvailable, type TcpDataPath, TcpServiceProxy } from '../../src/proxy/tcp-proxy.js'
import { SystemClock } from '../../src/util/clock.js'

// Loopback addresses of this file: the proxy on 127.0.60.1, backends on 127.0.60.11.. .
const PROXY_HOST = '127.0.60.1'

const servers: Server[] = []
const backendSockets = new Set<Socket>()
const proxies: TcpServiceProxy[] = []

async function listen(host: string, onConnection: (s: Socket) => void): Promise<Backend> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    backendSockets.add(s)
    s.on('close', () => backendSockets.delete(s))
    onConnection(s)
  })
  server.listen(0, host)
  await once(server, 'listening')
  servers.push(server)
  const a = server.address()
  if (a === null || typeof a === 'string') throw new Error('no address')
  return { host, port: a.port }
}

/** A backend that answers every connection with its name, then closes. */
const nameServer = (host: string, name: string) =>
  listen(host, (s) => {
    s.on('error', () => {})
    s.end(name)
  })

/** A backend that echoes, prefixed with its name, and ends when the client has ended. */
const echoServer = (host: string, name: string) =>
  listen(host, (s) => {
    s.on('error', () => {})
    s.on('data', (d) => s.write(`${name}:${d}`))
    s.on('end', () => s.end(`${name}:bye`))
  })

/** A host:port nobody listens on (connects are refused). */
async function refusingBackend(host: string): Promise<Backend> {
  const server = createServer()
  server.listen(0, host)
  await once(server, 'listening')
  const a = server.address() as { port: number }
  await new Promise<void>((r) => server.close(() => r()))
  return { host, port: a.port }
}

async function startProxy(dataPath: TcpDataPath, backends: Backend[], extra = {}): Promise<TcpServiceProxy> {
  const proxy = new TcpServiceProxy(
    { clock: new SystemClock() },
    { host: PROXY_HOST, port: 0, dataPath, ...extra },
  )
  proxy.setBackends(backends)
  await proxy.start()
  proxies.push(proxy)
  return proxy
}

/** Connects, sends `send` (then FIN) if given, reads everything until the server's FIN. */
function fetchAll(port: number, send?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: PROXY_HOST, port, allowHalfOpen: true })
    let out = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => {
      out += d
    })
    s.on('error', reject)
    s.on('end', () => s.end())
    s.on('connect', () => {
      if (send !== undefined) s.end(send)
    })
    s.on('close', () => resolve(out))
  })
}

async function cleanup(): Promise<void> {
  await Promise.all(proxies.splice(0).map((p) => p.stop()))
  for (const s of backendSockets) s.destroy()
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
}

const paths: TcpDataPath[] = ['auto', 'streams']

test('the fast data path is available on this Node.js', () => {
  assert.ok(fastDataPathAvailable())
})

for (const path of paths) {
  test(`[${path}] 300 connections reach each of three backends a third of the time`, async () => {
    try {
      const backends = await Promise.all(['a', 'b', 'c'].map((n, i) => nameServer(`127.0.60.${11 + i}`, n)))
      const proxy = await startProxy(path, backends)
      if (path === 'auto') assert.is(proxy.dataPath, 'fast')
      const { port } = proxy.address()
      const counts: Record<string, number> = {}
      for (let batch = 0; batch < 10; batch++) {
        const answers = await Promise.all(Array.from({ length: 30 }, () => fetchAll(port)))
        for (const a of answers) counts[a] = (counts[a] ?? 0) + 1
      }
      assert.equal(counts, { a: 100, b: 100, c: 100 })
      await new Promise((r) => setTimeout(r, 20))
      assert.is(proxy.stats().active, 0)
    } finally {
      await cleanup()
    }
  })

  test(`[${path}] a refusing backend: the next one serves, the client sees no error`, async () => {
    try {
      const refusing = await refusingBackend('127.0.60.14')
      const good = await nameServer('127.0.60.15', 'good')
      const proxy = await startProxy(path, [refusing, good])
      const { port } = proxy.address()
      for (let i = 0; i < 6; i++) assert.is(await fetchAll(port), 'good')
      assert.ok(proxy.stats().connectFailures >= 1)
      assert.is(proxy.stats().unserved, 0)
    } finally {
      await cleanup()
    }
  })

  test(`[${path}] no reachable backend: the client is closed`, async () => {
    try {
      const refusing = await refusingBackend('127.0.60.14')
      const proxy = await startProxy(path, [refusing], { maxConnectAttempts: 2 })
      assert.is(await fetchAll(proxy.address().port).catch(() => ''), '')
      proxy.setBackends([])
      assert.is(await fetchAll(proxy.address().port).catch(() => ''), '')
      assert.is(proxy.stats().unserved, 2)
    } finally {
      await cleanup()
    }
  })

  test(`[${path}] half-close: the client's FIN reaches the backend, its answer comes back`, async () => {
    try {
      const echo = await echoServer('127.0.60.16', 'e')
      const proxy = await startProxy(path, [echo])
      assert.is(await fetchAll(proxy.address().port, 'hello'), 'e:helloe:bye')
    } finally {
      await cleanup()
    }
  })

  test(`[${path}] backends changed while a connection is open: it stays open and works`, async () => {
    try {
      const first = await echoServer('127.0.60.17', 'x')
      const second = await echoServer('127.0.60.18', 'y')
      const proxy = await startProxy(path, [first])
      const s = connect({ host: PROXY_HOST, port: proxy.address().port, allowHalfOpen: true })
      s.setEncoding('utf8')
      const read = (): Promise<string> => once(s, 'data').then(([d]) => d as string)
      await once(s, 'connect')
      s.write('1')
      assert.is(await read(), 'x:1')
      proxy.setBackends([second])
      assert.is(await fetchAll(proxy.address().port, 'new'), 'y:newy:bye')
      s.write('2')
      assert.is(await read(), 'x:2')
      // A large transfer through the long connection (backpressure on the way back).
      const big = 'z'.repeat(4 * 1024 * 1024)
      let got = 0
      const all = new Promise<void>((resolve) =>
        s.on('data', (d: string) => {
          got += d.length
          if (got >= big.length + 2) resolve()
        }),
      )
      s.write(big)
      await all
      s.end()
      await once(s, 'close')
    } finally {
      await cleanup()
    }
  })

  test(`[${path}] stop() closes the listener and open connections`, async () => {
    try {
      const echo = await echoServer('127.0.60.19', 'e')
      const proxy = await startProxy(path, [echo])
      const { port } = proxy.address()
      const s = connect({ host: PROXY_HOST, port })
      s.on('error', () => {})
      await once(s, 'connect')
      s.write('ping')
      await once(s, 'data')
      const closed = once(s, 'close')
      await proxy.stop()
      await closed
      await proxy.stop() // idempotent
      const err = await fetchAll(port).then(
        () => null,
        (e: NodeJS.ErrnoException) => e.code,
      )
      assert.is(err, 'ECONNREFUSED')
      assert.is(proxy.stats().active, 0)
    } finally {
      await cleanup()
    }
  })

  test(`[${path}] a client beyond maxConnections is closed at once`, async () => {
    try {
      const echo = await echoServer('127.0.60.20', 'e')
      const proxy = await startProxy(path, [echo], { maxConnections: 1 })
      const s = connect({ host: PROXY_HOST, port: proxy.address().port })
      s.setEncoding('utf8')
      await once(s, 'connect')
      s.write('1')
      assert.is((await once(s, 'data'))[0], 'e:1')
      assert.is(await fetchAll(proxy.address().port).catch(() => ''), '')
      assert.is(proxy.stats().rejected, 1)
      s.destroy()
    } finally {
      await cleanup()
    }
  })
}

test('config validation names the field', () => {
  assert.throws(() => new TcpServiceProxy({ clock: new SystemClock() }, { port: 70000 }), /port/)
  assert.throws(
    () => new TcpServiceProxy({ clock: new SystemClock() }, { maxConnectAttempts: 0 }),
    /maxConnectAttempts/,
  )
})

test.run()

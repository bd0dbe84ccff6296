import '../../src/util/polyfill.js'
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Backend } from '../../src/proxy/round-robin.js'
import { UdpServiceProxy } from '../../src/proxy/udp-proxy.js'
import { ManualClock, SystemClock } from '../../src/util/clock.js'

// Loopback addresses of this file: the proxy on 127.0.60.2, backends on 127.0.60.31.. .
const PROXY_HOST = '127.0.60.2'
const sockets: Socket[] = []

/** A UDP backend that answers each datagram with `name:datagram`. */
async function udpBackend(host: string, name: string): Promise<Backend> {
  const s = createSocket('udp4')
  s.on('message', (msg, rinfo) => s.send(`${name}:${msg}`, rinfo.port, rinfo.address))
  s.bind(0, host)
  await once(s, 'listening')
  sockets.push(s)
  return { host, port: s.address().port }
}

async function udpClient(): Promise<{ ask: (port: number, msg: string) => Promise<string>; socket: Socket }> {
  const s = createSocket('udp4')
  s.bind(0, '127.0.0.1')
  await once(s, 'listening')
  sockets.push(s)
  const ask = async (port: number, msg: string): Promise<string> => {
    s.send(msg, port, PROXY_HOST)
    const [reply] = await once(s, 'message')
    return String(reply)
  }
  return { ask, socket: s }
}

const closeAll = () => {
  for (const s of sockets.splice(0)) s.close()
}

test('new flows are spread round-robin; replies come back; a flow keeps its backend', async () => {
  const backends = await Promise.all(['a', 'b', 'c'].map((n, i) => udpBackend(`127.0.60.${31 + i}`, n)))
  const proxy = new UdpServiceProxy({ clock: new SystemClock() }, { host: PROXY_HOST, port: 0 })
  proxy.setBackends(backends)
  await proxy.start()
  try {
    const port = proxy.address().port
    const clients = await Promise.all(Array.from({ length: 6 }, () => udpClient()))
    const first: string[] = []
    for (const c of clients) first.push(await c.ask(port, 'hi'))
    assert.equal(first, ['a:hi', 'b:hi', 'c:hi', 'a:hi', 'b:hi', 'c:hi'])
    for (const [i, c] of clients.entries()) assert.is(await c.ask(port, 'again'), `${first[i]![0]}:again`)
    assert.is(proxy.stats().sessions, 6)
    // A backend removed: its sessions close; their next datagram goes to a live backend.
    proxy.setBackends([backends[1]!])
    assert.is(proxy.stats().sessions, 2)
    assert.is(await clients[0]!.ask(port, 'moved'), 'b:moved')
  } finally {
    await proxy.stop()
    await proxy.stop()
    closeAll()
  }
})

test('idle sessions expire on the injected clock; activity keeps them', async () => {
  const clock = new ManualClock()
  const backend = await udpBackend('127.0.60.34', 'x')
  const proxy = new UdpServiceProxy({ clock }, { host: PROXY_HOST, port: 0, sessionIdleMs: 1000 })
  proxy.setBackends([backend])
  await proxy.start()
  try {
    const c = await udpClient()
    const port = proxy.address().port
    assert.is(await c.ask(port, '1'), 'x:1')
    clock.advance(600)
    assert.is(await c.ask(port, '2'), 'x:2')
    clock.advance(600)
    assert.is(proxy.stats().sessions, 1, 'active 600 ms ago: kept')
    clock.advance(400)
    assert.is(proxy.stats().sessions, 0, 'idle 1000 ms: closed')
    assert.is(await c.ask(port, '3'), 'x:3')
    assert.is(proxy.stats().sessionsOpened, 2)
  } finally {
    await proxy.stop()
    closeAll()
  }
})

test('at maxSessions a new flow is dropped; no backend drops too', async () => {
  const backend = await udpBackend('127.0.60.35', 'y')
  const proxy = new UdpServiceProxy(
    { clock: new SystemClock() },
    { host: PROXY_HOST, port: 0, maxSessions: 1 },
  )
  proxy.setBackends([backend])
  await proxy.start()
  try {
    const port = proxy.address().port
    const a = await udpClient()
    const b = await udpClient()
    assert.is(await a.ask(port, '1'), 'y:1')
    b.socket.send('2', port, PROXY_HOST)
    await new Promise((r) => setTimeout(r, 50))
    assert.is(proxy.stats().dropped, 1)
  } finally {
    await proxy.stop()
    closeAll()
  }
})

test.run()

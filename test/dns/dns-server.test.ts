import '../../src/util/polyfill.js'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { DecodedPacket, Packet } from 'dns-packet'
import * as dnsPacket from 'dns-packet'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ClusterDnsServer, type ClusterDnsServerOptions } from '../../src/dns/dns-server.js'
import { ManualClock } from '../../src/util/clock.js'
import { clusterWorld } from './support.js'

// Loopback addresses of this file: servers on 127.0.61.1–9, fake upstreams on 127.0.61.20–29.
const SERVER_HOST = '127.0.61.1'
const CLIENT_HOST = '127.0.61.100'
const closers: (() => Promise<void> | void)[] = []

async function cleanup(): Promise<void> {
  for (const close of closers.splice(0).reverse()) await close()
}

async function server(options: Partial<ClusterDnsServerOptions> = {}): Promise<ClusterDnsServer> {
  const w = await clusterWorld()
  const s = new ClusterDnsServer({
    store: w.store,
    clock: new ManualClock(),
    host: SERVER_HOST,
    port: 0,
    ...options,
  })
  await s.start()
  closers.push(() => s.stop())
  return s
}

/** A decoded reply; dns-packet's types leave out the rcode it decodes. */
type Reply = DecodedPacket & { rcode: string }
const decode = (buf: Buffer): Reply => dnsPacket.decode(buf) as Reply

let nextId = 1
function query(name: string, type: string, extra: Partial<Packet> = {}): Packet {
  return {
    type: 'query',
    id: nextId++,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as 'A' }],
    ...extra,
  }
}

/** A UDP client socket; `ask` sends raw bytes and returns the next datagram it receives. */
async function udpClient(): Promise<{ socket: UdpSocket; next: () => Promise<Buffer> }> {
  const socket = createSocket('udp4')
  socket.bind(0, CLIENT_HOST)
  await once(socket, 'listening')
  closers.push(() => {
    socket.close()
  })
  return { socket, next: async () => (await once(socket, 'message'))[0] as Buffer }
}

async function askUdp(port: number, packet: Packet, host = SERVER_HOST): Promise<Reply> {
  const c = await udpClient()
  c.socket.send(dnsPacket.encode(packet), port, host)
  return decode(await c.next())
}

/** Sends each message over one TCP connection; returns the replies (bytes) in arrival order. */
async function tcpExchange(port: number, messages: Buffer[], expected = messages.length): Promise<Buffer[]> {
  const socket = connect({ host: SERVER_HOST, port, localAddress: CLIENT_HOST })
  closers.push(() => void socket.destroy())
  await once(socket, 'connect')
  for (const m of messages) {
    const framed = Buffer.alloc(2 + m.length)
    framed.writeUInt16BE(m.length, 0)
    m.copy(framed, 2)
    socket.write(framed)
  }
  const replies: Buffer[] = []
  let buf: Buffer = Buffer.alloc(0)
  return new Promise((resolve, reject) => {
    socket.on('error', reject)
    socket.on('close', () => resolve(replies))
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)))
        buf = buf.subarray(2 + buf.readUInt16BE(0))
      }
      if (replies.length >= expected) {
        socket.destroy()
        resolve(replies)
      }
    })
  })
}

async function askTcp(port: number, packet: Packet): Promise<Reply> {
  const [reply] = await tcpExchange(port, [dnsPacket.encode(packet)])
  return decode(reply!)
}

/**
 * A fake upstream resolver on UDP and TCP: answers every A question with 127.0.99.<n>, or
 * stays silent; `received` counts what it got, `onQuery` fires on each.
 */
async function fakeUpstream(
  host: string,
  options: { silent?: boolean; answer?: string } = {},
): Promise<{ port: number; received: () => number; queried: () => Promise<void> }> {
  let count = 0
  const waiters: (() => void)[] = []
  const reply = (msg: Buffer): Buffer | null => {
    count++
    for (const w of waiters.splice(0)) w()
    if (options.silent) return null
    const q = decode(msg)
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.RECURSION_AVAILABLE,
      questions: q.questions,
      answers: [{ name: q.questions![0]!.name, type: 'A', ttl: 60, data: options.answer ?? '127.0.99.1' }],
    })
  }
  const udp = createSocket('udp4')
  udp.on('message', (msg, rinfo) => {
    const r = reply(msg)
    if (r) udp.send(r, rinfo.port, rinfo.address)
  })
  udp.bind(0, host)
  await once(udp, 'listening')
  const port = udp.address().port
  const connections = new Set<Socket>()
  const tcp: Server = createServer((socket) => {
    connections.add(socket)
    socket.on('data', (chunk: Buffer) => {
      const r = reply(chunk.subarray(2, 2 + chunk.readUInt16BE(0)))
      if (!r) return
      const framed = Buffer.alloc(2 + r.length)
      framed.writeUInt16BE(r.length, 0)
      r.copy(framed, 2)
      socket.write(framed)
    })
  })
  tcp.listen(port, host)
  await once(tcp, 'listening')
  closers.push(
    () => {
      udp.close()
    },
    () => {
      for (const c of connections) c.destroy()
      tcp.close()
    },
  )
  return {
    port,
    received: () => count,
    queried: () => new Promise<void>((resolve) => waiters.push(resolve)),
  }
}

test('cluster names are answered over UDP and TCP, with authority', async () => {
  try {
    const s = await server()
    const { port } = s.address()
    const q = query('web.default.svc.cluster.local', 'A')
    for (const reply of [await askUdp(port, q), await askTcp(port, q)]) {
      assert.is(reply.id, q.id)
      assert.is(reply.type, 'response')
      assert.is(reply.rcode, 'NOERROR')
      assert.ok(reply.flag_aa)
      assert.ok(reply.flag_rd)
      assert.equal(
        reply.answers!.map((a) => [
          a.name,
          a.type,
          (a as { data: unknown }).data,
          (a as { ttl: number }).ttl,
        ]),
        [['web.default.svc.cluster.local', 'A', '10.96.0.20', 5]],
      )
    }
    const nx = await askUdp(port, query('nope.default.svc.cluster.local', 'A'))
    assert.is(nx.rcode, 'NXDOMAIN')
    assert.is(nx.authorities![0]!.type, 'SOA')
    const srv = await askTcp(port, query('_pg._tcp.db.default.svc.cluster.local', 'SRV'))
    assert.is(srv.answers!.length, 3)
    assert.is(srv.additionals!.length, 3)
    assert.equal(s.stats(), { answered: 4, forwarded: 0, servfail: 0, malformed: 0 })
  } finally {
    await cleanup()
  }
})

test('other names are forwarded to the upstream, over the client transport; EDNS is answered', async () => {
  try {
    const up = await fakeUpstream('127.0.61.20', { answer: '127.0.99.7' })
    const s = await server({ upstreams: [{ host: '127.0.61.20', port: up.port }] })
    const { port } = s.address()
    const viaUdp = await askUdp(port, query('example.org', 'A'))
    assert.is(viaUdp.rcode, 'NOERROR')
    assert.equal((viaUdp.answers![0] as { data: string }).data, '127.0.99.7')
    const viaTcp = await askTcp(port, query('Example.Org', 'A'))
    assert.equal((viaTcp.answers![0] as { data: string }).data, '127.0.99.7')
    assert.is(up.received(), 2)
    assert.is(s.stats().forwarded, 2)
    // A reverse name that is not a cluster address goes upstream too.
    await askUdp(port, query('1.1.168.192.in-addr.arpa', 'PTR'))
    assert.is(up.received(), 3)
    // Stopped and started again: still forwards.
    await s.stop()
    await s.start()
    const again = await askUdp(s.address().port, query('example.org', 'A'))
    assert.is(again.rcode, 'NOERROR')
    assert.is(up.received(), 4)
  } finally {
    await cleanup()
  }
})

test('an upstream that does not answer in time: the next is asked; none left is SERVFAIL', async () => {
  try {
    const clock = new ManualClock()
    const silent = await fakeUpstream('127.0.61.21', { silent: true })
    const good = await fakeUpstream('127.0.61.22')
    const s = await server({
      clock,
      forwardTimeoutMs: 2000,
      upstreams: [
        { host: '127.0.61.21', port: silent.port },
        { host: '127.0.61.22', port: good.port },
      ],
    })
    const { port } = s.address()
    const c = await udpClient()
    let asked = silent.queried()
    c.socket.send(dnsPacket.encode(query('example.org', 'A')), port, SERVER_HOST)
    await asked
    clock.advance(1999)
    assert.is(good.received(), 0, 'not before the timeout')
    const reached = good.queried()
    clock.advance(1)
    await reached
    assert.is(decode(await c.next()).rcode, 'NOERROR')

    // Only the silent one: SERVFAIL once it timed out.
    const lonely = await server({
      clock,
      host: '127.0.61.2',
      forwardTimeoutMs: 500,
      upstreams: [{ host: '127.0.61.21', port: silent.port }],
    })
    const id = nextId
    asked = silent.queried()
    c.socket.send(dnsPacket.encode(query('example.org', 'A')), lonely.address().port, '127.0.61.2')
    await asked
    clock.advance(500)
    const reply = decode(await c.next())
    assert.is(reply.id, id)
    assert.is(reply.rcode, 'SERVFAIL')
    assert.is(reply.questions![0]!.name, 'example.org')
    assert.is(lonely.stats().servfail, 1)
  } finally {
    await cleanup()
  }
})

test('without upstreams, other names get SERVFAIL at once', async () => {
  try {
    const s = await server()
    const reply = await askUdp(s.address().port, query('example.org', 'A'))
    assert.is(reply.rcode, 'SERVFAIL')
    assert.not.ok(reply.flag_aa)
  } finally {
    await cleanup()
  }
})

test('start() rejects with EADDRINUSE while another server holds the address; works once it is gone', async () => {
  try {
    const first = await server({ host: '127.0.61.3' })
    const port = first.address().port
    const w = await clusterWorld()
    const second = new ClusterDnsServer({
      store: w.store,
      clock: new ManualClock(),
      host: '127.0.61.3',
      port,
    })
    closers.push(() => second.stop())
    const err = await second.start().then(
      () => null,
      (e: NodeJS.ErrnoException) => e,
    )
    assert.is(err?.code, 'EADDRINUSE')
    assert.throws(() => second.address(), /not listening/)
    // TCP alone taken (UDP free): still EADDRINUSE, and the UDP socket is given back.
    const tcpOnly = createServer()
    tcpOnly.listen(0, '127.0.61.4')
    await once(tcpOnly, 'listening')
    closers.push(() => void tcpOnly.close())
    const third = new ClusterDnsServer({
      store: w.store,
      clock: new ManualClock(),
      host: '127.0.61.4',
      port: (tcpOnly.address() as { port: number }).port,
    })
    const err3 = await third.start().then(
      () => null,
      (e: NodeJS.ErrnoException) => e,
    )
    assert.is(err3?.code, 'EADDRINUSE')
    const probe = createSocket('udp4')
    probe.bind((tcpOnly.address() as { port: number }).port, '127.0.61.4')
    await once(probe, 'listening')
    probe.close()

    await first.stop()
    await first.stop()
    await second.start()
    assert.is(second.address().port, port)
    assert.is(
      (await askUdp(port, query('web.default.svc.cluster.local', 'A'), '127.0.61.3')).rcode,
      'NOERROR',
    )
  } finally {
    await cleanup()
  }
})

test('malformed messages: garbage is dropped, a bad query gets FORMERR, the server keeps answering', async () => {
  try {
    const s = await server()
    const { port } = s.address()
    const c = await udpClient()
    // Too short for a header, and a response: no reply.
    c.socket.send(Buffer.from([1, 2, 3]), port, SERVER_HOST)
    c.socket.send(
      dnsPacket.encode({ ...query('web.default.svc.cluster.local', 'A'), type: 'response' }),
      port,
      SERVER_HOST,
    )
    // A header that promises a question it does not carry: FORMERR with its id.
    const broken = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, 0x61])
    c.socket.send(broken, port, SERVER_HOST)
    const formerr = decode(await c.next())
    assert.is(formerr.id, 0x1234)
    assert.is(formerr.rcode, 'FORMERR')
    // Two questions: FORMERR; another opcode (NOTIFY): NOTIMP.
    const two = dnsPacket.encode({
      ...query('a.cluster.local', 'A'),
      questions: [
        { name: 'a.cluster.local', type: 'A' },
        { name: 'b.cluster.local', type: 'A' },
      ],
    })
    c.socket.send(two, port, SERVER_HOST)
    assert.is(decode(await c.next()).rcode, 'FORMERR')
    const notify = dnsPacket.encode(query('cluster.local', 'SOA'))
    notify.writeUInt16BE((4 << 11) | notify.readUInt16BE(2), 2)
    c.socket.send(notify, port, SERVER_HOST)
    assert.is(decode(await c.next()).rcode, 'NOTIMP')
    const ok = query('web.default.svc.cluster.local', 'A')
    c.socket.send(dnsPacket.encode(ok), port, SERVER_HOST)
    const reply = decode(await c.next())
    assert.is(reply.id, ok.id, 'the garbage got no reply')
    assert.is(reply.rcode, 'NOERROR')
    // Over TCP: FORMERR, then the next query on the same connection is answered.
    const replies = await tcpExchange(port, [broken, dnsPacket.encode(ok)])
    assert.equal(
      replies.map((r) => decode(r).rcode),
      ['FORMERR', 'NOERROR'],
    )
    assert.is(s.stats().malformed, 6)
  } finally {
    await cleanup()
  }
})

test('UDP replies over 512 bytes are truncated (TC) unless EDNS allows more; TCP gets everything', async () => {
  try {
    const w = await clusterWorld()
    await w.create('services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'many', namespace: 'default' },
      spec: { clusterIP: 'None', ports: [{ name: 'p', port: 1 }] },
    })
    await w.create('endpoints', {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'many', namespace: 'default' },
      subsets: [
        {
          addresses: Array.from({ length: 20 }, (_, i) => ({ ip: `10.244.0.${i + 1}` })),
          ports: [{ name: 'p', port: 1, protocol: 'TCP' }],
        },
      ],
    })
    const s = new ClusterDnsServer({ store: w.store, clock: new ManualClock(), host: SERVER_HOST, port: 0 })
    await s.start()
    closers.push(() => s.stop())
    const { port } = s.address()
    const name = 'many.default.svc.cluster.local'
    const plain = await askUdp(port, query(name, 'A'))
    assert.ok(plain.flag_tc)
    assert.is(plain.answers!.length, 0)
    assert.is(plain.questions![0]!.name, name)
    const edns = await askUdp(
      port,
      query(name, 'A', {
        additionals: [
          {
            name: '.',
            type: 'OPT',
            udpPayloadSize: 4096,
            extendedRcode: 0,
            ednsVersion: 0,
            flags: 0,
            flag_do: false,
            options: [],
          },
        ],
      }),
    )
    assert.not.ok(edns.flag_tc)
    assert.is(edns.answers!.length, 20)
    assert.is(edns.additionals!.find((a) => a.type === 'OPT')?.type, 'OPT')
    const tcp = await askTcp(port, query(name, 'A'))
    assert.not.ok(tcp.flag_tc)
    assert.is(tcp.answers!.length, 20)
  } finally {
    await cleanup()
  }
})

test('a TCP connection idle for tcpIdleMs is closed; stop() closes everything and is idempotent', async () => {
  try {
    const clock = new ManualClock()
    const s = await server({ clock, tcpIdleMs: 1000 })
    const socket = connect({ host: SERVER_HOST, port: s.address().port, localAddress: CLIENT_HOST })
    closers.push(() => void socket.destroy())
    await once(socket, 'connect')
    // Let the server see the connection before time moves.
    while (clock.pendingTimers() === 0) await new Promise((r) => setImmediate(r))
    const closed = once(socket, 'close')
    clock.advance(1000)
    await closed
    await s.stop()
    await s.stop()
    assert.throws(() => s.address(), /not listening/)
  } finally {
    await cleanup()
  }
})

test.run()

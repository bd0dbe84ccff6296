/**
 * The cost of the peer-to-peer transport itself: CPU per request/answer exchange over a
 * RequestChannel (src/p2p/request-channel.ts) between two libp2p hosts as Shoal builds them
 * (TCP, pnet with the cluster secret, Noise, yamux), against the anchor of the same exchange
 * over a plain TCP connection (u32 length-prefixed frames, no encryption).
 *
 * Both ends live in this process, so the CPU figure is sender + receiver, both directions.
 * For request sizes of 400 B (a forwarded write), 4 KB and 16 KB (AppendEntries batches), with
 * 1 exchange in flight and with 16.
 *
 *   make bench B=p2p-channel
 */

import '../../src/util/polyfill.js'
import { once } from 'node:events'
import { createServer, type Socket, connect as tcpConnect } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createHost } from '../../src/p2p/host.js'
import { libp2pChannelHost, RequestChannel } from '../../src/p2p/request-channel.js'
import { newClusterSecret } from '../../src/p2p/secret.js'
import { machineInfo, projectRoot, round, table, writeFigures } from '../support/stats.js'

const COMMAND = 'make bench B=p2p-channel'
const REQUEST_BYTES = [400, 4096, 16384]
const IN_FLIGHT = [1, 16]
const ANSWER_BYTES = 16
const EXCHANGES = 6000
const WARMUP = 500

type Exchange = (payload: Uint8Array) => Promise<unknown>

interface Row {
  transport: string
  bytes: number
  inFlight: number
  cpuUs: number
  perSecond: number
}

/** Runs `EXCHANGES` exchanges, `inFlight` at a time: CPU µs per exchange and exchanges/s. */
async function measure(exchange: Exchange, bytes: number, inFlight: number): Promise<Omit<Row, 'transport'>> {
  const payload = new Uint8Array(bytes).fill(7)
  for (let i = 0; i < WARMUP; i++) await exchange(payload)
  let started = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (started < EXCHANGES) {
        started++
        await exchange(payload)
      }
    }),
  )
  const cpu = process.cpuUsage(cpu0)
  const ms = performance.now() - t0
  return {
    bytes,
    inFlight,
    cpuUs: (cpu.user + cpu.system) / EXCHANGES,
    perSecond: (EXCHANGES / ms) * 1000,
  }
}

/** Two libp2p hosts on loopback and a channel between them; the server answers 16 bytes. */
async function libp2pPair(): Promise<{ exchange: Exchange; close(): Promise<void> }> {
  const secret = newClusterSecret()
  const make = async () =>
    createHost({ privateKey: await generateKeyPair('Ed25519'), listen: '/ip4/127.0.0.1/tcp/0', secret })
  const a = await make()
  const b = await make()
  const client = new RequestChannel({ host: libp2pChannelHost(a, '/shoal/bench/1.0.0') })
  const server = new RequestChannel({ host: libp2pChannelHost(b, '/shoal/bench/1.0.0') })
  const answer = new Uint8Array(ANSWER_BYTES)
  await server.serve(async () => answer)
  const target = { id: b.peerId.toString(), address: b.getMultiaddrs()[0]!.toString() }
  return {
    exchange: (payload) => client.request(target, payload, 10_000),
    async close() {
      await client.close()
      await server.close()
      await a.stop()
      await b.stop()
    },
  }
}

/** Splits a byte stream into u32 length-prefixed frames. */
function onFrames(socket: Socket, onFrame: () => void): void {
  let pending: Buffer = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    while (pending.length >= 4) {
      const n = pending.readUInt32BE(0)
      if (pending.length < 4 + n) break
      pending = pending.subarray(4 + n)
      onFrame()
    }
  })
}

/** The anchor: one TCP connection on loopback, frames in order, answers in order. */
async function tcpPair(): Promise<{ exchange: Exchange; close(): Promise<void> }> {
  const answer = Buffer.alloc(4 + ANSWER_BYTES)
  answer.writeUInt32BE(ANSWER_BYTES)
  const server = createServer((s) => {
    s.setNoDelay(true)
    onFrames(s, () => s.write(answer))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  const socket = tcpConnect(port, '127.0.0.1')
  socket.setNoDelay(true)
  await once(socket, 'connect')
  const waiting: (() => void)[] = []
  onFrames(socket, () => waiting.shift()?.())
  return {
    exchange: (payload) =>
      new Promise<void>((resolve) => {
        waiting.push(resolve)
        const header = Buffer.alloc(4)
        header.writeUInt32BE(payload.byteLength)
        socket.write(Buffer.concat([header, payload]))
      }),
    async close() {
      socket.destroy()
      server.close()
    },
  }
}

async function main(): Promise<void> {
  const rows: Row[] = []
  for (const [transport, make] of [
    ['libp2p channel (pnet+noise+yamux)', libp2pPair],
    ['tcp (anchor)', tcpPair],
  ] as const) {
    const pair = await make()
    for (const bytes of REQUEST_BYTES)
      for (const inFlight of IN_FLIGHT)
        rows.push({ transport, ...(await measure(pair.exchange, bytes, inFlight)) })
    await pair.close()
  }
  console.log('p2p-channel: CPU per request/answer exchange, both ends in one process')
  console.log(`command: ${COMMAND}`)
  const machine = machineInfo()
  const date = new Date().toISOString()
  console.log(`node ${machine.node}, ${machine.cpu}, ${date}`)
  console.log('')
  const header = ['transport', 'request B', 'in flight', 'CPU µs/exchange', 'exchanges/s', 'vs tcp']
  const lines = rows.map((r) => {
    const tcp = rows.find(
      (t) => t.transport.startsWith('tcp') && t.bytes === r.bytes && t.inFlight === r.inFlight,
    )!
    return [
      r.transport,
      String(r.bytes),
      String(r.inFlight),
      r.cpuUs.toFixed(1),
      r.perSecond.toFixed(0),
      r === tcp ? '' : `${(r.cpuUs / tcp.cpuUs).toFixed(1)}× CPU`,
    ]
  })
  console.log(table([header, ...lines]))
  console.log('')
  console.log(`(${EXCHANGES} exchanges per row after ${WARMUP} warm-up; answers are ${ANSWER_BYTES} bytes)`)
  const rounded = rows.map((r) => ({ ...r, cpuUs: round(r.cpuUs, 1), perSecond: Math.round(r.perSecond) }))
  const path = await writeFigures(projectRoot(import.meta.url), 'p2p-channel', {
    command: COMMAND,
    date,
    machine,
    rows: rounded,
  })
  console.log(`figures: ${path}`)
  process.exit(0)
}

await main()

import '../../src/util/polyfill.js'
import { randomBytes } from 'node:crypto'
import { type ClientHttp2Session, connect } from 'node:http2'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ApiServer } from '../../src/api/api-server.js'
import { deriveClusterCa, issueServingCert } from '../../src/api/tls.js'
import type { ClusterManager } from '../../src/p2p/cluster-manager.js'
import { newClusterSecret } from '../../src/p2p/secret.js'
import type { Raft } from '../../src/raft/raft.js'
import { ObjectStore } from '../../src/store/object-store.js'
import { ManualClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/logger.js'
import { SeededRng } from '../../src/util/random.js'

const TOKEN = randomBytes(16).toString('hex')
const IDLE_MS = 300

async function startServer(): Promise<{ server: ApiServer; base: string; ca: string }> {
  const ca = await deriveClusterCa(newClusterSecret())
  const serving = await issueServingCert(ca, { hosts: ['localhost'], ips: ['127.0.0.1'] })
  const server = new ApiServer({
    host: '127.0.0.1',
    port: 0,
    tls: { certPem: serving.certPem, keyPem: serving.keyPem },
    token: TOKEN,
    store: new ObjectStore(),
    // /version and a watch read this peer's store only: no Raft or cluster call is made.
    raft: {} as Raft,
    cluster: {} as ClusterManager,
    clock: new ManualClock(Date.parse('2026-11-26T00:00:00Z')),
    logger: silentLogger(),
    shoalVersion: 'test',
    rng: new SeededRng(1),
    idleTimeoutMs: IDLE_MS,
  })
  await server.start()
  return { server, base: `https://127.0.0.1:${server.port()}`, ca: ca.certPem }
}

/** Resolves with how long after `since` the session closed, or null if still open after `ms`. */
function closedWithin(session: ClientHttp2Session, since: number, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms)
    session.once('close', () => {
      clearTimeout(timer)
      resolve(Date.now() - since)
    })
  })
}

test('an idle HTTP/2 connection is closed by the server; one with a quiet watch is kept', async () => {
  const { server, base, ca } = await startServer()
  try {
    // Idle after one request: closed (GOAWAY) once the idle time has passed.
    const idle = connect(base, { ca })
    idle.on('error', () => {})
    const version = idle.request({ ':path': '/version' })
    version.resume()
    await new Promise((r) => version.once('close', r))
    const closedAfter = await closedWithin(idle, Date.now(), 10 * IDLE_MS)
    assert.ok(closedAfter !== null, 'the idle connection was closed')

    // A watch with no events for several idle periods keeps its connection; when it ends at
    // its timeout, the connection goes idle and is closed too.
    const watching = connect(base, { ca })
    watching.on('error', () => {})
    const started = Date.now()
    const watch = watching.request({
      ':path': '/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=2',
      authorization: `Bearer ${TOKEN}`,
    })
    watch.resume()
    const watchEnded = new Promise<number>((r) => watch.once('close', () => r(Date.now() - started)))
    // 1.5 s: five idle periods, and still inside the watch's 2 s.
    const closed = await closedWithin(watching, started, 5 * IDLE_MS)
    assert.is(closed, null, 'kept open while the watch is open')
    const ended = await watchEnded
    assert.ok(ended >= 1900, `the watch ran to its timeout (${ended} ms)`)
    assert.ok((await closedWithin(watching, Date.now(), 10 * IDLE_MS)) !== null, 'closed once idle')
  } finally {
    await server.stop()
  }
})

test.run()

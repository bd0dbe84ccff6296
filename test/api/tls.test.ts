import '../../src/util/polyfill.js'
import { hkdfSync, X509Certificate } from 'node:crypto'
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { inspect } from 'node:util'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  httpsJson,
  httpsRequest,
  InvalidJsonResponseError,
  RequestTimeoutError,
  ResponseTooLargeError,
} from '../../src/api/https-client.js'
import {
  bearerTokenMatches,
  CLUSTER_CA_SUBJECT,
  deriveApiToken,
  deriveClusterCa,
  InvalidSubjectAltNameError,
  issueServingCert,
  isValidP256Scalar,
} from '../../src/api/tls.js'
import { newClusterSecret } from '../../src/p2p/secret.js'

const secretA = newClusterSecret()
const secretB = newClusterSecret()

function publicKeyDer(certPem: string): Buffer {
  return new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' })
}

/** Answers every request with JSON naming its method, path, authorization header and body. */
function echo(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8')
    res.setHeader('content-type', 'application/json')
    res.end(
      JSON.stringify({
        method: req.method,
        path: req.url,
        authorization: req.headers.authorization ?? null,
        contentType: req.headers['content-type'] ?? null,
        body,
      }),
    )
  })
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())))
}

/** An HTTPS echo server with a serving certificate from the CA derived from `secret`. */
async function httpsEchoServer(secret: Uint8Array): Promise<{ server: Server; url: string }> {
  const serving = await issueServingCert(await deriveClusterCa(secret), { hosts: ['peer-1.shoal'], ips: [] })
  const server = createHttpsServer({ cert: serving.certPem, key: serving.keyPem }, echo)
  return { server, url: `https://127.0.0.1:${await listen(server)}` }
}

test('the same secret derives the same CA key, subject, serial and validity; another does not', async () => {
  const [a1, a2, b] = await Promise.all([
    deriveClusterCa(secretA),
    deriveClusterCa(secretA),
    deriveClusterCa(secretB),
  ])
  assert.ok(publicKeyDer(a1.certPem).equals(publicKeyDer(a2.certPem)))
  assert.not.ok(publicKeyDer(a1.certPem).equals(publicKeyDer(b.certPem)))
  assert.is(a1.keyId, a2.keyId)
  assert.is.not(a1.keyId, b.keyId)
  const c1 = new X509Certificate(a1.certPem)
  const c2 = new X509Certificate(a2.certPem)
  assert.is(c1.subject, CLUSTER_CA_SUBJECT)
  assert.is(c1.issuer, c1.subject)
  assert.is(c1.serialNumber, c2.serialNumber)
  assert.is.not(c1.serialNumber, new X509Certificate(b.certPem).serialNumber)
  assert.is(c1.validFrom, c2.validFrom)
  assert.is(new Date(c1.validFrom).toISOString(), '2025-01-01T00:00:00.000Z')
  assert.is(new Date(c1.validTo).toISOString(), '2045-01-01T00:00:00.000Z')
  assert.ok(c1.ca)
  assert.ok(c1.verify(c1.publicKey), 'self-signed')
  assert.ok(c1.verify(c2.publicKey), 'derivation 2 key verifies derivation 1 signature')
})

test('the CA certificate has basicConstraints CA and keyUsage keyCertSign + cRLSign, both critical', async () => {
  const {
    X509Certificate: PeculiarCert,
    BasicConstraintsExtension,
    KeyUsagesExtension,
    KeyUsageFlags,
  } = await import('@peculiar/x509')
  const cert = new PeculiarCert((await deriveClusterCa(secretA)).certPem)
  const basic = cert.getExtension(BasicConstraintsExtension)
  const usage = cert.getExtension(KeyUsagesExtension)
  assert.ok(basic?.ca)
  assert.ok(basic?.critical)
  assert.is(usage?.usages, KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)
  assert.ok(usage?.critical)
})

test('the same secret derives the same API token of 43 base64url characters; another does not', () => {
  const token = deriveApiToken(secretA)
  assert.is(token, deriveApiToken(secretA))
  assert.is.not(token, deriveApiToken(secretB))
  assert.match(token, /^[A-Za-z0-9_-]{43}$/)
})

test('the token is HKDF-SHA256 of the secret with its fixed info string', () => {
  const expectedToken = Buffer.from(hkdfSync('sha256', secretA, new Uint8Array(0), 'shoal api token v1', 32))
  assert.is(deriveApiToken(secretA), expectedToken.toString('base64url'))
})

test('a P-256 scalar must lie in [1, n - 1]', () => {
  const n = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex')
  const nMinus1 = Buffer.from(n)
  nMinus1[31] = nMinus1[31]! - 1
  const one = Buffer.alloc(32)
  one[31] = 1
  assert.ok(isValidP256Scalar(one))
  assert.ok(isValidP256Scalar(nMinus1))
  assert.not.ok(isValidP256Scalar(n))
  assert.not.ok(isValidP256Scalar(Buffer.alloc(32)))
  assert.not.ok(isValidP256Scalar(Buffer.alloc(32, 0xff)))
  assert.not.ok(isValidP256Scalar(Buffer.alloc(31, 1)))
})

test('a serving certificate names the given hosts and IPs plus loopback, for serverAuth, for 10 years', async () => {
  const ca = await deriveClusterCa(secretA)
  const now = new Date('2030-06-15T12:00:00Z')
  const serving = await issueServingCert(ca, {
    hosts: ['node-1.example', 'Node-1.Example', '10.1.2.3'],
    ips: ['192.168.7.9', 'fd00::7', '127.0.0.1'],
    now,
  })
  const cert = new X509Certificate(serving.certPem)
  const sans = (cert.subjectAltName ?? '').split(', ').sort()
  assert.equal(sans, [
    'DNS:localhost',
    'DNS:node-1.example',
    'IP Address:0:0:0:0:0:0:0:1',
    'IP Address:10.1.2.3',
    'IP Address:127.0.0.1',
    'IP Address:192.168.7.9',
    'IP Address:FD00:0:0:0:0:0:0:7',
  ])
  assert.equal(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'])
  assert.not.ok(cert.ca)
  assert.is(cert.issuer, 'CN=shoal-cluster-ca')
  assert.is(new Date(cert.validTo).toISOString(), '2040-06-15T12:00:00.000Z')
  assert.ok(new Date(cert.validFrom) <= now)
  assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)))
  assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey))
  assert.is(cert.publicKey.asymmetricKeyType, 'ec')
  assert.match(serving.keyPem, /^-----BEGIN PRIVATE KEY-----/)
})

test('each serving certificate has its own key and serial', async () => {
  const ca = await deriveClusterCa(secretA)
  const [s1, s2] = await Promise.all([
    issueServingCert(ca, { hosts: [], ips: [] }),
    issueServingCert(ca, { hosts: [], ips: [] }),
  ])
  assert.is.not(s1.keyPem, s2.keyPem)
  assert.is.not(new X509Certificate(s1.certPem).serialNumber, new X509Certificate(s2.certPem).serialNumber)
})

test('a bad host or IP is rejected with the field it came from', async () => {
  const ca = await deriveClusterCa(secretA)
  for (const [opts, field, value] of [
    [{ hosts: ['bad host'], ips: [] }, 'hosts', 'bad host'],
    [{ hosts: ['-leading.example'], ips: [] }, 'hosts', '-leading.example'],
    [{ hosts: [], ips: ['300.1.1.1'] }, 'ips', '300.1.1.1'],
    [{ hosts: [], ips: ['node-1'] }, 'ips', 'node-1'],
  ] as const) {
    try {
      await issueServingCert(ca, { hosts: [...opts.hosts], ips: [...opts.ips] })
      assert.unreachable(`${value} was accepted`)
    } catch (err) {
      assert.instance(err, InvalidSubjectAltNameError)
      assert.is((err as InvalidSubjectAltNameError).name, 'InvalidSubjectAltNameError')
      assert.is((err as InvalidSubjectAltNameError).field, field)
      assert.is((err as InvalidSubjectAltNameError).value, value)
    }
  }
})

test('a client trusting the CA from one derivation verifies a peer certified by another (real TLS)', async () => {
  const { server, url } = await httpsEchoServer(secretA)
  try {
    const otherDerivation = await deriveClusterCa(secretA)
    const res = await httpsJson<{ path: string }>({
      url: `${url}/api/v1/pods?limit=1`,
      ca: otherDerivation.certPem,
    })
    assert.is(res.status, 200)
    assert.is(res.body?.path, '/api/v1/pods?limit=1')
  } finally {
    await close(server)
  }
})

test('a client trusting the CA derived from another secret refuses the peer', async () => {
  const { server, url } = await httpsEchoServer(secretA)
  try {
    const foreign = await deriveClusterCa(secretB)
    try {
      await httpsRequest({ url, ca: foreign.certPem })
      assert.unreachable('the handshake succeeded')
    } catch (err) {
      // OpenSSL finds no issuer whose key identifier matches (the code varies with its version).
      const code = (err as NodeJS.ErrnoException).code ?? ''
      assert.match(
        code,
        /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|CERT_SIGNATURE_FAILURE)$/,
      )
    }
    try {
      await httpsRequest({ url })
      assert.unreachable('the handshake succeeded against the system CAs')
    } catch (err) {
      assert.match(
        (err as NodeJS.ErrnoException).code ?? '',
        /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/,
      )
    }
  } finally {
    await close(server)
  }
})

test('a client refuses a peer whose certificate does not name the address it dialled', async () => {
  const ca = await deriveClusterCa(secretA)
  const loopbackOnly = await issueServingCert(ca, { hosts: [], ips: [] })
  const named = await issueServingCert(ca, { hosts: [], ips: ['127.0.0.2'] })
  for (const [serving, accepted] of [
    [loopbackOnly, false],
    [named, true],
  ] as const) {
    const server = createHttpsServer({ cert: serving.certPem, key: serving.keyPem }, echo)
    const port = await new Promise<number | undefined>((resolve) => {
      // 127.0.0.2 is loopback on Linux but not on every system: skip where it cannot be bound.
      server.once('error', () => resolve(undefined))
      server.listen(0, '127.0.0.2', () => resolve((server.address() as AddressInfo).port))
    })
    if (port === undefined) return
    try {
      const res = await httpsRequest({ url: `https://127.0.0.2:${port}/`, ca: ca.certPem }).catch(
        (err: unknown) => err,
      )
      if (accepted) assert.is((res as { status: number }).status, 200)
      else assert.is((res as NodeJS.ErrnoException).code, 'ERR_TLS_CERT_ALTNAME_INVALID')
    } finally {
      await close(server)
    }
  }
})

test('the client sends the bearer token when given one, and none otherwise', async () => {
  const { server, url } = await httpsEchoServer(secretA)
  try {
    const ca = (await deriveClusterCa(secretA)).certPem
    const token = deriveApiToken(secretA)
    const withToken = await httpsJson<{ authorization: string | null }>({ url, ca, token })
    assert.is(withToken.body?.authorization, `Bearer ${token}`)
    assert.ok(bearerTokenMatches(withToken.body?.authorization ?? undefined, token))
    const without = await httpsJson<{ authorization: string | null }>({ url, ca })
    assert.is(without.body?.authorization, null)
  } finally {
    await close(server)
  }
})

test('httpsJson sends a JSON body and parses a JSON answer; httpsRequest returns any status', async () => {
  const { server, url } = await httpsEchoServer(secretA)
  try {
    const ca = (await deriveClusterCa(secretA)).certPem
    const res = await httpsJson<{ method: string; contentType: string; body: string }>({
      url: `${url}/api/v1/namespaces/default/pods`,
      method: 'POST',
      ca,
      body: { kind: 'Pod', metadata: { name: 'p' } },
    })
    assert.is(res.body?.method, 'POST')
    assert.is(res.body?.contentType, 'application/json')
    assert.equal(JSON.parse(res.body?.body ?? ''), { kind: 'Pod', metadata: { name: 'p' } })
    assert.is(typeof res.headers['content-type'], 'string')
  } finally {
    await close(server)
  }
})

test('the same helpers work against plain http://, with and without a token', async () => {
  const server = createHttpServer(echo)
  const url = `http://127.0.0.1:${await listen(server)}`
  try {
    const res = await httpsJson<{ authorization: string | null; path: string }>({
      url: `${url}/healthz`,
      token: 't0k',
    })
    assert.is(res.status, 200)
    assert.is(res.body?.authorization, 'Bearer t0k')
    assert.is(res.body?.path, '/healthz')
    const plain = await httpsRequest({
      url: `${url}/x`,
      method: 'PUT',
      body: 'hello',
      headers: { 'Content-Type': 'text/plain' },
    })
    assert.equal(JSON.parse(plain.body), {
      method: 'PUT',
      path: '/x',
      authorization: null,
      contentType: 'text/plain',
      body: 'hello',
    })
  } finally {
    await close(server)
  }
})

test('the client reports statuses, non-JSON bodies, oversized bodies, timeouts and aborts', async () => {
  const server = createHttpServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path === '/404') {
      res.statusCode = 404
      res.end('{"kind":"Status","code":404}')
    } else if (path === '/text') {
      res.end('not json')
    } else if (path === '/empty') {
      res.statusCode = 204
      res.end()
    } else if (path === '/big') {
      res.end('x'.repeat(10_000))
    } else {
      // /slow: never answers; the client gives up.
    }
  })
  const url = `http://127.0.0.1:${await listen(server)}`
  try {
    const notFound = await httpsJson<{ code: number }>({ url: `${url}/404` })
    assert.is(notFound.status, 404)
    assert.is(notFound.body?.code, 404)
    const empty = await httpsJson({ url: `${url}/empty` })
    assert.is(empty.status, 204)
    assert.is(empty.body, undefined)
    const text = await httpsJson({ url: `${url}/text?secret=1` }).catch((err: unknown) => err)
    assert.instance(text, InvalidJsonResponseError)
    assert.not.match((text as Error).message, 'secret=1')
    const big = await httpsRequest({ url: `${url}/big`, maxResponseBytes: 1000 }).catch((err: unknown) => err)
    assert.instance(big, ResponseTooLargeError)
    const slow = await httpsRequest({ url: `${url}/slow`, timeoutMs: 50 }).catch((err: unknown) => err)
    assert.instance(slow, RequestTimeoutError)
    assert.is((slow as Error).name, 'RequestTimeoutError')
    const controller = new AbortController()
    const aborted = httpsRequest({ url: `${url}/slow`, signal: controller.signal }).catch(
      (err: unknown) => err,
    )
    controller.abort()
    assert.is(((await aborted) as Error).name, 'AbortError')
    const bad = await httpsRequest({ url: 'ftp://127.0.0.1/' }).catch((err: unknown) => err)
    assert.instance(bad, TypeError)
  } finally {
    await close(server)
  }
})

test('no private key shows in how a CA or serving certificate prints or serializes', async () => {
  const ca = await deriveClusterCa(secretA)
  const scalar = Buffer.from(hkdfSync('sha256', secretA, new Uint8Array(0), 'shoal cluster ca v1', 32))
  const serving = await issueServingCert(ca, { hosts: [], ips: [] })
  const keyBody = serving.keyPem.split('\n')[1] ?? ''
  assert.ok(keyBody.length > 20)
  const renderings = [
    JSON.stringify(ca),
    String(ca),
    `${ca}`,
    inspect(ca, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
    inspect({ nested: { ca } }, { depth: Number.POSITIVE_INFINITY }),
    JSON.stringify(serving),
    String(serving),
    inspect(serving, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
    inspect(ca.signingKey, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
  ]
  for (const text of renderings) {
    for (const secretForm of [
      scalar.toString('hex'),
      scalar.toString('base64'),
      scalar.toString('base64url'),
      keyBody,
    ]) {
      assert.not.ok(text.includes(secretForm), `a private key shows in ${text.slice(0, 80)}`)
    }
    assert.not.match(text, /PRIVATE KEY/)
  }
  assert.equal(JSON.parse(JSON.stringify(ca)), { certPem: ca.certPem })
  assert.equal(JSON.parse(JSON.stringify(serving)), { certPem: serving.certPem })
  assert.not.ok(ca.signingKey.extractable)
  const exported = await crypto.subtle.exportKey('jwk', ca.signingKey).catch((err: unknown) => err)
  assert.instance(exported, Error)
})

test('bearer tokens match only exactly', () => {
  const token = deriveApiToken(secretA)
  assert.ok(bearerTokenMatches(`Bearer ${token}`, token))
  assert.ok(bearerTokenMatches(`bearer ${token}`, token))
  assert.not.ok(bearerTokenMatches(`Bearer ${token}x`, token))
  assert.not.ok(bearerTokenMatches(`Bearer ${token.slice(1)}`, token))
  assert.not.ok(bearerTokenMatches(`Basic ${token}`, token))
  assert.not.ok(bearerTokenMatches(token, token))
  assert.not.ok(bearerTokenMatches(undefined, token))
  assert.not.ok(bearerTokenMatches('Bearer ', token))
})

test.run()

/**
 * The cluster's TLS identity and API token, derived from the cluster secret.
 *
 * Every peer serves the Kubernetes API over HTTPS under one cluster CA and requires one bearer
 * token. Both are derived from the cluster secret (HKDF-SHA256), so every peer computes the same
 * CA key and the same token with no coordination and nothing else to distribute: whoever holds
 * the secret is a full member of the cluster, and whoever does not can neither serve as a peer
 * nor call the API. Rotating either means rotating the cluster secret.
 *
 * The CA certificate is rebuilt at every start. Its subject, serial, validity and public key are
 * fixed by the secret; only the ECDSA signature differs between peers (it is randomized), so a
 * client that trusts any peer's CA certificate verifies every peer's serving certificate.
 *
 * Private keys never reach a log: the CA key is a non-extractable WebCrypto key, and
 * `ClusterCa` and `ServingCert` print and serialize without their keys.
 */

import { strict as assert } from 'node:assert'
import {
  createECDH,
  createHash,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  webcrypto,
} from 'node:crypto'
import { isIP } from 'node:net'
import { inspect } from 'node:util'
import * as x509 from '@peculiar/x509'

/** HKDF `info` of the CA key; never change it, or every cluster's CA changes. */
const CA_KEY_INFO = 'shoal cluster ca v1'
/** HKDF `info` of the API token; never change it, or every cluster's token changes. */
const API_TOKEN_INFO = 'shoal api token v1'
/** Subject of the cluster CA certificate. */
export const CLUSTER_CA_SUBJECT = 'CN=shoal-cluster-ca'
/** Start of the CA's validity: fixed, so that every peer builds the same certificate body. */
const CA_NOT_BEFORE = new Date('2025-01-01T00:00:00Z')
/** End of the CA's validity: 20 years after its start. */
const CA_NOT_AFTER = new Date('2045-01-01T00:00:00Z')
/** Validity of a serving certificate, from its issue. */
const SERVING_CERT_VALIDITY_YEARS = 10
/** A serving certificate is valid from this long before its issue, for peers whose clocks lag. */
const SERVING_CERT_BACKDATE_MS = 60 * 60 * 1000
/** Names every serving certificate carries, so that local clients always verify. */
const LOOPBACK_HOSTS = ['localhost']
const LOOPBACK_IPS = ['127.0.0.1', '::1']
/** Order of the P-256 group: a private scalar must lie in [1, n - 1]. */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n
/** Re-derivations tried before giving up; each fails with probability about 2^-32. */
const MAX_KEY_DERIVATIONS = 16

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const
const crypto = webcrypto

/** A name that cannot go into a serving certificate; `field` is `hosts` or `ips`. */
export class InvalidSubjectAltNameError extends Error {
  override name = 'InvalidSubjectAltNameError'
  constructor(
    readonly field: 'hosts' | 'ips',
    readonly value: string,
  ) {
    super(`${field}: ${JSON.stringify(value)} is not a valid ${field === 'ips' ? 'IP address' : 'DNS name'}`)
  }
}

/**
 * The cluster CA: its certificate and the key that signs serving certificates. The key is a
 * non-extractable WebCrypto key; printing or serializing a `ClusterCa` shows only the certificate.
 */
export class ClusterCa {
  constructor(
    /** The CA certificate (PEM): the trust anchor to give clients. */
    readonly certPem: string,
    /** Hex id of the CA public key, the same on every peer of the cluster; safe to log. */
    readonly keyId: string,
    /** The CA private key; it can sign but never be exported. */
    readonly signingKey: webcrypto.CryptoKey,
  ) {}

  toJSON(): { certPem: string } {
    return { certPem: this.certPem }
  }

  toString(): string {
    return `ClusterCa(${CLUSTER_CA_SUBJECT}, key ${this.keyId})`
  }

  [inspect.custom](): string {
    return this.toString()
  }
}

/**
 * A serving certificate and its private key, both PEM, for `https.createServer({ cert, key })`.
 * Printing or serializing it shows only the certificate.
 */
export class ServingCert {
  constructor(
    /** The leaf certificate (PEM), signed by the cluster CA. */
    readonly certPem: string,
    /** The leaf's private key (PKCS#8 PEM). */
    readonly keyPem: string,
  ) {}

  toJSON(): { certPem: string } {
    return { certPem: this.certPem }
  }

  toString(): string {
    return 'ServingCert(key hidden)'
  }

  [inspect.custom](): string {
    return this.toString()
  }
}

/** Options of `issueServingCert`. */
export interface ServingCertOptions {
  /** DNS names to serve under; `localhost` is always added. An IP address here counts as an IP. */
  hosts: string[]
  /** IP addresses to serve under; 127.0.0.1 and ::1 are always added. */
  ips: string[]
  /** The time of issue; defaults to the current time. */
  now?: Date
}

/**
 * Derives the cluster CA from the cluster secret: the same key (and so the same certificate
 * subject, serial, validity and public key) on every peer that holds the same secret.
 */
export async function deriveClusterCa(secret: Uint8Array): Promise<ClusterCa> {
  const { privateJwk, publicJwk } = deriveCaKey(secret)
  const signingKey = await crypto.subtle.importKey('jwk', privateJwk, ECDSA_P256, false, ['sign'])
  const publicKey = await crypto.subtle.importKey('jwk', publicJwk, ECDSA_P256, true, ['verify'])
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', publicKey))
  const keyId = createHash('sha256').update(spki).digest().subarray(0, 16)
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialHex(keyId),
      name: CLUSTER_CA_SUBJECT,
      notBefore: CA_NOT_BEFORE,
      notAfter: CA_NOT_AFTER,
      signingAlgorithm: ECDSA_SHA256,
      keys: { publicKey, privateKey: signingKey },
      extensions: [
        // Path length 0: this CA signs serving certificates only, never another CA.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
      ],
    },
    crypto,
  )
  return new ClusterCa(cert.toString('pem'), keyId.toString('hex'), signingKey)
}

/**
 * Issues a serving certificate under the cluster CA for a fresh P-256 key: valid for the given
 * names plus localhost, 127.0.0.1 and ::1, for server authentication, for 10 years.
 */
export async function issueServingCert(ca: ClusterCa, opts: ServingCertOptions): Promise<ServingCert> {
  const { dnsNames, ipAddresses } = subjectAltNames(opts.hosts, opts.ips)
  const now = opts.now ?? new Date()
  const notAfter = new Date(now)
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + SERVING_CERT_VALIDITY_YEARS)
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  const caCert = new x509.X509Certificate(ca.certPem)
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialHex(randomBytes(16)),
      subject: [{ CN: [dnsNames.find((name) => name !== 'localhost') ?? 'shoal'] }],
      issuer: caCert.subjectName,
      notBefore: new Date(now.getTime() - SERVING_CERT_BACKDATE_MS),
      notAfter,
      signingAlgorithm: ECDSA_SHA256,
      publicKey: spki,
      signingKey: ca.signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([
          ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
          ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
        ]),
        await x509.SubjectKeyIdentifierExtension.create(spki, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, crypto),
      ],
    },
    crypto,
  )
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  return new ServingCert(cert.toString('pem'), keyPem)
}

/** Derives the cluster's API bearer token from the cluster secret: 43 base64url characters. */
export function deriveApiToken(secret: Uint8Array): string {
  assertSecret(secret)
  return Buffer.from(hkdfSync('sha256', secret, new Uint8Array(0), API_TOKEN_INFO, 32)).toString('base64url')
}

/**
 * Whether an `Authorization` header carries `token` as a bearer token, compared in constant
 * time so that response timing does not reveal how much of a guess was right.
 */
export function bearerTokenMatches(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '')
  if (!match) return false
  const given = createHash('sha256').update(match[1]!).digest()
  const expected = createHash('sha256').update(token).digest()
  return timingSafeEqual(given, expected)
}

/** Whether 32 big-endian bytes are a valid P-256 private scalar, in [1, n - 1]. */
export function isValidP256Scalar(bytes: Uint8Array): boolean {
  if (bytes.byteLength !== 32) return false
  const scalar = BigInt(`0x${Buffer.from(bytes).toString('hex')}`)
  return scalar > 0n && scalar < P256_ORDER
}

/** The CA key as JWKs: HKDF of the secret, re-derived with a counter in the unlikely case it is out of range. */
function deriveCaKey(secret: Uint8Array): {
  privateJwk: webcrypto.JsonWebKey
  publicJwk: webcrypto.JsonWebKey
} {
  assertSecret(secret)
  for (let attempt = 0; attempt < MAX_KEY_DERIVATIONS; attempt++) {
    const info = attempt === 0 ? CA_KEY_INFO : `${CA_KEY_INFO} #${attempt}`
    const scalar = new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), info, 32))
    if (!isValidP256Scalar(scalar)) continue
    const ecdh = createECDH('prime256v1')
    ecdh.setPrivateKey(scalar)
    const point = ecdh.getPublicKey() // uncompressed: 0x04 || x (32 bytes) || y (32 bytes)
    const publicJwk = {
      kty: 'EC',
      crv: 'P-256',
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33, 65).toString('base64url'),
    }
    return { publicJwk, privateJwk: { ...publicJwk, d: Buffer.from(scalar).toString('base64url') } }
  }
  // Reaching here means HKDF produced 16 out-of-range scalars in a row (chance about 2^-512).
  throw new Error('could not derive a P-256 key from the cluster secret')
}

/** A positive serial number of 16 bytes whose first byte is neither 0 nor above 0x7f. */
function serialHex(bytes: Uint8Array): string {
  const serial = Buffer.from(bytes.subarray(0, 16))
  serial[0] = (serial[0]! & 0x7f) | 0x40
  return serial.toString('hex')
}

/** The deduplicated DNS names and IPs of a serving certificate, loopback names included. */
function subjectAltNames(hosts: string[], ips: string[]): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames = new Set(LOOPBACK_HOSTS)
  const ipAddresses = new Set(LOOPBACK_IPS)
  for (const host of hosts) {
    if (isIP(host) !== 0) ipAddresses.add(host)
    else if (isDnsName(host)) dnsNames.add(host.toLowerCase())
    else throw new InvalidSubjectAltNameError('hosts', host)
  }
  for (const ip of ips) {
    if (isIP(ip) === 0) throw new InvalidSubjectAltNameError('ips', ip)
    ipAddresses.add(ip)
  }
  return { dnsNames: [...dnsNames], ipAddresses: [...ipAddresses] }
}

/** A DNS name or a wildcard one (`*.example.com`); underscores are allowed, as machine names use them. */
function isDnsName(name: string): boolean {
  const label = '[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?'
  return name.length <= 253 && new RegExp(`^(\\*\\.)?${label}(\\.${label})*$`, 'i').test(name)
}

function assertSecret(secret: Uint8Array): void {
  assert.ok(secret.byteLength >= 32, 'the cluster secret is too short to derive keys from')
}

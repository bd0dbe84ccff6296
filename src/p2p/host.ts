/**
 * The libp2p host of a peer: TCP, noise encryption, yamux multiplexing, identify, and a
 * private network keyed by the cluster secret; mDNS discovery when asked for.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { useQuietLengthPrefixEnd } from './length-prefix-end.js'
import { useHalfWindowUpdates } from './yamux-window.js'

/** What a host is made from. */
export interface HostOptions {
  privateKey: PrivateKey
  /** The multiaddr to listen on, e.g. `/ip4/0.0.0.0/tcp/7400`. */
  listen: string
  /** The cluster secret (swarm key bytes). */
  secret: Uint8Array
  /** Discover peers on the LAN with mDNS. */
  mdns?: boolean
}

// One yamux window update per half window, not per frame (yamux-window.ts).
useHalfWindowUpdates()
// No exception at the end of every chunk Noise reads (length-prefix-end.ts).
useQuietLengthPrefixEnd()

/** The libp2p node type Shoal uses. */
export type ShoalHost = Libp2p<{ identify: ReturnType<ReturnType<typeof identify>> }>

/** Creates and starts a host. */
export async function createHost(options: HostOptions): Promise<ShoalHost> {
  // Dial from the address we listen on when it is a specific one: several peers on one host
  // (the playground, the tests) then each keep their own source address, which is what lets
  // firewall rules between their loopback addresses cut them apart.
  const ip = /^\/ip4\/([0-9.]+)\//.exec(options.listen)?.[1]
  const dialOpts = ip && ip !== '0.0.0.0' ? ({ localAddress: ip } as Record<string, unknown>) : {}
  const node = await createLibp2p({
    privateKey: options.privateKey,
    addresses: { listen: [options.listen] },
    transports: [tcp({ dialOpts })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: preSharedKey({ psk: options.secret }),
    peerDiscovery: options.mdns ? [mdns()] : [],
    services: { identify: identify() },
    connectionManager: { maxConnections: 256 },
  })
  return node as unknown as ShoalHost
}

/** A join address that cannot be understood. */
export class AddressError extends Error {
  override name = 'AddressError'
}

/**
 * Turns a `--join` value into a multiaddr: `host:port`, `[v6]:port`, or a multiaddr (with
 * or without `/p2p/<peer id>`: a peer id is never required).
 */
export function parseJoinAddress(value: string): Multiaddr {
  const v = value.trim()
  if (v.startsWith('/')) {
    try {
      return multiaddr(v)
    } catch (err) {
      throw new AddressError(`--join ${value}: not a valid multiaddr (${(err as Error).message})`)
    }
  }
  const m6 = /^\[([0-9a-fA-F:]+)\]:(\d+)$/.exec(v)
  const m4 = /^([^:\s/]+):(\d+)$/.exec(v)
  const match = m6 ?? m4
  if (!match) throw new AddressError(`--join ${value}: expected host:port or a multiaddr`)
  const host = match[1]!
  const port = Number(match[2])
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new AddressError(`--join ${value}: bad port ${match[2]}`)
  const proto = m6 ? 'ip6' : /^\d+\.\d+\.\d+\.\d+$/.test(host) ? 'ip4' : 'dns'
  return multiaddr(`/${proto}/${host}/tcp/${port}`)
}

/** Turns a listen flag value (`host:port` or a multiaddr) into a multiaddr string. */
export function parseListenAddress(value: string): string {
  return parseJoinAddress(value).toString()
}

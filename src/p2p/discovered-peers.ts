/**
 * Peers that libp2p discovery (mDNS) found: their ids and a TCP address to reach each.
 *
 * libp2p announces a peer with `peer:discovery` once only, when the peer first enters its
 * peer store; a later mDNS answer from the same peer merges into the store without an event.
 * The host starts discovering as soon as it is created, while the daemon still opens its
 * store and Raft, so the one announcement can come before anyone listens. `attach` therefore
 * listens first and then reads what the peer store already holds: a peer found before is
 * taken from the store, a peer found after from the event (and one found in between from
 * both, which is harmless).
 */

import type { PeerId } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../util/logger.js'

/** The part of a libp2p node this needs. */
export interface DiscoverySource {
  addEventListener(type: 'peer:discovery', listener: (evt: Event) => void): void
  removeEventListener(type: 'peer:discovery', listener: (evt: Event) => void): void
  peerStore: { all(): Promise<{ id: PeerId; addresses: { multiaddr: Multiaddr }[] }[]> }
}

/** At most this many peers are kept: a LAN full of strangers does not grow us without end. */
export const MAX_DISCOVERED = 1024

export class DiscoveredPeers {
  private readonly peers = new Map<string, Multiaddr>()
  private source: DiscoverySource | null = null
  private readonly onDiscovery = (evt: Event): void => {
    const detail = (evt as CustomEvent<{ id: PeerId; multiaddrs: Multiaddr[] }>).detail
    this.note(detail.id.toString(), detail.multiaddrs)
  }

  constructor(
    private readonly selfId: string,
    private readonly log: Logger,
  ) {}

  /** Starts following `source`'s discoveries, including those made before this call. */
  async attach(source: DiscoverySource): Promise<void> {
    this.source = source
    source.addEventListener('peer:discovery', this.onDiscovery)
    for (const peer of await source.peerStore.all()) {
      this.note(
        peer.id.toString(),
        peer.addresses.map((a) => a.multiaddr),
      )
    }
  }

  detach(): void {
    this.source?.removeEventListener('peer:discovery', this.onDiscovery)
    this.source = null
  }

  /** Each discovered peer's id and its TCP address (with `/p2p/<id>`). */
  entries(): IterableIterator<[string, Multiaddr]> {
    return this.peers.entries()
  }

  private note(id: string, addrs: Multiaddr[]): void {
    const addr = addrs.find((m) => m.toString().includes('/tcp/'))
    if (!addr || id === this.selfId) return
    const known = this.peers.has(id)
    if (!known && this.peers.size >= MAX_DISCOVERED) return
    const full = addr.toString().includes('/p2p/') ? addr : multiaddr(`${addr.toString()}/p2p/${id}`)
    if (!known) this.log.info({ peer: id, addr: full.toString() }, 'peer found by discovery')
    this.peers.set(id, full)
  }
}

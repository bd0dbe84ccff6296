import '../../src/util/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { DiscoveredPeers } from '../../src/p2p/discovered-peers.js'
import { createHost } from '../../src/p2p/host.js'
import { newClusterSecret } from '../../src/p2p/secret.js'
import { silentLogger } from '../../src/util/logger.js'

const secret = newClusterSecret()

async function somePeerId() {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

// What mDNS does with a peer it finds: libp2p merges it into the peer store, and announces
// `peer:discovery` only the first time.
test('peers a real libp2p host discovered before and after attach are both kept, with their TCP address', async () => {
  const host = await createHost({
    privateKey: await generateKeyPair('Ed25519'),
    listen: '/ip4/127.0.0.1/tcp/0',
    secret,
  })
  try {
    const early = await somePeerId()
    const late = await somePeerId()
    const announced: string[] = []
    host.addEventListener('peer:discovery', (evt) => announced.push(evt.detail.id.toString()))
    await host.peerStore.merge(early, { multiaddrs: [multiaddr('/ip4/127.0.9.1/tcp/7400')] })
    // A second answer from the same peer: no second announcement (why attach reads the store).
    await host.peerStore.merge(early, { multiaddrs: [multiaddr('/ip4/127.0.9.1/tcp/7400')] })
    assert.equal(announced, [early.toString()])

    const discovered = new DiscoveredPeers(host.peerId.toString(), silentLogger())
    await discovered.attach(host)
    await host.peerStore.merge(late, {
      multiaddrs: [multiaddr('/ip4/127.0.9.2/udp/7400/quic-v1'), multiaddr('/ip4/127.0.9.2/tcp/7400')],
    })
    const found = new Map([...discovered.entries()].map(([id, ma]) => [id, ma.toString()]))
    assert.equal(
      found,
      new Map([
        [early.toString(), `/ip4/127.0.9.1/tcp/7400/p2p/${early}`],
        [late.toString(), `/ip4/127.0.9.2/tcp/7400/p2p/${late}`],
      ]),
    )

    // Detached: later discoveries are not followed.
    discovered.detach()
    await host.peerStore.merge(await somePeerId(), { multiaddrs: [multiaddr('/ip4/127.0.9.3/tcp/7400')] })
    assert.is([...discovered.entries()].length, 2)
  } finally {
    await host.stop()
  }
})

test('a peer without a TCP address, and the host itself, are not kept', async () => {
  const self = await somePeerId()
  const other = await somePeerId()
  const events = new EventTarget()
  const source = {
    addEventListener: events.addEventListener.bind(events),
    removeEventListener: events.removeEventListener.bind(events),
    peerStore: {
      all: async () => [
        { id: self, addresses: [{ multiaddr: multiaddr('/ip4/127.0.9.1/tcp/7400') }] },
        { id: other, addresses: [{ multiaddr: multiaddr('/ip4/127.0.9.2/udp/7400') }] },
      ],
    },
  }
  const discovered = new DiscoveredPeers(self.toString(), silentLogger())
  await discovered.attach(source)
  assert.is([...discovered.entries()].length, 0)
  // The same peer announced later with a TCP address is kept.
  events.dispatchEvent(
    new CustomEvent('peer:discovery', {
      detail: { id: other, multiaddrs: [multiaddr(`/ip4/127.0.9.2/tcp/7400/p2p/${other}`)] },
    }),
  )
  assert.equal(
    [...discovered.entries()].map(([id, ma]) => [id, ma.toString()]),
    [[other.toString(), `/ip4/127.0.9.2/tcp/7400/p2p/${other}`]],
  )
})

test.run()

/**
 * Fewer yamux window updates. @chainsafe/libp2p-yamux (8.x) answers every data frame a stream
 * receives with a window-update frame — on Shoal's long-lived streams (Raft, the leader
 * channel) that doubles the messages: each one its own Noise encryption, private-network
 * cipher and socket write on the receiver, and decryption and parsing on the sender. Go's
 * yamux (hashicorp/yamux, which the protocol comes from) sends one only once half of the
 * receive window is used, which is all the sender needs never to stall. This makes the
 * JavaScript one do the same: an established stream skips the update while more than half
 * its window is free. Opening handshakes (SYN/ACK flags) and paused streams are untouched.
 *
 * A patch of the library's prototype, applied once when the p2p host module loads; checked
 * by test/p2p/yamux-window.test.ts against the installed version.
 */

import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { patchMethodOnce } from './library-patch.js'

interface WindowFields {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
}

/** Installs the half-window rule (idempotent). */
export function useHalfWindowUpdates(): void {
  patchMethodOnce<(this: WindowFields) => void>(
    YamuxStream.prototype,
    'sendWindowUpdate',
    'yamux',
    (original) =>
      function (this: WindowFields): void {
        if (this.state === StreamState.Established && this.recvWindowCapacity * 2 > this.recvWindow) return
        original.call(this)
      },
  )
}

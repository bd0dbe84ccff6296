/**
 * Peer identity: the Ed25519 key pair that names this peer on the network (its peer id).
 *
 * Kept in the data dir (`peer-key`, mode 0600) so that the peer id survives restarts: the
 * Raft configuration names servers by peer id.
 */

import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

/** The file name of the peer key inside the data dir. */
export const PEER_KEY_FILE = 'peer-key'

/** Loads the peer key from `dataDir`, creating it on first start. */
export async function loadOrCreatePeerKey(
  dataDir: string,
): Promise<{ privateKey: PrivateKey; peerId: string; created: boolean }> {
  const path = join(dataDir, PEER_KEY_FILE)
  if (existsSync(path)) {
    const privateKey = privateKeyFromProtobuf(readFileSync(path))
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), created: false }
  }
  const privateKey = await generateKeyPair('Ed25519')
  writeFileSync(path, privateKeyToProtobuf(privateKey), { mode: 0o600, flag: 'wx' })
  chmodSync(path, 0o600)
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), created: true }
}

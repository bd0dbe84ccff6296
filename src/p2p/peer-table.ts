/**
 * PeerTable: what this peer knows of the others — learned directly (peer exchange with
 * them) or second-hand (the lists other peers send). Pure data; no I/O.
 */

/** What a peer says about itself in the peer exchange. */
export interface PeerInfo {
  /** libp2p peer id: the Raft server id. */
  id: string
  /** Human name (`--name`). */
  name: string
  /** Dialable multiaddr ending in /p2p/<id>: the Raft server address. */
  address: string
  /** Where its HTTP API listens, e.g. `http://127.0.1.1:6443`. */
  api: string
  /** Whether it holds Raft state (is or was part of a cluster). */
  member: boolean
  /** Its `--bootstrap-expect` (0 when not given). */
  bootstrapExpect: number
}

/** One row of the table. */
export interface PeerRecord {
  info: PeerInfo
  /** When we last heard from it directly (ms), or null when only heard of. */
  lastSeenMs: number | null
}

/** Checks the shape of a PeerInfo that came over the wire. */
export function isPeerInfo(v: unknown): v is PeerInfo {
  if (typeof v !== 'object' || v === null) return false
  const p = v as Record<string, unknown>
  return (
    typeof p.id === 'string' &&
    p.id.length > 0 &&
    p.id.length < 200 &&
    typeof p.name === 'string' &&
    p.name.length < 256 &&
    typeof p.address === 'string' &&
    p.address.length < 1024 &&
    typeof p.api === 'string' &&
    p.api.length < 1024 &&
    typeof p.member === 'boolean' &&
    typeof p.bootstrapExpect === 'number'
  )
}

/** The table itself; bounded by `maxPeers` (further unknown peers are ignored). */
export class PeerTable {
  private readonly rows = new Map<string, PeerRecord>()

  constructor(
    readonly selfId: string,
    private readonly maxPeers = 1024,
  ) {}

  /** Records what a peer said about itself, now. */
  seen(info: PeerInfo, nowMs: number): void {
    if (info.id === this.selfId) return
    if (!this.rows.has(info.id) && this.rows.size >= this.maxPeers) return
    this.rows.set(info.id, { info: { ...info }, lastSeenMs: nowMs })
  }

  /** Records a peer someone else told us about (keeps first-hand data when we have it). */
  heardOf(info: PeerInfo): boolean {
    if (info.id === this.selfId) return false
    const row = this.rows.get(info.id)
    if (row) {
      if (row.lastSeenMs === null) row.info = { ...info }
      return false
    }
    if (this.rows.size >= this.maxPeers) return false
    this.rows.set(info.id, { info: { ...info }, lastSeenMs: null })
    return true
  }

  get(id: string): PeerRecord | undefined {
    return this.rows.get(id)
  }

  all(): PeerRecord[] {
    return [...this.rows.values()]
  }

  /** Peers heard from directly within `windowMs`. */
  alive(nowMs: number, windowMs: number): PeerRecord[] {
    return this.all().filter((r) => r.lastSeenMs !== null && nowMs - r.lastSeenMs <= windowMs)
  }

  isAlive(id: string, nowMs: number, windowMs: number): boolean {
    const r = this.rows.get(id)
    return !!r && r.lastSeenMs !== null && nowMs - r.lastSeenMs <= windowMs
  }

  byName(name: string): PeerRecord | undefined {
    return this.all().find((r) => r.info.name === name)
  }

  forget(id: string): void {
    this.rows.delete(id)
  }
}

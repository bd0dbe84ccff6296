/**
 * ClusterManager: turns identical daemons into one cluster and keeps it whole.
 *
 * - Peer exchange (`/shoal/peers-channel/1.0.0`, one long-lived stream per peer): every
 *   tick, each peer tells the peers it knows (and the `--join` addresses) who it is and whom
 *   it knows; so every peer learns every other's address, and unreachable ones are retried
 *   with back-off. (`/shoal/peers/1.0.0`, one stream per exchange, is still served.)
 * - Formation (`/shoal/bootstrap/1.0.0`): fresh peers with `--bootstrap-expect N` bootstrap
 *   exactly one configuration (see formation.ts for the protocol and why it is safe).
 * - Requests to the leader: apply, join, leave, remove, transfer, read-index — sent to
 *   whichever peer leads, from any peer, on one long-lived pipelined stream per leader
 *   (`/shoal/leader-channel/1.0.0`, request-channel.ts). `/shoal/leader/1.0.0` (one JSON
 *   request per stream) is still served: a peer that is not a member yet asks to join on it.
 * - Autopilot (on the leader): promotion, replacement and removal (autopilot.ts), and the
 *   member registry (names and API addresses, kept in the replicated state).
 */

import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { isVoter } from '../raft/configuration.js'
import { NotLeaderError } from '../raft/errors.js'
import type { Raft } from '../raft/raft.js'
import type { Clock, TimerHandle } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import type { Rng } from '../util/random.js'
import {
  type AutopilotConfig,
  type AutopilotServer,
  defaultAutopilotConfig,
  planAutopilot,
} from './autopilot.js'
import { DiscoveredPeers } from './discovered-peers.js'
import { type BootstrapLock, decideFormation, mayAcceptProposal } from './formation.js'
import type { ShoalHost } from './host.js'
import { handleJson, RpcError, requestJson } from './json-rpc.js'
import { isPeerInfo, type PeerInfo, PeerTable } from './peer-table.js'
import { libp2pChannelHost, RequestChannel } from './request-channel.js'

export const PEERS_PROTOCOL = '/shoal/peers/1.0.0'
/**
 * Peer exchange on one long-lived stream per peer: a stream per exchange (every 500 ms to
 * every peer) cost a protocol negotiation and peer-store updates each time, most of an idle
 * peer's CPU.
 */
export const PEERS_CHANNEL_PROTOCOL = '/shoal/peers-channel/1.0.0'
export const BOOTSTRAP_PROTOCOL = '/shoal/bootstrap/1.0.0'
export const LEADER_PROTOCOL = '/shoal/leader/1.0.0'
/** Requests to the leader on one long-lived, pipelined stream per leader (the hot path: forwarded writes). */
export const LEADER_CHANNEL_PROTOCOL = '/shoal/leader-channel/1.0.0'

const LOCK_FILE = 'bootstrap-lock.json'

/** A request carried to the leader. */
export type LeaderRequest =
  /**
   * `indexOnly`: the sender takes the result from its own apply (ObjectStore.resultOf), so a
   * leader it forwarded the request to answers with the index alone, not the object.
   */
  | { type: 'apply'; data: Uint8Array; indexOnly?: boolean }
  | { type: 'join'; peer: PeerInfo }
  | { type: 'leave'; id: string }
  | { type: 'remove'; id: string }
  | { type: 'transfer'; id?: string }
  | { type: 'read-index' }

/** One member as `shoal cluster status` shows it. */
export interface MemberStatus {
  name: string
  id: string
  address: string
  api: string
  suffrage: 'voter' | 'nonvoter'
  reachable: boolean
  lastContactMs: number | null
}

/** The cluster as this peer sees it (PRODUCT.md §2, `shoal cluster status -o json`). */
export interface ClusterStatus {
  self: { name: string; id: string }
  leader: { name: string; id: string } | null
  state: string
  term: number
  commitIndex: number
  appliedIndex: number
  members: MemberStatus[]
  formation: string
}

export interface ClusterManagerOptions {
  host: ShoalHost
  raft: Raft
  clock: Clock
  rng: Rng
  logger: Logger
  dataDir: string
  self: Omit<PeerInfo, 'member'>
  join: Multiaddr[]
  bootstrapExpect: number
  tickMs?: number
  /** A peer heard from within this is alive. */
  aliveWindowMs?: number
  autopilot?: Partial<AutopilotConfig>
  /** The replicated member registry: read a member's record, and write ours (leader only). */
  registry: {
    get(id: string): PeerInfo | undefined
    put(info: PeerInfo): Promise<void>
  }
}

/** Thrown when a request to the leader cannot be carried out. */
export class LeaderRequestError extends Error {
  override name = 'LeaderRequestError'
}

export class ClusterManager {
  readonly table: PeerTable
  private readonly host: ShoalHost
  private readonly raft: Raft
  private readonly clock: Clock
  private readonly rng: Rng
  private readonly log: Logger
  private readonly tickMs: number
  private readonly aliveWindowMs: number
  private readonly autopilotConfig: AutopilotConfig
  private timer: TimerHandle | null = null
  private readonly channel: RequestChannel
  private readonly peerChannel: RequestChannel
  private stopped = false
  private lock: BootstrapLock | null = null
  private proposing: string | null = null
  private proposalCounter = 0
  private lastDecision = ''
  private formationState = 'starting'
  private nextProposalAtMs = 0
  private nextJoinAtMs = 0
  private autopilotBusy = false
  private readonly backoff = new Map<string, { failures: number; nextAtMs: number }>()
  private exchanging = new Set<string>()
  /** Peers found by libp2p discovery (mDNS): exchange targets like any other. */
  private readonly discovered: DiscoveredPeers

  constructor(private readonly options: ClusterManagerOptions) {
    this.host = options.host
    this.raft = options.raft
    this.clock = options.clock
    this.rng = options.rng
    this.log = options.logger.child({ component: 'cluster' })
    this.tickMs = options.tickMs ?? 500
    this.aliveWindowMs = options.aliveWindowMs ?? 3000
    this.autopilotConfig = { ...defaultAutopilotConfig(), ...options.autopilot }
    this.table = new PeerTable(options.self.id)
    this.discovered = new DiscoveredPeers(options.self.id, this.log)
    this.channel = new RequestChannel({
      host: libp2pChannelHost(options.host, LEADER_CHANNEL_PROTOCOL),
      clock: options.clock,
      logger: options.logger,
    })
    this.peerChannel = new RequestChannel({
      host: libp2pChannelHost(options.host, PEERS_CHANNEL_PROTOCOL),
      clock: options.clock,
      logger: options.logger,
      // Exchanges are small and one at a time per target (see `exchanging`).
      maxInflightPerPeer: 4,
    })
  }

  /** This peer's own record, as it tells others. */
  selfInfo(): PeerInfo {
    return { ...this.options.self, member: this.isMember() }
  }

  /** Whether this peer holds Raft state (a configuration). */
  isMember(): boolean {
    return this.raft.getConfiguration().servers.length > 0
  }

  async start(): Promise<void> {
    this.lock = this.readLock()
    await handleJson(this.host, PEERS_PROTOCOL, (req, remote) => this.onExchange(req, remote))
    await handleJson(this.host, BOOTSTRAP_PROTOCOL, (req) => this.onBootstrap(req))
    await handleJson(this.host, LEADER_PROTOCOL, (req, remote) =>
      this.onLeaderRequest(fromJsonRequest(req), remote),
    )
    await this.channel.serve((payload, remote) => this.onChannelRequest(payload, remote))
    await this.peerChannel.serve(async (payload, remote) =>
      Buffer.from(JSON.stringify(await this.onExchange(JSON.parse(utf8(payload)), remote)), 'utf8'),
    )
    await this.discovered.attach(this.host)
    this.schedule(0)
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.clock.clearTimeout(this.timer)
    this.discovered.detach()
    await this.channel.close()
    await this.peerChannel.close()
    for (const p of [PEERS_PROTOCOL, BOOTSTRAP_PROTOCOL, LEADER_PROTOCOL]) {
      await this.host.unhandle(p).catch(() => {})
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return
    this.timer = this.clock.setTimeout(() => {
      this.tick()
        .catch((err: unknown) => this.log.warn({ err }, 'cluster tick failed'))
        .finally(() => this.schedule(this.tickMs))
    }, delayMs)
  }

  private async tick(): Promise<void> {
    await this.exchangeAll()
    // A stream to a former leader with nothing outstanding is of no more use.
    this.channel.closeIdle([this.raft.leader()?.id])
    if (!this.isMember()) await this.formationStep()
    else {
      this.formationState = 'member'
      if (this.lock) this.clearLock('this peer holds raft state now')
    }
    if (this.raft.state() === 'leader') await this.leaderStep()
  }

  // ---------------------------------------------------------------- peer exchange

  private exchangeTargets(): { key: string; target: Multiaddr }[] {
    const out = new Map<string, Multiaddr>()
    for (const ma of this.options.join) out.set(ma.toString(), ma)
    for (const [id, ma] of this.discovered.entries()) out.set(id, ma)
    for (const row of this.table.all()) {
      try {
        out.set(row.info.id, multiaddr(row.info.address))
      } catch {
        // An address we cannot parse is skipped; the peer may tell us a better one.
      }
    }
    // Servers in the Raft configuration are always targets, even after a restart that
    // forgot the table.
    for (const s of this.raft.getConfiguration().servers) {
      if (s.id === this.options.self.id || out.has(s.id)) continue
      try {
        out.set(s.id, multiaddr(s.address))
      } catch {
        // As above.
      }
    }
    // A join address that named a peer we know now is covered by that peer's own entry.
    for (const ma of this.options.join) {
      const known = this.table.all().find((r) => r.info.address.startsWith(ma.toString()))
      if (known) out.delete(ma.toString())
    }
    out.delete(this.options.self.id)
    return [...out.entries()].map(([key, target]) => ({ key, target }))
  }

  private async exchangeAll(): Promise<void> {
    const now = this.clock.now()
    const message = {
      self: this.selfInfo(),
      known: this.table.alive(now, this.aliveWindowMs).map((r) => r.info),
    }
    const targets = this.exchangeTargets()
    // A --join address whose peer we now know by id, a peer no longer known: let go.
    this.peerChannel.closeIdle(targets.map((t) => t.key))
    await Promise.all(
      targets.map(async ({ key, target }) => {
        const b = this.backoff.get(key)
        if ((b && now < b.nextAtMs) || this.exchanging.has(key)) return
        this.exchanging.add(key)
        try {
          // Keyed by `key`: a peer id, or a --join address whose peer we do not know yet.
          const answer = await this.peerChannel.request(
            { id: key, address: target.toString() },
            Buffer.from(JSON.stringify(message), 'utf8'),
            2000,
          )
          const reply = JSON.parse(utf8(answer)) as { self?: unknown; known?: unknown }
          this.absorb(reply)
          this.backoff.delete(key)
        } catch (err) {
          const failures = (b?.failures ?? 0) + 1
          // Back off 0.5 s, 1 s, 2 s … up to 10 s, with jitter so peers do not retry in step.
          const delayMs = Math.min(10_000, 250 * 2 ** failures) * (0.75 + this.rng.next() / 2)
          this.backoff.set(key, { failures, nextAtMs: this.clock.now() + delayMs })
          if (failures === 3)
            this.log.debug({ target: target.toString(), err: (err as Error).message }, 'peer unreachable')
        } finally {
          this.exchanging.delete(key)
        }
      }),
    )
  }

  private absorb(message: { self?: unknown; known?: unknown }): void {
    if (isPeerInfo(message.self)) {
      const before = this.table.get(message.self.id)
      this.table.seen(message.self, this.clock.now())
      if (!before) this.log.info({ peer: message.self.name, id: message.self.id }, 'peer discovered')
    }
    if (Array.isArray(message.known)) {
      for (const info of message.known.slice(0, 1024)) if (isPeerInfo(info)) this.table.heardOf(info)
    }
  }

  private async onExchange(request: unknown, remotePeer: string): Promise<unknown> {
    const req = request as { self?: unknown; known?: unknown }
    if (isPeerInfo(req.self) && req.self.id === remotePeer) this.absorb(req)
    const now = this.clock.now()
    return { self: this.selfInfo(), known: this.table.alive(now, this.aliveWindowMs).map((r) => r.info) }
  }

  // ---------------------------------------------------------------- formation

  private readLock(): BootstrapLock | null {
    const path = join(this.options.dataDir, LOCK_FILE)
    if (!existsSync(path)) return null
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as BootstrapLock
    } catch {
      // A torn lock file: the lock was not promised yet (we only answer after the rename).
      return null
    }
  }

  private writeLock(lock: BootstrapLock): void {
    const path = join(this.options.dataDir, LOCK_FILE)
    writeFileSync(`${path}.tmp`, JSON.stringify(lock), { mode: 0o600 })
    renameSync(`${path}.tmp`, path)
    this.lock = lock
  }

  private clearLock(reason: string): void {
    if (!this.lock) return
    this.log.info({ proposal: this.lock.proposal, reason }, 'bootstrap lock released')
    rmSync(join(this.options.dataDir, LOCK_FILE), { force: true })
    this.lock = null
  }

  private async formationStep(): Promise<void> {
    const now = this.clock.now()
    if (this.lock && this.lock.coordinator !== this.options.self.id) {
      this.formationState = `promised to bootstrap with ${this.lock.coordinator}`
      await this.checkLock(this.lock)
      return
    }
    const decision = decideFormation(
      this.selfInfo(),
      this.table.alive(now, this.aliveWindowMs),
      this.options.bootstrapExpect,
    )
    const key = JSON.stringify(decision)
    const stable = key === this.lastDecision
    this.lastDecision = key
    if (decision.action === 'wait') {
      this.formationState = decision.reason
      return
    }
    if (decision.action === 'join') {
      this.formationState = 'joining the cluster'
      if (now < this.nextJoinAtMs) return
      this.nextJoinAtMs = now + 2000
      for (const member of decision.via) {
        try {
          await requestJson(
            this.host,
            multiaddr(member.address),
            LEADER_PROTOCOL,
            { type: 'join', peer: this.selfInfo() } satisfies LeaderRequest,
            5000,
          )
          this.log.info({ via: member.name }, 'asked to join the cluster')
          return
        } catch (err) {
          this.log.debug({ via: member.name, err: (err as Error).message }, 'join request failed')
        }
      }
      return
    }
    // Propose only once the view has held still for a tick: discovery settles first.
    if (!stable || now < this.nextProposalAtMs || this.proposing) return
    await this.propose(decision.servers)
  }

  private async checkLock(lock: BootstrapLock): Promise<void> {
    try {
      const reply = (await requestJson(
        this.host,
        multiaddr(lock.coordinatorAddress),
        BOOTSTRAP_PROTOCOL,
        { type: 'status', proposal: lock.proposal },
        2000,
      )) as { member?: boolean; proposing?: string | null }
      if (!reply.member && reply.proposing !== lock.proposal)
        this.clearLock('the coordinator gave up the proposal')
      // When it is a member, its leader brings us in: we stay locked until our Raft has state.
    } catch {
      // Unreachable coordinator: keep the promise (see formation.ts).
    }
  }

  private async propose(servers: { id: string; address: string }[]): Promise<void> {
    const proposal = `${this.options.self.id}/${++this.proposalCounter}/${this.clock.now()}`
    if (!mayAcceptProposal(this.lock, proposal) && this.lock?.coordinator !== this.options.self.id) return
    this.proposing = proposal
    this.formationState = `proposing to bootstrap with ${servers.length} peers`
    this.log.info({ proposal, servers: servers.map((s) => s.id) }, 'proposing to bootstrap the cluster')
    const others = servers.filter((s) => s.id !== this.options.self.id)
    const message = {
      type: 'prepare',
      proposal,
      coordinator: this.options.self.id,
      coordinatorAddress: this.options.self.address,
      servers,
    }
    const answers = await Promise.all(
      others.map(async (s) => {
        try {
          const r = (await requestJson(
            this.host,
            multiaddr(s.address),
            BOOTSTRAP_PROTOCOL,
            message,
            3000,
          )) as {
            ok?: boolean
            reason?: string
          }
          return { id: s.id, address: s.address, ok: r.ok === true, reason: r.reason ?? '' }
        } catch (err) {
          return { id: s.id, address: s.address, ok: false, reason: (err as Error).message }
        }
      }),
    )
    try {
      if (answers.every((a) => a.ok) && !this.isMember() && !this.stopped) {
        await this.raft.bootstrapCluster({
          servers: servers.map((s) => ({ ...s, suffrage: 'voter' as const })),
        })
        this.log.info({ servers: servers.length }, 'bootstrapped the cluster')
        this.formationState = 'bootstrapped'
        return
      }
      this.log.info({ refused: answers.filter((a) => !a.ok) }, 'bootstrap proposal not accepted; will retry')
      await Promise.all(
        answers
          .filter((a) => a.ok)
          .map((a) =>
            requestJson(
              this.host,
              multiaddr(a.address),
              BOOTSTRAP_PROTOCOL,
              { type: 'release', proposal },
              2000,
            ).catch(() => {}),
          ),
      )
      this.nextProposalAtMs = this.clock.now() + 500 + this.rng.int(1000)
    } finally {
      this.proposing = null
    }
  }

  private async onBootstrap(request: unknown): Promise<unknown> {
    const req = request as {
      type?: string
      proposal?: string
      coordinator?: string
      coordinatorAddress?: string
      servers?: { id: string; address: string }[]
    }
    if (typeof req.proposal !== 'string') throw new Error('bad bootstrap request')
    if (req.type === 'status') return { member: this.isMember(), proposing: this.proposing }
    if (req.type === 'release') {
      if (this.lock?.proposal === req.proposal) this.clearLock('the coordinator released it')
      return { ok: true }
    }
    if (req.type !== 'prepare') throw new Error('unknown bootstrap request')
    if (this.isMember()) return { ok: false, reason: 'member of a cluster already' }
    if (!Array.isArray(req.servers) || !req.servers.some((s) => s.id === this.options.self.id)) {
      return { ok: false, reason: 'not in the proposed set' }
    }
    if (this.proposing) return { ok: false, reason: 'proposing myself' }
    if (!mayAcceptProposal(this.lock, req.proposal))
      return { ok: false, reason: `promised to ${this.lock?.coordinator}` }
    if (typeof req.coordinator !== 'string' || typeof req.coordinatorAddress !== 'string') {
      throw new Error('bad bootstrap request')
    }
    this.writeLock({
      proposal: req.proposal,
      coordinator: req.coordinator,
      coordinatorAddress: req.coordinatorAddress,
      servers: req.servers,
    })
    return { ok: true }
  }

  // ---------------------------------------------------------------- requests to the leader

  /**
   * Carries `request` to the leader (this peer or another) and returns its answer.
   *
   * Retries until `timeoutMs`: when there is no leader, when the peer asked no longer leads,
   * when the request was never sent, and when the stream to the leader broke after it was
   * sent. That last one may have been carried out already (the leader may have committed it
   * and died before answering), so a retried write can be applied twice: a create then
   * answers 409 AlreadyExists, an update with a `resourceVersion` 409 Conflict, and a patch
   * without one is applied again. That is the ambiguity one stream per request had too;
   * the shared stream does not widen it (a request fails only when its own stream breaks; a
   * timeout or a silent stream never aborts the others, see request-channel.ts).
   */
  async leaderCall(request: LeaderRequest, timeoutMs = 10_000): Promise<unknown> {
    const deadline = this.clock.now() + timeoutMs
    // Made only when needed: an Error captures a stack, which costs more than a forwarded write.
    let lastError: Error | undefined
    // Encoded once, on the first attempt that forwards it.
    let payload: Uint8Array | undefined
    while (this.clock.now() < deadline && !this.stopped) {
      if (this.raft.state() === 'leader') {
        try {
          return await this.executeAsLeader(request)
        } catch (err) {
          if (!(err instanceof NotLeaderError)) throw err
          lastError = err
        }
      } else {
        const leader = this.raft.leader()
        if (leader) {
          try {
            payload ??= encodeLeaderRequest(request)
            return decodeLeaderAnswer(
              await this.channel.request(leader, payload, deadline - this.clock.now()),
            )
          } catch (err) {
            lastError = err as Error
            if (
              err instanceof RpcError &&
              (err.code === 'protocol' || (err.code === 'remote' && !/not the leader/.test(err.message)))
            )
              throw err
          }
        }
      }
      await this.leaderChangeOr(100)
    }
    throw new LeaderRequestError(
      `no leader answered within ${timeoutMs} ms: ${lastError?.message ?? 'no leader'}`,
    )
  }

  /**
   * Waits until Raft names a (new) leader, or `ms` passes: a write held while there is no
   * leader goes out as soon as one is elected, not at the next poll.
   */
  private leaderChangeOr(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.clock.clearTimeout(timer)
        this.raft.off('leader', done)
        resolve()
      }
      const timer = this.clock.setTimeout(done, ms)
      this.raft.on('leader', done)
    })
  }

  /** A request to the leader that came on the channel (the usual way). */
  private async onChannelRequest(payload: Uint8Array, remotePeer: string): Promise<Uint8Array> {
    if (this.raft.state() !== 'leader') {
      const leader = this.raft.leader()
      // A peer that knows the leader forwards, as it came; the caller need not know who leads.
      if (leader && leader.id !== this.options.self.id) return this.channel.request(leader, payload, 10_000)
      throw new NotLeaderError(null)
    }
    return encodeLeaderAnswer(await this.executeAsLeader(decodeLeaderRequest(payload), remotePeer))
  }

  /** A request to the leader that came on `/shoal/leader/1.0.0` (a joining peer's). */
  private async onLeaderRequest(request: LeaderRequest, remotePeer: string): Promise<unknown> {
    if (this.raft.state() !== 'leader') {
      const leader = this.raft.leader()
      // As above.
      if (leader && leader.id !== this.options.self.id) {
        return decodeLeaderAnswer(await this.channel.request(leader, encodeLeaderRequest(request), 10_000))
      }
      throw new NotLeaderError(null)
    }
    return this.executeAsLeader(request, remotePeer)
  }

  /**
   * Carries out a request on the leader; `fromPeer` is the peer that sent it, when another.
   * After a write or a read index, that peer waits until it has applied the index: it is told
   * the commit index at once (`expediteCommit`), the others with the next append or heartbeat.
   */
  private async executeAsLeader(request: LeaderRequest, fromPeer?: string): Promise<unknown> {
    switch (request.type) {
      case 'apply': {
        const r = await this.raft.apply(request.data, { timeoutMs: 10_000 })
        if (!fromPeer) return { index: r.index, response: r.response }
        this.raft.expediteCommit(fromPeer, r.index)
        return request.indexOnly ? { index: r.index } : { index: r.index, response: r.response }
      }
      case 'join': {
        if (!isPeerInfo(request.peer)) throw new Error('join: bad peer record')
        this.table.seen(request.peer, this.clock.now())
        const known = this.raft.getConfiguration().servers.find((s) => s.id === request.peer.id)
        if (!known || known.address !== request.peer.address) {
          this.log.info({ peer: request.peer.name, id: request.peer.id }, 'adding peer as non-voter')
          await this.raft.addNonvoter(request.peer.id, request.peer.address, { timeoutMs: 10_000 })
        }
        await this.options.registry.put({ ...request.peer, member: true })
        return { ok: true }
      }
      case 'leave':
      case 'remove': {
        if (request.id === this.options.self.id) {
          // The leader cannot remove itself cleanly while leading: hand over first.
          await this.raft.leadershipTransfer()
          throw new NotLeaderError(this.raft.leader())
        }
        this.log.info({ id: request.id, why: request.type }, 'removing peer')
        await this.raft.removeServer(request.id, { timeoutMs: 10_000 })
        return { ok: true }
      }
      case 'read-index': {
        // The leader confirms with a quorum that it still leads, and that its FSM has applied
        // all it had committed (verifyLeader's read index): everything acknowledged before
        // this request is at or below the index it answers. No log entry is written.
        await this.raft.verifyLeader({ timeoutMs: 5000 })
        const index = this.raft.stats().commitIndex
        if (fromPeer) this.raft.expediteCommit(fromPeer, index)
        return { index }
      }
      case 'transfer': {
        await this.raft.leadershipTransfer(request.id)
        return { ok: true, leader: this.raft.leader() }
      }
      default:
        throw new Error('unknown leader request')
    }
  }

  /**
   * A linearizable read point: resolves once this peer has applied everything that was
   * acknowledged anywhere before the call (the Raft dissertation's read index, §6.4).
   */
  async waitReadIndex(timeoutMs = 5000): Promise<void> {
    const { index } = (await this.leaderCall({ type: 'read-index' }, timeoutMs)) as { index: number }
    await this.raft.waitApplied(index, timeoutMs)
  }

  /**
   * Leaves the cluster for good (SIGTERM): hands leadership over when leading, asks the
   * leader to remove this peer, and waits until the configuration no longer holds it.
   */
  async leave(timeoutMs = 5000): Promise<boolean> {
    if (!this.isMember()) return true
    const deadline = this.clock.now() + timeoutMs
    const self = this.options.self.id
    while (this.clock.now() < deadline) {
      if (!this.raft.getConfiguration().servers.some((s) => s.id === self)) return true
      try {
        if (this.raft.state() === 'leader') {
          if (this.raft.getConfiguration().servers.length === 1) return false
          await this.raft.leadershipTransfer()
        } else {
          await this.leaderCall({ type: 'leave', id: self }, Math.max(500, deadline - this.clock.now()))
        }
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'leave attempt failed; retrying')
      }
      await new Promise<void>((r) => this.clock.setTimeout(r, 100))
    }
    return !this.raft.getConfiguration().servers.some((s) => s.id === self)
  }

  // ---------------------------------------------------------------- leader duties

  private async leaderStep(): Promise<void> {
    // Our own address in the configuration is stale (a restored cluster, or a new --p2p):
    // correct it, so that the others can reach us.
    const me = this.raft.getConfiguration().servers.find((s) => s.id === this.options.self.id)
    if (me && me.address !== this.options.self.address && me.suffrage === 'voter') {
      this.log.info(
        { from: me.address, to: this.options.self.address },
        'correcting our address in the configuration',
      )
      await this.raft
        .addVoter(me.id, this.options.self.address, { timeoutMs: 5000 })
        .catch((err: unknown) => {
          this.log.warn({ err: (err as Error).message }, 'could not correct our address')
        })
    }
    // The registry: every member's name and API address, in the replicated state.
    const config = this.raft.getConfiguration()
    for (const s of config.servers) {
      const info = s.id === this.options.self.id ? this.selfInfo() : this.table.get(s.id)?.info
      if (!info) continue
      const have = this.options.registry.get(s.id)
      if (!have || have.name !== info.name || have.api !== info.api || have.address !== info.address) {
        await this.options.registry.put({ ...info, member: true }).catch(() => {})
      }
    }
    if (this.autopilotBusy) return
    const stats = this.raft.stats()
    const followers = new Map(this.raft.followerStats().map((f) => [f.id, f]))
    const servers: AutopilotServer[] = config.servers.map((s) => {
      if (s.id === this.options.self.id)
        return { id: s.id, suffrage: s.suffrage, lastContactAgoMs: 0, lagEntries: 0 }
      const f = followers.get(s.id)
      return {
        id: s.id,
        suffrage: s.suffrage,
        lastContactAgoMs: f?.lastContactAgoMs ?? Number.POSITIVE_INFINITY,
        lagEntries: f ? Math.max(0, stats.lastLogIndex - f.matchIndex) : Number.POSITIVE_INFINITY,
      }
    })
    const plan = planAutopilot(this.options.self.id, servers, this.autopilotConfig)
    if (!plan) return
    this.autopilotBusy = true
    try {
      this.log.info({ ...plan }, 'autopilot')
      const s = config.servers.find((x) => x.id === plan.id)!
      if (plan.action === 'promote') await this.raft.addVoter(s.id, s.address, { timeoutMs: 5000 })
      else if (plan.action === 'demote') await this.raft.demoteVoter(s.id, { timeoutMs: 5000 })
      else await this.raft.removeServer(s.id, { timeoutMs: 5000 })
    } catch (err) {
      this.log.warn({ err: (err as Error).message, plan }, 'autopilot change failed')
    } finally {
      this.autopilotBusy = false
    }
  }

  // ---------------------------------------------------------------- status

  /** The cluster as this peer sees it. */
  status(): ClusterStatus {
    const stats = this.raft.stats()
    const now = this.clock.now()
    const followers = new Map(this.raft.followerStats().map((f) => [f.id, f]))
    const nameOf = (id: string): string =>
      id === this.options.self.id
        ? this.options.self.name
        : (this.table.get(id)?.info.name ?? this.options.registry.get(id)?.name ?? id)
    const config = this.raft.getConfiguration()
    const members: MemberStatus[] = config.servers.map((s) => {
      const self = s.id === this.options.self.id
      const f = followers.get(s.id)
      const row = this.table.get(s.id)
      const seenAgo = row?.lastSeenMs != null ? now - row.lastSeenMs : null
      const lastContactMs = self ? 0 : (f?.lastContactAgoMs ?? seenAgo)
      const reachable = self || (lastContactMs !== null && lastContactMs <= this.aliveWindowMs)
      const info = row?.info ?? this.options.registry.get(s.id)
      return {
        name: nameOf(s.id),
        id: s.id,
        address: s.address,
        api: self ? this.options.self.api : (info?.api ?? ''),
        suffrage: s.suffrage,
        reachable,
        lastContactMs,
      }
    })
    const leader = this.raft.leader()
    return {
      self: { name: this.options.self.name, id: this.options.self.id },
      leader: leader ? { name: nameOf(leader.id), id: leader.id } : null,
      state: stats.state,
      term: stats.term,
      commitIndex: stats.commitIndex,
      appliedIndex: stats.appliedIndex,
      members,
      formation: this.isMember()
        ? isVoter(config, this.options.self.id)
          ? 'voter'
          : 'nonvoter'
        : this.formationState,
    }
  }

  /** Finds a member's id by name or id. */
  resolveMember(nameOrId: string): string | null {
    const config = this.raft.getConfiguration()
    if (config.servers.some((s) => s.id === nameOrId)) return nameOrId
    for (const s of config.servers) {
      const name =
        s.id === this.options.self.id
          ? this.options.self.name
          : (this.table.get(s.id)?.info.name ?? this.options.registry.get(s.id)?.name)
      if (name === nameOrId) return s.id
    }
    return null
  }
}

// ---------------------------------------------------------------- leader requests on the wire

/** How a leader request's payload on the channel starts. Never renumber. */
enum LeaderRequestEncoding {
  /** The rest is the request as UTF-8 JSON. */
  Json = 0,
  /** An `apply`: the rest is the command's bytes, as they are (no JSON, no base64). */
  Apply = 1,
  /** The same, answered with the index alone (`indexOnly`). */
  ApplyIndexOnly = 2,
}

/** A leader request as a channel payload. */
export function encodeLeaderRequest(request: LeaderRequest): Uint8Array {
  const body = request.type === 'apply' ? request.data : Buffer.from(JSON.stringify(request), 'utf8')
  const payload = new Uint8Array(1 + body.length)
  payload[0] =
    request.type !== 'apply'
      ? LeaderRequestEncoding.Json
      : request.indexOnly
        ? LeaderRequestEncoding.ApplyIndexOnly
        : LeaderRequestEncoding.Apply
  payload.set(body, 1)
  return payload
}

/** The leader request in a channel payload; throws on one it cannot read. */
export function decodeLeaderRequest(payload: Uint8Array): LeaderRequest {
  const body = payload.subarray(1)
  switch (payload[0]) {
    case LeaderRequestEncoding.Apply:
      // A copy: the log keeps the command, and a view would keep the whole received chunk alive.
      return { type: 'apply', data: body.slice() }
    case LeaderRequestEncoding.ApplyIndexOnly:
      return { type: 'apply', data: body.slice(), indexOnly: true }
    case LeaderRequestEncoding.Json:
      return fromJsonRequest(JSON.parse(utf8(body)))
    default:
      throw new Error(`unknown leader request encoding ${payload[0]}`)
  }
}

/** A leader's answer as a channel payload: UTF-8 JSON. */
export function encodeLeaderAnswer(answer: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(answer ?? {}), 'utf8')
}

export function decodeLeaderAnswer(payload: Uint8Array): unknown {
  try {
    return JSON.parse(utf8(payload))
  } catch (err) {
    throw new RpcError(`malformed answer from the leader: ${(err as Error).message}`, 'protocol')
  }
}

/** A leader request parsed from JSON: an `apply`'s command travels there as base64. */
function fromJsonRequest(request: unknown): LeaderRequest {
  const r = request as { type?: unknown; data?: unknown }
  if (r && r.type === 'apply') {
    if (typeof r.data !== 'string') throw new Error('apply: the command must be a base64 string')
    return { type: 'apply', data: Buffer.from(r.data, 'base64') }
  }
  return request as LeaderRequest
}

function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
}

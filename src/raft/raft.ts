/**
 * Raft: one server of a Raft cluster, with hashicorp/raft's API.
 *
 * How it is built. Everything that reads and changes Raft's state runs as a task on one
 * serial queue (`locked`): RPC handlers, timer events, appending a batch, answers from
 * followers. Tasks await storage inside the queue, so no task ever sees another's half-done
 * change — the same guarantee hashicorp/raft gets from its single run-loop goroutine. The
 * FSM is driven by a second serial queue (`fsmQueue`) so that applying entries, taking a
 * snapshot and restoring one never overlap, and never block the consensus work.
 *
 * Time comes from the injected `Clock` and randomness from the injected `Rng`, so a whole
 * cluster runs deterministically in a simulation (test/raft).
 */

import { EventEmitter } from 'node:events'
import { type Clock, SystemClock, type TimerHandle } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import { silentLogger } from '../util/logger.js'
import { type Rng, systemRng } from '../util/random.js'
import { type AppendGroup, groupAppends } from './append-merge.js'
import { advanceCommitIndex, candidateLogIsUpToDate } from './commitment.js'
import { type RaftConfig, validateRaftConfig } from './config.js'
import {
  type Configuration,
  type ConfigurationChange,
  checkConfiguration,
  cloneConfiguration,
  decodeConfiguration,
  encodeConfiguration,
  hasServer,
  isVoter,
  nextConfiguration,
  quorumSize,
  type ServerAddress,
  type ServerId,
  voters,
} from './configuration.js'
import {
  CantBootstrapError,
  LeadershipLostError,
  LeadershipTransferInProgressError,
  NothingNewToSnapshotError,
  NotLeaderError,
  OverloadedError,
  ShutdownError,
  TimeoutError,
} from './errors.js'
import type { FSM } from './fsm.js'
import { type LogEntry, type LogStore, LogType, readLogs } from './log.js'
import {
  canSend,
  newProgress,
  onAppendRejected,
  onAppendSuccess,
  onSendFailed,
  type Progress,
} from './progress.js'
import { SerialQueue } from './serial-queue.js'
import type { SnapshotMeta, SnapshotStore } from './snapshot.js'
import { StableKeys, type StableStore } from './stable.js'
import type {
  AppendEntriesRequest,
  AppendEntriesResponse,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  Peer,
  RequestVoteRequest,
  RequestVoteResponse,
  TimeoutNowRequest,
  TimeoutNowResponse,
  Transport,
} from './transport.js'

/** A server's role. */
export type RaftState = 'follower' | 'candidate' | 'leader' | 'shutdown'

/** Everything a Raft server is built from. */
export interface RaftOptions {
  id: ServerId
  /** This server's address as others reach it; defaults to `transport.localAddress`. */
  address?: ServerAddress
  config?: Partial<RaftConfig>
  fsm: FSM
  logStore: LogStore
  stableStore: StableStore
  snapshotStore: SnapshotStore
  transport: Transport
  clock?: Clock
  rng?: Rng
  logger?: Logger
  /**
   * Awaited by a leader between handing a batch to its followers and writing it to its own
   * log. The daemon yields to the event loop here, so that the batch is on the wire before a
   * log store that writes synchronously (WalLogStore) holds the thread for the disk sync; the
   * followers then write theirs at the same time. Default: nothing.
   */
  beforeLeaderWrite?: () => Promise<void>
}

/** What `apply` resolves with: where the entry landed and what the FSM returned. */
export interface ApplyResult {
  index: number
  response: unknown
}

/** A snapshot of a server's counters, for status pages and tests. */
export interface RaftStats {
  id: ServerId
  state: RaftState
  term: number
  lastLogIndex: number
  lastLogTerm: number
  commitIndex: number
  appliedIndex: number
  firstLogIndex: number
  lastSnapshotIndex: number
  lastSnapshotTerm: number
  /** Milliseconds since this server last heard from a leader (0 on the leader, null if never). */
  lastContactMs: number | null
  /** The same as lastContactMs (hashicorp/raft's name for it). */
  lastContact: number | null
  leader: Peer | null
  latestConfigurationIndex: number
  committedConfigurationIndex: number
  numPeers: number
  /** Proposals queued on the leader and not yet in the log. */
  pendingApplies: number
}

/** Per-follower replication state, on the leader. */
interface FollowerState {
  peer: Peer
  progress: Progress
  /** Sequence numbers of AppendEntries in flight. */
  inflight: Set<number>
  /** When this follower last answered us (ms, clock time). */
  lastContactMs: number
  lastSentMs: number
  /** Highest sequence number of an AppendEntries it answered in our term. */
  ackSeq: number
  sending: boolean
  pumpAgain: boolean
  wantHeartbeat: boolean
  /** No sending before this time (after failures). */
  backoffUntilMs: number
  /** No new snapshot transfer before this time (after a failed one). */
  snapshotRetryAtMs: number
  /** The leaderCommit of the last AppendEntries sent. */
  sentCommit: number
  /**
   * The commit index this follower waits to hear of (see `expediteCommit`): sent at once
   * rather than with the next append or heartbeat.
   */
  commitWanted: number
}

type FutureKind = LogType

/** A proposal on its way into the log and through the FSM. */
interface ApplyFuture {
  kind: FutureKind
  data: Uint8Array
  index: number
  term: number
  settled: boolean
  timer: TimerHandle | null
  resolve: (r: ApplyResult) => void
  reject: (e: Error) => void
}

interface VerifyWaiter {
  seq: number
  term: number
  /** Resolve only once the FSM has applied this far (read-index, dissertation §6.4). */
  readIndex: number
  confirmed: boolean
  timer: TimerHandle
  resolve: () => void
  reject: (e: Error) => void
}

interface Transfer {
  target: Peer
  term: number
  timeoutNowSent: boolean
  timer: TimerHandle
  resolve: () => void
  reject: (e: Error) => void
}

interface IncomingSnapshot {
  id: string
  offset: number
  /** Null for a snapshot we already hold (acknowledged, not stored). */
  sink: {
    id: string
    write(c: Uint8Array): Promise<void>
    close(): Promise<void>
    cancel(): Promise<void>
  } | null
}

interface ElectionRound {
  term: number
  preVote: boolean
  granted: Set<ServerId>
}

const MAX_CACHED_ENTRIES = 8192
const APPLY_BATCH_ENTRIES = 256

/** One Raft server. See the file comment for how it is built. */
export class Raft extends EventEmitter {
  readonly id: ServerId
  readonly address: ServerAddress
  readonly config: RaftConfig
  private readonly fsm: FSM
  private readonly logStore: LogStore
  private readonly beforeLeaderWrite: (() => Promise<void>) | undefined
  private readonly stableStore: StableStore
  private readonly snapshotStore: SnapshotStore
  private readonly transport: Transport
  private readonly clock: Clock
  private readonly rng: Rng
  private readonly log: Logger

  private raftState: RaftState = 'follower'
  private started = false
  private currentTerm = 0
  private votedFor: ServerId | null = null
  private votedTerm = 0
  private leaderPeer: Peer | null = null
  private lastLeaderContactMs: number | null = null

  // The log, as this server holds it.
  private firstLogIndex = 0
  private lastLogIndex = 0
  private lastLogTerm = 0
  private snapshotIndex = 0
  private snapshotTerm = 0
  private cache: LogEntry[] = []
  private cacheFirst = 1
  private commitIndex = 0
  private lastApplied = 0

  // Configuration entries in the log after the snapshot, in index order, over the
  // configuration the snapshot holds: together they give the configuration at any point of
  // the log, which truncation needs.
  private configLog: { index: number; config: Configuration }[] = []
  private baseConfig: Configuration = { servers: [] }
  private baseConfigIndex = 0
  // Configurations: the latest in the log (in force at once) and the latest committed one.
  private latestConfig: Configuration = { servers: [] }
  private latestConfigIndex = 0
  private committedConfig: Configuration = { servers: [] }
  private committedConfigIndex = 0
  // The configuration as of lastApplied, for snapshots.
  private appliedConfig: Configuration = { servers: [] }
  private appliedConfigIndex = 0

  // Leader state.
  private followers = new Map<ServerId, FollowerState>()
  private termStartIndex = 0
  private selfPersistedIndex = 0
  private pending: ApplyFuture[] = []
  private inflightFutures = new Map<number, ApplyFuture>()
  /** AppendEntries requests received and not yet handled (see receiveAppend). */
  private appendsWaiting: {
    req: AppendEntriesRequest
    resolve: (resp: AppendEntriesResponse) => void
    reject: (err: unknown) => void
  }[] = []
  private appendDrainQueued = false
  private dispatchQueued = false
  private sendSeq = 0
  private verifyWaiters: VerifyWaiter[] = []
  private transfer: Transfer | null = null
  private configWaiters: { resolve: () => void; reject: (e: Error) => void }[] = []

  private election: ElectionRound | null = null
  private incoming: IncomingSnapshot | null = null

  private electionTimer: TimerHandle | null = null
  private heartbeatTimer: TimerHandle | null = null
  private leaseTimer: TimerHandle | null = null
  private snapshotTimer: TimerHandle | null = null

  private readonly queue = new SerialQueue()
  private readonly fsmQueue = new SerialQueue()
  private readonly configChanges = new SerialQueue()
  private applierRunning = false
  private applierRetry: TimerHandle | null = null
  private readonly appliedWaiters = new Set<{
    index: number
    resolve: () => void
    reject: (e: Error) => void
    timer: TimerHandle
  }>()
  private snapshotInProgress: Promise<SnapshotMeta> | null = null

  constructor(options: RaftOptions) {
    super()
    if (!options.id) throw new Error('raft: id is required')
    this.config = validateRaftConfig(options.config)
    this.id = options.id
    this.transport = options.transport
    this.address = options.address ?? options.transport.localAddress
    this.fsm = options.fsm
    this.logStore = options.logStore
    this.beforeLeaderWrite = options.beforeLeaderWrite
    this.stableStore = options.stableStore
    this.snapshotStore = options.snapshotStore
    this.clock = options.clock ?? new SystemClock()
    this.rng = options.rng ?? systemRng()
    this.log = (options.logger ?? silentLogger()).child({ component: 'raft', id: this.id })
    // Every request waiting for a leader listens for 'leader' for a moment: many may at once.
    this.setMaxListeners(0)
  }

  // ---------------------------------------------------------------- public API

  /**
   * Writes the first configuration of a new cluster. Only on fresh storage (no term, no
   * log, no snapshot), else it rejects with CantBootstrapError. Every server of the initial
   * set may be bootstrapped with the same configuration; they elect a leader among them.
   */
  async bootstrapCluster(configuration: Configuration): Promise<void> {
    checkConfiguration(configuration)
    const task = async (): Promise<void> => {
      const term = await this.stableStore.getUint64(StableKeys.currentTerm)
      const last = await this.logStore.lastIndex()
      const snaps = await this.snapshotStore.list()
      if (term > 0 || last > 0 || snaps.length > 0) throw new CantBootstrapError()
      const entry: LogEntry = {
        index: 1,
        term: 1,
        type: LogType.Configuration,
        data: encodeConfiguration(configuration),
      }
      await this.stableStore.setUint64(StableKeys.currentTerm, 1)
      await this.logStore.storeLogs([entry])
      if (this.started) await this.loadState()
    }
    await (this.started ? this.locked(task) : task())
  }

  /** Loads the persisted state, restores the FSM from the newest snapshot, starts timers. */
  async start(): Promise<void> {
    if (this.started) return
    if (this.raftState === 'shutdown') throw new ShutdownError()
    await this.loadState()
    this.started = true
    this.transport.setHandler({
      appendEntries: (req) => this.receiveAppend(req),
      requestVote: (req) => this.answer(() => this.handleRequestVote(req)),
      installSnapshot: (req) => this.answer(() => this.handleInstallSnapshot(req)),
      timeoutNow: (req) => this.answer(() => this.handleTimeoutNow(req)),
    })
    this.resetElectionTimer()
    this.scheduleSnapshotCheck()
    this.log.debug({ term: this.currentTerm, lastIndex: this.lastLogIndex }, 'raft started')
  }

  /**
   * Proposes `data` for the FSM. Resolves once the entry is committed and applied here (the
   * leader), with the FSM's answer. Always settles within `timeoutMs`: NotLeaderError (with
   * the leader we know of), TimeoutError or LeadershipLostError (both ambiguous: the entry may
   * still commit), OverloadedError, ShutdownError.
   */
  apply(data: Uint8Array, options: { timeoutMs?: number } = {}): Promise<ApplyResult> {
    return this.propose(LogType.Command, data, options.timeoutMs ?? 10_000)
  }

  /** Resolves once every entry before it has been applied to the FSM on this leader. */
  async barrier(options: { timeoutMs?: number } = {}): Promise<void> {
    await this.propose(LogType.Barrier, new Uint8Array(0), options.timeoutMs ?? 10_000)
  }

  /**
   * Confirms that a quorum still follows this leader, by a fresh round of AppendEntries
   * answered after the call, and waits until this server's FSM has applied everything
   * committed before the call (the read index). After it resolves, reading the local FSM is
   * linearizable: a deposed leader that has not noticed yet cannot pass it.
   */
  verifyLeader(options: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? this.config.rpcTimeoutMs
    return new Promise<void>((resolve, reject) => {
      if (this.raftState === 'shutdown') return reject(new ShutdownError())
      if (this.raftState !== 'leader') return reject(new NotLeaderError(this.leaderPeer))
      const waiter: VerifyWaiter = {
        seq: this.sendSeq,
        term: this.currentTerm,
        // Until our term's first entry commits, we do not know all that earlier leaders committed.
        readIndex: Math.max(this.commitIndex, this.termStartIndex),
        confirmed: false,
        resolve,
        reject,
        timer: this.clock.setTimeout(() => {
          this.verifyWaiters = this.verifyWaiters.filter((w) => w !== waiter)
          reject(new TimeoutError('verifyLeader', timeoutMs))
        }, timeoutMs),
      }
      this.verifyWaiters.push(waiter)
      this.checkVerifyWaiters()
      for (const f of this.followers.values()) {
        f.wantHeartbeat = true
        void this.pump(f)
      }
    })
  }

  /**
   * Resolves once this server's FSM has applied `index` (rejects with TimeoutError after
   * `timeoutMs`, ShutdownError on shutdown). A follower uses it to read its own writes.
   */
  waitApplied(index: number, timeoutMs = 5000): Promise<void> {
    if (this.lastApplied >= index) return Promise.resolve()
    if (this.raftState === 'shutdown') return Promise.reject(new ShutdownError())
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        index,
        resolve,
        reject,
        timer: this.clock.setTimeout(() => {
          this.appliedWaiters.delete(waiter)
          reject(new TimeoutError(`waiting to apply ${index}`, timeoutMs))
        }, timeoutMs),
      }
      this.appliedWaiters.add(waiter)
    })
  }

  /**
   * On the leader: tells follower `id` the commit index at once (up to `index`), rather than
   * with the next append or heartbeat (≤ the heartbeat interval later). For a follower that is
   * waiting for it: it forwarded a write or a read-index request for its client and answers
   * once it has applied that far. Does nothing on a follower or for an unknown id.
   */
  expediteCommit(id: ServerId, index: number): void {
    const f = this.followers.get(id)
    if (this.raftState !== 'leader' || !f || f.commitWanted >= index) return
    f.commitWanted = index
    void this.pump(f)
  }

  private notifyApplied(): void {
    for (const w of this.appliedWaiters) {
      if (this.lastApplied >= w.index) {
        this.appliedWaiters.delete(w)
        this.clock.clearTimeout(w.timer)
        w.resolve()
      }
    }
  }

  /** This server's role now. */
  state(): RaftState {
    return this.raftState
  }

  /** The leader this server knows of, or null. */
  leader(): Peer | null {
    return this.leaderPeer ? { ...this.leaderPeer } : null
  }

  /** The latest configuration (in force as soon as it is in the log). */
  getConfiguration(): Configuration {
    return cloneConfiguration(this.latestConfig)
  }

  /** Counters and indexes, for status output and tests. */
  stats(): RaftStats {
    const stats: RaftStats = {
      id: this.id,
      state: this.raftState,
      term: this.currentTerm,
      lastLogIndex: this.lastLogIndex,
      lastLogTerm: this.lastLogTerm,
      commitIndex: this.commitIndex,
      appliedIndex: this.lastApplied,
      firstLogIndex: this.firstLogIndex,
      lastSnapshotIndex: this.snapshotIndex,
      lastSnapshotTerm: this.snapshotTerm,
      lastContactMs:
        this.raftState === 'leader'
          ? 0
          : this.lastLeaderContactMs === null
            ? null
            : this.clock.now() - this.lastLeaderContactMs,
      leader: this.leader(),
      lastContact: null,
      latestConfigurationIndex: this.latestConfigIndex,
      committedConfigurationIndex: this.committedConfigIndex,
      numPeers: Math.max(0, this.latestConfig.servers.length - 1),
      pendingApplies: this.pending.length,
    }
    stats.lastContact = stats.lastContactMs
    return stats
  }

  /** On the leader: when each follower last answered (ms ago), and how far its log matches. */
  followerStats(): {
    id: ServerId
    matchIndex: number
    nextIndex: number
    mode: string
    lastContactAgoMs: number
  }[] {
    const now = this.clock.now()
    return [...this.followers.values()].map((f) => ({
      id: f.peer.id,
      matchIndex: f.progress.matchIndex,
      nextIndex: f.progress.nextIndex,
      mode: f.progress.mode,
      lastContactAgoMs: now - f.lastContactMs,
    }))
  }

  /**
   * Adds a voter. A server new to the cluster first joins as a non-voter and is promoted
   * once its log has caught up, so that it never holds up commitment while it copies the log.
   */
  async addVoter(id: ServerId, address: ServerAddress, options: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 30_000
    const server = this.latestConfig.servers.find((s) => s.id === id)
    if (server?.suffrage === 'voter' && server.address === address) {
      this.requireLeader()
      return
    }
    if (!server) await this.changeConfiguration({ command: 'addNonvoter', id, address }, timeoutMs)
    if (id !== this.id) await this.waitCaughtUp(id, timeoutMs)
    await this.changeConfiguration({ command: 'addVoter', id, address }, timeoutMs)
  }

  /** Adds a server that receives the log but does not vote. */
  async addNonvoter(
    id: ServerId,
    address: ServerAddress,
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    await this.changeConfiguration({ command: 'addNonvoter', id, address }, options.timeoutMs ?? 30_000)
  }

  /** Removes a server. A leader that removes itself steps down once the change commits. */
  async removeServer(id: ServerId, options: { timeoutMs?: number } = {}): Promise<void> {
    if (!hasServer(this.latestConfig, id)) {
      this.requireLeader()
      return
    }
    await this.changeConfiguration({ command: 'removeServer', id }, options.timeoutMs ?? 30_000)
  }

  /** Makes a voter a non-voter. */
  async demoteVoter(id: ServerId, options: { timeoutMs?: number } = {}): Promise<void> {
    await this.changeConfiguration({ command: 'demoteVoter', id }, options.timeoutMs ?? 30_000)
  }

  /**
   * Hands leadership to `toId` (or the most up-to-date voter): new proposals are refused
   * meanwhile, the target is brought up to date and told to start an election at once.
   * Settles within `leadershipTransferTimeoutMs` in every case.
   */
  async leadershipTransfer(toId?: ServerId): Promise<void> {
    // Set up on the queue, but wait outside it: the queue must keep running meanwhile (the
    // answers that end the transfer arrive through it), or the transfer deadlocks.
    const started = await this.locked(() => ({ done: this.startTransfer(toId) }))
    return started.done
  }

  private startTransfer(toId: ServerId | undefined): Promise<void> {
    this.requireLeader()
    if (this.transfer) throw new LeadershipTransferInProgressError()
    let target: FollowerState | undefined
    if (toId !== undefined) {
      if (toId === this.id) return Promise.resolve()
      if (!isVoter(this.latestConfig, toId)) throw new Error(`leadership transfer: ${toId} is not a voter`)
      target = this.followers.get(toId)
    } else {
      for (const f of this.followers.values()) {
        if (!isVoter(this.latestConfig, f.peer.id)) continue
        if (!target || f.progress.matchIndex > target.progress.matchIndex) target = f
      }
    }
    if (!target) throw new Error('leadership transfer: no other voter to transfer to')
    const chosen = target
    return new Promise<void>((resolve, reject) => {
      const timeoutMs = this.config.leadershipTransferTimeoutMs
      const transfer: Transfer = {
        target: chosen.peer,
        term: this.currentTerm,
        timeoutNowSent: false,
        resolve,
        reject,
        timer: this.clock.setTimeout(() => {
          if (this.transfer === transfer) {
            this.transfer = null
            reject(new TimeoutError(`leadership transfer to ${transfer.target.id}`, timeoutMs))
          }
        }, timeoutMs),
      }
      this.transfer = transfer
      this.log.info({ target: chosen.peer.id }, 'leadership transfer started')
      chosen.wantHeartbeat = true
      void this.pump(chosen)
      this.checkTransfer()
    })
  }

  /** Takes a snapshot of the FSM now and compacts the log behind it. */
  snapshot(): Promise<SnapshotMeta> {
    if (this.raftState === 'shutdown') return Promise.reject(new ShutdownError())
    if (this.snapshotInProgress) return this.snapshotInProgress
    const p = this.takeSnapshot().finally(() => {
      this.snapshotInProgress = null
    })
    this.snapshotInProgress = p
    return p
  }

  /**
   * Stops this server: timers, pending proposals (rejected with ShutdownError), incoming
   * RPCs. Does not close the transport or the stores, which the caller owns.
   */
  async shutdown(): Promise<void> {
    if (this.raftState === 'shutdown') return
    const wasLeader = this.raftState === 'leader'
    this.raftState = 'shutdown'
    for (const t of [
      this.electionTimer,
      this.heartbeatTimer,
      this.leaseTimer,
      this.snapshotTimer,
      this.applierRetry,
    ]) {
      this.clock.clearTimeout(t)
    }
    this.electionTimer = this.heartbeatTimer = this.leaseTimer = this.snapshotTimer = null
    this.failLeaderWork(
      () => new ShutdownError(),
      () => new ShutdownError(),
    )
    this.queue.close()
    this.fsmQueue.close()
    this.configChanges.close()
    if (wasLeader) {
      this.leaderPeer = null
      this.emit('leader', null)
    }
    for (const w of this.appliedWaiters) {
      this.clock.clearTimeout(w.timer)
      w.reject(new ShutdownError())
    }
    this.appliedWaiters.clear()
    const incoming = this.incoming
    this.incoming = null
    if (incoming?.sink) await incoming.sink.cancel().catch(() => {})
    this.emit('state', 'shutdown')
    // Wait for the tasks already running: none of them writes to storage any more (each
    // write checks first), but the caller may reuse the stores as soon as we return.
    await Promise.race([
      Promise.all([this.queue.drain(), this.fsmQueue.drain()]),
      new Promise((r) => setTimeout(r, 5000).unref()),
    ])
    this.log.debug('raft shut down')
  }

  // ---------------------------------------------------------------- startup

  private async loadState(): Promise<void> {
    this.currentTerm = await this.stableStore.getUint64(StableKeys.currentTerm)
    this.votedTerm = await this.stableStore.getUint64(StableKeys.lastVoteTerm)
    const cand = await this.stableStore.get(StableKeys.lastVoteCandidate)
    this.votedFor = cand && cand.length > 0 ? new TextDecoder().decode(cand) : null

    const snaps = await this.snapshotStore.list()
    this.snapshotIndex = 0
    this.snapshotTerm = 0
    let config: Configuration = { servers: [] }
    let configIndex = 0
    for (const meta of snaps) {
      try {
        const open = await this.snapshotStore.open(meta.id)
        await this.fsm.restore(open.data)
        this.snapshotIndex = meta.index
        this.snapshotTerm = meta.term
        config = meta.configuration
        configIndex = meta.configurationIndex
        break
      } catch (err) {
        // A damaged snapshot is skipped for an older one, as hashicorp/raft does.
        this.log.error({ err, snapshot: meta.id }, 'failed to restore snapshot, trying an older one')
      }
    }
    this.lastApplied = this.snapshotIndex
    this.commitIndex = this.snapshotIndex
    this.committedConfig = cloneConfiguration(config)
    this.committedConfigIndex = configIndex
    this.appliedConfig = cloneConfiguration(config)
    this.appliedConfigIndex = configIndex

    this.firstLogIndex = await this.logStore.firstIndex()
    this.lastLogIndex = await this.logStore.lastIndex()
    this.cache = []
    this.cacheFirst = this.lastLogIndex + 1
    if (this.lastLogIndex > 0) {
      const last = await this.logStore.getLog(this.lastLogIndex)
      this.lastLogTerm = last?.term ?? 0
    }
    if (this.lastLogIndex < this.snapshotIndex) {
      this.lastLogIndex = this.snapshotIndex
      this.lastLogTerm = this.snapshotTerm
      this.cacheFirst = this.lastLogIndex + 1
    }
    if (this.firstLogIndex > this.snapshotIndex + 1 && this.snapshotIndex + 1 <= this.lastLogIndex) {
      // The log starts after the newest snapshot we could read: entries in between are gone.
      throw new Error(
        `raft: the log starts at ${this.firstLogIndex} but the newest readable snapshot ends at ${this.snapshotIndex}`,
      )
    }
    // Configuration entries in the log after the snapshot are in force already.
    this.baseConfig = cloneConfiguration(config)
    this.baseConfigIndex = configIndex
    this.configLog = []
    const from = Math.max(this.firstLogIndex, this.snapshotIndex + 1, 1)
    for (let i = from; i <= this.lastLogIndex; i += 1024) {
      const entries = await readLogs(this.logStore, i, Math.min(this.lastLogIndex, i + 1023))
      for (const e of entries) {
        if (e.type === LogType.Configuration)
          this.configLog.push({ index: e.index, config: decodeConfiguration(e.data) })
      }
    }
    this.rollbackConfiguration(Number.POSITIVE_INFINITY)
  }

  // ---------------------------------------------------------------- the serial queue

  /** Runs `fn` on the serial queue, refusing once shut down. */
  private locked<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.raftState === 'shutdown') return Promise.reject(new ShutdownError())
    return this.queue.run(async () => {
      if (this.raftState === 'shutdown') throw new ShutdownError()
      return fn()
    })
  }

  /** Runs an RPC handler on the queue; a server shut down meanwhile never answers. */
  private async answer<T>(fn: () => Promise<T>): Promise<T> {
    const result = await this.locked(fn)
    if (this.isShutdown()) throw new ShutdownError()
    return result
  }

  /** Throws once shut down: called before every storage write, so a stopped server writes nothing. */
  private assertRunning(): void {
    if (this.isShutdown()) throw new ShutdownError()
  }

  /** Runs a queued task whose failure only needs logging (timers, answers). */
  private background(what: string, fn: () => Promise<void> | void): void {
    if (this.raftState === 'shutdown') return
    this.locked(fn).catch((err: unknown) => {
      if ((err as Error).name === 'ShutdownError') return
      this.log.error({ err }, `${what} failed`)
    })
  }

  // ---------------------------------------------------------------- persistent state

  private async setTerm(term: number): Promise<void> {
    this.assertRunning()
    await this.stableStore.setUint64(StableKeys.currentTerm, term)
    this.currentTerm = term
  }

  private async persistVote(term: number, candidate: ServerId): Promise<void> {
    this.assertRunning()
    await this.stableStore.setUint64(StableKeys.lastVoteTerm, term)
    this.assertRunning()
    await this.stableStore.set(StableKeys.lastVoteCandidate, new TextEncoder().encode(candidate))
    this.votedTerm = term
    this.votedFor = candidate
  }

  // ---------------------------------------------------------------- the log

  private cachedEntry(index: number): LogEntry | undefined {
    if (index < this.cacheFirst) return undefined
    return this.cache[index - this.cacheFirst]
  }

  private appendToCache(entries: LogEntry[]): void {
    if (entries.length === 0) return
    if (this.cache.length === 0 || entries[0]!.index !== this.cacheFirst + this.cache.length) {
      this.cache = []
      this.cacheFirst = entries[0]!.index
    }
    for (const e of entries) this.cache.push(e)
    // Trimmed back to the bound once it is twice over: one shift of the array per
    // MAX_CACHED_ENTRIES appended, not one per batch (a busy peer's 8,192-entry memmove
    // after every append was 1 % of its CPU).
    if (this.cache.length >= 2 * MAX_CACHED_ENTRIES) {
      const excess = this.cache.length - MAX_CACHED_ENTRIES
      this.cache.splice(0, excess)
      this.cacheFirst += excess
    }
  }

  /** Drops cached entries from `index` on. */
  private truncateCache(index: number): void {
    if (index <= this.cacheFirst) {
      this.cache = []
      this.cacheFirst = index
    } else {
      this.cache.length = Math.min(this.cache.length, index - this.cacheFirst)
    }
  }

  /** The term of the entry at `index`, or undefined when it is compacted away or absent. */
  private async termAt(index: number): Promise<number | undefined> {
    if (index === 0) return 0
    if (index === this.snapshotIndex) return this.snapshotTerm
    if (index > this.lastLogIndex) return undefined
    const cached = this.cachedEntry(index)
    if (cached) return cached.term
    if (index < this.snapshotIndex && index < this.firstLogIndex) return undefined
    const e = await this.logStore.getLog(index)
    return e?.term
  }

  /** Entries `from..to` (inclusive); fewer when some are no longer in the log. */
  private async readEntries(from: number, to: number): Promise<LogEntry[]> {
    if (to < from) return []
    if (from >= this.cacheFirst && to < this.cacheFirst + this.cache.length) {
      return this.cache.slice(from - this.cacheFirst, to - this.cacheFirst + 1)
    }
    const stored = await readLogs(this.logStore, from, Math.min(to, this.cacheFirst - 1))
    if (stored.length < Math.min(to, this.cacheFirst - 1) - from + 1) return stored
    const rest = to >= this.cacheFirst ? this.cache.slice(0, to - this.cacheFirst + 1) : []
    return stored.concat(rest)
  }

  /** The first index of the run of entries of `term` that ends at `index` (terms never decrease). */
  private async firstIndexOfTerm(term: number, index: number): Promise<number> {
    let lo = Math.max(this.snapshotIndex + 1, this.firstLogIndex, 1)
    let hi = index
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2)
      const t = await this.termAt(mid)
      if (t !== undefined && t >= term) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  /** The last index at or below `index` whose term is `term`, or 0 when there is none. */
  private async lastIndexOfTerm(term: number, index: number): Promise<number> {
    let lo = Math.max(this.snapshotIndex, this.firstLogIndex - 1, 0)
    let hi = Math.min(index, this.lastLogIndex)
    // Find the largest i in [lo, hi] with termAt(i) <= term.
    const tLo = await this.termAt(lo)
    if (tLo === undefined || tLo > term) return 0
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2)
      const t = await this.termAt(mid)
      if (t !== undefined && t <= term) lo = mid
      else hi = mid - 1
    }
    return (await this.termAt(lo)) === term ? lo : 0
  }

  private noteConfigurationEntries(entries: LogEntry[]): void {
    for (const e of entries) {
      if (e.type === LogType.Configuration) {
        const config = decodeConfiguration(e.data)
        this.configLog.push({ index: e.index, config })
        this.latestConfig = config
        this.latestConfigIndex = e.index
      }
    }
  }

  /** After the log lost its entries from `fromIndex` on: the latest configuration is the last one left. */
  private rollbackConfiguration(fromIndex: number): void {
    this.configLog = this.configLog.filter((c) => c.index < fromIndex)
    const last = this.configLog[this.configLog.length - 1]
    this.latestConfig = cloneConfiguration(last?.config ?? this.baseConfig)
    this.latestConfigIndex = last?.index ?? this.baseConfigIndex
  }

  /** Makes `base` (a snapshot's configuration) the floor, keeping log entries after `afterIndex`. */
  private rebaseConfiguration(base: Configuration, baseIndex: number, afterIndex: number): void {
    this.baseConfig = cloneConfiguration(base)
    this.baseConfigIndex = baseIndex
    this.configLog = this.configLog.filter((c) => c.index > afterIndex)
    this.rollbackConfiguration(Number.POSITIVE_INFINITY)
    this.updateCommittedConfiguration()
  }

  /** The committed configuration: the last one at or below commitIndex. */
  private updateCommittedConfiguration(): void {
    let committed: { index: number; config: Configuration } = {
      index: this.baseConfigIndex,
      config: this.baseConfig,
    }
    for (const c of this.configLog) if (c.index <= this.commitIndex) committed = c
    if (committed.index !== this.committedConfigIndex || this.committedConfig.servers.length === 0) {
      this.committedConfig = cloneConfiguration(committed.config)
      this.committedConfigIndex = committed.index
    }
  }

  // ---------------------------------------------------------------- roles

  private setState(state: RaftState): void {
    if (this.raftState === state || this.isShutdown()) return
    this.raftState = state
    this.emit('state', state)
  }

  private setLeader(leader: Peer | null): void {
    if (this.isShutdown()) return
    const before = this.leaderPeer
    if (before?.id === leader?.id && before?.address === leader?.address) return
    this.leaderPeer = leader ? { id: leader.id, address: leader.address } : null
    this.emit('leader', this.leader())
  }

  private electionTimeoutMs(): number {
    return this.config.electionTimeoutMs + this.rng.int(this.config.electionTimeoutMs)
  }

  private resetElectionTimer(): void {
    this.clock.clearTimeout(this.electionTimer)
    if (this.isShutdown() || this.raftState === 'leader') {
      this.electionTimer = null
      return
    }
    this.electionTimer = this.clock.setTimeout(() => {
      this.electionTimer = null
      this.background('election timeout', () => this.onElectionTimeout())
    }, this.electionTimeoutMs())
  }

  /** A leader's lease, or a follower's belief in its leader, is fresh: refuse to vote. */
  private inLease(): boolean {
    if (this.raftState === 'leader') return true
    if (this.raftState !== 'follower' || !this.leaderPeer || this.lastLeaderContactMs === null) return false
    return this.clock.now() - this.lastLeaderContactMs < this.config.electionTimeoutMs
  }

  private async onElectionTimeout(): Promise<void> {
    if (this.raftState === 'leader' || this.raftState === 'shutdown') return
    if (!isVoter(this.latestConfig, this.id)) {
      // Non-voters and servers not (yet) in the configuration never campaign.
      this.resetElectionTimer()
      return
    }
    this.log.debug({ term: this.currentTerm }, 'election timeout')
    if (this.config.preVote) this.startPreVote()
    else await this.startElection(false)
  }

  private lastLogInfo(): { lastLogIndex: number; lastLogTerm: number } {
    return { lastLogIndex: this.lastLogIndex, lastLogTerm: this.lastLogTerm }
  }

  private startPreVote(): void {
    this.setState('candidate')
    this.setLeader(null)
    const round: ElectionRound = { term: this.currentTerm + 1, preVote: true, granted: new Set([this.id]) }
    this.election = round
    this.resetElectionTimer()
    this.sendVoteRequests(round, false)
  }

  private async startElection(leadershipTransfer: boolean): Promise<void> {
    const term = this.currentTerm + 1
    await this.setTerm(term)
    await this.persistVote(term, this.id)
    this.setState('candidate')
    this.setLeader(null)
    const round: ElectionRound = { term, preVote: false, granted: new Set([this.id]) }
    this.election = round
    this.resetElectionTimer()
    this.log.debug({ term, leadershipTransfer }, 'election started')
    this.sendVoteRequests(round, leadershipTransfer)
  }

  private sendVoteRequests(round: ElectionRound, leadershipTransfer: boolean): void {
    if (this.checkElectionWon(round)) return
    const req: Omit<RequestVoteRequest, 'term'> = {
      from: { id: this.id, address: this.address },
      ...this.lastLogInfo(),
      preVote: round.preVote,
      leadershipTransfer,
    }
    for (const server of voters(this.latestConfig)) {
      if (server.id === this.id) continue
      this.transport
        .requestVote(server, { ...req, term: round.term }, { timeoutMs: this.config.rpcTimeoutMs })
        .then(
          (resp) => this.background('vote answer', () => this.handleVoteResponse(round, server.id, resp)),
          () => {
            // An unanswered vote counts as a no; the election timer retries.
          },
        )
    }
  }

  private checkElectionWon(round: ElectionRound): boolean {
    if (round.granted.size < quorumSize(this.latestConfig)) return false
    if (round.preVote) {
      this.election = null
      const term = this.currentTerm
      this.background('election', async () => {
        // A leader may have been heard from since the pre-vote was won: then stand down.
        if (this.raftState !== 'candidate' || this.currentTerm !== term || this.election !== null) return
        await this.startElection(false)
      })
    } else {
      this.becomeLeader()
    }
    return true
  }

  private async handleVoteResponse(
    round: ElectionRound,
    from: ServerId,
    resp: RequestVoteResponse,
  ): Promise<void> {
    if (this.election !== round || this.raftState !== 'candidate') return
    if (resp.term > this.currentTerm && !resp.granted) {
      this.election = null
      await this.setTerm(resp.term)
      this.becomeFollower(null)
      return
    }
    if (!round.preVote && resp.term !== round.term) return
    if (resp.granted) {
      round.granted.add(from)
      this.checkElectionWon(round)
    }
  }

  private becomeFollower(leader: Peer | null): void {
    if (this.isShutdown()) return
    const wasLeader = this.raftState === 'leader'
    this.election = null
    if (wasLeader) this.stopLeading()
    this.setState('follower')
    this.setLeader(leader)
    this.resetElectionTimer()
  }

  /** Steps down to follower, adopting `term` when it is newer. */
  private async stepDown(term: number, leader: Peer | null = null): Promise<void> {
    if (term > this.currentTerm) await this.setTerm(term)
    this.becomeFollower(leader)
  }

  private becomeLeader(): void {
    this.election = null
    this.clock.clearTimeout(this.electionTimer)
    this.electionTimer = null
    // Leader state first: observers of the 'state' event may call verifyLeader at once.
    const now = this.clock.now()
    this.followers.clear()
    this.selfPersistedIndex = this.lastLogIndex
    this.termStartIndex = this.lastLogIndex + 1
    this.syncFollowers(now)
    this.setState('leader')
    this.setLeader({ id: this.id, address: this.address })
    this.log.info({ term: this.currentTerm, lastIndex: this.lastLogIndex }, 'became leader')
    // A no-op of our own term lets us commit what earlier terms left (§5.4.2).
    this.pending.unshift(this.newFuture(LogType.Noop, new Uint8Array(0), null))
    this.scheduleDispatch()
    this.scheduleHeartbeat()
    this.scheduleLeaseCheck()
  }

  /** Starts replicating to servers new in the latest configuration; forgets removed ones. */
  private syncFollowers(now = this.clock.now()): void {
    const ids = new Set(this.latestConfig.servers.map((s) => s.id))
    for (const id of [...this.followers.keys()]) if (!ids.has(id)) this.followers.delete(id)
    for (const s of this.latestConfig.servers) {
      if (s.id === this.id) continue
      const existing = this.followers.get(s.id)
      if (existing) {
        existing.peer = { id: s.id, address: s.address }
        continue
      }
      this.followers.set(s.id, {
        peer: { id: s.id, address: s.address },
        progress: newProgress(this.lastLogIndex),
        inflight: new Set(),
        lastContactMs: now,
        lastSentMs: 0,
        ackSeq: 0,
        sending: false,
        pumpAgain: false,
        wantHeartbeat: true,
        backoffUntilMs: 0,
        snapshotRetryAtMs: 0,
        sentCommit: 0,
        commitWanted: 0,
      })
    }
  }

  private stopLeading(): void {
    this.clock.clearTimeout(this.heartbeatTimer)
    this.clock.clearTimeout(this.leaseTimer)
    this.heartbeatTimer = this.leaseTimer = null
    this.followers.clear()
    const leader = this.leaderPeer?.id !== this.id ? this.leaderPeer : null
    this.failLeaderWork(
      () => new LeadershipLostError(),
      () => new NotLeaderError(leader),
    )
    if (this.transfer) {
      // Leadership moved on: that is what the transfer wanted.
      const t = this.transfer
      this.transfer = null
      this.clock.clearTimeout(t.timer)
      t.resolve()
    }
  }

  /** Rejects everything that waited on this server being leader. */
  private failLeaderWork(inflightError: () => Error, pendingError: () => Error): void {
    for (const f of this.inflightFutures.values()) this.settle(f, inflightError())
    this.inflightFutures.clear()
    for (const f of this.pending) this.settle(f, pendingError())
    this.pending = []
    for (const w of this.verifyWaiters) {
      this.clock.clearTimeout(w.timer)
      w.reject(pendingError())
    }
    this.verifyWaiters = []
    for (const w of this.configWaiters) w.reject(pendingError())
    this.configWaiters = []
    if (this.transfer && this.raftState === 'shutdown') {
      this.clock.clearTimeout(this.transfer.timer)
      this.transfer.reject(new ShutdownError())
      this.transfer = null
    }
  }

  /** Read through a method so TypeScript does not narrow it across awaits. */
  private isShutdown(): boolean {
    return this.raftState === 'shutdown'
  }

  private requireLeader(): void {
    if (this.raftState === 'shutdown') throw new ShutdownError()
    if (this.raftState !== 'leader') throw new NotLeaderError(this.leaderPeer)
  }

  // ---------------------------------------------------------------- proposals (leader)

  private newFuture(kind: FutureKind, data: Uint8Array, timeoutMs: number | null): ApplyFuture {
    let resolve!: (r: ApplyResult) => void
    let reject!: (e: Error) => void
    const promise = new Promise<ApplyResult>((res, rej) => {
      resolve = res
      reject = rej
    })
    const future: ApplyFuture = {
      kind,
      data,
      index: 0,
      term: 0,
      settled: false,
      timer: null,
      resolve,
      reject,
    }
    ;(future as ApplyFuture & { promise: Promise<ApplyResult> }).promise = promise
    // Internal futures (the leader's no-op) have nobody waiting: keep their rejection quiet.
    promise.catch(() => {})
    if (timeoutMs !== null) {
      future.timer = this.clock.setTimeout(() => {
        this.settle(future, new TimeoutError('apply', timeoutMs))
      }, timeoutMs)
    }
    return future
  }

  private settle(future: ApplyFuture, result: Error | ApplyResult): void {
    if (future.settled) return
    future.settled = true
    this.clock.clearTimeout(future.timer)
    if (result instanceof Error) future.reject(result)
    else future.resolve(result)
  }

  private propose(kind: FutureKind, data: Uint8Array, timeoutMs: number): Promise<ApplyResult> {
    if (this.raftState === 'shutdown') return Promise.reject(new ShutdownError())
    if (this.raftState !== 'leader') return Promise.reject(new NotLeaderError(this.leaderPeer))
    if (this.transfer) return Promise.reject(new LeadershipTransferInProgressError())
    if (this.pending.length >= this.config.maxPendingApplies) {
      return Promise.reject(new OverloadedError('apply', this.config.maxPendingApplies))
    }
    const future = this.newFuture(kind, data, timeoutMs)
    this.pending.push(future)
    this.scheduleDispatch()
    return (future as ApplyFuture & { promise: Promise<ApplyResult> }).promise
  }

  private scheduleDispatch(): void {
    if (this.dispatchQueued) return
    this.dispatchQueued = true
    this.background('dispatch', () => this.dispatch())
  }

  /** Appends a batch of proposals to the log: one disk write for the whole batch. */
  private async dispatch(): Promise<void> {
    this.dispatchQueued = false
    if (this.raftState !== 'leader') return
    const batch: ApplyFuture[] = []
    while (this.pending.length > 0 && batch.length < this.config.maxApplyBatch) {
      const f = this.pending.shift()!
      // A proposal that timed out before it reached the log is dropped: it never happened.
      if (!f.settled || f.kind === LogType.Noop) batch.push(f)
    }
    if (batch.length === 0) return
    const term = this.currentTerm
    const now = this.clock.now()
    const entries: LogEntry[] = batch.map((f, i) => {
      f.index = this.lastLogIndex + 1 + i
      f.term = term
      this.inflightFutures.set(f.index, f)
      return { index: f.index, term, type: f.kind, data: f.data, appendedAtMs: now }
    })
    this.appendToCache(entries)
    this.lastLogIndex = entries[entries.length - 1]!.index
    this.lastLogTerm = term
    const configChanged = entries.some((e) => e.type === LogType.Configuration)
    if (configChanged) {
      this.noteConfigurationEntries(entries)
      this.syncFollowers()
    }
    // Followers get the entries while we write them ourselves.
    const sending = [...this.followers.values()].map((f) => this.pump(f))
    if (this.firstLogIndex === 0) this.firstLogIndex = entries[0]!.index
    try {
      if (this.beforeLeaderWrite) {
        await Promise.all(sending)
        await this.beforeLeaderWrite()
      }
      this.assertRunning()
      // One entry is an idle leader: written in place, the quickest. More are a busy one,
      // whose thread is worth more than the hand-off to a thread pool and back.
      await this.logStore.storeLogs(entries, { offThread: entries.length > 1 })
    } catch (err) {
      if (this.isShutdown()) return
      // Forget the entries we failed to keep, so that we never acknowledge them to the next
      // leader as if they were on disk.
      this.log.error({ err }, 'failed to append to the log; stepping down')
      this.truncateCache(entries[0]!.index)
      this.lastLogIndex = entries[0]!.index - 1
      this.lastLogTerm = (await this.termAt(this.lastLogIndex)) ?? 0
      this.rollbackConfiguration(entries[0]!.index)
      if (this.raftState === 'leader' && this.currentTerm === term) this.becomeFollower(null)
      return
    }
    if (this.raftState !== 'leader' || this.currentTerm !== term) return
    this.selfPersistedIndex = Math.max(this.selfPersistedIndex, this.lastLogIndex)
    this.maybeCommit()
    if (this.pending.length > 0) this.scheduleDispatch()
  }

  // ---------------------------------------------------------------- replication (leader)

  private scheduleHeartbeat(): void {
    this.heartbeatTimer = this.clock.setTimeout(() => {
      this.heartbeatTimer = null
      if (this.raftState !== 'leader') return
      const now = this.clock.now()
      for (const f of this.followers.values()) {
        if (now - f.lastSentMs >= this.config.heartbeatIntervalMs) {
          f.wantHeartbeat = true
          // A probe that got no answer for a heartbeat interval is presumed lost.
          if (f.progress.mode === 'probe' && f.inflight.size > 0) {
            f.inflight.clear()
            f.progress.inflight = 0
          }
          void this.pump(f)
        } else if (f.sentCommit < this.commitIndex) {
          // Commit-only appends go only to followers that wait for the news (see pumpOnce):
          // the others hear the latest commit index within one interval all the same.
          f.commitWanted = Math.max(f.commitWanted, this.commitIndex)
          void this.pump(f)
        }
      }
      this.checkTransfer()
      this.scheduleHeartbeat()
    }, this.config.heartbeatIntervalMs)
  }

  private scheduleLeaseCheck(): void {
    const term = this.currentTerm
    this.leaseTimer = this.clock.setTimeout(() => {
      this.leaseTimer = null
      this.background('lease check', async () => {
        // A check armed in an earlier term must not start a second chain of checks.
        if (this.raftState !== 'leader' || this.currentTerm !== term) return
        const now = this.clock.now()
        let contacts = isVoter(this.latestConfig, this.id) ? 1 : 0
        for (const f of this.followers.values()) {
          if (
            isVoter(this.latestConfig, f.peer.id) &&
            now - f.lastContactMs <= this.config.leaderLeaseTimeoutMs
          ) {
            contacts++
          }
        }
        if (contacts < quorumSize(this.latestConfig)) {
          this.log.warn({ contacts, term: this.currentTerm }, 'lost contact with a quorum; stepping down')
          this.becomeFollower(null)
          return
        }
        this.scheduleLeaseCheck()
      })
    }, this.config.leaderLeaseTimeoutMs)
  }

  /** Sends what `f` needs, as far as its progress allows. Never runs twice at once per follower. */
  private async pump(f: FollowerState): Promise<void> {
    if (f.sending) {
      f.pumpAgain = true
      return
    }
    f.sending = true
    try {
      await this.pumpOnce(f)
    } catch (err) {
      this.log.error({ err, follower: f.peer.id }, 'replication failed')
    } finally {
      f.sending = false
    }
    if (f.pumpAgain && this.raftState === 'leader' && this.followers.get(f.peer.id) === f) {
      f.pumpAgain = false
      void this.pump(f)
    }
  }

  private async pumpOnce(f: FollowerState): Promise<void> {
    const term = this.currentTerm
    while (this.raftState === 'leader' && this.currentTerm === term && this.followers.get(f.peer.id) === f) {
      f.pumpAgain = false
      const p = f.progress
      p.inflight = f.inflight.size
      if (!canSend(p, this.config.maxInflightAppends)) return
      const hasEntries = p.nextIndex <= this.lastLogIndex
      // A new commit index travels with the next append or heartbeat (every append carries
      // it), except to a follower that waits for it (`expediteCommit`): that one gets an append
      // now — unless one is in flight already, whose answer pumps again and sends the news
      // then, usually with the next entries. A commit-only append is a message and an answer
      // on the wire for each follower; most followers have no use for it before the next one.
      const commitNews =
        f.sentCommit < Math.min(this.commitIndex, f.commitWanted) &&
        p.matchIndex >= f.sentCommit &&
        f.inflight.size === 0
      if (!hasEntries && !f.wantHeartbeat && !commitNews) return
      if (this.clock.now() < f.backoffUntilMs && !f.wantHeartbeat) return
      const prevIndex = p.nextIndex - 1
      const prevTerm = await this.termAt(prevIndex)
      if (prevTerm === undefined) {
        // A failed snapshot is retried after its back-off, heartbeat or not.
        if (this.clock.now() >= f.snapshotRetryAtMs) this.startSnapshotSend(f, term)
        return
      }
      const last = Math.min(this.lastLogIndex, prevIndex + this.config.maxAppendEntries)
      const entries = await this.readEntries(prevIndex + 1, last)
      if (entries.length < last - prevIndex) {
        // Compacted while we read: the follower needs a snapshot.
        if (this.raftState === 'leader' && this.currentTerm === term) this.startSnapshotSend(f, term)
        return
      }
      if (this.raftState !== 'leader' || this.currentTerm !== term || this.followers.get(f.peer.id) !== f)
        return
      if (p.nextIndex - 1 !== prevIndex || !canSend(p, this.config.maxInflightAppends)) continue
      const seq = ++this.sendSeq
      f.inflight.add(seq)
      p.inflight = f.inflight.size
      if (p.mode === 'replicate') p.nextIndex = last + 1
      f.lastSentMs = this.clock.now()
      f.sentCommit = this.commitIndex
      f.wantHeartbeat = false
      const req: AppendEntriesRequest = {
        from: { id: this.id, address: this.address },
        term,
        prevLogIndex: prevIndex,
        prevLogTerm: prevTerm,
        entries,
        leaderCommit: this.commitIndex,
      }
      this.transport.appendEntries(f.peer, req, { timeoutMs: this.config.rpcTimeoutMs }).then(
        (resp) => this.background('append answer', () => this.handleAppendResponse(f, term, req, seq, resp)),
        () => this.background('append failure', () => this.handleAppendFailure(f, term, seq)),
      )
    }
  }

  private async handleAppendResponse(
    f: FollowerState,
    term: number,
    req: AppendEntriesRequest,
    seq: number,
    resp: AppendEntriesResponse,
  ): Promise<void> {
    f.inflight.delete(seq)
    f.progress.inflight = f.inflight.size
    if (this.raftState !== 'leader' || this.currentTerm !== term || this.followers.get(f.peer.id) !== f)
      return
    if (resp.term > this.currentTerm) {
      this.log.info({ follower: f.peer.id, term: resp.term }, 'a follower has a newer term; stepping down')
      await this.stepDown(resp.term)
      return
    }
    f.lastContactMs = this.clock.now()
    f.backoffUntilMs = 0
    if (seq > f.ackSeq) f.ackSeq = seq
    this.checkVerifyWaiters()
    if (resp.success) {
      if (onAppendSuccess(f.progress, req.prevLogIndex + req.entries.length)) {
        this.maybeCommit()
        this.checkTransfer()
      }
    } else {
      let hint: number
      if (resp.conflictTerm !== undefined && resp.conflictTerm > 0) {
        const last = await this.lastIndexOfTerm(resp.conflictTerm, req.prevLogIndex)
        hint = last > 0 ? last + 1 : (resp.conflictIndex ?? req.prevLogIndex)
      } else {
        hint = resp.conflictIndex ?? resp.lastLogIndex + 1
      }
      if (this.raftState !== 'leader' || this.currentTerm !== term) return
      onAppendRejected(f.progress, req.prevLogIndex, hint)
    }
    void this.pump(f)
  }

  private handleAppendFailure(f: FollowerState, term: number, seq: number): void {
    const wasInflight = f.inflight.delete(seq)
    f.progress.inflight = f.inflight.size
    if (!wasInflight || this.raftState !== 'leader' || this.currentTerm !== term) return
    onSendFailed(f.progress)
    // Wait for the next heartbeat rather than retrying in a tight loop.
    f.backoffUntilMs = this.clock.now() + this.config.heartbeatIntervalMs
  }

  private maybeCommit(): void {
    const match = new Map<ServerId, number>()
    match.set(this.id, this.selfPersistedIndex)
    for (const f of this.followers.values()) match.set(f.peer.id, f.progress.matchIndex)
    const next = advanceCommitIndex(this.latestConfig, match, this.commitIndex, this.termStartIndex)
    if (next <= this.commitIndex) return
    this.commitIndex = next
    this.noteCommitted()
    for (const f of this.followers.values()) void this.pump(f)
  }

  /**
   * A leader whose removal has been applied steps down (after the applier answered the
   * change's caller, so that the caller learns it committed).
   */
  private maybeStepDownRemoved(appliedConfigIndex: number): void {
    if (this.raftState !== 'leader' || hasServer(this.appliedConfig, this.id)) return
    if (appliedConfigIndex !== this.latestConfigIndex) return
    this.background('removed leader step-down', () => {
      if (this.raftState !== 'leader' || hasServer(this.latestConfig, this.id)) return
      this.log.info('removed from the configuration; stepping down')
      this.becomeFollower(null)
    })
  }

  /** After commitIndex moved: commit the configuration, wake the FSM. */
  private noteCommitted(): void {
    this.updateCommittedConfiguration()
    this.checkConfigWaiters()
    this.checkVerifyWaiters()
    this.kickApplier()
  }

  /** A membership change may start once the last one committed and our term has committed an entry. */
  private configurationStable(): boolean {
    return this.committedConfigIndex >= this.latestConfigIndex && this.commitIndex >= this.termStartIndex
  }

  private checkConfigWaiters(): void {
    if (this.configWaiters.length === 0 || !this.configurationStable()) return
    const waiters = this.configWaiters
    this.configWaiters = []
    for (const w of waiters) w.resolve()
  }

  private checkVerifyWaiters(): void {
    if (this.verifyWaiters.length === 0) return
    const needed = quorumSize(this.latestConfig)
    const selfVotes = isVoter(this.latestConfig, this.id) ? 1 : 0
    this.verifyWaiters = this.verifyWaiters.filter((w) => {
      if (w.term !== this.currentTerm) return true
      if (!w.confirmed) {
        let acks = selfVotes
        for (const f of this.followers.values()) {
          if (isVoter(this.latestConfig, f.peer.id) && f.ackSeq > w.seq) acks++
        }
        w.confirmed = acks >= needed
      }
      if (!w.confirmed || this.lastApplied < w.readIndex) return true
      this.clock.clearTimeout(w.timer)
      w.resolve()
      return false
    })
  }

  private checkTransfer(): void {
    const t = this.transfer
    if (!t || t.timeoutNowSent || this.raftState !== 'leader') return
    const f = this.followers.get(t.target.id)
    if (!f || f.progress.matchIndex < this.lastLogIndex) return
    t.timeoutNowSent = true
    const req: TimeoutNowRequest = { from: { id: this.id, address: this.address }, term: this.currentTerm }
    this.transport.timeoutNow(f.peer, req, { timeoutMs: this.config.rpcTimeoutMs }).then(
      (resp) => {
        if (resp.term > this.currentTerm)
          this.background('timeout-now answer', () => this.stepDown(resp.term))
      },
      () => {
        // Lost: try again on the next heartbeat, until the transfer times out.
        if (this.transfer === t) t.timeoutNowSent = false
      },
    )
  }

  // ---------------------------------------------------------------- snapshots to followers

  private startSnapshotSend(f: FollowerState, term: number): void {
    if (f.progress.mode === 'snapshot') return
    f.progress.mode = 'snapshot'
    void this.sendSnapshot(f, term)
  }

  private async sendSnapshot(f: FollowerState, term: number): Promise<void> {
    const stillLeading = () =>
      this.raftState === 'leader' && this.currentTerm === term && this.followers.get(f.peer.id) === f
    try {
      const [latest] = await this.snapshotStore.list()
      if (!latest) throw new Error('no snapshot to send')
      const open = await this.snapshotStore.open(latest.id)
      const meta = open.meta
      const chunkBytes = this.config.snapshotChunkBytes
      let offset = 0
      let buffered: Uint8Array[] = []
      let bufferedBytes = 0
      const send = async (data: Uint8Array, done: boolean): Promise<void> => {
        if (!stillLeading()) throw new LeadershipLostError()
        const req: InstallSnapshotRequest = {
          from: { id: this.id, address: this.address },
          term,
          snapshotId: meta.id,
          lastIndex: meta.index,
          lastTerm: meta.term,
          configuration: meta.configuration,
          configurationIndex: meta.configurationIndex,
          size: meta.size,
          offset,
          data,
          done,
        }
        const resp = await this.transport.installSnapshot(f.peer, req, {
          timeoutMs: this.config.installSnapshotTimeoutMs,
        })
        if (resp.term > term) {
          this.background('snapshot answer', async () => {
            if (resp.term > this.currentTerm) await this.stepDown(resp.term)
          })
          throw new LeadershipLostError()
        }
        if (!resp.success) throw new Error(`follower refused snapshot chunk at offset ${offset}`)
        f.lastContactMs = this.clock.now()
        offset += data.length
      }
      const take = (): Uint8Array => {
        const all = concatBytes(buffered, bufferedBytes)
        const chunk = all.subarray(0, chunkBytes)
        const rest = all.subarray(chunkBytes)
        buffered = rest.length > 0 ? [rest] : []
        bufferedBytes = rest.length
        return chunk
      }
      for await (const piece of open.data) {
        buffered.push(piece)
        bufferedBytes += piece.length
        while (bufferedBytes > chunkBytes) await send(take(), false)
      }
      await send(take(), true)
      this.background('snapshot sent', () => {
        if (!stillLeading()) return
        f.lastContactMs = this.clock.now()
        f.progress.mode = 'probe'
        f.progress.matchIndex = Math.max(f.progress.matchIndex, meta.index)
        f.progress.nextIndex = f.progress.matchIndex + 1
        this.log.info({ follower: f.peer.id, index: meta.index }, 'snapshot installed on follower')
        this.maybeCommit()
        void this.pump(f)
      })
    } catch (err) {
      if ((err as Error).name !== 'LeadershipLostError') {
        this.log.warn({ err, follower: f.peer.id }, 'sending snapshot failed; will retry')
      }
      this.background('snapshot failure', () => {
        if (!stillLeading()) return
        f.progress.mode = 'probe'
        f.snapshotRetryAtMs = this.clock.now() + this.config.heartbeatIntervalMs * 4
      })
    }
  }

  // ---------------------------------------------------------------- RPC handlers

  /**
   * Queues an AppendEntries request; the requests that arrive in one turn of the event loop
   * are handled together, those that continue each other with one write and sync
   * (append-merge.ts).
   */
  private receiveAppend(req: AppendEntriesRequest): Promise<AppendEntriesResponse> {
    const answered = new Promise<AppendEntriesResponse>((resolve, reject) => {
      this.appendsWaiting.push({ req, resolve, reject })
    })
    if (!this.appendDrainQueued) {
      this.appendDrainQueued = true
      queueMicrotask(() => {
        this.locked(() => this.drainAppends()).catch((err: unknown) => {
          // Never ran (shut down): nobody will answer the waiting requests.
          this.appendDrainQueued = false
          for (const w of this.appendsWaiting.splice(0)) w.reject(err)
        })
      })
    }
    return answered
  }

  private async drainAppends(): Promise<void> {
    this.appendDrainQueued = false
    const waiting = this.appendsWaiting.splice(0)
    let groups: AppendGroup[]
    try {
      groups = groupAppends(waiting.map((w) => w.req))
    } catch (err) {
      for (const w of waiting) w.reject(err)
      return
    }
    for (const group of groups) {
      const members = waiting.slice(group.from, group.to)
      try {
        // A server shut down (before or meanwhile) never answers.
        if (this.isShutdown()) throw new ShutdownError()
        const resp = await this.handleAppendEntries(group.request)
        if (this.isShutdown()) throw new ShutdownError()
        for (const m of members) m.resolve(resp)
      } catch (err) {
        for (const m of members) m.reject(err)
      }
    }
  }

  private async handleAppendEntries(req: AppendEntriesRequest): Promise<AppendEntriesResponse> {
    const fail = (extra: Partial<AppendEntriesResponse> = {}): AppendEntriesResponse => ({
      term: this.currentTerm,
      success: false,
      lastLogIndex: this.lastLogIndex,
      ...extra,
    })
    if (req.term < this.currentTerm) return fail()
    if (req.term > this.currentTerm) await this.setTerm(req.term)
    if (this.raftState !== 'follower') this.becomeFollower(req.from)
    this.setLeader(req.from)
    this.lastLeaderContactMs = this.clock.now()
    this.resetElectionTimer()

    if (req.prevLogIndex > this.lastLogIndex) {
      return fail({ conflictIndex: this.lastLogIndex + 1, conflictTerm: 0 })
    }
    if (req.prevLogIndex > this.snapshotIndex) {
      const prevTerm = await this.termAt(req.prevLogIndex)
      if (prevTerm !== req.prevLogTerm) {
        if (prevTerm === undefined) return fail({ conflictIndex: this.snapshotIndex + 1, conflictTerm: 0 })
        const conflictIndex = await this.firstIndexOfTerm(prevTerm, req.prevLogIndex)
        return fail({ conflictTerm: prevTerm, conflictIndex })
      }
    }
    // Entries at or below our snapshot are committed, hence identical: skip them.
    let newEntries: LogEntry[] = []
    for (let i = 0; i < req.entries.length; i++) {
      const e = req.entries[i]!
      if (e.index <= this.snapshotIndex) continue
      if (e.index > this.lastLogIndex) {
        newEntries = req.entries.slice(i)
        break
      }
      const t = await this.termAt(e.index)
      if (t !== e.term) {
        if (e.index <= this.commitIndex) {
          // Log matching makes this impossible; continuing would lose committed entries.
          throw new Error(`raft: leader ${req.from.id} would overwrite committed entry ${e.index}`)
        }
        this.log.debug({ from: e.index, to: this.lastLogIndex }, 'truncating conflicting entries')
        this.assertRunning()
        await this.logStore.deleteRange(e.index, this.lastLogIndex)
        this.truncateCache(e.index)
        this.lastLogIndex = e.index - 1
        this.lastLogTerm = (await this.termAt(this.lastLogIndex)) ?? 0
        this.rollbackConfiguration(e.index)
        newEntries = req.entries.slice(i)
        break
      }
    }
    if (newEntries.length > 0) {
      this.assertRunning()
      await this.logStore.storeLogs(newEntries)
      if (this.firstLogIndex === 0) this.firstLogIndex = newEntries[0]!.index
      this.appendToCache(newEntries)
      const last = newEntries[newEntries.length - 1]!
      this.lastLogIndex = last.index
      this.lastLogTerm = last.term
      this.noteConfigurationEntries(newEntries)
    }
    if (req.leaderCommit > this.commitIndex) {
      const lastNew = req.prevLogIndex + req.entries.length
      const next = Math.min(req.leaderCommit, lastNew, this.lastLogIndex)
      if (next > this.commitIndex) {
        this.commitIndex = next
        this.noteCommitted()
      }
    }
    return { term: this.currentTerm, success: true, lastLogIndex: this.lastLogIndex }
  }

  private async handleRequestVote(req: RequestVoteRequest): Promise<RequestVoteResponse> {
    const upToDate = candidateLogIsUpToDate(
      req.lastLogTerm,
      req.lastLogIndex,
      this.lastLogTerm,
      this.lastLogIndex,
    )
    const leased = !req.leadershipTransfer && this.inLease()
    if (req.preVote) {
      const granted = req.term > this.currentTerm && upToDate && !leased
      return { term: this.currentTerm, granted }
    }
    if (req.term < this.currentTerm) return { term: this.currentTerm, granted: false }
    // A server that hears from a live leader ignores candidates altogether, term included:
    // this keeps a removed or partitioned server from deposing a healthy leader.
    if (leased) return { term: this.currentTerm, granted: false }
    if (req.term > this.currentTerm) {
      await this.setTerm(req.term)
      this.becomeFollower(null)
    }
    if (this.votedTerm === this.currentTerm && this.votedFor !== null && this.votedFor !== req.from.id) {
      return { term: this.currentTerm, granted: false }
    }
    if (!upToDate) return { term: this.currentTerm, granted: false }
    await this.persistVote(this.currentTerm, req.from.id)
    this.resetElectionTimer()
    return { term: this.currentTerm, granted: true }
  }

  private async handleTimeoutNow(req: TimeoutNowRequest): Promise<TimeoutNowResponse> {
    if (req.term < this.currentTerm) return { term: this.currentTerm }
    if (req.term > this.currentTerm) await this.setTerm(req.term)
    if (this.raftState === 'leader') this.becomeFollower(null)
    if (isVoter(this.latestConfig, this.id)) {
      this.log.info({ from: req.from.id }, 'told to start an election now (leadership transfer)')
      this.background('transfer election', () => this.startElection(true))
    }
    return { term: this.currentTerm }
  }

  private async handleInstallSnapshot(req: InstallSnapshotRequest): Promise<InstallSnapshotResponse> {
    if (req.term < this.currentTerm) return { term: this.currentTerm, success: false, nextOffset: 0 }
    if (req.term > this.currentTerm) await this.setTerm(req.term)
    if (this.raftState !== 'follower') this.becomeFollower(req.from)
    this.setLeader(req.from)
    this.lastLeaderContactMs = this.clock.now()
    this.resetElectionTimer()

    let inc = this.incoming
    if (req.offset === 0) {
      if (inc?.sink) await inc.sink.cancel()
      this.incoming = null
      // A snapshot of what we have committed already (a duplicate, or a retransmission) is
      // acknowledged and dropped: installing it would throw away entries we acknowledged.
      const redundant = req.lastIndex <= this.commitIndex
      this.assertRunning()
      const sink = redundant
        ? null
        : await this.snapshotStore.create({
            index: req.lastIndex,
            term: req.lastTerm,
            configuration: req.configuration,
            configurationIndex: req.configurationIndex,
          })
      inc = { id: req.snapshotId, offset: 0, sink }
      this.incoming = inc
    } else if (!inc || inc.id !== req.snapshotId || inc.offset !== req.offset) {
      const nextOffset = inc && inc.id === req.snapshotId ? inc.offset : 0
      return { term: this.currentTerm, success: false, nextOffset }
    }
    this.assertRunning()
    if (inc.sink) await inc.sink.write(req.data)
    inc.offset += req.data.length
    if (!req.done) return { term: this.currentTerm, success: true, nextOffset: inc.offset }
    this.incoming = null
    if (!inc.sink) return { term: this.currentTerm, success: true, nextOffset: inc.offset }
    this.assertRunning()
    await inc.sink.close()
    if (req.lastIndex > this.commitIndex) await this.installSnapshot(inc.sink.id, req)
    return { term: this.currentTerm, success: true, nextOffset: inc.offset }
  }

  /** Makes a received (and now durable) snapshot this server's state. */
  private async installSnapshot(snapshotId: string, req: InstallSnapshotRequest): Promise<void> {
    // Restore the FSM first: if that fails, nothing else has changed and the leader retries.
    await this.fsmQueue.run(async () => {
      if (req.lastIndex <= this.lastApplied) return
      const open = await this.snapshotStore.open(snapshotId)
      await this.fsm.restore(open.data)
      this.lastApplied = req.lastIndex
      this.appliedConfig = cloneConfiguration(req.configuration)
      this.appliedConfigIndex = req.configurationIndex
      this.notifyApplied()
    })
    this.assertRunning()
    const keepTail = req.lastIndex <= this.lastLogIndex && (await this.termAt(req.lastIndex)) === req.lastTerm
    if (keepTail) {
      // Our log agrees at the snapshot's last entry: keep what follows it (§7).
      const range = this.startCompaction(req.lastIndex, 0)
      if (range) await this.deleteInSlices(range.first, range.cut)
    } else {
      // Our log conflicts with (or falls short of) the snapshot: discard it whole.
      if (this.lastLogIndex >= 1 && this.firstLogIndex > 0) {
        this.assertRunning()
        await this.logStore.deleteRange(this.firstLogIndex, this.lastLogIndex)
      }
      this.cache = []
      this.cacheFirst = req.lastIndex + 1
      this.firstLogIndex = 0
      this.lastLogIndex = req.lastIndex
      this.lastLogTerm = req.lastTerm
    }
    if (req.lastIndex > this.snapshotIndex) {
      this.snapshotIndex = req.lastIndex
      this.snapshotTerm = req.lastTerm
    }
    if (req.lastIndex > this.commitIndex) this.commitIndex = req.lastIndex
    this.rebaseConfiguration(
      req.configuration,
      req.configurationIndex,
      keepTail ? req.lastIndex : Number.POSITIVE_INFINITY,
    )
    this.log.info({ index: req.lastIndex, term: req.lastTerm, keepTail }, 'installed snapshot from leader')
    this.kickApplier()
  }

  // ---------------------------------------------------------------- the FSM

  private kickApplier(): void {
    if (this.applierRunning || this.applierRetry || this.lastApplied >= this.commitIndex || this.isShutdown())
      return
    this.applierRunning = true
    this.fsmQueue
      .run(() => this.runApplier())
      .then(
        (progressed) => {
          this.applierRunning = false
          if (this.lastApplied >= this.commitIndex) return
          if (progressed) this.kickApplier()
          else {
            // The entries are not readable yet (a snapshot install is under way): retry soon,
            // on a timer, never in a tight loop.
            this.applierRetry = this.clock.setTimeout(() => {
              this.applierRetry = null
              this.kickApplier()
            }, 10)
          }
        },
        (err: unknown) => {
          this.applierRunning = false
          if ((err as Error).name === 'ShutdownError') return
          // The FSM failed: every server must apply the same entries, so we cannot skip this
          // one, and retrying would fail the same way. Stop, loudly.
          this.log.error(
            { err, index: this.lastApplied + 1 },
            'the state machine failed to apply an entry; shutting down',
          )
          this.emit('fsm-error', err)
          void this.shutdown()
        },
      )
  }

  /** Applies committed entries; returns whether it made progress. */
  private async runApplier(): Promise<boolean> {
    const startedAt = this.lastApplied
    batches: while (this.lastApplied < this.commitIndex && !this.isShutdown()) {
      const from = this.lastApplied + 1
      const to = Math.min(this.commitIndex, from + APPLY_BATCH_ENTRIES - 1)
      const entries = await this.readEntries(from, to)
      if (entries.length === 0) break
      for (const e of entries) {
        if (e.index !== this.lastApplied + 1 || this.isShutdown()) break batches
        let response: unknown
        if (e.type === LogType.Command) {
          response = this.fsm.apply(e)
          if (isThenable(response)) response = await response
        } else if (e.type === LogType.Configuration) {
          this.appliedConfig = decodeConfiguration(e.data)
          this.appliedConfigIndex = e.index
        }
        this.lastApplied = e.index
        const future = this.inflightFutures.get(e.index)
        if (future) {
          this.inflightFutures.delete(e.index)
          if (future.term === e.term) this.settle(future, { index: e.index, response })
          else this.settle(future, new LeadershipLostError())
        }
        if (e.type === LogType.Configuration) this.maybeStepDownRemoved(e.index)
      }
      this.checkVerifyWaiters()
      if (this.appliedWaiters.size > 0) this.notifyApplied()
    }
    return this.lastApplied > startedAt
  }

  /**
   * Checks for a due snapshot every [interval, 2 × interval), as hashicorp/raft does, not after
   * every applied batch: a snapshot serializes the whole state machine (O(store), on every
   * server), so under a steady write load it runs at most once per interval, and the random
   * stagger keeps the servers of one machine from all doing it at the same moment.
   */
  private scheduleSnapshotCheck(): void {
    const interval = this.config.snapshotIntervalMs
    this.snapshotTimer = this.clock.setTimeout(
      () => {
        this.snapshotTimer = null
        if (this.raftState === 'shutdown') return
        if (this.snapshotDue()) {
          this.snapshot().catch((err: unknown) => {
            if ((err as Error).name !== 'ShutdownError') this.log.warn({ err }, 'automatic snapshot failed')
          })
        }
        this.scheduleSnapshotCheck()
      },
      interval + this.rng.int(Math.max(1, interval)),
    )
  }

  private async takeSnapshot(): Promise<SnapshotMeta> {
    const captured = await this.fsmQueue.run(async () => {
      if (this.lastApplied <= this.snapshotIndex) throw new NothingNewToSnapshotError()
      const index = this.lastApplied
      const term = await this.termAt(index)
      if (term === undefined) throw new Error(`raft: no term for applied index ${index}`)
      return {
        index,
        term,
        configuration: cloneConfiguration(this.appliedConfig),
        configurationIndex: this.appliedConfigIndex,
        fsmSnapshot: await this.fsm.snapshot(),
      }
    })
    let meta: SnapshotMeta
    try {
      const sink = await this.snapshotStore.create({
        index: captured.index,
        term: captured.term,
        configuration: captured.configuration,
        configurationIndex: captured.configurationIndex,
      })
      try {
        await captured.fsmSnapshot.persist(sink)
        await sink.close()
      } catch (err) {
        await sink.cancel()
        throw err
      }
      const found = (await this.snapshotStore.list()).find((m) => m.id === sink.id)
      meta = found ?? {
        id: sink.id,
        index: captured.index,
        term: captured.term,
        configuration: captured.configuration,
        configurationIndex: captured.configurationIndex,
        size: 0,
      }
    } finally {
      captured.fsmSnapshot.release()
    }
    const range = await this.locked(async () => {
      if (captured.index > this.snapshotIndex) {
        this.snapshotIndex = captured.index
        this.snapshotTerm = captured.term
        this.rebaseConfiguration(captured.configuration, captured.configurationIndex, captured.index)
      }
      return this.startCompaction(captured.index, this.config.trailingLogs)
    })
    // The entries are already out of reach (firstLogIndex moved); deleting them can take a
    // while on disk, so it happens off the serial queue, in slices.
    if (range) await this.deleteInSlices(range.first, range.cut)
    this.log.info({ index: captured.index, term: captured.term }, 'snapshot taken')
    return meta
  }

  /**
   * Makes entries up to `index - trailing` unreachable (moves firstLogIndex) and returns the
   * range the caller must delete, or null.
   */
  private startCompaction(index: number, trailing: number): { first: number; cut: number } | null {
    const first = this.firstLogIndex
    const cut = Math.min(index, this.lastLogIndex) - trailing
    if (first === 0 || cut < first) return null
    this.firstLogIndex = cut + 1
    if (this.cacheFirst <= cut) this.truncateCacheFront(cut + 1)
    return { first, cut }
  }

  private async deleteInSlices(first: number, cut: number): Promise<void> {
    const slice = 2048
    for (let from = first; from <= cut; from += slice) {
      if (this.isShutdown()) return
      await this.logStore.deleteRange(from, Math.min(cut, from + slice - 1))
    }
  }

  /** Whether enough was applied since the last snapshot. */
  private snapshotDue(): boolean {
    return this.lastApplied - this.snapshotIndex >= this.config.snapshotThreshold
  }

  private truncateCacheFront(newFirst: number): void {
    const drop = Math.min(this.cache.length, newFirst - this.cacheFirst)
    if (drop > 0) {
      this.cache.splice(0, drop)
      this.cacheFirst += drop
    }
  }

  // ---------------------------------------------------------------- membership

  private changeConfiguration(change: ConfigurationChange, timeoutMs: number): Promise<void> {
    return this.configChanges.run(async () => {
      this.requireLeader()
      if (this.transfer) throw new LeadershipTransferInProgressError()
      await this.waitConfigCommitted(timeoutMs)
      const next = nextConfiguration(this.latestConfig, change)
      await this.propose(LogType.Configuration, encodeConfiguration(next), timeoutMs)
      this.log.info({ change }, 'configuration change committed')
    })
  }

  private waitConfigCommitted(timeoutMs: number): Promise<void> {
    if (this.configurationStable()) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.configWaiters = this.configWaiters.filter((w) => w !== waiter)
        reject(new TimeoutError('waiting for the previous configuration change', timeoutMs))
      }, timeoutMs)
      const waiter = {
        resolve: () => {
          this.clock.clearTimeout(timer)
          resolve()
        },
        reject: (e: Error) => {
          this.clock.clearTimeout(timer)
          reject(e)
        },
      }
      this.configWaiters.push(waiter)
    })
  }

  /** Resolves when the follower `id` is within `nonvoterCatchUpEntries` of our log. */
  private waitCaughtUp(id: ServerId, timeoutMs: number): Promise<void> {
    const deadline = this.clock.now() + timeoutMs
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.raftState !== 'leader') {
          reject(new NotLeaderError(this.leaderPeer))
          return
        }
        const f = this.followers.get(id)
        const floor = this.lastLogIndex - this.config.nonvoterCatchUpEntries
        if (f && f.progress.matchIndex > 0 && f.progress.matchIndex >= floor) {
          resolve()
          return
        }
        if (this.clock.now() >= deadline) {
          reject(new TimeoutError(`waiting for ${id} to catch up`, timeoutMs))
          return
        }
        this.clock.setTimeout(check, this.config.heartbeatIntervalMs)
      }
      check()
    })
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'
}

function concatBytes(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

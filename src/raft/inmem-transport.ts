/**
 * An in-memory network of `Transport`s, for running whole Raft clusters in one process under a
 * deterministic simulation (TigerBeetle's simulator is the model).
 *
 * The network, not the endpoints, owns every fault: links cut by hand (disconnect, isolate,
 * partition) and random drops, delays, reorderings and duplicates. Every random decision is
 * drawn from the one injected `Rng` and every delivery is a timer on the one injected
 * `Clock`, so with a `ManualClock` and a seed a failing run replays exactly. With the default
 * faults (none, zero delay) the network draws nothing from the rng at all.
 *
 *   const clock = new ManualClock()
 *   const net = new InmemNetwork({ clock, rng: new SeededRng(42) })
 *   const a = net.transport('a')
 *   net.transport('b').setHandler(handlerOfB)
 *   net.setFaults({ dropRate: 0.1, minDelayMs: 1, maxDelayMs: 20 })
 *   const answer = a.requestVote({ id: 'b', address: 'b' }, req, { timeoutMs: 100 })
 */

import type { Clock, TimerHandle } from '../util/clock.js'
import type { Rng } from '../util/random.js'
import type { ServerAddress } from './configuration.js'
import {
  type AppendEntriesRequest,
  type AppendEntriesResponse,
  type InstallSnapshotRequest,
  type InstallSnapshotResponse,
  type Peer,
  type RequestVoteRequest,
  type RequestVoteResponse,
  type RpcHandler,
  type RpcOptions,
  type TimeoutNowRequest,
  type TimeoutNowResponse,
  type Transport,
  TransportError,
} from './transport.js'

/** The name of one of the four RPCs, as the network counts and traces them. */
export type RpcKind = keyof RpcHandler

type RequestOf<K extends RpcKind> = Parameters<RpcHandler[K]>[0]
type ResponseOf<K extends RpcKind> = Awaited<ReturnType<RpcHandler[K]>>

const rpcKinds: readonly RpcKind[] = ['appendEntries', 'requestVote', 'installSnapshot', 'timeoutNow']

/**
 * The random faults of an `InmemNetwork`. Each message (a request, a duplicate of it, or a
 * response) gets its own draws.
 */
export interface NetworkFaults {
  /** Probability in [0, 1] that a message is lost; drawn apart for a request and its response. */
  dropRate: number
  /** The least time a message takes to cross a link. */
  minDelayMs: number
  /** The most time a message takes to cross a link (before any reorder delay). */
  maxDelayMs: number
  /**
   * Probability in [0, 1] that a message is held back by an extra 1..`maxReorderDelayMs` so
   * that later messages on its link overtake it. Without it a link is FIFO, like a stream.
   */
  reorderRate: number
  /** The most extra delay a reordered message gets. */
  maxReorderDelayMs: number
  /** Probability in [0, 1] that a request reaches the handler twice (the caller sees one answer). */
  duplicateRate: number
}

/** The faults a new network starts with: none, and messages cross in zero time (still async). */
export function defaultNetworkFaults(): NetworkFaults {
  return {
    dropRate: 0,
    minDelayMs: 0,
    maxDelayMs: 0,
    reorderRate: 0,
    maxReorderDelayMs: 10,
    duplicateRate: 0,
  }
}

/** Throws a `RangeError` naming the field and the value when `faults` is not usable. */
export function validateNetworkFaults(faults: NetworkFaults): void {
  for (const field of ['dropRate', 'reorderRate', 'duplicateRate'] as const) {
    const p = faults[field]
    if (!(p >= 0 && p <= 1)) throw new RangeError(`faults.${field} must be in [0, 1], got ${p}`)
  }
  for (const field of ['minDelayMs', 'maxDelayMs', 'maxReorderDelayMs'] as const) {
    const ms = faults[field]
    if (!(Number.isInteger(ms) && ms >= 0)) {
      throw new RangeError(`faults.${field} must be an integer >= 0, got ${ms}`)
    }
  }
  if (faults.maxDelayMs < faults.minDelayMs) {
    throw new RangeError(
      `faults.maxDelayMs must be >= faults.minDelayMs (${faults.minDelayMs}), got ${faults.maxDelayMs}`,
    )
  }
  if (faults.reorderRate > 0 && faults.maxReorderDelayMs < 1) {
    throw new RangeError(
      `faults.maxReorderDelayMs must be >= 1 when reorderRate > 0, got ${faults.maxReorderDelayMs}`,
    )
  }
}

/** One step in the life of an RPC on an `InmemNetwork`, for traces and replay checks. */
export interface NetworkEvent {
  /** Clock time of the step. */
  atMs: number
  /** Numbers the RPCs of one network in send order, from 1. */
  rpcId: number
  kind: RpcKind
  /** The caller's address and the target's, whichever way the message travels. */
  from: ServerAddress
  to: ServerAddress
  /** Whether the step concerns the request or the response. */
  leg: 'request' | 'response'
  /**
   * `sent`: accepted by the network (and counted). `rejected`: refused at once (`code`).
   * `dropped`: lost to `dropRate`. `lost`: the link was cut, an end closed, or the target had
   * no handler. `delivered`: handed to the handler. `answered`: the caller got the answer (or
   * the remote error). `late`: an answer came after the caller had its outcome.
   * `failed`: the caller got `code` (timeout, unreachable, closed).
   */
  what: 'sent' | 'rejected' | 'dropped' | 'lost' | 'delivered' | 'answered' | 'late' | 'failed'
  /** Set on a delivery of the extra copy of a duplicated request. */
  duplicate?: boolean
  code?: TransportError['code']
}

/** What an `InmemNetwork` is built from: its only sources of time and randomness. */
export interface InmemNetworkComponents {
  clock: Clock
  rng: Rng
}

/** Options of an `InmemNetwork`. */
export interface InmemNetworkInit {
  /**
   * The most unanswered requests from one address to another; past it a request rejects at
   * once with code 'overloaded'. Default 1024.
   */
  maxInflightPerTarget?: number
  /** Starting faults, merged over `defaultNetworkFaults()`. */
  faults?: Partial<NetworkFaults>
  /** Starting value of `setFastFail`. Default false. */
  fastFail?: boolean
  /** Called synchronously at every step of every RPC (see `NetworkEvent`). */
  onEvent?: (event: NetworkEvent) => void
}

/** The part of an endpoint the network keeps; the `InmemTransport` is a thin face on it. */
interface Endpoint {
  readonly address: ServerAddress
  handler: RpcHandler | undefined
  closed: boolean
  /** The RPCs this endpoint sent that have no outcome yet. */
  readonly pending: Set<PendingCall>
}

interface PendingCall {
  readonly id: number
  readonly kind: RpcKind
  readonly from: Endpoint
  readonly to: ServerAddress
  readonly resolve: (response: unknown) => void
  readonly reject: (err: TransportError) => void
  timeoutTimer: TimerHandle | undefined
  settled: boolean
}

/** A message on its way: the timer that delivers it, and who sent it (to cancel on close). */
interface Envelope {
  readonly from: Endpoint
  timer: TimerHandle | undefined
}

/** The answer a handler produced, as it travels back. */
type Outcome = { ok: true; response: unknown } | { ok: false; message: string }

/** What an `InmemTransport` may ask of its network; bound to one endpoint. */
interface Port {
  setHandler(handler: RpcHandler): void
  send<K extends RpcKind>(target: Peer, kind: K, req: RequestOf<K>, opts: RpcOptions): Promise<ResponseOf<K>>
  close(): void
}

/**
 * A simulated network connecting `InmemTransport`s by address, with faults under the test's
 * control. Messages are deep-copied (plain data only, `Uint8Array` stays `Uint8Array`), so
 * sender and receiver never share objects.
 *
 * A message crosses a link only when the link is up both when it is sent and when it arrives:
 * cutting a link loses what is in flight on it. Fault controls compose: a link is up when
 * both ends are open and no `disconnect`, `isolate` or `partition` cuts it; `connect`,
 * `rejoin` and a new `partition` each undo only their own kind, `heal` undoes them all.
 */
export class InmemNetwork {
  private readonly clock: Clock
  private readonly rng: Rng
  private readonly maxInflightPerTarget: number
  private readonly onEvent: ((event: NetworkEvent) => void) | undefined
  private currentFaults: NetworkFaults
  private fastFail: boolean

  /** The open endpoint of each address; a closed one is removed, so its address is unknown. */
  private readonly endpoints = new Map<ServerAddress, Endpoint>()
  private readonly transports = new Map<Endpoint, InmemTransport>()
  /** Links cut by `disconnect`, keyed by `pairKey` (unordered). */
  private readonly cutLinks = new Set<string>()
  private readonly isolated = new Set<ServerAddress>()
  /** The group index of each address under `partition`, or null when not partitioned. */
  private groups: Map<ServerAddress, number> | null = null

  /** Unanswered requests per directed (from, to) pair, for the in-flight bound. */
  private readonly inflight = new Map<string, number>()
  /**
   * The due time of the last in-order message per directed link: a later message never
   * arrives before it, so links are FIFO unless a message is picked for reordering.
   */
  private readonly lastDueMs = new Map<string, number>()
  private readonly envelopes = new Set<Envelope>()
  private nextRpcId = 1
  private counts = zeroCounts()
  private bytes = zeroCounts()

  constructor(components: InmemNetworkComponents, init: InmemNetworkInit = {}) {
    this.clock = components.clock
    this.rng = components.rng
    const maxInflight = init.maxInflightPerTarget ?? 1024
    if (!(Number.isInteger(maxInflight) && maxInflight >= 1)) {
      throw new RangeError(`maxInflightPerTarget must be an integer >= 1, got ${maxInflight}`)
    }
    this.maxInflightPerTarget = maxInflight
    this.currentFaults = { ...defaultNetworkFaults(), ...init.faults }
    validateNetworkFaults(this.currentFaults)
    this.fastFail = init.fastFail ?? false
    this.onEvent = init.onEvent
  }

  /**
   * The endpoint for `address`: the open one if there is one, otherwise a new one (which is
   * how a crashed server restarts at its old address; nothing in flight to or from the old
   * endpoint reaches the new one).
   */
  transport(address: ServerAddress): InmemTransport {
    const existing = this.endpoints.get(address)
    if (existing) return this.transports.get(existing)!
    const ep: Endpoint = { address, handler: undefined, closed: false, pending: new Set() }
    const port: Port = {
      setHandler: (handler) => {
        // A closed endpoint stays closed; a late setHandler must not revive it.
        if (!ep.closed) ep.handler = handler
      },
      send: (target, kind, req, opts) => this.send(ep, target, kind, req, opts),
      close: () => this.closeEndpoint(ep),
    }
    const transport = new InmemTransport(address, port)
    this.endpoints.set(address, ep)
    this.transports.set(ep, transport)
    return transport
  }

  /** Cuts the link between `a` and `b`, both directions. */
  disconnect(a: ServerAddress, b: ServerAddress): void {
    this.cutLinks.add(pairKey(a, b))
  }

  /** Undoes `disconnect(a, b)` (not an isolation or partition that also cuts the link). */
  connect(a: ServerAddress, b: ServerAddress): void {
    this.cutLinks.delete(pairKey(a, b))
  }

  /** Cuts every link of `address`. */
  isolate(address: ServerAddress): void {
    this.isolated.add(address)
  }

  /** Undoes `isolate(address)`. */
  rejoin(address: ServerAddress): void {
    this.isolated.delete(address)
  }

  /**
   * Splits the network: only links within one group work. An address in no group (including
   * one created later) reaches nobody. Replaces any earlier partition.
   */
  partition(groupA: ServerAddress[], groupB: ServerAddress[], ...more: ServerAddress[][]): void {
    const groups = new Map<ServerAddress, number>()
    ;[groupA, groupB, ...more].forEach((group, index) => {
      for (const address of group) {
        if (groups.has(address)) throw new RangeError(`partition: ${address} is in two groups`)
        groups.set(address, index)
      }
    })
    this.groups = groups
  }

  /** Reconnects everything (disconnects, isolations, partition); random faults stay as set. */
  heal(): void {
    this.cutLinks.clear()
    this.isolated.clear()
    this.groups = null
  }

  /** Whether a message from `from` to `to` would cross now (both open, no cut). */
  isConnected(from: ServerAddress, to: ServerAddress): boolean {
    const a = this.endpoints.get(from)
    const b = this.endpoints.get(to)
    return a !== undefined && b !== undefined && this.linkUp(a, b)
  }

  /** Changes some of the random faults; the rest keep their values. Throws on a bad value. */
  setFaults(faults: Partial<NetworkFaults>): void {
    const next = { ...this.currentFaults, ...faults }
    validateNetworkFaults(next)
    this.currentFaults = next
  }

  /** The random faults in force (a copy). */
  faults(): NetworkFaults {
    return { ...this.currentFaults }
  }

  /**
   * When on, a request that cannot be delivered (unknown or closed address, cut link, no
   * handler yet) rejects with code 'unreachable' after one message delay instead of waiting
   * for its timeout: tests on a cut network run faster. Lost answers still time out, since the
   * caller cannot know whether the request was handled.
   */
  setFastFail(on: boolean): void {
    this.fastFail = on
  }

  /** How many requests were sent (accepted by the network) since the last `resetCounts`. */
  rpcCount(kind?: RpcKind): number {
    return kind ? this.counts[kind] : sum(this.counts)
  }

  /**
   * How many payload bytes the sent requests carried (entry data of appendEntries, chunk data
   * of installSnapshot) since the last `resetCounts`.
   */
  bytesSent(kind?: RpcKind): number {
    return kind ? this.bytes[kind] : sum(this.bytes)
  }

  /** Zeroes `rpcCount` and `bytesSent`. */
  resetCounts(): void {
    this.counts = zeroCounts()
    this.bytes = zeroCounts()
  }

  /** Unanswered requests from `from` to `to` (what `maxInflightPerTarget` bounds). */
  inflightCount(from: ServerAddress, to: ServerAddress): number {
    return this.inflight.get(directedKey(from, to)) ?? 0
  }

  /** Closes every endpoint and cancels every message in flight. Idempotent. */
  close(): void {
    for (const ep of [...this.endpoints.values()]) this.closeEndpoint(ep)
    for (const envelope of this.envelopes) this.clock.clearTimeout(envelope.timer)
    this.envelopes.clear()
  }

  private send<K extends RpcKind>(
    from: Endpoint,
    target: Peer,
    kind: K,
    req: RequestOf<K>,
    opts: RpcOptions,
  ): Promise<ResponseOf<K>> {
    const timeoutMs = opts.timeoutMs
    if (!(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      return Promise.reject(new RangeError(`opts.timeoutMs must be a finite number >= 0, got ${timeoutMs}`))
    }
    return new Promise<ResponseOf<K>>((resolve, reject) => {
      const to = target.address
      const id = this.nextRpcId++
      const event = (leg: NetworkEvent['leg'], what: NetworkEvent['what'], code?: TransportError['code']) =>
        this.emit({ atMs: this.clock.now(), rpcId: id, kind, from: from.address, to, leg, what, code })
      if (from.closed) {
        event('request', 'rejected', 'closed')
        reject(new TransportError(`${kind} to ${to}: ${from.address} is closed`, 'closed'))
        return
      }
      const key = directedKey(from.address, to)
      const inflight = this.inflight.get(key) ?? 0
      if (inflight >= this.maxInflightPerTarget) {
        event('request', 'rejected', 'overloaded')
        reject(
          new TransportError(
            `${kind} to ${to}: ${inflight} requests from ${from.address} already in flight`,
            'overloaded',
          ),
        )
        return
      }
      this.inflight.set(key, inflight + 1)
      this.counts[kind]++
      this.bytes[kind] += payloadBytes(kind, req)
      const call: PendingCall = {
        id,
        kind,
        from,
        to,
        resolve: resolve as (response: unknown) => void,
        reject,
        timeoutTimer: undefined,
        settled: false,
      }
      from.pending.add(call)
      // Always armed, also when the answer is certain: the clock, not the network, decides
      // when a caller gives up, exactly as over a real network.
      call.timeoutTimer = this.clock.setTimeout(() => {
        call.timeoutTimer = undefined
        this.fail(call, new TransportError(`${kind} to ${to} timed out after ${timeoutMs} ms`, 'timeout'))
      }, timeoutMs)
      event('request', 'sent')

      const targetEp = this.endpoints.get(to)
      if (!targetEp || !this.linkUp(from, targetEp)) {
        event('request', 'lost')
        if (this.fastFail) this.schedule(from, to, () => this.fail(call, unreachable(call)))
        return
      }
      if (this.draw(this.currentFaults.dropRate)) {
        event('request', 'dropped')
        return
      }
      // Copy now, as a wire would serialize now: the sender may reuse its objects at once.
      const copy = cloneMessage(req)
      this.schedule(from, to, () => this.deliver(call, targetEp, copy, false))
      if (this.draw(this.currentFaults.duplicateRate)) {
        const extra = cloneMessage(req)
        this.schedule(from, to, () => this.deliver(call, targetEp, extra, true))
      }
    })
  }

  /** A request arrives at `target`: hand it to the handler, and send the answer back. */
  private deliver(call: PendingCall, target: Endpoint, req: unknown, duplicate: boolean): void {
    const base = {
      rpcId: call.id,
      kind: call.kind,
      from: call.from.address,
      to: call.to,
      leg: 'request',
    } as const
    const handler = target.handler
    if (!this.linkUp(call.from, target) || !handler) {
      this.emit({ ...base, atMs: this.clock.now(), what: 'lost', duplicate: duplicate || undefined })
      if (this.fastFail) this.fail(call, unreachable(call))
      return
    }
    this.emit({ ...base, atMs: this.clock.now(), what: 'delivered', duplicate: duplicate || undefined })
    let answer: Promise<unknown>
    try {
      // The cast only widens the parameter: `req` is a copy of a RequestOf<call.kind>.
      const method = handler[call.kind] as (req: unknown) => Promise<unknown>
      answer = Promise.resolve(method.call(handler, req))
    } catch (err) {
      // A handler that throws synchronously is treated like one that rejects.
      answer = Promise.reject(err)
    }
    answer.then(
      (response) => this.reply(call, target, { ok: true, response }),
      (err: unknown) =>
        this.reply(call, target, { ok: false, message: err instanceof Error ? err.message : String(err) }),
    )
  }

  /** The handler answered: the answer crosses the link back like any message. */
  private reply(call: PendingCall, target: Endpoint, outcome: Outcome): void {
    const event = (what: NetworkEvent['what']) =>
      this.emit({
        atMs: this.clock.now(),
        rpcId: call.id,
        kind: call.kind,
        from: call.from.address,
        to: call.to,
        leg: 'response',
        what,
      })
    if (!this.linkUp(target, call.from)) {
      event('lost')
      return
    }
    if (this.draw(this.currentFaults.dropRate)) {
      event('dropped')
      return
    }
    const copy: Outcome = outcome.ok ? { ok: true, response: cloneMessage(outcome.response) } : outcome
    this.schedule(target, call.from.address, () => {
      if (!this.linkUp(target, call.from)) {
        event('lost')
        return
      }
      if (call.settled) {
        // The caller already has its outcome (timed out, or this is the second copy's answer).
        event('late')
        return
      }
      event('answered')
      if (copy.ok) {
        this.finish(call)
        call.resolve(copy.response)
      } else {
        this.finish(call)
        call.reject(
          new TransportError(`${call.kind} to ${call.to} failed on the remote: ${copy.message}`, 'remote'),
        )
      }
    })
  }

  /** Rejects `call` with `err` unless it already has an outcome. */
  private fail(call: PendingCall, err: TransportError): void {
    if (call.settled) return
    this.finish(call)
    this.emit({
      atMs: this.clock.now(),
      rpcId: call.id,
      kind: call.kind,
      from: call.from.address,
      to: call.to,
      leg: 'request',
      what: 'failed',
      code: err.code,
    })
    call.reject(err)
  }

  /** Marks `call` as having its outcome and releases what it held. */
  private finish(call: PendingCall): void {
    call.settled = true
    this.clock.clearTimeout(call.timeoutTimer)
    call.timeoutTimer = undefined
    call.from.pending.delete(call)
    const key = directedKey(call.from.address, call.to)
    const left = (this.inflight.get(key) ?? 1) - 1
    if (left > 0) this.inflight.set(key, left)
    else this.inflight.delete(key)
  }

  /**
   * Runs `fn` when a message sent now from `from` to `to` arrives: after a drawn delay, never
   * before an earlier in-order message on the same link, unless drawn for reordering (then
   * after an extra delay, without holding back later messages). Always a clock timer, also for
   * a zero delay, so delivery is asynchronous and ordered by the clock alone.
   */
  private schedule(from: Endpoint, to: ServerAddress, fn: () => void): void {
    const f = this.currentFaults
    const now = this.clock.now()
    const delayMs =
      f.minDelayMs === f.maxDelayMs ? f.minDelayMs : this.rng.between(f.minDelayMs, f.maxDelayMs)
    const key = directedKey(from.address, to)
    let dueMs = Math.max(now + delayMs, this.lastDueMs.get(key) ?? now)
    if (this.draw(f.reorderRate)) dueMs += this.rng.between(1, f.maxReorderDelayMs)
    else this.lastDueMs.set(key, dueMs)
    const envelope: Envelope = { from, timer: undefined }
    envelope.timer = this.clock.setTimeout(() => {
      this.envelopes.delete(envelope)
      fn()
    }, dueMs - now)
    this.envelopes.add(envelope)
  }

  private closeEndpoint(ep: Endpoint): void {
    if (ep.closed) return
    ep.closed = true
    ep.handler = undefined
    if (this.endpoints.get(ep.address) === ep) this.endpoints.delete(ep.address)
    this.transports.delete(ep)
    for (const call of [...ep.pending]) {
      this.fail(call, new TransportError(`${call.kind} to ${call.to}: ${ep.address} was closed`, 'closed'))
    }
    // What it sent can no longer matter (its calls are rejected, its answers would be lost on
    // arrival): cancel it. Requests on their way to it stay, to be lost (or fast-failed) when
    // they arrive.
    for (const envelope of [...this.envelopes]) {
      if (envelope.from === ep) {
        this.clock.clearTimeout(envelope.timer)
        this.envelopes.delete(envelope)
      }
    }
  }

  private linkUp(from: Endpoint, to: Endpoint): boolean {
    if (from.closed || to.closed) return false
    // A server reaching itself needs no network.
    if (from === to) return true
    if (this.endpoints.get(from.address) !== from || this.endpoints.get(to.address) !== to) return false
    if (this.isolated.has(from.address) || this.isolated.has(to.address)) return false
    if (this.cutLinks.has(pairKey(from.address, to.address))) return false
    if (this.groups) {
      const g = this.groups.get(from.address)
      if (g === undefined || g !== this.groups.get(to.address)) return false
    }
    return true
  }

  /** True with probability `p`; certain outcomes draw nothing, so they leave the rng untouched. */
  private draw(p: number): boolean {
    if (p <= 0) return false
    if (p >= 1) return true
    return this.rng.chance(p)
  }

  private emit(event: NetworkEvent): void {
    if (!this.onEvent) return
    if (event.duplicate === undefined) delete event.duplicate
    if (event.code === undefined) delete event.code
    this.onEvent(event)
  }
}

/**
 * One server's endpoint on an `InmemNetwork`; get it from `network.transport(address)`.
 * Everything it does goes through the network, which decides what arrives and when.
 */
export class InmemTransport implements Transport {
  /** Built by `InmemNetwork.transport`; the port is this endpoint's link to its network. */
  constructor(
    readonly localAddress: ServerAddress,
    private readonly port: Port,
  ) {}

  setHandler(handler: RpcHandler): void {
    this.port.setHandler(handler)
  }

  appendEntries(target: Peer, req: AppendEntriesRequest, opts: RpcOptions): Promise<AppendEntriesResponse> {
    return this.port.send(target, 'appendEntries', req, opts)
  }

  requestVote(target: Peer, req: RequestVoteRequest, opts: RpcOptions): Promise<RequestVoteResponse> {
    return this.port.send(target, 'requestVote', req, opts)
  }

  installSnapshot(
    target: Peer,
    req: InstallSnapshotRequest,
    opts: RpcOptions,
  ): Promise<InstallSnapshotResponse> {
    return this.port.send(target, 'installSnapshot', req, opts)
  }

  timeoutNow(target: Peer, req: TimeoutNowRequest, opts: RpcOptions): Promise<TimeoutNowResponse> {
    return this.port.send(target, 'timeoutNow', req, opts)
  }

  /**
   * Takes the address off the network: pending outgoing RPCs reject with 'closed', requests
   * in flight to or from it get no answer. Idempotent.
   */
  close(): Promise<void> {
    this.port.close()
    return Promise.resolve()
  }
}

/**
 * A deep copy of a message, as if it crossed a wire: plain objects and arrays are copied
 * member by member, and a `Uint8Array` (or a Node `Buffer`) arrives as a fresh `Uint8Array`
 * of its own, not a view into a shared buffer.
 */
function cloneMessage<T>(value: T): T {
  return cloneValue(value) as T
}

function cloneValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  if (value instanceof Uint8Array) return new Uint8Array(value)
  if (Array.isArray(value)) return value.map(cloneValue)
  const proto = Object.getPrototypeOf(value)
  // Anything that is not plain data (a Map, a Date, another typed array) is rare in messages;
  // structuredClone copies it faithfully.
  if (proto !== Object.prototype && proto !== null) return structuredClone(value)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = cloneValue(v)
  return out
}

function payloadBytes(kind: RpcKind, req: unknown): number {
  if (kind === 'appendEntries') {
    return (req as AppendEntriesRequest).entries.reduce((n, e) => n + e.data.byteLength, 0)
  }
  if (kind === 'installSnapshot') return (req as InstallSnapshotRequest).data.byteLength
  return 0
}

function unreachable(call: PendingCall): TransportError {
  return new TransportError(
    `${call.kind} to ${call.to}: unreachable from ${call.from.address}`,
    'unreachable',
  )
}

/** The key of the unordered pair {a, b}. */
function pairKey(a: ServerAddress, b: ServerAddress): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`
}

/** The key of the link from `from` to `to`. */
function directedKey(from: ServerAddress, to: ServerAddress): string {
  return `${from}\u0000${to}`
}

function zeroCounts(): Record<RpcKind, number> {
  return Object.fromEntries(rpcKinds.map((k) => [k, 0])) as Record<RpcKind, number>
}

function sum(counts: Record<RpcKind, number>): number {
  return rpcKinds.reduce((n, k) => n + counts[k], 0)
}

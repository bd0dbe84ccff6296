/**
 * The backend picker of one service port: round-robin over the ready endpoints, skipping the
 * ones that just failed a connect for a short cool-down, with Kubernetes' `sessionAffinity:
 * ClientIP` (a client IP sticks to the backend it was given for a timeout).
 *
 * Pure: no sockets and no timers. Time is read from the injected clock's `now()` only, so a
 * test drives it with a `ManualClock`.
 */

import type { Clock } from '../util/clock.js'

/** One endpoint a service port forwards to. */
export interface Backend {
  readonly host: string
  readonly port: number
}

/** The key of a backend in maps and logs: `host:port`, or `[v6]:port`. */
export function backendKey(b: Backend): string {
  return b.host.includes(':') ? `[${b.host}]:${b.port}` : `${b.host}:${b.port}`
}

/** Kubernetes' Service.spec.sessionAffinity. */
export type SessionAffinity = 'None' | 'ClientIP'

/** How a picker behaves. */
export interface RoundRobinConfig {
  sessionAffinity: SessionAffinity
  /** How long a client IP sticks to its backend after its last connection (Kubernetes: 10800 s). */
  affinityTimeoutMs: number
  /** The most client IPs remembered; at the bound the least recently used is forgotten. */
  maxAffinityEntries: number
  /** How long a backend whose connect failed is skipped while others are available. */
  failCooldownMs: number
}

export function defaultRoundRobinConfig(): RoundRobinConfig {
  return {
    sessionAffinity: 'None',
    affinityTimeoutMs: 10_800_000,
    maxAffinityEntries: 65_536,
    failCooldownMs: 5_000,
  }
}

/** An invalid field of a proxy config. */
export class InvalidProxyConfigError extends Error {
  override readonly name = 'InvalidProxyConfigError'
  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`${field}: ${reason} (got ${JSON.stringify(value)})`)
  }
}

/** Throws `InvalidProxyConfigError` naming the field when `value` is not an integer ≥ `min`. */
export function requireInt(field: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidProxyConfigError(field, value, `must be an integer ≥ ${min}`)
  }
}

export function validateRoundRobinConfig(config: RoundRobinConfig): void {
  if (config.sessionAffinity !== 'None' && config.sessionAffinity !== 'ClientIP') {
    throw new InvalidProxyConfigError(
      'sessionAffinity',
      config.sessionAffinity,
      "must be 'None' or 'ClientIP'",
    )
  }
  requireInt('affinityTimeoutMs', config.affinityTimeoutMs, 1)
  requireInt('maxAffinityEntries', config.maxAffinityEntries, 1)
  requireInt('failCooldownMs', config.failCooldownMs, 0)
}

interface Affinity {
  key: string
  lastUsedMs: number
}

/**
 * Picks the backend for each new connection of one service port.
 *
 *   const picker = new RoundRobinPicker(clock, { ...defaultRoundRobinConfig(), sessionAffinity: 'ClientIP' })
 *   picker.setBackends([{ host: '10.0.0.1', port: 80 }, { host: '10.0.0.2', port: 80 }])
 *   const b = picker.pick('192.168.1.7')   // then picker.markFailed(b) if its connect is refused
 */
export class RoundRobinPicker {
  private readonly config: RoundRobinConfig
  private backends: Backend[] = []
  private keys: string[] = []
  /** Index of the backend the next round-robin pick starts from. */
  private next = 0
  /** Backend key → the time until which it is skipped. Only keys of current backends. */
  private readonly failedUntil = new Map<string, number>()
  /** Client IP → its backend; Map order is least recently used first. */
  private readonly affinity = new Map<string, Affinity>()

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    config: Partial<RoundRobinConfig> = {},
  ) {
    this.config = { ...defaultRoundRobinConfig(), ...config }
    validateRoundRobinConfig(this.config)
  }

  /** The current backends, in rotation order. */
  list(): readonly Backend[] {
    return this.backends
  }

  /** How many client IPs are remembered for session affinity. */
  affinitySize(): number {
    return this.affinity.size
  }

  /**
   * Replaces the backend set. Duplicates are dropped. The rotation goes on from the backend
   * that was due next when it remains (so an update does not send a burst to the first
   * backend); affinity entries and cool-downs of the backends that remain are kept.
   */
  setBackends(backends: readonly Backend[]): void {
    const due = this.keys.length > 0 ? this.keys[this.next % this.keys.length] : undefined
    const seen = new Set<string>()
    const list: Backend[] = []
    for (const b of backends) {
      const key = backendKey(b)
      if (seen.has(key)) continue
      seen.add(key)
      list.push({ host: b.host, port: b.port })
    }
    this.backends = list
    this.keys = list.map(backendKey)
    const at = due === undefined ? -1 : this.keys.indexOf(due)
    this.next = at >= 0 ? at : list.length > 0 ? this.next % list.length : 0
    for (const key of this.failedUntil.keys()) if (!seen.has(key)) this.failedUntil.delete(key)
    for (const [ip, a] of this.affinity) if (!seen.has(a.key)) this.affinity.delete(ip)
  }

  /**
   * The backend for a new connection from `clientIp`, or null when there is none. Backends in
   * `exclude` (keys) are never returned: a caller retrying after a refused connect passes the
   * ones it tried. Backends cooling down after a failure are skipped while another is available;
   * when every candidate is cooling down, round-robin among them (better a likely failure than
   * none at all).
   */
  pick(clientIp?: string, exclude?: ReadonlySet<string>): Backend | null {
    const n = this.backends.length
    if (n === 0) return null
    const now = this.clock.now()
    const sticky = this.config.sessionAffinity === 'ClientIP' && clientIp !== undefined
    if (sticky) {
      const a = this.affinity.get(clientIp)
      if (a !== undefined) {
        this.affinity.delete(clientIp)
        const i = this.keys.indexOf(a.key)
        const fresh = now - a.lastUsedMs < this.config.affinityTimeoutMs
        if (fresh && i >= 0 && !exclude?.has(a.key) && !this.coolingDown(a.key, now)) {
          a.lastUsedMs = now
          this.affinity.set(clientIp, a)
          return this.backends[i]!
        }
      }
    }
    let chosen = -1
    let fallback = -1
    for (let step = 0; step < n; step++) {
      const i = (this.next + step) % n
      const key = this.keys[i]!
      if (exclude?.has(key)) continue
      if (this.coolingDown(key, now)) {
        if (fallback < 0) fallback = i
        continue
      }
      chosen = i
      break
    }
    if (chosen < 0) chosen = fallback
    if (chosen < 0) return null
    this.next = (chosen + 1) % n
    if (sticky) this.remember(clientIp, this.keys[chosen]!, now)
    return this.backends[chosen]!
  }

  /** Records a failed connect to `backend`: it is skipped for `failCooldownMs`. */
  markFailed(backend: Backend): void {
    const key = backendKey(backend)
    if (!this.keys.includes(key)) return
    this.failedUntil.set(key, this.clock.now() + this.config.failCooldownMs)
    // A client stuck to a failing backend is moved on its next connection.
    for (const [ip, a] of this.affinity) if (a.key === key) this.affinity.delete(ip)
  }

  /** Records a successful connect to `backend`: its cool-down, if any, ends. */
  markSucceeded(backend: Backend): void {
    this.failedUntil.delete(backendKey(backend))
  }

  private coolingDown(key: string, now: number): boolean {
    const until = this.failedUntil.get(key)
    if (until === undefined) return false
    if (now < until) return true
    this.failedUntil.delete(key)
    return false
  }

  private remember(ip: string, key: string, now: number): void {
    this.affinity.set(ip, { key, lastUsedMs: now })
    // Bounded: forget the least recently used client first (expired ones are oldest anyway).
    while (this.affinity.size > this.config.maxAffinityEntries) {
      const oldest = this.affinity.keys().next().value as string
      this.affinity.delete(oldest)
    }
  }
}

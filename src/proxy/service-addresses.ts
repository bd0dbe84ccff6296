/**
 * Where cluster IPs live on a host. A cluster IP is nobody's address until a peer puts it on
 * the host: as root, on a dummy interface (`shoal0`) that holds every cluster IP as a /32, so
 * that the host's own processes and its containers (through their bridge gateway) reach the
 * proxy listening there. A kernel without the dummy driver (some containers) gets them on the
 * loopback interface instead, which reaches the same: a local address of the host. Without root nothing can be added, and only addresses the host
 * already has can be listened on (any 127.x.y.z, or a range an operator put on an interface).
 *
 * Several peers on one host share the interface: holding an address twice is harmless, and a
 * peer releases an address only when its Service is gone.
 */

import { execFile } from 'node:child_process'
import { networkInterfaces } from 'node:os'
import { promisify } from 'node:util'
import type { Logger } from '../util/logger.js'

const run = promisify(execFile)

export interface ServiceAddressHolder {
  /** Makes `ip` an address of this host if it is not one yet; false when it cannot. */
  hold(ip: string): Promise<boolean>
  /** Removes `ip` from the host, if this holder put addresses there. */
  release(ip: string): Promise<void>
  /** What the holder does, for the startup log. */
  describe(): string
}

/** The default dummy interface name. */
export const SERVICE_INTERFACE = 'shoal0'

/** True for an IPv4 loopback address (127.0.0.0/8): reachable on the host, not from a container. */
export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.')
}

/** True when `ip` is already an address of this host (loopback range included). */
export function isLocalAddress(ip: string): boolean {
  if (isLoopback(ip)) return true
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.address === ip) return true
  }
  return false
}

/** Holds nothing: an address can be listened on only if the host already has it. */
export class LocalAddressesOnly implements ServiceAddressHolder {
  async hold(ip: string): Promise<boolean> {
    return isLocalAddress(ip)
  }
  async release(): Promise<void> {}
  describe(): string {
    return 'not root: cluster IPs are served only where the host already has the address'
  }
}

/** Holds cluster IPs on a dummy interface with iproute2 (root only), or on `lo` without one. */
export class DummyInterfaceAddresses implements ServiceAddressHolder {
  private held = new Set<string>()
  private linkReady: Promise<void> | null = null
  /** The device addresses go on: the dummy interface, or `lo` when it cannot be made. */
  private device: string

  constructor(
    private readonly log: Logger,
    readonly interfaceName = SERVICE_INTERFACE,
  ) {
    this.device = interfaceName
  }

  describe(): string {
    return this.device === 'lo'
      ? 'cluster IPs held on the loopback interface (no dummy interface driver)'
      : `cluster IPs held on dummy interface ${this.interfaceName}`
  }

  async hold(ip: string): Promise<boolean> {
    // A loopback range (`--service-cidr 127.x…`) is the host's already: nothing to add.
    if (isLoopback(ip)) return true
    if (this.held.has(ip) && isLocalAddress(ip)) return true
    try {
      await this.ensureLink()
      await run('ip', ['addr', 'add', `${ip}/32`, 'dev', this.device])
    } catch (err) {
      if (!/File exists|already assigned/.test(errText(err))) {
        this.log.warn({ ip, err: errText(err) }, 'cannot add a cluster IP to the service interface')
        return false
      }
    }
    this.held.add(ip)
    return true
  }

  async release(ip: string): Promise<void> {
    this.held.delete(ip)
    if (isLoopback(ip)) return
    try {
      await run('ip', ['addr', 'del', `${ip}/32`, 'dev', this.device])
    } catch (err) {
      // Already gone (another peer on this host removed it first): nothing to do.
      this.log.debug({ ip, err: errText(err) }, 'cluster IP not removed')
    }
  }

  private ensureLink(): Promise<void> {
    if (this.linkReady === null) {
      this.linkReady = (async () => {
        try {
          await run('ip', ['link', 'add', this.interfaceName, 'type', 'dummy'])
        } catch (err) {
          const text = errText(err)
          if (/Unknown device type|not supported/i.test(text)) {
            this.device = 'lo'
            this.log.info('no dummy interface driver: cluster IPs go on the loopback interface')
            return
          }
          if (!/File exists/.test(text)) throw err
        }
        await run('ip', ['link', 'set', this.interfaceName, 'up'])
      })()
      this.linkReady.catch(() => {
        this.linkReady = null
      })
    }
    return this.linkReady
  }
}

function errText(err: unknown): string {
  const e = err as { stderr?: string; message?: string }
  return (e.stderr || e.message || String(err)).trim()
}

/** Root with iproute2: a dummy interface; otherwise the host's own addresses only. */
export async function createServiceAddressHolder(log: Logger): Promise<ServiceAddressHolder> {
  if (process.getuid?.() !== 0) return new LocalAddressesOnly()
  try {
    await run('ip', ['-V'])
  } catch {
    log.warn('iproute2 (`ip`) not found: cluster IPs are served only where the host already has them')
    return new LocalAddressesOnly()
  }
  return new DummyInterfaceAddresses(log)
}

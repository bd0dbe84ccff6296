/**
 * NodePodNetwork: the agent's view of its node's pod network. The store assigns the Node a
 * podCIDR when it is registered; the runtime must make the network for it before any sandbox
 * runs, so that no pod starts on a default network (with an address outside the cluster pod
 * range) once the node has a subnet. This holds which subnet was made, and shares one runtime
 * call among the syncs that ask at once.
 */

import type { Runtime } from './runtime.js'

export class NodePodNetwork {
  /** The subnet the runtime made the network for. */
  private made: string | undefined
  private inflight: { podCidr: string; done: Promise<void> } | undefined

  constructor(private readonly runtime: Runtime) {}

  /** Whether this runtime has pod networks at all (else sandboxes need not wait). */
  get needed(): boolean {
    return typeof this.runtime.ensurePodNetwork === 'function'
  }

  /** The subnet made, if any. */
  get podCidr(): string | undefined {
    return this.made
  }

  /**
   * Whether sandboxes may run now: true without pod networks, false while the Node has no
   * podCIDR, else once the runtime made its network (the runtime's error is thrown as it is).
   */
  async ensure(podCidr: string | undefined): Promise<boolean> {
    if (!this.needed) return true
    if (!podCidr) return false
    if (this.made === podCidr) return true
    if (this.inflight?.podCidr !== podCidr) {
      const done = this.runtime.ensurePodNetwork!(podCidr).then(
        () => {
          this.made = podCidr
        },
        (err: unknown) => {
          // The next caller tries again (the agent's sync back-off paces it).
          if (this.inflight?.done === done) this.inflight = undefined
          throw err
        },
      )
      this.inflight = { podCidr, done }
    }
    await this.inflight.done
    return this.made === podCidr
  }
}

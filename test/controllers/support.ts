/**
 * A controller's world in one process: an ObjectStore applying writes at once (term 1), a
 * manual clock, a seeded rng, and helpers to create objects and let time pass.
 */

import type { ControllerContext } from '../../src/controllers/controller.js'
import { FencedStoreClient } from '../../src/controllers/fenced-store-client.js'
import { EventRecorder } from '../../src/store/event-recorder.js'
import { ObjectStore, type StoreCommand } from '../../src/store/object-store.js'
import { LocalStoreClient } from '../../src/store/store-client.js'
import type { KubeObject } from '../../src/store/types.js'
import { ManualClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/logger.js'
import { SeededRng } from '../../src/util/random.js'

export class ControllerWorld {
  readonly clock = new ManualClock(Date.parse('2026-11-25T12:00:00Z'))
  readonly store = new ObjectStore()
  readonly client = new LocalStoreClient(this.store, () => this.clock.now())
  readonly abort = new AbortController()

  context(): ControllerContext {
    const client = new FencedStoreClient(this.client, 1, this.abort.signal)
    return {
      client,
      store: this.store,
      clock: this.clock,
      rng: new SeededRng(7),
      logger: silentLogger(),
      events: (component) => new EventRecorder(client, { component }, this.clock, silentLogger()),
      signal: this.abort.signal,
    }
  }

  nowIso(): string {
    return new Date(this.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z')
  }

  async propose(cmd: StoreCommand): Promise<KubeObject> {
    const r = await this.client.propose(cmd)
    if (!r.ok) throw new Error(`${cmd.op}: ${r.status.message}`)
    return r.object!
  }

  async create(resource: string, object: KubeObject, namespace?: string): Promise<KubeObject> {
    return this.propose({
      op: 'create',
      resource,
      namespace: namespace ?? (resource === 'nodes' ? undefined : (object.metadata.namespace ?? 'default')),
      object,
      uid: globalThis.crypto.randomUUID(),
      now: this.nowIso(),
    })
  }

  async node(name: string, ready = true): Promise<KubeObject> {
    return this.create('nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name } },
      status: {
        capacity: { cpu: '4', memory: '8Gi', pods: '110' },
        allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
        conditions: [
          {
            type: 'Ready',
            status: ready ? 'True' : 'False',
            lastHeartbeatTime: this.nowIso(),
            lastTransitionTime: this.nowIso(),
          },
        ],
      },
    })
  }

  /** Renews a node's heartbeat, as its agent does. */
  async heartbeat(name: string): Promise<void> {
    await this.propose({
      op: 'patch',
      resource: 'nodes',
      name,
      patchType: 'strategic',
      subresource: 'status',
      patch: {
        status: {
          conditions: [
            { type: 'Ready', status: 'True', lastHeartbeatTime: new Date(this.clock.now()).toISOString() },
          ],
        },
      },
      uid: globalThis.crypto.randomUUID(),
      now: this.nowIso(),
    })
  }

  async pod(
    name: string,
    options: {
      node?: string
      labels?: Record<string, string>
      ip?: string
      ready?: boolean
      owner?: KubeObject
      ports?: { name?: string; containerPort: number }[]
    } = {},
  ): Promise<KubeObject> {
    const pod = await this.create('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: 'default',
        labels: options.labels ?? {},
        ...(options.owner
          ? {
              ownerReferences: [
                {
                  apiVersion: 'v1',
                  kind: options.owner.kind,
                  name: options.owner.metadata.name!,
                  uid: options.owner.metadata.uid!,
                  controller: true,
                },
              ],
            }
          : {}),
      },
      spec: {
        ...(options.node ? { nodeName: options.node } : {}),
        containers: [{ name: 'c', image: 'img:1', ...(options.ports ? { ports: options.ports } : {}) }],
      },
    })
    if (options.ip === undefined) return pod
    return this.propose({
      op: 'update',
      resource: 'pods',
      namespace: 'default',
      name,
      subresource: 'status',
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { uid: pod.metadata.uid },
        status: {
          phase: 'Running',
          podIP: options.ip,
          conditions: [{ type: 'Ready', status: options.ready === false ? 'False' : 'True' }],
        },
      },
      now: this.nowIso(),
    })
  }

  /** Lets promises run, and fires the clock's timers for `ms` of fake time. */
  async run(ms: number): Promise<void> {
    const end = this.clock.now() + ms
    for (;;) {
      await settle()
      const due = this.clock.nextDueMs()
      if (due === null || due > end) break
      this.clock.fireNext(end)
    }
    this.clock.advance(end - this.clock.now())
    await settle()
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
}

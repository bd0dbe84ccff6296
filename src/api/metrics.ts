/**
 * ApiMetrics: Prometheus metrics of a peer (prom-client), served at /metrics: API requests
 * by verb, resource and code with their latency, and the Raft and store gauges.
 */

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { Raft } from '../raft/raft.js'
import type { ObjectStore } from '../store/object-store.js'

export class ApiMetrics {
  readonly registry = new Registry()
  readonly contentType = this.registry.contentType
  private readonly requests: Counter<'verb' | 'resource' | 'code'>
  private readonly latency: Histogram<'verb' | 'resource'>
  private readonly raftTerm: Gauge
  private readonly raftCommit: Gauge
  private readonly raftApplied: Gauge
  private readonly raftLeader: Gauge
  private readonly watchers: Gauge
  private readonly storeRv: Gauge
  /**
   * The counter and histogram children of each verb, resource and code seen: prom-client
   * hashes a labels object on every call (sorting its keys), a cost per API request; the set
   * of label values is small and bounded (verbs × resources × codes).
   */
  private readonly children = new Map<
    string,
    { requests: { inc(): void }; latency: { observe(v: number): void } }
  >()

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'shoal_' })
    this.requests = new Counter({
      name: 'shoal_apiserver_requests_total',
      help: 'API requests by verb, resource and HTTP code',
      labelNames: ['verb', 'resource', 'code'],
      registers: [this.registry],
    })
    this.latency = new Histogram({
      name: 'shoal_apiserver_request_duration_seconds',
      help: 'API request latency',
      labelNames: ['verb', 'resource'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    })
    const gauge = (name: string, help: string) => new Gauge({ name, help, registers: [this.registry] })
    this.raftTerm = gauge('shoal_raft_term', 'current Raft term')
    this.raftCommit = gauge('shoal_raft_commit_index', 'Raft commit index')
    this.raftApplied = gauge('shoal_raft_applied_index', 'Raft applied index')
    this.raftLeader = gauge('shoal_raft_is_leader', '1 when this peer leads')
    this.watchers = gauge('shoal_store_watchers', 'open watches on this peer')
    this.storeRv = gauge('shoal_store_resource_version', 'the store resourceVersion')
  }

  /** Records one request (the resource is read from the path; cardinality stays bounded). */
  observe(method: string, rawUrl: string, code: number, durationMs: number): void {
    const path = rawUrl.split('?')[0] ?? ''
    const parts = path.split('/').filter(Boolean)
    let resource = 'other'
    if (parts[0] === 'api' && parts[1] === 'v1') {
      resource =
        parts[2] === 'namespaces' && parts.length >= 5
          ? (parts[4] ?? 'namespaces')
          : (parts[2] ?? 'discovery')
      if (!/^[a-z]+$/.test(resource)) resource = 'other'
    } else if (parts[0] === 'shoal') resource = 'shoal'
    const verb = method.toUpperCase()
    const key = `${verb} ${resource} ${code}`
    let child = this.children.get(key)
    if (!child) {
      child = {
        requests: this.requests.labels({ verb, resource, code: String(code) }),
        latency: this.latency.labels({ verb, resource }),
      }
      this.children.set(key, child)
    }
    child.requests.inc()
    child.latency.observe(durationMs / 1000)
  }

  async render(raft: Raft, store: ObjectStore): Promise<string> {
    const s = raft.stats()
    this.raftTerm.set(s.term)
    this.raftCommit.set(s.commitIndex)
    this.raftApplied.set(s.appliedIndex)
    this.raftLeader.set(s.state === 'leader' ? 1 : 0)
    this.watchers.set(store.hub.watcherCount())
    this.storeRv.set(store.hub.currentResourceVersion())
    return this.registry.metrics()
  }
}

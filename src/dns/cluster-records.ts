/**
 * The cluster DNS records, computed from the store on each question: pure, no I/O, no time.
 *
 * Follows the Kubernetes DNS-based service discovery specification (schema 1.1.0):
 *
 *   <svc>.<ns>.svc.<zone>            A      cluster IP; for a headless service the IPs of its
 *                                           ready endpoints; ExternalName: CNAME to the name
 *   <host>.<svc>.<ns>.svc.<zone>     A      a headless service's endpoint, by its hostname
 *   _<port>._<proto>.<svc>.<ns>.svc.<zone>  SRV for each named port (and each endpoint when
 *                                           the service is headless)
 *   <a>-<b>-<c>-<d>.<ns>.pod.<zone>  A      a.b.c.d (the deprecated pod records CoreDNS still
 *                                           serves in its default "pods insecure" mode)
 *   dns-version.<zone>               TXT    the schema version
 *   <d>.<c>.<b>.<a>.in-addr.arpa     PTR    a service's cluster IP or a headless endpoint
 *
 * A name that exists with no record of the asked type is NODATA (NOERROR, no answers); a name
 * under the zone that does not exist is NXDOMAIN. Both carry the zone's SOA in the authority
 * section so resolvers cache the negative answer (RFC 2308) for the SOA minimum, 5 s.
 * Comparisons are case-insensitive; owner names are written back as the question spelled them
 * (resolvers using 0x20 case randomisation check that).
 */

import type { Answer, SoaAnswer, SrvAnswer, StringAnswer } from 'dns-packet'
import type { KubeObject } from '../store/types.js'

/** The cluster domain when none is configured (Kubernetes' default). */
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local'
/** TTL of every cluster record and of negative answers: CoreDNS' kubernetes plugin default. */
export const CLUSTER_TTL_S = 5
/** The schema version `dns-version.<zone>` reports. */
export const DNS_SCHEMA_VERSION = '1.1.0'

/** What the records need of the store: the read half of ObjectStore. */
export interface StoreView {
  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined
  list(resource: string, options?: { namespace?: string }): { items: KubeObject[]; resourceVersion: number }
}

/** DNS response codes the cluster zone produces (never renumber: wire values). */
export const Rcode = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const

/** The answer to a question about the cluster zone. */
export interface ClusterAnswer {
  kind: 'answer'
  rcode: typeof Rcode.NOERROR | typeof Rcode.NXDOMAIN
  answers: Answer[]
  authorities: Answer[]
  additionals: Answer[]
}

/** The question is not about the cluster zone (nor a reverse name of a cluster address). */
export interface OutsideAnswer {
  kind: 'outside'
}

interface ServicePort {
  name?: string
  port: number
  protocol?: string
}

interface ServiceSpec {
  type?: string
  clusterIP?: string
  externalName?: string
  ports?: ServicePort[]
}

interface EndpointAddress {
  ip: string
  hostname?: string
  targetRef?: { kind?: string; namespace?: string; name?: string }
}

interface EndpointSubset {
  addresses?: EndpointAddress[]
  ports?: ServicePort[]
}

/** One ready endpoint of a headless service, with the hostname DNS gives it. */
interface NamedEndpoint {
  ip: string
  hostname: string
  ports: ServicePort[]
}

/** Names of the records found at one owner name; `exists` is false for NXDOMAIN. */
interface Found {
  exists: boolean
  answers: Answer[]
  additionals: Answer[]
}

const NOTHING: Found = { exists: false, answers: [], additionals: [] }
const EMPTY_NAME: Found = { exists: true, answers: [], additionals: [] }

/** Lower-case, without the trailing dot. */
export function normalizeName(name: string): string {
  return name.replace(/\.$/, '').toLowerCase()
}

function isIpv4(text: string): boolean {
  const parts = text.split('.')
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)
}

/**
 * The DNS view of the cluster: answers questions about `zone` (the cluster domain) from the
 * store as it is at the moment of the question.
 *
 *   const records = new ClusterRecords(store, 'cluster.local')
 *   records.answer('web.default.svc.cluster.local', 'A')
 *   // → { kind: 'answer', rcode: 0, answers: [{ name, type: 'A', ttl: 5, data: '10.96.4.2' }], … }
 */
export class ClusterRecords {
  readonly zone: string

  constructor(
    private readonly store: StoreView,
    zone: string = DEFAULT_CLUSTER_DOMAIN,
  ) {
    this.zone = normalizeName(zone)
    if (
      this.zone === '' ||
      !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(this.zone)
    )
      throw new Error(`clusterDomain: '${zone}' is not a domain name`)
  }

  /** Whether `name` is the zone or under it (the server answers these with authority). */
  inZone(name: string): boolean {
    const n = normalizeName(name)
    return n === this.zone || n.endsWith(`.${this.zone}`)
  }

  /** Answers one question. `type` is a dns-packet record type name ('A', 'SRV', 'UNKNOWN_65'…). */
  answer(name: string, type: string): ClusterAnswer | OutsideAnswer {
    const asked = name.replace(/\.$/, '')
    const n = asked.toLowerCase()
    const qtype = type.toUpperCase()
    if (n.endsWith('.in-addr.arpa')) return this.answerReverse(asked, qtype)
    if (!this.inZone(n)) return { kind: 'outside' }
    const labels = n === this.zone ? [] : n.slice(0, -this.zone.length - 1).split('.')
    if (qtype === 'SOA' && labels.length === 0) return this.reply(Rcode.NOERROR, [this.soa(asked)], [], [])
    const found = this.lookup(asked, labels, qtype)
    const authorities = found.answers.length === 0 ? [this.soa()] : []
    return this.reply(
      found.exists ? Rcode.NOERROR : Rcode.NXDOMAIN,
      found.answers,
      authorities,
      found.additionals,
    )
  }

  /** The zone's SOA record; negative answers are cached for its minimum (the record TTL). */
  soa(owner = this.zone): SoaAnswer {
    return {
      name: owner,
      type: 'SOA',
      class: 'IN',
      ttl: CLUSTER_TTL_S,
      data: {
        mname: `ns.dns.${this.zone}`,
        rname: `hostmaster.${this.zone}`,
        // Fixed: only zone transfers compare serials, and none are served. (Reading a store
        // version here would cost a list on every negative answer, the commonest reply.)
        serial: 1,
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: CLUSTER_TTL_S,
      },
    }
  }

  private reply(
    rcode: ClusterAnswer['rcode'],
    answers: Answer[],
    authorities: Answer[],
    additionals: Answer[],
  ): ClusterAnswer {
    return { kind: 'answer', rcode, answers, authorities, additionals }
  }

  /** `labels` are the lower-case labels left of the zone, leftmost first. */
  private lookup(asked: string, labels: string[], qtype: string): Found {
    if (labels.length === 0) return EMPTY_NAME
    const kind = labels[labels.length - 1]
    if (labels.length === 1) {
      if (kind === 'dns-version') return qtype === 'TXT' || qtype === 'ANY' ? this.version(asked) : EMPTY_NAME
      return kind === 'svc' || kind === 'pod' ? EMPTY_NAME : NOTHING
    }
    const ns = labels[labels.length - 2]!
    if (kind === 'pod') return this.lookupPod(asked, labels.slice(0, -2), ns, qtype)
    if (kind === 'svc') return this.lookupService(asked, labels.slice(0, -2), ns, qtype)
    return NOTHING
  }

  private version(asked: string): Found {
    return {
      exists: true,
      answers: [{ name: asked, type: 'TXT', class: 'IN', ttl: CLUSTER_TTL_S, data: DNS_SCHEMA_VERSION }],
      additionals: [],
    }
  }

  private namespaceExists(ns: string): boolean {
    // A get, not a list: every search-path miss of every pod comes through here.
    return this.store.get('namespaces', undefined, ns) !== undefined
  }

  private lookupPod(asked: string, rest: string[], ns: string, qtype: string): Found {
    if (rest.length === 0) return this.namespaceExists(ns) ? EMPTY_NAME : NOTHING
    if (rest.length !== 1) return NOTHING
    const ip = rest[0]!.replace(/-/g, '.')
    if (!/^\d+-\d+-\d+-\d+$/.test(rest[0]!) || !isIpv4(ip)) return NOTHING
    // As CoreDNS' "pods insecure" (its kubeadm default): any well-formed name answers, without
    // checking that such a pod exists — what Kubernetes clients have long relied on.
    return { exists: true, answers: qtype === 'A' || qtype === 'ANY' ? [a(asked, ip)] : [], additionals: [] }
  }

  private lookupService(asked: string, rest: string[], ns: string, qtype: string): Found {
    if (rest.length === 0) return this.namespaceExists(ns) ? EMPTY_NAME : NOTHING
    const svcName = rest[rest.length - 1]!
    const svc = this.store.get('services', ns, svcName)
    if (!svc) return NOTHING
    const spec = (svc.spec ?? {}) as ServiceSpec
    const base = `${svcName}.${ns}.svc.${this.zone}`
    const headless = spec.clusterIP === 'None'
    const isExternal = spec.type === 'ExternalName'

    if (rest.length === 1) {
      if (isExternal) {
        // A CNAME is the only record at its name, whatever type was asked (RFC 1034 3.6.2).
        if (!spec.externalName) return EMPTY_NAME
        const cname: StringAnswer = {
          name: asked,
          type: 'CNAME',
          class: 'IN',
          ttl: CLUSTER_TTL_S,
          data: spec.externalName,
        }
        return { exists: true, answers: [cname], additionals: [] }
      }
      if (qtype !== 'A' && qtype !== 'ANY') return EMPTY_NAME
      if (headless) {
        const ips = [...new Set(this.endpointsOf(svc).map((e) => e.ip))]
        return { exists: true, answers: ips.map((ip) => a(asked, ip)), additionals: [] }
      }
      const ip = spec.clusterIP
      return { exists: true, answers: ip && isIpv4(ip) ? [a(asked, ip)] : [], additionals: [] }
    }

    if (isExternal) return NOTHING
    const head = rest.slice(0, -1)
    if (head[0]!.startsWith('_')) return this.lookupSrv(asked, head, svc, base, qtype)
    // <hostname>.<svc>: a headless service's endpoint.
    if (!headless || head.length !== 1) return NOTHING
    const ips = this.endpointsOf(svc)
      .filter((e) => e.hostname === head[0])
      .map((e) => e.ip)
    if (ips.length === 0) return NOTHING
    return {
      exists: true,
      answers: qtype === 'A' || qtype === 'ANY' ? [...new Set(ips)].map((ip) => a(asked, ip)) : [],
      additionals: [],
    }
  }

  /** `head` is `[_port, _proto]` or `[_proto]` (an empty non-terminal). */
  private lookupSrv(asked: string, head: string[], svc: KubeObject, base: string, qtype: string): Found {
    if (head.length > 2 || !head.every((l) => l.startsWith('_'))) return NOTHING
    const proto = head[head.length - 1]!.slice(1)
    const portName = head.length === 2 ? head[0]!.slice(1) : undefined
    const spec = (svc.spec ?? {}) as ServiceSpec
    const matches = (p: ServicePort) =>
      !!p.name &&
      (p.protocol ?? 'TCP').toLowerCase() === proto &&
      (portName === undefined || p.name.toLowerCase() === portName)
    const ports = (spec.ports ?? []).filter(matches)
    if (ports.length === 0) return NOTHING
    if (portName === undefined || (qtype !== 'SRV' && qtype !== 'ANY')) return EMPTY_NAME

    if (spec.clusterIP !== 'None') {
      const answers: SrvAnswer[] = ports.map((p) => srv(asked, p.port, base, 100))
      const additionals = spec.clusterIP && isIpv4(spec.clusterIP) ? [a(base, spec.clusterIP)] : []
      return { exists: true, answers, additionals }
    }
    // Headless: one record per ready endpoint serving the port, aimed at its own name. The
    // port number is the endpoint's (the target port), which is where clients must connect.
    const targets: { port: number; target: string; ip: string }[] = []
    for (const e of this.endpointsOf(svc)) {
      const p = e.ports.find(matches)
      if (p) targets.push({ port: p.port, target: `${e.hostname}.${base}`, ip: e.ip })
    }
    if (targets.length === 0) return EMPTY_NAME
    // CoreDNS' weights: each record an equal share of 100.
    const weight = Math.max(1, Math.floor(100 / targets.length))
    return {
      exists: true,
      answers: targets.map((t) => srv(asked, t.port, t.target, weight)),
      additionals: targets.map((t) => a(t.target, t.ip)),
    }
  }

  /**
   * The ready endpoints of a service with their DNS hostnames, in the Endpoints' order. The
   * hostname is, in order: the address's `hostname`; the pod's `spec.hostname` when its
   * `spec.subdomain` is this service (what Kubernetes' endpoints controller copies into
   * `hostname`, and Shoal's does not); the IP written with dashes (CoreDNS' choice).
   */
  private endpointsOf(svc: KubeObject): NamedEndpoint[] {
    const ns = svc.metadata.namespace ?? ''
    const name = svc.metadata.name ?? ''
    const ep = this.store.get('endpoints', ns, name)
    const subsets = ((ep as { subsets?: EndpointSubset[] } | undefined)?.subsets ?? []) as EndpointSubset[]
    const out: NamedEndpoint[] = []
    for (const subset of subsets)
      for (const addr of subset.addresses ?? []) {
        if (!addr.ip || !isIpv4(addr.ip)) continue
        out.push({ ip: addr.ip, hostname: this.hostnameOf(addr, ns, name), ports: subset.ports ?? [] })
      }
    return out
  }

  private hostnameOf(addr: EndpointAddress, ns: string, svcName: string): string {
    if (addr.hostname) return addr.hostname.toLowerCase()
    if (addr.targetRef?.kind === 'Pod' && addr.targetRef.name) {
      const pod = this.store.get('pods', addr.targetRef.namespace ?? ns, addr.targetRef.name)
      const spec = (pod?.spec ?? {}) as { hostname?: string; subdomain?: string }
      if (spec.hostname && spec.subdomain === svcName) return spec.hostname.toLowerCase()
    }
    return addr.ip.replace(/\./g, '-')
  }

  /**
   * PTR for a cluster IP or a headless endpoint; any other reverse name is not ours (the
   * upstream resolvers may know it). Scans the services: O(services) per reverse question,
   * which are rare next to forward ones.
   */
  private answerReverse(asked: string, qtype: string): ClusterAnswer | OutsideAnswer {
    const labels = asked.toLowerCase().split('.').slice(0, -2)
    if (labels.length !== 4) return { kind: 'outside' }
    const ip = labels.reverse().join('.')
    if (!isIpv4(ip)) return { kind: 'outside' }
    const names: string[] = []
    for (const svc of this.store.list('services').items) {
      const spec = (svc.spec ?? {}) as ServiceSpec
      const base = `${svc.metadata.name}.${svc.metadata.namespace}.svc.${this.zone}`
      if (spec.clusterIP === ip) names.push(base)
      else if (spec.clusterIP === 'None')
        for (const e of this.endpointsOf(svc)) if (e.ip === ip) names.push(`${e.hostname}.${base}`)
    }
    if (names.length === 0) return { kind: 'outside' }
    const answers: StringAnswer[] =
      qtype === 'PTR' || qtype === 'ANY'
        ? names.map((data) => ({ name: asked, type: 'PTR', class: 'IN', ttl: CLUSTER_TTL_S, data }))
        : []
    return this.reply(Rcode.NOERROR, answers, answers.length === 0 ? [this.soa()] : [], [])
  }
}

function a(name: string, ip: string): StringAnswer {
  return { name, type: 'A', class: 'IN', ttl: CLUSTER_TTL_S, data: ip }
}

function srv(name: string, port: number, target: string, weight: number): SrvAnswer {
  return { name, type: 'SRV', class: 'IN', ttl: CLUSTER_TTL_S, data: { priority: 0, weight, port, target } }
}

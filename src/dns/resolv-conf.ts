/**
 * resolv.conf in both directions, pure: reading the host's (where the cluster DNS forwards
 * what is not its own) and writing a pod's (the cluster DNS first, then the Kubernetes search
 * path, `ndots:5`, as the kubelet writes for `dnsPolicy: ClusterFirst`).
 */

/** What a resolv.conf says that the cluster DNS uses. */
export interface ResolvConf {
  /** `nameserver` lines, in order (IPv4 and IPv6 as written). */
  nameservers: string[]
  /** The last `search` (or `domain`) line's domains: later lines override earlier ones. */
  search: string[]
  /** `options` words, e.g. `ndots:1`, `edns0`. */
  options: string[]
}

/** An upstream resolver address. */
export interface Upstream {
  host: string
  port: number
}

/** Reads a resolv.conf text. Unknown lines and comments (`#`, `;`) are ignored, as libc does. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim()
    if (line === '') continue
    const [key, ...values] = line.split(/\s+/)
    if (key === 'nameserver' && values[0]) out.nameservers.push(values[0])
    else if (key === 'search' || key === 'domain') out.search = values
    else if (key === 'options') out.options.push(...values)
  }
  return out
}

/**
 * The upstreams the cluster DNS forwards to: the host's nameservers on port 53, without the
 * cluster DNS's own address (a host whose resolv.conf points at the cluster DNS would loop)
 * and without IPv6 link-local ones with a zone (`fe80::1%eth0`: not reachable from a pod
 * network's point of view; the forwarder uses IPv4 and plain IPv6 only).
 */
export function upstreamsFromResolvConf(conf: ResolvConf, ownAddresses: readonly string[]): Upstream[] {
  const own = new Set(ownAddresses)
  return conf.nameservers
    .filter((ns) => !own.has(ns) && !ns.includes('%'))
    .map((host) => ({ host, port: 53 }))
}

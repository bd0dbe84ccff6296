/**
 * The kernel data path of the service proxy, as iptables rules (what kube-proxy's iptables
 * mode does): a TCP connection to a service address is rewritten (DNAT) by the kernel to the
 * next ready endpoint, so its bytes never pass through this process.
 *
 * Pure: names and rule text only. KernelForwarder (kernel-forwarder.ts) writes them.
 *
 * Layout in the nat table, per cluster (`tag`, from the cluster's service range, so that the
 * clusters of one host — the tests run several — never touch each other's rules):
 *
 *   OUTPUT, PREROUTING  -j SHOAL-SVC-<tag>
 *   SHOAL-SVC-<tag>     -d HOST/32 -p tcp --dport PORT -j SHOAL-S-<tag>-<hash>   (one per service address)
 *   SHOAL-S-<tag>-<h>   mark for masquerade; then round-robin over the endpoints with the
 *                       `statistic` match in `nth` mode (exact rotation per new connection):
 *                       endpoint i of n is taken by every (n - i)th connection reaching rule i;
 *                       ClientIP affinity: one chain per endpoint remembering its clients
 *                       (`recent` match), consulted first.
 *   POSTROUTING         -j SHOAL-POST-<tag>: marked connections leaving by another interface
 *                       than lo are masqueraded (a pod reaching itself through its service, a
 *                       pod of another bridge), as kube-proxy does with `masqueradeAll`.
 *
 * nat rules see only the first packet of a connection: conntrack carries the rewrite for the
 * rest of it, so changing the rules never disturbs an open connection.
 */

import { createHash } from 'node:crypto'
import type { Backend } from './round-robin.js'
import { isLoopback } from './service-addresses.js'
import type { ListenerSpec } from './service-rules.js'

/** The packet mark (a bit of its own) asking POSTROUTING to masquerade. */
export const MASQUERADE_MARK = '0x20000/0x20000'

/** The nat chains every peer of a cluster on one host shares. */
export interface BaseChains {
  services: string
  postrouting: string
}

function shortHash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length).toUpperCase()
}

/** The cluster's tag in chain names, from its service range (6 characters). */
export function clusterTag(serviceCidr: string): string {
  return shortHash(serviceCidr, 6)
}

export function baseChains(tag: string): BaseChains {
  return { services: `SHOAL-SVC-${tag}`, postrouting: `SHOAL-POST-${tag}` }
}

/** The chain of one service address (its listener key). At most 28 characters, iptables' limit. */
export function serviceChain(tag: string, key: string): string {
  return `SHOAL-S-${tag}-${shortHash(key, 8)}`
}

/** The chain of one endpoint of one service address (ClientIP affinity only). */
export function endpointChain(tag: string, key: string, backend: Backend): string {
  return `SHOAL-E-${tag}-${shortHash(`${key} ${backend.host}:${backend.port}`, 8)}`
}

/**
 * True when the kernel can carry this listener: TCP to an IPv4 address (UDP stays in the
 * proxy), and not from a loopback address to endpoints elsewhere (a NodePort on 127.0.0.2 in
 * front of Docker pods): the kernel does not route packets from a loopback source out of
 * another interface unless `route_localnet` is set, a host-wide switch Shoal leaves alone.
 */
export function kernelCanServe(spec: ListenerSpec): boolean {
  if (spec.protocol !== 'TCP' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(spec.host)) return false
  return !isLoopback(spec.host) || spec.backends.every((b) => isLoopback(b.host))
}

/** The arguments (after `-A`/`-C`/`-D`) of the rule sending a service address to its chain. */
export function jumpRule(tag: string, spec: ListenerSpec): string[] {
  return [
    baseChains(tag).services,
    '-d',
    `${spec.host}/32`,
    '-p',
    'tcp',
    '-m',
    'tcp',
    '--dport',
    String(spec.port),
    '-j',
    serviceChain(tag, spec.key),
  ]
}

/** The hooks from the built-in chains into the cluster's chains: [chain, ...rule]. */
export function hookRules(tag: string): string[][] {
  const { services, postrouting } = baseChains(tag)
  return [
    ['OUTPUT', '-j', services],
    ['PREROUTING', '-j', services],
    ['POSTROUTING', '-j', postrouting],
  ]
}

/** iptables-restore input replacing the cluster's POSTROUTING chain. */
export function renderPostrouting(tag: string): string {
  const { postrouting } = baseChains(tag)
  return [
    '*nat',
    `:${postrouting} - [0:0]`,
    `-A ${postrouting} ! -o lo -m mark --mark ${MASQUERADE_MARK} -j MASQUERADE`,
    'COMMIT',
    '',
  ].join('\n')
}

/** The chains one service address uses (its own, and one per endpoint with affinity). */
export function chainsOf(tag: string, spec: ListenerSpec): string[] {
  const own = serviceChain(tag, spec.key)
  if (spec.sessionAffinity !== 'ClientIP') return [own]
  return [own, ...spec.backends.map((b) => endpointChain(tag, spec.key, b))]
}

/**
 * iptables-restore input replacing the chains of one service address. With no endpoints its
 * chain is empty: connections fall through to the proxy's own listener, which refuses them.
 */
export function renderService(tag: string, spec: ListenerSpec): string {
  const own = serviceChain(tag, spec.key)
  const lines = ['*nat', ...chainsOf(tag, spec).map((c) => `:${c} - [0:0]`)]
  const n = spec.backends.length
  if (n > 0) lines.push(`-A ${own} -j MARK --set-xmark ${MASQUERADE_MARK}`)
  const affinity = spec.sessionAffinity === 'ClientIP'
  const seconds = Math.max(1, Math.ceil(spec.affinityTimeoutMs / 1000))
  if (affinity) {
    for (const b of spec.backends) {
      const chain = endpointChain(tag, spec.key, b)
      lines.push(
        `-A ${own} -p tcp -m recent --name ${chain} --rcheck --seconds ${seconds} --reap --rsource -j ${chain}`,
      )
      lines.push(
        `-A ${chain} -p tcp -m recent --name ${chain} --set --rsource -j DNAT --to-destination ${b.host}:${b.port}`,
      )
    }
  }
  spec.backends.forEach((b, i) => {
    const target = affinity ? endpointChain(tag, spec.key, b) : `DNAT --to-destination ${b.host}:${b.port}`
    const pick = i < n - 1 ? `-m statistic --mode nth --every ${n - i} --packet 0 ` : ''
    lines.push(`-A ${own} -p tcp ${pick}-j ${target}`)
  })
  lines.push('COMMIT', '')
  return lines.join('\n')
}

/** iptables-restore input emptying and deleting `chains` (nothing may jump to them any more). */
export function renderDeletion(chains: readonly string[]): string {
  return ['*nat', ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join(
    '\n',
  )
}

/** A jump found in the cluster's services chain (`iptables -t nat -S SHOAL-SVC-<tag>`). */
export interface FoundJump {
  host: string
  port: number
  chain: string
  /** The rule's arguments after `-A`, for `-D`. */
  rule: string[]
}

/** The jumps listed in `iptables -S` output of the services chain. */
export function parseJumps(tag: string, listing: string): FoundJump[] {
  const services = baseChains(tag).services
  const out: FoundJump[] = []
  for (const line of listing.split('\n')) {
    const words = line.trim().split(/\s+/)
    if (words[0] !== '-A' || words[1] !== services) continue
    const at = (flag: string): string | undefined => {
      const i = words.indexOf(flag)
      return i >= 0 ? words[i + 1] : undefined
    }
    const dest = at('-d')
    const port = Number(at('--dport'))
    const chain = at('-j')
    if (!dest || !chain || !Number.isInteger(port)) continue
    out.push({ host: dest.replace(/\/32$/, ''), port, chain, rule: words.slice(1) })
  }
  return out
}

/** The chains a service chain jumps to (its endpoint chains), from `iptables -S` of it. */
export function parseEndpointChains(tag: string, listing: string): string[] {
  const prefix = `SHOAL-E-${tag}-`
  const found = new Set<string>()
  for (const m of listing.matchAll(/-j (\S+)/g)) if (m[1]!.startsWith(prefix)) found.add(m[1]!)
  return [...found]
}

/** Every chain of the cluster in `iptables -t nat -S` output. */
export function parseClusterChains(tag: string, listing: string): string[] {
  const out: string[] = []
  for (const line of listing.split('\n')) {
    const m = /^-N (\S+)$/.exec(line.trim())
    if (m && m[1]!.includes(`-${tag}`) && m[1]!.startsWith('SHOAL-')) out.push(m[1]!)
  }
  return out
}

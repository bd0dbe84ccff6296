/**
 * An in-memory nat table behind the `Iptables` interface: the commands and the
 * iptables-restore input the kernel data path uses, with iptables' answers (exit 1 for a
 * missing rule or chain, "Chain already exists"), and a walk of a connection through the
 * chains to see where the rules would send it (`rewrite`; no socket is ever opened).
 */

import type { Iptables, IptablesResult } from '../../src/util/iptables.js'

const BUILTIN = ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']

export class FakeIptables implements Iptables {
  readonly chains = new Map<string, string[][]>(BUILTIN.map((c) => [c, []]))
  readonly calls: string[] = []
  /** nth-statistic counters per rule (keyed by chain and rule text), as the kernel keeps them. */
  private readonly counters = new Map<string, number>()
  /** `recent` lists: name → source addresses. */
  private readonly recent = new Map<string, Set<string>>()

  async run(args: string[]): Promise<IptablesResult> {
    this.calls.push(args.join(' '))
    const a = args[0] === '-t' ? args.slice(2) : args
    const [op, chain, ...rule] = a
    const rules = chain === undefined ? undefined : this.chains.get(chain)
    const fail = (stderr: string): IptablesResult => ({ code: 1, stdout: '', stderr })
    const ok = (stdout = ''): IptablesResult => ({ code: 0, stdout, stderr: '' })
    switch (op) {
      case '-S': {
        if (chain === undefined) {
          const lines = [...this.chains].flatMap(([name, rs]) => [
            BUILTIN.includes(name) ? `-P ${name} ACCEPT` : `-N ${name}`,
            ...rs.map((r) => `-A ${name} ${r.join(' ')}`),
          ])
          return ok(`${lines.join('\n')}\n`)
        }
        if (!rules) return fail(`iptables: No chain/target/match by that name.`)
        return ok(`-N ${chain}\n${rules.map((r) => `-A ${chain} ${r.join(' ')}\n`).join('')}`)
      }
      case '-N':
        if (rules) return fail('iptables: Chain already exists.')
        this.chains.set(chain!, [])
        return ok()
      case '-C':
        return rules?.some((r) => r.join(' ') === rule.join(' ')) ? ok() : fail('Bad rule')
      case '-A':
      case '-I':
        if (!rules) return fail('iptables: No chain/target/match by that name.')
        if (op === '-A') rules.push(rule)
        else rules.unshift(rule)
        return ok()
      case '-D': {
        const i = rules?.findIndex((r) => r.join(' ') === rule.join(' ')) ?? -1
        if (i < 0) return fail('Bad rule')
        rules!.splice(i, 1)
        return ok()
      }
      default:
        return { code: 2, stdout: '', stderr: `fake iptables: ${op} not supported` }
    }
  }

  async restore(text: string): Promise<IptablesResult> {
    this.calls.push(`restore:\n${text}`)
    const next = new Map([...this.chains].map(([k, v]) => [k, [...v]]))
    const lines = text.split('\n').filter((l) => l.trim() !== '')
    if (lines[0] !== '*nat' || lines.at(-1) !== 'COMMIT') return { code: 2, stdout: '', stderr: 'bad input' }
    for (const line of lines.slice(1, -1)) {
      const declared = /^:(\S+) - \[0:0\]$/.exec(line)
      if (declared) {
        next.set(declared[1]!, [])
        continue
      }
      const words = line.split(' ')
      if (words[0] === '-A' && next.has(words[1]!)) next.get(words[1]!)!.push(words.slice(2))
      else if (words[0] === '-X' && next.has(words[1]!)) {
        const used = [...next.values()].some((rs) => rs.some((r) => r.at(-1) === words[1]))
        if (used) return { code: 1, stdout: '', stderr: `chain ${words[1]} in use` }
        next.delete(words[1]!)
      } else return { code: 1, stdout: '', stderr: `bad line: ${line}` }
    }
    this.chains.clear()
    for (const [k, v] of next) this.chains.set(k, v)
    return { code: 0, stdout: '', stderr: '' }
  }

  /** Every chain but the built-in ones. */
  ownChains(): string[] {
    return [...this.chains.keys()].filter((c) => !BUILTIN.includes(c)).sort()
  }

  /**
   * Where the rules would send a new TCP connection from `source` to host:port, walking
   * OUTPUT as the kernel would (nth counters and recent lists kept across calls); null: not
   * rewritten. Pure bookkeeping: nothing is dialled.
   */
  rewrite(source: string, host: string, port: number): { to: string | null; marked: boolean } {
    const state = { marked: false }
    const to = this.walk('OUTPUT', source, host, port, state, 0)
    return { to, marked: state.marked }
  }

  private walk(
    chain: string,
    source: string,
    host: string,
    port: number,
    state: { marked: boolean },
    depth: number,
  ): string | null {
    if (depth > 8) throw new Error('fake iptables: jump loop')
    for (const rule of this.chains.get(chain) ?? []) {
      const at = (flag: string): string | undefined => {
        const i = rule.indexOf(flag)
        return i >= 0 ? rule[i + 1] : undefined
      }
      const dest = at('-d')
      if (dest && dest !== `${host}/32`) continue
      const dport = at('--dport')
      if (dport && Number(dport) !== port) continue
      const recentName = at('--name')
      if (recentName && rule.includes('--rcheck') && !this.recent.get(recentName)?.has(source)) continue
      const every = at('--every')
      if (every) {
        const key = `${chain} ${rule.join(' ')}`
        const seen = this.counters.get(key) ?? 0
        this.counters.set(key, seen + 1)
        if (seen % Number(every) !== 0) continue
      }
      if (recentName && rule.includes('--set')) {
        const set = this.recent.get(recentName) ?? new Set<string>()
        set.add(source)
        this.recent.set(recentName, set)
      }
      const target = at('-j')!
      if (target === 'MARK') {
        state.marked = true
        continue
      }
      if (target === 'DNAT') return at('--to-destination')!
      if (target === 'RETURN') return null
      const result = this.walk(target, source, host, port, state, depth + 1)
      if (result !== null) return result
    }
    return null
  }
}

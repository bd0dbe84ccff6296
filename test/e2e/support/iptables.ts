/**
 * Network partitions for end-to-end tests: iptables rules that drop traffic between the
 * tests' own loopback addresses, tagged with a comment so that every rule this process
 * added is removed afterwards (also on failure).
 */

import { execFileSync } from 'node:child_process'

const tag = `shoal-e2e-${process.pid}`

function iptables(args: string[]): void {
  execFileSync('iptables', ['-w', ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** Whether iptables can be used here (root, binary present). */
export function iptablesAvailable(): boolean {
  try {
    execFileSync('iptables', ['-w', '-L', 'INPUT', '-n'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Drops every packet between `a` and `b` (both directions). */
export function cut(a: string, b: string): void {
  for (const [src, dst] of [
    [a, b],
    [b, a],
  ]) {
    iptables(['-I', 'INPUT', '-s', src!, '-d', dst!, '-m', 'comment', '--comment', tag, '-j', 'DROP'])
  }
}

/** Cuts `group` off from `others`. */
export function partition(group: string[], others: string[]): void {
  for (const a of group) for (const b of others) cut(a, b)
}

/** Removes every rule this process added. */
export function healAll(): void {
  const rules = execFileSync('iptables', ['-w', '-S', 'INPUT'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(tag))
  for (const rule of rules) {
    const args = rule
      .replace(/^-A /, '-D ')
      .match(/"[^"]*"|\S+/g)!
      .map((x) => x.replace(/^"|"$/g, ''))
    iptables(args)
  }
}

/**
 * The host's iptables, behind an interface so that the rules Shoal writes can be checked by
 * tests without root: `run` is one `iptables` command, `restore` feeds rules to
 * `iptables-restore --noflush` (atomic per table: chains it declares are replaced whole, the
 * rest of the table is left as it is). Both wait for the xtables lock, which other agents on
 * the host and Docker take too.
 */

import { execFile } from 'node:child_process'

export interface IptablesResult {
  code: number
  stdout: string
  stderr: string
}

export interface Iptables {
  /** `iptables -w ARGS`: its exit code and output. Throws only when iptables cannot run. */
  run(args: string[]): Promise<IptablesResult>
  /** `iptables-restore -w --noflush` fed `rules`. Throws only when it cannot run. */
  restore(rules: string): Promise<IptablesResult>
}

const TIMEOUT_MS = 10_000

function execute(file: string, args: string[], input?: string): Promise<IptablesResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: TIMEOUT_MS }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr })
      const code = (err as { code?: unknown }).code
      if (typeof code === 'number') return resolve({ code, stdout, stderr })
      reject(err) // ENOENT (no iptables), a timeout: it could not run
    })
    if (input !== undefined) child.stdin?.end(input)
  })
}

export const systemIptables: Iptables = {
  run: (args) => execute('iptables', ['-w', ...args]),
  restore: (rules) => execute('iptables-restore', ['-w', '--noflush'], rules),
}

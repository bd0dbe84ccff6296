/**
 * Child processes and temporary directories of a benchmark, cleaned up always: on a normal
 * end (`cleanup()`), on an error, on SIGINT/SIGTERM, and when the process exits for any other
 * reason (an `exit` hook that SIGKILLs what is left and removes the directories).
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** One process the benchmark started. */
export interface Child {
  readonly name: string
  readonly process: ChildProcess
  readonly pid: number
  /** Resolves when the process has exited (whatever the reason). */
  readonly exited: Promise<void>
}

const children = new Set<Child>()
const dirs = new Set<string>()
let hooked = false

function running(c: Child): boolean {
  return c.process.exitCode === null && c.process.signalCode === null
}

/** Synchronous last resort: SIGKILL every child still running and remove every temp dir. */
function cleanupSync(): void {
  for (const c of children) {
    if (running(c)) {
      try {
        c.process.kill('SIGKILL')
      } catch {
        // already gone
      }
    }
  }
  children.clear()
  // SHOAL_BENCH_KEEP=1 keeps the data dirs and logs, for a look after a failed run.
  if (!process.env.SHOAL_BENCH_KEEP) for (const d of dirs) rmSync(d, { recursive: true, force: true })
  dirs.clear()
}

function hook(): void {
  if (hooked) return
  hooked = true
  process.on('exit', cleanupSync)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\nbench: ${signal}: stopping every process started and removing temp dirs`)
      cleanupSync()
      process.exit(130)
    })
  }
}

/** A temporary directory under os.tmpdir(), removed by `cleanup()` or at exit. */
export function tempDir(prefix: string): string {
  hook()
  const dir = mkdtempSync(join(tmpdir(), prefix))
  dirs.add(dir)
  return dir
}

/** Starts `command` with its stdout and stderr appended to `logFile`. */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
): Child {
  hook()
  const log = openSync(logFile, 'a')
  const proc = spawn(command, args, { stdio: ['ignore', log, log], env })
  closeSync(log)
  if (proc.pid === undefined) throw new Error(`bench: could not start ${name} (${command})`)
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', () => resolve())
    proc.once('error', () => resolve())
  })
  const child: Child = { name, process: proc, pid: proc.pid, exited }
  children.add(child)
  void exited.then(() => children.delete(child))
  return child
}

/** Sends `signal` and waits for the exit; SIGKILL if it has not exited after `graceMs`. */
export async function stopProcess(
  child: Child,
  signal: NodeJS.Signals = 'SIGKILL',
  graceMs = 5000,
): Promise<void> {
  if (!running(child)) return
  child.process.kill(signal)
  if (signal === 'SIGKILL') return child.exited
  const timer = setTimeout(() => {
    if (running(child)) child.process.kill('SIGKILL')
  }, graceMs)
  await child.exited
  clearTimeout(timer)
}

/** Stops every child still running (SIGTERM-like `signal` first) and removes the temp dirs. */
export async function cleanup(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  await Promise.all([...children].map((c) => stopProcess(c, signal)))
  cleanupSync()
}

/** Linux reports process times in clock ticks of 1/100 s (USER_HZ, 100 on every common architecture). */
const TICKS_PER_SECOND = 100

/** CPU seconds (user + system) a process has used so far, from /proc; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may contain spaces; the fields after it start past the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of the whole line, so 11 and 12 after the name.
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return 0
  }
}

/** The whole machine's CPU time so far, in seconds summed over all cores, from /proc/stat. */
export interface MachineCpu {
  /** Time spent running anything (user, nice, system, irq, softirq). */
  busy: number
  /** Time a virtual machine's cores waited for the host (steal). */
  steal: number
  /** Everything, idle and iowait included. */
  total: number
}

export function machineCpu(): MachineCpu {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map((x) => Number(x) / TICKS_PER_SECOND)
    const busy = user! + nice! + system! + irq! + softirq!
    return { busy, steal: steal ?? 0, total: busy + idle! + iowait! + (steal ?? 0) }
  } catch {
    return { busy: 0, steal: 0, total: 0 }
  }
}

/**
 * ProcessRuntime: the embedded runtime for machines without a container engine (like Nomad's
 * raw_exec). A pod's sandbox is a directory and a loopback address; a container is its command
 * run on the host as a supervised, detached process group that outlives the agent.
 *
 * On disk (everything a restarted agent needs to adopt what it left):
 *
 *   <stateDir>/pods/<podUid>/sandbox.json              id, node, pod, ip, createdAtMs, state
 *   <stateDir>/pods/<podUid>/containers/<name>-<attempt>/
 *     config.json   what createContainer was asked (env resolved), never rewritten
 *     wrapper.sh    the supervisor script startContainer runs (/bin/sh, detached session)
 *     state.json    the supervisor's pid, its start time (/proc/<pid>/stat field 22) and boot id
 *     cpid          the command's pid = its process group, written by the command once in its session
 *     log           the output, one `<unix ns> <line>` per line
 *     exit          `<status> <unix ns>`, written by the supervisor when the command is gone
 *   <leaseDir>/<ip>                                     the pod IP's lease, host-wide
 *
 * The supervisor (wrapper.sh) runs the command in its own session (`setsid`), so the stop
 * signals sent to the command's group never reach the supervisor, which then records the exit
 * status as a shell reports it (128 + signal) even after a SIGKILL, and even when the agent that
 * started it is long gone. When the command ends, the rest of its group is SIGKILLed, as an
 * engine does when a container's first process ends.
 *
 * Logs: the command's stdout and stderr go through a fifo to a timestamper that prefixes each
 * line with the time it was read, so lines written while the agent is down are still stamped.
 * The timestamper is the cheapest that works here, probed once: perl with Time::HiRes (one
 * process, buffered reads), bash or busybox sh with $EPOCHREALTIME (no fork per line, but
 * byte-at-a-time reads), or /bin/sh with `date +%s%N` (a fork per line). Measured on a 2-core
 * Debian 12 host, 5000 short lines: perl 64 ms, busybox 90 ms, bash 111 ms (each with ~50 ms of
 * start-up), sh+date 2 s (~0.4 ms a line: a chatty container would be slowed to ~2500 lines/s
 * and cost a core). Partial lines wait for their newline (or the end). The log file is not
 * rotated: it grows with the container's output until the container is removed.
 *
 * The state dir is private (0700): config.json holds the resolved environment, secrets included.
 *
 * Mounts: processes share the host's filesystem, so a mount is made by running the command in a
 * private mount namespace (`unshare --mount`) where hostPath is bind-mounted at containerPath;
 * a missing mount point is created on the host first (an empty directory or file, left in place:
 * removing it could detach the mount inside another pod's namespace). This needs root and
 * util-linux; without them a pod with mounts fails with CreateContainerError.
 *
 * Not done: resource limits (`ulimit -v` breaks runtimes that reserve address space, and cgroups
 * are the agent's business on a real host: logged once, ignored), hostPort publishing and
 * per-pod DNS (the command binds what it likes, and uses the host's resolver), images (the image
 * is informational: ensureImage answers an empty id), the hostname (HOSTNAME is only set in the
 * environment).
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs'
import { link, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { constants as osConstants, tmpdir } from 'node:os'
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { type Clock, SystemClock } from '../util/clock.js'
import type { Logger } from '../util/logger.js'
import { SHOAL_VERSION } from '../util/version.js'
import {
  type ContainerConfig,
  type ContainerStatus,
  CreateContainerError,
  type ImageResult,
  type LogOptions,
  type Mount,
  RunContainerError,
  type Runtime,
  type SandboxConfig,
  type SandboxStatus,
} from './runtime.js'

/** How ProcessRuntime is built. */
export interface ProcessRuntimeConfig {
  /** The node whose agent this runtime serves. */
  nodeName: string
  /** The agent's directory for this runtime, e.g. `<data-dir>/process-runtime`. */
  stateDir: string
  /** The host-wide directory of loopback IP leases, shared by every Shoal peer on the host. */
  leaseDir: string
  /** Where pod IPs come from: a CIDR inside 127.0.0.0/8 (the kernel routes all of it to lo). */
  ipRange: string
  /** How log lines are timestamped; 'auto' picks the cheapest that works (see the module doc). */
  timestamper: TimestamperKind | 'auto'
  /** How often exits of adopted processes are looked for, while someone listens. */
  eventPollMs: number
}

/** The defaults: leases in the OS temp dir, pod IPs in 127.200.0.0/16. */
export function defaultProcessRuntimeConfig(): Omit<ProcessRuntimeConfig, 'nodeName' | 'stateDir'> {
  return {
    leaseDir: join(tmpdir(), 'shoal-loopback-leases'),
    ipRange: '127.200.0.0/16',
    timestamper: 'auto',
    eventPollMs: 1000,
  }
}

/** Checks a config, naming the field and the value in the error. */
export function validateProcessRuntimeConfig(config: ProcessRuntimeConfig): void {
  if (!config.nodeName) throw new Error(`nodeName: must not be empty`)
  if (!config.stateDir) throw new Error(`stateDir: must not be empty`)
  if (!config.leaseDir) throw new Error(`leaseDir: must not be empty`)
  parseIpRange(config.ipRange)
  if (!['auto', ...TIMESTAMPERS].includes(config.timestamper))
    throw new Error(`timestamper: unknown kind '${config.timestamper}' (auto, ${TIMESTAMPERS.join(', ')})`)
  if (!(config.eventPollMs > 0)) throw new Error(`eventPollMs: must be > 0, got ${config.eventPollMs}`)
}

// ---------------------------------------------------------------------------------- pure parts

/** A range of pod IPs: `size` addresses from `base` (uint32). */
export interface IpRange {
  base: number
  size: number
}

/** Parses a CIDR inside 127.0.0.0/8 with a prefix of 8 to 30 bits. */
export function parseIpRange(cidr: string): IpRange {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr)
  const octets = m ? m.slice(1, 5).map(Number) : []
  const prefix = m ? Number(m[5]) : -1
  if (!m || octets.some((o) => o > 255) || prefix < 8 || prefix > 30)
    throw new Error(`ipRange: '${cidr}' is not an IPv4 CIDR with a prefix of 8 to 30`)
  if (octets[0] !== 127) throw new Error(`ipRange: '${cidr}' is not inside 127.0.0.0/8 (loopback)`)
  const size = 2 ** (32 - prefix)
  const addr = ((octets[0]! << 24) >>> 0) + (octets[1]! << 16) + (octets[2]! << 8) + octets[3]!
  return { base: addr - (addr % size), size }
}

/** The dotted form of a uint32 address. */
function ipString(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

/**
 * The addresses of `range` that may be handed out, in the order to try them: starting at a
 * point derived from `key` (so runtimes racing for addresses rarely try the same one first),
 * skipping the network and broadcast addresses and any ending in .0 or .255.
 */
export function* ipCandidates(range: IpRange, key: string): Generator<string> {
  const start = createHash('sha256').update(key).digest().readUInt32BE(0) % range.size
  for (let k = 0; k < range.size; k++) {
    const i = (start + k) % range.size
    if (i === 0 || i === range.size - 1) continue
    const n = range.base + i
    if ((n & 255) === 0 || (n & 255) === 255) continue
    yield ipString(n)
  }
}

/**
 * Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined, also for
 * a zombie (state Z or X: dead, only waiting to be reaped, by a parent that may never do it).
 */
export function parseProcStartTime(stat: string): string | undefined {
  // The command name (field 2) is in parentheses and may hold spaces and parentheses.
  const close = stat.lastIndexOf(')')
  if (close < 0) return undefined
  const fields = stat
    .slice(close + 2)
    .trim()
    .split(' ')
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined
  return fields[19] // fields[0] is field 3
}

/** Quotes a string for a POSIX shell. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/** RFC 3339 with nanoseconds from a decimal count of nanoseconds since the epoch. */
export function nanosTimestamp(ns: string): string {
  const digits = ns.padStart(10, '0')
  const seconds = Number(digits.slice(0, -9))
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${digits.slice(-9)}Z`
}

/** A stored log line (`<ns> <text>`) as `logs` shows it; `ms` is its time (0 if unstamped). */
export function parseLogLine(stored: string): { ns: string; ms: number; text: string } {
  const m = /^(\d{10,20}) /.exec(stored)
  if (!m) return { ns: '', ms: 0, text: stored }
  return { ns: m[1]!, ms: Number(m[1]!.slice(0, -6)), text: stored.slice(m[0].length) }
}

/** The timestamping programs the wrapper can use, cheapest first. */
export const TIMESTAMPERS = ['perl', 'bash', 'busybox', 'sh'] as const
/** One of TIMESTAMPERS. */
export type TimestamperKind = (typeof TIMESTAMPERS)[number]

const PERL_STAMP =
  '$|=1; while (defined(my $l = <STDIN>)) { chomp $l; my ($s, $u) = gettimeofday(); printf "%d%06d000 %s\\n", $s, $u, $l }'
const SHELL_STAMP_REALTIME =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions, not a template
  'while IFS= read -r l || [ -n "$l" ]; do t=${EPOCHREALTIME%[.,]*}${EPOCHREALTIME#*[.,]}; printf "%s000 %s\\n" "$t" "$l"; l=; done'
const SHELL_STAMP_DATE = (date: string): string =>
  `while IFS= read -r l || [ -n "$l" ]; do printf "%s %s\\n" "$(${date} +%s%N)" "$l"; l=; done`

/**
 * The command of a timestamper (stdin → stamped stdout), given where programs are; a simple
 * command, so that `exec` can run it. $EPOCHREALTIME's decimal point follows the locale: both
 * '.' and ',' are cut out.
 */
export function timestamperCommand(
  kind: TimestamperKind,
  tools: { [name: string]: string | undefined },
): string {
  switch (kind) {
    case 'perl':
      return `${shQuote(tools.perl ?? 'perl')} -MTime::HiRes=gettimeofday -e ${shQuote(PERL_STAMP)}`
    case 'bash':
      return `${shQuote(tools.bash ?? 'bash')} -c ${shQuote(SHELL_STAMP_REALTIME)}`
    case 'busybox':
      return `${shQuote(tools.busybox ?? 'busybox')} sh -c ${shQuote(SHELL_STAMP_REALTIME)}`
    case 'sh':
      return `/bin/sh -c ${shQuote(SHELL_STAMP_DATE(shQuote(tools.date ?? 'date')))}`
  }
}

/** What the wrapper needs to run one container. */
export interface WrapperPlan {
  /** The container's directory. */
  dir: string
  argv: string[]
  cwd: string
  mounts: (Mount & { sourceIsDirectory: boolean })[]
  tools: { setsid: string; unshare?: string; mount?: string; date: string; envDefaultSignal?: string }
  timestamper: string
}

/**
 * The supervisor script of one container (run by /bin/sh, which may be dash). Every value is
 * quoted into the script, so it does not depend on the container's environment (PATH, IFS).
 */
export function wrapperScript(plan: WrapperPlan): string {
  const d = shQuote(plan.dir)
  // The command names its group itself, from inside its new session: the supervisor's `$!` is
  // known before the child has called setsid, and a stop signal sent to that group then would be
  // lost (ESRCH). One write of a few bytes by a builtin: readers see all of it or nothing.
  const inner: string[] = [`echo $$ > ${shQuote(join(plan.dir, 'cpid'))}`]
  for (const m of plan.mounts) {
    const target = shQuote(m.containerPath)
    const mountpoint = m.sourceIsDirectory
      ? `mkdir -p ${target}`
      : `mkdir -p ${shQuote(dirname(m.containerPath))} && { [ -e ${target} ] || : > ${target}; }`
    inner.push(`${mountpoint} || exit 126`)
    inner.push(`${shQuote(plan.tools.mount!)} --bind ${shQuote(m.hostPath)} ${target} || exit 126`)
    if (m.readOnly) inner.push(`${shQuote(plan.tools.mount!)} -o remount,bind,ro ${target} || exit 126`)
  }
  inner.push('PATH=$1; shift; export PATH')
  inner.push(`cd ${shQuote(plan.cwd)} || exit 126`)
  inner.push('exec "$@"')
  // Background jobs of a non-interactive shell start with SIGINT and SIGQUIT ignored; give the
  // command the defaults back when `env` can.
  const prefix = [shQuote(plan.tools.setsid)]
  if (plan.tools.envDefaultSignal)
    prefix.push(shQuote(plan.tools.envDefaultSignal), '--default-signal=INT,QUIT')
  if (plan.mounts.length > 0) prefix.push(shQuote(plan.tools.unshare!), '--mount', '--propagation', 'private')
  prefix.push('/bin/sh', '-c', shQuote(inner.join('\n')), 'shoal-container', '"$cpath"')
  const command = [...prefix, ...plan.argv.map(shQuote)].join(' ')
  return `# Shoal process runtime: the supervisor of one container (see src/agent/process-runtime.ts).
IFS=' 	
'
# The container's PATH is for its command; the supervisor's programs come from the usual places.
cpath=$PATH
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
d=${d}
finish() {
  echo "$1 $(${shQuote(plan.tools.date)} +%s%N)" > "$d/exit.tmp" && mv "$d/exit.tmp" "$d/exit"
  exit "$1"
}
rm -f "$d/out.fifo" && mkfifo -m 600 "$d/out.fifo" || finish 125
# The timestamper outlives signals to the supervisor's group, to log the command's last words.
( trap '' TERM INT HUP; exec ${plan.timestamper} ) < "$d/out.fifo" >> "$d/log" 2>> "$d/wrapper.log" &
ts=$!
${command} > "$d/out.fifo" 2>&1 < /dev/null &
c=$!
# Signals sent to the supervisor itself are passed on to the command's group.
trap 'kill -TERM -"$c" 2>/dev/null' TERM
trap 'kill -INT -"$c" 2>/dev/null' INT
trap 'kill -HUP -"$c" 2>/dev/null' HUP
# A trapped signal interrupts wait (status > 128) while the command still runs: wait again.
# If the command ended meanwhile (while the trap ran), the status is the interrupted wait's,
# not the command's: the shell still holds the command's own, which one more wait returns
# (127 only when there is none).
while :; do
  wait "$c"; st=$?
  [ "$st" -gt 128 ] || break
  kill -0 "$c" 2>/dev/null && continue
  wait "$c"; own=$?
  [ "$own" -ne 127 ] && st=$own
  break
done
# The container ends with its command: what it left in its group goes too.
kill -KILL -"$c" 2>/dev/null
rm -f "$d/out.fifo"
# Drain the log: the timestamper ends with the pipe; a process that left the group but holds
# it gets 2 s. (No watchdog subshell: a signal can be lost while one starts. The timestamper
# is reaped by the shell during a sleep, so kill -0 turns false; it is only killed while it is
# still an unreaped child, whose pid cannot have been reused.)
n=0
while kill -0 "$ts" 2>/dev/null; do
  [ "$n" -ge 40 ] && { kill -KILL "$ts" 2>/dev/null; break; }
  sleep 0.05; n=$((n + 1))
done
wait "$ts"
finish "$st"
`
}

function statSyncSafe(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path)
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------- host probing

/** Where the programs the wrapper uses live on this host. */
interface HostTools {
  setsid?: string
  unshare?: string
  mount?: string
  nsenter?: string
  date?: string
  perl?: string
  bash?: string
  busybox?: string
  /** `env`, when it understands --default-signal (coreutils ≥ 8.31). */
  envDefaultSignal?: string
  /** The working timestamper kinds, cheapest first. */
  timestampers: TimestamperKind[]
}

const SEARCH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']

function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(isAbsolute), ...SEARCH_DIRS]
  for (const dir of dirs) {
    const path = join(dir, name)
    try {
      accessSync(path, fsConstants.X_OK)
      if (statSync(path).isFile()) return path
    } catch {
      // not here: try the next directory
    }
  }
  return undefined
}

let hostToolsMemo: HostTools | undefined

/** Probes the host once per process (a few short runs of the candidate programs). */
function hostTools(): HostTools {
  if (hostToolsMemo) return hostToolsMemo
  const t: HostTools = { timestampers: [] }
  for (const name of ['setsid', 'unshare', 'mount', 'nsenter', 'date', 'perl', 'bash', 'busybox'] as const)
    t[name] = findProgram(name)
  const env = findProgram('env')
  if (env) {
    try {
      execFileSync(env, ['--default-signal=INT', 'true'], { stdio: 'ignore', timeout: 5000 })
      t.envDefaultSignal = env
    } catch {
      // an env without --default-signal (busybox): the command keeps SIGINT ignored
    }
  }
  for (const kind of TIMESTAMPERS) {
    if (kind !== 'sh' && !t[kind]) continue
    try {
      const out = execFileSync('/bin/sh', ['-c', timestamperCommand(kind, t as never)], {
        input: 'a b\nc',
        timeout: 5000,
        stdio: ['pipe', 'pipe', 'ignore'],
      }).toString()
      if (/^\d{19} a b\n\d{19} c\n$/.test(out)) t.timestampers.push(kind)
    } catch {
      // this kind does not work here (no Time::HiRes, no $EPOCHREALTIME): try the next
    }
  }
  hostToolsMemo = t
  return t
}

let bootIdMemo: string | undefined

function bootId(): string {
  if (bootIdMemo === undefined) {
    try {
      bootIdMemo = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
    } catch {
      bootIdMemo = ''
    }
  }
  return bootIdMemo
}

// --------------------------------------------------------------------------------- records

/** sandbox.json. Persisted: add fields, never rename them. */
interface SandboxRecord {
  id: string
  node: string
  podUid: string
  podName: string
  namespace: string
  hostname: string
  ip: string
  createdAtMs: number
  state: 'ready' | 'notready'
}

/** config.json. Persisted: add fields, never rename them. */
interface ContainerRecord {
  id: string
  node: string
  sandboxId: string
  podUid: string
  name: string
  attempt: number
  image: string
  argv: string[]
  env: Record<string, string>
  cwd: string
  mounts: Mount[]
  terminationMessagePath?: string
  createdAtMs: number
}

/** state.json: the supervisor, written once at start. Persisted: never rename fields. */
interface StartRecord {
  pid: number
  /** /proc/<pid>/stat field 22: with the boot id, tells the supervisor from a reused pid. */
  startTime: string
  bootId: string
  startedAtMs: number
}

/** The lease file's content. */
interface LeaseRecord {
  node: string
  podUid: string
  stateDir: string
}

const UID_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/
const NAME_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
/** Leases younger than this are never reclaimed: their sandbox may be being written. */
const LEASE_RECLAIM_MIN_AGE_MS = 60_000
const STOP_POLL_MS = 50
const LOG_POLL_MS = 100
/** After SIGKILL, how long the supervisor gets to record the exit before it is killed too. */
const KILL_WAIT_MS = 5000
/** How long a command that is starting gets to name its process group (exec, stop without grace). */
const GROUP_WAIT_MS = 2000
/** Exec output kept (the rest is dropped, and the output says so). */
const EXEC_OUTPUT_MAX_BYTES = 1 << 20

// ---------------------------------------------------------------------------------- runtime

/** A container runtime whose containers are process groups on this host. */
export class ProcessRuntime implements Runtime {
  readonly name = 'process'
  private readonly config: ProcessRuntimeConfig
  private readonly stateDir: string
  private readonly leaseDir: string
  private readonly range: IpRange
  private readonly clock: Clock
  private readonly log: Logger
  private closed = false
  private leasesReclaimed = false
  private limitsLogged = false
  private readonly listeners = new Set<(id: string) => void>()
  private readonly children = new Set<ChildProcess>()
  private pollTimer: ReturnType<Clock['setTimeout']> | undefined
  private lastStates = new Map<string, ContainerStatus['state']>()
  // Caches of what never changes once on disk: config.json, state.json, the exit file.
  private readonly configs = new Map<string, ContainerRecord>()
  private readonly starts = new Map<string, StartRecord>()
  private readonly exits = new Map<string, { code: number; finishedAtMs: number; message?: string }>()

  constructor(
    options: Partial<ProcessRuntimeConfig> & {
      nodeName: string
      stateDir: string
      logger: Logger
      clock?: Clock
    },
  ) {
    const { logger, clock, ...rest } = options
    this.config = { ...defaultProcessRuntimeConfig(), ...rest }
    validateProcessRuntimeConfig(this.config)
    this.stateDir = resolve(this.config.stateDir)
    this.leaseDir = resolve(this.config.leaseDir)
    this.range = parseIpRange(this.config.ipRange)
    this.clock = clock ?? new SystemClock()
    this.log = logger.child({ component: 'process-runtime', node: this.config.nodeName })
  }

  async version(): Promise<string> {
    return `process://${SHOAL_VERSION}`
  }

  /** Images do not exist here: the image is informational, the policy is ignored. */
  async ensureImage(_image: string, _policy: 'Always' | 'IfNotPresent' | 'Never'): Promise<ImageResult> {
    return { imageId: '' }
  }

  // ---------------------------------------------------------------- sandboxes

  async runSandbox(config: SandboxConfig): Promise<SandboxStatus> {
    if (!UID_RE.test(config.podUid)) throw new Error(`pod uid '${config.podUid}' cannot name a directory`)
    const podDir = this.podDir(config.podUid)
    const existing = await this.readSandbox(config.podUid)
    if (existing) {
      // A second run for the same pod (an agent that crashed mid-way) answers the sandbox it has.
      if (existing.state === 'ready') return this.sandboxStatus(existing)
      throw new Error(`pod ${config.podUid} already has a stopped sandbox ${existing.id}: remove it first`)
    }
    // Private: config.json holds the resolved env, secrets included.
    await mkdir(join(this.stateDir, 'pods'), { recursive: true, mode: 0o700 })
    await mkdir(join(podDir, 'containers'), { recursive: true })
    const ip = await this.leaseIp(config.podUid)
    const record: SandboxRecord = {
      id: `sb-${config.podUid}`,
      node: this.config.nodeName,
      podUid: config.podUid,
      podName: config.podName,
      namespace: config.namespace,
      hostname: config.hostname,
      ip,
      createdAtMs: this.clock.now(),
      state: 'ready',
    }
    try {
      await writeJsonAtomic(join(podDir, 'sandbox.json'), record)
    } catch (err) {
      await this.releaseIp(ip, config.podUid)
      throw err
    }
    this.log.debug({ pod: `${config.namespace}/${config.podName}`, ip }, 'sandbox created')
    return this.sandboxStatus(record)
  }

  async stopSandbox(id: string): Promise<void> {
    const uid = sandboxUid(id)
    const record = uid && (await this.readSandbox(uid))
    if (!record) return
    const dirs = await readdirSafe(join(this.podDir(uid), 'containers'))
    const ids = dirs.map((d) => containerIdOfDir(uid, d)).filter((id): id is string => id !== undefined)
    await Promise.all(ids.map((id) => this.stopContainer(id, 0)))
    if (record.state !== 'notready')
      await writeJsonAtomic(join(this.podDir(uid), 'sandbox.json'), { ...record, state: 'notready' })
  }

  async removeSandbox(id: string): Promise<void> {
    const uid = sandboxUid(id)
    const record = uid && (await this.readSandbox(uid))
    if (!record) return
    await this.stopSandbox(id)
    await rm(this.podDir(uid), { recursive: true, force: true })
    for (const key of this.configs.keys()) if (key.startsWith(`${uid}.`)) this.forget(key)
    await this.releaseIp(record.ip, uid)
  }

  async listSandboxes(): Promise<SandboxStatus[]> {
    const uids = await readdirSafe(join(this.stateDir, 'pods'))
    const records = await Promise.all(uids.map((uid) => this.readSandbox(uid)))
    return records.filter((r): r is SandboxRecord => r !== undefined).map((r) => this.sandboxStatus(r))
  }

  // ---------------------------------------------------------------- containers

  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    const uid = sandboxUid(sandboxId)
    const sandbox = uid && (await this.readSandbox(uid))
    if (!sandbox) throw new CreateContainerError(`no sandbox ${sandboxId}`)
    if (sandbox.podUid !== config.podUid)
      throw new CreateContainerError(`sandbox ${sandboxId} is not pod ${config.podUid}'s`)
    if (sandbox.state !== 'ready') throw new CreateContainerError(`sandbox ${sandboxId} is stopped`)
    if (!NAME_RE.test(config.name))
      throw new CreateContainerError(`container name '${config.name}' is invalid`)
    if (!Number.isInteger(config.attempt) || config.attempt < 0)
      throw new CreateContainerError(`attempt ${config.attempt} is invalid`)
    const argv = [...(config.command ?? []), ...(config.args ?? [])]
    if (argv.length === 0) throw new CreateContainerError('the process runtime needs a command')
    this.checkMounts(config.mounts)
    if ((config.limits.memoryBytes || config.limits.nanoCpus) && !this.limitsLogged) {
      this.limitsLogged = true
      this.log.warn({ container: config.name }, 'the process runtime does not enforce memory or cpu limits')
    }

    const id = `${uid}.${config.name}.${config.attempt}`
    const dir = this.containerDir(id)
    try {
      await mkdir(dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST')
        throw new CreateContainerError(`container ${config.name} attempt ${config.attempt} already exists`)
      throw new CreateContainerError(`cannot make ${dir}: ${(err as Error).message}`)
    }
    this.forget(id)
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOSTNAME: sandbox.hostname,
      POD_IP: sandbox.ip,
      POD_NAME: sandbox.podName,
      POD_NAMESPACE: sandbox.namespace,
    }
    for (const e of config.env) env[e.name] = e.value
    const record: ContainerRecord = {
      id,
      node: this.config.nodeName,
      sandboxId,
      podUid: config.podUid,
      name: config.name,
      attempt: config.attempt,
      image: config.image,
      argv,
      env,
      cwd: config.workingDir || this.podDir(uid),
      mounts: config.mounts,
      ...(config.terminationMessagePath ? { terminationMessagePath: config.terminationMessagePath } : {}),
      createdAtMs: this.clock.now(),
    }
    await writeJsonAtomic(join(dir, 'config.json'), record)
    return id
  }

  async startContainer(id: string): Promise<void> {
    const record = await this.readConfig(id)
    if (!record) throw new RunContainerError(`no container ${id}`)
    const dir = this.containerDir(id)
    if (await exists(join(dir, 'state.json')))
      throw new RunContainerError(`container ${id} was already started`)
    const tools = hostTools()
    if (!tools.setsid || !tools.date)
      throw new RunContainerError('the process runtime needs setsid and date (util-linux, coreutils)')
    const timestamper = this.pickTimestamper(tools)
    this.checkExecutable(record)

    const script = wrapperScript({
      dir,
      argv: record.argv,
      cwd: record.cwd,
      mounts: record.mounts.map((m) => ({
        ...m,
        sourceIsDirectory: !!statSyncSafe(m.hostPath)?.isDirectory(),
      })),
      tools: {
        setsid: tools.setsid,
        date: tools.date,
        ...(tools.unshare ? { unshare: tools.unshare } : {}),
        ...(tools.mount ? { mount: tools.mount } : {}),
        ...(tools.envDefaultSignal ? { envDefaultSignal: tools.envDefaultSignal } : {}),
      },
      timestamper: timestamperCommand(timestamper, tools as never),
    })
    await writeFile(join(dir, 'wrapper.sh'), script)
    const wrapperLog = await open(join(dir, 'wrapper.log'), 'a')
    let child: ChildProcess
    try {
      child = spawn('/bin/sh', [join(dir, 'wrapper.sh')], {
        detached: true, // its own session: the agent's end (or its group's) does not reach it
        stdio: ['ignore', wrapperLog.fd, wrapperLog.fd],
        env: record.env,
        cwd: this.podDir(record.podUid),
      })
    } finally {
      await wrapperLog.close()
    }
    const pid = child.pid
    if (pid === undefined) {
      const err = await new Promise<Error>((r) => child.once('error', r))
      throw new RunContainerError(`cannot start the supervisor of ${id}: ${err.message}`)
    }
    // Read at once: the child cannot be reaped before this turn of the event loop ends.
    const startTime = procStartTime(pid)
    const start: StartRecord = {
      pid,
      startTime: startTime ?? '',
      bootId: bootId(),
      startedAtMs: this.clock.now(),
    }
    await writeJsonAtomic(join(dir, 'state.json'), start)
    this.starts.set(id, start)
    this.children.add(child)
    child.once('exit', () => {
      this.children.delete(child)
      this.emit(id)
    })
    child.unref()
  }

  async stopContainer(id: string, gracePeriodMs: number): Promise<void> {
    const record = await this.readConfig(id)
    if (!record) return
    const start = await this.readStart(id)
    if (!start || (await this.hasExited(id, start))) return
    const dir = this.containerDir(id)
    // The grace period counts from the stop, a command still starting up included.
    const deadline = this.clock.now() + gracePeriodMs
    const group = await this.commandGroup(id, start, Math.max(gracePeriodMs, GROUP_WAIT_MS))
    if (group === undefined && (await this.hasExited(id, start))) return
    if (group !== undefined && gracePeriodMs > 0) {
      signalGroup(group, 'SIGTERM')
      while (this.clock.now() < deadline) {
        if (await this.hasExited(id, start)) return
        await this.sleep(Math.min(STOP_POLL_MS, deadline - this.clock.now()))
      }
    }
    if (group !== undefined) signalGroup(group, 'SIGKILL')
    else signalGroup(start.pid, 'SIGKILL') // no command group known: end the whole container
    const killDeadline = this.clock.now() + KILL_WAIT_MS
    while (this.clock.now() < killDeadline) {
      if (await this.hasExited(id, start)) return
      await this.sleep(STOP_POLL_MS)
    }
    // The supervisor did not record the exit (stuck, or gone with the container): end it and
    // record what we did.
    this.log.warn({ container: id }, 'the supervisor did not record the exit; killing it')
    if (isAlive(start)) signalGroup(start.pid, 'SIGKILL')
    if (!(await exists(join(dir, 'exit'))))
      await writeAtomic(join(dir, 'exit'), `137 ${this.clock.now()}000000\n`)
  }

  async removeContainer(id: string): Promise<void> {
    const record = await this.readConfig(id)
    if (!record) return
    await this.stopContainer(id, 0)
    await rm(this.containerDir(id), { recursive: true, force: true })
    this.forget(id)
  }

  async listContainers(): Promise<ContainerStatus[]> {
    const uids = await readdirSafe(join(this.stateDir, 'pods'))
    const perPod = await Promise.all(
      uids.map(async (uid) => {
        const dirs = await readdirSafe(join(this.podDir(uid), 'containers'))
        return dirs.map((d) => containerIdOfDir(uid, d)).filter((id): id is string => id !== undefined)
      }),
    )
    const ids = perPod.flat()
    const seen = new Set(ids)
    for (const key of this.configs.keys()) if (!seen.has(key)) this.forget(key)
    const statuses = await Promise.all(ids.map((id) => this.status(id)))
    return statuses.filter((s): s is ContainerStatus => s !== undefined)
  }

  async exec(
    id: string,
    command: string[],
    timeoutMs: number,
  ): Promise<{ exitCode: number; output: string }> {
    const record = await this.readConfig(id)
    const start = record && (await this.readStart(id))
    if (!record || !start || (await this.hasExited(id, start)))
      throw new Error(`container ${id} is not running`)
    if (command.length === 0) throw new Error('exec needs a command')
    let argv = command
    let cwd: string | undefined = record.cwd
    if (record.mounts.length > 0) {
      // Run where the container's mounts are: inside its mount namespace.
      const group = await this.commandGroup(id, start)
      const nsenter = hostTools().nsenter
      if (group === undefined || !nsenter) throw new Error(`cannot enter the mount namespace of ${id}`)
      argv = [nsenter, `--mount=/proc/${group}/ns/mnt`, `--wd=${record.cwd}`, '--', ...command]
      cwd = undefined
    }
    return new Promise((resolvePromise, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        detached: true, // its own group, so a timeout ends all it started
        stdio: ['ignore', 'pipe', 'pipe'],
        env: record.env,
        ...(cwd ? { cwd } : {}),
      })
      const chunks: Buffer[] = []
      let bytes = 0
      let truncated = false
      const take = (chunk: Buffer): void => {
        if (bytes >= EXEC_OUTPUT_MAX_BYTES) {
          truncated = true
          return
        }
        chunks.push(chunk.subarray(0, EXEC_OUTPUT_MAX_BYTES - bytes))
        bytes += chunk.length
      }
      child.stdout.on('data', take)
      child.stderr.on('data', take)
      const timer = this.clock.setTimeout(() => {
        if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL')
        reject(new Error(`exec in ${id} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      child.once('error', (err) => {
        this.clock.clearTimeout(timer)
        reject(new Error(`exec in ${id}: ${err.message}`))
      })
      child.once('close', (code, signal) => {
        this.clock.clearTimeout(timer)
        const output = Buffer.concat(chunks).toString('utf8') + (truncated ? '\n[output truncated]\n' : '')
        resolvePromise({ exitCode: code ?? 128 + signalNumber(signal), output })
      })
    })
  }

  async logs(id: string, options: LogOptions): Promise<Readable> {
    const record = await this.readConfig(id)
    if (!record) throw new Error(`no container ${id}`)
    const path = join(this.containerDir(id), 'log')
    const exited = async (): Promise<boolean> => {
      const start = await this.readStart(id)
      return start !== undefined && (await this.hasExited(id, start))
    }
    // As the kubelet reads CRI logs: the last tailLines lines, then those since sinceMs. A last
    // line without its newline is one being written while the container runs (not a line yet),
    // or, once it has exited, the last thing it wrote.
    const tail =
      options.tailLines !== undefined ? await tailOffset(path, options.tailLines, await exited()) : undefined
    const startOffset = tail?.offset ?? 0
    // Not following, the tail is of the file as it was then: lines written since are not in it.
    const until = !options.follow && tail ? tail.size : undefined
    const format = (stored: string): string | undefined => {
      const line = parseLogLine(stored)
      if (options.sinceMs !== undefined && line.ms < options.sinceMs) return undefined
      if (!options.timestamps || !line.ns) return `${line.text}\n`
      return `${nanosTimestamp(line.ns)} ${line.text}\n`
    }
    const gen = this.logLines(path, startOffset, options, exited, until)
    return Readable.from(
      (async function* () {
        for await (const stored of gen) {
          const out = format(stored)
          if (out !== undefined) yield out
        }
      })(),
      { objectMode: false },
    )
  }

  onContainerEvent(listener: (containerId: string) => void): () => void {
    this.listeners.add(listener)
    this.maybeStartPolling()
    return () => {
      this.listeners.delete(listener)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    this.clock.clearTimeout(this.pollTimer)
    this.pollTimer = undefined
    this.listeners.clear()
    for (const child of this.children) child.removeAllListeners('exit')
    this.children.clear()
  }

  // ---------------------------------------------------------------- internals: files

  private podDir(uid: string): string {
    return join(this.stateDir, 'pods', uid)
  }

  private containerDir(id: string): string {
    const [uid, name, attempt] = id.split('.')
    return join(this.podDir(uid!), 'containers', `${name}-${attempt}`)
  }

  private async readSandbox(uid: string): Promise<SandboxRecord | undefined> {
    if (!UID_RE.test(uid)) return undefined
    const r = await readJson<SandboxRecord>(join(this.podDir(uid), 'sandbox.json'))
    return r && r.node === this.config.nodeName ? r : undefined
  }

  private sandboxStatus(r: SandboxRecord): SandboxStatus {
    return {
      id: r.id,
      podUid: r.podUid,
      podName: r.podName,
      namespace: r.namespace,
      state: r.state,
      ip: r.ip,
      createdAtMs: r.createdAtMs,
    }
  }

  private async readConfig(id: string): Promise<ContainerRecord | undefined> {
    const cached = this.configs.get(id)
    if (cached) return cached
    if (!isContainerId(id)) return undefined
    const r = await readJson<ContainerRecord>(join(this.containerDir(id), 'config.json'))
    if (!r || r.node !== this.config.nodeName || r.id !== id) return undefined
    this.configs.set(id, r)
    return r
  }

  private async readStart(id: string): Promise<StartRecord | undefined> {
    const cached = this.starts.get(id)
    if (cached) return cached
    const r = await readJson<StartRecord>(join(this.containerDir(id), 'state.json'))
    if (r) this.starts.set(id, r)
    return r
  }

  private forget(id: string): void {
    this.configs.delete(id)
    this.starts.delete(id)
    this.exits.delete(id)
    this.lastStates.delete(id)
  }

  /** The exit as recorded, or as inferred from a supervisor that is gone without recording it. */
  private async readExit(
    id: string,
    start: StartRecord,
  ): Promise<{ code: number; finishedAtMs: number; message?: string } | undefined> {
    const cached = this.exits.get(id)
    if (cached) return cached
    const path = join(this.containerDir(id), 'exit')
    let text = await readFile(path, 'utf8').catch(() => undefined)
    if (text === undefined) {
      if (isAlive(start)) return undefined
      // Gone: it may have recorded its exit between our two looks.
      text = await readFile(path, 'utf8').catch(() => undefined)
      if (text === undefined) {
        // Nobody is left to write it: what we infer now is final (finished = first seen gone).
        const inferred = {
          code: 137,
          finishedAtMs: Math.max(start.startedAtMs, this.clock.now()),
          message:
            'the container ended without recording its exit status (its supervisor was killed, or the host restarted)',
        }
        this.exits.set(id, inferred)
        return inferred
      }
    }
    const [code, ns] = text.trim().split(' ')
    const finishedAtMs = ns && /^\d+$/.test(ns) ? Number(ns.slice(0, -6)) : (await stat(path)).mtimeMs
    const exit = { code: Number(code), finishedAtMs: Math.max(start.startedAtMs, Math.floor(finishedAtMs)) }
    this.exits.set(id, exit)
    return exit
  }

  private async hasExited(id: string, start: StartRecord): Promise<boolean> {
    return (await this.readExit(id, start)) !== undefined
  }

  private async status(id: string): Promise<ContainerStatus | undefined> {
    const r = await this.readConfig(id)
    if (!r) return undefined
    const base: ContainerStatus = {
      id,
      podUid: r.podUid,
      name: r.name,
      attempt: r.attempt,
      image: r.image,
      imageId: '',
      state: 'created',
      createdAtMs: r.createdAtMs,
    }
    const start = await this.readStart(id)
    if (!start) return base
    const exit = await this.readExit(id, start)
    if (!exit) return { ...base, state: 'running', startedAtMs: start.startedAtMs }
    const message = exit.message ?? (await this.terminationMessage(r))
    return {
      ...base,
      state: 'exited',
      startedAtMs: start.startedAtMs,
      finishedAtMs: exit.finishedAtMs,
      exitCode: exit.code,
      reason: exit.code === 0 ? 'Completed' : 'Error',
      ...(message ? { message } : {}),
    }
  }

  /** The termination message, when its path is inside a mount (elsewhere it would be the host's). */
  private async terminationMessage(r: ContainerRecord): Promise<string | undefined> {
    const path = r.terminationMessagePath
    if (!path) return undefined
    for (const m of r.mounts) {
      const prefix = m.containerPath.replace(/\/$/, '')
      if (path.startsWith(`${prefix}/`)) {
        const text = await readFile(m.hostPath + path.slice(prefix.length), 'utf8').catch(() => '')
        return text.slice(0, 4096) || undefined
      }
    }
    return undefined
  }

  /** The command's process group, waiting up to `waitMs` for a starting command to name it. */
  private async commandGroup(
    id: string,
    start: StartRecord,
    waitMs = GROUP_WAIT_MS,
  ): Promise<number | undefined> {
    const path = join(this.containerDir(id), 'cpid')
    const deadline = this.clock.now() + waitMs
    for (;;) {
      const text = await readFile(path, 'utf8').catch(() => undefined)
      if (text !== undefined && /^\d+\s*$/.test(text)) return Number(text)
      if (!isAlive(start) || this.clock.now() >= deadline || (await this.hasExited(id, start)))
        return undefined
      await this.sleep(STOP_POLL_MS)
    }
  }

  private checkMounts(mounts: Mount[]): void {
    if (mounts.length === 0) return
    const tools = hostTools()
    for (const m of mounts) {
      if (!isAbsolute(m.containerPath) || resolve(m.containerPath) === '/')
        throw new CreateContainerError(`mount path '${m.containerPath}' must be absolute and not /`)
      if (!statSyncSafe(m.hostPath))
        throw new CreateContainerError(`the mount source ${m.hostPath} does not exist`)
    }
    if (process.getuid?.() !== 0 || !tools.unshare || !tools.mount)
      throw new CreateContainerError(
        'the process runtime makes mounts with bind mounts in a private mount namespace, which needs ' +
          'root and util-linux (unshare, mount); run this pod on a node with a container engine',
      )
  }

  /** Fails like an engine when the command's program cannot be found. */
  private checkExecutable(r: ContainerRecord): void {
    const program = r.argv[0]!
    if (r.mounts.some((m) => program.startsWith(`${m.containerPath.replace(/\/$/, '')}/`))) return
    const candidates = program.includes('/')
      ? [resolve(r.cwd, program)]
      : (r.env.PATH ?? '').split(':').map((dir) => join(dir || '.', program))
    for (const path of candidates) {
      try {
        accessSync(path, fsConstants.X_OK)
        if (statSync(path).isFile()) return
      } catch {
        // not this one
      }
    }
    throw new RunContainerError(`exec: "${program}": executable file not found in $PATH`)
  }

  private pickTimestamper(tools: HostTools): TimestamperKind {
    const wanted = this.config.timestamper
    if (wanted !== 'auto') {
      if (!tools.timestampers.includes(wanted))
        throw new RunContainerError(`the '${wanted}' log timestamper does not work on this host`)
      return wanted
    }
    const kind = tools.timestampers[0]
    if (!kind) throw new RunContainerError('no log timestamper works on this host (not even sh and date)')
    return kind
  }

  // ---------------------------------------------------------------- internals: leases

  private async leaseIp(podUid: string): Promise<string> {
    await mkdir(this.leaseDir, { recursive: true })
    if (!this.leasesReclaimed) {
      this.leasesReclaimed = true
      await this.reclaimLeases()
    }
    const content = JSON.stringify({
      node: this.config.nodeName,
      podUid,
      stateDir: this.stateDir,
    } satisfies LeaseRecord)
    // Written aside, then linked into place: a lease is taken (O_EXCL semantics) and complete
    // in one step, so a crash never leaves an empty lease nobody can reclaim.
    const tmp = join(this.leaseDir, `.tmp-${process.pid}-${podUid}`)
    await writeFile(tmp, content)
    try {
      for (const ip of ipCandidates(this.range, `${this.stateDir}/${podUid}`)) {
        try {
          await link(tmp, join(this.leaseDir, ip))
          return ip
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        }
      }
    } finally {
      await unlink(tmp).catch(() => {
        // nothing to clean: it was never written
      })
    }
    throw new Error(`no free pod IP in ${this.config.ipRange} (leases in ${this.leaseDir})`)
  }

  private async releaseIp(ip: string, podUid: string): Promise<void> {
    const lease = await readJson<LeaseRecord>(join(this.leaseDir, ip))
    if (lease?.stateDir === this.stateDir && lease.podUid === podUid)
      await unlink(join(this.leaseDir, ip)).catch(() => {
        // already gone: released by a reclaim
      })
  }

  /** Frees this stateDir's leases whose sandbox is gone (a crash between lease and removal). */
  private async reclaimLeases(): Promise<void> {
    for (const ip of await readdirSafe(this.leaseDir)) {
      if (ip.startsWith('.')) continue
      const path = join(this.leaseDir, ip)
      const lease = await readJson<LeaseRecord>(path)
      if (lease?.stateDir !== this.stateDir) continue
      const age = await stat(path).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      )
      if (age < LEASE_RECLAIM_MIN_AGE_MS) continue
      const sandbox = await readJson<SandboxRecord>(join(this.podDir(lease.podUid), 'sandbox.json'))
      if (sandbox?.ip === ip) continue
      this.log.info({ ip, pod: lease.podUid }, 'reclaiming the lease of a removed sandbox')
      await unlink(path).catch(() => {
        // gone already: someone else reclaimed it
      })
    }
  }

  // ---------------------------------------------------------------- internals: events, logs

  private emit(id: string): void {
    if (this.closed) return
    this.lastStates.set(id, 'exited')
    for (const l of [...this.listeners]) l(id)
  }

  private maybeStartPolling(): void {
    if (this.pollTimer || this.closed) return
    const tick = async (): Promise<void> => {
      if (this.closed || this.listeners.size === 0) {
        this.pollTimer = undefined
        return
      }
      try {
        for (const s of await this.listContainers()) {
          const before = this.lastStates.get(s.id)
          this.lastStates.set(s.id, s.state)
          if (before === 'running' && s.state !== 'running') this.emit(s.id)
        }
      } catch (err) {
        this.log.warn({ err }, 'cannot list containers for events')
      }
      if (!this.closed) this.pollTimer = this.clock.setTimeout(() => void tick(), this.config.eventPollMs)
    }
    this.pollTimer = this.clock.setTimeout(() => void tick(), 0)
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((r) => {
      if (signal?.aborted) return r()
      const handle = this.clock.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort)
        r()
      }, ms)
      const onAbort = (): void => {
        this.clock.clearTimeout(handle)
        r()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** The stored lines from `offset`; when following, new ones until exit (drained) or abort. */
  private async *logLines(
    path: string,
    offset: number,
    options: LogOptions,
    exited: () => Promise<boolean>,
    until?: number,
  ): AsyncGenerator<string> {
    let position = offset
    let pending = ''
    const buffer = Buffer.alloc(64 * 1024)
    for (;;) {
      const done = !options.follow || (await exited())
      const file = await open(path, 'r').catch(() => undefined)
      if (file) {
        try {
          for (;;) {
            const want = until === undefined ? buffer.length : Math.min(buffer.length, until - position)
            if (want <= 0) break
            const { bytesRead } = await file.read(buffer, 0, want, position)
            if (bytesRead === 0) break
            position += bytesRead
            pending += buffer.toString('utf8', 0, bytesRead)
            const lines = pending.split('\n')
            pending = lines.pop()!
            for (const line of lines) yield line
            if (options.signal?.aborted) return
          }
        } finally {
          await file.close()
        }
      }
      // Exited before this read began: everything it wrote has been read. Not following a
      // running container: a last line still being written is left out, not cut in half.
      if (done) {
        if (pending && (options.follow || (await exited()))) yield pending
        return
      }
      if (options.signal?.aborted) return
      await this.sleep(LOG_POLL_MS, options.signal)
      if (options.signal?.aborted) return
    }
  }
}

// ---------------------------------------------------------------------------- helpers

function sandboxUid(id: string): string | undefined {
  return id.startsWith('sb-') && UID_RE.test(id.slice(3)) ? id.slice(3) : undefined
}

function isContainerId(id: string): boolean {
  const [uid, name, attempt, ...rest] = id.split('.')
  return (
    rest.length === 0 && UID_RE.test(uid ?? '') && NAME_RE.test(name ?? '') && /^\d+$/.test(attempt ?? '')
  )
}

function containerIdOfDir(uid: string, dir: string): string | undefined {
  const m = /^(.+)-(\d+)$/.exec(dir)
  return m ? `${uid}.${m[1]}.${m[2]}` : undefined
}

function procStartTime(pid: number): string | undefined {
  try {
    return parseProcStartTime(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return undefined
  }
}

/** Whether the process `start` describes still exists (not a later process with its pid). */
function isAlive(start: StartRecord): boolean {
  if (start.bootId !== bootId()) return false
  const now = procStartTime(start.pid)
  return now !== undefined && now === start.startTime
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // ESRCH: the group is gone already, which is what we wanted
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? ((osConstants.signals as Record<string, number>)[signal] ?? 0) : 0
}

async function readdirSafe(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [])
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T
  } catch {
    // missing (removed meanwhile) or half-written by a crashed writer: not there
    return undefined
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`
  await writeFile(tmp, text)
  await rename(tmp, path)
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeAtomic(path, `${JSON.stringify(value, null, 2)}\n`)
}

/**
 * Where the last `lines` lines of the file start (0 if it has fewer), and the file's size when
 * they were counted.
 */
async function tailOffset(
  path: string,
  lines: number,
  partialLastLineCounts: boolean,
): Promise<{ offset: number; size: number }> {
  const file = await open(path, 'r').catch(() => undefined)
  if (!file) return { offset: 0, size: 0 }
  try {
    const size = (await file.stat()).size
    if (lines <= 0) return { offset: size, size }
    const chunk = Buffer.alloc(64 * 1024)
    let end = size
    let seen = 0
    // A last line without its newline counts as a line only when `partialLastLineCounts`.
    let skipFinal = true
    while (end > 0) {
      const start = Math.max(0, end - chunk.length)
      const { bytesRead } = await file.read(chunk, 0, end - start, start)
      for (let i = bytesRead - 1; i >= 0; i--) {
        if (chunk[i] !== 0x0a) {
          if (partialLastLineCounts) skipFinal = false
          continue
        }
        // The first newline from the end ends the last line that counts: not a separator.
        if (skipFinal) {
          skipFinal = false
          continue
        }
        seen += 1
        if (seen === lines) return { offset: start + i + 1, size }
      }
      end = start
    }
    return { offset: 0, size }
  } finally {
    await file.close()
  }
}

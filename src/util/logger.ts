/**
 * Logger: structured logs through pino.
 *
 * JSON lines when the destination is a file or a pipe (for machines), coloured single lines
 * when it is a terminal (for people). Components take a child logger (`logger.child({
 * component: 'raft' })`) and log lower-case messages with key-value fields. Never log a secret.
 */

import { openSync } from 'node:fs'
import { isatty } from 'node:tty'
import { type Logger as PinoLogger, pino } from 'pino'
import pretty from 'pino-pretty'

/** The logger type every component receives. */
export type Logger = PinoLogger

/** The levels `--log-level` accepts, most verbose first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Where and how to log. */
export interface LoggerOptions {
  level?: LogLevel
  /** A file path, or a file descriptor (default 2, stderr). */
  destination?: string | number
  /** Force pretty (true) or JSON (false); default: pretty only on a terminal. */
  pretty?: boolean
  /** Fields on every line, e.g. `{ peer: 'peer-1' }`. */
  base?: Record<string, unknown>
}

/** Checks a `--log-level` value, naming it in the error. */
export function parseLogLevel(value: string): LogLevel {
  if ((LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel
  throw new Error(`--log-level: unknown level '${value}' (one of ${LOG_LEVELS.join(', ')})`)
}

/** Creates the root logger of a process. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info'
  const fd =
    typeof options.destination === 'string' ? openSync(options.destination, 'a') : (options.destination ?? 2)
  const usePretty = options.pretty ?? isatty(fd)
  const base = options.base ?? {}
  if (usePretty) {
    const stream = pretty({ destination: fd, sync: true, colorize: isatty(fd), ignore: 'pid,hostname' })
    return pino({ level, base }, stream)
  }
  return pino({ level, base }, pino.destination({ dest: fd, sync: true }))
}

/** A logger that drops everything: the default for libraries and unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

/**
 * ShoalCommand: the base of every `shoal` command. It is the one place where errors become
 * exit codes (PRODUCT.md §2): 0 success, 1 the operation failed, 2 a usage error.
 */

import { Command, Option, UsageError } from 'clipanion'
import { createLogger, type Logger, parseLogLevel } from '../src/util/logger.js'

/** Thrown by a command when it was called wrongly (exit code 2). */
export class CommandUsageError extends UsageError {}

/** A `shoal` command: implement `run()`, return nothing or an exit code. */
export abstract class ShoalCommand extends Command {
  logLevel = Option.String('--log-level', 'info', {
    description: 'trace, debug, info, warn, error, fatal or silent',
  })

  abstract run(): Promise<number | undefined>

  /** The command's logger, to stderr: pretty on a terminal, JSON lines otherwise. */
  protected logger(): Logger {
    return createLogger({ level: parseLogLevel(this.logLevel) })
  }

  async execute(): Promise<number> {
    try {
      return (await this.run()) ?? 0
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      this.context.stderr.write(`shoal: ${message}\n`)
      if (err instanceof UsageError) return 2
      if (process.env.SHOAL_DEBUG && err instanceof Error && err.stack)
        this.context.stderr.write(`${err.stack}\n`)
      return 1
    }
  }
}

/**
 * The `shoal` command line: registers one command class per file and maps errors to exit
 * codes (0 success, 1 operation failed, 2 usage error).
 */

import '../src/util/polyfill.js'
import { Builtins, Cli, type CommandClass } from 'clipanion'
import { AgentCommand } from './agent.js'
import { AnnotateCommand } from './annotate.js'
import { ApplyCommand } from './apply.js'
import { ClusterRemoveCommand } from './cluster/remove.js'
import { ClusterStatusCommand } from './cluster/status.js'
import { ClusterTransferLeadershipCommand } from './cluster/transfer-leadership.js'
import { CreateCommand } from './create.js'
import { DeleteCommand } from './delete.js'
import { DescribeCommand } from './describe.js'
import { GetCommand } from './get.js'
import { InfoCommand } from './info.js'
import { KubeconfigCommand } from './kubeconfig.js'
import { LabelCommand } from './label.js'
import { LogsCommand } from './logs.js'
import { RollingUpdateCommand } from './rolling-update.js'
import { ScaleCommand } from './scale.js'
import { SnapshotRestoreCommand } from './snapshot/restore.js'
import { SnapshotSaveCommand } from './snapshot/save.js'
import { UpCommand } from './up.js'
import { SHOAL_VERSION } from './version.js'

/** Every command `shoal` knows, in the order `--help` lists them. */
export const COMMANDS: CommandClass[] = [
  AgentCommand,
  UpCommand,
  GetCommand,
  DescribeCommand,
  ApplyCommand,
  CreateCommand,
  DeleteCommand,
  LogsCommand,
  ScaleCommand,
  RollingUpdateCommand,
  LabelCommand,
  AnnotateCommand,
  ClusterStatusCommand,
  ClusterTransferLeadershipCommand,
  ClusterRemoveCommand,
  KubeconfigCommand,
  SnapshotSaveCommand,
  SnapshotRestoreCommand,
  InfoCommand,
]

/** Builds the CLI (exported so tests can run commands in-process). */
export function buildCli(): Cli {
  const cli = new Cli({ binaryLabel: 'Shoal', binaryName: 'shoal', binaryVersion: SHOAL_VERSION })
  cli.register(Builtins.HelpCommand)
  cli.register(Builtins.VersionCommand)
  for (const command of COMMANDS) cli.register(command)
  return cli
}

/** Runs `shoal` with `argv` and returns its exit code. */
export async function main(argv: string[]): Promise<number> {
  const cli = buildCli()
  let command: ReturnType<Cli['process']>
  try {
    command = cli.process(argv)
  } catch (err) {
    // Unknown command, bad flag, missing argument: a usage error (clipanion alone would say 1).
    process.stderr.write(cli.error(err as Error))
    return 2
  }
  return cli.run(command, Cli.defaultContext)
}

process.exitCode = await main(process.argv.slice(2))

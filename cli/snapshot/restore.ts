/** `shoal snapshot restore FILE --data-dir DIR`: a new single-peer cluster from a snapshot. */

import { existsSync, readFileSync } from 'node:fs'
import { Option } from 'clipanion'
import { RestoreError, restoreIntoDataDir } from '../../src/daemon/restore.js'
import { CommandUsageError, ShoalCommand } from '../shoal-command.js'

export class SnapshotRestoreCommand extends ShoalCommand {
  static override paths = [['snapshot', 'restore']]
  static override usage = ShoalCommand.Usage({
    description: 'make a new single-peer cluster from a snapshot (other peers then join it)',
    details: `
      DIR must be new or empty. Start the peer with 'shoal agent --data-dir DIR --bootstrap-expect 1'
      (and the --p2p/--api you want); it holds every object of the snapshot, with the same uids and
      resourceVersions, and new peers join it with --join.
    `,
    examples: [['Recover', 'shoal snapshot restore backup.snap --data-dir /var/lib/shoal-restored']],
  })

  file = Option.String({ required: true, name: 'FILE' })
  dataDir = Option.String('--data-dir', { required: true, description: 'a new, empty data dir' })

  async run(): Promise<number> {
    if (!existsSync(this.file)) throw new CommandUsageError(`${this.file}: no such file`)
    try {
      const r = await restoreIntoDataDir(readFileSync(this.file), this.dataDir)
      this.context.stdout.write(
        `restored ${r.objects} objects at resourceVersion ${r.resourceVersion} into ${this.dataDir} (peer ${r.peerId})\n` +
          `start it with: shoal agent --data-dir ${this.dataDir} --bootstrap-expect 1\n`,
      )
      return 0
    } catch (err) {
      if (err instanceof RestoreError) throw new CommandUsageError(err.message)
      throw err
    }
  }
}

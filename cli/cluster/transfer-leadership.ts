/** `shoal cluster transfer-leadership [NAME]`: hand leadership to NAME (or the best voter). */

import { Option } from 'clipanion'
import type { ClusterStatus } from '../../src/p2p/cluster-manager.js'
import { ClientCommand } from '../client.js'

export class ClusterTransferLeadershipCommand extends ClientCommand {
  static override paths = [['cluster', 'transfer-leadership']]
  static override usage = ClientCommand.Usage({
    description: 'hand leadership to another voter (the most up-to-date one when no name is given)',
    examples: [
      ['To any other voter', 'shoal cluster transfer-leadership'],
      ['To peer-2', 'shoal cluster transfer-leadership peer-2'],
    ],
  })

  target = Option.String({ required: false, name: 'NAME' })

  async run(): Promise<number> {
    const status = (await this.call(
      'POST',
      '/shoal/v1/cluster/transfer-leadership',
      this.target ? { name: this.target } : {},
    )) as ClusterStatus
    this.context.stdout.write(`leader: ${status.leader ? status.leader.name : '(election in progress)'}\n`)
    return 0
  }
}

/** `shoal cluster remove NAME`: remove a member from the cluster. */

import { Option } from 'clipanion'
import { ClientCommand } from '../client.js'

export class ClusterRemoveCommand extends ClientCommand {
  static override paths = [['cluster', 'remove']]
  static override usage = ClientCommand.Usage({
    description: 'remove a member (by name or peer id) from the cluster',
    examples: [['Remove a dead peer', 'shoal cluster remove peer-3']],
  })

  target = Option.String({ required: true, name: 'NAME' })

  async run(): Promise<number> {
    await this.call('POST', '/shoal/v1/cluster/remove', { name: this.target })
    this.context.stdout.write(`removed ${this.target}\n`)
    return 0
  }
}

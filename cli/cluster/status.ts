/** `shoal cluster status`: the leader, term, indexes and every member. */

import { Option } from 'clipanion'
import type { ClusterStatus } from '../../src/p2p/cluster-manager.js'
import { ClientCommand } from '../client.js'
import { CommandUsageError } from '../shoal-command.js'

export class ClusterStatusCommand extends ClientCommand {
  static override paths = [['cluster', 'status']]
  static override usage = ClientCommand.Usage({
    description: 'show the leader, the term, the commit and applied index, and every member',
    examples: [
      ['Ask the local peer', 'shoal cluster status'],
      ['Ask a given peer, as JSON', 'shoal cluster status --server http://127.0.1.2:6443 -o json'],
    ],
  })

  output = Option.String('-o,--output', 'table', { description: 'table or json' })

  async run(): Promise<number> {
    if (this.output !== 'table' && this.output !== 'json') {
      throw new CommandUsageError(`-o ${this.output}: expected table or json`)
    }
    const status = (await this.call('GET', '/shoal/v1/cluster/status')) as ClusterStatus
    if (this.output === 'json') {
      const json = {
        leader: status.leader,
        term: status.term,
        commitIndex: status.commitIndex,
        appliedIndex: status.appliedIndex,
        members: status.members.map((m) => ({
          name: m.name,
          id: m.id,
          suffrage: m.suffrage,
          reachable: m.reachable,
          lastContactMs: m.lastContactMs,
        })),
      }
      this.context.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
      return 0
    }
    const lines = [
      `leader: ${status.leader ? `${status.leader.name} (${status.leader.id})` : '(none)'}   term: ${status.term}   commit: ${status.commitIndex}   applied: ${status.appliedIndex}`,
      `asked:  ${status.self.name} (${status.state}${status.members.length === 0 ? `; ${status.formation}` : ''})`,
      '',
    ]
    const rows = [['NAME', 'PEER ID', 'SUFFRAGE', 'REACHABLE', 'LAST CONTACT', 'API']]
    for (const m of status.members) {
      rows.push([
        m.name + (status.leader?.id === m.id ? ' *' : ''),
        m.id,
        m.suffrage,
        m.reachable ? 'yes' : 'no',
        m.lastContactMs === null ? '-' : `${m.lastContactMs} ms`,
        m.api,
      ])
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
    for (const r of rows)
      lines.push(
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
    this.context.stdout.write(`${lines.join('\n')}\n`)
    return 0
  }
}

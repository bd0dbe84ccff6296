/**
 * `shoal kubeconfig`: prints a kubeconfig (server, CA, token) that a stock kubectl uses as it
 * is: `shoal kubeconfig --data-dir .shoal/peer-1 > kubeconfig && kubectl --kubeconfig kubeconfig get pods`.
 */

import { Option } from 'clipanion'
import { stringify } from 'yaml'
import { type Connection, connectionFromDataDir } from './client.js'
import { CommandUsageError, ShoalCommand } from './shoal-command.js'

/** The kubeconfig document for a connection. */
export function kubeconfigFor(c: Connection, name = 'shoal', namespace = 'default'): string {
  if (!c.ca || !c.token) throw new CommandUsageError('the peer has no CA or token to put in a kubeconfig')
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name,
        cluster: { server: c.server, 'certificate-authority-data': Buffer.from(c.ca).toString('base64') },
      },
    ],
    users: [{ name: `${name}-admin`, user: { token: c.token } }],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin`, namespace } }],
    'current-context': name,
    preferences: {},
  })
}

export class KubeconfigCommand extends ShoalCommand {
  static override paths = [['kubeconfig']]
  static override usage = ShoalCommand.Usage({
    description: 'print a kubeconfig for kubectl (server, cluster CA and token) of a local peer',
    examples: [
      ['For the playground', 'shoal kubeconfig --data-dir .shoal/peer-1 > shoal.kubeconfig'],
      ['Then', 'kubectl --kubeconfig shoal.kubeconfig get pods'],
    ],
  })

  dataDir = Option.String('--data-dir', './.shoal/peer-1', { description: "the local peer's data dir" })
  server = Option.String('--server', {
    description: 'put this server URL in it instead (any peer of the cluster)',
  })
  namespace = Option.String('-n,--namespace', 'default', {
    description: 'the default namespace of the context',
  })

  async run(): Promise<number> {
    const c = connectionFromDataDir(this.dataDir)
    if (this.server) c.server = this.server.replace(/\/$/, '')
    this.context.stdout.write(kubeconfigFor(c, 'shoal', this.namespace))
    return 0
  }
}

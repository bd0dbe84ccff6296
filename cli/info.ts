/** `shoal info`: what this machine offers Shoal — versions and the runtime `auto` would pick. */

import { Option } from 'clipanion'
import { probeDockerEngine } from '../src/agent/docker-engine.js'
import { CommandUsageError, ShoalCommand } from './shoal-command.js'
import { SHOAL_VERSION } from './version.js'

export class InfoCommand extends ShoalCommand {
  static override paths = [['info']]
  static override usage = ShoalCommand.Usage({
    description: 'show versions and the container runtime this machine would use',
    examples: [
      ['Show it as text', 'shoal info'],
      ['Show it as JSON', 'shoal info -o json'],
    ],
  })

  output = Option.String('-o,--output', 'text', { description: 'text or json' })

  async run(): Promise<number> {
    if (this.output !== 'text' && this.output !== 'json') {
      throw new CommandUsageError(`-o: unknown output format '${this.output}' (text or json)`)
    }
    const docker = await probeDockerEngine()
    const info = {
      shoal: SHOAL_VERSION,
      node: process.version,
      platform: `${process.platform}/${process.arch}`,
      docker: docker.available
        ? {
            available: true,
            version: docker.version,
            apiVersion: docker.apiVersion,
            socket: docker.socketPath,
          }
        : { available: false, reason: docker.reason, socket: docker.socketPath },
      runtime: docker.available ? 'docker' : 'process',
    }
    if (this.output === 'json') {
      this.context.stdout.write(`${JSON.stringify(info, null, 2)}\n`)
      return 0
    }
    const lines = [
      `shoal     ${info.shoal}`,
      `node      ${info.node} (${info.platform})`,
      docker.available
        ? `docker    ${docker.version} (API ${docker.apiVersion}) at ${docker.socketPath}`
        : `docker    not answering at ${docker.socketPath}: ${docker.reason}`,
      `runtime   ${info.runtime} (what 'shoal agent --runtime auto' would use)`,
    ]
    this.context.stdout.write(`${lines.join('\n')}\n`)
    return 0
  }
}

/** `shoal logs`: print (or follow) the output of a pod's container, from any peer. */

import { Option } from 'clipanion'
import { ResourceCommand } from './resource-command.js'
import { query } from './resources.js'
import { CommandUsageError } from './shoal-command.js'

/** `5s`, `2m`, `1h` → seconds. */
export function parseDurationSeconds(flag: string, value: string): number {
  const m = /^(\d+)(s|m|h)$/.exec(value)
  if (!m) throw new CommandUsageError(`${flag} ${value}: expected a duration like 30s, 5m or 1h`)
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h']
}

export class LogsCommand extends ResourceCommand {
  static override paths = [['logs']]
  static override usage = ResourceCommand.Usage({
    description: "print the logs of a pod's container",
    details: `
      Any peer answers: the logs are fetched from the node that runs the pod. A pod with
      several containers needs -c. With -f the output follows until the container stops or
      Ctrl-C; -p prints the previous (restarted) container's logs.
    `,
    examples: [
      ['The logs of a pod', 'shoal logs web-1'],
      ['Follow one container', 'shoal logs -f web-1 -c nginx'],
      ['The last 20 lines, with times', 'shoal logs --tail 20 --timestamps web-1'],
      ['Before the last restart', 'shoal logs -p web-1'],
    ],
  })

  container = Option.String('-c,--container', {
    description: 'the container (required when the pod has several)',
  })
  follow = Option.Boolean('-f,--follow', false, { description: 'keep printing new output' })
  previous = Option.Boolean('-p,--previous', false, { description: 'the previous instance of the container' })
  tail = Option.String('--tail', { description: 'only the last N lines' })
  timestamps = Option.Boolean('--timestamps', false, { description: 'start each line with its time' })
  since = Option.String('--since', { description: 'only output newer than this (e.g. 10s, 5m, 1h)' })
  args = Option.Rest({ name: 'POD | pod/POD' })

  async runVerb(): Promise<number> {
    if (this.args.length !== 1)
      throw new CommandUsageError('expected exactly one pod: shoal logs POD [-c CONTAINER]')
    const name = this.args[0]!.replace(/^(pods?|po)\//, '')
    if (name === '' || name.includes('/')) throw new CommandUsageError(`${this.args[0]}: expected a pod name`)
    if (this.tail !== undefined && !/^(-1|\d+)$/.test(this.tail))
      throw new CommandUsageError(`--tail ${this.tail}: expected a number of lines`)
    const params: Record<string, string | undefined> = {
      container: this.container,
      follow: this.follow ? 'true' : undefined,
      previous: this.previous ? 'true' : undefined,
      timestamps: this.timestamps ? 'true' : undefined,
      tailLines: this.tail !== undefined && this.tail !== '-1' ? this.tail : undefined,
      sinceSeconds:
        this.since !== undefined ? String(parseDurationSeconds('--since', this.since)) : undefined,
    }
    const path = `/api/v1/namespaces/${encodeURIComponent(this.namespace())}/pods/${encodeURIComponent(name)}/log${query(params)}`
    const controller = new AbortController()
    const stop = (): void => controller.abort()
    process.once('SIGINT', stop)
    // The reader went away (`| head`): stop quietly, as kubectl does.
    const out = this.context.stdout as NodeJS.WritableStream & { on?: NodeJS.WritableStream['on'] }
    out.on?.('error', stop)
    try {
      await this.streamGet(path, 'text/plain', controller.signal, (chunk) => {
        if (!controller.signal.aborted) this.context.stdout.write(chunk)
      })
    } finally {
      process.removeListener('SIGINT', stop)
      out.removeListener?.('error', stop)
    }
    return 0
  }
}

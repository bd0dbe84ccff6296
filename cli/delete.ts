/** `shoal delete`: delete objects by name, by manifest (-f), by label selector (-l) or all of a type. */

import { Option } from 'clipanion'
import * as t from 'typanion'
import { parseOutputFormat } from './printers.js'
import { ResourceCommand, ServerError } from './resource-command.js'
import { query, resourcePath, typeLabel } from './resources.js'
import { CommandUsageError } from './shoal-command.js'

export class DeleteCommand extends ResourceCommand {
  static override paths = [['delete']]
  static override usage = ResourceCommand.Usage({
    description: 'delete objects',
    details: `
      Objects are named as TYPE NAME..., TYPE/NAME..., by the manifests that describe them
      (-f), by a label selector (-l) or all of their types (--all). A pod running on a node
      is deleted gracefully: it is marked now and goes once its node stopped it. Prints
      TYPE "NAME" deleted for each.
    `,
    examples: [
      ['Delete a pod', 'shoal delete pod web'],
      ['Delete what a manifest created', 'shoal delete -f guestbook/'],
      ['Delete the pods labelled app=web', 'shoal delete pods -l app=web'],
      ['Delete every config map of a namespace', 'shoal delete cm --all -n staging'],
    ],
  })

  filename = Option.Array('-f,--filename', [], {
    description: 'the objects a manifest file, directory or - names',
  })
  selector = Option.String('-l,--selector', { description: 'label selector, e.g. app=web' })
  all = Option.Boolean('--all', false, { description: 'every object of the given types in the namespace' })
  allNamespaces = Option.Boolean('-A,--all-namespaces', false, {
    description: 'with -l or --all: in every namespace',
  })
  ignoreNotFound = Option.Boolean('--ignore-not-found', false, {
    description: 'a missing object is no error',
  })
  gracePeriod = Option.String('--grace-period', {
    description: 'seconds a pod gets to stop (default: its own terminationGracePeriodSeconds)',
    validator: t.isNumber(),
  })
  now = Option.Boolean('--now', false, { description: 'stop pods at once (--grace-period=1)' })
  output = Option.String('-o,--output', { description: 'name (default: TYPE "NAME" deleted)' })
  args = Option.Rest({ name: 'TYPE[,TYPE...] NAME... | TYPE/NAME...' })

  async runVerb(): Promise<number> {
    const format = this.output === undefined ? undefined : parseOutputFormat(this.output, ['name'])
    let grace = this.gracePeriod
    if (this.now) {
      if (grace !== undefined) throw new CommandUsageError('--now and --grace-period cannot both be given')
      grace = 1
    }
    if (grace !== undefined && (!Number.isInteger(grace) || grace < 0))
      throw new CommandUsageError(`--grace-period ${grace}: expected a whole number of seconds, 0 or more`)
    const objects = await this.select({
      verb: 'delete',
      args: this.args,
      filenames: this.filename,
      selector: this.selector,
      all: this.all,
      allNamespaces: this.allNamespaces,
    })
    if (objects.length === 0) {
      this.context.stdout.write('No resources found\n')
      return 0
    }
    let failed = false
    for (const o of objects) {
      const path =
        resourcePath(o.type, o.namespace, o.name) +
        query({ gracePeriodSeconds: grace === undefined ? undefined : String(grace) })
      try {
        await this.request('DELETE', path)
        const label = typeLabel(o.type)
        this.context.stdout.write(
          format === 'name' ? `${label}/${o.name}\n` : `${label} "${o.name}" deleted\n`,
        )
      } catch (err) {
        if (this.ignoreNotFound && err instanceof ServerError && err.code === 404) continue
        failed = true
        this.reportError(err)
      }
    }
    return failed ? 1 : 0
  }
}

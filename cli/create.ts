/**
 * `shoal create -f`: create the objects of manifests; an object that exists already is an error
 * (AlreadyExists) and the others are still created.
 */

import { Option } from 'clipanion'
import { withLastApplied } from './apply-patch.js'
import { placeManifest, readAllStdin, readManifests } from './manifests.js'
import { parseOutputFormat, renderObjects } from './printers.js'
import { ResourceCommand } from './resource-command.js'
import { resourcePath, typeLabel } from './resources.js'
import { CommandUsageError } from './shoal-command.js'

export class CreateCommand extends ResourceCommand {
  static override paths = [['create']]
  static override usage = ResourceCommand.Usage({
    description: 'create objects from manifests',
    details: `
      Reads YAML or JSON manifests as \`shoal apply\` does and creates every object in them.
      With --save-config the manifest is kept in the last-applied annotation, so that
      \`shoal apply\` can manage the object later.
    `,
    examples: [
      ['Create a pod', 'shoal create -f pod.yaml'],
      ['Create everything in a directory, ready for later apply', 'shoal create --save-config -f manifests/'],
    ],
  })

  filename = Option.Array('-f,--filename', [], {
    description: 'a manifest file, a directory, or - for stdin',
  })
  output = Option.String('-o,--output', { description: 'name, json or yaml (default: TYPE/NAME created)' })
  saveConfig = Option.Boolean('--save-config', false, {
    description: 'keep the manifest in the last-applied annotation (for shoal apply)',
  })

  async runVerb(): Promise<number> {
    const format =
      this.output === undefined ? undefined : parseOutputFormat(this.output, ['json', 'yaml', 'name'])
    if (this.filename.length === 0) throw new CommandUsageError('must specify -f (a file, a directory or -)')
    const manifests = await readManifests(this.filename, () => readAllStdin(this.context.stdin))
    const namespace = this.namespace()
    const placed = manifests.map((m) => placeManifest(m, namespace, this.namespaceOption !== undefined))
    let failed = false
    const results: { object: unknown; label: string }[] = []
    for (const m of placed) {
      try {
        const body = this.saveConfig
          ? withLastApplied(m.object as unknown as Record<string, unknown>).modified
          : m.object
        const object = (await this.request('POST', resourcePath(m.type, m.namespace), { body })) as {
          metadata?: { name?: string }
        }
        const label = typeLabel(m.type)
        if (format === undefined)
          this.context.stdout.write(`${label}/${object.metadata?.name ?? ''} created\n`)
        else results.push({ object, label })
      } catch (err) {
        failed = true
        this.reportError(err)
      }
    }
    if (format !== undefined && format !== 'table' && format !== 'wide' && results.length > 0)
      this.context.stdout.write(renderObjects(results, format, placed.length === 1))
    return failed ? 1 : 0
  }
}

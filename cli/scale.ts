/** `shoal scale`: set the replicas of replication controllers through their `/scale` subresource. */

import { Option } from 'clipanion'
import { ResourceCommand } from './resource-command.js'
import { resourcePath, typeLabel } from './resources.js'
import { CommandUsageError } from './shoal-command.js'

/** The Scale object (autoscaling/v1) the fields used here. */
interface Scale {
  metadata: { resourceVersion?: string }
  spec: { replicas?: number }
}

export class ScaleCommand extends ResourceCommand {
  static override paths = [['scale']]
  static override usage = ResourceCommand.Usage({
    description: 'set the number of replicas of replication controllers',
    details: `
      Changes spec.replicas through the /scale subresource. With --current-replicas the
      change is made only if the replicas are still that many (and the object has not
      changed since it was read); otherwise it fails with exit code 1.
    `,
    examples: [
      ['Scale a replication controller to 5', 'shoal scale rc frontend --replicas=5'],
      ['Only if it has 3 now', 'shoal scale rc/frontend --current-replicas=3 --replicas=5'],
      ['Every rc labelled tier=web', 'shoal scale rc -l tier=web --replicas=2'],
    ],
  })

  replicas = Option.String('--replicas', { description: 'the new number of replicas (required)' })
  currentReplicas = Option.String('--current-replicas', {
    description: 'precondition: the replicas must be this many now',
  })
  resourceVersion = Option.String('--resource-version', {
    description: 'precondition: the object must be at this resourceVersion',
  })
  filename = Option.Array('-f,--filename', [], {
    description: 'the objects a manifest file, directory or - names',
  })
  selector = Option.String('-l,--selector', { description: 'every object matching this label selector' })
  all = Option.Boolean('--all', false, { description: 'every object of the given types in the namespace' })
  output = Option.String('-o,--output', { description: 'name (default: TYPE/NAME scaled)' })
  args = Option.Rest({ name: 'TYPE NAME... | TYPE/NAME...' })

  async runVerb(): Promise<number> {
    const replicas = count('--replicas', this.replicas)
    if (replicas === undefined)
      throw new CommandUsageError('--replicas=COUNT is required, and COUNT must be 0 or more')
    const current = count('--current-replicas', this.currentReplicas)
    if (this.output !== undefined && this.output !== 'name')
      throw new CommandUsageError(`-o ${this.output}: expected name`)
    const objects = await this.select({
      verb: 'scale',
      args: this.args,
      filenames: this.filename,
      selector: this.selector,
      all: this.all,
      allNamespaces: false,
    })
    for (const o of objects) {
      if (!o.type.hasScale)
        throw new CommandUsageError(
          `${o.type.resource} cannot be scaled (only replicationcontrollers have replicas)`,
        )
    }
    if (objects.length === 0) {
      this.context.stdout.write('No resources found\n')
      return 0
    }
    let failed = false
    for (const o of objects) {
      const path = resourcePath(o.type, o.namespace, o.name, 'scale')
      try {
        if (current !== undefined || this.resourceVersion !== undefined) {
          // Read, check, then write back with the version read: a change in between is a
          // Conflict, so the precondition holds at the moment of the write.
          const scale = (await this.request('GET', path)) as Scale
          if (current !== undefined && (scale.spec.replicas ?? 0) !== current)
            throw new Error(`Expected replicas to be ${current}, was ${scale.spec.replicas ?? 0}`)
          if (this.resourceVersion !== undefined && scale.metadata.resourceVersion !== this.resourceVersion) {
            throw new Error(
              `Expected resourceVersion to be ${this.resourceVersion}, was ${scale.metadata.resourceVersion ?? ''}`,
            )
          }
          await this.request('PUT', path, {
            body: {
              kind: 'Scale',
              apiVersion: 'autoscaling/v1',
              metadata: {
                name: o.name,
                namespace: o.namespace,
                resourceVersion: scale.metadata.resourceVersion,
              },
              spec: { replicas },
            },
          })
        } else {
          await this.request('PATCH', path, {
            body: { spec: { replicas } },
            contentType: 'application/merge-patch+json',
          })
        }
        const label = typeLabel(o.type)
        this.context.stdout.write(
          this.output === 'name' ? `${label}/${o.name}\n` : `${label}/${o.name} scaled\n`,
        )
      } catch (err) {
        failed = true
        this.reportError(err)
      }
    }
    return failed ? 1 : 0
  }
}

/** A replica count option: a whole number, 0 or more; undefined when not given. */
function count(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (value.trim() === '' || !Number.isInteger(n) || n < 0)
    throw new CommandUsageError(`${flag}=${value}: expected a whole number, 0 or more`)
  return n
}

/**
 * `shoal apply -f`: make the objects look like their manifests — create what is missing,
 * patch what differs, leave the rest — as kubectl's client-side apply does, keeping the
 * applied manifest in the `kubectl.kubernetes.io/last-applied-configuration` annotation so
 * the next apply knows which fields to delete. The patch is a three-way JSON merge patch: see
 * apply-patch.ts (lists are replaced whole). `--server-side` sends the manifest as a
 * server-side apply patch instead.
 */

import { Option } from 'clipanion'
import type { KubeObject } from '../src/store/types.js'
import { lastAppliedOf, threeWayMergePatch, withLastApplied } from './apply-patch.js'
import { type PlacedManifest, placeManifest, readAllStdin, readManifests } from './manifests.js'
import { parseOutputFormat, renderObjects } from './printers.js'
import { ResourceCommand } from './resource-command.js'
import { query, resourcePath, typeLabel } from './resources.js'
import { CommandUsageError } from './shoal-command.js'

/** What applying one manifest did. */
export type ApplyOutcome = 'created' | 'configured' | 'unchanged' | 'serverside-applied'

export class ApplyCommand extends ResourceCommand {
  static override paths = [['apply']]
  static override usage = ResourceCommand.Usage({
    description: 'create or update objects to match their manifests',
    details: `
      Reads YAML or JSON manifests (several documents per file, \`kind: List\`, a directory's
      *.yaml, *.yml and *.json files in name order, or stdin with \`-f -\`). A missing object
      is created; an existing one is patched with a JSON merge patch computed from the last
      applied manifest, the new one and the live object, so fields removed from the manifest
      are removed from the object. Lists (containers, ports) are replaced whole. Prints
      TYPE/NAME created, configured or unchanged.
    `,
    examples: [
      ['Apply the guestbook', 'shoal apply -f examples/guestbook/'],
      ['Apply from stdin', 'cat pod.yaml | shoal apply -f -'],
      ['Let the server merge (server-side apply)', 'shoal apply --server-side -f pod.yaml'],
    ],
  })

  filename = Option.Array('-f,--filename', [], {
    description: 'a manifest file, a directory, or - for stdin',
  })
  output = Option.String('-o,--output', { description: 'name, json or yaml (default: what was done)' })
  serverSide = Option.Boolean('--server-side', false, {
    description: 'let the server merge (server-side apply)',
  })
  fieldManager = Option.String('--field-manager', 'shoal', {
    description: 'the manager name for --server-side',
  })
  forceConflicts = Option.Boolean('--force-conflicts', false, {
    description: 'with --server-side, take over fields other managers own',
  })

  async runVerb(): Promise<number> {
    const format =
      this.output === undefined ? undefined : parseOutputFormat(this.output, ['json', 'yaml', 'name'])
    if (this.filename.length === 0) throw new CommandUsageError('must specify -f (a file, a directory or -)')
    const manifests = await readManifests(this.filename, () => readAllStdin(this.context.stdin))
    const namespace = this.namespace()
    const placed = manifests.map((m) => {
      if (!m.object.metadata?.name)
        throw new CommandUsageError(`${m.source}: metadata.name not set (apply does not take generateName)`)
      return placeManifest(m, namespace, this.namespaceOption !== undefined)
    })
    let failed = false
    const results: { object: unknown; label: string }[] = []
    for (const m of placed) {
      try {
        const { outcome, object } = await this.applyOne(m)
        const label = typeLabel(m.type)
        if (format === undefined) this.context.stdout.write(`${label}/${m.object.metadata.name} ${outcome}\n`)
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

  private async applyOne(m: PlacedManifest): Promise<{ outcome: ApplyOutcome; object: KubeObject }> {
    const name = m.object.metadata.name!
    const objectPath = resourcePath(m.type, m.namespace, name)
    if (this.serverSide) {
      const path =
        objectPath +
        query({ fieldManager: this.fieldManager, force: this.forceConflicts ? 'true' : undefined })
      const object = (await this.request('PATCH', path, {
        body: m.object,
        contentType: 'application/apply-patch+yaml',
      })) as KubeObject
      return { outcome: 'serverside-applied', object }
    }
    const { modified } = withLastApplied(m.object as unknown as Record<string, unknown>)
    const current = await this.getOrUndefined(objectPath)
    if (!current) {
      const object = (await this.request('POST', resourcePath(m.type, m.namespace), {
        body: modified,
      })) as KubeObject
      return { outcome: 'created', object }
    }
    const original = lastAppliedOf(current)
    if (!original) {
      this.context.stderr.write(
        `Warning: ${m.type.resource}/${name} is missing the kubectl.kubernetes.io/last-applied-configuration annotation which apply needs; it is added now (fields dropped from the manifest before this apply are not deleted)\n`,
      )
    }
    const patch = threeWayMergePatch(original, modified, current as unknown as Record<string, unknown>)
    if (Object.keys(patch).length === 0) return { outcome: 'unchanged', object: current }
    const object = (await this.request('PATCH', objectPath, {
      body: patch,
      contentType: 'application/merge-patch+json',
    })) as KubeObject
    return { outcome: 'configured', object }
  }
}

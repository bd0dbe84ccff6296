/**
 * MetadataMapCommand: what `shoal label` and `shoal annotate` share — `KEY=VALUE` sets, `KEY-`
 * removes, a value that is already different is only replaced with `--overwrite`, and the change
 * goes to the server as a JSON merge patch of `metadata.labels` or `metadata.annotations`.
 */

import { Option } from 'clipanion'
import type { KubeObject } from '../src/store/types.js'
import { ResourceCommand } from './resource-command.js'
import { resourcePath, typeLabel } from './resources.js'
import { CommandUsageError } from './shoal-command.js'

/** The changes a command line asks for. */
export interface MapChanges {
  set: Map<string, string>
  remove: string[]
}

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

/** Why a label or annotation key is invalid (Kubernetes' qualified name), or undefined. */
export function invalidKey(key: string): string | undefined {
  const slash = key.lastIndexOf('/')
  const prefix = slash < 0 ? undefined : key.slice(0, slash)
  const name = slash < 0 ? key : key.slice(slash + 1)
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return 'the prefix must be a DNS subdomain (lower case letters, digits, - and .)'
  if (name.length === 0 || name.length > 63 || !NAME.test(name))
    return 'the name must be 63 characters or less, start and end with a letter or digit, and hold only letters, digits, -, _ and .'
  return undefined
}

/** Why a label value is invalid, or undefined. */
export function invalidLabelValue(value: string): string | undefined {
  if (value === '') return undefined
  if (value.length > 63 || !NAME.test(value))
    return 'a label value must be empty or 63 characters or less, start and end with a letter or digit, and hold only letters, digits, -, _ and .'
  return undefined
}

/** Whether a command-line word is a change (`k=v`, `k-`) rather than a resource argument. */
export function isChangeWord(word: string): boolean {
  return word.includes('=') || (word.endsWith('-') && !word.includes('/'))
}

/** Parses `k=v` and `k-` words; `labels` checks values as label values. */
export function parseChanges(words: string[], noun: 'label' | 'annotation'): MapChanges {
  const set = new Map<string, string>()
  const remove: string[] = []
  for (const word of words) {
    const eq = word.indexOf('=')
    if (eq >= 0) {
      const key = word.slice(0, eq)
      const value = word.slice(eq + 1)
      const why = invalidKey(key) ?? (noun === 'label' ? invalidLabelValue(value) : undefined)
      if (why) throw new CommandUsageError(`invalid ${noun} spec: ${word}: ${why}`)
      if (set.has(key) && set.get(key) !== value)
        throw new CommandUsageError(`${noun} ${key} is given two values (${set.get(key)}, ${value})`)
      set.set(key, value)
    } else if (word.endsWith('-')) {
      const key = word.slice(0, -1)
      const why = invalidKey(key)
      if (why) throw new CommandUsageError(`invalid ${noun} spec: ${word}: ${why}`)
      if (!remove.includes(key)) remove.push(key)
    } else {
      throw new CommandUsageError(`invalid ${noun} spec: ${word}: expected KEY=VALUE or KEY-`)
    }
  }
  for (const key of remove) {
    if (set.has(key))
      throw new CommandUsageError(`can not both modify and remove ${noun} ${key} in the same command`)
  }
  if (set.size === 0 && remove.length === 0)
    throw new CommandUsageError(`at least one ${noun} update is required (KEY=VALUE or KEY-)`)
  return { set, remove }
}

/**
 * The merge patch of the map (`null` removes) that `changes` make to `current`, or a refusal
 * naming the keys that already hold another value when overwriting is not allowed.
 */
export function mapPatch(
  current: Record<string, string> | undefined,
  changes: MapChanges,
  overwrite: boolean,
): { patch: Record<string, string | null>; conflicts: string[]; missing: string[] } {
  const have = current ?? {}
  const patch: Record<string, string | null> = {}
  const conflicts: string[] = []
  const missing: string[] = []
  for (const [key, value] of changes.set) {
    if (key in have && have[key] !== value && !overwrite)
      conflicts.push(`'${key}' already has a value (${have[key]}), and --overwrite is false`)
    if (have[key] !== value) patch[key] = value
  }
  for (const key of changes.remove) {
    if (key in have) patch[key] = null
    else missing.push(key)
  }
  return { patch, conflicts, missing }
}

/** `label` or `annotate`. */
export abstract class MetadataMapCommand extends ResourceCommand {
  overwrite = Option.Boolean('--overwrite', false, { description: 'replace values that are already set' })
  filename = Option.Array('-f,--filename', [], {
    description: 'the objects a manifest file, directory or - names',
  })
  selector = Option.String('-l,--selector', { description: 'every object matching this label selector' })
  all = Option.Boolean('--all', false, { description: 'every object of the given types in the namespace' })
  allNamespaces = Option.Boolean('-A,--all-namespaces', false, {
    description: 'with -l or --all: in every namespace',
  })
  resourceVersion = Option.String('--resource-version', {
    description: 'change the object only if it is still at this resourceVersion',
  })
  args = Option.Rest({ name: 'TYPE NAME... | TYPE/NAME... KEY=VALUE... KEY-...' })

  /** `metadata.labels` or `metadata.annotations`. */
  protected abstract readonly field: 'labels' | 'annotations'
  protected abstract readonly noun: 'label' | 'annotation'

  /** What is printed after TYPE/NAME. */
  protected abstract outcome(changed: boolean, onlyRemoved: boolean): string

  async runVerb(): Promise<number> {
    let resourceArgs: string[]
    let changeWords: string[]
    if (this.filename.length > 0) {
      resourceArgs = []
      changeWords = this.args
    } else {
      const first = this.args.findIndex(isChangeWord)
      resourceArgs = first < 0 ? this.args : this.args.slice(0, first)
      changeWords = first < 0 ? [] : this.args.slice(first)
    }
    const changes = parseChanges(changeWords, this.noun)
    const objects = await this.select({
      verb: this.noun === 'label' ? 'label' : 'annotate',
      args: resourceArgs,
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
      try {
        const path = resourcePath(o.type, o.namespace, o.name)
        const current = (await this.request('GET', path)) as KubeObject
        const { patch, conflicts, missing } = mapPatch(current.metadata[this.field], changes, this.overwrite)
        if (conflicts.length > 0) throw new Error(`${typeLabel(o.type)}/${o.name}: ${conflicts.join('; ')}`)
        if (this.noun === 'label')
          for (const key of missing) this.context.stdout.write(`label "${key}" not found.\n`)
        const changed = Object.keys(patch).length > 0
        if (changed || this.resourceVersion !== undefined) {
          const metadata: Record<string, unknown> = { [this.field]: patch }
          if (this.resourceVersion !== undefined) metadata.resourceVersion = this.resourceVersion
          await this.request('PATCH', path, {
            body: { metadata },
            contentType: 'application/merge-patch+json',
          })
        }
        const onlyRemoved = changed && Object.values(patch).every((v) => v === null)
        this.context.stdout.write(`${typeLabel(o.type)}/${o.name} ${this.outcome(changed, onlyRemoved)}\n`)
      } catch (err) {
        failed = true
        this.reportError(err)
      }
    }
    return failed ? 1 : 0
  }
}

/**
 * How the kubectl-style verbs name things: resource types (plural, singular, short name or
 * kind, any case), the `TYPE NAME...`, `TYPE/NAME...` and `TYPE1,TYPE2 NAME...` argument forms,
 * and the API paths they map to. Pure: no I/O.
 */

import { RESOURCE_TYPES, type ResourceType, resourceTypeForKind } from '../src/store/resources.js'
import { CommandUsageError } from './shoal-command.js'

/** The types `all` stands for in `shoal get all`, as kubectl's `all` category (those Shoal serves). */
export const ALL_CATEGORY = ['pods', 'replicationcontrollers', 'services'] as const

const byName = new Map<string, ResourceType>()
for (const t of RESOURCE_TYPES) {
  for (const name of [t.resource, t.singular, t.kind, ...t.shortNames]) byName.set(name.toLowerCase(), t)
}

/**
 * The type a user's word names: `pods`, `pod`, `po`, `Pod`, optionally with `.v1` or `.v1.`
 * (kubectl's fully qualified core form). Unknown → usage error, as kubectl's wording.
 */
export function lookupType(word: string): ResourceType {
  const bare = word.toLowerCase().replace(/\.v1\.?$/, '')
  const type = byName.get(bare)
  if (!type) throw new CommandUsageError(`the server doesn't have a resource type "${word}"`)
  return type
}

/** The types a `TYPE1,TYPE2` word names, in order, without duplicates (`all` expands). */
export function lookupTypes(word: string, allowAll = true): ResourceType[] {
  const out: ResourceType[] = []
  for (const part of word.split(',')) {
    if (part === '') throw new CommandUsageError(`${word}: empty resource type`)
    const types =
      allowAll && part.toLowerCase() === 'all' ? ALL_CATEGORY.map((r) => lookupType(r)) : [lookupType(part)]
    for (const t of types) if (!out.includes(t)) out.push(t)
  }
  return out
}

/** The type of a manifest's `apiVersion` and `kind`, or a usage error naming where it came from. */
export function typeForManifest(apiVersion: unknown, kind: unknown, where: string): ResourceType {
  if (typeof kind !== 'string' || kind === '') throw new CommandUsageError(`${where}: kind not set`)
  if (typeof apiVersion !== 'string' || apiVersion === '')
    throw new CommandUsageError(`${where}: apiVersion not set`)
  const type = resourceTypeForKind(kind)
  if (!type || apiVersion !== 'v1') {
    throw new CommandUsageError(
      `${where}: no matches for kind "${kind}" in version "${apiVersion}" (Shoal serves core/v1: ${RESOURCE_TYPES.map((t) => t.kind).join(', ')})`,
    )
  }
  return type
}

/** What the positional arguments of a verb ask for: the types, and names (none: every object). */
export interface ResourceRequest {
  type: ResourceType
  /** Empty: every object of the type (subject to selectors). */
  names: string[]
}

/**
 * Parses kubectl's resource arguments: `TYPE[,TYPE...] [NAME...]` or `TYPE/NAME...`. Groups
 * come out in the order given; the two forms cannot be mixed.
 */
export function parseResourceArgs(args: string[]): ResourceRequest[] {
  if (args.length === 0) return []
  if (args.some((a) => a.includes('/'))) {
    const out: ResourceRequest[] = []
    for (const arg of args) {
      const slash = arg.indexOf('/')
      if (slash < 0) {
        throw new CommandUsageError(
          `there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'shoal get resource/<resource_name>' instead of 'shoal get resource resource/<resource_name>')`,
        )
      }
      const typeWord = arg.slice(0, slash)
      const name = arg.slice(slash + 1)
      if (name === '' || name.includes('/')) throw new CommandUsageError(`${arg}: expected TYPE/NAME`)
      if (typeWord.includes(',')) throw new CommandUsageError(`${arg}: one type per TYPE/NAME`)
      const type = lookupType(typeWord)
      const group = out.find((g) => g.type === type)
      if (group) group.names.push(name)
      else out.push({ type, names: [name] })
    }
    return out
  }
  const [typeWord, ...names] = args as [string, ...string[]]
  for (const n of names) if (n === '') throw new CommandUsageError('a resource name may not be empty')
  return lookupTypes(typeWord).map((type) => ({ type, names: [...names] }))
}

/** How kubectl names a type in messages and `-o name`: the lower-case singular (`pod`). */
export function typeLabel(type: ResourceType): string {
  return type.singular
}

/**
 * The API path of a collection or object: `/api/v1/namespaces/NS/pods[/NAME[/SUB]]`,
 * `/api/v1/nodes[/NAME]`, or `/api/v1/pods` (every namespace) when `namespace` is undefined.
 */
export function resourcePath(
  type: ResourceType,
  namespace: string | undefined,
  name?: string,
  subresource?: string,
): string {
  const parts = ['', 'api', 'v1']
  if (type.namespaced && namespace !== undefined) parts.push('namespaces', encodeURIComponent(namespace))
  parts.push(type.resource)
  if (name !== undefined) parts.push(encodeURIComponent(name))
  if (subresource !== undefined) parts.push(subresource)
  return parts.join('/')
}

/** A query string (with its `?`) from the defined values, or '' when there are none. */
export function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v)
  const text = q.toString()
  return text === '' ? '' : `?${text}`
}

/**
 * Reading manifests for `-f`: a file, a directory (its *.yaml, *.yml and *.json files, sorted by
 * name, not recursing), or `-` (stdin); multi-document YAML, JSON, and `kind: List`. Every
 * problem is a usage error naming the file, the document (1-based) and, for syntax, the line.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import type { ResourceType } from '../src/store/resources.js'
import type { KubeObject } from '../src/store/types.js'
import { typeForManifest } from './resources.js'
import { CommandUsageError } from './shoal-command.js'

/** Largest manifest file read (the API refuses bodies over 3 MiB anyway). */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024

/** One object from a manifest, with its type and where it came from (for messages). */
export interface Manifest {
  type: ResourceType
  object: KubeObject
  /** e.g. `guestbook/frontend.yaml: document 2`. */
  source: string
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i

/** The files `-f PATH` stands for: PATH itself, or a directory's manifest files, sorted. */
export function manifestFiles(path: string): string[] {
  if (path === '-') return ['-']
  let stat: ReturnType<typeof statSync>
  try {
    stat = statSync(path)
  } catch {
    throw new CommandUsageError(`the path "${path}" does not exist`)
  }
  if (!stat.isDirectory()) return [path]
  return readdirSync(path)
    .filter((name) => MANIFEST_FILE.test(name))
    .sort()
    .map((name) => join(path, name))
    .filter((file) => statSync(file).isFile())
}

/** Reads every `-f` path (stdin via `readStdin`, once at most) into objects, in order. */
export async function readManifests(paths: string[], readStdin: () => Promise<string>): Promise<Manifest[]> {
  const out: Manifest[] = []
  let stdinRead = false
  for (const path of paths) {
    for (const file of manifestFiles(path)) {
      let text: string
      if (file === '-') {
        if (stdinRead) throw new CommandUsageError('-f -: stdin can be read only once')
        stdinRead = true
        text = await readStdin()
      } else {
        if (statSync(file).size > MAX_MANIFEST_BYTES)
          throw new CommandUsageError(`${file}: larger than ${MAX_MANIFEST_BYTES} bytes`)
        text = readFileSync(file, 'utf8')
      }
      out.push(...parseManifests(text, file === '-' ? 'stdin' : file))
    }
  }
  if (out.length === 0) throw new CommandUsageError(`no objects passed (-f ${paths.join(', ')})`)
  return out
}

/** The objects in one file's text: YAML documents (JSON is YAML), `kind: List` expanded. */
export function parseManifests(text: string, file: string): Manifest[] {
  const docs = parseAllDocuments(text, { prettyErrors: true })
  // A text with no documents at all parses to an empty list, or to an EmptyStream.
  const list = Array.isArray(docs) ? docs : []
  const out: Manifest[] = []
  list.forEach((doc, i) => {
    const where = `${file}: document ${i + 1}`
    const problem = doc.errors[0]
    if (problem) {
      const pos = problem.linePos?.[0]
      const message = problem.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
      throw new CommandUsageError(
        `${where}${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${message}`,
      )
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 })
    if (value === null || value === undefined) return // an empty document, e.g. a trailing ---
    out.push(...manifestsOf(value, where))
  })
  return out
}

function manifestsOf(value: unknown, where: string): Manifest[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CommandUsageError(
      `${where}: expected an object, not ${Array.isArray(value) ? 'a list' : typeof value}`,
    )
  const obj = value as Record<string, unknown>
  if (obj.kind === 'List' || (typeof obj.kind === 'string' && obj.kind.endsWith('List') && 'items' in obj)) {
    if (!Array.isArray(obj.items)) throw new CommandUsageError(`${where}: a List needs items`)
    return obj.items.flatMap((item, j) => manifestsOf(item, `${where}, item ${j + 1}`))
  }
  const type = typeForManifest(obj.apiVersion, obj.kind, where)
  const metadata = obj.metadata
  if (
    metadata !== undefined &&
    (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
  )
    throw new CommandUsageError(`${where}: metadata must be an object`)
  const { name, generateName } = (metadata ?? {}) as { name?: unknown; generateName?: unknown }
  if ((typeof name !== 'string' || name === '') && (typeof generateName !== 'string' || generateName === ''))
    throw new CommandUsageError(`${where}: metadata.name not set (${type.kind})`)
  return [{ type, object: obj as unknown as KubeObject, source: where }]
}

/** Reads all of stdin as text. */
export async function readAllStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += buf.byteLength
    if (size > MAX_MANIFEST_BYTES)
      throw new CommandUsageError(`stdin: larger than ${MAX_MANIFEST_BYTES} bytes`)
    chunks.push(buf)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** A manifest placed in its namespace: `object` is a copy with `metadata.namespace` settled. */
export interface PlacedManifest extends Manifest {
  /** Undefined for cluster-scoped kinds. */
  namespace: string | undefined
}

/**
 * Settles where a manifest's object goes: its own namespace, else `namespace`; an explicit `-n`
 * that contradicts the manifest is a usage error, as in kubectl. Cluster-scoped kinds lose any
 * namespace they carry.
 */
export function placeManifest(m: Manifest, namespace: string, explicit: boolean): PlacedManifest {
  const object = structuredClone(m.object)
  object.metadata = { ...(object.metadata ?? {}) }
  if (!m.type.namespaced) {
    delete object.metadata.namespace
    return { ...m, object, namespace: undefined }
  }
  const own = object.metadata.namespace
  if (explicit && own && own !== namespace) {
    throw new CommandUsageError(
      `${m.source}: the namespace from the provided object "${own}" does not match the namespace "${namespace}". You must pass '--namespace=${own}' to perform this operation.`,
    )
  }
  object.metadata.namespace = own || namespace
  return { ...m, object, namespace: object.metadata.namespace }
}

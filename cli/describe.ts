/**
 * `shoal describe`: a readable multi-line view of objects — metadata, labels, annotations, a
 * summary of the spec, the status, and the object's events — as kubectl describe prints them.
 */

import { Option } from 'clipanion'
import type { ResourceType } from '../src/store/resources.js'
import type { KubeObject } from '../src/store/types.js'
import { describeObject } from './describers.js'
import { placeManifest, readAllStdin, readManifests } from './manifests.js'
import { ResourceCommand, ServerError } from './resource-command.js'
import { parseResourceArgs, query, resourcePath } from './resources.js'
import { CommandUsageError } from './shoal-command.js'

interface List {
  items?: KubeObject[]
}

export class DescribeCommand extends ResourceCommand {
  static override paths = [['describe']]
  static override usage = ResourceCommand.Usage({
    description: 'show the details of objects, with their events',
    details: `
      Names an object as TYPE NAME or TYPE/NAME; a NAME that is no object's name describes
      every object whose name starts with it. Without a name, every object of the type is
      described (narrowed with -l). Events are those whose involvedObject is the object.
    `,
    examples: [
      ['Describe a pod', 'shoal describe pod web'],
      ['Describe a replication controller', 'shoal describe rc/frontend'],
      ['Describe every node', 'shoal describe nodes'],
      ['Describe the pods labelled app=web', 'shoal describe po -l app=web'],
    ],
  })

  selector = Option.String('-l,--selector', { description: 'label selector, e.g. app=web' })
  allNamespaces = Option.Boolean('-A,--all-namespaces', false, { description: 'across every namespace' })
  filename = Option.Array('-f,--filename', [], {
    description: 'the objects a manifest file, directory or - names',
  })
  showEvents = Option.Boolean('--show-events', true, { description: 'show events (--no-show-events: not)' })
  args = Option.Rest({ name: 'TYPE [NAME_PREFIX...] | TYPE/NAME...' })

  async runVerb(): Promise<number> {
    const objects: KubeObject[] = []
    let failed = false
    const onError = (err: unknown): void => {
      failed = true
      this.reportError(err)
    }
    let listedNamespace: string | undefined
    let listed = false
    if (this.filename.length > 0) {
      if (this.args.length > 0) throw new CommandUsageError('give either resource arguments or -f, not both')
      const manifests = await readManifests(this.filename, () => readAllStdin(this.context.stdin))
      const namespace = this.namespace()
      for (const m of manifests) {
        const placed = placeManifest(m, namespace, this.namespaceOption !== undefined)
        const name = placed.object.metadata.name
        if (!name) throw new CommandUsageError(`${m.source}: metadata.name not set`)
        await this.readNamed(m.type, placed.namespace, name, objects, onError)
      }
    } else {
      const requests = parseResourceArgs(this.args)
      if (requests.length === 0)
        throw new CommandUsageError(
          'you must specify the type of resource to describe, e.g. shoal describe pod NAME',
        )
      const named = requests.some((r) => r.names.length > 0)
      if (named && this.selector) throw new CommandUsageError('a name cannot be given together with -l')
      const namespace = this.allNamespaces ? undefined : this.namespace()
      for (const r of requests) {
        const ns = r.type.namespaced ? namespace : undefined
        if (r.names.length === 0) {
          listed = true
          listedNamespace = ns
          const list = (await this.request(
            'GET',
            resourcePath(r.type, ns) + query({ labelSelector: this.selector }),
          )) as List
          objects.push(...(list.items ?? []).map((o) => withKind(o, r.type)))
          continue
        }
        for (const name of r.names) await this.readNamed(r.type, ns, name, objects, onError)
      }
    }
    if (objects.length === 0 && listed && !failed) {
      this.context.stdout.write(
        listedNamespace === undefined
          ? 'No resources found\n'
          : `No resources found in ${listedNamespace} namespace.\n`,
      )
      return 0
    }
    const nowMs = Date.now()
    const texts: string[] = []
    for (const obj of objects) {
      try {
        texts.push(await this.describe(obj, nowMs))
      } catch (err) {
        onError(err)
      }
    }
    this.context.stdout.write(texts.join('\n\n'))
    return failed ? 1 : 0
  }

  /** The named object, or (kubectl's fallback) every object whose name starts with `name`. */
  private async readNamed(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    into: KubeObject[],
    onError: (err: unknown) => void,
  ): Promise<void> {
    try {
      into.push(
        withKind((await this.request('GET', resourcePath(type, namespace, name))) as KubeObject, type),
      )
    } catch (err) {
      if (!(err instanceof ServerError && err.code === 404)) return onError(err)
      try {
        const list = (await this.request('GET', resourcePath(type, namespace))) as List
        const matches = (list.items ?? []).filter((o) => (o.metadata.name ?? '').startsWith(name))
        if (matches.length === 0) return onError(err)
        into.push(...matches.map((o) => withKind(o, type)))
      } catch (listErr) {
        onError(listErr)
      }
    }
  }

  private async describe(obj: KubeObject, nowMs: number): Promise<string> {
    const ns = obj.metadata.namespace
    const events: KubeObject[] = []
    if (this.showEvents && obj.kind !== 'Namespace') {
      const fields = [
        `involvedObject.name=${obj.metadata.name ?? ''}`,
        ns ? `involvedObject.namespace=${ns}` : '',
        `involvedObject.kind=${obj.kind}`,
        obj.metadata.uid ? `involvedObject.uid=${obj.metadata.uid}` : '',
      ].filter(Boolean)
      const path = `${ns ? `/api/v1/namespaces/${encodeURIComponent(ns)}/events` : '/api/v1/events'}${query({ fieldSelector: fields.join(',') })}`
      events.push(...(((await this.request('GET', path)) as List).items ?? []))
    }
    let pods: KubeObject[] | undefined
    let endpoints: KubeObject | undefined
    if (obj.kind === 'ReplicationController') {
      const selector = Object.entries((obj.spec?.selector ?? {}) as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')
      pods =
        selector === ''
          ? []
          : ((
              (await this.request(
                'GET',
                `/api/v1/namespaces/${encodeURIComponent(ns ?? 'default')}/pods${query({ labelSelector: selector })}`,
              )) as List
            ).items ?? [])
    }
    if (obj.kind === 'Service') {
      endpoints = await this.getOrUndefined(
        `/api/v1/namespaces/${encodeURIComponent(ns ?? 'default')}/endpoints/${encodeURIComponent(obj.metadata.name ?? '')}`,
      )
    }
    return describeObject(obj, { events, pods, endpoints, nowMs })
  }
}

function withKind(obj: KubeObject, type: ResourceType): KubeObject {
  return { ...obj, apiVersion: obj.apiVersion || 'v1', kind: obj.kind || type.kind }
}

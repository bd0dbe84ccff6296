/** `shoal snapshot save FILE`: a consistent copy of the whole store, from any peer. */

import { writeFileSync } from 'node:fs'
import { Option } from 'clipanion'
import { httpsRequest } from '../../src/api/https-client.js'
import { inspectStoreSnapshot } from '../../src/daemon/restore.js'
import { ApiError, ClientCommand } from '../client.js'

export class SnapshotSaveCommand extends ClientCommand {
  static override paths = [['snapshot', 'save']]
  static override usage = ClientCommand.Usage({
    description: 'save a consistent copy of the whole cluster state to FILE',
    examples: [['From the playground', 'shoal snapshot save backup.snap --data-dir .shoal/peer-1']],
  })

  file = Option.String({ required: true, name: 'FILE' })

  async run(): Promise<number> {
    const c = this.connection()
    const res = await httpsRequest({
      url: `${c.server}/shoal/v1/snapshot`,
      token: c.token,
      ca: c.ca,
      timeoutMs: 60_000,
      headers: { accept: 'application/octet-stream' },
    }).catch((err: Error & { code?: string }) => {
      throw new ApiError(`cannot reach ${c.server}: ${err.code ?? err.message}`, 0)
    })
    if (res.status !== 200) {
      let message = res.body
      try {
        message = (JSON.parse(res.body) as { message?: string }).message ?? res.body
      } catch {
        // Not a Status: show the body as it is.
      }
      throw new ApiError(`${res.status}: ${message}`, res.status)
    }
    const bytes = Buffer.from(res.body, 'utf8')
    const info = inspectStoreSnapshot(bytes)
    writeFileSync(this.file, bytes, { mode: 0o600 })
    this.context.stdout.write(
      `saved ${info.objects} objects at resourceVersion ${info.resourceVersion} to ${this.file} (${bytes.length} bytes)\n`,
    )
    return 0
  }
}

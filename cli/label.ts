/** `shoal label`: add, change or remove labels of objects. */

import { MetadataMapCommand } from './metadata-map-command.js'
import { ResourceCommand } from './resource-command.js'

export class LabelCommand extends MetadataMapCommand {
  static override paths = [['label']]
  static override usage = ResourceCommand.Usage({
    description: 'add, change or remove labels of objects',
    details: `
      KEY=VALUE sets a label, KEY- removes it. A label that already has another value is
      changed only with --overwrite. Objects are named as TYPE NAME..., TYPE/NAME..., by
      manifests (-f), by a selector (-l) or all of a type (--all).
    `,
    examples: [
      ['Label a pod', 'shoal label pod web tier=frontend'],
      ['Change a label', 'shoal label pod/web tier=backend --overwrite'],
      ['Remove a label', 'shoal label pod web tier-'],
      ['Label every pod labelled app=web', 'shoal label pods -l app=web env=prod'],
    ],
  })

  protected readonly field = 'labels'
  protected readonly noun = 'label'

  protected outcome(changed: boolean, onlyRemoved: boolean): string {
    if (!changed) return 'not labeled'
    return onlyRemoved ? 'unlabeled' : 'labeled'
  }
}

/** `shoal annotate`: add, change or remove annotations of objects. */

import { MetadataMapCommand } from './metadata-map-command.js'
import { ResourceCommand } from './resource-command.js'

export class AnnotateCommand extends MetadataMapCommand {
  static override paths = [['annotate']]
  static override usage = ResourceCommand.Usage({
    description: 'add, change or remove annotations of objects',
    details: `
      KEY=VALUE sets an annotation (the value may be any text), KEY- removes it. An annotation
      that already has another value is changed only with --overwrite. Objects are named as
      TYPE NAME..., TYPE/NAME..., by manifests (-f), by a selector (-l) or all of a type (--all).
    `,
    examples: [
      ['Annotate a config map', "shoal annotate cm settings owner='team a'"],
      ['Change an annotation', 'shoal annotate cm/settings owner=team-b --overwrite'],
      ['Remove an annotation', 'shoal annotate cm settings owner-'],
    ],
  })

  protected readonly field = 'annotations'
  protected readonly noun = 'annotation'

  protected outcome(): string {
    return 'annotated'
  }
}

/** The version of Shoal, read once from package.json. */

import { readFileSync } from 'node:fs'

const pkgUrl = new URL('../../package.json', import.meta.url)

/** Shoal's version, as package.json says. */
export const SHOAL_VERSION: string = (JSON.parse(readFileSync(pkgUrl, 'utf8')) as { version: string }).version

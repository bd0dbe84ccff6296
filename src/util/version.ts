/** Shoal's version, read once from package.json (two levels up from dist/src/util or src/util). */

import { existsSync, readFileSync } from 'node:fs'

function findVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    const url = new URL(rel, import.meta.url)
    if (existsSync(url)) {
      const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'shoal' && pkg.version) return pkg.version
    }
  }
  return '0.0.0'
}

export const SHOAL_VERSION: string = findVersion()

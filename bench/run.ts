/**
 * The benchmark runner behind `make bench`: runs every `bench/<name>/main.js` (or only those
 * whose name contains an argument) one after another, each in its own process, and says
 * which failed. Each benchmark prints its figures and the command that reproduces them.
 */

import '../src/util/polyfill.js'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const filters = process.argv.slice(2)
const benches = readdirSync(here)
  .filter((name) => statSync(join(here, name)).isDirectory() && existsSync(join(here, name, 'main.js')))
  .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
  .sort()

if (benches.length === 0) {
  console.error(`no benchmark matches ${filters.join(' ') || '(any)'} under bench/`)
  process.exit(1)
}
const failed: string[] = []
for (const name of benches) {
  console.log(`\n=== bench/${name}`)
  const r = spawnSync(process.execPath, ['--enable-source-maps', join(here, name, 'main.js')], {
    stdio: 'inherit',
  })
  if (r.status !== 0) failed.push(name)
}
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(', ')}`)
  process.exit(1)
}

/**
 * The test runner behind `make test`.
 *
 * Each compiled uvu test file runs in its own Node process (a leaked handle or a crash stays
 * in its file): unit tests two at a time, end-to-end tests (test/e2e) one at a time because
 * they spawn daemons. It restates uvu's totals and ends with the line `N passed, N failed`;
 * the exit code is 1 when anything failed.
 *
 *   node dist/test/run.js            # every test
 *   node dist/test/run.js raft       # files whose path contains 'raft'
 */

import '../src/util/polyfill.js'
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
// The slowest file takes about 70 s (e2e/controllers); a hung file should not eat the CI's
// 30 minutes.
const fileTimeoutMs = Number(process.env.SHOAL_TEST_FILE_TIMEOUT_MS ?? 6 * 60_000)
const unitConcurrency = Number(process.env.SHOAL_TEST_JOBS ?? 2)

interface FileResult {
  file: string
  total: number
  passed: number
  skipped: number
  failed: number
  durationMs: number
  output: string
  exitCode: number | null
}

function findTestFiles(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...findTestFiles(path))
    else if (name.endsWith('.test.js')) out.push(path)
  }
  return out
}

// uvu colours its summary; strip ANSI escapes before reading the numbers.
function stripAnsi(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, '')
}

function readCount(text: string, label: string): number | null {
  const matches = [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))]
  if (matches.length === 0) return null
  return matches.reduce((sum, m) => sum + Number(m[1]), 0)
}

function runFile(file: string): Promise<FileResult> {
  const started = Date.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--enable-source-maps', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    })
    let output = ''
    child.stdout.on('data', (chunk) => {
      output += chunk
    })
    child.stderr.on('data', (chunk) => {
      output += chunk
    })
    const timer = setTimeout(() => {
      output += `\n[runner] timed out after ${fileTimeoutMs} ms, killing\n${dockerHealth()}`
      child.kill('SIGKILL')
    }, fileTimeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      const text = stripAnsi(output)
      const total = readCount(text, 'Total')
      const passed = readCount(text, 'Passed')
      const skipped = readCount(text, 'Skipped') ?? 0
      let failed: number
      if (total === null || passed === null) {
        // No uvu summary: the file crashed before or while reporting.
        failed = 1
      } else {
        failed = Math.max(0, total - passed - skipped)
        if (code !== 0 && failed === 0) failed = 1
      }
      resolve({
        file,
        total: total ?? 1,
        passed: passed ?? 0,
        skipped,
        failed,
        durationMs: Date.now() - started,
        output: text,
        exitCode: code,
      })
    })
  })
}

async function runPool(
  files: string[],
  concurrency: number,
  report: (r: FileResult) => void,
): Promise<FileResult[]> {
  const results: FileResult[] = []
  let next = 0
  async function worker(): Promise<void> {
    while (next < files.length) {
      const file = files[next++]!
      const result = await runFile(file)
      report(result)
      results.push(result)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker))
  return results
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2)
  const all = findTestFiles(here).filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
  const e2e = all.filter((f) => f.includes(`${join(here, 'e2e')}/`))
  const unit = all.filter((f) => !e2e.includes(f))

  const report = (r: FileResult): void => {
    const name = relative(here, r.file)
    const status = r.failed > 0 ? 'FAIL' : 'ok  '
    const skip = r.skipped > 0 ? `, ${r.skipped} skipped` : ''
    console.log(
      `${status} ${name}  (${r.passed}/${r.total} passed${skip}, ${(r.durationMs / 1000).toFixed(1)} s)`,
    )
    if (r.failed > 0 || process.env.SHOAL_TEST_VERBOSE) {
      console.log(r.output.replace(/^/gm, '     | '))
    }
    if (r.skipped > 0 && r.failed === 0) {
      for (const line of r.output.split('\n').filter((l) => l.includes('SKIPPING')))
        console.log(`     ${line.trim()}`)
    }
  }

  const results = [...(await runPool(unit, unitConcurrency, report)), ...(await runPool(e2e, 1, report))]
  const total = results.reduce((s, r) => s + r.total, 0)
  const passed = results.reduce((s, r) => s + r.passed, 0)
  const skipped = results.reduce((s, r) => s + r.skipped, 0)
  const failed = results.reduce((s, r) => s + r.failed, 0)
  console.log('')
  console.log(`Files:   ${results.length}`)
  console.log(`Total:   ${total}`)
  console.log(`Passed:  ${passed}`)
  console.log(`Skipped: ${skipped}`)
  console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
  process.exitCode = failed > 0 || results.length === 0 ? 1 : 0
}

await main()

/**
 * Whether the Docker engine answers, for a file that timed out: a hung engine (Docker 20.10's
 * network controller can deadlock) hangs every test that waits on it.
 */
function dockerHealth(): string {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    encoding: 'utf8',
    timeout: 10_000,
  })
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return ''
  if (r.status === 0) return `[runner] the Docker engine answers (${r.stdout.trim()})\n`
  return `[runner] the Docker engine does not answer \`docker info\` within 10 s: it is hung\n`
}

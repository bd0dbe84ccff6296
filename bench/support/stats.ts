/**
 * Small helpers shared by the benchmarks: percentiles, rounding, plain-text tables, the
 * machine a run was made on, and where the figures are written (bench/out/<name>.json).
 */

import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The nearest-rank percentile `p` (0..100) of `values`, or NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

export const round = (x: number, digits = 2): number => Number(x.toFixed(digits))

/** A uniformly random number in [min, max). */
export const between = (min: number, max: number): number => min + Math.random() * (max - min)

/** Rows of cells as aligned columns: the first column left-aligned, the others right-aligned. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** The project root: the nearest directory above `fromUrl` (a module's URL) holding package.json. */
export function projectRoot(fromUrl: string): string {
  let dir = dirname(fileURLToPath(fromUrl))
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('bench: no package.json above this file')
    dir = up
  }
  return dir
}

/** What every benchmark reports about where it ran. */
export interface MachineInfo {
  node: string
  cpu: string
  cores: number
}

export function machineInfo(): MachineInfo {
  return { node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length }
}

/** Writes `figures` as bench/out/<name>.json under the project root; returns the path. */
export async function writeFigures(root: string, name: string, figures: unknown): Promise<string> {
  const outDir = join(root, 'bench', 'out')
  await mkdir(outDir, { recursive: true })
  const path = join(outDir, `${name}.json`)
  await writeFile(path, `${JSON.stringify(figures, null, 2)}\n`)
  return path
}

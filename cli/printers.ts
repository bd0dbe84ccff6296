/**
 * Output of the kubectl-style verbs: `-o table|wide` from the server's Table (columns aligned as
 * kubectl's tabwriter does: minimum width 6, 3 spaces between columns, upper-case headers),
 * `-o json|yaml` (keys sorted, as kubectl prints unstructured objects; JSON indented by 4),
 * `-o name` (`pod/web`), and Go's text/tabwriter for `describe`. Pure: text in, text out.
 */

import { stringify as toYaml } from 'yaml'
import type { ObjectMeta } from '../src/store/types.js'
import { CommandUsageError } from './shoal-command.js'

/** The `-o` formats. */
export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml' | 'name'

/** Every `-o` format, in the order messages list them. */
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'wide', 'json', 'yaml', 'name']

/** Parses `-o`: one of `allowed`, else a usage error listing them. */
export function parseOutputFormat(
  value: string,
  allowed: readonly OutputFormat[] = OUTPUT_FORMATS,
): OutputFormat {
  const format = value.toLowerCase() as OutputFormat
  if (!allowed.includes(format)) {
    throw new CommandUsageError(
      `-o ${value}: unable to match a printer suitable for the output format; allowed formats are: ${allowed.join(', ')}`,
    )
  }
  return format
}

// ---------------------------------------------------------------------------------------------
// Tables

/** kubectl's table tabwriter settings (printers.GetNewTabWriter). */
export const TABLE_MIN_WIDTH = 6
export const TABLE_PADDING = 3

/** A column of the server's Table (the fields used here). */
export interface TableColumn {
  name: string
  priority: number
  format?: string
}

/** A row of the server's Table (the fields used here). */
export interface TableRowData {
  cells: unknown[]
  object?: { metadata?: ObjectMeta; kind?: string }
}

/** The server's `meta.k8s.io/v1` Table (the fields used here). */
export interface ServerTable {
  kind: 'Table'
  metadata?: { resourceVersion?: string }
  columnDefinitions: TableColumn[]
  rows: TableRowData[]
}

/** How a Table becomes text. */
export interface TableOptions {
  /** `-o wide`: priority-1 columns too. */
  wide: boolean
  /** `-A`: a NAMESPACE column first. */
  withNamespace: boolean
  /** `--show-labels`: a LABELS column last. */
  showLabels: boolean
  /** Put before every name, e.g. `pod/` when several types are printed. */
  namePrefix: string
}

/** Whether a value is a server Table. */
export function isTable(value: unknown): value is ServerTable {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'Table' &&
    Array.isArray((value as { rows?: unknown }).rows)
  )
}

/** The header cells of a Table, as kubectl prints them. */
export function tableHeader(columns: TableColumn[], opts: TableOptions): string[] {
  const out = columns.filter((c) => opts.wide || c.priority === 0).map((c) => c.name.toUpperCase())
  if (opts.withNamespace) out.unshift('NAMESPACE')
  if (opts.showLabels) out.push('LABELS')
  return out
}

/** The cells of one row of a Table. */
export function tableRow(columns: TableColumn[], row: TableRowData, opts: TableOptions): string[] {
  const nameIndex = Math.max(
    0,
    columns.findIndex((c) => c.format === 'name'),
  )
  const out: string[] = []
  columns.forEach((c, i) => {
    if (!opts.wide && c.priority !== 0) return
    const text = cellText(row.cells[i])
    out.push(i === nameIndex ? `${opts.namePrefix}${text}` : text)
  })
  const meta = row.object?.metadata
  if (opts.withNamespace) out.unshift(meta?.namespace ?? '')
  if (opts.showLabels) out.push(formatLabels(meta?.labels))
  return out
}

function cellText(cell: unknown): string {
  if (cell === null || cell === undefined) return '<none>'
  if (typeof cell === 'string') return cell
  if (typeof cell === 'number' || typeof cell === 'boolean') return String(cell)
  return JSON.stringify(cell)
}

/** `k=v,k2=v2` in key order, or `<none>`. */
export function formatLabels(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${v}`).join(',')
}

/**
 * Aligns rows of cells into columns as kubectl's tabwriter does (every column but the last
 * padded to its widest cell plus 3, at least 6). Widths only grow between calls, so the rows a
 * watch prints later stay aligned with the table printed first.
 */
export class ColumnAligner {
  private widths: number[] = []

  /** The rows as lines (each ending in a newline). */
  format(rows: string[][]): string {
    for (const row of rows) {
      row.forEach((cell, i) => {
        if (i === row.length - 1) return
        const w = Math.max(TABLE_MIN_WIDTH, width(cell) + TABLE_PADDING)
        if (w > (this.widths[i] ?? 0)) this.widths[i] = w
      })
    }
    return rows
      .map(
        (row) =>
          `${row.map((cell, i) => (i < row.length - 1 ? pad(cell, this.widths[i]!) : cell)).join('')}\n`,
      )
      .join('')
  }
}

function width(text: string): number {
  return [...text].length
}

function pad(text: string, to: number): string {
  return text + ' '.repeat(Math.max(0, to - width(text)))
}

/**
 * Go's text/tabwriter (no flags, blank padding): cells end with a tab; a column is aligned over
 * each run of consecutive lines that have a cell in it; the text after a line's last tab is not
 * part of any column. `describe` uses it with minimum width 0 and padding 2, as kubectl does.
 * Unlike Go's, trailing blanks are trimmed (a line ending in an empty value).
 */
export function tabwrite(text: string, minWidth: number, padding: number): string {
  const lines = text.split('\n').map((l) => l.split('\t'))
  const out: string[] = []
  const widths: number[] = []
  const writeLines = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const line = lines[i]!
      out.push(
        line
          .map((cell, j) => (j < widths.length ? pad(cell, widths[j]!) : cell))
          .join('')
          .trimEnd(),
      )
    }
  }
  const format = (line0: number, line1: number): void => {
    const column = widths.length
    let from = line0
    for (let t = from; t < line1; t++) {
      if (column >= lines[t]!.length - 1) continue
      // A cell in this column: the lines before it are printed, a column block starts here.
      writeLines(from, t)
      from = t
      let w = minWidth
      for (; t < line1; t++) {
        const line = lines[t]!
        if (column >= line.length - 1) break
        w = Math.max(w, width(line[column]!) + padding)
      }
      widths.push(w)
      format(from, t)
      widths.pop()
      from = t
    }
    writeLines(from, line1)
  }
  format(0, lines.length)
  return out.join('\n')
}

// ---------------------------------------------------------------------------------------------
// Objects

/** A copy of `value` with every object's keys sorted, as kubectl prints unstructured objects. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (typeof value !== 'object' || value === null) return value
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key])
  return out
}

/** One object (or List) as `-o json` prints it. */
export function toJsonText(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 4)}\n`
}

/** One object (or List) as `-o yaml` prints it (sequences not indented, no line folding). */
export function toYamlText(value: unknown): string {
  return toYaml(sortKeys(value), { indentSeq: false, lineWidth: 0 })
}

/** The `List` kubectl prints for several objects. */
export function asList(items: unknown[]): unknown {
  return { apiVersion: 'v1', items, kind: 'List', metadata: { resourceVersion: '' } }
}

/**
 * Objects printed as `-o json|yaml|name`: a single object as itself when `single`, else a List;
 * `name` prints one `type/name` line each, with `label` giving the type.
 */
export function renderObjects(
  objects: { object: unknown; label: string }[],
  format: 'json' | 'yaml' | 'name',
  single: boolean,
): string {
  if (format === 'name') {
    return objects
      .map(({ object, label }) => `${label}/${(object as { metadata?: ObjectMeta }).metadata?.name ?? ''}\n`)
      .join('')
  }
  const value = single && objects.length === 1 ? objects[0]!.object : asList(objects.map((o) => o.object))
  return format === 'json' ? toJsonText(value) : toYamlText(value)
}

/**
 * Kubernetes resource quantities (`100m`, `0.5`, `64Mi`, `1G`, `1e3`) as plain numbers: cpu in
 * cores, memory in bytes. Pure functions; the grammar is apimachinery's `resource.Quantity`:
 *
 *   <quantity> ::= <sign>? <number> <suffix>?
 *   <number>   ::= <digits> | <digits> "." <digits>? | "." <digits>
 *   <suffix>   ::= Ki | Mi | Gi | Ti | Pi | Ei            (powers of 1024)
 *                | n | u | m | k | M | G | T | P | E      (powers of 1000)
 *                | ("e" | "E") <sign>? <digits>           (a power of ten)
 *
 * A JavaScript number carries 53 bits, so values beyond 2^53 (9 PB) or below a nanounit lose
 * precision; Kubernetes keeps them exactly, which no Shoal resource needs.
 */

/** The failure to parse a quantity: the input does not follow the grammar, or is out of range. */
export class QuantityError extends Error {
  override name = 'QuantityError'
  constructor(
    readonly input: string,
    why = QUANTITY_FORMAT_MESSAGE,
  ) {
    super(`invalid quantity ${JSON.stringify(input)}: ${why}`)
  }
}

/** Kubernetes' own wording for a malformed quantity (resource.ErrFormatWrong). */
export const QUANTITY_FORMAT_MESSAGE =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

const BINARY_SUFFIXES: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 }
const DECIMAL_SUFFIXES: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
}

// The exponent form comes before the bare `E` (exa) so that `1E3` is 1000 and `1E` is 10^18.
const QUANTITY_RE = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$/

/**
 * Parses a Kubernetes quantity into a number (`'100m'` → 0.1, `'64Mi'` → 67108864, `'1e3'` → 1000).
 * Throws `QuantityError` on anything else, including empty strings, spaces and infinities.
 */
export function parseQuantity(s: string): number {
  if (typeof s !== 'string') throw new QuantityError(String(s), 'must be a string')
  const m = QUANTITY_RE.exec(s)
  if (!m) throw new QuantityError(s)
  const [, sign, digits, suffix = ''] = m
  let value: number
  const binary = BINARY_SUFFIXES[suffix]
  if (binary !== undefined) {
    value = Number(digits) * 1024 ** binary
  } else {
    // `E` alone is exa; `E` or `e` followed by digits is an exponent.
    const exponent = suffix.length > 1 ? Number(suffix.slice(1)) : (DECIMAL_SUFFIXES[suffix] as number)
    // Let the number parser apply the power of ten: `Number('100e-3')` is correctly rounded to 0.1,
    // where `100 * 1e-3` would be 0.1 plus an ulp.
    value = Number(`${digits}e${exponent}`)
  }
  if (!Number.isFinite(value)) throw new QuantityError(s, 'out of range')
  return sign === '-' && value !== 0 ? -value : value
}

/** Whether `s` parses as a quantity. */
export function isQuantity(s: string): boolean {
  try {
    parseQuantity(s)
    return true
  } catch {
    // Not a quantity is the answer, not a failure.
    return false
  }
}

/**
 * Formats a number as a canonical-looking quantity: `'BinarySI'` picks the largest exact Ki…Ei
 * multiple (memory: 67108864 → `64Mi`), `'DecimalSI'` the largest exact k…E multiple, or milli-units
 * for fractions (cpu: 0.25 → `250m`). Values that fit no suffix exactly are written in plain decimal.
 */
export function formatQuantity(value: number, format: 'BinarySI' | 'DecimalSI' = 'DecimalSI'): string {
  if (!Number.isFinite(value)) throw new RangeError(`cannot format ${value} as a quantity`)
  if (value === 0) return '0'
  const sign = value < 0 ? '-' : ''
  const abs = Math.abs(value)
  if (Number.isInteger(abs)) {
    if (format === 'BinarySI') {
      for (const [suffix, power] of Object.entries(BINARY_SUFFIXES).reverse()) {
        const unit = 1024 ** power
        if (abs >= unit && abs % unit === 0) return `${sign}${abs / unit}${suffix}`
      }
    }
    for (const suffix of ['E', 'P', 'T', 'G', 'M', 'k']) {
      const unit = 10 ** (DECIMAL_SUFFIXES[suffix] as number)
      if (abs >= unit && abs % unit === 0) return `${sign}${abs / unit}${suffix}`
    }
    return `${sign}${abs}`
  }
  for (const suffix of ['m', 'u', 'n']) {
    const exponent = DECIMAL_SUFFIXES[suffix] as number
    const scaled = Math.round(abs * 10 ** -exponent)
    // Exact when parsing the result back gives the same number.
    if (Number(`${scaled}e${exponent}`) === abs) return `${sign}${scaled}${suffix}`
  }
  return `${sign}${abs}`
}

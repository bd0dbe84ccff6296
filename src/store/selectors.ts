/**
 * Kubernetes label selectors and field selectors: parsing, validation, matching and the
 * canonical string form, as k8s.io/apimachinery's `pkg/labels/selector.go` and
 * `pkg/fields/selector.go` define them. Pure: data in, data out, no I/O.
 *
 * The API parses `?labelSelector=` and `?fieldSelector=` with these; controllers build label
 * selectors from the `selector` of ReplicaSets, Deployments (object form) and Services,
 * ReplicationControllers (map form).
 */

import { BadRequestError } from './errors.js'

/**
 * A label or field selector that cannot be parsed or built. The message names the offending
 * part; at the API it is a 400 BadRequest, as Kubernetes answers.
 */
export class SelectorError extends BadRequestError {
  override name = 'SelectorError'
}

// ---------------------------------------------------------------------------------------------
// Label keys and values
// ---------------------------------------------------------------------------------------------

const QUALIFIED_NAME_MAX_LENGTH = 63
const LABEL_VALUE_MAX_LENGTH = 63
const DNS1123_SUBDOMAIN_MAX_LENGTH = 253
const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'
const QUALIFIED_NAME_RE = new RegExp(`^${QUALIFIED_NAME_FMT}$`)
const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`
const LABEL_VALUE_RE = new RegExp(`^${LABEL_VALUE_FMT}$`)
const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?'
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`
const DNS1123_SUBDOMAIN_RE = new RegExp(`^${DNS1123_SUBDOMAIN_FMT}$`)

const QUALIFIED_NAME_MSG =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " +
  `alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex used for validation is '${QUALIFIED_NAME_FMT}')`

/**
 * The problems with a label key (Kubernetes' `IsQualifiedName`): an optional DNS-1123
 * subdomain prefix (at most 253 characters) and '/', then a name of at most 63 characters
 * matching `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`. Empty when the key is valid.
 */
export function validateLabelKey(key: string): string[] {
  const problems: string[] = []
  const parts = key.split('/')
  let name: string
  if (parts.length === 1) {
    name = parts[0]!
  } else if (parts.length === 2) {
    const prefix = parts[0]!
    name = parts[1]!
    if (prefix.length === 0) {
      problems.push('prefix part must be non-empty')
    } else {
      if (prefix.length > DNS1123_SUBDOMAIN_MAX_LENGTH) {
        problems.push(`prefix part must be no more than ${DNS1123_SUBDOMAIN_MAX_LENGTH} characters`)
      }
      if (!DNS1123_SUBDOMAIN_RE.test(prefix)) {
        problems.push(
          "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' " +
            "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used " +
            `for validation is '${DNS1123_SUBDOMAIN_FMT}')`,
        )
      }
    }
  } else {
    return [
      `a qualified name ${QUALIFIED_NAME_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ]
  }
  if (name.length === 0) {
    problems.push('name part must be non-empty')
  } else if (name.length > QUALIFIED_NAME_MAX_LENGTH) {
    problems.push(`name part must be no more than ${QUALIFIED_NAME_MAX_LENGTH} characters`)
  }
  if (!QUALIFIED_NAME_RE.test(name)) problems.push(`name part ${QUALIFIED_NAME_MSG}`)
  return problems
}

/**
 * The problems with a label value (Kubernetes' `IsValidLabelValue`): empty, or at most 63
 * characters matching `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`. Empty when the value is valid.
 */
export function validateLabelValue(value: string): string[] {
  const problems: string[] = []
  if (value.length > LABEL_VALUE_MAX_LENGTH) {
    problems.push(`must be no more than ${LABEL_VALUE_MAX_LENGTH} characters`)
  }
  if (!LABEL_VALUE_RE.test(value)) {
    problems.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and " +
        "must start and end with an alphanumeric character (e.g. 'MyValue', or 'my_value', or '12345', regex " +
        `used for validation is '${LABEL_VALUE_FMT}')`,
    )
  }
  return problems
}

function keyProblem(key: string): string | undefined {
  const problems = validateLabelKey(key)
  return problems.length === 0 ? undefined : `invalid label key "${key}": ${problems.join('; ')}`
}

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/**
 * A label requirement's operator, spelled as Kubernetes' `selection.Operator` spells it:
 * `in`, `notin`, `=`, `==`, `!=`, `exists`, `!` (does not exist), `gt`, `lt`.
 */
export type LabelSelectorOperator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt'

/** One condition of a label selector: a key, an operator and the values it compares with. */
export interface LabelRequirement {
  readonly key: string
  readonly operator: LabelSelectorOperator
  /**
   * One value for `=`, `==`, `!=`, `gt`, `lt`; at least one for `in`, `notin`; none otherwise.
   * In a selector's requirements they are unique.
   */
  readonly values: readonly string[]
}

/** The labels of an object; `undefined` is an object without labels. */
export type Labels = Readonly<Record<string, string>> | undefined

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** Go's `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits, within int64. */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined
  const n = BigInt(s)
  return n < INT64_MIN || n > INT64_MAX ? undefined : n
}

/**
 * Checks a requirement as Kubernetes' `NewRequirement` does and returns a frozen copy; throws
 * a SelectorError naming every problem with the key, the operator and the values.
 */
function checkRequirement(
  key: string,
  operator: LabelSelectorOperator,
  values: readonly string[],
): LabelRequirement {
  const problems: string[] = []
  const bad = keyProblem(key)
  if (bad !== undefined) problems.push(bad)
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0)
        problems.push(`key "${key}": for 'in', 'notin' operators, values set can't be empty`)
      break
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1)
        problems.push(`key "${key}": exact-match compatibility requires one single value`)
      break
    case 'exists':
    case '!':
      if (values.length !== 0)
        problems.push(`key "${key}": values set must be empty for exists and does not exist`)
      break
    case 'gt':
    case 'lt':
      if (values.length !== 1)
        problems.push(`key "${key}": for 'gt', 'lt' operators, exactly one value is required`)
      for (const v of values) {
        if (parseInt64(v) === undefined) {
          problems.push(`key "${key}": for 'gt', 'lt' operators, the value must be an integer, not "${v}"`)
        }
      }
      break
    default:
      problems.push(`key "${key}": operator "${String(operator)}" is not supported`)
  }
  for (const v of values) {
    const valueProblems = validateLabelValue(v)
    if (valueProblems.length > 0) {
      problems.push(`invalid label value "${v}" for key "${key}": ${valueProblems.join('; ')}`)
    }
  }
  if (problems.length > 0) throw new SelectorError(problems.join('; '))
  // A set, as the parser builds it. Kubernetes keeps duplicates given in the object form and
  // then prints e.g. `x in (,,)`, which its own parser rejects; dropping them keeps toString()
  // parseable and changes no match.
  return Object.freeze({ key, operator, values: Object.freeze([...new Set(values)]) })
}

/**
 * Orders strings as Go's `<` does (by UTF-8 bytes, i.e. by code point), which differs from
 * JavaScript's `<` (UTF-16 code units) only beyond the Basic Multilingual Plane.
 */
function compareCodePoints(a: string, b: string): number {
  let i = 0
  while (i < a.length && i < b.length) {
    const ca = a.codePointAt(i)!
    const cb = b.codePointAt(i)!
    if (ca !== cb) return ca - cb
    i += ca > 0xffff ? 2 : 1
  }
  return a.length - b.length
}

function requirementMatches(r: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  // Own properties only: a key like `constructor` must not be found on Object.prototype.
  const has = Object.hasOwn(labels, r.key)
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return has && r.values.includes(labels[r.key]!)
    case 'notin':
    case '!=':
      return !has || !r.values.includes(labels[r.key]!)
    case 'exists':
      return has
    case '!':
      return !has
    case 'gt':
    case 'lt': {
      if (!has || r.values.length !== 1) return false
      const actual = parseInt64(labels[r.key]!)
      const bound = parseInt64(r.values[0]!)
      if (actual === undefined || bound === undefined) return false
      return r.operator === 'gt' ? actual > bound : actual < bound
    }
  }
}

const OPERATOR_TEXT: Record<LabelSelectorOperator, string> = {
  in: ' in ',
  notin: ' notin ',
  '=': '=',
  '==': '==',
  '!=': '!=',
  exists: '',
  '!': '',
  gt: '>',
  lt: '<',
}

function requirementString(r: LabelRequirement): string {
  if (r.operator === 'exists') return r.key
  if (r.operator === '!') return `!${r.key}`
  const values = r.values.length === 1 ? r.values[0]! : [...r.values].sort(compareCodePoints).join(',')
  const set = r.operator === 'in' || r.operator === 'notin'
  return r.key + OPERATOR_TEXT[r.operator] + (set ? `(${values})` : values)
}

/**
 * A Kubernetes label selector: an AND of requirements, kept sorted by key (stable, as
 * Kubernetes sorts them). Immutable. Build one with `parseLabelSelector`,
 * `labelSelectorFromObject`, `labelSelectorFromMap` or `LabelSelector.fromRequirements`.
 *
 * Two selectors have no requirements: `everything()` (Kubernetes' `labels.Everything()`,
 * matches every object, `isEmpty()`) and `nothing()` (`labels.Nothing()`, matches no object,
 * `matchesNothing()`). Both print as the empty string, which parses back to everything.
 */
export class LabelSelector {
  private static readonly EVERYTHING = new LabelSelector([], false)
  private static readonly NOTHING = new LabelSelector([], true)

  private constructor(
    /** The requirements, sorted by key; all must match. */
    readonly requirements: readonly LabelRequirement[],
    private readonly selectsNothing: boolean,
  ) {
    Object.freeze(this)
  }

  /** The selector that matches every object (Kubernetes' `labels.Everything()`). */
  static everything(): LabelSelector {
    return LabelSelector.EVERYTHING
  }

  /** The selector that matches no object (Kubernetes' `labels.Nothing()`). */
  static nothing(): LabelSelector {
    return LabelSelector.NOTHING
  }

  /**
   * A selector requiring all of `requirements`, each checked as Kubernetes' `NewRequirement`
   * checks it (throws SelectorError). Duplicate values are dropped; no requirements is everything.
   */
  static fromRequirements(requirements: readonly LabelRequirement[]): LabelSelector {
    if (requirements.length === 0) return LabelSelector.EVERYTHING
    const checked = requirements.map((r) => checkRequirement(r.key, r.operator, r.values))
    checked.sort((a, b) => compareCodePoints(a.key, b.key))
    return new LabelSelector(Object.freeze(checked), false)
  }

  /** Whether an object with these labels is selected: every requirement holds. */
  matches(labels: Labels): boolean {
    if (this.selectsNothing) return false
    const set = labels ?? {}
    return this.requirements.every((r) => requirementMatches(r, set))
  }

  /** Whether this selector restricts nothing: no requirements, so it matches every object. */
  isEmpty(): boolean {
    return !this.selectsNothing && this.requirements.length === 0
  }

  /** Whether this is the selector that matches no object at all. */
  matchesNothing(): boolean {
    return this.selectsNothing
  }

  /**
   * The canonical string form, as Kubernetes prints it: requirements sorted by key, joined by
   * ','; set values sorted; `x in (a,b)`, `x notin (a)`, `x`, `!x`, `x=a`, `x==a`, `x!=a`,
   * `x>1`, `x<1`. It parses back to a selector matching the same label sets.
   */
  toString(): string {
    return this.requirements.map(requirementString).join(',')
  }
}

// --- the string form ---

type TokenKind = 'end' | 'identifier' | '(' | ')' | ',' | '!' | '=' | '==' | '!=' | '>' | '<' | 'in' | 'notin'

interface Token {
  kind: TokenKind
  literal: string
}

const SYMBOLS: ReadonlyMap<string, TokenKind> = new Map<string, TokenKind>([
  ['(', '('],
  [')', ')'],
  [',', ','],
  ['!', '!'],
  ['=', '='],
  ['==', '=='],
  ['!=', '!='],
  ['>', '>'],
  ['<', '<'],
])

const isWhitespace = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n'
const isSpecialSymbol = (ch: string): boolean => '=!(),><'.includes(ch)

/**
 * Splits a selector into tokens as Kubernetes' lexer does: runs of special symbols give the
 * longest operator they start with; anything else up to whitespace or a symbol is an
 * identifier, or the keyword `in` / `notin`. A NUL character reads as the end, as in Go.
 */
function lex(text: string): Token[] {
  const tokens: Token[] = []
  let pos = 0
  // Like Go's Lexer.read: NUL at the end of the text, without moving past it.
  const read = (): string => (pos < text.length ? text[pos++]! : '\0')

  const scanSpecialSymbol = (): Token => {
    let buffer = ''
    let last: Token | undefined
    for (;;) {
      const ch = read()
      if (ch === '\0') break
      if (!isSpecialSymbol(ch)) {
        pos--
        break
      }
      buffer += ch
      const kind = SYMBOLS.get(buffer)
      if (kind !== undefined) {
        last = { kind, literal: buffer }
      } else if (last !== undefined) {
        pos--
        break
      }
    }
    // Every special symbol is an operator on its own, so the first character always made one.
    return last!
  }

  const scanIdentifierOrKeyword = (): Token => {
    let buffer = ''
    for (;;) {
      const ch = read()
      if (ch === '\0') break
      if (isSpecialSymbol(ch) || isWhitespace(ch)) {
        pos--
        break
      }
      buffer += ch
    }
    if (buffer === 'in' || buffer === 'notin') return { kind: buffer, literal: buffer }
    return { kind: 'identifier', literal: buffer }
  }

  for (;;) {
    let ch = read()
    while (isWhitespace(ch)) ch = read()
    if (ch === '\0') {
      tokens.push({ kind: 'end', literal: '' })
      return tokens
    }
    pos--
    tokens.push(isSpecialSymbol(ch) ? scanSpecialSymbol() : scanIdentifierOrKeyword())
  }
}

/** Where a token is read: after a key `in`/`notin` are operators; elsewhere they are plain words. */
type Context = 'keyAndOperator' | 'values'

const describe = (t: Token): string => (t.kind === 'end' ? 'end of string' : `'${t.literal}'`)

/** Kubernetes' recursive-descent parser over the tokens, one method per grammar rule. */
class LabelSelectorParser {
  private position = 0

  constructor(private readonly tokens: readonly Token[]) {}

  private lookahead(context: Context): Token {
    return this.asIn(this.tokens[this.position]!, context)
  }

  private consume(context: Context): Token {
    return this.asIn(this.tokens[this.position++]!, context)
  }

  private asIn(token: Token, context: Context): Token {
    if (context === 'values' && (token.kind === 'in' || token.kind === 'notin')) {
      return { kind: 'identifier', literal: token.literal }
    }
    return token
  }

  parse(): LabelRequirement[] {
    const requirements: LabelRequirement[] = []
    for (;;) {
      const next = this.lookahead('values')
      if (next.kind === 'end') return requirements
      if (next.kind !== 'identifier' && next.kind !== '!') {
        throw new SelectorError(`found ${describe(next)}, expected: !, identifier, or 'end of string'`)
      }
      try {
        requirements.push(this.parseRequirement())
      } catch (err) {
        if (err instanceof SelectorError)
          throw new SelectorError(`unable to parse requirement: ${err.message}`)
        throw err
      }
      const after = this.consume('values')
      if (after.kind === 'end') return requirements
      if (after.kind !== ',')
        throw new SelectorError(`found ${describe(after)}, expected: ',' or 'end of string'`)
      const following = this.lookahead('values')
      if (following.kind !== 'identifier' && following.kind !== '!') {
        throw new SelectorError(`found ${describe(following)}, expected: identifier after ','`)
      }
    }
  }

  private parseRequirement(): LabelRequirement {
    const { key, operator: inferred } = this.parseKeyAndInferOperator()
    if (inferred !== undefined) return checkRequirement(key, inferred, [])
    const operator = this.parseOperator()
    const values = operator === 'in' || operator === 'notin' ? this.parseValues() : this.parseExactValue()
    // Sorted, as Kubernetes' sets.String(...).List() returns them (checkRequirement makes them unique).
    return checkRequirement(key, operator, values.sort(compareCodePoints))
  }

  /** `[!] KEY`; the operator is `!` or `exists` when nothing follows the key, else undefined. */
  private parseKeyAndInferOperator(): { key: string; operator: LabelSelectorOperator | undefined } {
    let token = this.consume('values')
    let operator: LabelSelectorOperator | undefined
    if (token.kind === '!') {
      operator = '!'
      token = this.consume('values')
    }
    if (token.kind !== 'identifier') throw new SelectorError(`found ${describe(token)}, expected: identifier`)
    const bad = keyProblem(token.literal)
    if (bad !== undefined) throw new SelectorError(bad)
    const next = this.lookahead('values').kind
    if ((next === 'end' || next === ',') && operator === undefined) operator = 'exists'
    // `!key` followed by anything but ',' or the end is left for the caller to reject, as Kubernetes does.
    return { key: token.literal, operator }
  }

  private parseOperator(): LabelSelectorOperator {
    const token = this.consume('keyAndOperator')
    switch (token.kind) {
      case 'in':
      case 'notin':
      case '=':
      case '==':
      case '!=':
        return token.kind
      case '>':
        return 'gt'
      case '<':
        return 'lt'
      default:
        throw new SelectorError(`found ${describe(token)}, expected: in, notin, =, ==, !=, >, <`)
    }
  }

  /** `( VALUE [, VALUE]* )`, where any VALUE may be empty: `()` and `(,a)` hold the empty value. */
  private parseValues(): string[] {
    const open = this.consume('values')
    if (open.kind !== '(') throw new SelectorError(`found ${describe(open)}, expected: '('`)
    const first = this.lookahead('values')
    if (first.kind === ')') {
      this.consume('values')
      return ['']
    }
    if (first.kind !== 'identifier' && first.kind !== ',') {
      throw new SelectorError(`found ${describe(first)}, expected: ',', ')' or identifier`)
    }
    const values = this.parseIdentifiersList()
    const close = this.consume('values')
    if (close.kind !== ')') throw new SelectorError(`found ${describe(close)}, expected: ')'`)
    return values
  }

  private parseIdentifiersList(): string[] {
    const values: string[] = []
    for (;;) {
      const token = this.consume('values')
      if (token.kind === 'identifier') {
        values.push(token.literal)
        const next = this.lookahead('values')
        if (next.kind === ',') continue
        if (next.kind === ')') return values
        throw new SelectorError(`found ${describe(next)}, expected: ',' or ')'`)
      }
      if (token.kind !== ',')
        throw new SelectorError(`found ${describe(token)}, expected: ',', or identifier`)
      if (values.length === 0) values.push('') // `(,`
      const next = this.lookahead('values').kind
      if (next === ')') {
        values.push('') // `,)`
        return values
      }
      if (next === ',') {
        this.consume('values')
        values.push('') // `,,`
      }
    }
  }

  /** The single VALUE after `=`, `==`, `!=`, `>`, `<`; nothing before ',' or the end is the empty value. */
  private parseExactValue(): string[] {
    const next = this.lookahead('values').kind
    if (next === 'end' || next === ',') return ['']
    const token = this.consume('values')
    if (token.kind !== 'identifier') throw new SelectorError(`found ${describe(token)}, expected: identifier`)
    return [token.literal]
  }
}

/**
 * Parses the string form of a label selector, as `?labelSelector=` and `kubectl -l` carry it
 * (Kubernetes' `labels.Parse`):
 *
 *     selector    ::= requirement ("," requirement)*
 *     requirement ::= ["!"] KEY [("in" | "notin") "(" VALUE ("," VALUE)* ")" | ("=" | "==" | "!=" | ">" | "<") VALUE]
 *
 * `a=b`, `a==b`: a is b; `a!=b`: a is absent or not b; `a in (x,y)`: a is x or y; `a notin (x)`:
 * a is absent or not x; `a`: a is present; `!a`: a is absent; `a>1`, `a<1`: a is an integer
 * above / below. Whitespace around tokens is ignored; VALUE may be empty. Keys and values are
 * validated (see `validateLabelKey`, `validateLabelValue`). The empty string selects everything.
 * Throws SelectorError naming the offending token, key or value.
 */
export function parseLabelSelector(text: string): LabelSelector {
  const requirements = new LabelSelectorParser(lex(text)).parse()
  return LabelSelector.fromRequirements(requirements)
}

// --- the object and map forms ---

/** One `matchExpressions` entry of a Kubernetes `LabelSelector` object. */
export interface LabelSelectorExpression {
  key: string
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'
  values?: string[]
}

/** The object form of a label selector (`spec.selector` of ReplicaSets, Deployments, Jobs...). */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string>
  matchExpressions?: LabelSelectorExpression[]
}

const EXPRESSION_OPERATORS: Readonly<Record<string, LabelSelectorOperator>> = {
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: '!',
}

/**
 * The selector an object-form `LabelSelector` stands for (Kubernetes'
 * `metav1.LabelSelectorAsSelector`): every `matchLabels` entry is an `=` requirement, every
 * `matchExpressions` entry its operator. No selector at all (`null`/`undefined`) matches
 * nothing; an empty one (`{}`) matches everything. Throws SelectorError on an invalid key,
 * value or operator, `In`/`NotIn` without values, or `Exists`/`DoesNotExist` with values.
 */
export function labelSelectorFromObject(sel: LabelSelectorObject | null | undefined): LabelSelector {
  if (sel === null || sel === undefined) return LabelSelector.nothing()
  const requirements: LabelRequirement[] = Object.entries(sel.matchLabels ?? {})
    .sort(([a], [b]) => compareCodePoints(a, b))
    .map(([key, value]) => ({ key, operator: '=', values: [value] }))
  for (const expr of sel.matchExpressions ?? []) {
    const operator = Object.hasOwn(EXPRESSION_OPERATORS, expr.operator)
      ? EXPRESSION_OPERATORS[expr.operator]
      : undefined
    if (operator === undefined) {
      throw new SelectorError(`"${String(expr.operator)}" is not a valid label selector operator`)
    }
    requirements.push({ key: expr.key, operator, values: expr.values ?? [] })
  }
  return LabelSelector.fromRequirements(requirements)
}

/**
 * The selector a plain label map stands for (the `spec.selector` of ReplicationControllers
 * and Services; Kubernetes' `ValidatedSelectorFromSet`): an `=` requirement on every key.
 * Throws SelectorError on an invalid key or value.
 *
 * An empty or missing map gives `LabelSelector.everything()`, as Kubernetes' `SelectorFromSet`
 * does. Kubernetes nevertheless treats a Service with an empty selector as selecting no pods
 * (its endpoints are managed by hand); that policy belongs to the caller, which must check for
 * the empty map itself (or use `LabelSelector.nothing()`), not to this function.
 */
export function labelSelectorFromMap(map: Readonly<Record<string, string>> | undefined): LabelSelector {
  const requirements: LabelRequirement[] = Object.entries(map ?? {}).map(([key, value]) => ({
    key,
    operator: '=',
    values: [value],
  }))
  return LabelSelector.fromRequirements(requirements)
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

/** One condition of a field selector; `==` is read as `=`, as Kubernetes does. */
export interface FieldRequirement {
  readonly field: string
  readonly operator: '=' | '!='
  readonly value: string
}

/**
 * The fields every object offers to field selectors here: `metadata.name`,
 * `metadata.namespace`, `spec.nodeName`, `status.phase` (see `objectFields`).
 */
export const FIELD_SELECTOR_FIELDS: readonly string[] = Object.freeze([
  'metadata.name',
  'metadata.namespace',
  'spec.nodeName',
  'status.phase',
])

/**
 * Escapes a value for a field selector (Kubernetes' `fields.EscapeValue`): `\` → `\\`,
 * `,` → `\,`, `=` → `\=`.
 */
export function escapeFieldSelectorValue(value: string): string {
  return value.replace(/[\\,=]/g, (c) => `\\${c}`)
}

/** Kubernetes' `fields.UnescapeValue`: the escapes above only; a bare `,` or `=` is an error. */
function unescapeFieldSelectorValue(value: string): string {
  let out = ''
  let inSlash = false
  for (const c of value) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') {
        throw new SelectorError(`invalid field selector: invalid escape sequence: \\${c}`)
      }
      out += c
      inSlash = false
    } else if (c === '\\') {
      inSlash = true
    } else if (c === ',' || c === '=') {
      throw new SelectorError(`invalid field selector: unescaped character in value: '${c}'`)
    } else {
      out += c
    }
  }
  if (inSlash) throw new SelectorError('invalid field selector: invalid escape sequence: \\')
  return out
}

/** Splits at every comma not escaped by a backslash (Kubernetes' `splitTerms`). */
function splitTerms(text: string): string[] {
  if (text.length === 0) return []
  const terms: string[] = []
  let start = 0
  let inSlash = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inSlash) inSlash = false
    else if (c === '\\') inSlash = true
    else if (c === ',') {
      terms.push(text.slice(start, i))
      start = i + 1
    }
  }
  terms.push(text.slice(start))
  return terms
}

/** Splits `field op value` at the first operator, trying `!=`, `==`, `=` at each position. */
function splitTerm(term: string): { field: string; op: string; rest: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of ['!=', '==', '=']) {
      if (term.startsWith(op, i)) return { field: term.slice(0, i), op, rest: term.slice(i + op.length) }
    }
  }
  return undefined
}

/**
 * A Kubernetes field selector: an AND of `field=value` / `field!=value` terms over an object's
 * selectable fields, sorted as Kubernetes sorts them. Immutable; build one with
 * `parseFieldSelector`, `FieldSelector.fromRequirements` or `FieldSelector.everything()`.
 */
export class FieldSelector {
  private static readonly EVERYTHING = new FieldSelector([])

  private constructor(
    /** The terms; all must hold. */
    readonly requirements: readonly FieldRequirement[],
  ) {
    Object.freeze(this)
  }

  /** The field selector with no terms, which matches every object. */
  static everything(): FieldSelector {
    return FieldSelector.EVERYTHING
  }

  /**
   * A selector requiring all of `requirements`, in the order given (e.g. `spec.nodeName=n1` for
   * an agent's own pods). Fields are not checked against any allowed list here.
   */
  static fromRequirements(requirements: readonly FieldRequirement[]): FieldSelector {
    if (requirements.length === 0) return FieldSelector.EVERYTHING
    const copies = requirements.map((r) => {
      if (r.operator !== '=' && r.operator !== '!=') {
        throw new SelectorError(`field "${r.field}": operator "${String(r.operator)}" is not supported`)
      }
      return Object.freeze({ field: r.field, operator: r.operator, value: r.value })
    })
    return new FieldSelector(Object.freeze(copies))
  }

  /** Whether an object with these field values is selected; a missing field reads as ''. */
  matches(fields: Readonly<Record<string, string>>): boolean {
    return this.requirements.every((r) => {
      const actual = Object.hasOwn(fields, r.field) ? fields[r.field]! : ''
      return r.operator === '=' ? actual === r.value : actual !== r.value
    })
  }

  /** Whether this selector has no terms, so matches every object. */
  isEmpty(): boolean {
    return this.requirements.length === 0
  }

  /** The canonical string form, as Kubernetes prints it: `f=v` / `f!=v`, values escaped, joined by ','. */
  toString(): string {
    return this.requirements.map((r) => r.field + r.operator + escapeFieldSelectorValue(r.value)).join(',')
  }
}

/**
 * Parses the string form of a field selector, as `?fieldSelector=` and `kubectl
 * --field-selector` carry it (Kubernetes' `fields.ParseSelector`): comma-separated
 * `field=value`, `field==value` or `field!=value` terms; in values, `\,`, `\=` and `\\` stand
 * for `,`, `=` and `\`. Empty terms are skipped; the empty string selects everything. As in
 * Kubernetes, whitespace is not trimmed: it is part of the field name or value. Throws
 * SelectorError on a term without an operator, a bad escape, or a field not in `allowedFields`
 * (`field label not supported: X`).
 */
export function parseFieldSelector(text: string, allowedFields: readonly string[]): FieldSelector {
  // Kubernetes sorts the raw terms (by bytes) before it parses them.
  const terms = splitTerms(text).sort(compareCodePoints)
  const requirements: FieldRequirement[] = []
  for (const term of terms) {
    if (term === '') continue
    const split = splitTerm(term)
    if (split === undefined)
      throw new SelectorError(`invalid selector: '${text}'; can't understand '${term}'`)
    const value = unescapeFieldSelectorValue(split.rest)
    requirements.push({ field: split.field, operator: split.op === '!=' ? '!=' : '=', value })
  }
  // Checked after parsing, as Kubernetes checks field labels when converting the parsed selector.
  for (const r of requirements) {
    if (!allowedFields.includes(r.field)) throw new SelectorError(`field label not supported: ${r.field}`)
  }
  return FieldSelector.fromRequirements(requirements)
}

/** The part of an object `objectFields` reads. */
export interface FieldSource {
  metadata: { name?: string; namespace?: string }
  spec?: object
  status?: object
}

function stringField(part: object | undefined, name: string): string {
  const value = part === undefined ? undefined : (part as Record<string, unknown>)[name]
  return typeof value === 'string' ? value : ''
}

/**
 * The selectable fields of an object, for `FieldSelector.matches`: `metadata.name`,
 * `metadata.namespace`, `spec.nodeName` and `status.phase`, each '' when absent.
 */
export function objectFields(obj: FieldSource): Record<string, string> {
  return {
    'metadata.name': obj.metadata.name ?? '',
    'metadata.namespace': obj.metadata.namespace ?? '',
    'spec.nodeName': stringField(obj.spec, 'nodeName'),
    'status.phase': stringField(obj.status, 'phase'),
  }
}

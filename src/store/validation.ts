/**
 * Defaulting and validation of core/v1 objects, as Kubernetes' `pkg/apis/core/v1/defaults.go` and
 * `pkg/apis/core/validation/validation.go` do them, for the kinds Shoal serves: Namespace, Pod,
 * ReplicationController, Service, Endpoints, Node, Event and ConfigMap.
 *
 * Pure functions on untrusted JSON: every field is type-checked before it is read, so a string
 * where a number belongs, or an object where a list belongs, becomes one more cause in the
 * `InvalidError`, never a crash. Validation reports every problem it finds, in Kubernetes'
 * words (`spec.containers[0].image: Required value`).
 *
 * The API defaults, then validates: fields that defaulting fills in (restartPolicy, protocol,
 * imagePullPolicy…) are accepted when absent, and checked when present. `metadata.namespace` is
 * the API's to fill from the URL; validation checks it only when it is there.
 */

import { isIP } from 'node:net'
import { InvalidError } from './errors.js'
import { parseQuantity, QUANTITY_FORMAT_MESSAGE } from './quantity.js'
import type { KubeObject, StatusCause } from './types.js'

// ---------------------------------------------------------------------------------------------
// Name rules (apimachinery pkg/util/validation): exact regexes, lengths and messages.
// ---------------------------------------------------------------------------------------------

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?'
const DNS1123_LABEL_MAX_LENGTH = 63
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`
const DNS1123_SUBDOMAIN_MAX_LENGTH = 253
const DNS1035_LABEL_FMT = '[a-z]([-a-z0-9]*[a-z0-9])?'
const DNS1035_LABEL_MAX_LENGTH = 63
const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'
const QUALIFIED_NAME_MAX_LENGTH = 63
const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`
const LABEL_VALUE_MAX_LENGTH = 63
const CONFIG_MAP_KEY_FMT = '[-._a-zA-Z0-9]+'
const ENV_VAR_NAME_FMT = '[-._a-zA-Z][-._a-zA-Z0-9]*'
const HTTP_HEADER_NAME_FMT = '[-A-Za-z0-9]+'

const anchored = (fmt: string): RegExp => new RegExp(`^(?:${fmt})$`)
const DNS1123_LABEL_RE = anchored(DNS1123_LABEL_FMT)
const DNS1123_SUBDOMAIN_RE = anchored(DNS1123_SUBDOMAIN_FMT)
const DNS1035_LABEL_RE = anchored(DNS1035_LABEL_FMT)
const QUALIFIED_NAME_RE = anchored(QUALIFIED_NAME_FMT)
const LABEL_VALUE_RE = anchored(LABEL_VALUE_FMT)
const CONFIG_MAP_KEY_RE = anchored(CONFIG_MAP_KEY_FMT)
const ENV_VAR_NAME_RE = anchored(ENV_VAR_NAME_FMT)
const HTTP_HEADER_NAME_RE = anchored(HTTP_HEADER_NAME_FMT)

/** Total bytes of a metadata.annotations map (keys and values), as Kubernetes limits it. */
export const TOTAL_ANNOTATION_SIZE_LIMIT_BYTES = 256 * 1024
/** Total bytes of a ConfigMap's data and binaryData (core.MaxSecretSize). */
export const CONFIG_MAP_MAX_SIZE_BYTES = 1024 * 1024
/** The NodePort range Shoal allocates from (kube-apiserver's default --service-node-port-range). */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const

const maxLenError = (n: number): string => `must be no more than ${n} characters`
const EMPTY_ERROR = 'must be non-empty'

function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`
  let s = `${msg} (e.g. `
  examples.forEach((e, i) => {
    if (i > 0) s += ' or '
    s += `'${e}', `
  })
  return `${s}regex used for validation is '${fmt}')`
}

/** Why `value` is not an RFC 1123 label (Kubernetes' IsDNS1123Label); empty when it is one. */
export function dns1123LabelErrors(value: string): string[] {
  const errs: string[] = []
  if (value.length > DNS1123_LABEL_MAX_LENGTH) errs.push(maxLenError(DNS1123_LABEL_MAX_LENGTH))
  if (!DNS1123_LABEL_RE.test(value)) {
    if (DNS1123_SUBDOMAIN_RE.test(value)) errs.push('must not contain dots')
    else
      errs.push(
        regexError(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
          DNS1123_LABEL_FMT,
          'my-name',
          '123-abc',
        ),
      )
  }
  return errs
}

/** Why `value` is not an RFC 1123 subdomain (IsDNS1123Subdomain); empty when it is one. */
export function dns1123SubdomainErrors(value: string): string[] {
  const errs: string[] = []
  if (value.length > DNS1123_SUBDOMAIN_MAX_LENGTH) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX_LENGTH))
  if (!DNS1123_SUBDOMAIN_RE.test(value))
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN_FMT,
        'example.com',
      ),
    )
  return errs
}

/** Why `value` is not an RFC 1035 label (IsDNS1035Label: starts with a letter); empty when it is one. */
export function dns1035LabelErrors(value: string): string[] {
  const errs: string[] = []
  if (value.length > DNS1035_LABEL_MAX_LENGTH) errs.push(maxLenError(DNS1035_LABEL_MAX_LENGTH))
  if (!DNS1035_LABEL_RE.test(value))
    errs.push(
      regexError(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        DNS1035_LABEL_FMT,
        'my-name',
        'abc-123',
      ),
    )
  return errs
}

const QUALIFIED_NAME_ERR_MSG =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"

/**
 * Why `value` is not a qualified name (IsQualifiedName): an optional DNS-subdomain prefix and `/`,
 * then a name of at most 63 characters. Label keys, annotation keys and finalizers follow it.
 */
export function qualifiedNameErrors(value: string): string[] {
  const errs: string[] = []
  const parts = value.split('/')
  let name: string
  if (parts.length === 1) {
    name = parts[0] as string
  } else if (parts.length === 2) {
    const prefix = parts[0] as string
    name = parts[1] as string
    if (prefix.length === 0) errs.push(`prefix part ${EMPTY_ERROR}`)
    else for (const msg of dns1123SubdomainErrors(prefix)) errs.push(`prefix part ${msg}`)
  } else {
    return [
      `a qualified name ${regexError(QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ]
  }
  if (name.length === 0) errs.push(`name part ${EMPTY_ERROR}`)
  else if (name.length > QUALIFIED_NAME_MAX_LENGTH)
    errs.push(`name part ${maxLenError(QUALIFIED_NAME_MAX_LENGTH)}`)
  if (!QUALIFIED_NAME_RE.test(name))
    errs.push(
      `name part ${regexError(QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')}`,
    )
  return errs
}

/** Why `value` is not a label value (IsValidLabelValue: empty, or ≤ 63 name characters). */
export function labelValueErrors(value: string): string[] {
  const errs: string[] = []
  if (value.length > LABEL_VALUE_MAX_LENGTH) errs.push(maxLenError(LABEL_VALUE_MAX_LENGTH))
  if (!LABEL_VALUE_RE.test(value))
    errs.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        LABEL_VALUE_FMT,
        'MyValue',
        'my_value',
        '12345',
      ),
    )
  return errs
}

/** Why `value` is not a port name (IsValidPortName, an IANA_SVC_NAME of at most 15 characters). */
export function portNameErrors(value: string): string[] {
  const errs: string[] = []
  if (value.length > 15) errs.push(maxLenError(15))
  if (!/^[-a-z0-9]+$/.test(value))
    errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)')
  if (!/[a-z]/.test(value)) errs.push('must contain at least one letter (a-z)')
  if (value.includes('--')) errs.push('must not contain consecutive hyphens')
  if (value.startsWith('-') || value.endsWith('-')) errs.push('must not begin or end with a hyphen')
  return errs
}

function chDirPrefixErrors(value: string): string[] {
  if (value === '.') return ["must not be '.'"]
  if (value === '..') return ["must not be '..'"]
  if (value.startsWith('..')) return ["must not start with '..'"]
  return []
}

/** Why `value` is not a ConfigMap key (IsConfigMapKey). */
export function configMapKeyErrors(value: string): string[] {
  const errs: string[] = []
  if (value.length > DNS1123_SUBDOMAIN_MAX_LENGTH) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX_LENGTH))
  if (!CONFIG_MAP_KEY_RE.test(value))
    errs.push(
      regexError(
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
        CONFIG_MAP_KEY_FMT,
        'key.name',
        'KEY_NAME',
        'key-name',
      ),
    )
  return [...errs, ...chDirPrefixErrors(value)]
}

/**
 * Why `value` is not an environment variable name: Kubernetes' IsEnvVarName, a C identifier that
 * may also hold `-` and `.` (the rule before the RelaxedEnvironmentVariableValidation gate).
 */
export function envVarNameErrors(value: string): string[] {
  const errs: string[] = []
  if (!ENV_VAR_NAME_RE.test(value))
    errs.push(
      regexError(
        "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
        ENV_VAR_NAME_FMT,
        'my.env-name',
        'MY_ENV.NAME',
        'MyEnvName1',
      ),
    )
  return [...errs, ...chDirPrefixErrors(value)]
}

/** Whether `value` is an RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters. */
export function isDns1123Label(value: string): boolean {
  return typeof value === 'string' && dns1123LabelErrors(value).length === 0
}

/** Whether `value` is an RFC 1123 subdomain: dot-separated labels, at most 253 characters. */
export function isDns1123Subdomain(value: string): boolean {
  return typeof value === 'string' && dns1123SubdomainErrors(value).length === 0
}

/** Whether `value` is an RFC 1035 label: like an RFC 1123 label, but starting with a letter. */
export function isDns1035Label(value: string): boolean {
  return typeof value === 'string' && dns1035LabelErrors(value).length === 0
}

/** Whether `value` is a qualified name (a label key): `[prefix/]name`, name ≤ 63, prefix a subdomain. */
export function isQualifiedName(value: string): boolean {
  return typeof value === 'string' && qualifiedNameErrors(value).length === 0
}

/** Whether `value` is a label value: empty, or `(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?` ≤ 63. */
export function isValidLabelValue(value: string): boolean {
  return typeof value === 'string' && labelValueErrors(value).length === 0
}

// ---------------------------------------------------------------------------------------------
// Causes, in the shape and words of apimachinery's field.Error.
// ---------------------------------------------------------------------------------------------

/** Marks an Invalid cause whose value is not worth printing (too big, or binary). */
const OMIT = Symbol('omit value')
const MAX_RENDERED_VALUE = 1024

function render(value: unknown): string {
  let s: string
  if (value === undefined || value === null) s = 'null'
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    s = String(value)
  else {
    try {
      s = JSON.stringify(value) ?? String(value)
    } catch {
      // Cycles or BigInts inside: a rough rendering still names the value.
      s = String(value)
    }
  }
  return s.length > MAX_RENDERED_VALUE ? `${s.slice(0, MAX_RENDERED_VALUE)}...` : s
}

const quoteAll = (values: readonly string[]): string => values.map((v) => JSON.stringify(v)).join(', ')

/** Collects causes; each method mirrors a field.Error constructor. */
class Causes {
  readonly list: StatusCause[] = []

  private add(reason: string, field: string, message: string): void {
    this.list.push({ reason, message, field })
  }

  required(field: string, detail = ''): void {
    this.add('FieldValueRequired', field, detail ? `Required value: ${detail}` : 'Required value')
  }

  invalid(field: string, value: unknown, detail: string): void {
    const head = value === OMIT ? 'Invalid value' : `Invalid value: ${render(value)}`
    this.add('FieldValueInvalid', field, detail ? `${head}: ${detail}` : head)
  }

  unsupported(field: string, value: unknown, supported: readonly string[]): void {
    this.add(
      'FieldValueNotSupported',
      field,
      `Unsupported value: ${render(value)}: supported values: ${quoteAll(supported)}`,
    )
  }

  duplicate(field: string, value: unknown): void {
    this.add('FieldValueDuplicate', field, `Duplicate value: ${render(value)}`)
  }

  forbidden(field: string, detail: string): void {
    this.add('FieldValueForbidden', field, `Forbidden: ${detail}`)
  }

  notFound(field: string, value: unknown): void {
    this.add('FieldValueNotFound', field, `Not found: ${render(value)}`)
  }

  tooLong(field: string, maxBytes: number): void {
    this.add('FieldValueTooLong', field, `Too long: must have at most ${maxBytes} bytes`)
  }
}

const child = (path: string, name: string): string => (path ? `${path}.${name}` : name)
const at = (path: string, i: number | string): string => `${path}[${i}]`

// ---------------------------------------------------------------------------------------------
// Typed readers: absent (undefined or null, as Go's decoder sees it) is `undefined` and no cause;
// a value of the wrong JSON type is one cause and `undefined`, so callers simply skip it.
// ---------------------------------------------------------------------------------------------

type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const absent = (v: unknown): v is undefined | null => v === undefined || v === null

function readObj(c: Causes, v: unknown, path: string): Obj | undefined {
  if (absent(v)) return undefined
  if (isObj(v)) return v
  c.invalid(path, v, 'must be an object')
  return undefined
}

function readList(c: Causes, v: unknown, path: string): unknown[] | undefined {
  if (absent(v)) return undefined
  if (Array.isArray(v)) return v
  c.invalid(path, v, 'must be a list')
  return undefined
}

function readStr(c: Causes, v: unknown, path: string): string | undefined {
  if (absent(v)) return undefined
  if (typeof v === 'string') return v
  c.invalid(path, v, 'must be a string')
  return undefined
}

function readInt(c: Causes, v: unknown, path: string): number | undefined {
  if (absent(v)) return undefined
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v
  c.invalid(path, v, 'must be an integer')
  return undefined
}

function readBool(c: Causes, v: unknown, path: string): boolean | undefined {
  if (absent(v)) return undefined
  if (typeof v === 'boolean') return v
  c.invalid(path, v, 'must be a boolean')
  return undefined
}

/** A list of strings; non-strings are reported and dropped. */
function readStrList(c: Causes, v: unknown, path: string): string[] | undefined {
  const list = readList(c, v, path)
  if (!list) return undefined
  const out: string[] = []
  list.forEach((item, i) => {
    const s = readStr(c, item, at(path, i))
    if (s !== undefined) out.push(s)
    else if (absent(item)) c.invalid(at(path, i), item, 'must be a string')
  })
  return out
}

/** A map of strings (labels, annotations, data); non-string values are reported and dropped. */
function readStrMap(c: Causes, v: unknown, path: string): Map<string, string> | undefined {
  const o = readObj(c, v, path)
  if (!o) return undefined
  const out = new Map<string, string>()
  for (const [k, val] of Object.entries(o)) {
    if (typeof val === 'string') out.set(k, val)
    else c.invalid(at(path, k), val, 'must be a string')
  }
  return out
}

/** An enumerated string: absent is fine (defaulting fills it), empty is Required, others must be listed. */
function checkEnum(c: Causes, v: unknown, path: string, supported: readonly string[]): string | undefined {
  const s = readStr(c, v, path)
  if (s === undefined) return undefined
  if (s === '') c.required(path)
  else if (!supported.includes(s)) c.unsupported(path, s, supported)
  return s
}

function checkNonNegative(c: Causes, v: unknown, path: string): number | undefined {
  const n = readInt(c, v, path)
  if (n !== undefined && n < 0) c.invalid(path, n, 'must be greater than or equal to 0')
  return n
}

const PORT_RANGE_MESSAGE = 'must be between 1 and 65535, inclusive'
const isPortNum = (n: number): boolean => n >= 1 && n <= 65535

/** A port number, required. */
function checkPortNum(c: Causes, v: unknown, path: string): number | undefined {
  if (absent(v)) {
    c.required(path)
    return undefined
  }
  const n = readInt(c, v, path)
  if (n !== undefined && !isPortNum(n)) c.invalid(path, n, PORT_RANGE_MESSAGE)
  return n
}

/** An IntOrString port: a number 1–65535 or an IANA port name. */
function checkPortNumOrName(c: Causes, v: unknown, path: string): void {
  if (absent(v)) c.required(path)
  else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) c.invalid(path, v, 'must be an integer')
    else if (!isPortNum(v)) c.invalid(path, v, PORT_RANGE_MESSAGE)
  } else if (typeof v === 'string') for (const msg of portNameErrors(v)) c.invalid(path, v, msg)
  else c.invalid(path, v, 'must be an integer or a string')
}

function isIPv4(s: string): boolean {
  return isIP(s) === 4
}

/** An IPv4 or IPv6 address as Kubernetes parses it: no zone, no surrounding spaces. */
function isIPAddress(s: string): boolean {
  return !s.includes('%') && isIP(s) !== 0
}

const IP_EXAMPLE_MESSAGE = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'

function checkIP(c: Causes, v: unknown, path: string): string | undefined {
  const s = readStr(c, v, path)
  if (s === undefined) {
    if (absent(v)) c.required(path)
  } else if (!isIPAddress(s)) c.invalid(path, s, IP_EXAMPLE_MESSAGE)
  else return s
  return undefined
}

/**
 * Kubernetes' ValidateEndpointIP, minus its loopback rule: Shoal daemons (and host-network pods)
 * run on loopback addresses in development and tests, so 127.0.0.0/8 stays a usable endpoint.
 */
function checkEndpointIP(c: Causes, ip: string, path: string): void {
  const lower = ip.toLowerCase()
  const v4 = isIPv4(ip) ? ip.split('.').map(Number) : undefined
  if (v4 ? v4.every((o) => o === 0) : /^[0:]+$/.test(lower))
    c.invalid(path, ip, `may not be unspecified (${ip})`)
  if (v4 ? v4[0] === 169 && v4[1] === 254 : /^fe[89ab][0-9a-f]:/.test(lower))
    c.invalid(path, ip, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)')
  if (v4 ? v4[0] === 224 && v4[1] === 0 && v4[2] === 0 : lower.startsWith('ff02:'))
    c.invalid(path, ip, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)')
}

/** Kubernetes' validatePathNoBacksteps. */
function checkNoBacksteps(c: Causes, p: string, path: string): void {
  if (p.split('/').includes('..')) c.invalid(path, p, "must not contain '..'")
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8')
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]))
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a)
    return (
      ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
    )
  }
  return false
}

// ---------------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------------

type NameRule = 'subdomain' | 'label' | 'dns1035'

interface KindRules {
  namespaced: boolean
  name: NameRule
}

// A Map, not an object literal: kind comes from the request, and `constructor` is not a kind.
const KIND_RULES = new Map<string, KindRules>([
  ['Namespace', { namespaced: false, name: 'label' }],
  ['Node', { namespaced: false, name: 'subdomain' }],
  ['Pod', { namespaced: true, name: 'subdomain' }],
  ['ReplicationController', { namespaced: true, name: 'subdomain' }],
  // Kubernetes names Services by RFC 1035 (a leading letter): the name becomes environment
  // variables (`FRONTEND_SERVICE_HOST`) and DNS labels.
  ['Service', { namespaced: true, name: 'dns1035' }],
  ['Endpoints', { namespaced: true, name: 'subdomain' }],
  ['Event', { namespaced: true, name: 'subdomain' }],
  ['ConfigMap', { namespaced: true, name: 'subdomain' }],
])

function nameErrors(rule: NameRule, name: string, prefix: boolean): string[] {
  // A generateName prefix may end in '-' (Kubernetes' maskTrailingDash).
  const value = prefix && name.length > 1 && name.endsWith('-') ? `${name.slice(0, -1)}a` : name
  if (rule === 'label') return dns1123LabelErrors(value)
  if (rule === 'dns1035') return dns1035LabelErrors(value)
  return dns1123SubdomainErrors(value)
}

/** Kubernetes' ValidateLabels: keys are qualified names, values label values; the path is the map's. */
function checkLabels(c: Causes, labels: Map<string, string> | undefined, path: string): void {
  if (!labels) return
  for (const [k, v] of labels) {
    for (const msg of qualifiedNameErrors(k)) c.invalid(path, k, msg)
    for (const msg of labelValueErrors(v)) c.invalid(path, v, msg)
  }
}

function checkAnnotations(c: Causes, annotations: Map<string, string> | undefined, path: string): void {
  if (!annotations) return
  let total = 0
  for (const [k, v] of annotations) {
    // Annotation keys are qualified names regardless of case.
    for (const msg of qualifiedNameErrors(k.toLowerCase())) c.invalid(path, k, msg)
    total += byteLength(k) + byteLength(v)
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES) c.tooLong(path, TOTAL_ANNOTATION_SIZE_LIMIT_BYTES)
}

const STANDARD_FINALIZERS = ['kubernetes', 'orphan', 'foregroundDeletion']

function checkFinalizers(c: Causes, v: unknown, path: string): void {
  readStrList(c, v, path)?.forEach((f, i) => {
    const p = at(path, i)
    const errs = qualifiedNameErrors(f)
    for (const msg of errs) c.invalid(p, f, msg)
    if (errs.length === 0 && !f.includes('/') && !STANDARD_FINALIZERS.includes(f))
      c.invalid(p, f, 'name is neither a standard finalizer name nor is it fully qualified')
  })
}

function checkOwnerReferences(c: Causes, v: unknown, path: string): void {
  let controller: string | undefined
  readList(c, v, path)?.forEach((item, i) => {
    const p = at(path, i)
    const ref = readObj(c, item, p)
    if (!ref) {
      if (absent(item)) c.invalid(p, item, 'must be an object')
      return
    }
    // A field of the wrong type has been reported by readStr; only absent or empty ones are left.
    const apiVersion = readStr(c, ref.apiVersion, child(p, 'apiVersion'))
    const version = apiVersion?.slice(apiVersion.indexOf('/') + 1)
    if (version === '' || absent(ref.apiVersion))
      c.invalid(child(p, 'apiVersion'), apiVersion ?? '', 'version must not be empty')
    for (const field of ['kind', 'name', 'uid']) {
      const s = readStr(c, ref[field], child(p, field))
      if (s === '' || absent(ref[field])) c.invalid(child(p, field), '', 'must not be empty')
    }
    if (readBool(c, ref.controller, child(p, 'controller')) === true) {
      const who = `${String(ref.kind)}/${String(ref.name)}`
      if (controller !== undefined)
        c.invalid(
          path,
          OMIT,
          `Only one reference can have Controller set to true. Found "true" in references for ${controller} and ${who}`,
        )
      else controller = who
    }
    readBool(c, ref.blockOwnerDeletion, child(p, 'blockOwnerDeletion'))
  })
}

/** Metadata field paths, made once: metadata is validated for every write, on every peer. */
const META_PATHS = {
  annotations: 'metadata.annotations',
  creationTimestamp: 'metadata.creationTimestamp',
  deletionGracePeriodSeconds: 'metadata.deletionGracePeriodSeconds',
  deletionTimestamp: 'metadata.deletionTimestamp',
  finalizers: 'metadata.finalizers',
  generateName: 'metadata.generateName',
  generation: 'metadata.generation',
  labels: 'metadata.labels',
  managedFields: 'metadata.managedFields',
  name: 'metadata.name',
  namespace: 'metadata.namespace',
  ownerReferences: 'metadata.ownerReferences',
  resourceVersion: 'metadata.resourceVersion',
  uid: 'metadata.uid',
} as const
const META_STRING_FIELDS = ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp'] as const

/** Validates metadata; returns the name found, for the error's title. */
function checkMetadata(c: Causes, v: unknown, rules: KindRules, opts: ValidateOptions): string {
  if (absent(v)) {
    c.required(META_PATHS.name, 'name or generateName is required')
    return ''
  }
  const meta = readObj(c, v, 'metadata')
  if (!meta) return ''
  const generateName = readStr(c, meta.generateName, META_PATHS.generateName) ?? ''
  if (generateName !== '')
    for (const msg of nameErrors(rules.name, generateName, true))
      c.invalid(META_PATHS.generateName, generateName, msg)
  const rawName = meta.name
  const name = readStr(c, rawName, META_PATHS.name) ?? ''
  if (name !== '')
    for (const msg of nameErrors(rules.name, name, false)) c.invalid(META_PATHS.name, name, msg)
  // The API makes a name from generateName on create, after validation. A name of the wrong
  // type has been reported already.
  else if ((absent(rawName) || rawName === '') && !(opts.isCreate && generateName !== ''))
    c.required(META_PATHS.name, 'name or generateName is required')

  const namespace = readStr(c, meta.namespace, META_PATHS.namespace) ?? ''
  if (namespace !== '') {
    if (!rules.namespaced) c.forbidden(META_PATHS.namespace, 'not allowed on this type')
    else for (const msg of dns1123LabelErrors(namespace)) c.invalid(META_PATHS.namespace, namespace, msg)
  }

  checkLabels(c, readStrMap(c, meta.labels, META_PATHS.labels), META_PATHS.labels)
  checkAnnotations(c, readStrMap(c, meta.annotations, META_PATHS.annotations), META_PATHS.annotations)
  checkOwnerReferences(c, meta.ownerReferences, META_PATHS.ownerReferences)
  checkFinalizers(c, meta.finalizers, META_PATHS.finalizers)
  checkNonNegative(c, meta.generation, META_PATHS.generation)
  checkNonNegative(c, meta.deletionGracePeriodSeconds, META_PATHS.deletionGracePeriodSeconds)
  for (const field of META_STRING_FIELDS) readStr(c, meta[field], META_PATHS[field])
  readList(c, meta.managedFields, META_PATHS.managedFields)

  const oldMeta = !opts.isCreate && opts.old && isObj(opts.old.metadata) ? opts.old.metadata : undefined
  if (oldMeta) {
    const immutable = (field: 'name' | 'namespace' | 'uid', now: string, before: unknown): void => {
      if (now !== '' && typeof before === 'string' && before !== '' && now !== before)
        c.invalid(META_PATHS[field], now, 'field is immutable')
    }
    immutable('name', name, oldMeta.name)
    immutable('namespace', namespace, oldMeta.namespace)
    immutable('uid', typeof meta.uid === 'string' ? meta.uid : '', oldMeta.uid)
  }
  return name || generateName
}

// ---------------------------------------------------------------------------------------------
// Pods
// ---------------------------------------------------------------------------------------------

const PROTOCOLS = ['SCTP', 'TCP', 'UDP']
const RESTART_POLICIES = ['Always', 'OnFailure', 'Never']
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never']
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None']
const TERMINATION_MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError']
const HOST_PATH_TYPES = [
  '',
  'DirectoryOrCreate',
  'Directory',
  'FileOrCreate',
  'File',
  'Socket',
  'CharDevice',
  'BlockDevice',
]
const STORAGE_MEDIA = ['', 'Memory']
/** The volume sources Shoal's agent can mount. Kubernetes has many more; they are Unsupported here. */
const VOLUME_SOURCES = ['emptyDir', 'hostPath']
const PROBE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc']
const STANDARD_CONTAINER_RESOURCES = ['cpu', 'memory', 'ephemeral-storage']

interface PodContext {
  containerNames: Set<string>
  volumeNames: Set<string>
  hostPorts: Set<string>
  hostNetwork: boolean
}

function checkVolumes(c: Causes, v: unknown, path: string): Set<string> {
  const names = new Set<string>()
  readList(c, v, path)?.forEach((item, i) => {
    const p = at(path, i)
    const vol = readObj(c, item, p)
    if (!vol) {
      if (absent(item)) c.invalid(p, item, 'must be an object')
      return
    }
    const name = readStr(c, vol.name, child(p, 'name'))
    if (!name) {
      if (name === '' || absent(vol.name)) c.required(child(p, 'name'))
    } else {
      const errs = dns1123LabelErrors(name)
      for (const msg of errs) c.invalid(child(p, 'name'), name, msg)
      if (names.has(name)) c.duplicate(child(p, 'name'), name)
      names.add(name)
    }
    const sources = Object.keys(vol).filter((k) => k !== 'name' && !absent(vol[k]))
    let counted = 0
    for (const source of sources) {
      if (!VOLUME_SOURCES.includes(source)) {
        c.unsupported(p, source, VOLUME_SOURCES)
        continue
      }
      if (counted++ > 0) {
        c.forbidden(child(p, source), 'may not specify more than 1 volume type')
        continue
      }
      const sp = child(p, source)
      const src = readObj(c, vol[source], sp)
      if (!src) continue
      if (source === 'emptyDir') {
        checkEnum(c, src.medium, child(sp, 'medium'), STORAGE_MEDIA)
        if (!absent(src.sizeLimit)) checkQuantity(c, src.sizeLimit, child(sp, 'sizeLimit'))
      } else {
        const hostPath = readStr(c, src.path, child(sp, 'path'))
        if (hostPath === '' || absent(src.path)) c.required(child(sp, 'path'))
        else if (hostPath !== undefined) checkNoBacksteps(c, hostPath, child(sp, 'path'))
        const type = readStr(c, src.type, child(sp, 'type'))
        if (type !== undefined && !HOST_PATH_TYPES.includes(type))
          c.unsupported(child(sp, 'type'), type, HOST_PATH_TYPES)
      }
    }
    if (sources.length === 0) c.required(p, 'must specify a volume type')
  })
  return names
}

/** A quantity: a string in Kubernetes' grammar, or a JSON number; returns its value when valid. */
function checkQuantity(c: Causes, v: unknown, path: string): number | undefined {
  let value: number
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) {
      c.invalid(path, v, QUANTITY_FORMAT_MESSAGE)
      return undefined
    }
    value = v
  } else if (typeof v === 'string') {
    try {
      value = parseQuantity(v)
    } catch {
      // The message Kubernetes gives for any malformed quantity says all there is to say.
      c.invalid(path, v, QUANTITY_FORMAT_MESSAGE)
      return undefined
    }
  } else {
    c.invalid(path, v, 'must be a quantity (a string such as "100m" or "64Mi", or a number)')
    return undefined
  }
  if (value < 0) {
    c.invalid(path, v, 'must be greater than or equal to 0')
    return undefined
  }
  return value
}

// Native resources have no domain or live under kubernetes.io; the rest are extended resources.
const isNativeResource = (name: string): boolean => !name.includes('/') || name.includes('kubernetes.io/')
const isHugePages = (name: string): boolean => name.startsWith('hugepages-')
const isOvercommitAllowed = (name: string): boolean => isNativeResource(name) && !isHugePages(name)

function checkResourceName(c: Causes, name: string, path: string): boolean {
  const errs = qualifiedNameErrors(name)
  for (const msg of errs) c.invalid(path, name, msg)
  if (errs.length > 0) return false
  if (!name.includes('/')) {
    if (!STANDARD_CONTAINER_RESOURCES.includes(name) && !isHugePages(name)) {
      c.invalid(path, name, 'must be a standard resource for containers')
      return false
    }
  } else if (
    !isNativeResource(name) &&
    (name.startsWith('requests.') || !isQualifiedName(`requests.${name}`))
  ) {
    c.invalid(path, name, "doesn't follow extended resource name standard")
    return false
  }
  return true
}

function checkResources(c: Causes, v: unknown, path: string): void {
  const res = readObj(c, v, path)
  if (!res) return
  const parse = (field: 'limits' | 'requests'): Map<string, { raw: unknown; value: number }> => {
    const out = new Map<string, { raw: unknown; value: number }>()
    const list = readObj(c, res[field], child(path, field))
    for (const [name, raw] of Object.entries(list ?? {})) {
      const p = at(child(path, field), name)
      if (!checkResourceName(c, name, p)) continue
      const value = checkQuantity(c, raw, p)
      if (value === undefined) continue
      if (!isNativeResource(name) && !Number.isInteger(value)) {
        c.invalid(p, raw, 'must be an integer')
        continue
      }
      out.set(name, { raw, value })
    }
    return out
  }
  const limits = parse('limits')
  const requests = parse('requests')
  for (const [name, req] of requests) {
    const lim = limits.get(name)
    const shown = String(req.raw)
    if (lim === undefined) {
      if (!isOvercommitAllowed(name) && !Object.hasOwn(isObj(res.limits) ? res.limits : {}, name))
        c.required(child(path, 'limits'), 'Limit must be set for non overcommitable resources')
    } else if (!isOvercommitAllowed(name) && req.value !== lim.value) {
      c.invalid(child(path, 'requests'), shown, `must be equal to ${name} limit of ${String(lim.raw)}`)
    } else if (req.value > lim.value) {
      c.invalid(
        child(path, 'requests'),
        shown,
        `must be less than or equal to ${name} limit of ${String(lim.raw)}`,
      )
    }
  }
}

function checkEnv(c: Causes, v: unknown, path: string): void {
  readList(c, v, path)?.forEach((item, i) => {
    const p = at(path, i)
    const env = readObj(c, item, p)
    if (!env) {
      if (absent(item)) c.invalid(p, item, 'must be an object')
      return
    }
    const name = readStr(c, env.name, child(p, 'name'))
    if (name === '' || absent(env.name)) c.required(child(p, 'name'))
    else if (name !== undefined)
      for (const msg of envVarNameErrors(name)) c.invalid(child(p, 'name'), name, msg)
    const value = readStr(c, env.value, child(p, 'value'))
    const from = readObj(c, env.valueFrom, child(p, 'valueFrom'))
    if (!from) return
    const fp = child(p, 'valueFrom')
    const kinds = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'].filter(
      (k) => !absent(from[k]),
    )
    if (kinds.length === 0)
      c.invalid(
        fp,
        '',
        'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`',
      )
    else if (kinds.length > 1) c.invalid(fp, '', 'may not have more than one field specified at a time')
    if (value) c.invalid(fp, '', 'may not be specified when `value` is not empty')
    for (const kind of kinds) {
      const ref = readObj(c, from[kind], child(fp, kind))
      if (!ref) continue
      const rp = child(fp, kind)
      if (kind === 'fieldRef' || kind === 'resourceFieldRef') {
        const field = kind === 'fieldRef' ? 'fieldPath' : 'resource'
        const s = readStr(c, ref[field], child(rp, field))
        if (!s && (s === '' || absent(ref[field]))) c.required(child(rp, field))
      } else {
        const key = readStr(c, ref.key, child(rp, 'key'))
        if (key === '' || absent(ref.key)) c.required(child(rp, 'key'))
        else if (key !== undefined)
          for (const msg of configMapKeyErrors(key)) c.invalid(child(rp, 'key'), key, msg)
        readStr(c, ref.name, child(rp, 'name'))
        readBool(c, ref.optional, child(rp, 'optional'))
      }
    }
  })
}

function checkProbe(c: Causes, v: unknown, path: string, mustSucceedOnce: boolean): void {
  const probe = readObj(c, v, path)
  if (!probe) return
  let handlers = 0
  for (const kind of PROBE_HANDLERS) {
    if (absent(probe[kind])) continue
    const hp = child(path, kind)
    if (handlers++ > 0) {
      c.forbidden(hp, 'may not specify more than 1 handler type')
      continue
    }
    checkHandler(c, kind, probe[kind], hp)
  }
  if (handlers === 0) c.required(path, 'must specify a handler type')
  for (const field of [
    'initialDelaySeconds',
    'timeoutSeconds',
    'periodSeconds',
    'successThreshold',
    'failureThreshold',
  ])
    checkNonNegative(c, probe[field], child(path, field))
  const success = probe.successThreshold
  if (mustSucceedOnce && typeof success === 'number' && Number.isSafeInteger(success) && success !== 1)
    c.invalid(child(path, 'successThreshold'), success, 'must be 1')
  const grace = readInt(c, probe.terminationGracePeriodSeconds, child(path, 'terminationGracePeriodSeconds'))
  if (grace !== undefined && grace <= 0)
    c.invalid(child(path, 'terminationGracePeriodSeconds'), grace, 'must be greater than 0')
}

function checkHandler(c: Causes, kind: string, v: unknown, path: string): void {
  const h = readObj(c, v, path)
  if (!h) return
  if (kind === 'grpc') {
    c.forbidden(path, 'gRPC probes are not supported by Shoal; use exec, httpGet or tcpSocket')
  } else if (kind === 'exec') {
    const command = readStrList(c, h.command, child(path, 'command'))
    if (command?.length === 0 || absent(h.command)) c.required(child(path, 'command'))
  } else {
    if (kind === 'httpGet') {
      const p = readStr(c, h.path, child(path, 'path'))
      if (p === '') c.required(child(path, 'path'))
      checkEnum(c, h.scheme, child(path, 'scheme'), ['HTTP', 'HTTPS'])
      readList(c, h.httpHeaders, child(path, 'httpHeaders'))?.forEach((item, i) => {
        const header = readObj(c, item, at(child(path, 'httpHeaders'), i))
        if (!header) return
        const name = readStr(c, header.name, child(at(child(path, 'httpHeaders'), i), 'name')) ?? ''
        if (!HTTP_HEADER_NAME_RE.test(name))
          c.invalid(
            child(path, 'httpHeaders'),
            name,
            regexError(
              "a valid HTTP header must consist of alphanumeric characters or '-'",
              HTTP_HEADER_NAME_FMT,
              'X-Header-Name',
            ),
          )
        readStr(c, header.value, child(at(child(path, 'httpHeaders'), i), 'value'))
      })
    }
    checkPortNumOrName(c, h.port, child(path, 'port'))
    readStr(c, h.host, child(path, 'host'))
  }
}

function checkContainer(c: Causes, v: unknown, path: string, ctx: PodContext, init: boolean): void {
  const ctr = readObj(c, v, path)
  if (!ctr) {
    if (absent(v)) c.invalid(path, v, 'must be an object')
    return
  }
  const name = readStr(c, ctr.name, child(path, 'name'))
  if (name === '' || absent(ctr.name)) c.required(child(path, 'name'))
  else if (name !== undefined) {
    for (const msg of dns1123LabelErrors(name)) c.invalid(child(path, 'name'), name, msg)
    if (ctx.containerNames.has(name)) c.duplicate(child(path, 'name'), name)
    ctx.containerNames.add(name)
  }

  const image = readStr(c, ctr.image, child(path, 'image'))
  if (image === '' || absent(ctr.image)) c.required(child(path, 'image'))
  else if (image !== undefined && image.trim() !== image)
    c.invalid(child(path, 'image'), image, 'must not have leading or trailing whitespace')
  readStrList(c, ctr.command, child(path, 'command'))
  readStrList(c, ctr.args, child(path, 'args'))
  readStr(c, ctr.workingDir, child(path, 'workingDir'))

  const portNames = new Set<string>()
  const portsPath = child(path, 'ports')
  readList(c, ctr.ports, portsPath)?.forEach((item, i) => {
    const p = at(portsPath, i)
    const port = readObj(c, item, p)
    if (!port) {
      if (absent(item)) c.invalid(p, item, 'must be an object')
      return
    }
    const pname = readStr(c, port.name, child(p, 'name'))
    if (pname) {
      const errs = portNameErrors(pname)
      for (const msg of errs) c.invalid(child(p, 'name'), pname, msg)
      if (errs.length === 0 && portNames.has(pname)) c.duplicate(child(p, 'name'), pname)
      portNames.add(pname)
    }
    let containerPort: number | undefined
    if (absent(port.containerPort) || port.containerPort === 0) c.required(child(p, 'containerPort'))
    else containerPort = checkPortNum(c, port.containerPort, child(p, 'containerPort'))
    const hostPort = readInt(c, port.hostPort, child(p, 'hostPort'))
    if (hostPort !== undefined && hostPort !== 0 && !isPortNum(hostPort))
      c.invalid(child(p, 'hostPort'), hostPort, PORT_RANGE_MESSAGE)
    const protocol = checkEnum(c, port.protocol, child(p, 'protocol'), PROTOCOLS)
    const hostIP = readStr(c, port.hostIP, child(p, 'hostIP'))
    if (hostIP && !isIPAddress(hostIP)) c.invalid(child(p, 'hostIP'), hostIP, IP_EXAMPLE_MESSAGE)
    if (
      ctx.hostNetwork &&
      hostPort !== undefined &&
      containerPort !== undefined &&
      hostPort !== containerPort
    )
      c.invalid(child(p, 'hostPort'), hostPort, 'must match `containerPort` when `hostNetwork` is true')
    if (hostPort !== undefined && hostPort > 0) {
      const key = `${hostIP ?? ''}/${protocol || 'TCP'}/${hostPort}`
      if (ctx.hostPorts.has(key)) c.duplicate(child(p, 'hostPort'), key)
      ctx.hostPorts.add(key)
    }
  })

  checkEnv(c, ctr.env, child(path, 'env'))
  readList(c, ctr.envFrom, child(path, 'envFrom'))
  checkResources(c, ctr.resources, child(path, 'resources'))

  const mountPaths = new Set<string>()
  const mountsPath = child(path, 'volumeMounts')
  readList(c, ctr.volumeMounts, mountsPath)?.forEach((item, i) => {
    const p = at(mountsPath, i)
    const mount = readObj(c, item, p)
    if (!mount) {
      if (absent(item)) c.invalid(p, item, 'must be an object')
      return
    }
    const mname = readStr(c, mount.name, child(p, 'name'))
    if (mname === '' || absent(mount.name)) c.required(child(p, 'name'))
    else if (mname !== undefined && !ctx.volumeNames.has(mname)) c.notFound(child(p, 'name'), mname)
    const mountPath = readStr(c, mount.mountPath, child(p, 'mountPath'))
    if (mountPath === '' || absent(mount.mountPath)) c.required(child(p, 'mountPath'))
    else if (mountPath !== undefined) {
      if (mountPaths.has(mountPath)) c.invalid(child(p, 'mountPath'), mountPath, 'must be unique')
      mountPaths.add(mountPath)
    }
    const subPath = readStr(c, mount.subPath, child(p, 'subPath'))
    if (subPath) {
      if (subPath.startsWith('/')) c.invalid(child(p, 'subPath'), subPath, 'must be a relative path')
      checkNoBacksteps(c, subPath, child(p, 'subPath'))
    }
    readBool(c, mount.readOnly, child(p, 'readOnly'))
  })

  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    if (init && !absent(ctr[probe])) c.forbidden(child(path, probe), 'may not be set for init containers')
    else checkProbe(c, ctr[probe], child(path, probe), probe !== 'readinessProbe')
  }
  checkEnum(c, ctr.imagePullPolicy, child(path, 'imagePullPolicy'), PULL_POLICIES)
  readStr(c, ctr.terminationMessagePath, child(path, 'terminationMessagePath'))
  checkEnum(
    c,
    ctr.terminationMessagePolicy,
    child(path, 'terminationMessagePolicy'),
    TERMINATION_MESSAGE_POLICIES,
  )
  readBool(c, ctr.stdin, child(path, 'stdin'))
  readBool(c, ctr.tty, child(path, 'tty'))
}

function checkPodSpec(c: Causes, v: unknown, path: string): void {
  const spec = absent(v) ? {} : readObj(c, v, path)
  if (!spec) return
  const hostNetwork = readBool(c, spec.hostNetwork, child(path, 'hostNetwork')) ?? false
  readBool(c, spec.hostPID, child(path, 'hostPID'))
  readBool(c, spec.hostIPC, child(path, 'hostIPC'))
  const ctx: PodContext = {
    containerNames: new Set(),
    volumeNames: checkVolumes(c, spec.volumes, child(path, 'volumes')),
    hostPorts: new Set(),
    hostNetwork,
  }
  const initPath = child(path, 'initContainers')
  readList(c, spec.initContainers, initPath)?.forEach((ctr, i) => {
    checkContainer(c, ctr, at(initPath, i), ctx, true)
  })
  const ctrPath = child(path, 'containers')
  const containers = readList(c, spec.containers, ctrPath)
  if (containers?.length === 0 || absent(spec.containers)) c.required(ctrPath)
  containers?.forEach((ctr, i) => {
    checkContainer(c, ctr, at(ctrPath, i), ctx, false)
  })

  checkEnum(c, spec.restartPolicy, child(path, 'restartPolicy'), RESTART_POLICIES)
  const dnsPolicy = checkEnum(c, spec.dnsPolicy, child(path, 'dnsPolicy'), DNS_POLICIES)
  checkPodDnsConfig(c, spec.dnsConfig, dnsPolicy, child(path, 'dnsConfig'))
  checkNonNegative(c, spec.terminationGracePeriodSeconds, child(path, 'terminationGracePeriodSeconds'))
  const deadline = readInt(c, spec.activeDeadlineSeconds, child(path, 'activeDeadlineSeconds'))
  if (deadline !== undefined && (deadline < 1 || deadline > 2147483647))
    c.invalid(child(path, 'activeDeadlineSeconds'), deadline, 'must be between 1 and 2147483647, inclusive')
  checkLabels(c, readStrMap(c, spec.nodeSelector, child(path, 'nodeSelector')), child(path, 'nodeSelector'))
  for (const [field, check] of [
    ['nodeName', dns1123SubdomainErrors],
    ['schedulerName', dns1123SubdomainErrors],
    ['serviceAccountName', dns1123SubdomainErrors],
    ['hostname', dns1123LabelErrors],
    ['subdomain', dns1123LabelErrors],
  ] as const) {
    const s = readStr(c, spec[field], child(path, field))
    if (s) for (const msg of check(s)) c.invalid(child(path, field), s, msg)
  }
}

/** Kubernetes' limits of a pod's resolver (MaxDNSNameservers, MaxDNSSearchPaths, MaxDNSSearchListChars). */
const MAX_DNS_NAMESERVERS = 3
const MAX_DNS_SEARCH_PATHS = 32
const MAX_DNS_SEARCH_LIST_CHARS = 2048

/** Kubernetes' validatePodDNSConfig: policy None needs a nameserver; each field within limits. */
function checkPodDnsConfig(c: Causes, v: unknown, dnsPolicy: string | undefined, path: string): void {
  const dnsConfig = readObj(c, v, path)
  if (dnsPolicy === 'None' && !dnsConfig) {
    if (absent(v)) c.required(path, 'must provide `dnsConfig` when `dnsPolicy` is None')
    return
  }
  if (!dnsConfig) return
  const nsPath = child(path, 'nameservers')
  const nameservers = readStrList(c, dnsConfig.nameservers, nsPath) ?? []
  if (dnsPolicy === 'None' && nameservers.length === 0) {
    c.required(nsPath, 'must provide at least one DNS nameserver when `dnsPolicy` is None')
    return
  }
  if (nameservers.length > MAX_DNS_NAMESERVERS)
    c.invalid(nsPath, nameservers, `must not have more than ${MAX_DNS_NAMESERVERS} nameservers`)
  nameservers.forEach((ns, i) => {
    if (!isIPAddress(ns)) c.invalid(at(nsPath, i), ns, IP_EXAMPLE_MESSAGE)
  })
  const searchPath = child(path, 'searches')
  const searches = readStrList(c, dnsConfig.searches, searchPath) ?? []
  if (searches.length > MAX_DNS_SEARCH_PATHS)
    c.invalid(searchPath, searches, `must not have more than ${MAX_DNS_SEARCH_PATHS} search paths`)
  if (searches.join(' ').length > MAX_DNS_SEARCH_LIST_CHARS)
    c.invalid(
      searchPath,
      searches,
      `must not have more than ${MAX_DNS_SEARCH_LIST_CHARS} characters (including spaces) in the search list`,
    )
  searches.forEach((search, i) => {
    // A trailing dot (a fully qualified name) is fine.
    const name = search.endsWith('.') ? search.slice(0, -1) : search
    for (const msg of dns1123SubdomainErrors(name)) c.invalid(at(searchPath, i), name, msg)
  })
  const optPath = child(path, 'options')
  readList(c, dnsConfig.options, optPath)?.forEach((o, i) => {
    const opt = readObj(c, o, at(optPath, i))
    if (!opt) return
    const name = readStr(c, opt.name, child(at(optPath, i), 'name'))
    readStr(c, opt.value, child(at(optPath, i), 'value'))
    if (!name) c.required(at(optPath, i), 'Option.Name must not be empty')
  })
}

function checkPodTemplate(c: Causes, v: unknown, path: string): Map<string, string> | undefined {
  const template = readObj(c, v, path)
  if (!template) return undefined
  const meta = readObj(c, template.metadata, child(path, 'metadata'))
  const labelsPath = child(child(path, 'metadata'), 'labels')
  const labels = meta ? readStrMap(c, meta.labels, labelsPath) : undefined
  checkLabels(c, labels, labelsPath)
  if (meta) {
    const annotationsPath = child(child(path, 'metadata'), 'annotations')
    checkAnnotations(c, readStrMap(c, meta.annotations, annotationsPath), annotationsPath)
  }
  checkPodSpec(c, template.spec, child(path, 'spec'))
  return labels ?? new Map()
}

// ---------------------------------------------------------------------------------------------
// The kinds
// ---------------------------------------------------------------------------------------------

function checkPod(c: Causes, obj: Obj): void {
  checkPodSpec(c, obj.spec, 'spec')
}

function checkReplicationController(c: Causes, obj: Obj): void {
  const spec = absent(obj.spec) ? {} : readObj(c, obj.spec, 'spec')
  if (!spec) return
  checkNonNegative(c, spec.minReadySeconds, 'spec.minReadySeconds')
  const selector = readStrMap(c, spec.selector, 'spec.selector')
  // A selector whose values were all of the wrong type has been reported already.
  if (absent(spec.selector) || (isObj(spec.selector) && Object.keys(spec.selector).length === 0))
    c.required('spec.selector')
  checkLabels(c, selector, 'spec.selector')
  checkNonNegative(c, spec.replicas, 'spec.replicas')
  if (absent(spec.template)) {
    c.required('spec.template')
    return
  }
  const labels = checkPodTemplate(c, spec.template, 'spec.template')
  if (!labels) return
  if (selector && selector.size > 0 && ![...selector].every(([k, v]) => labels.get(k) === v))
    c.invalid(
      'spec.template.metadata.labels',
      Object.fromEntries(labels),
      '`selector` does not match template `labels`',
    )
  const podSpec = isObj(spec.template) && isObj(spec.template.spec) ? spec.template.spec : {}
  const policy = podSpec.restartPolicy
  if (typeof policy === 'string' && policy !== 'Always' && RESTART_POLICIES.includes(policy))
    c.unsupported('spec.template.spec.restartPolicy', policy, ['Always'])
  if (!absent(podSpec.activeDeadlineSeconds))
    c.invalid(
      'spec.template.spec.activeDeadlineSeconds',
      podSpec.activeDeadlineSeconds,
      'activeDeadlineSeconds in ReplicationController is not Supported',
    )
}

/** The Service types Shoal implements; LoadBalancer is Unsupported. */
const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'ExternalName']

function checkService(c: Causes, obj: Obj, old: KubeObject | undefined): void {
  const spec = absent(obj.spec) ? {} : readObj(c, obj.spec, 'spec')
  if (!spec) return
  const type = checkEnum(c, spec.type, 'spec.type', SERVICE_TYPES) || 'ClusterIP'
  const clusterIP = readStr(c, spec.clusterIP, 'spec.clusterIP')
  const headless = clusterIP === 'None'
  const external = type === 'ExternalName'
  if (external) {
    // A DNS alias (the cluster DNS answers a CNAME): no cluster IP, no proxy, ports optional.
    const name = readStr(c, spec.externalName, 'spec.externalName')
    if (!name) c.required('spec.externalName')
    else
      for (const msg of dns1123SubdomainErrors(name.replace(/\.$/, '')))
        c.invalid('spec.externalName', name, msg)
    if (clusterIP) c.invalid('spec.clusterIP', clusterIP, 'must be empty for ExternalName services')
  }

  const ports = readList(c, spec.ports, 'spec.ports')
  if ((!ports || ports.length === 0) && !headless && !external && (ports || absent(spec.ports)))
    c.required('spec.ports')
  const names = new Set<string>()
  const seenPorts = new Set<string>()
  const seenNodePorts = new Set<string>()
  ports?.forEach((item, i) => {
    const p = at('spec.ports', i)
    const port = readObj(c, item, p)
    if (!port) {
      if (absent(item)) c.invalid(p, item, 'must be an object')
      return
    }
    const name = readStr(c, port.name, child(p, 'name'))
    if (!name) {
      if (ports.length > 1 && (name === '' || absent(port.name))) c.required(child(p, 'name'))
    } else {
      for (const msg of dns1123LabelErrors(name)) c.invalid(child(p, 'name'), name, msg)
      if (names.has(name)) c.duplicate(child(p, 'name'), name)
      names.add(name)
    }
    const number = checkPortNum(c, port.port, child(p, 'port'))
    const protocol = checkEnum(c, port.protocol, child(p, 'protocol'), PROTOCOLS) || 'TCP'
    // A targetPort of 0 or '' means "the same as port" (defaulting fills it in).
    if (!absent(port.targetPort) && port.targetPort !== 0 && port.targetPort !== '')
      checkPortNumOrName(c, port.targetPort, child(p, 'targetPort'))
    const nodePort = readInt(c, port.nodePort, child(p, 'nodePort'))
    if (nodePort !== undefined && nodePort !== 0) {
      if (type === 'ClusterIP')
        c.forbidden(child(p, 'nodePort'), "may not be used when `type` is 'ClusterIP'")
      else if (nodePort < NODE_PORT_RANGE.min || nodePort > NODE_PORT_RANGE.max)
        c.invalid(
          child(p, 'nodePort'),
          nodePort,
          `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`,
        )
      const key = `${protocol}/${nodePort}`
      if (seenNodePorts.has(key)) c.duplicate(child(p, 'nodePort'), nodePort)
      seenNodePorts.add(key)
    }
    if (number !== undefined) {
      const key = `${protocol}/${number}`
      if (seenPorts.has(key)) c.duplicate(p, { port: number, protocol })
      seenPorts.add(key)
    }
    readStr(c, port.appProtocol, child(p, 'appProtocol'))
  })

  checkLabels(c, readStrMap(c, spec.selector, 'spec.selector'), 'spec.selector')
  const affinity = checkEnum(c, spec.sessionAffinity, 'spec.sessionAffinity', ['ClientIP', 'None'])
  const affinityConfig = readObj(c, spec.sessionAffinityConfig, 'spec.sessionAffinityConfig')
  if (affinity === 'None' && affinityConfig)
    c.forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None')
  if (affinityConfig) {
    const clientIP = readObj(c, affinityConfig.clientIP, 'spec.sessionAffinityConfig.clientIP')
    const tp = 'spec.sessionAffinityConfig.clientIP.timeoutSeconds'
    const timeout = clientIP ? readInt(c, clientIP.timeoutSeconds, tp) : undefined
    if (timeout !== undefined && (timeout <= 0 || timeout > 86400))
      c.invalid(tp, timeout, 'must be greater than 0 and less than 86400')
  }

  if (clusterIP && !headless && !isIPv4(clusterIP))
    c.invalid('spec.clusterIP', clusterIP, "must be empty, 'None', or a valid IPv4 address")
  if (headless && type === 'NodePort')
    c.invalid('spec.clusterIP', clusterIP, "may not be set to 'None' for LoadBalancer or NodePort services")
  const clusterIPs = readStrList(c, spec.clusterIPs, 'spec.clusterIPs')
  if (clusterIPs && clusterIPs.length > 0) {
    if (clusterIP && clusterIPs[0] !== clusterIP)
      c.invalid('spec.clusterIPs', clusterIPs, 'first value must match `clusterIP`')
    clusterIPs.forEach((ip, i) => {
      if (ip === 'None') {
        if (i > 0 || clusterIPs.length > 1)
          c.invalid(at('spec.clusterIPs', i), ip, "'None' must be the first and only value")
      } else if (!isIPv4(ip)) c.invalid(at('spec.clusterIPs', i), ip, 'must be a valid IPv4 address')
    })
  }
  readStrList(c, spec.externalIPs, 'spec.externalIPs')?.forEach((ip, i) => {
    if (!isIPAddress(ip)) c.invalid(at('spec.externalIPs', i), ip, IP_EXAMPLE_MESSAGE)
    else checkEndpointIP(c, ip, at('spec.externalIPs', i))
  })
  readBool(c, spec.publishNotReadyAddresses, 'spec.publishNotReadyAddresses')

  const oldSpec = old && isObj(old.spec) ? old.spec : undefined
  const oldIP = oldSpec?.clusterIP
  // An update that leaves clusterIP out keeps the allocated one (the API carries it over).
  if (clusterIP && typeof oldIP === 'string' && oldIP !== '' && clusterIP !== oldIP)
    c.invalid('spec.clusterIP', clusterIP, 'field is immutable')
}

function checkEndpoints(c: Causes, obj: Obj): void {
  readList(c, obj.subsets, 'subsets')?.forEach((item, i) => {
    const p = at('subsets', i)
    const subset = readObj(c, item, p)
    if (!subset) {
      if (absent(item)) c.invalid(p, item, 'must be an object')
      return
    }
    let addresses = 0
    for (const field of ['addresses', 'notReadyAddresses']) {
      const ap = child(p, field)
      readList(c, subset[field], ap)?.forEach((a, j) => {
        addresses++
        const address = readObj(c, a, at(ap, j))
        if (!address) {
          if (absent(a)) c.invalid(at(ap, j), a, 'must be an object')
          return
        }
        const ip = checkIP(c, address.ip, child(at(ap, j), 'ip'))
        if (ip) checkEndpointIP(c, ip, child(at(ap, j), 'ip'))
        const hostname = readStr(c, address.hostname, child(at(ap, j), 'hostname'))
        if (hostname)
          for (const msg of dns1123LabelErrors(hostname))
            c.invalid(child(at(ap, j), 'hostname'), hostname, msg)
        const nodeName = readStr(c, address.nodeName, child(at(ap, j), 'nodeName'))
        if (nodeName)
          for (const msg of dns1123SubdomainErrors(nodeName))
            c.invalid(child(at(ap, j), 'nodeName'), nodeName, msg)
        readObj(c, address.targetRef, child(at(ap, j), 'targetRef'))
      })
    }
    if (addresses === 0) c.required(p, 'must specify `addresses` or `notReadyAddresses`')
    const portsPath = child(p, 'ports')
    const ports = readList(c, subset.ports, portsPath)
    ports?.forEach((item, j) => {
      const pp = at(portsPath, j)
      const port = readObj(c, item, pp)
      if (!port) {
        if (absent(item)) c.invalid(pp, item, 'must be an object')
        return
      }
      const name = readStr(c, port.name, child(pp, 'name'))
      if (!name) {
        if (ports.length > 1 && (name === '' || absent(port.name))) c.required(child(pp, 'name'))
      } else for (const msg of dns1123LabelErrors(name)) c.invalid(child(pp, 'name'), name, msg)
      checkPortNum(c, port.port, child(pp, 'port'))
      checkEnum(c, port.protocol, child(pp, 'protocol'), PROTOCOLS)
    })
  })
}

function checkNamespace(c: Causes, obj: Obj): void {
  const spec = readObj(c, obj.spec, 'spec')
  if (spec) {
    readStrList(c, spec.finalizers, 'spec.finalizers')?.forEach((f, i) => {
      const p = at('spec.finalizers', i)
      const errs = qualifiedNameErrors(f)
      for (const msg of errs) c.invalid(p, f, msg)
      if (errs.length === 0 && !f.includes('/') && f !== 'kubernetes')
        c.invalid(p, f, 'name is neither a standard finalizer name nor is it fully qualified')
    })
  }
  const status = readObj(c, obj.status, 'status')
  if (status) checkEnum(c, status.phase, 'status.phase', ['Active', 'Terminating'])
}

function checkConfigMap(c: Causes, obj: Obj, old: KubeObject | undefined): void {
  let total = 0
  const data = readStrMap(c, obj.data, 'data')
  for (const [key, value] of data ?? []) {
    for (const msg of configMapKeyErrors(key)) c.invalid(at('data', key), key, msg)
    total += byteLength(value)
  }
  const binary = readStrMap(c, obj.binaryData, 'binaryData')
  for (const [key, value] of binary ?? []) {
    const p = at('binaryData', key)
    for (const msg of configMapKeyErrors(key)) c.invalid(p, key, msg)
    if (data?.has(key)) c.invalid(p, key, 'duplicate of key present in data')
    if (value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
      c.invalid(p, OMIT, 'must be base64-encoded')
    else total += Buffer.from(value, 'base64').length
  }
  if (total > CONFIG_MAP_MAX_SIZE_BYTES) c.tooLong('data', CONFIG_MAP_MAX_SIZE_BYTES)
  const immutable = readBool(c, obj.immutable, 'immutable')
  if (old && old.immutable === true) {
    if (immutable !== true) c.forbidden('immutable', 'field is immutable when `immutable` is set')
    if (!deepEqual(obj.data ?? {}, old.data ?? {}))
      c.forbidden('data', 'field is immutable when `immutable` is set')
    if (!deepEqual(obj.binaryData ?? {}, old.binaryData ?? {}))
      c.forbidden('binaryData', 'field is immutable when `immutable` is set')
  }
}

function checkEvent(c: Causes, obj: Obj): void {
  const involved = readObj(c, obj.involvedObject, 'involvedObject')
  if (absent(obj.involvedObject)) c.required('involvedObject')
  if (involved) {
    for (const field of ['kind', 'name', 'namespace', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath'])
      readStr(c, involved[field], child('involvedObject', field))
    const meta = isObj(obj.metadata) ? obj.metadata : {}
    const eventNs = typeof meta.namespace === 'string' ? meta.namespace : ''
    const objectNs = typeof involved.namespace === 'string' ? involved.namespace : ''
    // Events about cluster-scoped objects live in "default"; the others beside their object.
    if (objectNs === '' ? eventNs !== '' && eventNs !== 'default' : eventNs !== '' && eventNs !== objectNs)
      c.invalid('involvedObject.namespace', objectNs, 'does not match event.namespace')
  }
  for (const field of ['reason', 'message', 'firstTimestamp', 'lastTimestamp', 'eventTime', 'action'])
    readStr(c, obj[field], field)
  checkEnum(c, obj.type, 'type', ['Normal', 'Warning'])
  checkNonNegative(c, obj.count, 'count')
  const source = readObj(c, obj.source, 'source')
  if (source) for (const field of ['component', 'host']) readStr(c, source[field], child('source', field))
}

// ---------------------------------------------------------------------------------------------
// The entry points
// ---------------------------------------------------------------------------------------------

const KINDS_READING_SPEC = new Set(['Pod', 'ReplicationController', 'Service', 'Namespace'])

/** What validateObject needs to know beyond the object: create or update, and the stored object. */
export interface ValidateOptions {
  isCreate: boolean
  /** The object as stored, on update: immutable fields are compared against it. */
  old?: KubeObject
}

/**
 * Validates an API object as Kubernetes would after defaulting. Throws `InvalidError` naming
 * every problem found (`Pod "p" is invalid: spec.containers[0].image: Required value, …`);
 * returns when there is none. Kinds it does not know get their metadata checked only.
 */
export function validateObject(obj: KubeObject, opts: ValidateOptions): void {
  const c = new Causes()
  if (!isObj(obj)) {
    c.invalid('', obj, 'must be an object')
    throw new InvalidError('Object', '', c.list)
  }
  const kind = typeof obj.kind === 'string' ? obj.kind : ''
  if (typeof obj.kind !== 'string' || obj.kind === '') c.required('kind')
  readStr(c, obj.apiVersion, 'apiVersion')
  const rules = KIND_RULES.get(kind) ?? { namespaced: true, name: 'subdomain' }
  const name = checkMetadata(c, obj.metadata, rules, opts)
  const old = !opts.isCreate && isObj(opts.old) ? opts.old : undefined
  // Every kind's spec and status are objects when present; the kinds below check their own.
  if (!KINDS_READING_SPEC.has(kind)) readObj(c, obj.spec, 'spec')
  switch (kind) {
    case 'Pod':
      checkPod(c, obj)
      break
    case 'ReplicationController':
      checkReplicationController(c, obj)
      break
    case 'Service':
      checkService(c, obj, old)
      break
    case 'Endpoints':
      checkEndpoints(c, obj)
      break
    case 'Namespace':
      checkNamespace(c, obj)
      break
    case 'ConfigMap':
      checkConfigMap(c, obj, old)
      break
    case 'Event':
      checkEvent(c, obj)
      break
    default:
      // Node, and kinds Shoal stores without rules of their own: metadata is all there is to check.
      break
  }
  if (kind !== 'Namespace') readObj(c, obj.status, 'status')
  if (c.list.length > 0) throw new InvalidError(kind || 'Object', name, c.list)
}

// ---------------------------------------------------------------------------------------------
// Defaulting (pkg/apis/core/v1/defaults.go, plus the create-time defaults of the registry)
// ---------------------------------------------------------------------------------------------

/** Sets `o[key]` when it is absent or the empty string (Go's zero value), as Kubernetes does. */
function defaultStr(o: Obj, key: string, value: string): void {
  if (absent(o[key]) || o[key] === '') o[key] = value
}

/** Sets `o[key]` when it is absent or 0 (Go's zero value). */
function defaultNum(o: Obj, key: string, value: number): void {
  if (absent(o[key]) || o[key] === 0) o[key] = value
}

/** The object at `o[key]`, created when absent; undefined when it holds something else. */
function objAt(o: Obj, key: string): Obj | undefined {
  if (absent(o[key])) o[key] = {}
  const v = o[key]
  return isObj(v) ? v : undefined
}

const objects = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : [])

/**
 * The tag of an image reference as Docker parses it: `redis` → `latest`, `redis:7` → `7`,
 * `localhost:5000/redis` → `latest`, `redis@sha256:…` → '' (a digest, no tag).
 */
function imageTag(image: unknown): string {
  if (typeof image !== 'string' || image.trim() === '') return ''
  const digestAt = image.indexOf('@')
  const named = digestAt >= 0 ? image.slice(0, digestAt) : image
  const last = named.slice(named.lastIndexOf('/') + 1)
  const colon = last.indexOf(':')
  if (colon >= 0) return last.slice(colon + 1)
  return digestAt >= 0 ? '' : 'latest'
}

function defaultProbe(probe: Obj): void {
  defaultNum(probe, 'timeoutSeconds', 1)
  defaultNum(probe, 'periodSeconds', 10)
  defaultNum(probe, 'successThreshold', 1)
  defaultNum(probe, 'failureThreshold', 3)
  defaultHttpGet(probe)
}

function defaultHttpGet(handler: Obj): void {
  const http = handler.httpGet
  if (!isObj(http)) return
  defaultStr(http, 'path', '/')
  defaultStr(http, 'scheme', 'HTTP')
}

function defaultContainer(ctr: Obj, hostNetwork: boolean, isPod: boolean): void {
  if (absent(ctr.imagePullPolicy) || ctr.imagePullPolicy === '')
    ctr.imagePullPolicy = imageTag(ctr.image) === 'latest' ? 'Always' : 'IfNotPresent'
  defaultStr(ctr, 'terminationMessagePath', '/dev/termination-log')
  defaultStr(ctr, 'terminationMessagePolicy', 'File')
  for (const port of objects(ctr.ports)) {
    defaultStr(port, 'protocol', 'TCP')
    if (
      hostNetwork &&
      (absent(port.hostPort) || port.hostPort === 0) &&
      typeof port.containerPort === 'number'
    )
      port.hostPort = port.containerPort
  }
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const p = ctr[probe]
    if (isObj(p)) defaultProbe(p)
  }
  if (isObj(ctr.lifecycle))
    for (const hook of ['postStart', 'preStop']) {
      const h = ctr.lifecycle[hook]
      if (isObj(h)) defaultHttpGet(h)
    }
  // A pod's requests default to its limits (a template's do not: SetDefaults_Pod, not _PodSpec).
  const resources = ctr.resources
  if (isPod && isObj(resources) && isObj(resources.limits)) {
    const requests = objAt(resources, 'requests')
    if (requests)
      for (const [name, limit] of Object.entries(resources.limits))
        if (!Object.hasOwn(requests, name)) requests[name] = limit
  }
}

function defaultPodSpec(spec: Obj, isPod: boolean): void {
  defaultStr(spec, 'dnsPolicy', 'ClusterFirst')
  defaultStr(spec, 'restartPolicy', 'Always')
  if (absent(spec.terminationGracePeriodSeconds)) spec.terminationGracePeriodSeconds = 30
  defaultStr(spec, 'schedulerName', 'default-scheduler')
  for (const vol of objects(spec.volumes)) {
    if (Object.keys(vol).every((k) => k === 'name' || absent(vol[k]))) vol.emptyDir = {}
    if (isObj(vol.hostPath) && absent(vol.hostPath.type)) vol.hostPath.type = ''
  }
  const hostNetwork = spec.hostNetwork === true
  for (const ctr of [...objects(spec.initContainers), ...objects(spec.containers)])
    defaultContainer(ctr, hostNetwork, isPod)
}

function defaultPod(pod: Obj): void {
  const spec = objAt(pod, 'spec')
  if (spec) defaultPodSpec(spec, true)
  const status = objAt(pod, 'status')
  if (status) defaultStr(status, 'phase', 'Pending')
}

const isEmptyMap = (v: unknown): boolean => absent(v) || (isObj(v) && Object.keys(v).length === 0)

function defaultReplicationController(rc: Obj): void {
  const spec = objAt(rc, 'spec')
  if (!spec) return
  const template = isObj(spec.template) ? spec.template : undefined
  const labels = template && isObj(template.metadata) ? template.metadata.labels : undefined
  if (isObj(labels)) {
    if (isEmptyMap(spec.selector)) spec.selector = { ...labels }
    const meta = rc.metadata
    if (isObj(meta) && isEmptyMap(meta.labels)) meta.labels = { ...labels }
  }
  if (absent(spec.replicas)) spec.replicas = 1
  if (template && isObj(template.spec)) defaultPodSpec(template.spec, false)
}

function defaultService(svc: Obj): void {
  const spec = objAt(svc, 'spec')
  if (!spec) return
  defaultStr(spec, 'sessionAffinity', 'None')
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig
  if (spec.sessionAffinity === 'ClientIP') {
    const config = objAt(spec, 'sessionAffinityConfig')
    const clientIP = config ? objAt(config, 'clientIP') : undefined
    if (clientIP && absent(clientIP.timeoutSeconds)) clientIP.timeoutSeconds = 10800
  }
  defaultStr(spec, 'type', 'ClusterIP')
  for (const port of objects(spec.ports)) {
    defaultStr(port, 'protocol', 'TCP')
    if ((absent(port.targetPort) || port.targetPort === 0 || port.targetPort === '') && !absent(port.port))
      port.targetPort = port.port
  }
}

function defaultNamespace(ns: Obj): void {
  const meta = ns.metadata
  // Every namespace carries its own name as a label, so selectors can pick namespaces by name.
  if (isObj(meta) && typeof meta.name === 'string' && meta.name !== '') {
    const labels = objAt(meta, 'labels')
    if (labels) labels['kubernetes.io/metadata.name'] = meta.name
  }
  const spec = objAt(ns, 'spec')
  if (spec && absent(spec.finalizers)) spec.finalizers = ['kubernetes']
  const status = objAt(ns, 'status')
  if (status) defaultStr(status, 'phase', 'Active')
}

function defaultEvent(ev: Obj): void {
  if (absent(ev.count)) ev.count = 1
  defaultStr(ev, 'type', 'Normal')
}

function defaultNode(node: Obj): void {
  const status = node.status
  if (isObj(status) && absent(status.allocatable) && isObj(status.capacity))
    status.allocatable = { ...status.capacity }
}

function defaultEndpoints(ep: Obj): void {
  for (const subset of objects(ep.subsets))
    for (const port of objects(subset.ports)) defaultStr(port, 'protocol', 'TCP')
}

/** The defaults of each kind that has some (ConfigMap and the other kinds have none). */
const DEFAULTERS: { readonly [kind: string]: (obj: Obj) => void } = {
  Pod: defaultPod,
  ReplicationController: defaultReplicationController,
  Service: defaultService,
  Namespace: defaultNamespace,
  Event: defaultEvent,
  Node: defaultNode,
  Endpoints: defaultEndpoints,
}

function defaulterOf(obj: KubeObject): ((obj: Obj) => void) | undefined {
  const kind = obj.kind
  return typeof kind === 'string' && Object.hasOwn(DEFAULTERS, kind) ? DEFAULTERS[kind] : undefined
}

/**
 * An API object as Kubernetes' v1 defaulting leaves it: a defaulted copy (the input is never
 * mutated), or `obj` itself when its kind has no defaults (a deep copy of every ConfigMap
 * written cost ~2 % of a busy peer's CPU for nothing). Fields of the wrong type are left
 * alone for validateObject to report; `metadata.namespace` is left to the API, which knows it
 * from the URL.
 */
export function defaultObject(obj: KubeObject): KubeObject {
  if (!isObj(obj) || !defaulterOf(obj)) return obj
  return defaultObjectInPlace(structuredClone(obj))
}

/** `defaultObject` on an object the caller owns: it is filled in and returned, not copied. */
export function defaultObjectInPlace(out: KubeObject): KubeObject {
  if (isObj(out)) defaulterOf(out)?.(out)
  return out
}

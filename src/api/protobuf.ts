/**
 * Decoding of Kubernetes' protobuf wire format (`application/vnd.kubernetes.protobuf`) into the JSON
 * shape the API server would have produced for the same object.
 *
 * kubectl's typed clients (`kubectl create namespace|configmap|service ...`, `kubectl debug`) POST their
 * object as protobuf: the 4 magic bytes `k8s\0`, then a `runtime.Unknown` envelope
 * (k8s.io/apimachinery/pkg/runtime/generated.proto: typeMeta=1 {apiVersion=1, kind=2}, raw=2,
 * contentEncoding=3, contentType=4) whose `raw` is the encoded object message. Shoal speaks JSON, so the
 * API decodes such bodies here and carries on as if JSON had been sent.
 *
 * The object messages are decoded from a table of field numbers (k8s.io/api core/v1 and apimachinery
 * meta/v1 generated.proto) that also records each field's JSON name and how Go's `encoding/json` treats
 * it, so the result matches what gogo-protobuf decoding followed by JSON marshalling gives:
 * - non-pointer scalars: `omitempty` ones vanish when zero, the others are always written;
 * - pointer fields (`*bool`, `*int64`, `*string`, `*Struct`): written exactly when present on the wire,
 *   even when zero or empty;
 * - non-pointer structs (`spec`, `status`, `resources`, ...) are always written, `{}` when empty;
 * - slices and maps: absent when empty, or `null` when their JSON tag lacks `omitempty`;
 * - `metav1.Time`: RFC 3339 at second precision, `null` when zero; `resource.Quantity`: its string;
 *   `intstr.IntOrString`: a number or a string; `[]byte`: standard base64; map keys sorted.
 *
 * Fields the tables do not know are skipped, as the wire format allows. Only core/v1 Namespace,
 * ConfigMap, Service and Pod are supported (the kinds kubectl's generators and `kubectl debug` send);
 * anything else raises {@link UnsupportedProtobufKindError}, which the API answers with 415.
 * Malformed input raises {@link ProtobufDecodeError}.
 */

/** The media type of Kubernetes' protobuf encoding. */
export const KUBERNETES_PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf'

/** True when a Content-Type header names Kubernetes' protobuf encoding (parameters ignored). */
export function isKubernetesProtobufContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false
  const mediaType = contentType.split(';', 1)[0]!.trim().toLowerCase()
  return mediaType === KUBERNETES_PROTOBUF_CONTENT_TYPE
}

/** The body is not valid Kubernetes protobuf (bad magic, truncated, wrong wire types, ...). */
export class ProtobufDecodeError extends Error {
  override readonly name = 'ProtobufDecodeError'
}

/** The body is well-formed but holds a kind this decoder has no field table for. */
export class UnsupportedProtobufKindError extends Error {
  override readonly name = 'UnsupportedProtobufKindError'
  readonly apiVersion: string
  readonly kind: string

  constructor(apiVersion: string, kind: string) {
    super(
      `protobuf decoding of ${kind || '(no kind)'} (${apiVersion || 'no apiVersion'}) is not supported; ` +
        `send it as application/json`,
    )
    this.apiVersion = apiVersion
    this.kind = kind
  }
}

/** A decoded request body: the envelope's type and the object in Kubernetes' JSON shape. */
export interface DecodedKubernetesObject {
  apiVersion: string
  kind: string
  /** `{ kind, apiVersion, metadata, ... }`, exactly as the JSON encoding of the object would read. */
  object: Record<string, unknown>
}

const MAGIC = [0x6b, 0x38, 0x73, 0x00] // "k8s\0"

/**
 * Decodes a Kubernetes protobuf request body (magic + `runtime.Unknown` envelope + object).
 *
 * @throws ProtobufDecodeError when the bytes are malformed
 * @throws UnsupportedProtobufKindError when the kind is not core/v1 Namespace, ConfigMap, Service or Pod
 */
export function decodeKubernetesProtobuf(body: Uint8Array): DecodedKubernetesObject {
  if (body.length < MAGIC.length || MAGIC.some((byte, i) => body[i] !== byte)) {
    throw new ProtobufDecodeError('missing the "k8s\\0" protobuf prefix')
  }
  const envelope = decodeUnknown(body.subarray(MAGIC.length))
  const { apiVersion, kind } = envelope
  const spec = apiVersion === 'v1' ? KINDS.get(kind) : undefined
  if (spec === undefined) throw new UnsupportedProtobufKindError(apiVersion, kind)
  if (envelope.contentEncoding !== '') {
    throw new ProtobufDecodeError(`unsupported contentEncoding ${JSON.stringify(envelope.contentEncoding)}`)
  }
  if (envelope.contentType !== '' && !isKubernetesProtobufContentType(envelope.contentType)) {
    throw new ProtobufDecodeError(`unsupported contentType ${JSON.stringify(envelope.contentType)}`)
  }
  const object: Record<string, unknown> = { kind, apiVersion }
  Object.assign(object, decodeMessage(envelope.raw, spec))
  return { apiVersion, kind, object }
}

// ---------------------------------------------------------------------------------------------------
// Wire format

const WIRE_VARINT = 0
const WIRE_FIXED64 = 1
const WIRE_BYTES = 2
const WIRE_START_GROUP = 3
const WIRE_END_GROUP = 4
const WIRE_FIXED32 = 5

class Reader {
  pos: number

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start
  }

  done(): boolean {
    return this.pos >= this.end
  }

  /** A varint that must fit a JS number exactly (tags and lengths). */
  smallVarint(what: string): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw new ProtobufDecodeError(`truncated ${what}`)
      const b = this.buf[this.pos++]!
      value += (b & 0x7f) * scale
      if (b < 0x80) return value
      scale *= 128
    }
    throw new ProtobufDecodeError(`${what} out of range`)
  }

  /** A full 64-bit varint, as an unsigned BigInt. */
  varint(): bigint {
    let value = 0n
    let shift = 0n
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufDecodeError('truncated varint')
      const b = this.buf[this.pos++]!
      value |= BigInt(b & 0x7f) << shift
      if (b < 0x80) return BigInt.asUintN(64, value)
      shift += 7n
    }
    throw new ProtobufDecodeError('varint longer than 10 bytes')
  }

  tag(): { field: number; wire: number } {
    const tag = this.smallVarint('tag')
    const field = Math.floor(tag / 8)
    const wire = tag % 8
    if (field < 1 || field > 0x1fffffff) throw new ProtobufDecodeError(`illegal field number ${field}`)
    return { field, wire }
  }

  bytes(): Uint8Array {
    const length = this.smallVarint('length')
    if (length > this.end - this.pos)
      throw new ProtobufDecodeError('length-delimited field overruns its message')
    const start = this.pos
    this.pos += length
    return this.buf.subarray(start, this.pos)
  }

  advance(n: number): void {
    if (n > this.end - this.pos) throw new ProtobufDecodeError('truncated fixed-width field')
    this.pos += n
  }

  /** Skips the value of a field of the given wire type (groups included, as Go's skip does). */
  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint()
        return
      case WIRE_FIXED64:
        this.advance(8)
        return
      case WIRE_BYTES:
        this.bytes()
        return
      case WIRE_FIXED32:
        this.advance(4)
        return
      case WIRE_START_GROUP: {
        let depth = 1
        while (depth > 0) {
          if (this.done()) throw new ProtobufDecodeError('unterminated group')
          const inner = this.tag().wire
          if (inner === WIRE_START_GROUP) depth++
          else if (inner === WIRE_END_GROUP) depth--
          else this.skip(inner)
        }
        return
      }
      case WIRE_END_GROUP:
        throw new ProtobufDecodeError('unexpected end-group tag')
      default:
        throw new ProtobufDecodeError(`illegal wire type ${wire}`)
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Go strings are bytes; encoding/json writes each invalid UTF-8 byte as U+FFFD. */
function decodeString(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes)
  } catch {
    return decodeUtf8Lossy(bytes)
  }
}

function decodeUtf8Lossy(bytes: Uint8Array): string {
  let out = ''
  let i = 0
  while (i < bytes.length) {
    const b0 = bytes[i]!
    let cp = -1
    let width = 1
    if (b0 < 0x80) {
      cp = b0
    } else if (b0 >= 0xc2 && b0 <= 0xf4) {
      width = b0 < 0xe0 ? 2 : b0 < 0xf0 ? 3 : 4
      const lo = b0 === 0xe0 ? 0xa0 : b0 === 0xf0 ? 0x90 : 0x80
      const hi = b0 === 0xed ? 0x9f : b0 === 0xf4 ? 0x8f : 0xbf
      let value = b0 & (0xff >> (width + 1))
      for (let k = 1; k < width; k++) {
        const b = bytes[i + k]
        if (b === undefined || b < (k === 1 ? lo : 0x80) || b > (k === 1 ? hi : 0xbf)) {
          value = -1
          break
        }
        value = (value << 6) | (b & 0x3f)
      }
      cp = value
    }
    if (cp < 0) {
      out += '\ufffd'
      i += 1
    } else {
      out += String.fromCodePoint(cp)
      i += width
    }
  }
  return out
}

function toInt64(v: bigint): number {
  return Number(BigInt.asIntN(64, v))
}

function toInt32(v: bigint): number {
  return Number(BigInt.asIntN(32, v))
}

/** Orders map keys the way Go's encoding/json does: by UTF-8 bytes, i.e. by code point. */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; ) {
    const ca = a.codePointAt(i)!
    const cb = b.codePointAt(i)!
    if (ca !== cb) return ca < cb ? -1 : 1
    i += ca > 0xffff ? 2 : 1
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}

/** Sets an own enumerable property, even for a key like `__proto__`. */
function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    obj[key] = value
  }
}

// ---------------------------------------------------------------------------------------------------
// Well-known Kubernetes value types

/** Seconds of 0001-01-01T00:00:00Z, Go's zero time.Time (which JSON-encodes as null). */
const GO_ZERO_TIME_SECONDS = -62135596800n

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0')
}

/** Go's `t.UTC().Format(time.RFC3339)`, or null for the zero time (metav1.Time's JSON). */
function formatTime(seconds: bigint): string | null {
  if (seconds === GO_ZERO_TIME_SECONDS) return null
  const date = new Date(Number(seconds) * 1000)
  if (Number.isNaN(date.getTime())) throw new ProtobufDecodeError('timestamp out of range')
  const year = date.getUTCFullYear()
  const yearText = year < 0 ? `-${pad(-year, 4)}` : pad(year, 4)
  return (
    `${yearText}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}` +
    `T${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}Z`
  )
}

/**
 * meta/v1 Time {seconds=1, nanos=2}: an empty message is the zero time (JSON null). Time's Unmarshal
 * drops the nanoseconds (`time.Unix(seconds, 0)`) and its JSON has second precision.
 */
function decodeTime(bytes: Uint8Array): string | null {
  if (bytes.length === 0) return null
  let seconds = 0n
  const r = new Reader(bytes)
  while (!r.done()) {
    const { field, wire } = r.tag()
    if (field === 1 && wire === WIRE_VARINT) seconds = BigInt.asIntN(64, r.varint())
    else if (field === 2 && wire === WIRE_VARINT) r.varint()
    else if (field <= 2) throw wrongWireType(field, wire, 'Time')
    else r.skip(wire)
  }
  return formatTime(seconds)
}

/** The grammar resource.ParseQuantity accepts: a decimal, then a binary/decimal suffix or an exponent. */
const QUANTITY = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$/

/**
 * api/resource Quantity {string=1}: an empty message is the zero quantity ("0"); a string is parsed by
 * Go, so a malformed one is an error. kubectl sends canonical strings, which are kept as they are.
 */
function decodeQuantity(bytes: Uint8Array): string {
  let value: string | undefined
  const r = new Reader(bytes)
  while (!r.done()) {
    const { field, wire } = r.tag()
    if (field === 1 && wire === WIRE_BYTES) value = decodeString(r.bytes())
    else if (field === 1) throw wrongWireType(field, wire, 'Quantity')
    else r.skip(wire)
  }
  if (value === undefined) return '0'
  if (!QUANTITY.test(value))
    throw new ProtobufDecodeError(`invalid resource quantity ${JSON.stringify(value)}`)
  return value
}

/** util/intstr IntOrString {type=1 (0 int, 1 string), intVal=2, strVal=3} → number or string. */
function decodeIntOrString(bytes: Uint8Array): number | string {
  let type = 0n
  let intVal = 0
  let strVal = ''
  const r = new Reader(bytes)
  while (!r.done()) {
    const { field, wire } = r.tag()
    if (field === 1 && wire === WIRE_VARINT) type = BigInt.asIntN(64, r.varint())
    else if (field === 2 && wire === WIRE_VARINT) intVal = toInt32(r.varint())
    else if (field === 3 && wire === WIRE_BYTES) strVal = decodeString(r.bytes())
    else if (field <= 3) throw wrongWireType(field, wire, 'IntOrString')
    else r.skip(wire)
  }
  if (type === 0n) return intVal
  if (type === 1n) return strVal
  throw new ProtobufDecodeError(`invalid IntOrString type ${type}`)
}

/** meta/v1 FieldsV1 {Raw=1}: raw JSON, written verbatim (null when unset). */
function decodeFieldsV1(bytes: Uint8Array): unknown {
  let raw: Uint8Array | undefined
  const r = new Reader(bytes)
  while (!r.done()) {
    const { field, wire } = r.tag()
    if (field === 1 && wire === WIRE_BYTES) raw = r.bytes()
    else if (field === 1) throw wrongWireType(field, wire, 'FieldsV1')
    else r.skip(wire)
  }
  if (raw === undefined) return null
  try {
    return JSON.parse(decodeString(raw)) as unknown
  } catch {
    throw new ProtobufDecodeError('fieldsV1 is not valid JSON')
  }
}

function wrongWireType(field: number, wire: number, message: string): ProtobufDecodeError {
  return new ProtobufDecodeError(`wrong wire type ${wire} for field ${field} of ${message}`)
}

// ---------------------------------------------------------------------------------------------------
// Message tables

/**
 * How a field shows in JSON:
 * - `omitempty`: Go non-pointer field tagged omitempty (left out when zero/empty);
 * - `always`: Go non-pointer field without omitempty, or a non-pointer struct (zero value written;
 *   `null` for an empty slice or map);
 * - `pointer`: Go pointer field tagged omitempty (written exactly when present on the wire);
 * - `nullable`: Go pointer field without omitempty (`null` when absent).
 */
type Presence = 'omitempty' | 'always' | 'pointer' | 'nullable'

type ValueType =
  | 'string'
  | 'bool'
  | 'int32'
  | 'int64'
  | 'bytes'
  | 'time'
  | 'quantity'
  | 'intOrString'
  | 'fieldsV1'
  | MessageSpec

interface FieldSpec {
  no: number
  /** JSON name; empty for an inline (embedded) struct whose fields merge into the parent. */
  json: string
  type: ValueType
  presence: Presence
  repeated?: boolean
  /** A `map<string, V>` field (entries: key=1, value=2) where V is `type`. */
  map?: boolean
}

interface MessageSpec {
  name: string
  fields: () => FieldSpec[]
}

function message(name: string, fields: () => FieldSpec[]): MessageSpec {
  return { name, fields }
}

const compiled = new WeakMap<MessageSpec, { order: FieldSpec[]; byNumber: Map<number, FieldSpec> }>()

function compile(spec: MessageSpec): { order: FieldSpec[]; byNumber: Map<number, FieldSpec> } {
  let c = compiled.get(spec)
  if (c === undefined) {
    const order = spec.fields()
    c = { order, byNumber: new Map(order.map((f) => [f.no, f])) }
    compiled.set(spec, c)
  }
  return c
}

// Field constructors, in the vocabulary of the Go struct tags.
const str = (no: number, json: string, presence: Presence = 'omitempty'): FieldSpec => ({
  no,
  json,
  type: 'string',
  presence,
})
const bool = (no: number, json: string, presence: Presence = 'omitempty'): FieldSpec => ({
  no,
  json,
  type: 'bool',
  presence,
})
const int32 = (no: number, json: string, presence: Presence = 'omitempty'): FieldSpec => ({
  no,
  json,
  type: 'int32',
  presence,
})
const int64 = (no: number, json: string, presence: Presence = 'omitempty'): FieldSpec => ({
  no,
  json,
  type: 'int64',
  presence,
})
const strings = (no: number, json: string, presence: Presence = 'omitempty'): FieldSpec => ({
  no,
  json,
  type: 'string',
  presence,
  repeated: true,
})
const int64s = (no: number, json: string): FieldSpec => ({
  no,
  json,
  type: 'int64',
  presence: 'omitempty',
  repeated: true,
})
const stringMap = (no: number, json: string, presence: Presence = 'omitempty'): FieldSpec => ({
  no,
  json,
  type: 'string',
  presence,
  map: true,
})
const bytesMap = (no: number, json: string): FieldSpec => ({
  no,
  json,
  type: 'bytes',
  presence: 'omitempty',
  map: true,
})
const quantityMap = (no: number, json: string): FieldSpec => ({
  no,
  json,
  type: 'quantity',
  presence: 'omitempty',
  map: true,
})
const time = (no: number, json: string, presence: 'always' | 'pointer' = 'always'): FieldSpec => ({
  no,
  json,
  type: 'time',
  presence,
})
const quantity = (no: number, json: string, presence: 'always' | 'pointer'): FieldSpec => ({
  no,
  json,
  type: 'quantity',
  presence,
})
const intOrString = (no: number, json: string, presence: 'always' | 'pointer' = 'always'): FieldSpec => ({
  no,
  json,
  type: 'intOrString',
  presence,
})
/** A struct field: `pointer` for `*T` (the default), `always` for a non-pointer `T`. */
const struct = (no: number, json: string, type: MessageSpec, presence: Presence = 'pointer'): FieldSpec => ({
  no,
  json,
  type,
  presence,
})
const structs = (
  no: number,
  json: string,
  type: MessageSpec,
  presence: Presence = 'omitempty',
): FieldSpec => ({
  no,
  json,
  type,
  presence,
  repeated: true,
})
const inline = (no: number, type: MessageSpec): FieldSpec => ({ no, json: '', type, presence: 'always' })

// --- apimachinery meta/v1 ---

const OwnerReference = message('OwnerReference', () => [
  str(5, 'apiVersion', 'always'),
  str(1, 'kind', 'always'),
  str(3, 'name', 'always'),
  str(4, 'uid', 'always'),
  bool(6, 'controller', 'pointer'),
  bool(7, 'blockOwnerDeletion', 'pointer'),
])

const ManagedFieldsEntry = message('ManagedFieldsEntry', () => [
  str(1, 'manager'),
  str(2, 'operation'),
  str(3, 'apiVersion'),
  time(4, 'time', 'pointer'),
  str(6, 'fieldsType'),
  { no: 7, json: 'fieldsV1', type: 'fieldsV1', presence: 'pointer' },
  str(8, 'subresource'),
])

const ObjectMeta = message('ObjectMeta', () => [
  str(1, 'name'),
  str(2, 'generateName'),
  str(3, 'namespace'),
  str(4, 'selfLink'),
  str(5, 'uid'),
  str(6, 'resourceVersion'),
  int64(7, 'generation'),
  time(8, 'creationTimestamp'),
  time(9, 'deletionTimestamp', 'pointer'),
  int64(10, 'deletionGracePeriodSeconds', 'pointer'),
  stringMap(11, 'labels'),
  stringMap(12, 'annotations'),
  structs(13, 'ownerReferences', OwnerReference),
  strings(14, 'finalizers'),
  structs(17, 'managedFields', ManagedFieldsEntry),
])

const LabelSelectorRequirement = message('LabelSelectorRequirement', () => [
  str(1, 'key', 'always'),
  str(2, 'operator', 'always'),
  strings(3, 'values'),
])

const LabelSelector = message('LabelSelector', () => [
  stringMap(1, 'matchLabels'),
  structs(2, 'matchExpressions', LabelSelectorRequirement),
])

const Condition = message('Condition', () => [
  str(1, 'type', 'always'),
  str(2, 'status', 'always'),
  int64(3, 'observedGeneration'),
  time(4, 'lastTransitionTime'),
  str(5, 'reason', 'always'),
  str(6, 'message', 'always'),
])

// --- core/v1: Namespace ---

const NamespaceSpec = message('NamespaceSpec', () => [strings(1, 'finalizers')])

const NamespaceCondition = message('NamespaceCondition', () => [
  str(1, 'type', 'always'),
  str(2, 'status', 'always'),
  time(4, 'lastTransitionTime'),
  str(5, 'reason'),
  str(6, 'message'),
])

const NamespaceStatus = message('NamespaceStatus', () => [
  str(1, 'phase'),
  structs(2, 'conditions', NamespaceCondition),
])

const Namespace = message('Namespace', () => [
  struct(1, 'metadata', ObjectMeta, 'always'),
  struct(2, 'spec', NamespaceSpec, 'always'),
  struct(3, 'status', NamespaceStatus, 'always'),
])

// --- core/v1: ConfigMap ---

const ConfigMap = message('ConfigMap', () => [
  struct(1, 'metadata', ObjectMeta, 'always'),
  bool(4, 'immutable', 'pointer'),
  stringMap(2, 'data'),
  bytesMap(3, 'binaryData'),
])

// --- core/v1: Service ---

const ServicePort = message('ServicePort', () => [
  str(1, 'name'),
  str(2, 'protocol'),
  str(6, 'appProtocol', 'pointer'),
  int32(3, 'port', 'always'),
  intOrString(4, 'targetPort'),
  int32(5, 'nodePort'),
])

const ClientIPConfig = message('ClientIPConfig', () => [int32(1, 'timeoutSeconds', 'pointer')])

const SessionAffinityConfig = message('SessionAffinityConfig', () => [struct(1, 'clientIP', ClientIPConfig)])

const ServiceSpec = message('ServiceSpec', () => [
  structs(1, 'ports', ServicePort),
  stringMap(2, 'selector'),
  str(3, 'clusterIP'),
  strings(18, 'clusterIPs'),
  str(4, 'type'),
  strings(5, 'externalIPs'),
  str(7, 'sessionAffinity'),
  str(8, 'loadBalancerIP'),
  strings(9, 'loadBalancerSourceRanges'),
  str(10, 'externalName'),
  str(11, 'externalTrafficPolicy'),
  int32(12, 'healthCheckNodePort'),
  bool(13, 'publishNotReadyAddresses'),
  struct(14, 'sessionAffinityConfig', SessionAffinityConfig),
  strings(19, 'ipFamilies'),
  str(17, 'ipFamilyPolicy', 'pointer'),
  bool(20, 'allocateLoadBalancerNodePorts', 'pointer'),
  str(21, 'loadBalancerClass', 'pointer'),
  str(22, 'internalTrafficPolicy', 'pointer'),
  str(23, 'trafficDistribution', 'pointer'),
])

const PortStatus = message('PortStatus', () => [
  int32(1, 'port', 'always'),
  str(2, 'protocol', 'always'),
  str(3, 'error', 'pointer'),
])

const LoadBalancerIngress = message('LoadBalancerIngress', () => [
  str(1, 'ip'),
  str(2, 'hostname'),
  str(3, 'ipMode', 'pointer'),
  structs(4, 'ports', PortStatus),
])

const LoadBalancerStatus = message('LoadBalancerStatus', () => [structs(1, 'ingress', LoadBalancerIngress)])

const ServiceStatus = message('ServiceStatus', () => [
  struct(1, 'loadBalancer', LoadBalancerStatus, 'always'),
  structs(2, 'conditions', Condition),
])

const Service = message('Service', () => [
  struct(1, 'metadata', ObjectMeta, 'always'),
  struct(2, 'spec', ServiceSpec, 'always'),
  struct(3, 'status', ServiceStatus, 'always'),
])

// --- core/v1: Pod, volumes ---

const LocalObjectReference = message('LocalObjectReference', () => [str(1, 'name')])

const KeyToPath = message('KeyToPath', () => [
  str(1, 'key', 'always'),
  str(2, 'path', 'always'),
  int32(3, 'mode', 'pointer'),
])

const ObjectFieldSelector = message('ObjectFieldSelector', () => [
  str(1, 'apiVersion'),
  str(2, 'fieldPath', 'always'),
])

const ResourceFieldSelector = message('ResourceFieldSelector', () => [
  str(1, 'containerName'),
  str(2, 'resource', 'always'),
  quantity(3, 'divisor', 'always'),
])

const HostPathVolumeSource = message('HostPathVolumeSource', () => [
  str(1, 'path', 'always'),
  str(2, 'type', 'pointer'),
])

const EmptyDirVolumeSource = message('EmptyDirVolumeSource', () => [
  str(1, 'medium'),
  quantity(2, 'sizeLimit', 'pointer'),
])

const GitRepoVolumeSource = message('GitRepoVolumeSource', () => [
  str(1, 'repository', 'always'),
  str(2, 'revision'),
  str(3, 'directory'),
])

const SecretVolumeSource = message('SecretVolumeSource', () => [
  str(1, 'secretName'),
  structs(2, 'items', KeyToPath),
  int32(3, 'defaultMode', 'pointer'),
  bool(4, 'optional', 'pointer'),
])

const NFSVolumeSource = message('NFSVolumeSource', () => [
  str(1, 'server', 'always'),
  str(2, 'path', 'always'),
  bool(3, 'readOnly'),
])

const PersistentVolumeClaimVolumeSource = message('PersistentVolumeClaimVolumeSource', () => [
  str(1, 'claimName', 'always'),
  bool(2, 'readOnly'),
])

const DownwardAPIVolumeFile = message('DownwardAPIVolumeFile', () => [
  str(1, 'path', 'always'),
  struct(2, 'fieldRef', ObjectFieldSelector),
  struct(3, 'resourceFieldRef', ResourceFieldSelector),
  int32(4, 'mode', 'pointer'),
])

const DownwardAPIVolumeSource = message('DownwardAPIVolumeSource', () => [
  structs(1, 'items', DownwardAPIVolumeFile),
  int32(2, 'defaultMode', 'pointer'),
])

const ConfigMapVolumeSource = message('ConfigMapVolumeSource', () => [
  inline(1, LocalObjectReference),
  structs(2, 'items', KeyToPath),
  int32(3, 'defaultMode', 'pointer'),
  bool(4, 'optional', 'pointer'),
])

const SecretProjection = message('SecretProjection', () => [
  inline(1, LocalObjectReference),
  structs(2, 'items', KeyToPath),
  bool(4, 'optional', 'pointer'),
])

const ConfigMapProjection = message('ConfigMapProjection', () => [
  inline(1, LocalObjectReference),
  structs(2, 'items', KeyToPath),
  bool(4, 'optional', 'pointer'),
])

const DownwardAPIProjection = message('DownwardAPIProjection', () => [
  structs(1, 'items', DownwardAPIVolumeFile),
])

const ServiceAccountTokenProjection = message('ServiceAccountTokenProjection', () => [
  str(1, 'audience'),
  int64(2, 'expirationSeconds', 'pointer'),
  str(3, 'path', 'always'),
])

const ClusterTrustBundleProjection = message('ClusterTrustBundleProjection', () => [
  str(1, 'name', 'pointer'),
  str(2, 'signerName', 'pointer'),
  struct(3, 'labelSelector', LabelSelector),
  bool(5, 'optional', 'pointer'),
  str(4, 'path', 'always'),
])

const VolumeProjection = message('VolumeProjection', () => [
  struct(1, 'secret', SecretProjection),
  struct(2, 'downwardAPI', DownwardAPIProjection),
  struct(3, 'configMap', ConfigMapProjection),
  struct(4, 'serviceAccountToken', ServiceAccountTokenProjection),
  struct(5, 'clusterTrustBundle', ClusterTrustBundleProjection),
])

const ProjectedVolumeSource = message('ProjectedVolumeSource', () => [
  structs(1, 'sources', VolumeProjection, 'always'),
  int32(2, 'defaultMode', 'pointer'),
])

const CSIVolumeSource = message('CSIVolumeSource', () => [
  str(1, 'driver', 'always'),
  bool(2, 'readOnly', 'pointer'),
  str(3, 'fsType', 'pointer'),
  stringMap(4, 'volumeAttributes'),
  struct(5, 'nodePublishSecretRef', LocalObjectReference),
])

const TypedLocalObjectReference = message('TypedLocalObjectReference', () => [
  str(1, 'apiGroup', 'pointer'),
  str(2, 'kind', 'always'),
  str(3, 'name', 'always'),
])

const TypedObjectReference = message('TypedObjectReference', () => [
  str(1, 'apiGroup', 'pointer'),
  str(2, 'kind', 'always'),
  str(3, 'name', 'always'),
  str(4, 'namespace', 'pointer'),
])

const VolumeResourceRequirements = message('VolumeResourceRequirements', () => [
  quantityMap(1, 'limits'),
  quantityMap(2, 'requests'),
])

const PersistentVolumeClaimSpec = message('PersistentVolumeClaimSpec', () => [
  strings(1, 'accessModes'),
  struct(4, 'selector', LabelSelector),
  struct(2, 'resources', VolumeResourceRequirements, 'always'),
  str(3, 'volumeName'),
  str(5, 'storageClassName', 'pointer'),
  str(6, 'volumeMode', 'pointer'),
  struct(7, 'dataSource', TypedLocalObjectReference),
  struct(8, 'dataSourceRef', TypedObjectReference),
  str(9, 'volumeAttributesClassName', 'pointer'),
])

const PersistentVolumeClaimTemplate = message('PersistentVolumeClaimTemplate', () => [
  struct(1, 'metadata', ObjectMeta, 'always'),
  struct(2, 'spec', PersistentVolumeClaimSpec, 'always'),
])

const EphemeralVolumeSource = message('EphemeralVolumeSource', () => [
  struct(1, 'volumeClaimTemplate', PersistentVolumeClaimTemplate),
])

const ImageVolumeSource = message('ImageVolumeSource', () => [str(1, 'reference'), str(2, 'pullPolicy')])

/** The volume sources kubectl and everyday manifests use; other sources are skipped. */
const VolumeSource = message('VolumeSource', () => [
  struct(1, 'hostPath', HostPathVolumeSource),
  struct(2, 'emptyDir', EmptyDirVolumeSource),
  struct(5, 'gitRepo', GitRepoVolumeSource),
  struct(6, 'secret', SecretVolumeSource),
  struct(7, 'nfs', NFSVolumeSource),
  struct(10, 'persistentVolumeClaim', PersistentVolumeClaimVolumeSource),
  struct(16, 'downwardAPI', DownwardAPIVolumeSource),
  struct(19, 'configMap', ConfigMapVolumeSource),
  struct(26, 'projected', ProjectedVolumeSource),
  struct(28, 'csi', CSIVolumeSource),
  struct(29, 'ephemeral', EphemeralVolumeSource),
  struct(30, 'image', ImageVolumeSource),
])

const Volume = message('Volume', () => [str(1, 'name', 'always'), inline(2, VolumeSource)])

// --- core/v1: Pod, containers ---

const ContainerPort = message('ContainerPort', () => [
  str(1, 'name'),
  int32(2, 'hostPort'),
  int32(3, 'containerPort', 'always'),
  str(4, 'protocol'),
  str(5, 'hostIP'),
])

const ConfigMapEnvSource = message('ConfigMapEnvSource', () => [
  inline(1, LocalObjectReference),
  bool(2, 'optional', 'pointer'),
])

const SecretEnvSource = message('SecretEnvSource', () => [
  inline(1, LocalObjectReference),
  bool(2, 'optional', 'pointer'),
])

const EnvFromSource = message('EnvFromSource', () => [
  str(1, 'prefix'),
  struct(2, 'configMapRef', ConfigMapEnvSource),
  struct(3, 'secretRef', SecretEnvSource),
])

const ConfigMapKeySelector = message('ConfigMapKeySelector', () => [
  inline(1, LocalObjectReference),
  str(2, 'key', 'always'),
  bool(3, 'optional', 'pointer'),
])

const SecretKeySelector = message('SecretKeySelector', () => [
  inline(1, LocalObjectReference),
  str(2, 'key', 'always'),
  bool(3, 'optional', 'pointer'),
])

const EnvVarSource = message('EnvVarSource', () => [
  struct(1, 'fieldRef', ObjectFieldSelector),
  struct(2, 'resourceFieldRef', ResourceFieldSelector),
  struct(3, 'configMapKeyRef', ConfigMapKeySelector),
  struct(4, 'secretKeyRef', SecretKeySelector),
])

const EnvVar = message('EnvVar', () => [
  str(1, 'name', 'always'),
  str(2, 'value'),
  struct(3, 'valueFrom', EnvVarSource),
])

const ResourceClaim = message('ResourceClaim', () => [str(1, 'name', 'always'), str(2, 'request')])

const ResourceRequirements = message('ResourceRequirements', () => [
  quantityMap(1, 'limits'),
  quantityMap(2, 'requests'),
  structs(3, 'claims', ResourceClaim),
])

const ContainerResizePolicy = message('ContainerResizePolicy', () => [
  str(1, 'resourceName', 'always'),
  str(2, 'restartPolicy', 'always'),
])

const VolumeMount = message('VolumeMount', () => [
  str(1, 'name', 'always'),
  bool(2, 'readOnly'),
  str(7, 'recursiveReadOnly', 'pointer'),
  str(3, 'mountPath', 'always'),
  str(4, 'subPath'),
  str(5, 'mountPropagation', 'pointer'),
  str(6, 'subPathExpr'),
])

const VolumeDevice = message('VolumeDevice', () => [str(1, 'name', 'always'), str(2, 'devicePath', 'always')])

const ExecAction = message('ExecAction', () => [strings(1, 'command')])

const HTTPHeader = message('HTTPHeader', () => [str(1, 'name', 'always'), str(2, 'value', 'always')])

const HTTPGetAction = message('HTTPGetAction', () => [
  str(1, 'path'),
  intOrString(2, 'port'),
  str(3, 'host'),
  str(4, 'scheme'),
  structs(5, 'httpHeaders', HTTPHeader),
])

const TCPSocketAction = message('TCPSocketAction', () => [intOrString(1, 'port'), str(2, 'host')])

const GRPCAction = message('GRPCAction', () => [int32(1, 'port', 'always'), str(2, 'service', 'nullable')])

const SleepAction = message('SleepAction', () => [int64(1, 'seconds', 'always')])

const ProbeHandler = message('ProbeHandler', () => [
  struct(1, 'exec', ExecAction),
  struct(2, 'httpGet', HTTPGetAction),
  struct(3, 'tcpSocket', TCPSocketAction),
  struct(4, 'grpc', GRPCAction),
])

const Probe = message('Probe', () => [
  inline(1, ProbeHandler),
  int32(2, 'initialDelaySeconds'),
  int32(3, 'timeoutSeconds'),
  int32(4, 'periodSeconds'),
  int32(5, 'successThreshold'),
  int32(6, 'failureThreshold'),
  int64(7, 'terminationGracePeriodSeconds', 'pointer'),
])

const LifecycleHandler = message('LifecycleHandler', () => [
  struct(1, 'exec', ExecAction),
  struct(2, 'httpGet', HTTPGetAction),
  struct(3, 'tcpSocket', TCPSocketAction),
  struct(4, 'sleep', SleepAction),
])

const Lifecycle = message('Lifecycle', () => [
  struct(1, 'postStart', LifecycleHandler),
  struct(2, 'preStop', LifecycleHandler),
  str(3, 'stopSignal', 'pointer'),
])

const Capabilities = message('Capabilities', () => [strings(1, 'add'), strings(2, 'drop')])

const SELinuxOptions = message('SELinuxOptions', () => [
  str(1, 'user'),
  str(2, 'role'),
  str(3, 'type'),
  str(4, 'level'),
])

const WindowsSecurityContextOptions = message('WindowsSecurityContextOptions', () => [
  str(1, 'gmsaCredentialSpecName', 'pointer'),
  str(2, 'gmsaCredentialSpec', 'pointer'),
  str(3, 'runAsUserName', 'pointer'),
  bool(4, 'hostProcess', 'pointer'),
])

const SeccompProfile = message('SeccompProfile', () => [
  str(1, 'type', 'always'),
  str(2, 'localhostProfile', 'pointer'),
])

const AppArmorProfile = message('AppArmorProfile', () => [
  str(1, 'type', 'always'),
  str(2, 'localhostProfile', 'pointer'),
])

const SecurityContext = message('SecurityContext', () => [
  struct(1, 'capabilities', Capabilities),
  bool(2, 'privileged', 'pointer'),
  struct(3, 'seLinuxOptions', SELinuxOptions),
  struct(10, 'windowsOptions', WindowsSecurityContextOptions),
  int64(4, 'runAsUser', 'pointer'),
  int64(8, 'runAsGroup', 'pointer'),
  bool(5, 'runAsNonRoot', 'pointer'),
  bool(6, 'readOnlyRootFilesystem', 'pointer'),
  bool(7, 'allowPrivilegeEscalation', 'pointer'),
  str(9, 'procMount', 'pointer'),
  struct(11, 'seccompProfile', SeccompProfile),
  struct(12, 'appArmorProfile', AppArmorProfile),
])

/** Container, and EphemeralContainerCommon, which has the same fields and numbers. */
const Container = message('Container', () => [
  str(1, 'name', 'always'),
  str(2, 'image'),
  strings(3, 'command'),
  strings(4, 'args'),
  str(5, 'workingDir'),
  structs(6, 'ports', ContainerPort),
  structs(19, 'envFrom', EnvFromSource),
  structs(7, 'env', EnvVar),
  struct(8, 'resources', ResourceRequirements, 'always'),
  structs(23, 'resizePolicy', ContainerResizePolicy),
  str(24, 'restartPolicy', 'pointer'),
  structs(9, 'volumeMounts', VolumeMount),
  structs(21, 'volumeDevices', VolumeDevice),
  struct(10, 'livenessProbe', Probe),
  struct(11, 'readinessProbe', Probe),
  struct(22, 'startupProbe', Probe),
  struct(12, 'lifecycle', Lifecycle),
  str(13, 'terminationMessagePath'),
  str(20, 'terminationMessagePolicy'),
  str(14, 'imagePullPolicy'),
  struct(15, 'securityContext', SecurityContext),
  bool(16, 'stdin'),
  bool(17, 'stdinOnce'),
  bool(18, 'tty'),
])

const EphemeralContainer = message('EphemeralContainer', () => [
  inline(1, Container),
  str(2, 'targetContainerName'),
])

// --- core/v1: Pod, scheduling and the rest of the spec ---

const NodeSelectorRequirement = message('NodeSelectorRequirement', () => [
  str(1, 'key', 'always'),
  str(2, 'operator', 'always'),
  strings(3, 'values'),
])

const NodeSelectorTerm = message('NodeSelectorTerm', () => [
  structs(1, 'matchExpressions', NodeSelectorRequirement),
  structs(2, 'matchFields', NodeSelectorRequirement),
])

const NodeSelector = message('NodeSelector', () => [
  structs(1, 'nodeSelectorTerms', NodeSelectorTerm, 'always'),
])

const PreferredSchedulingTerm = message('PreferredSchedulingTerm', () => [
  int32(1, 'weight', 'always'),
  struct(2, 'preference', NodeSelectorTerm, 'always'),
])

const NodeAffinity = message('NodeAffinity', () => [
  struct(1, 'requiredDuringSchedulingIgnoredDuringExecution', NodeSelector),
  structs(2, 'preferredDuringSchedulingIgnoredDuringExecution', PreferredSchedulingTerm),
])

const PodAffinityTerm = message('PodAffinityTerm', () => [
  struct(1, 'labelSelector', LabelSelector),
  strings(2, 'namespaces'),
  str(3, 'topologyKey', 'always'),
  struct(4, 'namespaceSelector', LabelSelector),
  strings(5, 'matchLabelKeys'),
  strings(6, 'mismatchLabelKeys'),
])

const WeightedPodAffinityTerm = message('WeightedPodAffinityTerm', () => [
  int32(1, 'weight', 'always'),
  struct(2, 'podAffinityTerm', PodAffinityTerm, 'always'),
])

const PodAffinity = message('PodAffinity', () => [
  structs(1, 'requiredDuringSchedulingIgnoredDuringExecution', PodAffinityTerm),
  structs(2, 'preferredDuringSchedulingIgnoredDuringExecution', WeightedPodAffinityTerm),
])

const Affinity = message('Affinity', () => [
  struct(1, 'nodeAffinity', NodeAffinity),
  struct(2, 'podAffinity', PodAffinity),
  struct(3, 'podAntiAffinity', PodAffinity),
])

const Sysctl = message('Sysctl', () => [str(1, 'name', 'always'), str(2, 'value', 'always')])

const PodSecurityContext = message('PodSecurityContext', () => [
  struct(1, 'seLinuxOptions', SELinuxOptions),
  struct(8, 'windowsOptions', WindowsSecurityContextOptions),
  int64(2, 'runAsUser', 'pointer'),
  int64(6, 'runAsGroup', 'pointer'),
  bool(3, 'runAsNonRoot', 'pointer'),
  int64s(4, 'supplementalGroups'),
  str(12, 'supplementalGroupsPolicy', 'pointer'),
  int64(5, 'fsGroup', 'pointer'),
  structs(7, 'sysctls', Sysctl),
  str(9, 'fsGroupChangePolicy', 'pointer'),
  struct(10, 'seccompProfile', SeccompProfile),
  struct(11, 'appArmorProfile', AppArmorProfile),
  str(13, 'seLinuxChangePolicy', 'pointer'),
])

const Toleration = message('Toleration', () => [
  str(1, 'key'),
  str(2, 'operator'),
  str(3, 'value'),
  str(4, 'effect'),
  int64(5, 'tolerationSeconds', 'pointer'),
])

const HostAlias = message('HostAlias', () => [str(1, 'ip', 'always'), strings(2, 'hostnames')])

const PodDNSConfigOption = message('PodDNSConfigOption', () => [str(1, 'name'), str(2, 'value', 'pointer')])

const PodDNSConfig = message('PodDNSConfig', () => [
  strings(1, 'nameservers'),
  strings(2, 'searches'),
  structs(3, 'options', PodDNSConfigOption),
])

const PodReadinessGate = message('PodReadinessGate', () => [str(1, 'conditionType', 'always')])

const TopologySpreadConstraint = message('TopologySpreadConstraint', () => [
  int32(1, 'maxSkew', 'always'),
  str(2, 'topologyKey', 'always'),
  str(3, 'whenUnsatisfiable', 'always'),
  struct(4, 'labelSelector', LabelSelector),
  int32(5, 'minDomains', 'pointer'),
  str(6, 'nodeAffinityPolicy', 'pointer'),
  str(7, 'nodeTaintsPolicy', 'pointer'),
  strings(8, 'matchLabelKeys'),
])

const PodOS = message('PodOS', () => [str(1, 'name', 'always')])

const PodSchedulingGate = message('PodSchedulingGate', () => [str(1, 'name', 'always')])

const PodResourceClaim = message('PodResourceClaim', () => [
  str(1, 'name', 'always'),
  str(3, 'resourceClaimName', 'pointer'),
  str(4, 'resourceClaimTemplateName', 'pointer'),
])

const PodSpec = message('PodSpec', () => [
  structs(1, 'volumes', Volume),
  structs(20, 'initContainers', Container),
  structs(2, 'containers', Container, 'always'),
  structs(34, 'ephemeralContainers', EphemeralContainer),
  str(3, 'restartPolicy'),
  int64(4, 'terminationGracePeriodSeconds', 'pointer'),
  int64(5, 'activeDeadlineSeconds', 'pointer'),
  str(6, 'dnsPolicy'),
  stringMap(7, 'nodeSelector'),
  str(8, 'serviceAccountName'),
  str(9, 'serviceAccount'),
  bool(21, 'automountServiceAccountToken', 'pointer'),
  str(10, 'nodeName'),
  bool(11, 'hostNetwork'),
  bool(12, 'hostPID'),
  bool(13, 'hostIPC'),
  bool(27, 'shareProcessNamespace', 'pointer'),
  struct(14, 'securityContext', PodSecurityContext),
  structs(15, 'imagePullSecrets', LocalObjectReference),
  str(16, 'hostname'),
  str(17, 'subdomain'),
  struct(18, 'affinity', Affinity),
  str(19, 'schedulerName'),
  structs(22, 'tolerations', Toleration),
  structs(23, 'hostAliases', HostAlias),
  str(24, 'priorityClassName'),
  int32(25, 'priority', 'pointer'),
  struct(26, 'dnsConfig', PodDNSConfig),
  structs(28, 'readinessGates', PodReadinessGate),
  str(29, 'runtimeClassName', 'pointer'),
  bool(30, 'enableServiceLinks', 'pointer'),
  str(31, 'preemptionPolicy', 'pointer'),
  quantityMap(32, 'overhead'),
  structs(33, 'topologySpreadConstraints', TopologySpreadConstraint),
  bool(35, 'setHostnameAsFQDN', 'pointer'),
  struct(36, 'os', PodOS),
  bool(37, 'hostUsers', 'pointer'),
  structs(38, 'schedulingGates', PodSchedulingGate),
  structs(39, 'resourceClaims', PodResourceClaim),
  struct(40, 'resources', ResourceRequirements),
])

const PodCondition = message('PodCondition', () => [
  str(1, 'type', 'always'),
  str(2, 'status', 'always'),
  time(3, 'lastProbeTime'),
  time(4, 'lastTransitionTime'),
  str(5, 'reason'),
  str(6, 'message'),
])

const PodIP = message('PodIP', () => [str(1, 'ip', 'always')])

/** The scalar parts of PodStatus; container statuses (never part of a create) are skipped. */
const PodStatus = message('PodStatus', () => [
  str(1, 'phase'),
  structs(2, 'conditions', PodCondition),
  str(3, 'message'),
  str(4, 'reason'),
  str(11, 'nominatedNodeName'),
  str(5, 'hostIP'),
  structs(16, 'hostIPs', PodIP),
  str(6, 'podIP'),
  structs(12, 'podIPs', PodIP),
  time(7, 'startTime', 'pointer'),
  str(9, 'qosClass'),
  str(14, 'resize'),
])

const Pod = message('Pod', () => [
  struct(1, 'metadata', ObjectMeta, 'always'),
  struct(2, 'spec', PodSpec, 'always'),
  struct(3, 'status', PodStatus, 'always'),
])

const KINDS = new Map<string, MessageSpec>([
  ['Namespace', Namespace],
  ['ConfigMap', ConfigMap],
  ['Service', Service],
  ['Pod', Pod],
])

// ---------------------------------------------------------------------------------------------------
// Decoding driven by the tables

interface Envelope {
  apiVersion: string
  kind: string
  raw: Uint8Array
  contentEncoding: string
  contentType: string
}

function decodeUnknown(bytes: Uint8Array): Envelope {
  const envelope: Envelope = {
    apiVersion: '',
    kind: '',
    raw: new Uint8Array(0),
    contentEncoding: '',
    contentType: '',
  }
  const typeMetaParts: Uint8Array[] = []
  const r = new Reader(bytes)
  while (!r.done()) {
    const { field, wire } = r.tag()
    if (field >= 1 && field <= 4 && wire !== WIRE_BYTES) throw wrongWireType(field, wire, 'runtime.Unknown')
    if (field === 1) typeMetaParts.push(r.bytes())
    else if (field === 2) envelope.raw = r.bytes()
    else if (field === 3) envelope.contentEncoding = decodeString(r.bytes())
    else if (field === 4) envelope.contentType = decodeString(r.bytes())
    else r.skip(wire)
  }
  for (const part of typeMetaParts) {
    const t = new Reader(part)
    while (!t.done()) {
      const { field, wire } = t.tag()
      if ((field === 1 || field === 2) && wire !== WIRE_BYTES)
        throw wrongWireType(field, wire, 'runtime.TypeMeta')
      if (field === 1) envelope.apiVersion = decodeString(t.bytes())
      else if (field === 2) envelope.kind = decodeString(t.bytes())
      else t.skip(wire)
    }
  }
  return envelope
}

/** What the wire held for one field: scalars keep the last value, the rest accumulate. */
interface Collected {
  scalar?: bigint | Uint8Array
  items: (bigint | Uint8Array)[]
  present: boolean
}

/**
 * Whether a repeated occurrence of a singular field merges into the earlier one (decoding the
 * concatenation), as gogo's generated Unmarshal does; Time and Quantity replace themselves instead.
 */
function mergesOnRepeat(type: ValueType): boolean {
  return typeof type === 'object' || type === 'intOrString' || type === 'fieldsV1'
}

function isScalarNumeric(type: ValueType): boolean {
  return type === 'bool' || type === 'int32' || type === 'int64'
}

function decodeMessage(bytes: Uint8Array, spec: MessageSpec): Record<string, unknown> {
  const { order, byNumber } = compile(spec)
  const seen = new Map<number, Collected>()
  const r = new Reader(bytes)
  while (!r.done()) {
    const { field, wire } = r.tag()
    const f = byNumber.get(field)
    if (f === undefined) {
      r.skip(wire)
      continue
    }
    let c = seen.get(field)
    if (c === undefined) {
      c = { items: [], present: false }
      seen.set(field, c)
    }
    c.present = true
    const numeric = isScalarNumeric(f.type) && !f.map
    if (numeric && wire === WIRE_VARINT) {
      const v = r.varint()
      if (f.repeated) c.items.push(v)
      else c.scalar = v
    } else if (numeric && f.repeated && wire === WIRE_BYTES) {
      // packed repeated varints
      const packed = new Reader(r.bytes())
      while (!packed.done()) c.items.push(packed.varint())
    } else if (!numeric && wire === WIRE_BYTES) {
      const v = r.bytes()
      if (f.repeated || f.map) c.items.push(v)
      else if (mergesOnRepeat(f.type)) c.items.push(v)
      else c.scalar = v
    } else {
      throw wrongWireType(field, wire, spec.name)
    }
  }

  const out: Record<string, unknown> = {}
  for (const f of order) {
    const c = seen.get(f.no)
    if (f.json === '') {
      // inline struct: its fields are the parent's
      const inner = decodeMessage(concat((c?.items ?? []) as Uint8Array[]), f.type as MessageSpec)
      for (const [key, value] of Object.entries(inner)) setKey(out, key, value)
      continue
    }
    const value = fieldValue(f, c)
    if (value !== undefined) setKey(out, f.json, value)
  }
  return out
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!
  const total = parts.reduce((n, p) => n + p.length, 0)
  const out = new Uint8Array(total)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** The JSON value of one field, or undefined to leave it out. */
function fieldValue(f: FieldSpec, c: Collected | undefined): unknown {
  const present = c?.present === true
  if (f.map) {
    const entries = c?.items ?? []
    if (entries.length === 0) return f.presence === 'always' ? null : undefined
    return decodeMap(entries as Uint8Array[], f.type)
  }
  if (f.repeated) {
    const items = c?.items ?? []
    if (items.length === 0) return f.presence === 'always' ? null : undefined
    return items.map((item) => scalarOrMessage(f.type, item))
  }
  if (typeof f.type === 'object') {
    if (!present && f.presence !== 'always') return f.presence === 'nullable' ? null : undefined
    return decodeMessage(concat((c?.items ?? []) as Uint8Array[]), f.type)
  }
  if (!present) {
    if (f.presence === 'pointer') return undefined
    if (f.presence === 'nullable') return null
    if (f.presence === 'omitempty') return undefined
    return zeroValue(f.type)
  }
  const raw = mergesOnRepeat(f.type) ? concat(c!.items as Uint8Array[]) : c!.scalar!
  const value = scalarOrMessage(f.type, raw)
  if (f.presence === 'omitempty' && isZero(value)) return undefined
  return value
}

function zeroValue(type: ValueType): unknown {
  switch (type) {
    case 'string':
    case 'bytes':
      return ''
    case 'bool':
      return false
    case 'int32':
    case 'int64':
    case 'intOrString':
      return 0
    case 'quantity':
      return '0'
    case 'time':
    case 'fieldsV1':
      return null
    default:
      return {}
  }
}

function isZero(value: unknown): boolean {
  return value === '' || value === 0 || value === false || value === null
}

function scalarOrMessage(type: ValueType, raw: bigint | Uint8Array): unknown {
  if (typeof raw === 'bigint') {
    if (type === 'bool') return raw !== 0n
    if (type === 'int32') return toInt32(raw)
    return toInt64(raw)
  }
  switch (type) {
    case 'string':
      return decodeString(raw)
    case 'bytes':
      return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64')
    case 'time':
      return decodeTime(raw)
    case 'quantity':
      return decodeQuantity(raw)
    case 'intOrString':
      return decodeIntOrString(raw)
    case 'fieldsV1':
      return decodeFieldsV1(raw)
    case 'bool':
    case 'int32':
    case 'int64':
      throw new ProtobufDecodeError('length-delimited value for a numeric field')
    default:
      return decodeMessage(raw, type)
  }
}

/** A `map<string, V>`: repeated entries {key=1, value=2}; the last duplicate wins; keys sorted. */
function decodeMap(entries: Uint8Array[], valueType: ValueType): Record<string, unknown> {
  const values = new Map<string, unknown>()
  for (const entry of entries) {
    let key = ''
    let value = zeroValue(valueType)
    const r = new Reader(entry)
    while (!r.done()) {
      const { field, wire } = r.tag()
      if (field === 1 || field === 2) {
        if (wire !== WIRE_BYTES) throw wrongWireType(field, wire, 'map entry')
        const bytes = r.bytes()
        if (field === 1) key = decodeString(bytes)
        else value = scalarOrMessage(valueType, bytes)
      } else {
        r.skip(wire)
      }
    }
    values.set(key, value)
  }
  const out: Record<string, unknown> = {}
  for (const key of [...values.keys()].sort(compareCodePoints)) setKey(out, key, values.get(key))
  return out
}

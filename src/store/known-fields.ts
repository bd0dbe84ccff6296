/**
 * The fields each core/v1 kind Shoal serves has, as in k8s.io/api@v0.32 `core/v1/types.go` and
 * apimachinery's `ObjectMeta`, so the API can do what Kubernetes' decoder does with a field the
 * type does not have: with `fieldValidation=Strict` reject the request
 * (`strict decoding error: unknown field "spec.replica"`), with `Warn` or `Ignore` drop the field.
 *
 * The schema is declarative and only as deep as unknown-field detection needs: a leaf is a scalar,
 * a list of scalars, a map with arbitrary keys (labels, selector, data…) or a free-form subtree
 * (status, affinity, securityContext…); nothing under a leaf is checked. Wrong JSON types are
 * validation's business, not this module's: where an object or a list is expected and something
 * else is there, it is skipped.
 */

// ---------------------------------------------------------------------------------------------
// The schema language
// ---------------------------------------------------------------------------------------------

/** A leaf: nothing under it is checked. */
type Leaf = 'scalar' | 'map' | 'any'
/** An object with exactly these fields. */
interface Fields {
  readonly [field: string]: Schema
}
/** A list whose items all have the one schema. */
type ListOf = readonly [Schema]
type Schema = Leaf | Fields | ListOf

/** A string, number or boolean, or a list of them. */
const S: Leaf = 'scalar'
/** A string-keyed map that takes any keys. */
const MAP: Leaf = 'map'
/** A free-form subtree. */
const ANY: Leaf = 'any'

const list = (item: Schema): ListOf => [item]

/** Each of the space-separated `names` with the one `schema`. */
function each(names: string, schema: Schema): Fields {
  return Object.fromEntries(
    names
      .split(/\s+/)
      .filter(Boolean)
      .map((name) => [name, schema]),
  )
}

/** An object whose space-separated `scalars` are scalars and whose `typed` fields are as given. */
const obj = (scalars: string, typed: Fields = {}): Fields => ({ ...each(scalars, S), ...typed })

const isList = (schema: Schema): schema is ListOf => Array.isArray(schema)

// ---------------------------------------------------------------------------------------------
// Metadata and references
// ---------------------------------------------------------------------------------------------

const OwnerReference = obj('apiVersion kind name uid controller blockOwnerDeletion')

const ObjectMeta = obj(
  'name generateName namespace selfLink uid resourceVersion generation creationTimestamp ' +
    'deletionTimestamp deletionGracePeriodSeconds finalizers',
  { labels: MAP, annotations: MAP, ownerReferences: list(OwnerReference), managedFields: list(ANY) },
)

const ObjectReference = obj('kind namespace name uid apiVersion resourceVersion fieldPath')
const LocalObjectReference = obj('name')

// ---------------------------------------------------------------------------------------------
// PodSpec
// ---------------------------------------------------------------------------------------------

const KeyToPath = obj('key path mode')

const Volume: Fields = {
  name: S,
  hostPath: obj('path type'),
  emptyDir: obj('medium sizeLimit'),
  configMap: obj('name defaultMode optional', { items: list(KeyToPath) }),
  secret: obj('secretName defaultMode optional', { items: list(KeyToPath) }),
  persistentVolumeClaim: obj('claimName readOnly'),
  ...each(
    'gcePersistentDisk awsElasticBlockStore gitRepo nfs iscsi glusterfs rbd flexVolume cinder cephfs ' +
      'flocker downwardAPI fc azureFile vsphereVolume quobyte azureDisk photonPersistentDisk projected ' +
      'portworxVolume scaleIO storageos csi ephemeral image',
    ANY,
  ),
}

const ExecAction = obj('command')
const HTTPGetAction = obj('path port host scheme', { httpHeaders: list(obj('name value')) })
const TCPSocketAction = obj('port host')

const Probe = obj(
  'initialDelaySeconds timeoutSeconds periodSeconds successThreshold failureThreshold ' +
    'terminationGracePeriodSeconds',
  { exec: ExecAction, httpGet: HTTPGetAction, tcpSocket: TCPSocketAction, grpc: obj('port service') },
)

const LifecycleHandler: Fields = {
  exec: ExecAction,
  httpGet: HTTPGetAction,
  tcpSocket: TCPSocketAction,
  sleep: obj('seconds'),
}

const ResourceRequirements: Fields = { limits: MAP, requests: MAP, claims: list(obj('name request')) }

const EnvVar = obj('name value', {
  valueFrom: {
    fieldRef: obj('apiVersion fieldPath'),
    resourceFieldRef: obj('containerName resource divisor'),
    configMapKeyRef: obj('name key optional'),
    secretKeyRef: obj('name key optional'),
  },
})

const EnvFromSource = obj('prefix', { configMapRef: obj('name optional'), secretRef: obj('name optional') })

const Container = obj(
  'name image command args workingDir restartPolicy terminationMessagePath terminationMessagePolicy ' +
    'imagePullPolicy stdin stdinOnce tty',
  {
    ports: list(obj('name hostPort containerPort protocol hostIP')),
    envFrom: list(EnvFromSource),
    env: list(EnvVar),
    resources: ResourceRequirements,
    resizePolicy: list(obj('resourceName restartPolicy')),
    volumeMounts: list(obj('name readOnly recursiveReadOnly mountPath subPath mountPropagation subPathExpr')),
    volumeDevices: list(obj('name devicePath')),
    livenessProbe: Probe,
    readinessProbe: Probe,
    startupProbe: Probe,
    lifecycle: { postStart: LifecycleHandler, preStop: LifecycleHandler },
    securityContext: ANY,
  },
)

const EphemeralContainer: Fields = { ...Container, targetContainerName: S }

const PodSpec = obj(
  'restartPolicy terminationGracePeriodSeconds activeDeadlineSeconds dnsPolicy serviceAccountName ' +
    'serviceAccount automountServiceAccountToken nodeName hostNetwork hostPID hostIPC ' +
    'shareProcessNamespace hostname subdomain schedulerName priorityClassName priority ' +
    'runtimeClassName enableServiceLinks preemptionPolicy setHostnameAsFQDN hostUsers',
  {
    volumes: list(Volume),
    initContainers: list(Container),
    containers: list(Container),
    ephemeralContainers: list(EphemeralContainer),
    nodeSelector: MAP,
    securityContext: ANY,
    imagePullSecrets: list(LocalObjectReference),
    affinity: ANY,
    tolerations: list(obj('key operator value effect tolerationSeconds')),
    hostAliases: list(obj('ip hostnames')),
    dnsConfig: obj('nameservers searches', { options: list(obj('name value')) }),
    readinessGates: list(obj('conditionType')),
    overhead: MAP,
    topologySpreadConstraints: list(ANY),
    os: obj('name'),
    schedulingGates: list(obj('name')),
    resourceClaims: list(obj('name resourceClaimName resourceClaimTemplateName')),
    resources: ResourceRequirements,
  },
)

// ---------------------------------------------------------------------------------------------
// The kinds
// ---------------------------------------------------------------------------------------------

const EndpointAddress = obj('ip hostname nodeName', { targetRef: ObjectReference })

/** A kind's top level: TypeMeta, ObjectMeta and the kind's own fields. */
const kind = (own: Fields): Fields => ({ apiVersion: S, kind: S, metadata: ObjectMeta, ...own })

const KINDS: ReadonlyMap<string, Fields> = new Map([
  ['Namespace', kind({ spec: obj('finalizers'), status: ANY })],
  ['Pod', kind({ spec: PodSpec, status: ANY })],
  [
    'ReplicationController',
    kind({
      spec: obj('replicas minReadySeconds', {
        selector: MAP,
        template: { metadata: ObjectMeta, spec: PodSpec },
      }),
      status: ANY,
    }),
  ],
  [
    'Service',
    kind({
      spec: obj(
        'clusterIP clusterIPs type externalIPs sessionAffinity loadBalancerIP loadBalancerSourceRanges ' +
          'externalName externalTrafficPolicy healthCheckNodePort publishNotReadyAddresses ipFamilies ' +
          'ipFamilyPolicy allocateLoadBalancerNodePorts loadBalancerClass internalTrafficPolicy ' +
          'trafficDistribution',
        {
          ports: list(obj('name protocol appProtocol port targetPort nodePort')),
          selector: MAP,
          sessionAffinityConfig: { clientIP: obj('timeoutSeconds') },
        },
      ),
      status: ANY,
    }),
  ],
  [
    'Endpoints',
    kind({
      subsets: list({
        addresses: list(EndpointAddress),
        notReadyAddresses: list(EndpointAddress),
        ports: list(obj('name port protocol appProtocol')),
      }),
    }),
  ],
  [
    'Node',
    kind({
      spec: obj('podCIDR podCIDRs providerID unschedulable externalID', {
        taints: list(obj('key value effect timeAdded')),
        configSource: { configMap: obj('namespace name uid resourceVersion kubeletConfigKey') },
      }),
      status: ANY,
    }),
  ],
  [
    'Event',
    kind(
      obj(
        'reason message firstTimestamp lastTimestamp count type eventTime action reportingComponent ' +
          'reportingInstance',
        {
          involvedObject: ObjectReference,
          source: obj('component host'),
          series: obj('count lastObservedTime'),
          related: ObjectReference,
        },
      ),
    ),
  ],
  ['ConfigMap', kind({ data: MAP, binaryData: MAP, immutable: S })],
])

// ---------------------------------------------------------------------------------------------
// Walking objects against the schema
// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>

/** A plain JSON object (not a list, nor a Date or other class instance). */
function isObject(value: unknown): value is Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function collect(value: unknown, schema: Schema, path: string, out: string[]): void {
  if (typeof schema === 'string') return
  if (isList(schema)) {
    if (Array.isArray(value))
      for (const [i, item] of value.entries()) collect(item, schema[0], `${path}[${i}]`, out)
    return
  }
  if (!isObject(value)) return
  for (const key of Object.keys(value)) {
    const fieldPath = path === '' ? key : `${path}.${key}`
    if (Object.hasOwn(schema, key)) collect(value[key], schema[key], fieldPath, out)
    else out.push(fieldPath)
  }
}

/** A deep copy of a JSON value; other objects (a Date…) are shared. */
function copy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copy)
  if (!isObject(value)) return value
  const out: Json = {}
  for (const key of Object.keys(value)) setOwn(out, key, copy(value[key]))
  return out
}

/** `out[key] = value`, even for a key such as `__proto__` that JSON.parse makes an own property. */
function setOwn(out: Json, key: string, value: unknown): void {
  Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true })
}

function prune(value: unknown, schema: Schema): unknown {
  if (typeof schema === 'string') return copy(value)
  if (isList(schema)) return Array.isArray(value) ? value.map((item) => prune(item, schema[0])) : copy(value)
  if (!isObject(value)) return copy(value)
  const out: Json = {}
  for (const key of Object.keys(value))
    if (Object.hasOwn(schema, key)) setOwn(out, key, prune(value[key], schema[key]))
  return out
}

// ---------------------------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------------------------

/** Whether `kind` is one whose fields this module knows. */
export function hasKnownFields(kind: string): boolean {
  return KINDS.has(kind)
}

/**
 * The Kubernetes-style paths (`spec.replica`, `spec.template.spec.containers[0].imagePullPolic`,
 * `metadata.labelz`) of every field of `obj` that a `kind` object does not have, in document order;
 * [] for a kind this module does not know, or when `obj` is not an object.
 */
export function unknownFields(obj: unknown, kind: string): string[] {
  const schema = KINDS.get(kind)
  const out: string[] = []
  if (schema) collect(obj, schema, '', out)
  return out
}

/**
 * A deep copy of `obj` without the fields `unknownFields` reports; `obj` itself is never mutated.
 * For a kind this module does not know, a plain deep copy.
 */
export function pruneUnknownFields<T>(obj: T, kind: string): T {
  const schema = KINDS.get(kind)
  return (schema ? prune(obj, schema) : copy(obj)) as T
}

/**
 * The message Kubernetes' strict decoder gives for these unknown fields:
 * `strict decoding error: unknown field "spec.replica", unknown field "metadata.labelz"`.
 */
export function strictDecodingMessage(paths: readonly string[]): string {
  return `strict decoding error: ${paths.map((path) => `unknown field "${path}"`).join(', ')}`
}

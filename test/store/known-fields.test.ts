import '../../src/util/polyfill.js'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import {
  hasKnownFields,
  pruneUnknownFields,
  strictDecodingMessage,
  unknownFields,
} from '../../src/store/known-fields.js'

type Obj = Record<string, unknown>

const KINDS = [
  'Namespace',
  'Pod',
  'ReplicationController',
  'Service',
  'Endpoints',
  'Node',
  'Event',
  'ConfigMap',
]

function guestbookDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  for (const dir of [
    process.env.SHOAL_GUESTBOOK_DIR,
    resolve(here, '../../../examples/guestbook'),
    resolve(here, '../../../../examples/guestbook'),
    '/work/shared/examples/guestbook',
  ])
    if (dir && existsSync(dir)) return dir
  throw new Error('guestbook manifests not found; set SHOAL_GUESTBOOK_DIR')
}

/** A realistic Pod that uses most of PodSpec, as the API server would store it. */
function fullPod(): Obj {
  const probe = (handler: Obj): Obj => ({
    ...handler,
    initialDelaySeconds: 5,
    timeoutSeconds: 1,
    periodSeconds: 10,
    successThreshold: 1,
    failureThreshold: 3,
    terminationGracePeriodSeconds: 30,
  })
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web-0',
      generateName: 'web-',
      namespace: 'default',
      selfLink: '/api/v1/namespaces/default/pods/web-0',
      uid: '0b8f3d1e-3c3a-4a8c-9d8e-2f0c6a1b2c3d',
      resourceVersion: '42',
      generation: 1,
      creationTimestamp: '2026-11-25T12:00:00Z',
      deletionTimestamp: '2026-11-25T12:05:00Z',
      deletionGracePeriodSeconds: 30,
      labels: { app: 'web', 'app.kubernetes.io/name': 'web' },
      annotations: { 'example.com/anything': 'goes', note: 'x' },
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'ReplicationController',
          name: 'web',
          uid: 'a1b2',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      finalizers: ['example.com/cleanup'],
      managedFields: [
        {
          manager: 'kubectl',
          operation: 'Apply',
          apiVersion: 'v1',
          time: '2026-11-25T12:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app': {} } } },
        },
      ],
    },
    spec: {
      volumes: [
        { name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
        { name: 'host', hostPath: { path: '/var/log', type: 'Directory' } },
        {
          name: 'config',
          configMap: {
            name: 'web-config',
            items: [{ key: 'a', path: 'a.conf', mode: 0o644 }],
            defaultMode: 420,
          },
        },
        { name: 'tls', secret: { secretName: 'web-tls', optional: true, defaultMode: 256 } },
        { name: 'data', persistentVolumeClaim: { claimName: 'web-data', readOnly: false } },
        { name: 'nfs', nfs: { server: 'nfs.local', path: '/exports', readOnly: true } },
        {
          name: 'projected',
          projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600 } }] },
        },
        {
          name: 'downward',
          downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] },
        },
        { name: 'csi', csi: { driver: 'example.csi', volumeAttributes: { anything: 'x' } } },
      ],
      initContainers: [
        {
          name: 'init',
          image: 'busybox:1.36',
          command: ['sh', '-c'],
          args: ['echo hello'],
          restartPolicy: 'Always',
          volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
        },
      ],
      containers: [
        {
          name: 'web',
          image: 'nginx:1.27',
          imagePullPolicy: 'IfNotPresent',
          command: ['nginx'],
          args: ['-g', 'daemon off;'],
          workingDir: '/srv',
          ports: [{ name: 'http', containerPort: 80, hostPort: 8080, protocol: 'TCP', hostIP: '0.0.0.0' }],
          envFrom: [
            { prefix: 'CFG_', configMapRef: { name: 'web-config', optional: true } },
            { secretRef: { name: 'web-secrets' } },
          ],
          env: [
            { name: 'PLAIN', value: 'x' },
            { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
            {
              name: 'CPU_LIMIT',
              valueFrom: {
                resourceFieldRef: { containerName: 'web', resource: 'limits.cpu', divisor: '1m' },
              },
            },
            {
              name: 'MODE',
              valueFrom: { configMapKeyRef: { name: 'web-config', key: 'mode', optional: false } },
            },
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'web-secrets', key: 'password' } } },
          ],
          resources: {
            limits: { cpu: '500m', memory: '256Mi', 'example.com/gpu': '1' },
            requests: { cpu: '100m', memory: '128Mi' },
            claims: [{ name: 'gpu', request: 'one' }],
          },
          resizePolicy: [{ resourceName: 'cpu', restartPolicy: 'NotRequired' }],
          volumeMounts: [
            {
              name: 'config',
              mountPath: '/etc/web',
              readOnly: true,
              recursiveReadOnly: 'Disabled',
              subPath: '',
              mountPropagation: 'None',
              subPathExpr: '',
            },
          ],
          volumeDevices: [{ name: 'raw', devicePath: '/dev/xvda' }],
          livenessProbe: probe({
            httpGet: {
              path: '/healthz',
              port: 'http',
              host: '127.0.0.1',
              scheme: 'HTTP',
              httpHeaders: [{ name: 'X-Probe', value: 'liveness' }],
            },
          }),
          readinessProbe: probe({ tcpSocket: { port: 80, host: 'localhost' } }),
          startupProbe: probe({ exec: { command: ['cat', '/tmp/ready'] } }),
          lifecycle: {
            postStart: { exec: { command: ['touch', '/tmp/started'] } },
            preStop: { sleep: { seconds: 5 } },
          },
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          securityContext: { runAsNonRoot: true, capabilities: { drop: ['ALL'] }, whatever: 1 },
          stdin: false,
          stdinOnce: false,
          tty: false,
        },
        {
          name: 'grpc',
          image: 'example/grpc:1',
          livenessProbe: { grpc: { port: 9090, service: 'health' } },
        },
      ],
      ephemeralContainers: [
        { name: 'debug', image: 'busybox', targetContainerName: 'web', stdin: true, tty: true },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      activeDeadlineSeconds: 3600,
      dnsPolicy: 'ClusterFirst',
      nodeSelector: { 'kubernetes.io/os': 'linux', disktype: 'ssd' },
      serviceAccountName: 'web',
      serviceAccount: 'web',
      automountServiceAccountToken: false,
      nodeName: 'node-1',
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      shareProcessNamespace: false,
      securityContext: { fsGroup: 2000, seccompProfile: { type: 'RuntimeDefault' } },
      imagePullSecrets: [{ name: 'regcred' }],
      hostname: 'web-0',
      subdomain: 'web',
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }],
          },
        },
      },
      schedulerName: 'default-scheduler',
      tolerations: [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
        { key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoSchedule' },
      ],
      hostAliases: [{ ip: '127.0.0.1', hostnames: ['foo.local'] }],
      priorityClassName: 'high',
      priority: 1000,
      dnsConfig: {
        nameservers: ['1.1.1.1'],
        searches: ['svc.local'],
        options: [{ name: 'ndots', value: '2' }],
      },
      readinessGates: [{ conditionType: 'example.com/ready' }],
      runtimeClassName: 'runc',
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
      overhead: { cpu: '10m' },
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: {} },
      ],
      setHostnameAsFQDN: false,
      os: { name: 'linux' },
      hostUsers: true,
      schedulingGates: [{ name: 'example.com/gate' }],
      resourceClaims: [{ name: 'gpu', resourceClaimTemplateName: 'gpu-template' }],
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', anythingElse: 'is not checked' }],
      podIP: '10.0.0.5',
      madeUpStatusField: true,
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Nothing unknown in well-formed objects
// ---------------------------------------------------------------------------------------------

test('the guestbook manifests have no unknown fields', () => {
  const dir = guestbookDir()
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
  assert.is(files.length, 5)
  for (const file of files) {
    const manifest = parse(readFileSync(join(dir, file), 'utf8')) as Obj
    assert.ok(hasKnownFields(manifest.kind as string), file)
    assert.equal(unknownFields(manifest, manifest.kind as string), [], file)
    assert.equal(pruneUnknownFields(manifest, manifest.kind as string), manifest, file)
  }
})

test('a realistic full Pod has no unknown fields', () => {
  const pod = fullPod()
  assert.equal(unknownFields(pod, 'Pod'), [])
  assert.equal(pruneUnknownFields(pod, 'Pod'), pod)
})

test('a Pod template in a ReplicationController is checked as a PodSpec', () => {
  const pod = fullPod()
  const rc = {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name: 'web' },
    spec: {
      replicas: 2,
      minReadySeconds: 5,
      selector: { app: 'web' },
      template: { metadata: pod.metadata, spec: pod.spec },
    },
    status: { replicas: 2, anything: 'goes' },
  }
  assert.equal(unknownFields(rc, 'ReplicationController'), [])
})

test('the other kinds, fully populated, have no unknown fields', () => {
  const objectRef = {
    kind: 'Pod',
    namespace: 'default',
    name: 'web-0',
    uid: 'u',
    apiVersion: 'v1',
    resourceVersion: '1',
    fieldPath: 'spec.containers{web}',
  }
  const address = { ip: '10.0.0.5', hostname: 'web-0', nodeName: 'node-1', targetRef: objectRef }
  const objects: Obj[] = [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team-a' },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active', conditions: [] },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        ports: [
          {
            name: 'http',
            protocol: 'TCP',
            appProtocol: 'http',
            port: 80,
            targetPort: 'http',
            nodePort: 30080,
          },
        ],
        selector: { app: 'web', 'any/key': 'v' },
        clusterIP: '10.96.0.10',
        clusterIPs: ['10.96.0.10'],
        type: 'LoadBalancer',
        externalIPs: ['192.0.2.1'],
        sessionAffinity: 'ClientIP',
        loadBalancerIP: '192.0.2.2',
        loadBalancerSourceRanges: ['0.0.0.0/0'],
        externalName: '',
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 30000,
        publishNotReadyAddresses: false,
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
        ipFamilies: ['IPv4'],
        ipFamilyPolicy: 'SingleStack',
        allocateLoadBalancerNodePorts: true,
        loadBalancerClass: 'example.com/lb',
        internalTrafficPolicy: 'Cluster',
        trafficDistribution: 'PreferClose',
      },
      status: { loadBalancer: { ingress: [{ ip: '192.0.2.2' }] } },
    },
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'web', namespace: 'default' },
      subsets: [
        {
          addresses: [address],
          notReadyAddresses: [address],
          ports: [{ name: 'http', port: 80, protocol: 'TCP', appProtocol: 'http' }],
        },
      ],
    },
    {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1' } },
      spec: {
        podCIDR: '10.244.1.0/24',
        podCIDRs: ['10.244.1.0/24'],
        providerID: 'shoal://node-1',
        unschedulable: false,
        taints: [{ key: 'k', value: 'v', effect: 'NoSchedule', timeAdded: '2026-11-25T12:00:00Z' }],
        configSource: {
          configMap: {
            namespace: 'kube-system',
            name: 'kubelet',
            uid: 'u',
            resourceVersion: '1',
            kubeletConfigKey: 'k',
          },
        },
        externalID: 'legacy',
      },
      status: { capacity: { cpu: '4' }, addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'web-0.1', namespace: 'default' },
      involvedObject: objectRef,
      reason: 'Started',
      message: 'Started container web',
      source: { component: 'kubelet', host: 'node-1' },
      firstTimestamp: '2026-11-25T12:00:00Z',
      lastTimestamp: '2026-11-25T12:00:00Z',
      count: 1,
      type: 'Normal',
      eventTime: null,
      series: { count: 2, lastObservedTime: '2026-11-25T12:00:00.000000Z' },
      action: 'Start',
      related: objectRef,
      reportingComponent: 'kubelet',
      reportingInstance: 'node-1',
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'web-config', namespace: 'default' },
      data: { 'nginx.conf': 'events {}', mode: 'fast', '.hidden': 'x' },
      binaryData: { 'blob.bin': 'AAEC' },
      immutable: true,
    },
  ]
  for (const object of objects)
    assert.equal(unknownFields(object, object.kind as string), [], object.kind as string)
})

// ---------------------------------------------------------------------------------------------
// Typos at every depth
// ---------------------------------------------------------------------------------------------

test('typos are reported at every depth, with Kubernetes-style paths in document order', () => {
  const rc = {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadta: { name: 'x' },
    metadata: { name: 'web', labelz: { a: 'b' } },
    spec: {
      replica: 3,
      selector: { app: 'web' },
      template: {
        metadata: { labels: { app: 'web' }, annotation: {} },
        spec: {
          containers: [
            { name: 'ok', image: 'nginx' },
            {
              name: 'web',
              image: 'nginx',
              imagePullPolic: 'Always',
              ports: [{ containerPort: 80 }, { containerport: 81 }],
              env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k', optinal: true } } }],
              livenessProbe: {
                httpGet: { path: '/', port: 80, httpHeaders: [{ name: 'a', value: 'b', x: 1 }] },
              },
              resources: { limit: { cpu: '1' } },
            },
          ],
          volumes: [
            { name: 'v', emptyDir: { medium: '', sizelimit: '1Gi' } },
            { name: 'w', emptyDirr: {} },
          ],
          restartpolicy: 'Always',
        },
      },
    },
  }
  assert.equal(unknownFields(rc, 'ReplicationController'), [
    'metadta',
    'metadata.labelz',
    'spec.replica',
    'spec.template.metadata.annotation',
    'spec.template.spec.containers[1].imagePullPolic',
    'spec.template.spec.containers[1].ports[1].containerport',
    'spec.template.spec.containers[1].env[0].valueFrom.secretKeyRef.optinal',
    'spec.template.spec.containers[1].livenessProbe.httpGet.httpHeaders[0].x',
    'spec.template.spec.containers[1].resources.limit',
    'spec.template.spec.volumes[0].emptyDir.sizelimit',
    'spec.template.spec.volumes[1].emptyDirr',
    'spec.template.spec.restartpolicy',
  ])
})

test('typos in the other kinds', () => {
  assert.equal(
    unknownFields(
      { kind: 'Service', spec: { ports: [{ port: 80, targetport: 8080 }], clusterIp: 'None', selector: {} } },
      'Service',
    ),
    ['spec.ports[0].targetport', 'spec.clusterIp'],
  )
  assert.equal(
    unknownFields(
      { subsets: [{ addresses: [{ ip: '10.0.0.1', targetRef: { kind: 'Pod', nam: 'x' } }] }] },
      'Endpoints',
    ),
    ['subsets[0].addresses[0].targetRef.nam'],
  )
  assert.equal(unknownFields({ spec: { taints: [{ key: 'k', efect: 'NoSchedule' }] } }, 'Node'), [
    'spec.taints[0].efect',
  ])
  assert.equal(unknownFields({ source: { component: 'c', hots: 'h' }, reasons: 'r' }, 'Event'), [
    'source.hots',
    'reasons',
  ])
  assert.equal(unknownFields({ data: {}, spec: {} }, 'ConfigMap'), ['spec'])
  assert.equal(unknownFields({ spec: { finalizers: [], finalizer: [] } }, 'Namespace'), ['spec.finalizer'])
  assert.equal(unknownFields({ metadata: { ownerReferences: [{ uid: 'u', controler: true }] } }, 'Pod'), [
    'metadata.ownerReferences[0].controler',
  ])
})

test('the message matches the strict decoder', () => {
  assert.is(
    strictDecodingMessage(['spec.replica', 'spec.template.spec.containers[0].imagePullPolic']),
    'strict decoding error: unknown field "spec.replica", unknown field ' +
      '"spec.template.spec.containers[0].imagePullPolic"',
  )
})

// ---------------------------------------------------------------------------------------------
// Maps, free-form subtrees and wrong types
// ---------------------------------------------------------------------------------------------

test('maps take arbitrary keys and free-form subtrees are not checked', () => {
  const pod = {
    metadata: { labels: { 'weird key!': 'x', spec: 'y' }, annotations: { '': '', constructor: 'c' } },
    spec: {
      nodeSelector: { anything: 'x', hasOwnProperty: 'y' },
      affinity: { madeUp: { deeper: [{ stillFine: true }] } },
      securityContext: { notARealField: 1 },
      containers: [
        { name: 'c', resources: { limits: { 'vendor.example/thing': '1' } }, securityContext: { z: 1 } },
      ],
      volumes: [{ name: 'p', projected: { whatever: { deep: 1 } } }],
      topologySpreadConstraints: [{ anything: 1 }],
    },
    status: { made: { up: true } },
  }
  assert.equal(unknownFields(pod, 'Pod'), [])
  assert.equal(
    unknownFields({ spec: { selector: { foo: 'bar', 'a.b/c': 'd' } } }, 'ReplicationController'),
    [],
  )
  assert.equal(unknownFields({ data: { toString: 'x', hasOwnProperty: 'y' } }, 'ConfigMap'), [])
})

test('names of Object.prototype members are unknown fields, not known ones', () => {
  const pod = JSON.parse('{"constructor":1,"spec":{"toString":2,"__proto__":{"containers":[]}}}')
  assert.equal(unknownFields(pod, 'Pod'), ['constructor', 'spec.toString', 'spec.__proto__'])
  assert.equal(pruneUnknownFields(pod, 'Pod'), { spec: {} })
  assert.is(Object.getPrototypeOf((pruneUnknownFields(pod, 'Pod') as Obj).spec), Object.prototype)
  const labels = JSON.parse('{"metadata":{"labels":{"__proto__":"x"}}}')
  const pruned = pruneUnknownFields(labels, 'Pod') as { metadata: { labels: Obj } }
  assert.equal(Object.keys(pruned.metadata.labels), ['__proto__'])
  assert.is(Object.getPrototypeOf(pruned.metadata.labels), Object.prototype)
})

test('wrong JSON types are skipped, not reported', () => {
  const pod = {
    metadata: 'not an object',
    spec: {
      containers: { name: 'not a list' },
      volumes: ['not an object', null, 3, [{ bogus: 1 }]],
      initContainers: [{ name: 'i', ports: 'nope', env: [{ name: 'A', valueFrom: 'x' }] }],
      dnsConfig: [{ bogus: 1 }],
    },
  }
  assert.equal(unknownFields(pod, 'Pod'), [])
  assert.equal(pruneUnknownFields(pod, 'Pod'), pod)
  for (const notAnObject of [null, undefined, 'Pod', 42, true, [{ bogus: 1 }]])
    assert.equal(unknownFields(notAnObject, 'Pod'), [], String(notAnObject))
})

// ---------------------------------------------------------------------------------------------
// Pruning
// ---------------------------------------------------------------------------------------------

test('prune removes exactly the unknown fields and leaves the input intact', () => {
  const input = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', labelz: { a: 'b' }, labels: { a: 'b' } },
    spec: {
      restartpolicy: 'Never',
      containers: [
        {
          name: 'web',
          image: 'nginx',
          imagePullPolic: 'Always',
          ports: [{ containerPort: 80, containerport: 81 }],
          env: [{ name: 'A', value: '1', valu: '2' }],
          securityContext: { anything: 1 },
        },
      ],
      nodeSelector: { free: 'form' },
    },
    status: { phase: 'Pending', made: 'up' },
    extra: true,
  }
  const before = structuredClone(input)
  const found = unknownFields(input, 'Pod')
  assert.equal(found, [
    'metadata.labelz',
    'spec.restartpolicy',
    'spec.containers[0].imagePullPolic',
    'spec.containers[0].ports[0].containerport',
    'spec.containers[0].env[0].valu',
    'extra',
  ])
  const pruned = pruneUnknownFields(input, 'Pod')
  assert.equal(pruned, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', labels: { a: 'b' } },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'nginx',
          ports: [{ containerPort: 80 }],
          env: [{ name: 'A', value: '1' }],
          securityContext: { anything: 1 },
        },
      ],
      nodeSelector: { free: 'form' },
    },
    status: { phase: 'Pending', made: 'up' },
  })
  assert.equal(input, before, 'the input is not mutated')
  assert.equal(unknownFields(pruned, 'Pod'), [])

  // A deep copy: changing the result leaves the input alone, even under maps and free-form subtrees.
  assert.is.not(pruned, input)
  ;(pruned.metadata.labels as Obj).a = 'changed'
  ;(pruned.spec.containers[0].securityContext as Obj).anything = 2
  ;(pruned.status as Obj).phase = 'Running'
  assert.equal(input, before, 'the copy shares nothing with the input')
})

test('prune keeps key order and everything it does not remove', () => {
  const svc = {
    kind: 'Service',
    spec: { selector: { b: '1', a: '2' }, ports: [{ port: 80, nam: 'x', name: 'http' }], type: 'ClusterIP' },
    metadata: { name: 's' },
  }
  const pruned = pruneUnknownFields(svc, 'Service')
  assert.equal(
    JSON.stringify(pruned),
    JSON.stringify({
      kind: 'Service',
      spec: { selector: { b: '1', a: '2' }, ports: [{ port: 80, name: 'http' }], type: 'ClusterIP' },
      metadata: { name: 's' },
    }),
  )
})

// ---------------------------------------------------------------------------------------------
// Kinds
// ---------------------------------------------------------------------------------------------

test('unknown kinds have no known fields: [] and a plain copy', () => {
  const obj = { apiVersion: 'apps/v1', kind: 'Deployment', spec: { replica: 3 } }
  for (const kind of ['Deployment', 'pod', '', 'constructor', '__proto__', 'toString']) {
    assert.not.ok(hasKnownFields(kind), kind)
    assert.equal(unknownFields(obj, kind), [], kind)
    const copy = pruneUnknownFields(obj, kind)
    assert.equal(copy, obj, kind)
    assert.is.not(copy, obj)
    assert.is.not(copy.spec, obj.spec)
  }
  for (const kind of KINDS) {
    assert.ok(hasKnownFields(kind), kind)
    assert.equal(
      unknownFields({ apiVersion: 'v1', kind, metadata: { name: 'x' }, bogus: 1 }, kind),
      ['bogus'],
      kind,
    )
  }
})

test.run()

/**
 * A store holding a small cluster for the DNS tests, written through the store's normal path:
 *
 *   default/web       ClusterIP, ports http/TCP 80, dns/UDP 53
 *   default/db        headless, port pg/TCP 5432; endpoints 10.244.1.5 (hostname db-0),
 *                     10.244.2.7 (pod db-1 with hostname/subdomain), 10.244.3.9 (no hostname)
 *                     and a not-ready 10.244.4.1
 *   default/empty     headless, no endpoints
 *   shop/cart         ClusterIP, one unnamed port (namespace shop)
 */

import { ControllerWorld } from '../controllers/support.js'

export async function clusterWorld(): Promise<ControllerWorld> {
  const w = new ControllerWorld()
  const svc = (name: string, spec: Record<string, unknown>, namespace = 'default') =>
    w.create(
      'services',
      { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec },
      namespace,
    )
  await svc('web', {
    clusterIP: '10.96.0.20',
    ports: [
      { name: 'http', port: 80, protocol: 'TCP' },
      { name: 'dns', port: 53, protocol: 'UDP' },
    ],
  })
  await svc('db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432, targetPort: 15432 }] })
  await svc('empty', { clusterIP: 'None', ports: [{ name: 'x', port: 1 }] })
  await w.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } })
  await svc('cart', { clusterIP: '10.96.0.30', ports: [{ port: 80 }] }, 'shop')
  const pod1 = await w.create('pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'db-1', namespace: 'default' },
    spec: { hostname: 'db-1', subdomain: 'db', containers: [{ name: 'c', image: 'pg:16' }] },
  })
  await w.create('endpoints', {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'db', namespace: 'default' },
    subsets: [
      {
        addresses: [
          { ip: '10.244.1.5', hostname: 'db-0' },
          {
            ip: '10.244.2.7',
            targetRef: { kind: 'Pod', namespace: 'default', name: 'db-1', uid: pod1.metadata.uid },
          },
          { ip: '10.244.3.9' },
        ],
        notReadyAddresses: [{ ip: '10.244.4.1' }],
        ports: [{ name: 'pg', port: 15432, protocol: 'TCP' }],
      },
    ],
  })
  return w
}

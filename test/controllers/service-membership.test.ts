import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ServiceMembership } from '../../src/controllers/service-membership.js'
import type { KubeObject } from '../../src/store/types.js'

const pod = (name: string, labels: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'ns', labels },
})
const svc = (name: string, selector?: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'ns' },
  spec: selector ? { selector } : {},
})

test('membership follows pods joining, moving and leaving, and services changing selector', () => {
  const m = new ServiceMembership()
  const web = svc('web', { app: 'web' })
  const db = svc('db', { app: 'db' })
  const bare = svc('bare')
  m.serviceChanged('ns/web', 'ns', web, [pod('a', { app: 'web' }), pod('b', { app: 'db' })])
  m.serviceChanged('ns/db', 'ns', db, [pod('a', { app: 'web' }), pod('b', { app: 'db' })])
  m.serviceChanged('ns/bare', 'ns', bare, [pod('a', { app: 'web' })])
  assert.equal(m.podsOf('ns/web'), ['ns/a'])
  assert.equal(m.podsOf('ns/db'), ['ns/b'])
  assert.equal(m.podsOf('ns/bare'), [], 'no selector: no pods')

  // A new pod wakes only the service selecting it.
  assert.equal([...m.podChanged('ns/c', pod('c', { app: 'web' }))], ['ns/web'])
  assert.equal([...m.podsOf('ns/web')].sort(), ['ns/a', 'ns/c'])
  // Relabelled from web to db: both are woken, and it moves.
  assert.equal([...m.podChanged('ns/c', pod('c', { app: 'db' }))].sort(), ['ns/db', 'ns/web'])
  assert.equal(m.podsOf('ns/web'), ['ns/a'])
  assert.equal([...m.podsOf('ns/db')].sort(), ['ns/b', 'ns/c'])
  // Deleted: its service is woken and forgets it.
  assert.equal([...m.podChanged('ns/c', null)], ['ns/db'])
  assert.equal(m.podsOf('ns/db'), ['ns/b'])
  // The service's selector changes: its pods are found again.
  const web2 = svc('web', { app: 'db' })
  m.serviceChanged('ns/web', 'ns', web2, [pod('a', { app: 'web' }), pod('b', { app: 'db' })])
  assert.equal(m.podsOf('ns/web'), ['ns/b'])
  assert.equal([...m.podChanged('ns/a', pod('a', { app: 'web', x: '1' }))], [])
  // The service is deleted: nothing left for it, and its pods no longer name it.
  m.serviceChanged('ns/web', 'ns', null, [])
  assert.equal(m.podsOf('ns/web'), [])
  assert.equal([...m.podChanged('ns/b', pod('b', { app: 'db' }))], ['ns/db'])
})

test.run()

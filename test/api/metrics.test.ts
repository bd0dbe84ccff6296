import '../../src/util/polyfill.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ApiMetrics } from '../../src/api/metrics.js'
import type { Raft } from '../../src/raft/raft.js'
import { ObjectStore } from '../../src/store/object-store.js'

const test = suite('API metrics (/metrics, Prometheus text)')

const raft = {
  stats: () => ({ term: 3, commitIndex: 41, appliedIndex: 40, state: 'leader' }),
} as unknown as Raft

test('requests are counted by verb, resource and code, with their latency', async () => {
  const metrics = new ApiMetrics()
  metrics.observe('post', '/api/v1/namespaces/default/configmaps', 201, 1.5)
  metrics.observe('POST', '/api/v1/namespaces/default/configmaps?dryRun=All', 201, 3)
  metrics.observe('POST', '/api/v1/namespaces/default/configmaps', 409, 2)
  metrics.observe('GET', '/api/v1/nodes/peer-1', 200, 0.2)
  metrics.observe('GET', '/api/v1/namespaces/default/pods/%2e%2e', 404, 0.1)
  metrics.observe('GET', '/shoal/v1/cluster', 200, 0.3)
  const text = await metrics.render(raft, new ObjectStore())
  const line = (prefix: string): string | undefined => text.split('\n').find((l) => l.startsWith(prefix))
  assert.is(
    line('shoal_apiserver_requests_total{verb="POST",resource="configmaps",code="201"}'),
    'shoal_apiserver_requests_total{verb="POST",resource="configmaps",code="201"} 2',
  )
  assert.is(
    line('shoal_apiserver_requests_total{verb="POST",resource="configmaps",code="409"}'),
    'shoal_apiserver_requests_total{verb="POST",resource="configmaps",code="409"} 1',
  )
  assert.ok(line('shoal_apiserver_requests_total{verb="GET",resource="nodes",code="200"} 1'))
  assert.ok(line('shoal_apiserver_requests_total{verb="GET",resource="pods",code="404"} 1'))
  assert.ok(line('shoal_apiserver_requests_total{verb="GET",resource="shoal",code="200"} 1'))
  // The histogram keeps verb and resource: three POSTs to configmaps, two of them within 2.5 ms.
  assert.ok(line('shoal_apiserver_request_duration_seconds_count{verb="POST",resource="configmaps"} 3'))
  assert.ok(
    line('shoal_apiserver_request_duration_seconds_bucket{le="0.0025",verb="POST",resource="configmaps"} 2'),
  )
  assert.ok(line('shoal_raft_commit_index 41'))
  assert.ok(line('shoal_raft_is_leader 1'))
})

test.run()

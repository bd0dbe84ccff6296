import '../../src/util/polyfill.js'
import { PassThrough } from 'node:stream'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { dockerClient, dockerSocketPath, probeDockerEngine } from '../../src/agent/docker-engine.js'
import { dockerTestOrSkip, TEST_IMAGE } from '../support/docker.js'

const dockerTest = await dockerTestOrSkip(test)

test('the socket path follows DOCKER_HOST', () => {
  assert.is(dockerSocketPath({}), '/var/run/docker.sock')
  assert.is(dockerSocketPath({ DOCKER_HOST: 'unix:///tmp/d.sock' }), '/tmp/d.sock')
})

test('a socket where nothing listens is reported unavailable, not thrown', async () => {
  const probe = await probeDockerEngine('/nonexistent/docker.sock', 500)
  assert.is(probe.available, false)
})

dockerTest('a busybox container echoes a line that its logs return, then is removed', async () => {
  const docker = dockerClient()
  const line = `hello from shoal ${process.pid}`
  const container = await docker.createContainer({
    Image: TEST_IMAGE,
    Cmd: ['echo', line],
    Labels: { 'io.shoal.test': 'docker-engine' },
  })
  try {
    await container.start()
    const { StatusCode } = await container.wait()
    assert.is(StatusCode, 0)
    const raw = await container.logs({ stdout: true, stderr: true, follow: false })
    // Without a TTY the engine multiplexes stdout and stderr; demux it as a client must.
    const stdout = new PassThrough()
    const chunks: Buffer[] = []
    stdout.on('data', (c: Buffer) => chunks.push(c))
    docker.modem.demuxStream(PassThrough.from([raw]) as never, stdout, new PassThrough())
    await new Promise((r) => setImmediate(r))
    assert.is(Buffer.concat(chunks).toString('utf8'), `${line}\n`)
  } finally {
    await container.remove({ force: true })
  }
  const left = await docker.listContainers({ all: true, filters: { label: ['io.shoal.test=docker-engine'] } })
  assert.is(left.length, 0)
})

test.run()

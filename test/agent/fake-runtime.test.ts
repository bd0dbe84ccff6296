import '../../src/util/polyfill.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import { FakeRuntime, FakeRuntimeHost, fakeCommand } from '../../src/agent/fake-runtime.js'
import { runtimeSuite } from './runtime-suite.js'

const host = new FakeRuntimeHost()
host.missingImages.add('nowhere/missing:1')
const scratch: string[] = []

runtimeSuite(
  test,
  {
    make: async (node) => new FakeRuntime(host, node),
    command: (program) => ({ command: fakeCommand(program) }),
    execCommand: (output, exitCode) => fakeCommand({ print: [output], exitCode }),
    image: 'shoal-test/busybox:latest',
    podSubnet: '10.244.7.0/24',
    missingImage: 'nowhere/missing:1',
    scratchDir: () => {
      const d = mkdtempSync(join(tmpdir(), 'shoal-fake-'))
      scratch.push(d)
      return d
    },
    cleanup: async () => {
      for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true })
    },
  },
  'fake-node',
)

test.run()

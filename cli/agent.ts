/** `shoal agent`: the daemon. Runs until SIGTERM (leaves the cluster cleanly) or SIGINT. */

import { Option } from 'clipanion'
import * as t from 'typanion'
import type { PeerDaemonOptions } from '../src/daemon/peer-daemon.js'
import { CommandUsageError, ShoalCommand } from './shoal-command.js'

export class AgentCommand extends ShoalCommand {
  static override paths = [['agent']]
  static override usage = ShoalCommand.Usage({
    description: 'run a Shoal peer (the daemon every machine runs)',
    details: `
      Peers find each other over libp2p, form one Raft cluster and keep a leader. The first
      peer creates the cluster secret; every other peer needs a copy of it (--secret-file).
      SIGTERM leaves the cluster cleanly (leadership handed over, membership removed).
    `,
    examples: [
      ['First peer of a three-peer cluster', 'shoal agent --data-dir /var/lib/shoal --bootstrap-expect 3'],
      [
        'Another peer',
        'shoal agent --data-dir /var/lib/shoal --join 10.0.0.1:7400 --bootstrap-expect 3 --secret-file /etc/shoal/secret',
      ],
      ['A single-machine cluster', 'shoal agent --data-dir ./data --bootstrap-expect 1'],
    ],
  })

  dataDir = Option.String('--data-dir', './shoal-data', { description: 'where this peer keeps its state' })
  name = Option.String('--name', { description: "this peer's name (default: the hostname)" })
  p2p = Option.String('--p2p', '/ip4/0.0.0.0/tcp/7400', {
    description: 'multiaddr (or host:port) to listen on for peers',
  })
  api = Option.String('--api', '127.0.0.1:6443', { description: 'host:port of the API' })
  join = Option.Array('--join', [], { description: 'a peer to join: host:port or a multiaddr (repeatable)' })
  bootstrapExpect = Option.String('--bootstrap-expect', '0', {
    description: 'wait for this many peers, then form the cluster (1: a single-machine cluster)',
    validator: t.isNumber(),
  })
  runtime = Option.String('--runtime', 'auto', {
    description:
      'auto (Docker when an engine answers, else process), docker, process, or fake (runs nothing: simulations)',
  })
  secretFile = Option.String('--secret-file', {
    description: 'the cluster secret (created by the first peer when absent)',
  })
  mdns = Option.Boolean('--mdns', false, { description: 'discover peers on the LAN with mDNS' })
  controllers = Option.String('--controllers', 'all', {
    description:
      'the controllers this peer runs when it leads: all, none, or a list (scheduler,replication,node-lifecycle,endpoints,garbage-collector)',
  })
  nodeMonitorGracePeriod = Option.String('--node-monitor-grace-period', '5', {
    description: 'seconds without a heartbeat after which a node is NotReady',
    validator: t.isNumber(),
  })
  podEvictionTimeout = Option.String('--pod-eviction-timeout', '2', {
    description: 'seconds a node stays NotReady before its pods are deleted (and replaced elsewhere)',
    validator: t.isNumber(),
  })
  removeDeadAfter = Option.String('--remove-dead-after', '600', {
    description: 'seconds after which a silent peer is removed from the cluster',
    validator: t.isNumber(),
  })

  serviceCidr = Option.String('--service-cidr', '10.96.0.0/12', {
    description: "the cluster's service range (cluster IPs; the same on every peer)",
  })
  podCidr = Option.String('--pod-cidr', '10.244.0.0/16', {
    description: "the cluster's pod range, a /24 per node (the same on every peer)",
  })
  clusterDomain = Option.String('--cluster-domain', 'cluster.local', {
    description: 'the DNS domain of services and pods',
  })
  serviceProxy = Option.Boolean('--service-proxy', true, {
    description: 'serve cluster IPs, NodePorts and the cluster DNS on this peer (--no-service-proxy: not)',
  })
  proxyMode = Option.String('--proxy-mode', 'auto', {
    description:
      "TCP services' data path: iptables (kernel rules; needs root), userspace (this process), auto (iptables when it can)",
  })

  simulatedNodes = Option.String('--simulated-nodes', '0', {
    description: 'also run N simulated nodes on the fake runtime in this process (benchmarks)',
    validator: t.isNumber(),
  })

  async run(): Promise<number> {
    if (!['auto', 'docker', 'process', 'fake'].includes(this.runtime)) {
      throw new CommandUsageError(`--runtime ${this.runtime}: expected auto, docker, process or fake`)
    }
    if (!['auto', 'iptables', 'userspace'].includes(this.proxyMode)) {
      throw new CommandUsageError(`--proxy-mode ${this.proxyMode}: expected auto, iptables or userspace`)
    }
    if (!Number.isInteger(this.simulatedNodes) || this.simulatedNodes < 0 || this.simulatedNodes > 1000)
      throw new CommandUsageError('--simulated-nodes: expected 0 to 1000')
    if (!(this.removeDeadAfter > 0)) throw new CommandUsageError('--remove-dead-after must be positive')
    if (!(this.nodeMonitorGracePeriod > 0))
      throw new CommandUsageError('--node-monitor-grace-period must be positive')
    if (!(this.podEvictionTimeout > 0)) throw new CommandUsageError('--pod-eviction-timeout must be positive')
    const log = this.logger()
    // Loaded here, not at the top: every other command starts without libp2p and LevelDB.
    const { DaemonConfigError, PeerDaemon } = await import('../src/daemon/peer-daemon.js')
    const options: PeerDaemonOptions = {
      dataDir: this.dataDir,
      name: this.name,
      p2p: this.p2p,
      api: this.api,
      join: this.join,
      bootstrapExpect: this.bootstrapExpect,
      runtime: this.runtime as 'auto' | 'docker' | 'process' | 'fake',
      secretFile: this.secretFile,
      mdns: this.mdns,
      removeDeadAfterMs: this.removeDeadAfter * 1000,
      ...(this.controllers === 'all'
        ? {}
        : {
            controllers: this.controllers === 'none' ? [] : this.controllers.split(',').map((x) => x.trim()),
          }),
      nodeMonitorGracePeriodMs: this.nodeMonitorGracePeriod * 1000,
      podEvictionTimeoutMs: this.podEvictionTimeout * 1000,
      serviceCidr: this.serviceCidr,
      podCidr: this.podCidr,
      clusterDomain: this.clusterDomain,
      noServiceProxy: !this.serviceProxy,
      proxyMode: this.proxyMode as 'auto' | 'iptables' | 'userspace',
      simulatedNodes: this.simulatedNodes,
      logger: log,
    }
    let daemon: InstanceType<typeof PeerDaemon>
    try {
      daemon = new PeerDaemon(options)
    } catch (err) {
      if (err instanceof DaemonConfigError) throw new CommandUsageError(err.message)
      throw err
    }
    // Listened for before starting: a signal that comes while the peer starts stops it once
    // started, cleanly, instead of killing it half-way (Node's default for SIGTERM).
    const signalled = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'))
      process.once('SIGINT', () => resolve('SIGINT'))
    })
    try {
      await daemon.start()
    } catch (err) {
      await daemon.stop(false).catch(() => {})
      if (err instanceof DaemonConfigError || (err as Error).name === 'AddressError')
        throw new CommandUsageError((err as Error).message)
      throw err
    }
    const signal = await signalled
    log.info({ signal }, signal === 'SIGTERM' ? 'leaving the cluster and stopping' : 'stopping')
    // SIGTERM is a deliberate departure: leave the cluster. SIGINT (Ctrl-C) just stops, as a
    // restart is the likely next step.
    await daemon.stop(signal === 'SIGTERM')
    return 0
  }
}

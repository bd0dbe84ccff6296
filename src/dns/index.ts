/**
 * dns: the cluster DNS every peer runs — `<svc>.<ns>.svc.cluster.local` A records (cluster IP,
 * or a headless service's ready endpoints), SRV for named ports, pod A records, NXDOMAIN for
 * unknown cluster names, and everything else relayed to the host's resolvers. Pods get it as
 * their resolver with the Kubernetes search path (src/agent/pod-dns.ts).
 *
 *   const conf = parseResolvConf(readFileSync('/etc/resolv.conf', 'utf8'))
 *   const dns = new ClusterDnsServer({ store, clock: new SystemClock(), logger, host: '10.96.0.10',
 *     port: 53, upstreams: upstreamsFromResolvConf(conf, ['10.96.0.10']) })
 *   await dns.start() // EADDRINUSE while another peer on this machine serves it: retry later
 */

export * from './cluster-records.js'
export * from './dns-message.js'
export * from './dns-server.js'
export * from './resolv-conf.js'
export * from './upstream-forwarder.js'

/**
 * proxy: the service proxy every peer runs — for each Service port, a listener on its cluster
 * IP (or NodePort) that forwards each new connection (TCP) or flow (UDP) to the next ready
 * endpoint, round-robin, with ClientIP session affinity. The daemon wires it to Endpoints.
 *
 *   const proxy = new TcpServiceProxy({ clock: new SystemClock() }, { host: '10.96.0.10', port: 80 })
 *   proxy.setBackends([{ host: '10.244.1.5', port: 8080 }, { host: '10.244.2.7', port: 8080 }])
 *   await proxy.start()
 *   proxy.setBackends([{ host: '10.244.2.7', port: 8080 }]) // live; open connections stay
 *   await proxy.stop()
 */

export * from './round-robin.js'
export * from './tcp-proxy.js'
export * from './udp-proxy.js'

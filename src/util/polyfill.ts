/**
 * The one polyfill module: every entry point imports it before anything else.
 *
 * libp2p 3 calls `Promise.withResolvers`, which Node.js only ships from v22; Shoal supports
 * Node.js >= 20, so we add it here when it is missing. Nothing else belongs in this file.
 */

interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const promiseCtor = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }

if (typeof promiseCtor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve']
      let reject!: Resolvers<T>['reject']
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

import 'reflect-metadata' // @peculiar/x509 (src/api/tls.ts) uses tsyringe, which needs Reflect metadata

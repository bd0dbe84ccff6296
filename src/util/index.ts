/**
 * util: the few things every other module may import — the clock, the random source, the
 * logger and the start/stop contract. Nothing here imports the rest of Shoal.
 *
 *   const clock = new ManualClock()
 *   const rng = new SeededRng(42)
 *   clock.setTimeout(() => console.log('fired at', clock.now()), rng.between(150, 300))
 *   clock.advance(300)
 *   const log = createLogger({ level: 'debug' }).child({ component: 'raft' })
 */

export * from './clock.js'
export * from './lifecycle.js'
export * from './logger.js'
export * from './random.js'

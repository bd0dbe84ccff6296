/**
 * One encrypted message per connection per run of code. Every send on a connection's Noise
 * stream became its own Noise message (a ChaCha20-Poly1305 cipher set up and torn down), its
 * own pnet XSalsa20 call and its own socket write — and a socket write to a loopback peer
 * costs ~40 µs of CPU on the VMs Shoal is measured on, whatever its size (the receiver's side
 * of loopback runs in the sender's system call). The Raft stream, the leader channel and
 * yamux's window updates send to the same connection in the same turn of the event loop (the
 * streams' own per-turn flushes run together: `defaultDefer` in coalesce.ts). Here the sends
 * of one synchronous run are queued on the stream's own write buffer and handed on together
 * from a microtask: one message, one XSalsa20 call, one socket write.
 *
 * How: `withCoalescedSends(noise())` wraps the connection encrypter; every connection it
 * secures gets a `send` of its own that queues and schedules the stream's own send loop
 * (`processSendQueue`, @libp2p/utils' `AbstractMessageStream`). Back-pressure is unchanged: a
 * stream that needs a drain, or is not writable, takes the library's own `send`. Checked by
 * test/p2p/connection-sends.test.ts against the installed version.
 */

import type { ConnectionEncrypter, MessageStream, SecuredConnection } from '@libp2p/interface'

/** The parts of @libp2p/utils' `AbstractMessageStream` the queueing uses. */
interface QueueingStream {
  send(data: unknown): boolean
  processSendQueue(): boolean
  writeBuffer: { append(data: unknown): void }
  writeStatus: string
  writableNeedsDrain: boolean
}

function isQueueingStream(stream: object): stream is QueueingStream {
  const s = stream as Partial<QueueingStream>
  return (
    typeof s.send === 'function' &&
    typeof s.processSendQueue === 'function' &&
    typeof s.writeBuffer?.append === 'function' &&
    typeof s.writeStatus === 'string' &&
    typeof s.writableNeedsDrain === 'boolean'
  )
}

/**
 * Makes `stream`'s sends of one synchronous run leave together, from a microtask. Throws when
 * the stream is not the library's message stream (it changed: the patch must be looked at).
 */
export function coalesceSends(stream: MessageStream): void {
  if (!isQueueingStream(stream))
    throw new Error(
      '@libp2p/utils: the secured connection is not an AbstractMessageStream (library changed?)',
    )
  const ownSend = stream.send
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    try {
      stream.processSendQueue()
    } catch {
      // The send loop aborted the stream with the error (its own handling); the connection's
      // 'close' event carries it. Nothing may escape a microtask.
    }
  }
  stream.send = (data: unknown): boolean => {
    if (stream.writeStatus !== 'writable' || stream.writableNeedsDrain) return ownSend.call(stream, data)
    stream.writeBuffer.append(data)
    if (!scheduled) {
      scheduled = true
      queueMicrotask(flush)
    }
    return true
  }
}

/** Wraps a connection encrypter's factory so that every connection it secures coalesces its sends. */
export function withCoalescedSends<C>(
  factory: (components: C) => ConnectionEncrypter,
): (components: C) => ConnectionEncrypter {
  return (components) => {
    const encrypter = factory(components)
    const secureInbound = encrypter.secureInbound.bind(encrypter)
    const secureOutbound = encrypter.secureOutbound.bind(encrypter)
    const coalesced = (secured: SecuredConnection): SecuredConnection => {
      coalesceSends(secured.connection)
      return secured
    }
    encrypter.secureInbound = async (connection, options) =>
      coalesced(await secureInbound(connection, options))
    encrypter.secureOutbound = async (connection, options) =>
      coalesced(await secureOutbound(connection, options))
    return encrypter
  }
}

/**
 * Small request/response protocols over libp2p: one stream per request, one JSON message
 * each way, each message a u32 length followed by UTF-8 JSON. For control traffic (peer
 * exchange, formation, requests to the leader) that is rare and small; Raft's own traffic
 * uses the binary, pipelined transport instead.
 */

import type { Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ShoalHost } from './host.js'

/** The largest control message accepted: past it the stream is aborted. */
export const MAX_JSON_MESSAGE_BYTES = 4 * 1024 * 1024

/**
 * A request to a peer failed: the peer is unreachable or too slow, it refused the request
 * ('remote', with its message), the bytes made no sense ('protocol'), too many requests were
 * outstanding ('overloaded', never sent), or the sender is closing ('closed').
 */
export class RpcError extends Error {
  override name = 'RpcError'
  constructor(
    message: string,
    readonly code: 'unreachable' | 'timeout' | 'remote' | 'protocol' | 'overloaded' | 'closed',
  ) {
    super(message)
  }
}

function chunkBytes(data: Uint8Array | { subarray(): Uint8Array }): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray()
}

/** Reads exactly one length-prefixed JSON message from a stream. */
export function readJsonMessage(stream: Stream, signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let buffered = new Uint8Array(0)
    const cleanup = (): void => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onAbort)
    }
    const onMessage = (e: Event): void => {
      const chunk = chunkBytes((e as unknown as { data: Uint8Array }).data)
      const next = new Uint8Array(buffered.length + chunk.length)
      next.set(buffered)
      next.set(chunk, buffered.length)
      buffered = next
      if (buffered.length < 4) return
      const len = new DataView(buffered.buffer, buffered.byteOffset, 4).getUint32(0)
      if (len > MAX_JSON_MESSAGE_BYTES) {
        cleanup()
        stream.abort(new Error('message too large'))
        reject(new RpcError(`message of ${len} bytes is over the limit`, 'protocol'))
        return
      }
      if (buffered.length < 4 + len) return
      cleanup()
      try {
        resolve(JSON.parse(new TextDecoder().decode(buffered.subarray(4, 4 + len))))
      } catch (err) {
        reject(new RpcError(`malformed message: ${(err as Error).message}`, 'protocol'))
      }
    }
    const onClose = (): void => {
      cleanup()
      reject(new RpcError('stream closed before a message arrived', 'unreachable'))
    }
    const onAbort = (): void => {
      cleanup()
      reject(new RpcError('timed out waiting for a message', 'timeout'))
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', onClose)
    signal.addEventListener('abort', onAbort)
  })
}

/** Writes one length-prefixed JSON message. */
export function writeJsonMessage(stream: Stream, message: unknown): void {
  const body = new TextEncoder().encode(JSON.stringify(message))
  const frame = new Uint8Array(4 + body.length)
  new DataView(frame.buffer).setUint32(0, body.length)
  frame.set(body, 4)
  stream.send(frame)
}

/** Sends `request` to `target` on `protocol` and returns the answer. */
export async function requestJson(
  host: ShoalHost,
  target: Multiaddr | Parameters<ShoalHost['dialProtocol']>[0],
  protocol: string,
  request: unknown,
  timeoutMs: number,
): Promise<unknown> {
  const signal = AbortSignal.timeout(timeoutMs)
  let stream: Stream
  try {
    stream = await host.dialProtocol(target, protocol, { signal })
  } catch (err) {
    throw new RpcError(
      `cannot reach peer: ${(err as Error).message}`,
      signal.aborted ? 'timeout' : 'unreachable',
    )
  }
  try {
    const answer = readJsonMessage(stream, signal)
    writeJsonMessage(stream, request)
    const reply = (await answer) as { error?: string }
    if (reply && typeof reply === 'object' && typeof reply.error === 'string')
      throw new RpcError(reply.error, 'remote')
    return reply
  } finally {
    stream.close().catch(() => stream.abort(new Error('close failed')))
  }
}

/** Serves `protocol`: each request gets the handler's answer, or `{ error }` when it throws. */
export async function handleJson(
  host: ShoalHost,
  protocol: string,
  handler: (request: unknown, remotePeer: string) => Promise<unknown>,
  timeoutMs = 30_000,
): Promise<void> {
  await host.handle(
    protocol,
    async (stream, connection) => {
      try {
        const request = await readJsonMessage(stream, AbortSignal.timeout(timeoutMs))
        let reply: unknown
        try {
          reply = await handler(request, connection.remotePeer.toString())
        } catch (err) {
          reply = { error: (err as Error).message }
        }
        writeJsonMessage(stream, reply ?? {})
        await stream.close()
      } catch {
        // A peer that hangs up or sends garbage only loses its own request.
        stream.abort(new Error('bad request'))
      }
    },
    { maxInboundStreams: 64 },
  )
}

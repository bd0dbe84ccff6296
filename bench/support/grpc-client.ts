/**
 * A minimal gRPC client for etcd's native API in the benchmarks: unary calls over one HTTP/2
 * connection per member (cleartext, prior knowledge), as etcd's own clients (clientv3,
 * etcdctl, its benchmark tool) make them, on the same node:http2 client the benchmarks use for
 * Shoal's API. Only what a put needs: the 5-byte message framing, `grpc-status` from the
 * trailers, and the protobuf encoding of `etcdserverpb.PutRequest` (key = 1, value = 2).
 */

import http2 from 'node:http2'
import { http2Session } from './http-client.js'

export interface GrpcAnswer {
  /** 0 when the call succeeded; a gRPC status code otherwise; -1 when no answer came. */
  grpcStatus: number
  message?: string
  /** Why no answer came: a Node error code or 'timeout'. */
  error?: string
}

/** One unary call; never throws. */
export function grpcUnary(
  origin: string,
  path: string,
  message: Uint8Array,
  timeoutMs: number,
): Promise<GrpcAnswer> {
  const frame = Buffer.alloc(5 + message.byteLength)
  frame.writeUInt32BE(message.byteLength, 1) // byte 0: not compressed
  frame.set(message, 5)
  return new Promise((resolve) => {
    let settled = false
    const finish = (answer: GrpcAnswer): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(answer)
    }
    let stream: http2.ClientHttp2Stream
    try {
      stream = http2Session(origin, undefined).request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
      })
    } catch (err) {
      finish({ grpcStatus: -1, error: (err as NodeJS.ErrnoException).code ?? 'ERR_HTTP2' })
      return
    }
    let status: string | undefined
    let statusMessage: string | undefined
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status'])
      if (h['grpc-message'] !== undefined) statusMessage = decodeURIComponent(String(h['grpc-message']))
    }
    stream.on('response', take) // a "trailers-only" answer carries its status here
    stream.on('trailers', take)
    stream.on('data', () => {}) // the reply message itself is not needed
    stream.on('end', () =>
      finish(
        status === undefined
          ? { grpcStatus: -1, error: 'no grpc-status' }
          : { grpcStatus: Number(status), ...(statusMessage ? { message: statusMessage } : {}) },
      ),
    )
    stream.on('error', (err: NodeJS.ErrnoException) =>
      finish({ grpcStatus: -1, error: err.code ?? err.name }),
    )
    const timer = setTimeout(() => {
      finish({ grpcStatus: -1, error: 'timeout' })
      stream.close(http2.constants.NGHTTP2_CANCEL)
    }, timeoutMs)
    stream.end(frame)
  })
}

/** `etcdserverpb.PutRequest{key, value}` in protobuf. */
export function encodeEtcdPut(key: string, value: string): Uint8Array {
  const k = Buffer.from(key)
  const v = Buffer.from(value)
  return Buffer.concat([bytesField(1, k), bytesField(2, v)])
}

function bytesField(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(bytes.byteLength), bytes])
}

function varint(n: number): Buffer {
  const out: number[] = []
  let v = n
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80)
    v >>>= 7
  }
  out.push(v)
  return Buffer.from(out)
}

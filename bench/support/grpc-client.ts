/**
 * A minimal gRPC client for etcd's native API in the benchmarks: unary calls over one HTTP/2
 * connection per member (cleartext, prior knowledge), as etcd's own clients (clientv3,
 * etcdctl, its benchmark tool) make them, on the same node:http2 client the benchmarks use for
 * Shoal's API. Only what a put needs: the 5-byte message framing, `grpc-status` from the
 * trailers, and the protobuf encoding of `etcdserverpb.PutRequest` (key = 1, value = 2).
 */

import { http2Exchange } from './http-client.js'

export interface GrpcAnswer {
  /** 0 when the call succeeded; a gRPC status code otherwise; -1 when no answer came. */
  grpcStatus: number
  message?: string
  /** Why no answer came: a Node error code or 'timeout'. */
  error?: string
}

/** One unary call; never throws. */
export async function grpcUnary(
  origin: string,
  path: string,
  message: Uint8Array,
  timeoutMs: number,
  /** PEM of the CA to trust, for an https: origin. */
  ca?: string,
): Promise<GrpcAnswer> {
  const frame = Buffer.alloc(5 + message.byteLength)
  frame.writeUInt32BE(message.byteLength, 1) // byte 0: not compressed
  frame.set(message, 5)
  const headers = { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' }
  const a = await http2Exchange(origin, ca, headers, frame, timeoutMs)
  if (a.error !== undefined) return { grpcStatus: -1, error: a.error }
  // A "trailers-only" answer carries its status in the headers. The reply message itself is
  // not needed.
  const status = a.trailers['grpc-status'] ?? a.headers['grpc-status']
  if (status === undefined) return { grpcStatus: -1, error: 'no grpc-status' }
  const statusMessage = a.trailers['grpc-message'] ?? a.headers['grpc-message']
  return {
    grpcStatus: Number(status),
    ...(statusMessage ? { message: decodeURIComponent(String(statusMessage)) } : {}),
  }
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

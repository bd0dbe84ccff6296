/**
 * DNS messages in and out, pure: decoding a query without trusting it, and encoding replies
 * (answers, errors, truncation to the client's UDP size). Built on dns-packet.
 */

import type { DecodedPacket, OptAnswer, Packet } from 'dns-packet'
import * as dnsPacket from 'dns-packet'
import { type ClusterAnswer, Rcode } from './cluster-records.js'

/** Response codes the server writes (never renumber: wire values). */
export const ResponseCode = { ...Rcode, FORMERR: 1, NOTIMP: 4 } as const

/** The largest UDP reply without EDNS (RFC 1035 4.2.1). */
export const CLASSIC_UDP_BYTES = 512
/**
 * The largest UDP reply the server sends even when a client offers more: the DNS flag day
 * 2020 value, which avoids IP fragmentation on ordinary paths.
 */
export const MAX_UDP_BYTES = 1232

const QR = 1 << 15
const AA = dnsPacket.AUTHORITATIVE_ANSWER
const TC = dnsPacket.TRUNCATED_RESPONSE
const RD = dnsPacket.RECURSION_DESIRED
const RA = dnsPacket.RECURSION_AVAILABLE

/** A query as the server handles it. */
export interface Query {
  packet: DecodedPacket
  /** The EDNS OPT record, if the client sent one. */
  opt: OptAnswer | undefined
}

/** Why a message is not a query the server answers. */
export type QueryProblem =
  /** Unreadable or a response: no reply at all (replying to garbage can feed a loop). */
  | { kind: 'drop' }
  /** Readable header but not a well-formed single-question query. */
  | { kind: 'error'; rcode: number; id: number; flags: number }

/** Decodes a query; never throws. */
export function decodeQuery(buf: Buffer): Query | QueryProblem {
  if (buf.length < 12) return { kind: 'drop' }
  const id = buf.readUInt16BE(0)
  const flags = buf.readUInt16BE(2)
  if ((flags & QR) !== 0) return { kind: 'drop' }
  const opcode = (flags >> 11) & 0xf
  if (opcode !== 0) return { kind: 'error', rcode: ResponseCode.NOTIMP, id, flags }
  let packet: DecodedPacket
  try {
    packet = dnsPacket.decode(buf)
  } catch {
    // dns-packet throws on truncated or inconsistent sections: the sender gets FORMERR.
    return { kind: 'error', rcode: ResponseCode.FORMERR, id, flags }
  }
  const questions = packet.questions ?? []
  if (questions.length !== 1 || typeof questions[0]?.name !== 'string')
    return { kind: 'error', rcode: ResponseCode.FORMERR, id, flags }
  const opt = (packet.additionals ?? []).find((r): r is OptAnswer => r.type === 'OPT')
  return { packet, opt }
}

/** How large a UDP reply to `query` may be. */
export function udpLimit(query: Query): number {
  const offered = query.opt?.udpPayloadSize ?? 0
  return Math.max(CLASSIC_UDP_BYTES, Math.min(offered, MAX_UDP_BYTES))
}

function responseFlags(requestFlags: number, rcode: number, authoritative: boolean): number {
  // Recursion is available: what is not ours is forwarded.
  return (requestFlags & RD) | RA | (authoritative ? AA : 0) | (rcode & 0xf)
}

function ourOpt(query: Query): OptAnswer[] {
  if (!query.opt) return []
  return [
    {
      name: '.',
      type: 'OPT',
      udpPayloadSize: MAX_UDP_BYTES,
      extendedRcode: 0,
      ednsVersion: 0,
      flags: 0,
      flag_do: false,
      options: [],
    },
  ]
}

/**
 * The reply to `query` from the cluster records. Over UDP (`limitBytes` set) a reply that
 * does not fit keeps only its header and question, with TC set, so the client retries over
 * TCP (RFC 2181 9: a partial RRset would be worse than none).
 */
export function encodeAnswer(query: Query, answer: ClusterAnswer, limitBytes?: number): Buffer {
  const packet: Packet = {
    type: 'response',
    id: query.packet.id ?? 0,
    flags: responseFlags(query.packet.flags ?? 0, answer.rcode, true),
    questions: query.packet.questions,
    answers: answer.answers,
    authorities: answer.authorities,
    additionals: [...answer.additionals, ...ourOpt(query)],
  }
  const full = dnsPacket.encode(packet)
  if (limitBytes === undefined || full.length <= limitBytes) return full
  // Additional records are optional: drop them first, then everything but the question.
  const lean = dnsPacket.encode({ ...packet, additionals: ourOpt(query) })
  if (lean.length <= limitBytes) return lean
  return dnsPacket.encode({
    ...packet,
    flags: (packet.flags ?? 0) | TC,
    answers: [],
    authorities: [],
    additionals: ourOpt(query),
  })
}

/** An error reply (SERVFAIL, REFUSED…) to a decoded query. */
export function encodeError(query: Query, rcode: number): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: query.packet.id ?? 0,
    flags: responseFlags(query.packet.flags ?? 0, rcode, false),
    questions: query.packet.questions,
    additionals: ourOpt(query),
  })
}

/** An error reply to a message whose header was readable but not the rest: header only. */
export function encodeHeaderError(problem: { id: number; flags: number; rcode: number }): Buffer {
  const buf = Buffer.alloc(12)
  buf.writeUInt16BE(problem.id, 0)
  // Keep the opcode and RD bit; QR set; the counts stay zero.
  buf.writeUInt16BE(QR | (problem.flags & 0x7800) | (problem.flags & RD) | (problem.rcode & 0xf), 2)
  return buf
}

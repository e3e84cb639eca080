/**
 * One query in, one response out (or none): header rules of RFC 1035 §4.1.1, EDNS(0) of
 * RFC 6891, truncation of RFC 1035 §4.2.1 / RFC 2181 §9. Pure; the transport is a parameter.
 */
import type { Zone } from "./zone.ts";
import {
  CLASS_IN,
  decodeMessage,
  type DnsMessage,
  encodeMessage,
  RCODE,
  type ResourceRecord,
  RR_TYPE,
} from "./wire.ts";

/** Largest UDP response without EDNS (RFC 1035 §4.2.1). */
const PLAIN_UDP_SIZE = 512;
/**
 * The UDP payload we advertise and never exceed: 1232 octets fit the IPv6 minimum MTU without
 * fragmentation (the DNS Flag Day 2020 value); larger answers go over TCP.
 */
export const EDNS_UDP_SIZE = 1232;
/** The DO bit in an OPT record's TTL field (RFC 3225 §3). */
const DO_BIT = 0x8000;

/** How the query came. */
export type Transport = "udp" | "tcp";

/**
 * The response to `query`, or undefined when none is due: fewer than 12 octets (no id to
 * answer to) or a message that is itself a response (answering those invites loops). With
 * `truncate` (a UDP query over the rate limit, see rate_limit.ts) an answer is sent as TC=1
 * with nothing in it, as if it had not fitted; error replies are empty already.
 */
export function respond(
  query: Uint8Array,
  zone: Zone,
  transport: Transport,
  truncate = false,
): Uint8Array | undefined {
  const decoded = decodeMessage(query);
  if (!decoded.ok) {
    if (!decoded.header) return undefined;
    if (query.length >= 3 && (query[2] & 0x80) !== 0) return undefined;
    return encodeMessage({
      ...decoded.header,
      ...EMPTY_REPLY,
      rcode: RCODE.FORMERR,
    });
  }
  const q = decoded.message;
  if (q.qr) return undefined;
  const opts = q.additional.filter((rr) => rr.type === RR_TYPE.OPT);
  const reply: DnsMessage = {
    id: q.id,
    opcode: q.opcode,
    rd: q.rd,
    ...EMPTY_REPLY,
    questions: q.questions.length === 1 ? q.questions : [],
  };
  // RFC 6891 §6.1.1: one OPT at most, owned by the root.
  if (opts.length > 1 || opts.some((o) => o.name !== "")) {
    return encodeMessage({ ...reply, rcode: RCODE.FORMERR });
  }
  const opt = opts[0];
  const limit = transport === "tcp"
    ? 0xffff
    : opt
    ? Math.min(Math.max(opt.class, PLAIN_UDP_SIZE), EDNS_UDP_SIZE)
    : PLAIN_UDP_SIZE;
  const withOpt = (extendedRcode = 0): ResourceRecord[] =>
    opt ? [replyOpt(extendedRcode, opt.ttl & DO_BIT)] : [];
  if (opt && ((opt.ttl >>> 16) & 0xff) !== 0) {
    // RFC 6891 §6.1.3: only version 0 exists; BADVERS is 16, its high 8 bits in the OPT.
    return encodeMessage({ ...reply, rcode: RCODE.BADVERS & 0xf, additional: withOpt(1) });
  }
  // RFC 1035 §4.1.1: opcodes other than QUERY (NOTIFY, UPDATE…) are not implemented here.
  if (q.opcode !== 0) {
    return encodeMessage({ ...reply, rcode: RCODE.NOTIMP, additional: withOpt() });
  }
  // RFC 9619: a query holds exactly one question.
  if (q.questions.length !== 1) {
    return encodeMessage({ ...reply, rcode: RCODE.FORMERR, additional: withOpt() });
  }
  const question = q.questions[0];
  // Other classes (CHAOS "version.bind"…) and zone transfers are refused: nothing to give.
  const transfer = question.type === RR_TYPE.AXFR || question.type === RR_TYPE.IXFR;
  if ((question.class !== CLASS_IN && question.class !== 255) || transfer) {
    return encodeMessage({ ...reply, rcode: RCODE.REFUSED, additional: withOpt() });
  }
  const found = zone.lookup(question.name, question.type);
  const full: DnsMessage = {
    ...reply,
    aa: found.authoritative,
    rcode: found.rcode,
    answers: found.answers,
    authority: found.authority,
    additional: [...found.additional, ...withOpt()],
  };
  const wire = encodeMessage(full);
  if (wire.length <= limit && !truncate) return wire;
  // RFC 2181 §9: TC=1 and nothing partial; the client asks again over TCP (RFC 7766 §5).
  return encodeMessage({ ...full, tc: true, answers: [], authority: [], additional: withOpt() });
}

/** The flags and sections every reply starts from: QR=1, RA=0 (no recursion here). */
const EMPTY_REPLY = {
  qr: true,
  aa: false,
  tc: false,
  ra: false,
  rcode: 0,
  questions: [],
  answers: [],
  authority: [],
  additional: [],
};

/** Our OPT record: the UDP size we accept, the extended rcode, version 0, DO echoed (RFC 3225 §3). */
function replyOpt(extendedRcode: number, doBit: number): ResourceRecord {
  return {
    name: "",
    type: RR_TYPE.OPT,
    class: EDNS_UDP_SIZE,
    ttl: ((extendedRcode & 0xff) << 24) | doBit,
    data: { kind: "raw", octets: new Uint8Array(0) },
  };
}

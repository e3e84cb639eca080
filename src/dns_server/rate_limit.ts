/**
 * Response rate limiting for UDP answers, after the idea of DNS RRL (Vixie and Schryver,
 * "DNS Response Rate Limiting", ISC technical note, 2012): an authoritative server can be made
 * to reflect amplified answers at a victim whose address a flood of queries forges, so answers
 * to one network are capped. Each client network (an IPv4 /24, an IPv6 /56: what one site is
 * usually given) has a token bucket refilled at `rate` answers a second, holding a second's
 * worth. A query that finds it empty is not answered, except every `slip`-th, which gets an
 * empty answer with TC=1 (RFC 1035 §4.1.1): a real resolver behind a forged flood then asks
 * again over TCP, which a forger cannot (TCP is not limited here), while the victim receives
 * nothing larger than the query. Simpler than RRL proper, which also keys on the question and
 * the kind of answer: one budget per network is enough for a zone this small.
 */
import { parseIpv4, parseIpv6 } from "./ip.ts";

/** Networks remembered at once; the least recently heard from is forgotten first. */
export const MAX_TRACKED_NETWORKS = 10_000;
/** One excess query in this many gets a truncated answer (BIND's default slip is 2 as well). */
export const SLIP = 2;

/** What to do with one query. */
export type RateDecision = "answer" | "slip" | "drop";

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (milliseconds). */
  at: number;
  /** Excess queries so far, for the slip count. */
  excess: number;
}

/** The buckets, one per client network, in a map bounded to `maxNetworks` entries. */
export class ResponseRateLimiter {
  readonly #buckets = new Map<string, Bucket>();

  constructor(
    /** Answers per second per network; 0 = no limit. Read per query, so SIGHUP applies. */
    private readonly rate: () => number,
    private readonly maxNetworks: number = MAX_TRACKED_NETWORKS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Networks tracked now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes a token for a query from `address` (as a socket reports it). */
  decide(address: string): RateDecision {
    const rate = this.rate();
    if (rate <= 0) return "answer";
    const key = networkOf(address);
    const now = this.now();
    const bucket = this.#buckets.get(key) ?? { tokens: rate, at: now, excess: 0 };
    // Delete and set again: the map's order is then the order networks were last heard from.
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > this.maxNetworks) {
      this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.excess = 0;
      return "answer";
    }
    bucket.excess++;
    return bucket.excess % SLIP === 0 ? "slip" : "drop";
  }
}

/**
 * The network a client address belongs to: "v4:a.b.c" for its /24, "v6:" and the first seven
 * octets in hex for its /56; an IPv4-mapped IPv6 address counts as the IPv4 one.
 */
export function networkOf(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const v4 = parseIpv4(mapped ? mapped[1] : address);
  if (v4) return `v4:${v4[0]}.${v4[1]}.${v4[2]}`;
  const v6 = parseIpv6(address.replace(/%.*$/, ""));
  if (v6) return `v6:${Array.from(v6.subarray(0, 7), (o) => o.toString(16)).join(":")}`;
  return `other:${address}`;
}

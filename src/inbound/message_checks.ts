/**
 * Checks of inbound mail on the MX listener: DKIM (RFC 6376), SPF (RFC 7208), DMARC (RFC 7489)
 * and ARC (RFC 8617), evaluated by mailauth — a well-kept library — with every DNS lookup going
 * through our resolver settings. The results become an `Authentication-Results:` header
 * (RFC 8601); the DMARC policy decides whether the message is delivered, filed as Junk, or
 * refused.
 *
 * The checks of one message have a time budget (`inbound.check_budget`): a lookup still
 * unanswered when it runs out fails as a timeout, which mailauth records as temperror
 * (RFC 8601 §2.7.1 and §2.7.2, RFC 7208 §2.6.6), and the message goes on. So an MX whose
 * DNS breaks, or that gets mail naming a domain whose servers never answer, keeps accepting
 * mail at a bounded cost per message. Answers are cached (lookup_cache.ts) and the lookups a
 * message will need are started together (expected_lookups.ts).
 */
import { Buffer } from "node:buffer";
import { authenticate } from "mailauth";
import { type DnsLookup, LookupCache } from "../dns/lookup_cache.ts";
import { expectedLookups } from "./expected_lookups.ts";

export type { DnsLookup } from "../dns/lookup_cache.ts";

/** `[checks] dmarc_policy`: honour the sender domain's p=reject/quarantine, or only record. */
export type DmarcPolicyMode = "enforce" | "record";

/** What to do with a checked message. */
export interface CheckVerdict {
  /** Header lines to prepend (CRLF-terminated): Authentication-Results, Received-SPF. */
  headers: string;
  action: "deliver" | "junk" | "reject";
  /** For logs and the 550 text when refused. */
  reason: string;
}

/** The session facts the checks need. */
export interface CheckInput {
  message: Uint8Array;
  ip: string;
  helo: string;
  /** The reverse-path; "" for the null sender. */
  sender: string;
}

/** How long answers and failures stay in the cache, and how many (see lookup_cache.ts). */
const CACHE = { answerMs: 60_000, failureMs: 30_000, maxEntries: 10_000 };

/** Runs the checks. */
export class MessageChecks {
  /** The cache every message's lookups go through. */
  readonly cache: LookupCache;

  /**
   * @param lookup the DNS lookup (cached here)
   * @param budgetMs what the checks of one message may take all told
   */
  constructor(
    readonly hostname: string,
    lookup: DnsLookup,
    public dmarcPolicy: DmarcPolicyMode,
    readonly budgetMs: number,
  ) {
    this.cache = new LookupCache(lookup, CACHE);
  }

  /** Evaluates the message within the budget; never throws (failures are temperror). */
  async check(input: CheckInput): Promise<CheckVerdict> {
    const deadline = Date.now() + this.budgetMs;
    for (const [name, rrtype] of expectedLookups(input.message, input.sender, input.helo)) {
      // Started now, shared with mailauth's own requests for them through the cache.
      this.cache.lookup(name, rrtype).catch(() => {});
    }
    // Lookups are cut a little before the budget ends, so mailauth has time to turn the
    // failures into results; should it still not be done at the end, every method is
    // recorded as temperror.
    const lookupsEnd = deadline - Math.min(FINISH_MS, this.budgetMs / 10);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const budgetSpent = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, deadline - Date.now(), undefined);
    });
    try {
      const verdict = await Promise.race([
        this.#evaluate(input, withDeadline(this.cache.lookup, lookupsEnd)),
        budgetSpent,
      ]);
      return verdict ?? this.#temperror(input, "check budget spent");
    } catch (err) {
      return this.#temperror(input, `checks failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async #evaluate(input: CheckInput, lookup: DnsLookup): Promise<CheckVerdict> {
    // The bytes as they came: a decoded string would be re-encoded as UTF-8 by mailauth and
    // change every 8-bit octet before hashing (dkim=neutral for any 8-bit body).
    const result = await authenticate(Buffer.from(input.message), {
      ip: input.ip,
      helo: input.helo,
      sender: input.sender,
      mta: this.hostname,
      resolver: lookup as (name: string, rr: string) => Promise<string[]>,
      disableBimi: true,
    });
    const headers = crlf(result.headers);
    const dmarc = result.dmarc || undefined;
    const status = dmarc?.status?.result;
    if (dmarc && this.dmarcPolicy === "enforce" && status === "fail") {
      // RFC 7489 §6.6.4: p=reject may be refused in SMTP; p=quarantine goes to Junk.
      if (dmarc.policy === "reject") {
        return { headers, action: "reject", reason: `DMARC policy of ${dmarc.domain} is reject` };
      }
      if (dmarc.policy === "quarantine") {
        return { headers, action: "junk", reason: `DMARC policy of ${dmarc.domain} is quarantine` };
      }
    }
    return { headers, action: "deliver", reason: `dmarc=${status ?? "none"}` };
  }

  /**
   * Every method as temperror (RFC 8601 §2.7.1 and §2.7.2: a temporary error, a later retry
   * may succeed): the message is delivered with that on record.
   */
  #temperror(input: CheckInput, why: string): CheckVerdict {
    const comment = `(${why.replace(/[()\\\r\n]/g, " ").slice(0, 200)})`;
    const mailfrom = /^[^\s;()"\\]+@[^\s;()"\\]+$/.test(input.sender)
      ? ` smtp.mailfrom=${input.sender}`
      : "";
    const headers = `Authentication-Results: ${this.hostname};\r\n` +
      ` dkim=temperror ${comment};\r\n` +
      ` spf=temperror ${comment}${mailfrom};\r\n` +
      ` dmarc=temperror ${comment}\r\n`;
    return { headers, action: "deliver", reason: why };
  }
}

/** The most of the budget kept for mailauth to finish after the lookups are cut. */
const FINISH_MS = 200;

/**
 * `lookup` for one message: a lookup still pending at `deadline` (ms since the epoch) fails
 * then as a timeout (ETIMEOUT, which mailauth records as temperror); the query itself goes on
 * in the cache for the messages after this one.
 */
export function withDeadline(lookup: DnsLookup, deadline: number): DnsLookup {
  return (name, rrtype) => {
    const spent = () =>
      Object.assign(new Error(`${rrtype} ${name}: check budget spent`), { code: "ETIMEOUT" });
    const wait = deadline - Date.now();
    if (wait <= 0) return Promise.reject(spent());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(spent()), wait);
      lookup(name, rrtype).then(
        (records) => {
          clearTimeout(timer);
          resolve(records);
        },
        (err) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  };
}

/** mailauth folds with LF; a message needs CRLF. */
function crlf(text: string): string {
  return text.replace(/\r?\n/g, "\r\n");
}

/**
 * A mailauth lookup on `Deno.resolveDns` against one name server (or the system's), with node's
 * error codes: ENOTFOUND/ENODATA for "no such record" (a permanent "none"), and anything else
 * as a temporary failure.
 */
export function denoDnsLookup(
  nameServer: { ipAddr: string; port: number } | undefined,
  timeoutMs = 10_000,
): DnsLookup {
  return async (name, rrtype) => {
    const type = rrtype.toUpperCase() as Deno.RecordType;
    try {
      const records = await Deno.resolveDns(name, type, {
        ...(nameServer ? { nameServer } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (type === "MX") {
        return (records as Deno.MxRecord[]).map((r) => ({
          exchange: r.exchange.replace(/\.$/, ""),
          priority: r.preference,
        }));
      }
      return records;
    } catch (err) {
      const code = err instanceof Deno.errors.NotFound ? "ENOTFOUND" : "ETIMEOUT";
      throw Object.assign(new Error(`${rrtype} ${name}: ${(err as Error).message}`), { code });
    }
  };
}

/**
 * Checks of inbound mail on the MX listener: DKIM (RFC 6376), SPF (RFC 7208), DMARC (RFC 7489)
 * and ARC (RFC 8617), evaluated by mailauth — a well-kept library — with every DNS lookup going
 * through our resolver settings. The results become an `Authentication-Results:` header
 * (RFC 8601); the DMARC policy decides whether the message is delivered, filed as Junk, or
 * refused.
 */
import { Buffer } from "node:buffer";
import { authenticate } from "mailauth";

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

/** A DNS lookup in node's `dns.resolve` shape, as mailauth expects. */
export type DnsLookup = (name: string, rrtype: string) => Promise<unknown>;

/** Runs the checks. */
export class MessageChecks {
  constructor(
    readonly hostname: string,
    readonly lookup: DnsLookup,
    public dmarcPolicy: DmarcPolicyMode,
  ) {}

  /** Evaluates the message; never throws (a failed check is recorded as temperror). */
  async check(input: CheckInput): Promise<CheckVerdict> {
    // The bytes as they came: a decoded string would be re-encoded as UTF-8 by mailauth and
    // change every 8-bit octet before hashing (dkim=neutral for any 8-bit body).
    const result = await authenticate(Buffer.from(input.message), {
      ip: input.ip,
      helo: input.helo,
      sender: input.sender,
      mta: this.hostname,
      resolver: this.lookup as (name: string, rr: string) => Promise<string[]>,
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

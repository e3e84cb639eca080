/**
 * Checks that relayed messages carry a valid DKIM signature (RFC 6376) of one domain, verified
 * by mailauth against the signer's public key file instead of DNS, so nothing is looked up.
 */
import { dkimVerify } from "mailauth";

/** What the check found. */
export interface DkimCheck {
  /** Messages checked. */
  messages: number;
  /** Messages with a passing rsa-sha256 signature of the domain. */
  passed: number;
  /** Why some did not pass (the first few). */
  failures: string[];
}

/**
 * Verifies every message in `messages` (CRLF text) against `publicPem` (SPKI PEM) as the key of
 * `domain`, whatever the selector.
 */
export async function checkDkim(
  messages: string[],
  domain: string,
  publicPem: string,
): Promise<DkimCheck> {
  const p = publicPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const record = `v=DKIM1; k=rsa; p=${p}`;
  const resolver = (name: string, rrtype: string): Promise<string[][]> => {
    if (rrtype === "TXT" && name.toLowerCase().endsWith(`._domainkey.${domain}`)) {
      return Promise.resolve([[record]]);
    }
    return Promise.reject(Object.assign(new Error(`no ${rrtype} ${name}`), { code: "ENOTFOUND" }));
  };
  const check: DkimCheck = { messages: messages.length, passed: 0, failures: [] };
  for (const message of messages) {
    const { results } = await dkimVerify(message, { resolver });
    const ok = results.some((r) =>
      r.status.result === "pass" && r.signingDomain === domain && r.algo === "rsa-sha256"
    );
    if (ok) check.passed++;
    else if (check.failures.length < 3) {
      check.failures.push(
        results.length === 0
          ? "no DKIM-Signature"
          : results.map((r) => `d=${r.signingDomain} a=${r.algo}: ${r.status.result}`).join("; "),
      );
    }
  }
  return check;
}

/**
 * The DNS names the checks of a message will look up, known before they run: the SPF record of
 * the MAIL FROM domain (RFC 7208 §4.1; the HELO name for the null sender, §2.4), the DKIM and
 * ARC keys named by each signature (RFC 6376 §3.6.2.1, RFC 8617 §4.1.3), and the DMARC record
 * of the From domain (RFC 7489 §6.6.3). mailauth asks for them one after another; asking for
 * them all at once first (through the cache, which shares the queries in flight) lets them be
 * answered concurrently. Pure.
 */
import { headerAddresses, headerValues } from "../mime/header_addresses.ts";

/** One lookup: a name and its record type. */
export type ExpectedLookup = [name: string, rrtype: "TXT"];

/** At most this many signatures are looked ahead for, whatever the message carries. */
const MAX_SIGNATURES = 8;

/** The lookups to start ahead of the checks, without duplicates. */
export function expectedLookups(
  message: Uint8Array,
  sender: string,
  helo: string,
): ExpectedLookup[] {
  const names = new Set<string>();
  const spfDomain = sender ? domainOf(sender) : helo;
  if (isDomain(spfDomain)) names.add(spfDomain);
  for (const field of ["DKIM-Signature", "ARC-Message-Signature", "ARC-Seal"]) {
    for (const value of headerValues(message, field).slice(0, MAX_SIGNATURES)) {
      const tags = signatureTags(value);
      const key = `${tags.get("s")}._domainkey.${tags.get("d")}`.toLowerCase();
      if (tags.has("s") && tags.has("d") && isDomain(key)) names.add(key);
    }
  }
  const from = domainOf(headerAddresses(message, "From")[0] ?? "");
  if (isDomain(from)) names.add(`_dmarc.${from}`);
  return [...names].map((name) => [name, "TXT"]);
}

/** `tag=value` pairs of a signature field (RFC 6376 §3.2), white space removed, lower-cased. */
function signatureTags(value: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of value.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    tags.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ""));
  }
  return tags;
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}

function isDomain(name: string): boolean {
  return name.length <= 253 &&
    /^[a-z0-9_]([a-z0-9_-]*[a-z0-9])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9])?)+$/i.test(name);
}

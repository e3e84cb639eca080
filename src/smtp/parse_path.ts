/**
 * Pure parsers for SMTP paths (RFC 5321 §4.1.2) with the RFC 6531 UTF-8 extension.
 */
import { isIPv6 } from "node:net";

/** A parsed mailbox. */
export interface Mailbox {
  /** The local part as the user means it: quotes and quoted-pair backslashes removed. */
  localPart: string;
  /** The domain, or an address literal with its brackets. */
  domain: string;
  /** True when the local part was a Quoted-string. */
  quoted: boolean;
  /** True when the domain is an address literal such as `[192.0.2.1]`. */
  literal: boolean;
  /** True when any part holds non-ASCII characters (needs SMTPUTF8, RFC 6531 §3.3). */
  utf8: boolean;
}

/** A parsed path: a mailbox with its (obsolete) source route, or the null path `<>`. */
export interface Path {
  mailbox?: Mailbox;
  /** The `@a,@b:` source route (RFC 5321 §4.1.2 A-d-l, obsolete per Appendix C). */
  route: string[];
}

// atext of RFC 5322 §3.2.3, plus UTF8-non-ascii (RFC 6531 §3.3).
const ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+$/u;
const SUB_DOMAIN =
  /^[A-Za-z0-9\u0080-\u{10FFFF}]([A-Za-z0-9\-\u0080-\u{10FFFF}]*[A-Za-z0-9\u0080-\u{10FFFF}])?$/u;

/** The `mailbox@domain` text of a parsed mailbox, local part re-quoted when needed. */
export function mailboxText(m: Mailbox): string {
  const local = isDotString(m.localPart)
    ? m.localPart
    : `"${m.localPart.replace(/(["\\])/g, "\\$1")}"`;
  return `${local}@${m.domain}`;
}

/**
 * Parses `<...>` at the start of `text`. Returns the path and the rest of the text (the ESMTP
 * parameters), or an error message.
 */
export function parsePath(
  text: string,
  opts: { allowNull: boolean; allowPostmaster?: boolean },
): { path: Path; rest: string } | { error: string } {
  if (!text.startsWith("<")) return { error: "Path must be enclosed in <>" };
  const close = findClosingBracket(text);
  if (close < 0) return { error: "Unterminated path: missing >" };
  const inner = text.slice(1, close);
  const rest = text.slice(close + 1);
  if (rest !== "" && !rest.startsWith(" ")) return { error: "Expected a space after the path" };
  if (inner === "") {
    return opts.allowNull ? { path: { route: [] }, rest } : { error: "Null path not allowed" };
  }
  let route: string[] = [];
  let mailboxText = inner;
  if (inner.startsWith("@")) {
    const colon = inner.indexOf(":");
    if (colon < 0) return { error: "Malformed source route" };
    // A-d-l = At-domain *( "," At-domain ), At-domain = "@" Domain: every hop has its "@".
    const hops = inner.slice(0, colon).split(",");
    if (hops.some((hop) => !hop.startsWith("@") || !isDomain(hop.slice(1)))) {
      return { error: "Malformed source route" };
    }
    route = hops.map((hop) => hop.slice(1));
    mailboxText = inner.slice(colon + 1);
  }
  if (opts.allowPostmaster && route.length === 0 && /^postmaster$/i.test(mailboxText)) {
    // RFC 5321 §4.1.1.3: "RCPT TO:<Postmaster>" without a domain must be accepted.
    return {
      path: {
        route,
        mailbox: {
          localPart: "postmaster",
          domain: "",
          quoted: false,
          literal: false,
          utf8: false,
        },
      },
      rest,
    };
  }
  const mailbox = parseMailbox(mailboxText);
  if (typeof mailbox === "string") return { error: mailbox };
  return { path: { route, mailbox }, rest };
}

/** Parses `local@domain`; returns an error message when malformed. */
export function parseMailbox(text: string): Mailbox | string {
  let localPart: string;
  let quoted = false;
  let i: number;
  if (text.startsWith('"')) {
    quoted = true;
    localPart = "";
    i = 1;
    for (;;) {
      if (i >= text.length) return "Unterminated quoted local part";
      const c = text[i];
      if (c === '"') break;
      if (c === "\\") {
        const next = text[i + 1];
        if (next === undefined || !/[\x20-\x7e]/.test(next)) return "Malformed quoted-pair";
        localPart += next;
        i += 2;
        continue;
      }
      if (!/[\x20\x21\x23-\x5b\x5d-\x7e]/.test(c) && c.charCodeAt(0) < 0x80) {
        return "Invalid character in quoted local part";
      }
      localPart += c;
      i++;
    }
    i++;
    if (text[i] !== "@") return "Expected @ after the local part";
  } else {
    i = text.lastIndexOf("@");
    if (i <= 0) return "Mailbox must be local-part@domain";
    localPart = text.slice(0, i);
    if (!isDotString(localPart)) return "Invalid local part";
  }
  if (new TextEncoder().encode(localPart).length > 64) {
    return "Local part longer than 64 octets (RFC 5321 §4.5.3.1.1)";
  }
  const domain = text.slice(i + 1);
  const literal = domain.startsWith("[");
  if (literal ? !isAddressLiteral(domain) : !isDomain(domain)) return "Invalid domain";
  const utf8 = /[^\x00-\x7f]/.test(text);
  return { localPart, domain, quoted, literal, utf8 };
}

function isDotString(s: string): boolean {
  return s.split(".").every((atom) => ATOM.test(atom));
}

/** True for an RFC 5321 Domain (with UTF-8 labels allowed), at most 255 octets. */
export function isDomain(s: string): boolean {
  return s.length > 0 && s.length <= 255 && s.split(".").every((l) => SUB_DOMAIN.test(l));
}

function isAddressLiteral(s: string): boolean {
  const m = /^\[(.*)\]$/.exec(s);
  if (!m) return false;
  const body = m[1];
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(body)) return body.split(".").every((n) => Number(n) < 256);
  // No zone identifier: RFC 5321 §4.1.3 IPv6-addr has none.
  if (/^IPv6:/i.test(body)) return !body.includes("%") && isIPv6(body.slice(5));
  return /^[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+$/.test(body);
}

/** Index of the `>` that closes the path, skipping quoted strings; -1 when absent. */
function findClosingBracket(text: string): number {
  let inQuote = false;
  for (let i = 1; i < text.length; i++) {
    const c = text[i];
    if (inQuote && c === "\\") i++;
    else if (c === '"') inQuote = !inQuote;
    else if (c === ">" && !inQuote) return i;
  }
  return -1;
}

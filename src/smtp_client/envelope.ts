/**
 * The envelope of one outbound transaction and the MAIL/RCPT command lines built from it, with
 * the parameters of the extensions the peer offers: SIZE (RFC 1870), 8BITMIME (RFC 6152),
 * SMTPUTF8 (RFC 6531) and DSN (RFC 3461). Pure: tests feed it capabilities.
 */
import type { OutboundMessage } from "../queue/types.ts";

/** What one transaction carries besides the content. */
export interface Envelope {
  /** The reverse-path; "" for the null sender `<>` (RFC 5321 §4.5.5). */
  from: string;
  recipients: string[];
  /** The content has octets above 127: BODY=8BITMIME is needed (RFC 6152 §3). */
  needs8bit?: boolean;
  /** Addresses or header fields are UTF-8: SMTPUTF8 is needed (RFC 6531 §3.4). */
  needsSmtputf8?: boolean;
  /** DSN parameters, passed on when the peer offers DSN (RFC 3461 §5.2). */
  dsn?: OutboundMessage["dsn"];
}

/** What the envelope builder needs to know of the peer's EHLO reply. */
export interface PeerCapabilities {
  /** True when the EHLO reply lists the keyword (case-insensitive). */
  supports(keyword: string): boolean;
  /** The SIZE limit in octets; undefined when none is announced (or 0, "no limit"). */
  readonly maxSize: number | undefined;
}

/**
 * Why the message cannot go to this peer at all, as our own words led by an enhanced status
 * code (RFC 3463), or undefined when it can. No conversion is implemented, so every reason
 * here is permanent.
 */
export function precheck(
  env: Envelope,
  size: number,
  peer: PeerCapabilities,
): string | undefined {
  if (env.needsSmtputf8 && !peer.supports("SMTPUTF8")) {
    // RFC 6531 §3.2: a message that needs SMTPUTF8 must not go to a server without it; with
    // no downgrade available it is rejected, and 5.6.7 says so (RFC 6533 §3.3).
    return "5.6.7 the message needs SMTPUTF8 (RFC 6531) and the receiving server does not " +
      "offer it";
  }
  if (env.needs8bit && !peer.supports("8BITMIME")) {
    // RFC 6152 §3: 8-bit content goes only to a server offering 8BITMIME; we do not convert
    // to 7 bits, which RFC 3463 reports as 5.6.3 "conversion required but not supported".
    return "5.6.3 the message has 8-bit content and the receiving server does not offer " +
      "8BITMIME (RFC 6152); conversion to 7 bits is not supported";
  }
  const max = peer.supports("SIZE") ? peer.maxSize : undefined;
  if (max !== undefined && size > max) {
    // RFC 1870 §6.1: a message over the server's fixed maximum is a permanent failure.
    return `5.3.4 the message (${size} octets) exceeds the receiving server's size limit ` +
      `(${max} octets, RFC 1870)`;
  }
  for (const address of [env.from, ...env.recipients]) {
    // Control characters would end or corrupt the command line (CRLF injection).
    if (/[\x00-\x1f\x7f]/.test(address)) {
      return `5.1.3 address ${JSON.stringify(address)} cannot be sent in an SMTP path`;
    }
  }
  return undefined;
}

/** The MAIL FROM line (RFC 5321 §4.1.1.2) with the parameters the peer understands. */
export function mailCommand(env: Envelope, size: number, peer: PeerCapabilities): string {
  const params: string[] = [];
  // RFC 1870 §6.2: declare the size so the server can refuse before the transfer.
  if (peer.supports("SIZE")) params.push(`SIZE=${size}`);
  if (env.needs8bit && peer.supports("8BITMIME")) params.push("BODY=8BITMIME");
  if (env.needsSmtputf8 && peer.supports("SMTPUTF8")) params.push("SMTPUTF8");
  if (env.dsn && peer.supports("DSN")) {
    // RFC 3461 §4.3, §4.4.
    if (env.dsn.ret) params.push(`RET=${env.dsn.ret}`);
    if (env.dsn.envid !== undefined && isPrintableAscii(env.dsn.envid)) {
      params.push(`ENVID=${xtext(env.dsn.envid)}`);
    }
  }
  return [`MAIL FROM:<${env.from}>`, ...params].join(" ");
}

/** The RCPT TO line (RFC 5321 §4.1.1.3) for one recipient, with NOTIFY and ORCPT under DSN. */
export function rcptCommand(address: string, env: Envelope, peer: PeerCapabilities): string {
  const params: string[] = [];
  const dsn = env.dsn?.recipients[address];
  if (dsn && peer.supports("DSN")) {
    // RFC 3461 §4.1: NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY.
    if (dsn.notify !== undefined) {
      const notify = dsn.notify === "NEVER" ? "NEVER" : dsn.notify.join(",");
      if (notify !== "") params.push(`NOTIFY=${notify}`);
    }
    // RFC 3461 §4.2: ORCPT=addr-type;xtext. Non-ASCII originals would need RFC 6533's
    // utf-8-addr forms; they are left out rather than sent wrongly.
    const semi = dsn.orcpt?.indexOf(";") ?? -1;
    if (dsn.orcpt && semi > 0 && isPrintableAscii(dsn.orcpt)) {
      params.push(`ORCPT=${dsn.orcpt.slice(0, semi)};${xtext(dsn.orcpt.slice(semi + 1))}`);
    }
  }
  return [`RCPT TO:<${address}>`, ...params].join(" ");
}

/**
 * xtext (RFC 3461 §4): printable ASCII except "+" and "=" as is, every other octet of the
 * UTF-8 form as "+" and two upper-case hex digits.
 */
export function xtext(value: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(value)) {
    out += byte >= 0x21 && byte <= 0x7e && byte !== 0x2b && byte !== 0x3d
      ? String.fromCharCode(byte)
      : `+${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function isPrintableAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

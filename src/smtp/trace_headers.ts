/**
 * Trace headers added at final delivery: `Return-Path:` (RFC 5321 §4.4) and `Received:`
 * (RFC 5321 §4.4, with-protocol types of RFC 3848 and RFC 6531).
 */
import type { TlsInfo } from "../net/connection.ts";
import { headerNodeId } from "../mime/node_id.ts";

/** What the Received: header records about the session. */
export interface TraceInfo {
  heloName: string;
  remoteAddress: string;
  hostname: string;
  /** This node's `node_id`, in the `by` clause's comment (made header-safe). */
  nodeId: string;
  esmtp: boolean;
  smtputf8: boolean;
  /** The client logged in (RFC 3848 "A" suffix). */
  authenticated?: boolean;
  /** Add Return-Path: (final delivery); false for mail that is relayed on. */
  returnPath?: boolean;
  /** Check results (Authentication-Results:, Received-SPF:), CRLF-terminated lines. */
  results?: string;
  tls?: TlsInfo;
  id: string;
  from: string;
  recipients: string[];
  date: Date;
}

/** `Return-Path:` and `Received:` lines, CRLF-terminated, to prepend to the message. */
export function traceHeaders(t: TraceInfo): string {
  const base = t.smtputf8 ? "UTF8SMTP" : t.esmtp ? "ESMTP" : "SMTP";
  const protocol = base + (t.tls ? "S" : "") + (t.authenticated ? "A" : "");
  const tls = t.tls ? ` (${t.tls.protocol} ${t.tls.cipher})`.replace(/ \)$/, ")") : "";
  const literal = t.remoteAddress.includes(":")
    ? `[IPv6:${t.remoteAddress}]`
    : `[${t.remoteAddress}]`;
  // One recipient is named (as Postfix does); with several, naming them would disclose the
  // other recipients to each.
  const forClause = t.recipients.length === 1 ? ` for <${t.recipients[0]}>` : "";
  return (t.returnPath === false ? "" : `Return-Path: <${t.from}>\r\n`) + (t.results ?? "") +
    `Received: from ${headerSafe(t.heloName)} (${literal})\r\n` +
    `\tby ${t.hostname} (fsmtp ${headerNodeId(t.nodeId)}) with ${protocol}${tls}\r\n` +
    `\tid ${t.id}${forClause};\r\n\t${rfc5322Date(t.date)}\r\n`;
}

/** A client-chosen name made safe inside a header: no comment or clause delimiters. */
function headerSafe(name: string): string {
  return name.replace(/[^\x21-\x7e]|[();\\"]/g, "_").slice(0, 255);
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 5322 §3.3 date-time in UTC, e.g. `Thu, 26 Nov 2026 23:30:00 +0000`. */
export function rfc5322Date(d: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ` +
    `${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:` +
    `${two(d.getUTCSeconds())} +0000`;
}

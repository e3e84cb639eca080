/**
 * Delivery status notifications (RFC 3464, with the SMTP extension's rules of RFC 3461 §6):
 * a multipart/report (RFC 6522) with a text/plain part for people, a message/delivery-status
 * part for programs, and the original message (message/rfc822) or its headers
 * (text/rfc822-headers) as RET asks. Pure: the clock and randomness come in as arguments.
 *
 * The envelope sender of a DSN is the null path `<>` (RFC 3461 §6.1, RFC 5321 §4.5.5), and a
 * message whose envelope sender is the null path never gets one: no bounce for a bounce.
 */
import { concatBytes } from "../crypto/bytes.ts";
import { nodeIdHeader } from "../mime/node_id.ts";
import type { OutboundDsn, Ret } from "./types.ts";

/** The Action of one recipient (RFC 3464 §2.3.3). */
export type DsnAction = "failed" | "delayed" | "delivered" | "relayed";

/** One recipient to report on. */
export interface DsnRecipient {
  address: string;
  /** ORCPT, `addr-type;address` (RFC 3461 §4.2). */
  orcpt?: string;
  action: DsnAction;
  /** The last reply: the remote's (`550 5.1.1 no such user`) or our own words. */
  reply?: string;
  /** The host that gave the reply (Remote-MTA, RFC 3464 §2.3.5). */
  remoteHost?: string;
  lastAttemptAt?: number;
}

/** Everything a DSN is made of. */
export interface DsnRequest {
  /** This server's name: Reporting-MTA and the MAILER-DAEMON address. */
  hostname: string;
  /**
   * This node's `node_id`, written as `X-Fannst-NodeID` (the original's header on mail a node
   * writes itself); no such header without it.
   */
  nodeId?: string;
  message: {
    id: string;
    /** The envelope sender: the DSN's recipient. */
    from: string;
    arrivedAt: number;
    envid?: string;
    ret?: Ret;
    content: Uint8Array;
  };
  recipients: DsnRecipient[];
  now: number;
  /** For delayed recipients: when the queue gives up (Will-Retry-Until, RFC 3464 §2.3.8). */
  willRetryUntil?: number;
  /** Random text for the boundary and Message-ID; `crypto.randomUUID` by default. */
  random?: () => string;
}

const CRLF = "\r\n";
const encoder = new TextEncoder();

/**
 * Composes the DSN; undefined when there is nothing to send: no recipient to report, or the
 * message's envelope sender is the null path.
 */
export function composeDsn(req: DsnRequest): OutboundDsn | undefined {
  const { message, recipients, hostname } = req;
  if (message.from === "" || recipients.length === 0) return undefined;
  const random = req.random ?? (() => crypto.randomUUID().replaceAll("-", ""));
  const boundary = `=_fsmtp_dsn_${random()}`;
  const failed = recipients.some((r) => r.action === "failed");
  const delayed = !failed && recipients.some((r) => r.action === "delayed");
  const subject = failed
    ? "Undelivered Mail Returned to Sender"
    : delayed
    ? "Delayed Mail (still being retried)"
    : "Successful Mail Delivery Report";
  // RET governs failure reports (RFC 3461 §4.3); delay and success reports carry the
  // headers only, as the sender still has, or the recipient got, the message itself.
  const full = failed && message.ret !== "HDRS";
  const original = full ? message.content : headerSection(message.content);
  const report = deliveryStatus(req);
  const global = !isAscii(report) || !isAscii(message.from);
  const originalHeadersGlobal = hasHighBytes(headerSection(message.content));
  const originalType = full
    ? (originalHeadersGlobal ? "message/global" : "message/rfc822")
    : (originalHeadersGlobal ? "message/global-headers" : "text/rfc822-headers");
  const originalDescription = full
    ? (failed ? "Undelivered Message" : "Message")
    : "Message Headers";
  const text = humanText(req, failed, delayed);

  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${hostname}>`,
    `To: <${message.from}>`,
    `Subject: ${subject}`,
    `Date: ${formatDate(req.now)}`,
    `Message-ID: <${random()}@${hostname}>`,
    // RFC 3834 §5: automatic responses say so, and responders must not answer them.
    "Auto-Submitted: auto-replied",
    ...(req.nodeId === undefined ? [] : [nodeIdHeader(req.nodeId)]),
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status;${CRLF} boundary="${boundary}"`,
    "",
    "This is a MIME-encapsulated delivery status notification (RFC 3464).",
    "",
    `--${boundary}`,
    "Content-Description: Notification",
    "Content-Type: text/plain; charset=utf-8",
    `Content-Transfer-Encoding: ${isAscii(text) ? "7bit" : "8bit"}`,
    "",
    text,
    "",
    `--${boundary}`,
    "Content-Description: Delivery report",
    // RFC 6533 §6.1: the UTF-8 form when an address in the report is not ASCII.
    `Content-Type: message/${global ? "global-delivery-status" : "delivery-status"}`,
    "",
    report,
    `--${boundary}`,
    `Content-Description: ${originalDescription}`,
    `Content-Type: ${originalType}`,
    // message/rfc822 allows only 7bit, 8bit or binary (RFC 2046 §5.2.1): no base64.
    `Content-Transfer-Encoding: ${hasHighBytes(original) ? "8bit" : "7bit"}`,
    "",
    "",
  ].join(CRLF);
  // The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1): always add one,
  // so the original comes back byte for byte.
  const tail = `${CRLF}--${boundary}--${CRLF}`;
  const content = concatBytes(encoder.encode(head), original, encoder.encode(tail));
  return {
    to: message.from,
    content,
    needs8bit: hasHighBytes(content),
    needsSmtputf8: !isAscii(message.from) || global,
  };
}

/** The message/delivery-status body (RFC 3464 §2.1): per-message fields, then per recipient. */
export function deliveryStatus(req: DsnRequest): string {
  const blocks: string[][] = [[
    field("Reporting-MTA", `dns; ${req.hostname}`),
    ...(req.message.envid ? [field("Original-Envelope-Id", req.message.envid)] : []),
    field("X-Fsmtp-Queue-ID", req.message.id),
    field("Arrival-Date", formatDate(req.message.arrivedAt)),
  ]];
  for (const r of req.recipients) {
    const lines: string[] = [];
    if (r.orcpt) lines.push(field("Original-Recipient", r.orcpt));
    lines.push(
      field("Final-Recipient", `${isAscii(r.address) ? "rfc822" : "utf-8"}; ${r.address}`),
    );
    lines.push(field("Action", r.action));
    lines.push(field("Status", statusOf(r.reply, r.action)));
    if (r.remoteHost) lines.push(field("Remote-MTA", `dns; ${r.remoteHost}`));
    if (r.reply) {
      const reply = oneLine(r.reply);
      const smtp = /^[245]\d\d(?:[ -]|$)/.test(reply);
      // "smtp" is for SMTP replies only (RFC 3464 §2.3.6); our own words get an X- type.
      lines.push(field("Diagnostic-Code", `${smtp ? "smtp" : "X-fsmtp"}; ${reply}`));
    }
    if (r.lastAttemptAt !== undefined) {
      lines.push(field("Last-Attempt-Date", formatDate(r.lastAttemptAt)));
    }
    if (r.action === "delayed" && req.willRetryUntil !== undefined) {
      lines.push(field("Will-Retry-Until", formatDate(req.willRetryUntil)));
    }
    blocks.push(lines);
  }
  return blocks.map((lines) => lines.join(CRLF) + CRLF).join(CRLF);
}

/**
 * The Status of a recipient (RFC 3464 §2.3.4, codes of RFC 3463): the reply's enhanced code
 * (RFC 2034) when it has one, else the class of its basic code (`5.0.0`), else the class the
 * action implies.
 */
export function statusOf(reply: string | undefined, action: DsnAction): string {
  const line = oneLine(reply ?? "");
  const enhanced = /^(?:[245]\d\d[ -])?([245]\.\d{1,3}\.\d{1,3})(?:\s|$)/.exec(line);
  if (enhanced) return enhanced[1];
  const basic = /^([245])\d\d(?:[ -]|$)/.exec(line);
  if (basic) return `${basic[1]}.0.0`;
  return action === "failed" ? "5.0.0" : action === "delayed" ? "4.0.0" : "2.0.0";
}

/** A date-time as RFC 5322 §3.3 writes it, in UTC: `Tue, 14 Nov 2023 22:13:20 +0000`. */
export function formatDate(ms: number): string {
  return new Date(ms).toUTCString().replace(/ GMT$/, " +0000");
}

/** The header section of a message, through the empty line that ends it (RFC 5322 §2.1). */
export function headerSection(content: Uint8Array): Uint8Array {
  for (let i = 0; i + 1 < content.length; i++) {
    if (content[i] !== 10) continue;
    if (content[i + 1] === 10) return content.subarray(0, i + 2);
    if (content[i + 1] === 13 && content[i + 2] === 10) return content.subarray(0, i + 3);
  }
  return content;
}

/** The text part: what happened, to whom, and what the remote said. */
function humanText(req: DsnRequest, failed: boolean, delayed: boolean): string {
  const { message } = req;
  const lines = [`This is the mail system at ${req.hostname}.`, ""];
  if (failed) {
    lines.push("Your message could not be delivered to one or more recipients.");
    lines.push(
      message.ret === "HDRS" ? "Its headers are attached below." : "It is attached below.",
    );
  } else if (delayed) {
    lines.push("Your message has not been delivered yet to the recipients below.");
    if (req.willRetryUntil !== undefined) {
      lines.push(`Delivery will be retried until ${formatDate(req.willRetryUntil)};`);
      lines.push("you do not need to send it again.");
    }
  } else {
    lines.push("Your message was handed to the mail servers of the recipients below.");
  }
  for (const r of req.recipients) {
    lines.push("", `<${r.address}>: ${r.action}`);
    if (r.reply) {
      const who = r.remoteHost ? `${r.remoteHost} said` : "reason";
      lines.push(...wrap(`${who}: ${oneLine(r.reply)}`, 72).map((l) => `    ${l}`));
    }
  }
  return lines.join(CRLF);
}

/** One header field, folded at spaces so lines stay near 78 characters (RFC 5322 §2.1.1). */
function field(name: string, value: string): string {
  return wrap(`${name}: ${clean(value)}`, 76).join(`${CRLF} `);
}

/** Splits at spaces into lines of about `width` characters; never splits a word. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines;
}

/** A reply of several lines as one line (its lines joined by a space). */
function oneLine(text: string): string {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "").join(" ");
}

/** Control characters (CR and LF above all) become spaces: a value stays one field. */
function clean(value: string): string {
  return value.replace(/[\x00-\x1f\x7f]/g, " ").replace(/ {2,}/g, " ").trim();
}

function isAscii(text: string): boolean {
  return /^[\x00-\x7f]*$/.test(text);
}

function hasHighBytes(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b > 127) return true;
  return false;
}

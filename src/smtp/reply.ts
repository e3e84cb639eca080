/**
 * SMTP replies: the basic code (RFC 5321 §4.2), the enhanced status code (RFC 3463, RFC 2034
 * ENHANCEDSTATUSCODES) and the text. One type for every reply, so a handler either returns a
 * reply or throws an `SmtpError` carrying one.
 */
import { printableAscii } from "../net/printable.ts";

/** One reply; `text` may hold several lines, sent as a multi-line reply (§4.2.1). */
export interface Reply {
  code: number;
  /** Enhanced status code such as "2.1.0"; omitted for 220/221-style greetings where usual. */
  enhanced?: string;
  text: string | string[];
}

/** An error that ends a command with a reply; `close` also ends the session after it. */
export class SmtpError extends Error {
  constructor(readonly reply: Reply, readonly close = false) {
    super(`${reply.code} ${reply.enhanced ?? ""} ${[reply.text].flat().join(" ")}`);
    this.name = "SmtpError";
  }
}

/** Builds a reply. */
export function reply(code: number, enhanced: string | undefined, text: string | string[]): Reply {
  return { code, enhanced, text };
}

/**
 * Formats a reply for the wire, each line ending in CRLF. Reply text is printable US-ASCII
 * (RFC 5321 §4.2); texts that quote the client (the EHLO name, a malformed parameter, a header's
 * domain) are escaped here, once for every reply, so no client byte outside it is echoed.
 */
export function formatReply(r: Reply): string {
  const lines = [r.text].flat().map(printableAscii);
  const prefix = r.enhanced ? `${r.enhanced} ` : "";
  return lines.map((line, i) =>
    `${r.code}${i === lines.length - 1 ? " " : "-"}${prefix}${line}\r\n`
  ).join("");
}

/** Replies used in more than one place, named after what they say (codes per RFC 5321 §4.2.3). */
export const Replies = {
  ok: reply(250, "2.0.0", "OK"),
  senderOk: reply(250, "2.1.0", "Sender OK"),
  recipientOk: reply(250, "2.1.5", "Recipient OK"),
  startData: reply(354, undefined, "End data with <CR><LF>.<CR><LF>"),
  bye: reply(221, "2.0.0", "Bye"),
  syntax: (text: string) => reply(501, "5.5.4", text),
  unknownCommand: reply(500, "5.5.2", "Command not recognized"),
  syntaxErrorBinary: reply(500, "5.5.2", "Command line is not printable UTF-8 text"),
  lineTooLong: reply(500, "5.5.2", "Line too long"),
  badSequence: (text: string) => reply(503, "5.5.1", text),
  badParameter: (text: string) => reply(555, "5.5.4", text),
  tooBig: reply(552, "5.3.4", "Message size exceeds fixed maximum message size"),
  tooManyRecipients: reply(452, "4.5.3", "Too many recipients"),
  relayDenied: (text: string) => reply(550, "5.7.1", text),
  noSuchUser: reply(550, "5.1.1", "No such user here"),
  /** RFC 3463 4.2.2: the mailbox is full; the sender's MTA retries later. */
  mailboxFull: reply(452, "4.2.2", "Mailbox full, try again later"),
  timeout: reply(421, "4.4.2", "Idle for too long, closing connection"),
  tooManyErrors: reply(421, "4.7.0", "Too many errors, closing connection"),
  shuttingDown: reply(421, "4.3.2", "Service shutting down, try again later"),
  tempFailure: reply(451, "4.3.0", "Temporary failure storing the message, try again later"),
  /** RFC 3463 4.3.0: the mail store cannot be reached now. */
  storeUnavailable: reply(451, "4.3.0", "Mail store unavailable, try again later"),
} as const;

/**
 * Composing messages (RFC 5322, MIME RFC 2045–2049, encoded words RFC 2047) with nodemailer's
 * composer: text, HTML, multipart/alternative, attachments, quoted-printable or base64 as the
 * content needs, a Date, a unique Message-ID at the sender's domain and the composing node
 * (`X-Fannst-NodeID`).
 */
import MailComposer from "nodemailer/lib/mail-composer/index.js";
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { nodeIdHeader } from "./node_id.ts";

/** An attachment. */
export interface Attachment {
  filename: string;
  content: Uint8Array;
  contentType?: string;
}

/** What a message is made of. */
export interface Composition {
  from: string;
  to: string[];
  cc?: string[];
  subject: string;
  /** More header fields (already checked by the caller: no structural or trace fields). */
  headers?: Record<string, string>;
  text?: string;
  html?: string;
  attachments?: Attachment[];
  date?: Date;
  /** This node's `node_id`, written as `X-Fannst-NodeID` (the original's header). */
  nodeId: string;
}

/** A Message-ID (RFC 5322 §3.6.4) unique to this message, at the sender's domain. */
export function newMessageId(from: string): string {
  const domain = from.slice(from.lastIndexOf("@") + 1).replace(/>.*$/, "") || "localhost";
  return `<${Date.now().toString(36)}.${randomBytes(9).toString("hex")}@${domain}>`;
}

/** Builds the message with CRLF line endings. */
export async function composeMessage(c: Composition): Promise<Uint8Array> {
  const composer = new MailComposer({
    from: c.from,
    to: c.to,
    cc: c.cc,
    subject: c.subject,
    text: c.text,
    html: c.html,
    date: c.date ?? new Date(),
    messageId: newMessageId(c.from),
    headers: { "X-Mailer": "fsmtp", ...c.headers },
    // Long lines and 8-bit text are encoded (quoted-printable or base64) rather than sent raw.
    textEncoding: "quoted-printable",
    attachments: c.attachments?.map((a) => ({
      filename: a.filename,
      content: Buffer.from(a.content),
      contentType: a.contentType,
    })),
  });
  const raw = await new Promise<Uint8Array>((resolve, reject) =>
    composer.compile().build((err: Error | null, message: Uint8Array) =>
      err ? reject(err) : resolve(message)
    )
  );
  // nodemailer joins lines with CRLF already; normalise any bare LF to be certain. The node
  // header is added here, not through the composer, which would respell it X-Fannst-Nodeid.
  const text = `${nodeIdHeader(c.nodeId)}\r\n` + new TextDecoder("latin1").decode(raw);
  return Uint8Array.from(text.replace(/\r?\n/g, "\r\n"), (ch) => ch.charCodeAt(0));
}

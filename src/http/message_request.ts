/**
 * The body of `POST /api/v1/messages`, checked and turned into a message: JSON fields composed
 * with the MIME composer, or a raw RFC 5322 message (`Content-Type: message/rfc822`) taken as
 * it is, with its Bcc field removed and a missing Date or Message-ID added (RFC 6409 §8.3,
 * §8.4 let a submission server do both). Pure apart from the composer; errors are HttpErrors.
 */
import { Buffer } from "node:buffer";
import { type Attachment, composeMessage, newMessageId } from "../mime/compose.ts";
import { headerAddresses, headerValues, parseAddressList } from "../mime/header_addresses.ts";
import { removeHeaderFields } from "../mime/header_fields.ts";
import { rfc5322Date } from "../smtp/trace_headers.ts";
import { HttpError } from "./http_error.ts";

/** A message ready for submission, with its envelope. */
export interface ApiMessage {
  /** The envelope sender: the From address. */
  from: string;
  /** Every From: address (all must belong to the token's user). */
  fromHeader: string[];
  /** To, Cc and Bcc addresses, lower-cased, without duplicates. */
  recipients: string[];
  /** CRLF lines. */
  content: Uint8Array;
}

/** The JSON body's fields. */
const JSON_FIELDS = [
  "from",
  "to",
  "cc",
  "bcc",
  "subject",
  "text",
  "html",
  "attachments",
  "headers",
] as const;

/**
 * Fields the composer writes or a server owns: not settable through `headers` (trace fields
 * and signatures would let a client forge this server's or another's words).
 */
const RESERVED_HEADERS = new Set([
  "from",
  "to",
  "cc",
  "bcc",
  "subject",
  "date",
  "message-id",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "content-disposition",
  "sender",
  "received",
  "return-path",
  "dkim-signature",
  "arc-seal",
  "arc-message-signature",
  "arc-authentication-results",
  "authentication-results",
  "x-fannst-nodeid",
]);

const invalid = (message: string) => new HttpError("invalid_request", message);

/** Composes the message a JSON body describes. */
export async function messageFromJson(body: unknown, nodeId: string): Promise<ApiMessage> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid("the body must be a JSON object");
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!(JSON_FIELDS as readonly string[]).includes(key)) {
      throw invalid(`unknown field "${key}"; known: ${JSON_FIELDS.join(", ")}`);
    }
  }
  const from = oneLine(fields.from, "from", true)!;
  const fromAddresses = parseAddressList(from);
  if (fromAddresses.length !== 1) throw invalid(`"from" must hold exactly one address`);
  const to = addressField(fields.to, "to");
  const cc = addressField(fields.cc, "cc");
  const bcc = addressField(fields.bcc, "bcc");
  const subject = oneLine(fields.subject, "subject", false) ?? "";
  const text = optionalString(fields.text, "text");
  const html = optionalString(fields.html, "html");
  if (text === undefined && html === undefined) throw invalid(`give "text" or "html" (or both)`);
  const recipients = unique([...to, ...cc, ...bcc].flatMap((r) => r.addresses));
  if (recipients.length === 0) throw invalid(`give at least one recipient in "to", "cc" or "bcc"`);
  const content = await composeMessage({
    from,
    to: to.map((r) => r.text),
    cc: cc.length > 0 ? cc.map((r) => r.text) : undefined,
    subject,
    text,
    html,
    attachments: attachmentsField(fields.attachments),
    headers: headersField(fields.headers),
    nodeId,
  });
  return { from: fromAddresses[0], fromHeader: fromAddresses, recipients, content };
}

/** Takes a raw message: recipients from To, Cc and Bcc; Bcc removed; Date, Message-ID added. */
export function messageFromRaw(raw: Uint8Array, now: Date): ApiMessage {
  let content = crlf(raw);
  if (!/^[\x21-\x39\x3b-\x7e]+:/.test(new TextDecoder("latin1").decode(content.subarray(0, 80)))) {
    throw invalid("a message/rfc822 body must start with its header fields");
  }
  const fromHeader = headerAddresses(content, "From");
  if (fromHeader.length === 0) throw invalid("the message has no From: address");
  const recipients = unique(["To", "Cc", "Bcc"].flatMap((name) => headerAddresses(content, name)));
  if (recipients.length === 0) throw invalid("the message has no To, Cc or Bcc address");
  content = removeHeaderFields(content, (name) => name === "bcc");
  const added: string[] = [];
  if (headerValues(content, "Date").length === 0) added.push(`Date: ${rfc5322Date(now)}`);
  if (headerValues(content, "Message-ID").length === 0) {
    added.push(`Message-ID: ${newMessageId(fromHeader[0])}`);
  }
  if (added.length > 0) {
    const prefix = new TextEncoder().encode(added.join("\r\n") + "\r\n");
    const joined = new Uint8Array(prefix.length + content.length);
    joined.set(prefix);
    joined.set(content, prefix.length);
    content = joined;
  }
  return { from: fromHeader[0], fromHeader, recipients, content };
}

/** Bare LF line ends made CRLF (curl --data-binary sends a file as it is on disk). */
function crlf(raw: Uint8Array): Uint8Array {
  const text = new TextDecoder("latin1").decode(raw);
  if (!/(^|[^\r])\n/.test(text)) return raw;
  return Uint8Array.from(text.replace(/\r?\n/g, "\r\n"), (ch) => ch.charCodeAt(0));
}

function unique(addresses: string[]): string[] {
  return [...new Set(addresses.map((a) => a.toLowerCase()))];
}

/** A string field on one line; undefined when absent and not required. */
function oneLine(value: unknown, name: string, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw invalid(`"${name}" must be a non-empty string`);
  }
  if (/[\r\n\0]/.test(value)) throw invalid(`"${name}" must be on one line`);
  return value;
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw invalid(`"${name}" must be a string`);
  return value;
}

/** An address field: one string or a list; each entry "addr" or "Name <addr>". */
function addressField(value: unknown, name: string): { text: string; addresses: string[] }[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((entry) => {
    const text = oneLine(entry, name, true)!;
    const addresses = parseAddressList(text);
    if (addresses.length === 0 || addresses.some((a) => !/^[^\s@]+@[^\s@]+$/.test(a))) {
      throw invalid(`"${name}" has an entry that is not an address: ${JSON.stringify(text)}`);
    }
    return { text, addresses };
  });
}

function attachmentsField(value: unknown): Attachment[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw invalid(`"attachments" must be a list`);
  return value.map((a, i) => {
    if (typeof a !== "object" || a === null) throw invalid(`attachments[${i}] must be an object`);
    const { filename, content, contentType, ...rest } = a as Record<string, unknown>;
    if (Object.keys(rest).length > 0) {
      throw invalid(`attachments[${i}] has unknown fields: ${Object.keys(rest).join(", ")}`);
    }
    const name = oneLine(filename, `attachments[${i}].filename`, true)!;
    if (typeof content !== "string") {
      throw invalid(`attachments[${i}].content must be a base64 string`);
    }
    const base64 = content.replace(/\s+/g, "");
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(base64)) {
      throw invalid(`attachments[${i}].content is not valid base64`);
    }
    if (
      contentType !== undefined &&
      (typeof contentType !== "string" || !/^[\w.+-]+\/[\w.+-]+$/.test(contentType))
    ) {
      throw invalid(`attachments[${i}].contentType must be a media type like "application/pdf"`);
    }
    return {
      filename: name,
      content: new Uint8Array(Buffer.from(base64, "base64")),
      ...(contentType === undefined ? {} : { contentType: contentType as string }),
    };
  });
}

function headersField(value: unknown): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(`"headers" must be an object of field names to values`);
  }
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    // RFC 5322 §2.2: a field name is printable US-ASCII except the colon.
    if (!/^[\x21-\x39\x3b-\x7e]{1,76}$/.test(name)) {
      throw invalid(`header name ${JSON.stringify(name)} is not a valid field name`);
    }
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw invalid(`header ${name} cannot be set through "headers"`);
    }
    out[name] = oneLine(v, `headers.${name}`, true)!;
  }
  return out;
}

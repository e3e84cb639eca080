/**
 * IMAP body sections (RFC 3501 §6.4.5) and BINARY decoding (RFC 3516) over a message's bytes
 * and its MIME structure. Pure; every result is a view into the message or a fresh array.
 */
import { headerFieldsOf } from "./header_block.ts";
import { isMessagePart, isMultipart, type MimePart } from "./structure.ts";

/** A section specifier: `part` numbers (empty = the whole message) and an optional text part. */
export interface SectionSpec {
  /** Part numbers, e.g. [1, 2] for "1.2"; [] for the message itself. */
  part: number[];
  /** The section-text, if any. */
  text?: "HEADER" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT" | "TEXT" | "MIME";
  /** Field names for HEADER.FIELDS and HEADER.FIELDS.NOT. */
  fields?: string[];
}

/**
 * The part that part numbers name (RFC 3501 §6.4.5), or undefined when there is none. Numbers
 * index a multipart's children; a message/rfc822 part's numbers index its encapsulated
 * message's parts; a message that is not multipart has one part, 1, itself.
 */
export function findPart(root: MimePart, part: number[]): MimePart | undefined {
  // `scope` is what the next number selects in: a message (root) or a multipart.
  let scope: MimePart = root;
  let current: MimePart | undefined;
  for (const n of part) {
    if (current !== undefined) {
      if (isMultipart(current)) scope = current;
      else if (isMessagePart(current) && current.message) scope = current.message;
      else return undefined;
    }
    if (isMultipart(scope)) current = scope.children[n - 1];
    else current = n === 1 ? scope : undefined;
    if (current === undefined) return undefined;
  }
  return current ?? root;
}

/**
 * The bytes of a section, or undefined when the part does not exist or the section-text does
 * not apply to it (HEADER, TEXT and HEADER.FIELDS after part numbers need a message/rfc822
 * part; MIME needs part numbers). The IMAP layer answers those with an empty string, as
 * Dovecot does.
 */
export function sectionBytes(
  message: Uint8Array,
  root: MimePart,
  section: SectionSpec,
): Uint8Array | undefined {
  const part = findPart(root, section.part);
  if (!part) return undefined;
  if (section.text === undefined) {
    return section.part.length === 0
      ? message.subarray(0, root.bodyEnd)
      : message.subarray(part.headerEnd, part.bodyEnd);
  }
  if (section.text === "MIME") {
    return section.part.length === 0
      ? undefined
      : message.subarray(part.headerStart, part.headerEnd);
  }
  // HEADER, HEADER.FIELDS[.NOT] and TEXT are of the message itself, or of an encapsulated one.
  const target = section.part.length === 0 ? root : isMessagePart(part) ? part.message : undefined;
  if (!target) return undefined;
  const header = message.subarray(target.headerStart, target.headerEnd);
  switch (section.text) {
    case "HEADER":
      return header;
    case "TEXT":
      return message.subarray(target.headerEnd, target.bodyEnd);
    case "HEADER.FIELDS":
      return headerFields(header, section.fields ?? [], false);
    case "HEADER.FIELDS.NOT":
      return headerFields(header, section.fields ?? [], true);
  }
}

/**
 * The field lines of a header block whose names are (or, with `not`, are not) in `fields`,
 * raw and in their original order, folded lines kept, followed by the blank line (RFC 3501
 * §6.4.5: it is included in all header fetches, except when the message has none). A field
 * whose last line has no line break gets a CRLF.
 */
export function headerFields(header: Uint8Array, fields: string[], not: boolean): Uint8Array {
  const wanted = new Set(fields.map((f) => f.toLowerCase()));
  const chunks: Uint8Array[] = [];
  for (const field of headerFieldsOf(header)) {
    if (wanted.has(field.name) === not) continue;
    chunks.push(header.subarray(field.start, field.end));
    if (header[field.end - 1] !== 10) chunks.push(CRLF);
  }
  if (hasBlankLine(header)) chunks.push(CRLF);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

const CRLF = new Uint8Array([13, 10]);

/** Whether a header block ends with the blank line (or is only one). */
function hasBlankLine(header: Uint8Array): boolean {
  const n = header.length;
  if (n === 0 || header[n - 1] !== 10) return false;
  const before = header[n - 2] === 13 ? n - 2 : n - 1;
  return before === 0 || header[before - 1] === 10;
}

/**
 * The `<offset.length>` partial of a fetched section (RFC 3501 §6.4.5): from `offset`, at most
 * `length` octets; empty when the offset is past the end.
 */
export function partialRange(bytes: Uint8Array, offset: number, length?: number): Uint8Array {
  const start = Math.min(Math.max(offset, 0), bytes.length);
  const end = length === undefined ? bytes.length : Math.min(bytes.length, start + length);
  return bytes.subarray(start, Math.max(start, end));
}

/**
 * The content-transfer-decoded body of a part (RFC 3516 BINARY): base64 and quoted-printable
 * decoded (RFC 2045 §6.7, §6.8), identity encodings as they are, anything else
 * "unknown-encoding" (the IMAP layer answers [UNKNOWN-CTE]).
 */
export function decodePart(message: Uint8Array, part: MimePart): Uint8Array | "unknown-encoding" {
  const body = message.subarray(part.headerEnd, part.bodyEnd);
  switch (part.encoding) {
    case "7bit":
    case "8bit":
    case "binary":
      return body;
    case "base64":
      return decodeBase64(body);
    case "quoted-printable":
      return decodeQuotedPrintable(body);
    default:
      return "unknown-encoding";
  }
}

const B64 = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
  B64["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
}

/** Base64 ignoring every byte outside the alphabet (RFC 2045 §6.8), stopping at padding. */
export function decodeBase64(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.floor(input.length * 3 / 4) + 3);
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (const byte of input) {
    if (byte === 61) break;
    const v = B64[byte];
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out.slice(0, n);
}

/**
 * Quoted-printable (RFC 2045 §6.7): `=XX` is a byte, `=` at the end of a line (after optional
 * white space) is a soft line break, white space at the end of a line is dropped; a malformed
 * `=` is kept as it is.
 */
export function decodeQuotedPrintable(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(input.length);
  let n = 0;
  let i = 0;
  while (i < input.length) {
    const byte = input[i];
    if (byte === 61) {
      const h = hexValue(input[i + 1]);
      const l = hexValue(input[i + 2]);
      if (h >= 0 && l >= 0) {
        out[n++] = h * 16 + l;
        i += 3;
        continue;
      }
      let j = i + 1;
      while (input[j] === 32 || input[j] === 9) j++;
      if (input[j] === 13 && input[j + 1] === 10) {
        i = j + 2;
        continue;
      }
      if (input[j] === 10 || j === input.length) {
        i = j + 1;
        continue;
      }
      out[n++] = byte;
      i++;
    } else if (byte === 32 || byte === 9) {
      // Trailing white space before a line break was added in transport (§6.7 rule 3).
      let j = i;
      while (input[j] === 32 || input[j] === 9) j++;
      if (input[j] === 10 || (input[j] === 13 && input[j + 1] === 10)) {
        i = j;
        continue;
      }
      out.set(input.subarray(i, j), n);
      n += j - i;
      i = j;
    } else {
      out[n++] = byte;
      i++;
    }
  }
  return out.slice(0, n);
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 48 && byte <= 57) return byte - 48;
  if (byte >= 65 && byte <= 70) return byte - 55;
  if (byte >= 97 && byte <= 102) return byte - 87;
  return -1;
}

/**
 * Decoded text of headers and bodies for IMAP SEARCH (RFC 3501 §6.4.4), and the Date: parser
 * for SENTBEFORE/SENTON/SENTSINCE and SORT. Pure.
 */
import { decodeText, fieldValue, headerFieldsOf } from "./header_block.ts";
import { decodeCharset, paramValue } from "./mime_params.ts";
import { decodePart } from "./section.ts";
import { isMessagePart, isMultipart, type MimePart } from "./structure.ts";

/** The decoded values (unfolded, RFC 2047 words decoded) of every `name` field, in order. */
export function headerValues(header: Uint8Array, name: string): string[] {
  const wanted = name.toLowerCase();
  return headerFieldsOf(header)
    .filter((field) => field.name === wanted)
    .map((field) => decodeEncodedWords(fieldValue(header, field).trimEnd()));
}

/** All header fields, decoded, one "name: value" a line (names lower-cased). */
export function headerSearchText(header: Uint8Array): string {
  return headerFieldsOf(header)
    .map((field) => `${field.name}: ${decodeEncodedWords(fieldValue(header, field).trimEnd())}`)
    .join("\n");
}

/**
 * The text of every text/* part, transfer-decoded and charset-decoded (HTML as it is), and of
 * every encapsulated message (its header too, since it is body text of the outer message).
 * Parts of other types (attachments) are skipped.
 */
export function bodySearchText(message: Uint8Array, root: MimePart): string {
  const out: string[] = [];
  const stack: MimePart[] = [root];
  while (stack.length > 0) {
    const part = stack.pop()!;
    if (isMultipart(part)) {
      for (let i = part.children.length - 1; i >= 0; i--) stack.push(part.children[i]);
    } else if (isMessagePart(part) && part.message) {
      const nested = part.message;
      out.push(headerSearchText(message.subarray(nested.headerStart, nested.headerEnd)));
      stack.push(nested);
    } else if (part.type === "text") {
      const body = decodePart(message, part);
      const bytes = body === "unknown-encoding"
        ? message.subarray(part.headerEnd, part.bodyEnd)
        : body;
      out.push(decodeCharset(bytes, paramValue(part.params, "charset") ?? "utf-8"));
    }
  }
  return out.join("\n");
}

/**
 * RFC 2047 encoded-words decoded (`=?charset?B|Q?text?=`); white space between two adjacent
 * encoded-words is dropped (§6.2). Malformed words stay as they are.
 */
export function decodeEncodedWords(value: string): string {
  const word = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;
  let out = "";
  let last = 0;
  let previousWasWord = false;
  for (let m = word.exec(value); m; m = word.exec(value)) {
    const between = value.slice(last, m.index);
    if (!(previousWasWord && /^[ \t\r\n]*$/.test(between))) out += between;
    const bytes = m[2].toUpperCase() === "B" ? base64Bytes(m[3]) : qWordBytes(m[3]);
    out += decodeCharset(bytes, m[1]);
    last = m.index + m[0].length;
    previousWasWord = true;
  }
  return out + value.slice(last);
}

function base64Bytes(text: string): Uint8Array {
  const clean = text.replace(/[^A-Za-z0-9+/]/g, "");
  const padded = clean.slice(0, clean.length - (clean.length % 4 === 1 ? 1 : 0));
  try {
    const bin = atob(padded + "=".repeat((4 - (padded.length % 4)) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return new Uint8Array();
  }
}

/** RFC 2047 §4.2 "Q": `_` is a space, `=XX` a byte. */
function qWordBytes(text: string): Uint8Array {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const hex = c === "=" ? text.slice(i + 1, i + 3) : "";
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c === "_") {
      bytes.push(32);
    } else {
      for (const b of new TextEncoder().encode(c)) bytes.push(b);
    }
  }
  return new Uint8Array(bytes);
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** RFC 5322 §4.3 obsolete zone names, in minutes east of UTC. */
const ZONES: Record<string, number> = {
  ut: 0,
  utc: 0,
  gmt: 0,
  z: 0,
  edt: -240,
  est: -300,
  cdt: -300,
  cst: -360,
  mdt: -360,
  mst: -420,
  pdt: -420,
  pst: -480,
};

/**
 * An RFC 5322 §3.3 date-time in ms since the epoch, tolerating the obsolete forms of §4.3
 * (2- and 3-digit years, zone names, comments, missing seconds, extra white space); undefined
 * when it cannot be read. A missing or unknown zone counts as +0000.
 */
export function parseSentDate(value: string): number | undefined {
  const text = stripComments(decodeText(new TextEncoder().encode(value))).toLowerCase();
  const m =
    /^\s*(?:[a-z]+\s*,?\s*)?(\d{1,2})\s*[- ]?\s*([a-z]{3})[a-z]*\.?\s*[- ]?\s*(\d{2,4})\s+(\d{1,2})\s*:\s*(\d{1,2})(?:\s*:\s*(\d{1,2}))?\s*([+-]\d{4}|[a-z]+)?/
      .exec(text);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2]);
  if (month < 0) return undefined;
  let year = Number(m[3]);
  // §4.3: a 2-digit year below 50 is 20xx, otherwise 19xx; a 3-digit year adds 1900.
  if (m[3].length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3].length === 3) year += 1900;
  const day = Number(m[1]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  let offset = 0;
  const zone = m[7];
  if (zone !== undefined && /^[+-]\d{4}$/.test(zone)) {
    const minutes = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3));
    offset = zone[0] === "-" ? -minutes : minutes;
  } else if (zone !== undefined) {
    offset = ZONES[zone] ?? 0;
  }
  const ms = Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) - offset * 60_000;
  return Number.isFinite(ms) ? ms : undefined;
}

function stripComments(text: string): string {
  let out = "";
  let depth = 0;
  for (const c of text) {
    if (c === "(") depth++;
    else if (c === ")" && depth > 0) depth--;
    else if (depth === 0) out += c;
  }
  return out;
}

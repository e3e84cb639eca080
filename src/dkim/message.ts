/**
 * Splits a message (RFC 5322 §2.1) into its header fields and body, the two inputs of DKIM
 * hashing (RFC 6376 §3.7).
 */

import { bytesToBinary } from "./canonicalize.ts";

/** One header field of a message. */
export interface HeaderField {
  /** The field name as written (case kept), without surrounding WSP. */
  name: string;
  /**
   * The whole field as a binary string (one char per octet): name, colon, value and every
   * continuation line, each line ended by CRLF (a bare LF is taken as a line end).
   */
  raw: string;
}

/** A message split at its first empty line. */
export interface SplitMessage {
  /** Header fields, top to bottom. */
  headers: HeaderField[];
  /** The octets after the empty line that ends the header section (empty if there is none). */
  body: Uint8Array;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits `message` into header fields and body. A line starting with SP or HTAB continues the
 * field above it (RFC 5322 §2.2.3); the first empty line ends the header section. Lines before
 * the first field that start with WSP, which RFC 5322 does not allow, are kept as a nameless
 * field so that nothing is silently dropped.
 */
export function splitMessage(message: Uint8Array): SplitMessage {
  const headers: HeaderField[] = [];
  let start = 0;
  while (start < message.length) {
    let end = message.indexOf(LF, start);
    const next = end < 0 ? message.length : end + 1;
    if (end < 0) end = message.length;
    const contentEnd = end > start && message[end - 1] === CR ? end - 1 : end;
    if (contentEnd === start) {
      return { headers, body: message.subarray(next) }; // the empty line ending the header
    }
    const line = bytesToBinary(message.subarray(start, contentEnd)) + "\r\n";
    const first = message[start];
    const last = headers[headers.length - 1];
    if ((first === 0x20 || first === 0x09) && last) {
      last.raw += line;
    } else {
      const colon = line.indexOf(":");
      const name = (colon < 0 ? "" : line.slice(0, colon)).replace(/[ \t]+$/, "");
      headers.push({ name, raw: line });
    }
    start = next;
  }
  return { headers, body: message.subarray(message.length) };
}

/**
 * Rewrites the parts of a message that hold NUL octets as base64. IMAP cannot send a NUL in
 * an ordinary literal (RFC 3501 §4.3), so a message APPENDed with a literal8 (RFC 3516 §4.4)
 * is stored in a form every client can fetch; BINARY[] still returns the original octets,
 * since it decodes the base64 again. Pure.
 */
import { headerFieldsOf } from "./header_block.ts";
import { isMessagePart, type MimePart, parseStructure } from "./structure.ts";

const encoder = new TextEncoder();
const LINE = 76; // RFC 2045 §6.8: encoded lines are at most 76 characters.

/** The message with every NUL-holding leaf part base64-encoded; the input when there is none. */
export function encodeBinaryParts(message: Uint8Array): Uint8Array {
  if (!message.includes(0)) return message;
  const edits: { from: number; to: number; bytes: Uint8Array }[] = [];
  collect(message, parseStructure(message), edits);
  if (edits.length === 0) return message;
  edits.sort((a, b) => a.from - b.from);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const edit of edits) {
    parts.push(message.subarray(at, edit.from), edit.bytes);
    at = edit.to;
  }
  parts.push(message.subarray(at));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function collect(
  message: Uint8Array,
  part: MimePart,
  edits: { from: number; to: number; bytes: Uint8Array }[],
): void {
  if (part.children.length > 0) {
    for (const child of part.children) collect(message, child, edits);
    return;
  }
  if (isMessagePart(part) && part.message) {
    collect(message, part.message, edits);
    return;
  }
  const body = message.subarray(part.headerEnd, part.bodyEnd);
  if (!body.includes(0)) return;
  // The Content-Transfer-Encoding fields go; one saying base64 goes at the header's end.
  for (const field of headerFieldsOf(message, part.headerStart, part.headerEnd)) {
    if (field.name === "content-transfer-encoding") {
      edits.push({ from: field.start, to: field.end, bytes: new Uint8Array(0) });
    }
  }
  const blank = part.headerEnd - headerTail(message, part.headerStart, part.headerEnd);
  edits.push({
    from: blank,
    to: blank,
    bytes: encoder.encode("Content-Transfer-Encoding: base64\r\n"),
  });
  edits.push({ from: part.headerEnd, to: part.bodyEnd, bytes: encoder.encode(base64Lines(body)) });
}

/** Octets of the blank line that ends a part's header (a part with a body has one). */
function headerTail(message: Uint8Array, start: number, end: number): number {
  const crlf = end - start >= 2 && message[end - 2] === 13 && message[end - 1] === 10;
  if (crlf && (end - start === 2 || message[end - 3] === 10)) return 2;
  return 1;
}

function base64Lines(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  const b64 = btoa(binary);
  let out = "";
  for (let i = 0; i < b64.length; i += LINE) out += b64.slice(i, i + LINE) + "\r\n";
  return out;
}

/**
 * DKIM canonicalization (RFC 6376 §3.4): the "simple" and "relaxed" algorithms for header
 * fields and for the body. Pure functions; no body length limit (the signer never emits l=).
 *
 * Header fields are handled as binary strings (one UTF-16 code unit per octet, see
 * {@link bytesToBinary}) so 8-bit header octets (RFC 6532) pass through unchanged and are hashed
 * as the very octets that were sent.
 *
 * Line ends: a message travels over SMTP as CRLF lines (RFC 5321 §2.3.8), so a bare LF is taken
 * as a line end here too and canonicalized to CRLF, as the receiving verifier will see it.
 */

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const CRLF = new Uint8Array([CR, LF]);

/** The two canonicalization algorithms of RFC 6376 §3.4. */
export type Canonicalization = "simple" | "relaxed";

/** Octets to a binary string: one char (U+0000..U+00FF) per octet, no charset decoding. */
export function bytesToBinary(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    out += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return out;
}

/** The inverse of {@link bytesToBinary}: each char's low 8 bits become one octet. */
export function binaryToBytes(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** Lower-cases A-Z only: a field name is ASCII (RFC 5322 §2.2), and other octets stay put. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/**
 * "simple" header canonicalization (RFC 6376 §3.4.1): the field exactly as it is, folding
 * included. `field` is the whole field as a binary string; a missing final CRLF is supplied.
 */
export function canonicalizeHeaderSimple(field: string): string {
  const crlf = field.replace(/\r?\n/g, "\r\n");
  return crlf.endsWith("\r\n") ? crlf : crlf + "\r\n";
}

/**
 * "relaxed" header canonicalization (RFC 6376 §3.4.2) of one whole field (binary string):
 * lower-case the name, unfold, turn each run of WSP into one SP, drop WSP at the end of the value
 * and around the colon. Returns `name:value` followed by CRLF.
 */
export function canonicalizeHeaderRelaxed(field: string): string {
  const colon = field.indexOf(":");
  const name = colon < 0 ? field : field.slice(0, colon);
  const value = colon < 0 ? "" : field.slice(colon + 1);
  const canonName = asciiLower(name.replace(/[\r\n]+/g, "").replace(/[ \t]+$/, ""));
  const canonValue = value
    .replace(/\r?\n/g, "") // unfold: CRLF removed, the WSP that follows it stays (§3.4.2)
    .replace(/[ \t]+/g, " ")
    .replace(/^ /, "")
    .replace(/ $/, "");
  return `${canonName}:${canonValue}\r\n`;
}

/** Canonicalizes one header field (binary string) with `algorithm`. */
export function canonicalizeHeader(field: string, algorithm: Canonicalization): string {
  return algorithm === "relaxed"
    ? canonicalizeHeaderRelaxed(field)
    : canonicalizeHeaderSimple(field);
}

/**
 * Walks the body line by line: `emit(start, end)` gets each line's content without its line end
 * (CRLF or bare LF). A final segment with no line end is emitted only if non-empty.
 */
function forEachLine(body: Uint8Array, emit: (start: number, end: number) => void): void {
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== LF) continue;
    emit(start, i > start && body[i - 1] === CR ? i - 1 : i);
    start = i + 1;
  }
  if (start < body.length) emit(start, body.length);
}

/** Upper bound of the canonical size: every line may gain a CR, and a final CRLF may be added. */
function outputBound(body: Uint8Array): number {
  let lines = 0;
  for (let i = 0; i < body.length; i++) if (body[i] === LF) lines++;
  return body.length + lines + 2;
}

/**
 * "simple" body canonicalization (RFC 6376 §3.4.3): lines unchanged, empty lines at the end
 * removed, and an empty body becomes a single CRLF.
 */
export function canonicalizeBodySimple(body: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(outputBound(body));
  let length = 0;
  let keep = 0; // output length just after the last non-empty line
  forEachLine(body, (start, end) => {
    out.set(body.subarray(start, end), length);
    length += end - start;
    out.set(CRLF, length);
    length += 2;
    if (end > start) keep = length;
  });
  return keep === 0 ? new Uint8Array(CRLF) : out.slice(0, keep);
}

/**
 * "relaxed" body canonicalization (RFC 6376 §3.4.4): WSP at the end of each line removed, other
 * WSP runs reduced to one SP, empty lines at the end removed, CRLF added to a last line that
 * lacks one. An empty body stays empty (RFC 6376 §3.4.4, as corrected by erratum 1384).
 *
 * One indexed pass with no call per line or octet: every outgoing message goes through here.
 */
export function canonicalizeBodyRelaxed(body: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(outputBound(body));
  let length = 0;
  let keep = 0; // output length just after the last non-empty line
  let lineStart = 0; // output length where the current line began
  let pendingSpace = false;
  const n = body.length;
  for (let i = 0; i < n; i++) {
    const octet = body[i];
    // A line ends at LF; a CR right before it belongs to the line end (see forEachLine).
    if (octet === LF || (octet === CR && i + 1 < n && body[i + 1] === LF)) {
      if (octet === CR) i++;
      if (length > lineStart) keep = length + 2;
      out[length++] = CR;
      out[length++] = LF;
      lineStart = length;
      pendingSpace = false;
    } else if (octet === SP || octet === HTAB) {
      pendingSpace = true;
    } else {
      if (pendingSpace) out[length++] = SP; // a WSP run inside (or leading) the line: one SP
      pendingSpace = false;
      out[length++] = octet;
    }
  }
  // A last line without a line end gets one, if anything of it stays.
  if (length > lineStart) {
    out[length++] = CR;
    out[length++] = LF;
    keep = length;
  }
  return out.slice(0, keep);
}

/** Canonicalizes a message body with `algorithm`. */
export function canonicalizeBody(
  body: Uint8Array,
  algorithm: Canonicalization,
): Uint8Array<ArrayBuffer> {
  return algorithm === "relaxed" ? canonicalizeBodyRelaxed(body) : canonicalizeBodySimple(body);
}

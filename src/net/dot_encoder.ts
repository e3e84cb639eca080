/**
 * Encodes content for a dot-terminated multi-line response or DATA (RFC 1939 §3, RFC 5321
 * §4.5.2): a line starting with "." gets one more; the content is closed with CRLF when it
 * does not end with one, then ".CRLF".
 */

const CR = 13;
const LF = 10;
const DOT = 46;

/** The byte-stuffed, terminated form of `content`. */
export function dotEncode(content: Uint8Array): Uint8Array {
  const stuffed = linesStartingWithDot(content);
  const endsWithCrlf = endsWithLineEnd(content);
  const out = new Uint8Array(content.length + stuffed.length + (endsWithCrlf ? 0 : 2) + 3);
  const at = stuff(content, stuffed, out);
  out.set(endsWithCrlf ? DOT_CRLF : CRLF_DOT_CRLF, at);
  return out;
}

/**
 * {@link dotEncode} as two parts to send one after the other: the stuffed content, which is
 * `content` itself (no copy) when no line starts with a dot, and the terminator.
 */
export function dotEncodeParts(content: Uint8Array): [Uint8Array, Uint8Array] {
  const stuffed = linesStartingWithDot(content);
  let body = content;
  if (stuffed.length > 0) {
    body = new Uint8Array(content.length + stuffed.length);
    stuff(content, stuffed, body);
  }
  return [body, endsWithLineEnd(content) ? DOT_CRLF : CRLF_DOT_CRLF];
}

const DOT_CRLF = new Uint8Array([DOT, CR, LF]);
const CRLF_DOT_CRLF = new Uint8Array([CR, LF, DOT, CR, LF]);

/** Offsets of the dots that start a line. */
function linesStartingWithDot(content: Uint8Array): number[] {
  // This runs over every octet POP3 sends. A line-starting dot is the pair LF "." (or a dot at
  // offset 0), so looking at every second octet finds each pair by one of its two halves: half
  // the loads of a plain scan, and several times faster than indexOf(".") (not memchr in V8).
  const stuffed: number[] = [];
  const n = content.length;
  if (n > 0 && content[0] === DOT) stuffed.push(0);
  for (let i = 1; i < n; i += 2) {
    const octet = content[i];
    if (octet === LF) {
      if (i + 1 < n && content[i + 1] === DOT) stuffed.push(i + 1);
    } else if (octet === DOT && content[i - 1] === LF) {
      stuffed.push(i);
    }
  }
  return stuffed;
}

function endsWithLineEnd(content: Uint8Array): boolean {
  return content.length >= 2 && content[content.length - 2] === CR &&
    content[content.length - 1] === LF;
}

/** Copies `content` into `out` with a dot doubled at each offset; returns the end in `out`. */
function stuff(content: Uint8Array, stuffed: number[], out: Uint8Array): number {
  let at = 0;
  let from = 0;
  for (const i of stuffed) {
    out.set(content.subarray(from, i), at);
    at += i - from;
    out[at++] = DOT;
    from = i;
  }
  out.set(content.subarray(from), at);
  return at + content.length - from;
}

/**
 * The header of a message and the first `lines` lines of its body (POP3 TOP, RFC 1939 §7).
 * A message without a blank line is all header.
 */
export function headAndLines(content: Uint8Array, lines: number): Uint8Array {
  let i = 0;
  // Find the end of the header: the first empty line.
  for (;;) {
    const lf = content.indexOf(LF, i);
    if (lf < 0) return content;
    const empty = lf === i || (lf === i + 1 && content[i] === CR);
    i = lf + 1;
    if (empty) break;
  }
  for (let n = 0; n < lines; n++) {
    const lf = content.indexOf(LF, i);
    if (lf < 0) return content;
    i = lf + 1;
  }
  return content.subarray(0, i);
}

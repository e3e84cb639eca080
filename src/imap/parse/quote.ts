/**
 * Response-side string rendering (RFC 3501 §4.3, RFC 9051 §4.3): atoms, quoted strings and
 * literals. Quoted strings carry only TEXT-CHARs (no NUL, CR or LF; 8-bit only in UTF-8 mode,
 * RFC 6855 §3); anything else goes out as a literal whose size counts UTF-8 octets.
 */

const encoder = new TextEncoder();

/** Whether `s` can be sent as a quoted string. */
export function isQuotable(s: string, utf8: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c === 0x0d || c === 0x0a) return false;
    if (c > 0x7f && !utf8) return false;
  }
  return true;
}

/** `s` as a quoted string, escaping `\` and `"`; the caller checks {@link isQuotable}. */
export function quoted(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

/** `s` as a string: quoted when it can be, else a literal `{n}\r\n...` (n in UTF-8 octets). */
export function stringOut(s: string, utf8: boolean): string {
  return isQuotable(s, utf8) ? quoted(s) : `{${encoder.encode(s).length}}\r\n${s}`;
}

/** `s` or NIL, for nstring positions (RFC 3501 §9 `nstring`). */
export function nstringOut(s: string | null | undefined, utf8: boolean): string {
  return s === null || s === undefined ? "NIL" : stringOut(s, utf8);
}

// RFC 3501 §9 ASTRING-CHAR: ATOM-CHAR plus "]".
const ASTRING_CHARS = /^[^\x00-\x20\x7f-\uffff(){%*"\\]+$/;

/**
 * `s` as an astring: a bare atom when it is one (but never "NIL", which naive readers take for
 * nil), else as {@link stringOut} renders it.
 */
export function astringOut(s: string, utf8: boolean): string {
  return ASTRING_CHARS.test(s) && s.toUpperCase() !== "NIL" ? s : stringOut(s, utf8);
}

/** Octets as a literal: `{n}\r\n` followed by the octets. */
export function literalFor(bytes: Uint8Array): Uint8Array {
  const head = encoder.encode(`{${bytes.length}}\r\n`);
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  return out;
}

/** IMAP string and nstring rendering (RFC 3501 §4.3, §4.5; RFC 9051 for UTF-8). Pure. */

/**
 * A quoted string when the text allows one, else a literal `{n}\r\n…` with n its UTF-8 octets:
 * quoted strings cannot hold CR, LF or NUL (RFC 3501 §4.3), nor 8-bit characters unless the
 * client accepts UTF-8 (RFC 9051 §4.3, RFC 6855).
 */
export function imapString(text: string, utf8: boolean): string {
  const needsLiteral = /[\r\n\0]/.test(text) || (!utf8 && /[^\x00-\x7f]/.test(text));
  if (needsLiteral) return `{${new TextEncoder().encode(text).length}}\r\n${text}`;
  return `"${text.replace(/["\\]/g, "\\$&")}"`;
}

/** NIL for undefined, else imapString. */
export function imapNString(text: string | undefined, utf8: boolean): string {
  return text === undefined ? "NIL" : imapString(text, utf8);
}

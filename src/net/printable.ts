/**
 * One escaping scheme for text that came from a client and goes back out: in replies, and in
 * log lines. Each UTF-16 code unit that must not appear is written as `\uXXXX` (the JSON
 * escape), so what is escaped reads the same in a reply, in a log line and in a JSON viewer.
 *
 * Why: an EHLO name or an ESMTP parameter holding U+202E (RIGHT-TO-LEFT OVERRIDE) makes a
 * terminal or a log viewer show text reversed; C1 controls (NEL U+0085), U+2028/U+2029 and
 * VT/FF break lines in some viewers; a BOM or a zero-width character hides text. Replies are
 * ASCII by nature (RFC 5321 §4.2 reply text is printable US-ASCII; RFC 1939 and RFC 9051
 * response text likewise), so they keep printable ASCII only.
 */

/** Printable US-ASCII: space (0x20) to tilde (0x7E). */
const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/g;

/**
 * Code points that do not print or that change how surrounding text is shown: every "Other"
 * category (Cc controls, Cf format characters such as the bidi overrides and isolates, U+200E/F
 * marks, U+FEFF BOM and the zero-width characters; Cs lone surrogates; Co private use; Cn
 * unassigned, which later Unicode versions may make format characters) and every separator
 * (Zl U+2028, Zp U+2029, Zs spaces other than U+0020, which can pass for it).
 */
const INVISIBLE = /[\p{C}\p{Z}]/gu;

/** `\uXXXX` for each UTF-16 code unit of `text` (a surrogate pair gives two escapes). */
export function escapeUnits(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    out += "\\u" + text.charCodeAt(i).toString(16).padStart(4, "0");
  }
  return out;
}

/**
 * `text` with everything outside printable ASCII escaped: for reply text that may hold client
 * bytes (an EHLO name, a parameter, an address). CR and LF are escaped too, so a reply line
 * can never be split into two.
 */
export function printableAscii(text: string): string {
  return text.replace(NOT_PRINTABLE_ASCII, escapeUnits);
}

/**
 * `text` with every non-printing, bidi-control and separator code point escaped (U+0020 kept);
 * other non-ASCII text (accented names, UTF-8 addresses) stays readable. For log lines.
 */
export function escapeInvisible(text: string): string {
  return text.replace(INVISIBLE, (c) => (c === " " ? c : escapeUnits(c)));
}

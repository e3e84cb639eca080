/**
 * Rendering values into IMAP responses (RFC 3501 §4, RFC 9051 §4): literals, flag lists, dates
 * (strings: `parse/quote.ts`). A response is a list of chunks, text and raw bytes, so message
 * content goes out as it is stored, never re-encoded.
 */

/** Parts of a response: text, or octets sent as they are. */
export type Chunk = string | Uint8Array;

const encoder = new TextEncoder();

/** Raw octets as a literal (RFC 3501 §4.3), or a literal8 (RFC 3516 §4.2) when asked. */
export function literal(bytes: Uint8Array, binary = false): Chunk[] {
  return [`${binary ? "~" : ""}{${bytes.length}}\r\n`, bytes];
}

/** A parenthesised flag list. */
export function flagList(flags: readonly string[]): string {
  return `(${flags.join(" ")})`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** An INTERNALDATE `date-time` (RFC 3501 §9), in UTC: `"17-Jul-1996 09:44:25 +0000"`. */
export function internalDate(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => n.toString().padStart(2, "0");
  const day = d.getUTCDate().toString().padStart(2, " ");
  return `"${day}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000"`;
}

/** The chunks as one byte string, for tests and small responses. */
export function joinChunks(chunks: readonly Chunk[]): Uint8Array {
  const parts = chunks.map((c) => typeof c === "string" ? encoder.encode(c) : c);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

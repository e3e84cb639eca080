/** IMAP ENVELOPE (RFC 3501 §7.4.2) rendered from a raw header block. Pure. */

/** The ENVELOPE list of a header block; `utf8` when the client accepts UTF-8 quoted strings. */
export function renderEnvelope(header: Uint8Array, utf8: boolean): string {
  void header, utf8;
  throw new Error("not implemented");
}

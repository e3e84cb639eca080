/** Decoded text of headers and bodies for IMAP SEARCH (RFC 3501 §6.4.4). Pure. */
import type { MimePart } from "./structure.ts";

/** The decoded values (unfolded, RFC 2047 words decoded) of every `name` field. */
export function headerValues(header: Uint8Array, name: string): string[] {
  void header, name;
  throw new Error("not implemented");
}

/** All header fields, decoded, one "Name: value" a line. */
export function headerSearchText(header: Uint8Array): string {
  void header;
  throw new Error("not implemented");
}

/** The text of every text/* part (nested messages included), decoded. */
export function bodySearchText(message: Uint8Array, root: MimePart): string {
  void message, root;
  throw new Error("not implemented");
}

/** An RFC 5322 date (obsolete forms tolerated) in ms since the epoch. */
export function parseSentDate(value: string): number | undefined {
  void value;
  throw new Error("not implemented");
}

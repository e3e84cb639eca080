/**
 * IMAP body sections (RFC 3501 §6.4.5) and BINARY decoding (RFC 3516) over a message's bytes
 * and its MIME structure. Pure.
 */
import type { MimePart } from "./structure.ts";

/** A section specifier: `part` numbers (empty = the whole message) and an optional text part. */
export interface SectionSpec {
  /** Part numbers, e.g. [1, 2] for "1.2"; [] for the message itself. */
  part: number[];
  /** The section-text, if any. */
  text?: "HEADER" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT" | "TEXT" | "MIME";
  /** Field names for HEADER.FIELDS and HEADER.FIELDS.NOT. */
  fields?: string[];
}

/** The part that part numbers name (RFC 3501 §6.4.5), or undefined when there is none. */
export function findPart(root: MimePart, part: number[]): MimePart | undefined {
  void root, part;
  throw new Error("not implemented");
}

/** The bytes of a section, or undefined when the part does not exist. */
export function sectionBytes(
  message: Uint8Array,
  root: MimePart,
  section: SectionSpec,
): Uint8Array | undefined {
  void message, root, section;
  throw new Error("not implemented");
}

/** The field lines of a header block named (or, with `not`, not named) in `fields`. */
export function headerFields(header: Uint8Array, fields: string[], not: boolean): Uint8Array {
  void header, fields, not;
  throw new Error("not implemented");
}

/** The `<offset.length>` partial of a fetched section (RFC 3501 §6.4.5). */
export function partialRange(bytes: Uint8Array, offset: number, length?: number): Uint8Array {
  void bytes, offset, length;
  throw new Error("not implemented");
}

/** The content-transfer-decoded body of a part (RFC 3516 BINARY). */
export function decodePart(message: Uint8Array, part: MimePart): Uint8Array | "unknown-encoding" {
  void message, part;
  throw new Error("not implemented");
}

/** IMAP BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) rendered from a MIME structure. Pure. */
import type { MimePart } from "../../mime/structure.ts";

/**
 * BODY (`extensible` false) or BODYSTRUCTURE (`extensible` true) of a part. Nested messages'
 * envelopes come from their stored `header`, else from `message`.
 */
export function renderBodyStructure(
  part: MimePart,
  message: Uint8Array | undefined,
  extensible: boolean,
): string {
  void part, message, extensible;
  throw new Error("not implemented");
}

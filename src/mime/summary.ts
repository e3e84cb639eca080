/**
 * A message summary: what IMAP needs to answer ENVELOPE, BODYSTRUCTURE, header fetches and
 * sorting without reading the message again. Built once at delivery, then sealed with it.
 */
import type { MimePart } from "./structure.ts";

export type { MimeDisposition, MimePart } from "./structure.ts";

/** The summary of one message. */
export interface MessageSummary {
  /** The top-level header block, raw as stored, including the blank line ending it. */
  header: Uint8Array;
  /** The MIME structure; nested message/rfc822 roots carry their raw `header`. */
  structure: MimePart;
  /** The Date: field, in ms since the epoch, when it parses. */
  sentDate?: number;
}

/** Builds the summary of a message. */
export function buildSummary(message: Uint8Array): MessageSummary {
  void message;
  throw new Error("not implemented");
}

/** Serialises a summary (versioned binary format). */
export function encodeSummary(summary: MessageSummary): Uint8Array {
  void summary;
  throw new Error("not implemented");
}

/** Reads back what encodeSummary wrote; throws an Error on anything else. */
export function decodeSummary(bytes: Uint8Array): MessageSummary {
  void bytes;
  throw new Error("not implemented");
}

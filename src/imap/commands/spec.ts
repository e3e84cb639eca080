/**
 * The shape of the IMAP command table: for each command, the states it is allowed in and its
 * handler, which writes untagged responses and returns the tagged completion.
 */
import type { ImapCommand, ImapCommandName } from "../parse/command.ts";
import type { Completion, ImapSession, ImapState } from "../session.ts";
import { printableAscii } from "../../net/printable.ts";

/**
 * The command type of one name. An intersection, not `Extract`: some union members share a
 * shape between several names (DELETE, SUBSCRIBE, UNSUBSCRIBE).
 */
export type CommandOf<N extends ImapCommandName> = ImapCommand & { name: N };

/** One row of the table. */
export interface ImapCommandSpec<N extends ImapCommandName> {
  states: readonly ImapState[];
  handle(s: ImapSession, cmd: CommandOf<N>): Promise<Completion>;
}

/** Rows for some of the commands. */
export type PartialTable<N extends ImapCommandName> = { [K in N]: ImapCommandSpec<K> };

/** Every state. */
export const ANY: readonly ImapState[] = ["not-authenticated", "authenticated", "selected"];
/** Not yet logged in. */
export const NOT_AUTH: readonly ImapState[] = ["not-authenticated"];
/** Logged in, with or without a selected mailbox. */
export const AUTH: readonly ImapState[] = ["authenticated", "selected"];
/** A mailbox is selected. */
export const SELECTED: readonly ImapState[] = ["selected"];

// Completion text is printable ASCII (RFC 9051 §9 `text` is TEXT-CHAR, no CR or LF); the texts
// are the server's, but any that quote the client (an unknown special-use attribute) stay safe.

/** A tagged OK. */
export function ok(text: string, code?: string): Completion {
  return { status: "OK", code, text: printableAscii(text) };
}

/** A tagged NO. */
export function no(text: string, code?: string): Completion {
  return { status: "NO", code, text: printableAscii(text) };
}

/**
 * The answer for a command that named messages another session expunged before this one was
 * told (RFC 2180 §4.1.2, RFC 5530 EXPUNGEISSUED): the others were served; the EXPUNGE follows.
 */
export function expungeIssued(): Completion {
  return no("Some of the messages no longer exist", "EXPUNGEISSUED");
}

/** A tagged BAD. */
export function bad(text: string, code?: string): Completion {
  return { status: "BAD", code, text: printableAscii(text) };
}

/**
 * Untagged responses that report a mailbox's changes (RFC 3501 §7.3.1, §7.4.1, RFC 7162
 * §3.2.10 VANISHED): EXISTS, RECENT, EXPUNGE, VANISHED and FETCH of changed flags.
 */
import { flagList } from "./format.ts";
import { formatSet } from "./parse/sequence_set.ts";
import type { SelectedMailbox, ViewMessage, ViewUpdate } from "./selected_mailbox.ts";
import type { Enabled } from "./session.ts";

/** A view update, or the VANISHED that stands for expunges once QRESYNC is enabled. */
export type Update = ViewUpdate | { kind: "vanished"; uids: number[] };

/** The system flags every mailbox permits (RFC 9051 §2.3.2). */
export const SYSTEM_FLAGS = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

/** The FLAGS and PERMANENTFLAGS responses of a mailbox (RFC 9051 §7.3.5, §7.1). */
export function flagsResponses(keywords: readonly string[], readOnly: boolean): string {
  const flags = [...SYSTEM_FLAGS, ...keywords];
  const permanent = readOnly ? [] : [...flags, "\\*"];
  return `* FLAGS ${flagList(flags)}\r\n* OK [PERMANENTFLAGS ${
    flagList(permanent)
  }] Flags permitted\r\n`;
}

/** The flags to show for a message: its stored flags plus \Recent where this session has it. */
export function shownFlags(message: ViewMessage, view: SelectedMailbox, rev2: boolean): string[] {
  return !rev2 && view.isRecent(message.uid) ? [...message.flags, "\\Recent"] : [...message.flags];
}

/** One update as its untagged response line. */
export function renderUpdate(
  update: Update,
  view: SelectedMailbox,
  s: { enabled: Enabled },
): string {
  switch (update.kind) {
    case "exists":
      return `* ${update.count} EXISTS\r\n`;
    case "recent":
      return `* ${update.count} RECENT\r\n`;
    case "keywords":
      return flagsResponses(update.keywords, view.readOnly);
    case "expunge":
      return `* ${update.seq} EXPUNGE\r\n`;
    case "vanished":
      return `* VANISHED ${formatSet(update.uids)}\r\n`;
    case "flags": {
      const m = update.message;
      // RFC 7162 §3.2.4: with QRESYNC, unsolicited FETCH carries the UID; with CONDSTORE, MODSEQ.
      const uid = s.enabled.qresync ? `UID ${m.uid} ` : "";
      const modseq = s.enabled.condstore ? ` MODSEQ (${m.modSeq})` : "";
      const flags = flagList(shownFlags(m, view, s.enabled.rev2));
      return `* ${update.seq} FETCH (${uid}FLAGS ${flags}${modseq})\r\n`;
    }
  }
}

/**
 * Turning a command's sequence set into the UIDs of the selected mailbox (RFC 9051 §9
 * `sequence-set`): by sequence number, or by UID with `UID` commands.
 */
import type { SequenceSet } from "../parse/command.ts";
import { STAR } from "../parse/command.ts";
import { expandSet, setContains } from "../parse/sequence_set.ts";
import type { SelectedMailbox } from "../selected_mailbox.ts";

/**
 * The UIDs the set names, ascending; a string when the set is invalid: RFC 9051 §9 requires a
 * BAD for a sequence number above the message count, `*` in an empty mailbox included.
 */
export function uidsOf(view: SelectedMailbox, set: SequenceSet, byUid: boolean): number[] | string {
  if (byUid) {
    const largest = view.uids.at(-1) ?? 0;
    return view.uids.filter((uid) => setContains(set, uid, largest));
  }
  const count = view.exists;
  for (const [a, b] of set.ranges) {
    if (a > count || b > count || (count === 0 && (a === STAR || b === STAR))) {
      return "Invalid message sequence number";
    }
  }
  return expandSet(set, count).map((seq) => view.uids[seq - 1]);
}

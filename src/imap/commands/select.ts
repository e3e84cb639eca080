/**
 * SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3), with CONDSTORE (RFC 7162 §3.1.8) and the
 * QRESYNC parameter that lets a client catch up in one round trip (RFC 7162 §3.2.5).
 */
import type { QresyncParams } from "../parse/command.ts";
import { formatSet, resolveSet } from "../parse/sequence_set.ts";
import { SelectedMailbox } from "../selected_mailbox.ts";
import { storeName, wireName } from "../mailbox_names.ts";
import { flagList } from "../format.ts";
import { flagsResponses, shownFlags } from "../updates.ts";
import type { Completion, ImapSession } from "../session.ts";
import { AUTH, bad, no, ok, type PartialTable } from "./spec.ts";

async function select(
  s: ImapSession,
  cmd: { mailbox: string; condstore: boolean; qresync?: QresyncParams },
  readOnly: boolean,
): Promise<Completion> {
  const hadSelected = s.selected !== undefined;
  s.deselect();
  // RFC 7162 §3.2.11, RFC 9051 §7.1: the previous mailbox's end is marked for the client.
  if (hadSelected && (s.enabled.qresync || s.enabled.rev2)) {
    s.untagged("OK [CLOSED] Previous mailbox is now closed");
  }
  if (cmd.qresync && !s.enabled.qresync) return bad("Enable QRESYNC first");
  if (cmd.condstore) s.enabled.condstore = true;
  const name = storeName(cmd.mailbox);
  const store = s.ports.store;
  const box = await store.getMailbox(s.mail!.address, name);
  if (!box) return no("No such mailbox", "NONEXISTENT");
  const messages = await store.listMessages(box.id);
  const view = new SelectedMailbox(box, messages, readOnly);

  s.write([flagsResponses(view.keywords, readOnly)]);
  s.untagged(`${view.exists} EXISTS`);
  if (!s.enabled.rev2) {
    s.untagged(`${view.recentCount} RECENT`);
    const firstUnseen = messages.findIndex((m) => !m.flags.includes("\\Seen"));
    if (firstUnseen >= 0) s.untagged(`OK [UNSEEN ${firstUnseen + 1}] First unseen`);
  }
  s.untagged(`OK [UIDVALIDITY ${box.uidValidity}] UIDs valid`);
  s.untagged(`OK [UIDNEXT ${box.uidNext}] Predicted next UID`);
  s.untagged(`OK [HIGHESTMODSEQ ${box.highestModSeq}] Highest`);
  if (s.enabled.rev2) s.untagged(`LIST () "/" ${wireName(box.name, true)}`);
  s.select(view);
  if (cmd.qresync && cmd.qresync.uidValidity === box.uidValidity) {
    await resync(s, view, cmd.qresync);
  }
  const verb = readOnly ? "EXAMINE" : "SELECT";
  return ok(`${verb} completed`, readOnly ? "READ-ONLY" : "READ-WRITE");
}

/**
 * RFC 7162 §3.2.5.1: VANISHED (EARLIER) for what was expunged since the client's modseq, then
 * FETCH of what changed. When the store no longer holds tombstones that old, every known UID
 * that is not in the mailbox is reported instead.
 */
async function resync(s: ImapSession, view: SelectedMailbox, q: QresyncParams): Promise<void> {
  const changes = await s.ports.store.changesSince(view.id, q.modSeq);
  const largest = view.uidNext - 1;
  const known = q.knownUids ? resolveSet(q.knownUids, largest) : [[1, largest] as [number, number]];
  const inKnown = (uid: number) => known.some(([lo, hi]) => uid >= lo && uid <= hi);
  let vanished: string;
  if (changes.complete) {
    vanished = formatSet(changes.vanished.filter(inKnown));
  } else {
    vanished = missingFrom(known, view.uids);
  }
  if (vanished !== "") s.untagged(`VANISHED (EARLIER) ${vanished}`);
  for (const meta of changes.changed) {
    const seq = view.seqOf(meta.uid);
    const message = view.message(meta.uid);
    if (seq === 0 || !message || !inKnown(meta.uid)) continue;
    const flags = flagList(shownFlags(message, view, s.enabled.rev2));
    s.untagged(`${seq} FETCH (UID ${meta.uid} FLAGS ${flags} MODSEQ (${message.modSeq}))`);
  }
}

/** The numbers of `ranges` that are not in the ascending `present`, as a sequence set. */
function missingFrom(ranges: Array<[number, number]>, present: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  for (const [lo, hi] of ranges) {
    let from = lo;
    while (i < present.length && present[i] < lo) i++;
    while (from <= hi) {
      const next = i < present.length && present[i] <= hi ? present[i] : hi + 1;
      if (next > from) parts.push(next - 1 > from ? `${from}:${next - 1}` : `${from}`);
      from = next + 1;
      if (next <= hi) i++;
    }
  }
  return parts.join(",");
}

/** SELECT and EXAMINE. */
export const SELECT_COMMANDS: PartialTable<"SELECT" | "EXAMINE"> = {
  SELECT: { states: AUTH, handle: (s, cmd) => select(s, cmd, false) },
  EXAMINE: { states: AUTH, handle: (s, cmd) => select(s, cmd, true) },
};

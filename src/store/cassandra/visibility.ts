/**
 * What a reader may show of a mailbox while other nodes are between taking UIDs and writing
 * the messages: the visibility watermark.
 *
 * UIDs and modseqs are handed out by LWTs on the mailbox row (`counters.ts`), and the message
 * rows are written afterwards. Without more, a UID taken by node A and written late becomes
 * visible after a higher UID node B took later and wrote at once; an IMAP session that saw
 * B's message believes it knows every UID below, and never learns of A's (RFC 3501 §2.3.1.1
 * lets UIDs skip, not appear behind the client's back). So every batch of counters taken
 * first announces itself: a row in `pending_grants` (mailbox, a lower bound of its first
 * modseq and first UID), written at quorum before the LWT and deleted once everything the
 * batch numbered is written. A reader then reads, strictly in this order,
 *
 *   1. the mailbox row: `uidNext` R and `highestModSeq` M;
 *   2. the mailbox's pending rows: the lowest first UID P and lowest first modseq Q;
 *   3. the messages,
 *
 * and shows only messages with UID < min(R, P) and changes up to modseq min(M, Q − 1).
 * Why nothing below the line is missing: a UID u < R was taken by an LWT that committed
 * before step 1 read R, and that batch's pending row was written before its LWT, so step 2
 * finds it unless it was already deleted; it is deleted only after the message was written,
 * so then step 3 finds the message. Either way u is hidden or shown, never skipped. The bounds
 * written are lower bounds (the node's last view of the counters, which only grow), so a
 * stale guess hides a little more for a few milliseconds, never less.
 *
 * A node that dies between its LWT and its delete leaves its row behind: rows older than
 * {@link STALE_MS} are ignored (the mailbox's newer mail would otherwise stay hidden), and they
 * expire by TTL. A message filed after such a pause — a takeover of a dead node's delivery —
 * can still appear below what a session saw; it is there on the session's next SELECT.
 */
import type { Mailbox } from "../mail_store.ts";
import { type CqlSession, num } from "./session.ts";

/** A pending row this old is taken to be a dead node's and ignored. */
export const STALE_MS = 30_000;

/** Seconds a pending row lives at most (the table's TTL and its short gc_grace). */
export const PENDING_TTL_S = 600;

/** The bounds a reader applies: messages with UID below `uidLimit`, changes up to `modSeqLimit`. */
export interface Watermark {
  uidLimit: number;
  modSeqLimit: number;
}

/** One announced batch: deleted with {@link clearPending} once its writes stand. */
export interface PendingMark {
  mailboxId: string;
  firstModSeq: number;
  grantId: string;
}

/**
 * Announces a batch that will number messages from `firstUid` (or none: undefined) and
 * changes from `firstModSeq`, before its LWT runs.
 */
export async function announcePending(
  s: CqlSession,
  mailboxId: string,
  firstUid: number | undefined,
  firstModSeq: number,
): Promise<PendingMark> {
  const mark = { mailboxId, firstModSeq, grantId: crypto.randomUUID() };
  await s.run(
    `INSERT INTO pending_grants (mailbox_id, first_modseq, grant_id, first_uid, since)
     VALUES (?, ?, ?, ?, ?) USING TTL ${PENDING_TTL_S}`,
    [mailboxId, firstModSeq, mark.grantId, firstUid ?? null, Date.now()],
  );
  return mark;
}

/** Withdraws the announcement: everything the batch numbered is written (or never will be). */
export async function clearPending(s: CqlSession, mark: PendingMark): Promise<void> {
  await s.run(
    "DELETE FROM pending_grants WHERE mailbox_id = ? AND first_modseq = ? AND grant_id = ?",
    [mark.mailboxId, mark.firstModSeq, mark.grantId],
  );
}

/** The watermark of a mailbox whose row (`box`) was read just before this call. */
export async function watermark(
  s: CqlSession,
  box: Mailbox,
  now = Date.now(),
): Promise<Watermark> {
  const rows = await s.rows(
    "SELECT first_modseq, first_uid, since FROM pending_grants WHERE mailbox_id = ?",
    [box.id],
  );
  let uidLimit = box.uidNext;
  let modSeqLimit = box.highestModSeq;
  for (const row of rows) {
    if (num(row, "since") < now - STALE_MS) continue;
    modSeqLimit = Math.min(modSeqLimit, num(row, "first_modseq") - 1);
    const firstUid = row.get("first_uid");
    if (firstUid !== null && firstUid !== undefined) {
      uidLimit = Math.min(uidLimit, num(row, "first_uid"));
    }
  }
  return { uidLimit, modSeqLimit };
}

/** The mailbox as a reader may show it: its highest modseq held at the watermark. */
export async function visibleMailbox(s: CqlSession, box: Mailbox): Promise<Mailbox> {
  const mark = await watermark(s, box);
  return mark.modSeqLimit === box.highestModSeq ? box : { ...box, highestModSeq: mark.modSeqLimit };
}

/**
 * Bounds on the store's journals, which would otherwise grow forever: the tombstones of
 * expunged messages (for `changesSince`, RFC 7162 §3.2.10 VANISHED) and the delivery records
 * that make a retried delivery idempotent. Pruning runs opportunistically inside the writes that
 * add to them, so it needs no timer and costs an index probe when there is nothing to prune.
 */
import { int } from "./rows.ts";
import type { Statements } from "./statements.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** How much journal the store keeps. */
export interface JournalBounds {
  /**
   * Tombstones older than this go. A client that was away longer gets `complete: false` and
   * resynchronises by comparing UID sets (QRESYNC's known-UIDs), which costs it bandwidth only.
   */
  tombstoneMaxAgeMs: number;
  /** At most this many tombstones per mailbox: the newest are kept. */
  tombstonesPerMailbox: number;
  /**
   * A delivery record older than this goes. A sender retries a delivery within minutes (an
   * SMTP client after a lost 250, the queue after a crash); a week covers any of them.
   */
  deliveryMaxAgeMs: number;
}

/** 30 days or 10,000 tombstones a mailbox, whichever comes first; delivery ids for 7 days. */
export const DEFAULT_JOURNAL_BOUNDS: JournalBounds = {
  tombstoneMaxAgeMs: 30 * DAY_MS,
  tombstonesPerMailbox: 10_000,
  deliveryMaxAgeMs: 7 * DAY_MS,
};

/**
 * Prunes one mailbox's tombstones beyond the bounds, raising its `vanished_floor` to the highest
 * modseq pruned so `changesSince` can tell when its answer is incomplete. Runs inside a write.
 */
export function pruneTombstones(
  sql: Statements,
  mailboxRow: number,
  now: number,
  bounds: JournalBounds,
): void {
  // modseq only grows, and so does expunged_at with it (up to clock steps): the oldest
  // tombstone is the one with the lowest modseq, and the index finds it at once.
  const oldest = sql.get(
    "SELECT expunged_at FROM expunged WHERE mailbox_id = ? ORDER BY modseq LIMIT 1",
    mailboxRow,
  );
  if (!oldest) return;
  let floor = 0;
  if (int(oldest, "expunged_at") < now - bounds.tombstoneMaxAgeMs) {
    const row = sql.get(
      "SELECT max(modseq) AS m FROM expunged WHERE mailbox_id = ? AND expunged_at < ?",
      mailboxRow,
      now - bounds.tombstoneMaxAgeMs,
    );
    if (row && row.m !== null) floor = int(row, "m");
  }
  const beyond = sql.get(
    "SELECT modseq FROM expunged WHERE mailbox_id = ? ORDER BY modseq DESC LIMIT 1 OFFSET ?",
    mailboxRow,
    bounds.tombstonesPerMailbox,
  );
  if (beyond) floor = Math.max(floor, int(beyond, "modseq"));
  if (floor === 0) return;
  sql.run("DELETE FROM expunged WHERE mailbox_id = ? AND modseq <= ?", mailboxRow, floor);
  sql.run(
    "UPDATE mailboxes SET vanished_floor = max(vanished_floor, ?) WHERE id = ?",
    floor,
    mailboxRow,
  );
}

/** Prunes the delivery records older than the bound. Runs inside a write. */
export function pruneDeliveries(sql: Statements, now: number, bounds: JournalBounds): void {
  sql.run("DELETE FROM deliveries WHERE delivered_at < ?", now - bounds.deliveryMaxAgeMs);
}

/** Prunes every mailbox's tombstones and the delivery records, as of `now`. */
export function pruneAll(sql: Statements, now: number, bounds: JournalBounds): void {
  const rows = sql.all("SELECT DISTINCT mailbox_id FROM expunged");
  for (const row of rows) pruneTombstones(sql, int(row, "mailbox_id"), now, bounds);
  pruneDeliveries(sql, now, bounds);
}

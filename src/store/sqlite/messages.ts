/**
 * The message half of the SQLite store: filing deliveries, reading sealed messages, flags,
 * copy, expunge and the change journal. Everything here is synchronous and runs inside the
 * caller's transaction. Sets of UIDs go to SQLite as one JSON array read with `json_each`, so
 * one prepared statement serves a set of any size and SQLite probes the (mailbox_id, uid) index
 * once per UID.
 */
import { applyFlags, sameFlagSet } from "../flag_sets.ts";
import type {
  Delivery,
  FlagMode,
  FlagUpdate,
  Mailbox,
  MailboxChanges,
  MessageMeta,
  MessageRef,
  SealedBody,
  SealedMessage,
  UidMap,
} from "../mail_store.ts";
import { StoreError } from "../mail_store.ts";
import { type JournalBounds, pruneTombstones } from "./journal.ts";
import { deleteOrphanBodies, ensureMailbox, findMailbox, requireUser, rowOf } from "./mailboxes.ts";
import { int, mailboxIdOf, toMessageMeta, toSealedBody, toSealedMessage } from "./rows.ts";
import type { Statements } from "./statements.ts";
import { mailboxName, normaliseFlags } from "./validate.ts";

const META_COLUMNS = "m.mailbox_id, m.uid, m.size, m.internal_date, m.flags, m.modseq";
const IN_UIDS = "m.uid IN (SELECT value FROM json_each(?))";

/** Mailbox row → its highest modseq after the change: what the change feed is told. */
export type Touched = Map<number, number>;

/**
 * Files one delivery: items already filed under this delivery id are returned as they were;
 * the others get the shared body (inserted once) and a new UID each. `touched` collects the
 * mailboxes that got a message.
 */
export function fileDelivery(
  sql: Statements,
  delivery: Delivery,
  now: number,
  touched: Touched,
): MessageRef[] {
  const refs: (MessageRef | undefined)[] = [];
  const keys: { mailbox: string; nth: number }[] = [];
  const seen = new Map<string, number>();
  for (const item of delivery.items) {
    const mailbox = mailboxName(item.mailbox);
    // Two items for one mailbox of one delivery are two messages; `nth` tells them apart.
    const key = JSON.stringify([item.address, mailbox]);
    const nth = seen.get(key) ?? 0;
    seen.set(key, nth + 1);
    keys.push({ mailbox, nth });
    const filed = sql.get(
      `SELECT mailbox_id, uid FROM deliveries
       WHERE delivery_id = ? AND address = ? AND mailbox = ? AND nth = ?`,
      delivery.id,
      item.address,
      mailbox,
      nth,
    );
    refs.push(
      filed && { mailboxId: mailboxIdOf(int(filed, "mailbox_id")), uid: int(filed, "uid") },
    );
  }
  if (refs.every((ref) => ref !== undefined)) return refs as MessageRef[];
  const bodyId = int(
    sql.one(
      "INSERT INTO bodies (data, summary) VALUES (?, ?) RETURNING id",
      delivery.body,
      delivery.summary ?? null,
    ),
    "id",
  );
  return delivery.items.map((item, i) => {
    const done = refs[i];
    if (done) return done;
    const { mailbox, nth } = keys[i];
    const box = item.createMailbox === false
      ? existingMailbox(sql, item.address, mailbox)
      : ensureMailbox(sql, item.address, mailbox);
    const row = rowOf(box);
    // One statement takes the UID and mod-sequence, so two items for the same mailbox in one
    // delivery (or batch) each get their own.
    const next = sql.one(
      `UPDATE mailboxes SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1
       WHERE id = ? RETURNING uid_next - 1 AS uid, highest_modseq`,
      row,
    );
    const uid = int(next, "uid");
    const modSeq = int(next, "highest_modseq");
    sql.run(
      `INSERT INTO messages (mailbox_id, uid, body_id, wrapped_key, key_wrap, size,
         internal_date, flags, modseq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      row,
      uid,
      bodyId,
      item.wrappedKey,
      item.keyWrap,
      delivery.size,
      delivery.internalDate,
      normaliseFlags(item.flags ?? []).join(" "),
      modSeq,
    );
    sql.run(
      `INSERT INTO deliveries (delivery_id, address, mailbox, nth, mailbox_id, uid, delivered_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      delivery.id,
      item.address,
      mailbox,
      nth,
      row,
      uid,
      now,
    );
    touched.set(row, modSeq);
    return { mailboxId: box.id, uid };
  });
}

/** The mailbox when it exists: IMAP APPEND's case, where a missing one is [TRYCREATE]. */
function existingMailbox(sql: Statements, address: string, name: string): Mailbox {
  const box = findMailbox(sql, address, name);
  if (box) return box;
  requireUser(sql, address);
  throw new StoreError(`no mailbox ${name} of ${address}`, "not-found");
}

/** Metadata of the mailbox's messages in UID order. */
export function listMessages(sql: Statements, mailboxRow: number): MessageMeta[] {
  return sql.all(
    `SELECT ${META_COLUMNS} FROM messages m WHERE m.mailbox_id = ? ORDER BY m.uid`,
    mailboxRow,
  ).map(toMessageMeta);
}

/** The sealed messages with these UIDs (ascending, no duplicates), bodies when asked. */
export function getMessages(
  sql: Statements,
  mailboxRow: number,
  uids: number[],
  withBody: boolean,
): SealedMessage[] {
  if (uids.length === 0) return [];
  return sql.all(
    `SELECT ${META_COLUMNS}, m.wrapped_key, m.key_wrap, b.summary${withBody ? ", b.data" : ""}
     FROM messages m JOIN bodies b ON b.id = m.body_id
     WHERE m.mailbox_id = ? AND ${IN_UIDS} ORDER BY m.uid`,
    mailboxRow,
    JSON.stringify(uids),
  ).map(toSealedMessage);
}

/** Bodies and wrapped keys of the messages with these UIDs (ascending, no duplicates). */
export function getBodies(sql: Statements, mailboxRow: number, uids: number[]): SealedBody[] {
  if (uids.length === 0) return [];
  const mailboxId = mailboxIdOf(mailboxRow);
  return sql.all(
    `SELECT m.uid, m.wrapped_key, m.key_wrap, b.data
     FROM messages m JOIN bodies b ON b.id = m.body_id
     WHERE m.mailbox_id = ? AND ${IN_UIDS} ORDER BY m.uid`,
    mailboxRow,
    JSON.stringify(uids),
  ).map((row) => toSealedBody(mailboxId, row));
}

/** One sealed message with its body (a single-row read: FETCH BODY[] asks message by message). */
export function getMessage(
  sql: Statements,
  mailboxRow: number,
  uid: number,
): SealedMessage | undefined {
  const row = sql.get(
    `SELECT ${META_COLUMNS}, m.wrapped_key, m.key_wrap, b.summary, b.data
     FROM messages m JOIN bodies b ON b.id = m.body_id
     WHERE m.mailbox_id = ? AND m.uid = ?`,
    mailboxRow,
    uid,
  );
  return row && toSealedMessage(row);
}

/**
 * Changes flags (RFC 3501 §6.4.6) with the UNCHANGEDSINCE test of RFC 7162 §3.1.3. Each message
 * whose flags change gets its own new modseq; one whose flags stay keeps its modseq but is
 * reported. Returns whether anything changed, for the change feed.
 */
export function storeFlags(
  sql: Statements,
  box: Mailbox,
  uids: number[],
  mode: FlagMode,
  flags: string[],
  unchangedSince: number | undefined,
): FlagUpdate & { highestModSeq?: number } {
  const given = normaliseFlags(flags);
  const row = rowOf(box);
  const update: FlagUpdate & { highestModSeq?: number } = { updated: [], modified: [] };
  if (uids.length === 0) return update;
  let modSeq = box.highestModSeq;
  const rows = sql.all(
    `SELECT ${META_COLUMNS} FROM messages m WHERE m.mailbox_id = ? AND ${IN_UIDS} ORDER BY m.uid`,
    row,
    JSON.stringify(uids),
  );
  for (const meta of rows.map(toMessageMeta)) {
    if (unchangedSince !== undefined && meta.modSeq > unchangedSince) {
      update.modified.push(meta.uid);
      continue;
    }
    const next = applyFlags(meta.flags, mode, given);
    if (sameFlagSet(next, meta.flags)) {
      update.updated.push(meta);
      continue;
    }
    modSeq++;
    sql.run(
      "UPDATE messages SET flags = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
      next.join(" "),
      modSeq,
      row,
      meta.uid,
    );
    update.updated.push({ ...meta, flags: next, modSeq });
  }
  if (modSeq !== box.highestModSeq) {
    sql.run("UPDATE mailboxes SET highest_modseq = ? WHERE id = ?", modSeq, row);
    update.highestModSeq = modSeq;
  }
  return update;
}

/**
 * Copies the messages with these UIDs (ascending) into `to`, with their flags and internal
 * dates, sharing their bodies; each copy gets the next UID and its own modseq, in source order.
 */
export function copyMessages(
  sql: Statements,
  fromRow: number,
  uids: number[],
  to: Mailbox,
  touched: Touched,
): UidMap {
  const map: UidMap = { uidValidity: to.uidValidity, source: [], target: [] };
  if (uids.length === 0) return map;
  const rows = sql.all(
    `SELECT m.uid, m.body_id, m.wrapped_key, m.key_wrap, m.size, m.internal_date, m.flags
     FROM messages m WHERE m.mailbox_id = ? AND ${IN_UIDS} ORDER BY m.uid`,
    fromRow,
    JSON.stringify(uids),
  );
  if (rows.length === 0) return map;
  const toRow = rowOf(to);
  const taken = sql.one(
    `UPDATE mailboxes SET uid_next = uid_next + ?1, highest_modseq = highest_modseq + ?1
     WHERE id = ?2 RETURNING uid_next - ?1 AS first_uid, highest_modseq - ?1 AS base_modseq,
       highest_modseq`,
    rows.length,
    toRow,
  );
  const firstUid = int(taken, "first_uid");
  const baseModSeq = int(taken, "base_modseq");
  rows.forEach((row, i) => {
    sql.run(
      `INSERT INTO messages (mailbox_id, uid, body_id, wrapped_key, key_wrap, size,
         internal_date, flags, modseq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      toRow,
      firstUid + i,
      row.body_id,
      row.wrapped_key,
      row.key_wrap,
      row.size,
      row.internal_date,
      row.flags,
      baseModSeq + 1 + i,
    );
    map.source.push(int(row, "uid"));
    map.target.push(firstUid + i);
  });
  touched.set(toRow, int(taken, "highest_modseq"));
  return map;
}

/**
 * Removes the messages with these UIDs, leaving one tombstone each under one new modseq, and
 * the bodies nobody refers to any more; returns the UIDs removed, ascending.
 */
export function expungeMessages(
  sql: Statements,
  mailboxRow: number,
  uids: number[],
  now: number,
  bounds: JournalBounds,
  touched: Touched,
): number[] {
  if (uids.length === 0) return [];
  const rows = sql.all(
    `DELETE FROM messages AS m WHERE m.mailbox_id = ? AND ${IN_UIDS} RETURNING uid, body_id`,
    mailboxRow,
    JSON.stringify(uids),
  );
  if (rows.length === 0) return [];
  // An expunge is a change of the mailbox too (RFC 7162 §3.2.10, QRESYNC's VANISHED).
  const modSeq = int(
    sql.one(
      `UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ?
       RETURNING highest_modseq`,
      mailboxRow,
    ),
    "highest_modseq",
  );
  const removed = rows.map((row) => int(row, "uid")).sort((a, b) => a - b);
  for (const uid of removed) {
    sql.run(
      "INSERT INTO expunged (mailbox_id, uid, modseq, expunged_at) VALUES (?, ?, ?, ?)",
      mailboxRow,
      uid,
      modSeq,
      now,
    );
  }
  deleteOrphanBodies(sql, new Set(rows.map((row) => int(row, "body_id"))));
  pruneTombstones(sql, mailboxRow, now, bounds);
  touched.set(mailboxRow, modSeq);
  return removed;
}

/** What changed in the mailbox after `modSeq` (RFC 7162 §3.1.4, §3.2.10). */
export function changesSince(sql: Statements, box: Mailbox, modSeq: number): MailboxChanges {
  const row = rowOf(box);
  const changed = sql.all(
    `SELECT ${META_COLUMNS} FROM messages m WHERE m.mailbox_id = ? AND m.modseq > ?
     ORDER BY m.uid`,
    row,
    modSeq,
  ).map(toMessageMeta);
  const vanished = sql.all(
    "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
    row,
    modSeq,
  ).map((r) => int(r, "uid"));
  const floor = int(
    sql.one("SELECT vanished_floor FROM mailboxes WHERE id = ?", row),
    "vanished_floor",
  );
  return { highestModSeq: box.highestModSeq, changed, vanished, complete: modSeq >= floor };
}

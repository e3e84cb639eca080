/**
 * The mailbox half of the SQLite store: mailboxes, their names and special use, subscriptions
 * and counts. Everything here is synchronous and runs inside the caller's transaction (writes
 * inside `BEGIN IMMEDIATE`), so a check and the write it guards cannot be split by another
 * writer.
 */
import {
  type Mailbox,
  MAILBOX_DELIMITER,
  type MailboxId,
  type MailboxStatus,
  type SpecialUse,
  StoreError,
} from "../mail_store.ts";
import { int, rowIdOf, text, toMailbox } from "./rows.ts";
import type { Statements } from "./statements.ts";
import { checkSpecialUse, mailboxName } from "./validate.ts";

/** The columns of a `mailboxes` row that make a {@link Mailbox}. */
const MAILBOX_COLUMNS = "id, address, name, uid_validity, uid_next, highest_modseq, special_use";

/** The row id of a mailbox this store returned (its id is the row id in decimal). */
export function rowOf(box: Mailbox): number {
  const row = rowIdOf(box.id);
  if (row === undefined) throw new TypeError(`mailbox id ${box.id} is not a row id`);
  return row;
}

/** The mailbox called `name` (already normalised), or undefined. */
export function findMailbox(sql: Statements, address: string, name: string): Mailbox | undefined {
  const row = sql.get(
    `SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE address = ? AND name = ?`,
    address,
    name,
  );
  return row && toMailbox(row);
}

/** The mailbox with the port id `id`, or undefined. */
export function mailboxById(sql: Statements, id: MailboxId): Mailbox | undefined {
  const rowId = rowIdOf(id);
  if (rowId === undefined) return undefined;
  const row = sql.get(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?`, rowId);
  return row && toMailbox(row);
}

/** The mailbox with the port id `id`; throws `StoreError("not-found")` when there is none. */
export function requireMailbox(sql: Statements, id: MailboxId): Mailbox {
  const box = mailboxById(sql, id);
  if (!box) throw new StoreError(`no mailbox ${id}`, "not-found");
  return box;
}

/** The user's mailboxes sorted by name. */
export function listMailboxes(sql: Statements, address: string): Mailbox[] {
  return sql.all(
    `SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE address = ? ORDER BY name`,
    address,
  ).map(toMailbox);
}

/** Throws `StoreError("not-found")` unless the user exists. */
export function requireUser(sql: Statements, address: string): void {
  if (!sql.get("SELECT 1 AS x FROM users WHERE address = ?", address)) {
    throw new StoreError(`no user ${address}`, "not-found");
  }
}

/**
 * Creates a mailbox with a fresh UIDVALIDITY; `StoreError("exists")` when it exists. Parents
 * are not made: IMAP lets a name's levels exist without their parents (RFC 3501 §6.3.3).
 */
export function createMailbox(
  sql: Statements,
  address: string,
  name: string,
  specialUse?: SpecialUse,
): Mailbox {
  const stored = mailboxName(name);
  checkSpecialUse(specialUse);
  if (findMailbox(sql, address, stored)) {
    throw new StoreError(`mailbox ${stored} of ${address} exists`, "exists");
  }
  requireUser(sql, address);
  return toMailbox(sql.one(
    `INSERT INTO mailboxes (id, address, name, uid_validity, uid_next, highest_modseq, special_use)
     VALUES (?, ?, ?, ?, 1, 1, ?) RETURNING ${MAILBOX_COLUMNS}`,
    nextMailboxRow(sql),
    address,
    stored,
    nextUidValidity(sql),
    specialUse ?? null,
  ));
}

/** The mailbox, created when missing (with `specialUse` then). */
export function ensureMailbox(
  sql: Statements,
  address: string,
  name: string,
  specialUse?: SpecialUse,
): Mailbox {
  return findMailbox(sql, address, mailboxName(name)) ??
    createMailbox(sql, address, name, specialUse);
}

/**
 * Renames `from` and every mailbox below it, each keeping its row (so its id, UIDVALIDITY and
 * messages); subscriptions of the renamed names follow. Not for INBOX, whose rename is a move
 * (the store does that). Throws "not-found", "exists", or "invalid" for a rename into itself.
 */
export function renameMailboxTree(sql: Statements, address: string, from: string, to: string) {
  const source = findMailbox(sql, address, from);
  if (!source) throw new StoreError(`no mailbox ${from} of ${address}`, "not-found");
  const below = from + MAILBOX_DELIMITER;
  if (to.startsWith(below)) {
    throw new StoreError(`cannot rename ${from} into itself (${to})`, "invalid");
  }
  const renames = listMailboxes(sql, address)
    .filter((box) => box.name === from || box.name.startsWith(below))
    .map((box) => ({ box, name: to + box.name.slice(from.length) }));
  const moving = new Set(renames.map((r) => r.box.name));
  for (const { name } of renames) {
    if (!moving.has(name) && findMailbox(sql, address, name)) {
      throw new StoreError(`mailbox ${name} of ${address} exists`, "exists");
    }
  }
  // Two steps, so that a new name which is the old name of another mailbox of the set
  // ("a/b" → "a" renames "a/b/b" to "a/b") never meets the UNIQUE constraint half-way. A
  // control character can be in no valid name, so the interim names clash with nothing.
  for (const { box } of renames) {
    sql.run("UPDATE mailboxes SET name = ? WHERE id = ?", `\u0000${box.id}`, rowOf(box));
  }
  for (const { box, name } of renames) {
    sql.run("UPDATE mailboxes SET name = ? WHERE id = ?", name, rowOf(box));
  }
  const subscribed = renames.filter(({ box }) =>
    sql.run("DELETE FROM subscriptions WHERE address = ? AND name = ?", address, box.name) > 0
  );
  for (const { name } of subscribed) {
    sql.run(
      "INSERT INTO subscriptions (address, name) VALUES (?, ?) ON CONFLICT DO NOTHING",
      address,
      name,
    );
  }
}

/**
 * Deletes the mailbox, its messages (cascading to its tombstones and delivery records) and the
 * bodies nobody refers to any more. Returns the mailbox as it was.
 */
export function deleteMailbox(sql: Statements, address: string, name: string): Mailbox {
  const stored = mailboxName(name);
  if (stored === "INBOX") throw new StoreError("INBOX cannot be deleted", "invalid");
  const box = findMailbox(sql, address, stored);
  if (!box) throw new StoreError(`no mailbox ${stored} of ${address}`, "not-found");
  const bodies = sql.all(
    "SELECT DISTINCT body_id FROM messages WHERE mailbox_id = ?",
    rowOf(box),
  ).map((row) => int(row, "body_id"));
  sql.run("DELETE FROM mailboxes WHERE id = ?", rowOf(box));
  deleteOrphanBodies(sql, bodies);
  return box;
}

/** Subscribes or unsubscribes `name` for the user (RFC 3501 §6.3.6, §6.3.7). */
export function setSubscribed(
  sql: Statements,
  address: string,
  name: string,
  subscribed: boolean,
): void {
  const stored = mailboxName(name);
  if (!subscribed) {
    sql.run("DELETE FROM subscriptions WHERE address = ? AND name = ?", address, stored);
    return;
  }
  requireUser(sql, address);
  sql.run(
    "INSERT INTO subscriptions (address, name) VALUES (?, ?) ON CONFLICT DO NOTHING",
    address,
    stored,
  );
}

/** The user's subscribed names, sorted. */
export function listSubscriptions(sql: Statements, address: string): string[] {
  return sql.all("SELECT name FROM subscriptions WHERE address = ? ORDER BY name", address)
    .map((row) => text(row, "name"));
}

/** The mailbox with its STATUS counts, or undefined. */
export function mailboxStatus(sql: Statements, id: MailboxId): MailboxStatus | undefined {
  const box = mailboxById(sql, id);
  if (!box) return undefined;
  // Flags are stored space-joined with system flags in canonical case (validate.ts), so a
  // flag is found by looking for it between spaces.
  const row = sql.one(
    `SELECT count(*) AS messages,
       coalesce(sum(instr(' ' || flags || ' ', ' \\Seen ') = 0), 0) AS unseen,
       coalesce(sum(instr(' ' || flags || ' ', ' \\Deleted ') > 0), 0) AS deleted,
       coalesce(sum(size), 0) AS size
     FROM messages WHERE mailbox_id = ?`,
    rowOf(box),
  );
  return {
    ...box,
    messages: int(row, "messages"),
    unseen: int(row, "unseen"),
    deleted: int(row, "deleted"),
    size: int(row, "size"),
  };
}

/** Octets of all the user's messages. */
export function usage(sql: Statements, address: string): number {
  return int(
    sql.one(
      `SELECT coalesce(sum(m.size), 0) AS size FROM messages m
       JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.address = ?`,
      address,
    ),
    "size",
  );
}

/** Deletes those of `bodyIds` that no message refers to any more. */
export function deleteOrphanBodies(sql: Statements, bodyIds: Iterable<number>): void {
  for (const id of bodyIds) {
    sql.run(
      "DELETE FROM bodies WHERE id = ? AND NOT EXISTS (SELECT 1 FROM messages WHERE body_id = ?)",
      id,
      id,
    );
  }
}

/**
 * Seconds since the epoch, but always above every UIDVALIDITY handed out before, even for a
 * mailbox deleted and created again within the same second or after the clock stepped back
 * (RFC 3501 §2.3.1.1).
 */
/**
 * The row id of a new mailbox: above every id handed out before, even one whose mailbox was
 * deleted, since a port id is never reused (a session or change-feed listener still holding
 * the old id must not see another mailbox). SQLite alone would reuse the highest deleted id.
 */
export function nextMailboxRow(sql: Statements): number {
  const last = sql.get("SELECT value FROM counters WHERE name = 'mailbox_row'");
  const highest = sql.get("SELECT max(id) AS id FROM mailboxes");
  const next = Math.max(last ? int(last, "value") : 0, highest?.id ? int(highest, "id") : 0) + 1;
  sql.run(
    `INSERT INTO counters (name, value) VALUES ('mailbox_row', ?)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
    next,
  );
  return next;
}

function nextUidValidity(sql: Statements): number {
  const last = sql.get("SELECT value FROM counters WHERE name = 'uid_validity'");
  const next = Math.max(Math.floor(Date.now() / 1000), (last ? int(last, "value") : 0) + 1);
  sql.run(
    `INSERT INTO counters (name, value) VALUES ('uid_validity', ?)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
    next,
  );
  return next;
}

/**
 * The mailbox half of the Cassandra store: the per-user name index, mailbox rows, renames,
 * subscriptions and counts.
 *
 * A mailbox row is written only by LWTs (`IF NOT EXISTS`, `IF EXISTS`, the counters' CAS):
 * mixing LWT and plain writes on the same cells lets a plain write's client timestamp shadow
 * a later LWT, so none of its cells is ever written plainly.
 */
import cassandra from "cassandra-driver";
import {
  type Mailbox,
  MAILBOX_DELIMITER,
  type MailboxStatus,
  SPECIAL_USES,
  type SpecialUse,
  StoreError,
} from "../mail_store.ts";
import { checkSpecialUse, mailboxName } from "../sqlite/validate.ts";
import { takeUidValidities } from "./counters.ts";
import { type CqlSession, num, optStr, type Param, type Row, str } from "./session.ts";

const MAILBOX_COLUMNS = "id, address, name, uid_validity, uid_next, highest_modseq, special_use";

/** A `mailboxes` row as the port's Mailbox. */
export function toMailbox(row: Row): Mailbox {
  const use = optStr(row, "special_use");
  return {
    id: str(row, "id"),
    address: str(row, "address"),
    name: str(row, "name"),
    uidValidity: num(row, "uid_validity"),
    uidNext: num(row, "uid_next"),
    highestModSeq: num(row, "highest_modseq"),
    ...(use && SPECIAL_USES.includes(use as SpecialUse) ? { specialUse: use as SpecialUse } : {}),
  };
}

/** The mailbox with this id, or undefined. */
export async function mailboxById(s: CqlSession, id: string): Promise<Mailbox | undefined> {
  const row = await s.row(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?`, [id]);
  return row && row.get("uid_next") !== null ? toMailbox(row) : undefined;
}

/** The mailbox with this id; "not-found" when there is none. */
export async function requireMailbox(s: CqlSession, id: string): Promise<Mailbox> {
  const box = await mailboxById(s, id);
  if (!box) throw new StoreError(`no mailbox ${id}`, "not-found");
  return box;
}

/** The id the name index gives `name` (normalised), or undefined. */
export async function idOfName(
  s: CqlSession,
  address: string,
  name: string,
): Promise<string | undefined> {
  const row = await s.row("SELECT id FROM mailbox_names WHERE address = ? AND name = ?", [
    address,
    name,
  ]);
  return row ? str(row, "id") : undefined;
}

/** The mailbox called `name` (normalised), or undefined. */
export async function findMailbox(
  s: CqlSession,
  address: string,
  name: string,
): Promise<Mailbox | undefined> {
  const id = await idOfName(s, address, name);
  return id === undefined ? undefined : await mailboxById(s, id);
}

/** The user's mailboxes sorted by name (the index's clustering order). */
export async function listMailboxes(s: CqlSession, address: string): Promise<Mailbox[]> {
  const names = await s.rows("SELECT name, id FROM mailbox_names WHERE address = ?", [address]);
  const boxes = await Promise.all(names.map((row) => mailboxById(s, str(row, "id"))));
  return boxes.filter((box): box is Mailbox => box !== undefined);
}

/** Throws "not-found" unless the user exists. */
export async function requireUser(s: CqlSession, address: string): Promise<void> {
  if (!await s.row("SELECT address FROM users WHERE address = ?", [address])) {
    throw new StoreError(`no user ${address}`, "not-found");
  }
}

/**
 * Creates mailboxes of one user, each with a fresh id (a time-based UUID, never reused) and
 * UIDVALIDITY; "exists" for a name taken, "not-found" for an unknown user. The name is claimed
 * by an LWT on the index, so two nodes creating one name at once make one mailbox.
 */
export async function createMailboxes(
  s: CqlSession,
  address: string,
  wanted: { name: string; specialUse?: SpecialUse }[],
): Promise<Mailbox[]> {
  const names = wanted.map((w) => {
    checkSpecialUse(w.specialUse);
    return mailboxName(w.name);
  });
  for (const name of names) {
    if (await idOfName(s, address, name)) {
      throw new StoreError(`mailbox ${name} of ${address} exists`, "exists");
    }
  }
  await requireUser(s, address);
  const first = await takeUidValidities(s, names.length);
  const created: Mailbox[] = [];
  for (const [i, name] of names.entries()) {
    const box: Mailbox = {
      id: cassandra.types.TimeUuid.now().toString(),
      address,
      name,
      uidValidity: first + i,
      uidNext: 1,
      highestModSeq: 1,
      ...(wanted[i].specialUse ? { specialUse: wanted[i].specialUse } : {}),
    };
    await s.cas(
      `INSERT INTO mailboxes (${MAILBOX_COLUMNS}) VALUES (?, ?, ?, ?, 1, 1, ?) IF NOT EXISTS`,
      [box.id, address, name, box.uidValidity, box.specialUse ?? null],
    );
    const claim = await s.cas(
      "INSERT INTO mailbox_names (address, name, id) VALUES (?, ?, ?) IF NOT EXISTS",
      [address, name, box.id],
    );
    if (!claim.applied) {
      await s.cas("DELETE FROM mailboxes WHERE id = ? IF EXISTS", [box.id]);
      throw new StoreError(`mailbox ${name} of ${address} exists`, "exists");
    }
    created.push(box);
  }
  return created;
}

/** The mailbox, created when missing; a creation lost to another node returns the winner's. */
export async function ensureMailbox(
  s: CqlSession,
  address: string,
  name: string,
  specialUse?: SpecialUse,
): Promise<Mailbox> {
  const stored = mailboxName(name);
  const found = await findMailbox(s, address, stored);
  if (found) return found;
  try {
    return (await createMailboxes(s, address, [{ name: stored, specialUse }]))[0];
  } catch (err) {
    if (!(err instanceof StoreError) || err.code !== "exists") throw err;
    const winner = await findMailbox(s, address, stored);
    if (!winner) throw new StoreError(`mailbox ${stored} changed meanwhile; retry`, "conflict");
    return winner;
  }
}

/**
 * Renames `from` and the mailboxes below it in one conditional batch on the user's index
 * partition: every old name must still point at the mailbox read, every new name must still
 * be free, or nothing changes ("conflict"). The mailbox rows' names follow; subscriptions too.
 */
export async function renameMailboxTree(
  s: CqlSession,
  address: string,
  from: string,
  to: string,
): Promise<void> {
  const below = from + MAILBOX_DELIMITER;
  if (to.startsWith(below)) {
    throw new StoreError(`cannot rename ${from} into itself (${to})`, "invalid");
  }
  const index = await s.rows("SELECT name, id FROM mailbox_names WHERE address = ?", [address]);
  const byName = new Map(index.map((row) => [str(row, "name"), str(row, "id")]));
  if (!byName.has(from)) throw new StoreError(`no mailbox ${from} of ${address}`, "not-found");
  const moves = [...byName].filter(([name]) => name === from || name.startsWith(below))
    .map(([name, id]) => ({ old: name, name: to + name.slice(from.length), id }));
  const oldNames = new Set(moves.map((m) => m.old));
  const newNames = new Set(moves.map((m) => m.name));
  for (const { name } of moves) {
    if (!oldNames.has(name) && byName.has(name)) {
      throw new StoreError(`mailbox ${name} of ${address} exists`, "exists");
    }
  }
  // A name both freed and taken by the set is updated in place: a delete and an insert of one
  // row in one batch share a timestamp, and then the delete would win.
  const statements: { query: string; params: Param[] }[] = [];
  for (const m of moves) {
    if (oldNames.has(m.name)) {
      statements.push({
        query: "UPDATE mailbox_names SET id = ? WHERE address = ? AND name = ? IF id = ?",
        params: [m.id, address, m.name, byName.get(m.name)!],
      });
    } else {
      statements.push({
        query: "INSERT INTO mailbox_names (address, name, id) VALUES (?, ?, ?) IF NOT EXISTS",
        params: [address, m.name, m.id],
      });
    }
    if (!newNames.has(m.old)) {
      statements.push({
        query: "DELETE FROM mailbox_names WHERE address = ? AND name = ? IF id = ?",
        params: [address, m.old, m.id],
      });
    }
  }
  if (!await s.casBatch(statements)) {
    throw new StoreError(`the mailboxes of ${address} changed meanwhile; retry`, "conflict");
  }
  for (const m of moves) {
    await s.cas("UPDATE mailboxes SET name = ? WHERE id = ? IF EXISTS", [m.name, m.id]);
  }
  const subscribed = new Set(await listSubscriptions(s, address));
  const follow = moves.filter((m) => subscribed.has(m.old));
  const followed = new Set(follow.map((m) => m.name));
  await s.batch([
    ...follow.filter((m) => !followed.has(m.old)).map((m) => ({
      query: "DELETE FROM subscriptions WHERE address = ? AND name = ?",
      params: [address, m.old],
    })),
    ...follow.map((m) => ({
      query: "INSERT INTO subscriptions (address, name) VALUES (?, ?)",
      params: [address, m.name],
    })),
  ]);
}

/** Subscribes or unsubscribes `name` (RFC 3501 §6.3.6, §6.3.7). */
export async function setSubscribed(
  s: CqlSession,
  address: string,
  name: string,
  subscribed: boolean,
): Promise<void> {
  const stored = mailboxName(name);
  if (!subscribed) {
    await s.run("DELETE FROM subscriptions WHERE address = ? AND name = ?", [address, stored]);
    return;
  }
  await requireUser(s, address);
  await s.run("INSERT INTO subscriptions (address, name) VALUES (?, ?)", [address, stored]);
}

/** The subscribed names, sorted. */
export async function listSubscriptions(s: CqlSession, address: string): Promise<string[]> {
  const rows = await s.rows("SELECT name FROM subscriptions WHERE address = ?", [address]);
  return rows.map((row) => str(row, "name"));
}

/** Counts of one mailbox's messages from their metadata (flags space-joined, as in SQLite). */
export function countStatus(
  box: Mailbox,
  metas: { flags: string[]; size: number }[],
): MailboxStatus {
  let unseen = 0;
  let deleted = 0;
  let size = 0;
  for (const m of metas) {
    if (!m.flags.includes("\\Seen")) unseen++;
    if (m.flags.includes("\\Deleted")) deleted++;
    size += m.size;
  }
  return { ...box, messages: metas.length, unseen, deleted, size };
}

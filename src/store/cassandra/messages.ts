/**
 * The message half of the Cassandra store: bucketed message rows, chunked bodies shared by
 * reference, and the tombstone journal of expunges with its bounds.
 *
 * Writes here are plain (client-timestamped) except where two nodes may race on one cell:
 * flag changes (`IF modseq = ?`, so a concurrent change is never lost) and expunges
 * (`DELETE … IF EXISTS`, so of two sessions expunging one message exactly one reports it).
 * A plain write followed by an LWT on the same cells relies on the node clocks agreeing (NTP);
 * `fsmtp --test` measures the skew against the cluster.
 */
import type { KeyWrap } from "../../crypto/message_seal.ts";
import type { MessageMeta, SealedMessage } from "../mail_store.ts";
import type { JournalBounds } from "../sqlite/journal.ts";
import { CHUNK_SIZE, UID_BUCKET } from "./schema.ts";
import { bytes, type CqlSession, num, optBytes, type Param, type Row, str } from "./session.ts";

/** A message row: metadata and what opens it. */
export interface StoredMessage extends MessageMeta {
  bodyId: string;
  wrappedKey: Uint8Array;
  keyWrap: KeyWrap;
}

const COLUMNS = "mailbox_id, uid, body_id, wrapped_key, key_wrap, size, internal_date, flags, " +
  "modseq";

/** Bucket reads in flight at once for one mailbox scan. */
const SCAN_PARALLELISM = 16;

/** The partition bucket of a UID. */
export function bucketOf(uid: number): number {
  return Math.floor(uid / UID_BUCKET);
}

function toStored(row: Row): StoredMessage {
  const flags = str(row, "flags");
  return {
    mailboxId: str(row, "mailbox_id"),
    uid: num(row, "uid"),
    bodyId: str(row, "body_id"),
    wrappedKey: bytes(row, "wrapped_key"),
    keyWrap: str(row, "key_wrap") as KeyWrap,
    size: num(row, "size"),
    internalDate: num(row, "internal_date"),
    flags: flags === "" ? [] : flags.split(" "),
    modSeq: num(row, "modseq"),
  };
}

/** Just the metadata of a stored message. */
export function metaOf(m: StoredMessage): MessageMeta {
  return {
    mailboxId: m.mailboxId,
    uid: m.uid,
    size: m.size,
    internalDate: m.internalDate,
    flags: m.flags,
    modSeq: m.modSeq,
  };
}

/**
 * The mailbox's messages with UIDs below `uidNext`, in UID order: every bucket below it, or,
 * with `uids` (a set, ascending), only the buckets holding them, each read as one UID range
 * and filtered here. `uidNext` may be a visibility watermark below the mailbox's own, so a
 * row at it or above is never returned.
 */
export async function readMessages(
  s: CqlSession,
  mailboxId: string,
  uidNext: number,
  uids?: number[],
): Promise<StoredMessage[]> {
  const ranges = new Map<number, { min: number; max: number }>();
  if (uids) {
    for (const uid of uids) {
      if (uid >= uidNext) break;
      const b = bucketOf(uid);
      const r = ranges.get(b);
      if (r) r.max = uid;
      else ranges.set(b, { min: uid, max: uid });
    }
  } else {
    for (let b = 0; b <= bucketOf(Math.max(0, uidNext - 1)); b++) {
      ranges.set(b, { min: 0, max: uidNext - 1 });
    }
  }
  const tasks = [...ranges].map(([bucket, { min, max }]) => () =>
    s.rows(
      `SELECT ${COLUMNS} FROM messages WHERE mailbox_id = ? AND bucket = ? AND uid >= ?
       AND uid <= ?`,
      [mailboxId, bucket, min, max],
    )
  );
  const rows = (await limited(tasks, SCAN_PARALLELISM)).flat().map(toStored);
  if (!uids) return rows;
  const wanted = new Set(uids);
  return rows.filter((m) => wanted.has(m.uid));
}

/** One message row, or undefined. */
export async function readMessage(
  s: CqlSession,
  mailboxId: string,
  uid: number,
): Promise<StoredMessage | undefined> {
  const row = await s.row(
    `SELECT ${COLUMNS} FROM messages WHERE mailbox_id = ? AND bucket = ? AND uid = ?`,
    [mailboxId, bucketOf(uid), uid],
  );
  return row && toStored(row);
}

/** Inserts message rows and their body references. */
export async function insertMessages(s: CqlSession, messages: StoredMessage[]): Promise<void> {
  await Promise.all(messages.map(async (m) => {
    // The reference first: a body is deleted only when it has none, so it cannot go from
    // under a message being written.
    await s.run("INSERT INTO body_refs (body_id, mailbox_id, uid) VALUES (?, ?, ?)", [
      m.bodyId,
      m.mailboxId,
      m.uid,
    ]);
    await s.run(
      `INSERT INTO messages (mailbox_id, bucket, uid, body_id, wrapped_key, key_wrap, size,
         internal_date, flags, modseq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        m.mailboxId,
        bucketOf(m.uid),
        m.uid,
        m.bodyId,
        m.wrappedKey,
        m.keyWrap,
        m.size,
        m.internalDate,
        m.flags.join(" "),
        m.modSeq,
      ],
    );
  }));
}

/**
 * Sets a message's flags and modseq if its modseq is still `expected`; false when another
 * change came first (or the message is gone), and the caller reads it again.
 */
export async function casFlags(
  s: CqlSession,
  m: StoredMessage,
  expected: number,
): Promise<boolean> {
  const cas = await s.cas(
    `UPDATE messages SET flags = ?, modseq = ? WHERE mailbox_id = ? AND bucket = ? AND uid = ?
     IF modseq = ?`,
    [m.flags.join(" "), m.modSeq, m.mailboxId, bucketOf(m.uid), m.uid, expected],
  );
  return cas.applied;
}

/** Replaces a message's wrapped key (a plain write: only re-wraps write these cells). */
export async function rewrap(
  s: CqlSession,
  mailboxId: string,
  uid: number,
  wrappedKey: Uint8Array,
  keyWrap: KeyWrap,
): Promise<void> {
  if (!await readMessage(s, mailboxId, uid)) return;
  await s.run(
    `UPDATE messages SET wrapped_key = ?, key_wrap = ? WHERE mailbox_id = ? AND bucket = ?
     AND uid = ?`,
    [wrappedKey, keyWrap, mailboxId, bucketOf(uid), uid],
  );
}

/**
 * Deletes the messages (LWT, so a message two sessions expunge at once is reported by one),
 * their references, and the bodies left without one. Returns those this call removed.
 */
export async function deleteMessages(
  s: CqlSession,
  messages: StoredMessage[],
  exclusive: boolean,
): Promise<StoredMessage[]> {
  const removed = await Promise.all(messages.map(async (m) => {
    const key: Param[] = [m.mailboxId, bucketOf(m.uid), m.uid];
    if (exclusive) {
      const cas = await s.cas(
        "DELETE FROM messages WHERE mailbox_id = ? AND bucket = ? AND uid = ? IF EXISTS",
        key,
      );
      if (!cas.applied) return undefined;
    } else {
      await s.run("DELETE FROM messages WHERE mailbox_id = ? AND bucket = ? AND uid = ?", key);
    }
    await s.run("DELETE FROM body_refs WHERE body_id = ? AND mailbox_id = ? AND uid = ?", [
      m.bodyId,
      m.mailboxId,
      m.uid,
    ]);
    return m;
  }));
  const gone = removed.filter((m): m is StoredMessage => m !== undefined);
  await deleteOrphanBodies(s, new Set(gone.map((m) => m.bodyId)));
  return gone;
}

/** Deletes those of `bodyIds` that no message refers to any more. */
export async function deleteOrphanBodies(s: CqlSession, bodyIds: Iterable<string>): Promise<void> {
  await Promise.all([...bodyIds].map(async (id) => {
    if (await s.row("SELECT uid FROM body_refs WHERE body_id = ? LIMIT 1", [id])) return;
    const meta = await s.row("SELECT chunks FROM bodies WHERE body_id = ?", [id]);
    const chunks = meta ? num(meta, "chunks") : 0;
    await s.run("DELETE FROM bodies WHERE body_id = ?", [id]);
    await Promise.all(
      Array.from(
        { length: chunks },
        (_, i) => s.run("DELETE FROM body_chunks WHERE body_id = ? AND chunk = ?", [id, i]),
      ),
    );
  }));
}

/**
 * Stores a body in chunks, then its metadata row (last: a body row means a whole body), under
 * `id` (a fresh UUID unless an import gives one derived from the content).
 */
export async function writeBody(
  s: CqlSession,
  body: Uint8Array,
  summary: Uint8Array | undefined,
  id: string = crypto.randomUUID(),
): Promise<string> {
  const chunks = Math.ceil(body.length / CHUNK_SIZE);
  await Promise.all(
    Array.from(
      { length: chunks },
      (_, i) =>
        s.run("INSERT INTO body_chunks (body_id, chunk, data) VALUES (?, ?, ?)", [
          id,
          i,
          body.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE),
        ]),
    ),
  );
  // Without a summary the column is left unset, not written null: a null is a tombstone with
  // this write's timestamp, which could shadow the later `setSummary`.
  if (summary) {
    await s.run("INSERT INTO bodies (body_id, length, chunks, summary) VALUES (?, ?, ?, ?)", [
      id,
      body.length,
      chunks,
      summary,
    ]);
  } else {
    await s.run("INSERT INTO bodies (body_id, length, chunks) VALUES (?, ?, ?)", [
      id,
      body.length,
      chunks,
    ]);
  }
  return id;
}

/** A body's summary, and its octets when asked; undefined when the body is gone. */
export async function readBody(
  s: CqlSession,
  bodyId: string,
  withData: boolean,
): Promise<{ summary?: Uint8Array; data?: Uint8Array } | undefined> {
  const meta = await s.row("SELECT length, chunks, summary FROM bodies WHERE body_id = ?", [
    bodyId,
  ]);
  if (!meta) return undefined;
  const summary = optBytes(meta, "summary");
  if (!withData) return summary ? { summary } : {};
  const parts = await Promise.all(
    Array.from(
      { length: num(meta, "chunks") },
      (_, i) => s.row("SELECT data FROM body_chunks WHERE body_id = ? AND chunk = ?", [bodyId, i]),
    ),
  );
  const data = new Uint8Array(num(meta, "length"));
  let at = 0;
  for (const part of parts) {
    if (!part) return undefined;
    const chunk = bytes(part, "data");
    data.set(chunk, at);
    at += chunk.length;
  }
  return summary ? { summary, data } : { data };
}

/** Stored messages with their sealed parts, in UID order. */
export async function withBodies(
  s: CqlSession,
  messages: StoredMessage[],
  withData: boolean,
): Promise<SealedMessage[]> {
  const bodies = await Promise.all(messages.map((m) => readBody(s, m.bodyId, withData)));
  return messages.flatMap((m, i) => {
    const body = bodies[i];
    if (!body) return [];
    return [{
      ...metaOf(m),
      wrappedKey: m.wrappedKey,
      keyWrap: m.keyWrap,
      ...(body.summary ? { summary: body.summary } : {}),
      ...(withData && body.data ? { body: body.data } : {}),
    }];
  });
}

/** Stores the summary of a body that has none (an LWT: the first summary made wins). */
export async function setSummary(s: CqlSession, bodyId: string, summary: Uint8Array) {
  await s.cas("UPDATE bodies SET summary = ? WHERE body_id = ? IF length >= 0 AND summary = null", [
    summary,
    bodyId,
  ]);
}

/** Writes one tombstone per UID under `modSeq`, then prunes the mailbox's journal. */
export async function writeTombstones(
  s: CqlSession,
  mailboxId: string,
  uids: number[],
  modSeq: number,
  now: number,
  bounds: JournalBounds,
): Promise<void> {
  await s.batch(uids.map((uid) => ({
    query: "INSERT INTO expunged (mailbox_id, modseq, uid, expunged_at) VALUES (?, ?, ?, ?)",
    params: [mailboxId, modSeq, uid, now],
  })));
  await pruneTombstones(s, mailboxId, now, bounds);
}

/**
 * Prunes one mailbox's tombstones beyond the age and count bounds, recording the highest
 * modseq pruned as a floor so `changesSince` can tell when its answer is incomplete. The
 * floor is a set whose largest member counts, so raising it needs no read-modify-write.
 */
export async function pruneTombstones(
  s: CqlSession,
  mailboxId: string,
  now: number,
  bounds: JournalBounds,
): Promise<void> {
  const rows = await s.rows(
    "SELECT modseq, expunged_at FROM expunged WHERE mailbox_id = ? ORDER BY modseq DESC LIMIT ?",
    [mailboxId, bounds.tombstonesPerMailbox + 1],
  );
  let floor = 0;
  if (rows.length > bounds.tombstonesPerMailbox) floor = num(rows[rows.length - 1], "modseq");
  for (const row of rows) {
    if (num(row, "expunged_at") < now - bounds.tombstoneMaxAgeMs) {
      floor = Math.max(floor, num(row, "modseq"));
      break;
    }
  }
  if (floor === 0) return;
  await s.run("INSERT INTO vanished_floor (mailbox_id, floor) VALUES (?, ?)", [mailboxId, floor]);
  await s.run("DELETE FROM expunged WHERE mailbox_id = ? AND modseq <= ?", [mailboxId, floor]);
}

/** The mailbox's pruning floor: changes since below it may miss expunges. */
export async function vanishedFloor(s: CqlSession, mailboxId: string): Promise<number> {
  const row = await s.row("SELECT floor FROM vanished_floor WHERE mailbox_id = ? LIMIT 1", [
    mailboxId,
  ]);
  return row ? num(row, "floor") : 0;
}

/** UIDs expunged after `modSeq` and up to `upTo`, ascending. */
export async function vanishedSince(
  s: CqlSession,
  mailboxId: string,
  modSeq: number,
  upTo: number,
): Promise<number[]> {
  const rows = await s.rows(
    "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? AND modseq <= ?",
    [mailboxId, modSeq, upTo],
  );
  return rows.map((row) => num(row, "uid")).sort((a, b) => a - b);
}

/** Runs the tasks with at most `n` in flight; results in task order. */
export async function limited<T>(tasks: (() => Promise<T>)[], n: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  return results;
}

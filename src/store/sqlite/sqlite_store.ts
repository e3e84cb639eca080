/**
 * The embedded MailStore: one SQLite file through node:sqlite, zero set-up.
 *
 * Durability: WAL with `synchronous = FULL`, so a committed transaction is fsync'd before the
 * method that made it resolves (DESIGN.md, Durability), and the change feed hears of a change
 * only then. Speed: node:sqlite is synchronous and a commit's fsync blocks the process, so
 * deliveries, key re-wraps and summaries are group-committed (see `group_commit.ts`) and their
 * flush runs off the event loop (`wal_sync.ts`); the rarer writes (flags, copy, expunge,
 * mailboxes, users) commit and flush on their own.
 *
 * The port's mailbox ids are the mailbox rows' integer ids in decimal; only this folder knows.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { KeyWrap } from "../../crypto/message_seal.ts";
import { type ChangeFeed, InProcessChangeFeed, type MailboxEvent } from "../change_feed.ts";
import {
  DEFAULT_MAILBOXES,
  type Delivery,
  type FlagMode,
  type FlagUpdate,
  type Mailbox,
  type MailboxChanges,
  type MailboxId,
  type MailboxStatus,
  type MailStore,
  type MessageMeta,
  type MessageRef,
  type SealedBody,
  type SealedMessage,
  type SpecialUse,
  StoreError,
  type UidMap,
  type UserRecord,
} from "../mail_store.ts";
import { GroupCommit, type Outcome } from "./group_commit.ts";
import {
  DEFAULT_JOURNAL_BOUNDS,
  type JournalBounds,
  pruneAll,
  pruneDeliveries,
} from "./journal.ts";
import * as boxes from "./mailboxes.ts";
import * as msgs from "./messages.ts";
import { int, mailboxIdOf, rowIdOf, text, toUser } from "./rows.ts";
import { migrate } from "./schema.ts";
import { SqliteQueueStore } from "./sqlite_queue.ts";
import { SqliteApiStore } from "./sqlite_api_tokens.ts";
import { SqliteStoreImport } from "./store_import.ts";
import { Statements } from "./statements.ts";
import { WalSync } from "./wal_sync.ts";
import { checkDelivery, checkKeyWrap, mailboxName, uidSet } from "./validate.ts";

/**
 * How long a write waits for another process's lock (the CLI beside a running server). The
 * wait blocks the event loop, so it is kept to seconds: long enough for a commit, short enough
 * that a stuck lock surfaces as an error.
 */
const BUSY_TIMEOUT_MS = 5_000;

/** Delivery records are pruned at most this often (the prune is one indexed DELETE). */
const DELIVERY_PRUNE_EVERY_MS = 60_000;

/** How to open the store. */
export interface SqliteStoreOptions {
  /** The feed to publish changes on; a new in-process feed when absent. */
  changes?: ChangeFeed;
  /** Journal bounds; {@link DEFAULT_JOURNAL_BOUNDS} for what is not given. */
  journal?: Partial<JournalBounds>;
  /** How long a write waits for another connection's lock; 5 s when absent. */
  busyTimeoutMs?: number;
}

/** A small write to one message, batched like deliveries. */
type MessageWrite =
  | { kind: "rewrap"; row: number; uid: number; wrappedKey: Uint8Array; keyWrap: KeyWrap }
  | { kind: "summary"; row: number; uid: number; summary: Uint8Array };

/** A MailStore on one SQLite file. */
export class SqliteMailStore implements MailStore {
  /** Wakes sessions on a mailbox once a change of it is durable. */
  readonly changes: ChangeFeed;
  #db: DatabaseSync;
  #sql: Statements;
  #bounds: JournalBounds;
  #commits = 0;
  #closed = false;
  #deliveriesPrunedAt = 0;
  #deliveries: GroupCommit<Delivery, MessageRef[]>;
  #messageWrites: GroupCommit<MessageWrite, void>;
  #queue?: SqliteQueueStore;
  #api?: SqliteApiStore;
  /** Flushes group-committed batches off the event loop, for the queue too. */
  #wal: WalSync;

  private constructor(db: DatabaseSync, readonly path: string, options: SqliteStoreOptions) {
    this.#db = db;
    this.#sql = new Statements(db);
    this.changes = options.changes ?? new InProcessChangeFeed();
    this.#bounds = { ...DEFAULT_JOURNAL_BOUNDS, ...options.journal };
    this.#wal = new WalSync(db, path);
    this.#deliveries = new GroupCommit((b) => this.#deliverBatch(b), undefined, this.#wal);
    this.#messageWrites = new GroupCommit((b) => this.#messageWriteBatch(b), undefined, this.#wal);
  }

  /**
   * Opens (creating when missing, with its parent folder) the store at `path` and brings its
   * schema up to date. Throws, naming the file, when it was written by a newer fsmtp.
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteMailStore {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const db = new DatabaseSync(path);
    try {
      // busy_timeout first: the WAL switch itself may have to wait for another process.
      db.exec(`PRAGMA busy_timeout = ${Math.floor(options.busyTimeoutMs ?? BUSY_TIMEOUT_MS)}`);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = FULL");
      db.exec("PRAGMA foreign_keys = ON");
      migrate(db, path);
    } catch (err) {
      db.close();
      throw unavailableWhenBusy(err);
    }
    return new SqliteMailStore(db, path, options);
  }

  /** Write transactions committed by this instance; shows group commit at work in tests. */
  get commits(): number {
    return this.#commits;
  }

  /**
   * The outbound queue in the same file and connection (schema migration 2); made on first
   * use, and closed with this store.
   */
  get queue(): SqliteQueueStore {
    this.#queue ??= new SqliteQueueStore(this.#db, this.path, () => !this.#closed, this.#wal);
    return this.#queue;
  }

  /** The HTTP API's tokens in the same file (schema migration 4). */
  get apiTokens(): SqliteApiStore {
    this.#api ??= new SqliteApiStore(this.#sql, () => !this.#closed);
    return this.#api;
  }

  /** The HTTP API's message statuses in the same file (schema migration 4). */
  get deliveryStatus(): SqliteApiStore {
    return this.apiTokens;
  }

  /**
   * The import port on this file (`fsmtp --migrate-store`), each call one write transaction of
   * this connection; one importer shares the bodies it writes (see `store_import.ts`).
   */
  importer(): SqliteStoreImport {
    return new SqliteStoreImport(this.#sql, (fn) => this.#async(() => this.#write(fn)));
  }

  /** Creates the user with INBOX and the default mailboxes, all subscribed, in one commit. */
  createUser(user: UserRecord): Promise<void> {
    return this.#async(() =>
      this.#write(() => {
        if (this.#sql.get("SELECT 1 AS x FROM users WHERE address = ?", user.address)) {
          throw new StoreError(`user ${user.address} already exists`, "exists");
        }
        this.#sql.run(
          "INSERT INTO users (address, keys, created_at) VALUES (?, ?, ?)",
          user.address,
          user.keys,
          user.createdAt,
        );
        for (const { name, specialUse } of [{ name: "INBOX" }, ...DEFAULT_MAILBOXES]) {
          boxes.createMailbox(this.#sql, user.address, name, specialUse);
          boxes.setSubscribed(this.#sql, user.address, name, true);
        }
      })
    );
  }

  /** The user at `address`, or undefined. */
  getUser(address: string): Promise<UserRecord | undefined> {
    return this.#async(() => {
      const row = this.#sql.get(
        "SELECT address, keys, created_at FROM users WHERE address = ?",
        address,
      );
      return row && toUser(row);
    });
  }

  /** Replaces the user's sealed key material. */
  updateUserKeys(address: string, keys: Uint8Array): Promise<void> {
    return this.#async(() =>
      this.#write(() => {
        const changed = this.#sql.run("UPDATE users SET keys = ? WHERE address = ?", keys, address);
        if (changed === 0) throw new StoreError(`no user ${address}`, "not-found");
      })
    );
  }

  /** Removes the user, cascading to mailboxes and messages, and the bodies left unreferenced. */
  deleteUser(address: string): Promise<boolean> {
    return this.#async(() => {
      const gone = this.#write(() => {
        const mailboxes = boxes.listMailboxes(this.#sql, address);
        const bodies = this.#sql.all(
          `SELECT DISTINCT m.body_id FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
           WHERE b.address = ?`,
          address,
        ).map((row) => int(row, "body_id"));
        if (this.#sql.run("DELETE FROM users WHERE address = ?", address) === 0) return undefined;
        boxes.deleteOrphanBodies(this.#sql, bodies);
        return mailboxes;
      });
      for (const box of gone ?? []) this.#publish(box.id, "deleted", box.highestModSeq);
      return gone !== undefined;
    });
  }

  /** Every user's address, sorted. */
  listUsers(): Promise<string[]> {
    return this.#async(() =>
      this.#sql.all("SELECT address FROM users ORDER BY address").map((row) => text(row, "address"))
    );
  }

  /** The mailbox, created with a fresh UIDVALIDITY (and `specialUse`) when missing. */
  ensureMailbox(address: string, name: string, specialUse?: SpecialUse): Promise<Mailbox> {
    return this.#async(() =>
      // The common case (the mailbox exists) costs a read, not a write transaction and fsync.
      boxes.findMailbox(this.#sql, address, mailboxName(name)) ??
        this.#write(() => boxes.ensureMailbox(this.#sql, address, name, specialUse))
    );
  }

  /** Creates the mailbox; "exists" when it does. */
  createMailbox(address: string, name: string, specialUse?: SpecialUse): Promise<Mailbox> {
    return this.#async(() =>
      this.#write(() => boxes.createMailbox(this.#sql, address, name, specialUse))
    );
  }

  /** The mailbox, or undefined (also for a name no mailbox can have). */
  getMailbox(address: string, name: string): Promise<Mailbox | undefined> {
    return this.#async(() => {
      const stored = readableName(name);
      return stored === undefined ? undefined : boxes.findMailbox(this.#sql, address, stored);
    });
  }

  /** The mailbox with this id, or undefined. */
  getMailboxById(id: MailboxId): Promise<Mailbox | undefined> {
    return this.#async(() => boxes.mailboxById(this.#sql, id));
  }

  /** The user's mailboxes, sorted by name. */
  listMailboxes(address: string): Promise<Mailbox[]> {
    return this.#async(() => boxes.listMailboxes(this.#sql, address));
  }

  /**
   * Renames the mailbox and those below it; INBOX's messages move into a new mailbox instead
   * (RFC 3501 §6.3.5), leaving INBOX empty and its inferiors where they are.
   */
  renameMailbox(address: string, from: string, to: string): Promise<void> {
    return this.#async(() => {
      const source = mailboxName(from);
      const target = mailboxName(to);
      if (source !== "INBOX") {
        this.#write(() => boxes.renameMailboxTree(this.#sql, address, source, target));
        return;
      }
      const added: msgs.Touched = new Map();
      const expunged: msgs.Touched = new Map();
      this.#write(() => {
        const inbox = boxes.findMailbox(this.#sql, address, "INBOX");
        if (!inbox) throw new StoreError(`no mailbox INBOX of ${address}`, "not-found");
        const into = boxes.createMailbox(this.#sql, address, target);
        const row = boxes.rowOf(inbox);
        const uids = msgs.listMessages(this.#sql, row).map((m) => m.uid);
        msgs.copyMessages(this.#sql, row, uids, into, added);
        msgs.expungeMessages(this.#sql, row, uids, Date.now(), this.#bounds, expunged);
      });
      this.#publishAll(added, "added");
      this.#publishAll(expunged, "expunged");
    });
  }

  /** Deletes the mailbox and its messages; "invalid" for INBOX. */
  deleteMailbox(address: string, name: string): Promise<void> {
    return this.#async(() => {
      const box = this.#write(() => boxes.deleteMailbox(this.#sql, address, name));
      this.#publish(box.id, "deleted", box.highestModSeq);
    });
  }

  /** Subscribes or unsubscribes the name. */
  setSubscribed(address: string, name: string, subscribed: boolean): Promise<void> {
    return this.#async(() =>
      this.#write(() => boxes.setSubscribed(this.#sql, address, name, subscribed))
    );
  }

  /** The subscribed names, sorted. */
  listSubscriptions(address: string): Promise<string[]> {
    return this.#async(() => boxes.listSubscriptions(this.#sql, address));
  }

  /** The mailbox with its STATUS counts, or undefined. */
  mailboxStatus(id: MailboxId): Promise<MailboxStatus | undefined> {
    return this.#async(() => this.#read(() => boxes.mailboxStatus(this.#sql, id)));
  }

  /** Octets of all the user's messages. */
  usage(address: string): Promise<number> {
    return this.#async(() => boxes.usage(this.#sql, address));
  }

  /**
   * Queues the delivery for the next group commit; resolves with where each item was filed once
   * the transaction holding it is fsync'd. An unknown recipient rejects this delivery only.
   */
  deliver(delivery: Delivery): Promise<MessageRef[]> {
    try {
      this.#checkOpen();
      checkDelivery(delivery);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#deliveries.submit(delivery);
  }

  /** The mailbox's messages in UID order; [] for an unknown mailbox. */
  listMessages(mailboxId: MailboxId): Promise<MessageMeta[]> {
    return this.#async(() => {
      const row = rowIdOf(mailboxId);
      return row === undefined ? [] : msgs.listMessages(this.#sql, row);
    });
  }

  /** The sealed messages with these UIDs in UID order, bodies when asked. */
  getMessages(mailboxId: MailboxId, uids: number[], withBody: boolean): Promise<SealedMessage[]> {
    return this.#async(() => {
      const row = rowIdOf(mailboxId);
      return row === undefined ? [] : msgs.getMessages(this.#sql, row, uidSet(uids), withBody);
    });
  }

  /** Bodies and wrapped keys of these UIDs in UID order. */
  getBodies(mailboxId: MailboxId, uids: number[]): Promise<SealedBody[]> {
    return this.#async(() => {
      const row = rowIdOf(mailboxId);
      return row === undefined ? [] : msgs.getBodies(this.#sql, row, uidSet(uids));
    });
  }

  /** One sealed message with its body, or undefined. */
  getMessage(mailboxId: MailboxId, uid: number): Promise<SealedMessage | undefined> {
    return this.#async(() => {
      const row = rowIdOf(mailboxId);
      return row === undefined ? undefined : msgs.getMessage(this.#sql, row, uid);
    });
  }

  /** Replaces the message's wrapped key. Not an IMAP-visible change, so no modseq bump. */
  rewrapMessageKey(
    mailboxId: MailboxId,
    uid: number,
    wrappedKey: Uint8Array,
    keyWrap: KeyWrap,
  ): Promise<void> {
    // Re-wraps come in bursts (a client downloading new mail) and each would be a commit of its
    // own; batching them like deliveries turns a thousand fsyncs into a few.
    try {
      this.#checkOpen();
      checkKeyWrap(keyWrap);
    } catch (err) {
      return Promise.reject(err);
    }
    const row = rowIdOf(mailboxId);
    if (row === undefined) return Promise.resolve();
    return this.#messageWrites.submit({ kind: "rewrap", row, uid, wrappedKey, keyWrap });
  }

  /** Stores the summary on the message's body when it has none; batched like re-wraps. */
  setSummary(mailboxId: MailboxId, uid: number, summary: Uint8Array): Promise<void> {
    try {
      this.#checkOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    const row = rowIdOf(mailboxId);
    if (row === undefined) return Promise.resolve();
    return this.#messageWrites.submit({ kind: "summary", row, uid, summary });
  }

  /** Changes flags in one transaction (RFC 3501 §6.4.6, RFC 7162 §3.1.3). */
  storeFlags(
    mailboxId: MailboxId,
    uids: number[],
    mode: FlagMode,
    flags: string[],
    unchangedSince?: number,
  ): Promise<FlagUpdate> {
    return this.#async(() => {
      const { highestModSeq, ...update } = this.#write(() =>
        msgs.storeFlags(
          this.#sql,
          boxes.requireMailbox(this.#sql, mailboxId),
          uidSet(uids),
          mode,
          flags,
          unchangedSince,
        )
      );
      if (highestModSeq !== undefined) this.#publish(mailboxId, "flags", highestModSeq);
      return update;
    });
  }

  /** Copies the messages into another mailbox of the same user, atomically. */
  copyMessages(from: MailboxId, uids: number[], to: MailboxId): Promise<UidMap> {
    return this.#async(() => {
      const touched: msgs.Touched = new Map();
      const map = this.#write(() => {
        const [source, target] = this.#copyPair(from, to);
        return msgs.copyMessages(this.#sql, boxes.rowOf(source), uidSet(uids), target, touched);
      });
      this.#publishAll(touched, "added");
      return map;
    });
  }

  /** Copies then expunges, in one transaction (RFC 6851 §3.3). */
  moveMessages(from: MailboxId, uids: number[], to: MailboxId): Promise<UidMap> {
    return this.#async(() => {
      const added: msgs.Touched = new Map();
      const expunged: msgs.Touched = new Map();
      const map = this.#write(() => {
        const [source, target] = this.#copyPair(from, to);
        const row = boxes.rowOf(source);
        const map = msgs.copyMessages(this.#sql, row, uidSet(uids), target, added);
        msgs.expungeMessages(this.#sql, row, map.source, Date.now(), this.#bounds, expunged);
        return map;
      });
      // Target first: a session watching both sees the message arrive before it leaves.
      this.#publishAll(added, "added");
      this.#publishAll(expunged, "expunged");
      return map;
    });
  }

  /** Removes the messages durably, leaving tombstones; returns the UIDs removed. */
  expunge(mailboxId: MailboxId, uids: number[]): Promise<number[]> {
    return this.#async(() => {
      const touched: msgs.Touched = new Map();
      const removed = this.#write(() => {
        const box = boxes.requireMailbox(this.#sql, mailboxId);
        return msgs.expungeMessages(
          this.#sql,
          boxes.rowOf(box),
          uidSet(uids),
          Date.now(),
          this.#bounds,
          touched,
        );
      });
      this.#publishAll(touched, "expunged");
      return removed;
    });
  }

  /** What changed after `modSeq`, read in one snapshot. */
  changesSince(mailboxId: MailboxId, modSeq: number): Promise<MailboxChanges> {
    return this.#async(() =>
      this.#read(() =>
        msgs.changesSince(this.#sql, boxes.requireMailbox(this.#sql, mailboxId), modSeq)
      )
    );
  }

  /**
   * Prunes the journals of every mailbox as if it were `now` (the writes prune as they go; this
   * is for maintenance and for tests that need tombstones gone).
   */
  pruneJournal(now = Date.now()): Promise<void> {
    return this.#async(() => this.#write(() => pruneAll(this.#sql, now, this.#bounds)));
  }

  /** Writes, reads back and deletes a probe row; throws naming the file when that fails. */
  selfCheck(): Promise<void> {
    return this.#async(() => {
      const value = crypto.randomUUID();
      const id = this.#write(() =>
        int(this.#sql.one("INSERT INTO probe (value) VALUES (?) RETURNING id", value), "id")
      );
      const read = this.#sql.get("SELECT value FROM probe WHERE id = ?", id);
      this.#write(() => this.#sql.run("DELETE FROM probe WHERE id = ?", id));
      if (!read || text(read, "value") !== value) {
        throw new Error(`self-check of ${this.path}: the probe row did not read back`);
      }
    });
  }

  /** Lets queued writes commit, then closes the file. Later calls reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#deliveries.drain();
    await this.#messageWrites.drain();
    await this.#queue?.drain();
    await this.#wal.close();
    this.#sql.clear();
    this.#db.close();
  }

  /** Source and target of a copy or move; both must exist and belong to one user. */
  #copyPair(from: MailboxId, to: MailboxId): [Mailbox, Mailbox] {
    const source = boxes.requireMailbox(this.#sql, from);
    const target = boxes.requireMailbox(this.#sql, to);
    if (source.address !== target.address) {
      throw new StoreError("messages can be copied only between one user's mailboxes", "invalid");
    }
    return [source, target];
  }

  /** Runs one group-commit batch: one transaction, one savepoint per delivery. */
  #deliverBatch(batch: Delivery[]): Outcome<MessageRef[]>[] {
    const db = this.#db;
    const touched: msgs.Touched = new Map();
    const now = Date.now();
    const outcomes = this.#write(() => {
      if (now - this.#deliveriesPrunedAt >= DELIVERY_PRUNE_EVERY_MS) {
        pruneDeliveries(this.#sql, now, this.#bounds);
        this.#deliveriesPrunedAt = now;
      }
      return batch.map((delivery): Outcome<MessageRef[]> => {
        // A failed delivery's mailboxes must not be announced: collect apart, merge on success.
        const mine: msgs.Touched = new Map();
        db.exec("SAVEPOINT delivery");
        try {
          const refs = msgs.fileDelivery(this.#sql, delivery, now, mine);
          db.exec("RELEASE delivery");
          for (const [row, modSeq] of mine) touched.set(row, modSeq);
          return { ok: true, value: refs };
        } catch (error) {
          // Some errors (I/O, out of memory) make SQLite roll back the whole transaction; then
          // nothing of the batch stands and every delivery in it must be rejected.
          if (!db.isTransaction) throw error;
          db.exec("ROLLBACK TO delivery");
          db.exec("RELEASE delivery");
          return { ok: false, error };
        }
      });
    });
    // Sessions hear of new mail once it is on disk (a failed flush rejects the deliveries).
    this.#wal.durable().then(() => this.#publishAll(touched, "added"), () => {});
    return outcomes;
  }

  /**
   * Runs re-wraps and summaries in one transaction; a message gone meanwhile is skipped. Like a
   * delivery batch it commits unflushed and its callers hear of it after the WAL flush, which
   * runs off the event loop (`wal_sync.ts`), so the sessions never wait on the disk for it.
   */
  #messageWriteBatch(batch: MessageWrite[]): Outcome<void>[] {
    return this.#write(() =>
      batch.map((w): Outcome<void> => {
        if (w.kind === "rewrap") {
          this.#sql.run(
            "UPDATE messages SET wrapped_key = ?, key_wrap = ? WHERE mailbox_id = ? AND uid = ?",
            w.wrappedKey,
            w.keyWrap,
            w.row,
            w.uid,
          );
        } else {
          this.#sql.run(
            `UPDATE bodies SET summary = ? WHERE summary IS NULL
               AND id = (SELECT body_id FROM messages WHERE mailbox_id = ? AND uid = ?)`,
            w.summary,
            w.row,
            w.uid,
          );
        }
        return { ok: true, value: undefined };
      })
    );
  }

  #publishAll(touched: msgs.Touched, kind: MailboxEvent["kind"]): void {
    for (const [row, modSeq] of touched) this.#publish(mailboxIdOf(row), kind, modSeq);
  }

  #publish(mailboxId: MailboxId, kind: MailboxEvent["kind"], modSeq: number): void {
    this.changes.publish({ mailboxId, kind, modSeq });
  }

  /** Runs `fn` in one write transaction; counts the commit, rolls back on any error. */
  #write<T>(fn: () => T): T {
    try {
      const result = this.#sql.transaction(fn);
      this.#commits++;
      return result;
    } catch (err) {
      throw unavailableWhenBusy(err);
    }
  }

  /** Runs `fn` in one read transaction, so its statements see one snapshot of the file. */
  #read<T>(fn: () => T): T {
    const db = this.#db;
    db.exec("BEGIN");
    try {
      return fn();
    } finally {
      if (db.isTransaction) db.exec("COMMIT");
    }
  }

  /** Runs the synchronous `fn` as the port's async method: a throw becomes a rejection. */
  #async<T>(fn: () => T): Promise<T> {
    try {
      this.#checkOpen();
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(unavailableWhenBusy(err));
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error(`the store ${this.path} is closed`);
  }
}

/** A name for reading: normalised, or undefined when no mailbox can have it. */
function readableName(name: string): string | undefined {
  try {
    return mailboxName(name);
  } catch {
    return undefined;
  }
}

/**
 * SQLITE_BUSY / SQLITE_LOCKED after the busy timeout, as the port's retryable "unavailable";
 * any other error as it is. node:sqlite reports only the message, not the result code.
 */
function unavailableWhenBusy(err: unknown): unknown {
  if (
    err instanceof Error && !(err instanceof StoreError) &&
    /database (table )?is locked|database is busy/.test(err.message)
  ) {
    return new StoreError(`the store is busy: ${err.message}`, "unavailable");
  }
  return err;
}

/**
 * The embedded MailStore: one SQLite file through node:sqlite, zero set-up.
 *
 * Durability: WAL with `synchronous = FULL`, so a committed transaction is fsync'd before the
 * method that made it resolves (DESIGN.md, Durability). Speed: node:sqlite is synchronous and a
 * commit's fsync blocks the process, so deliveries are group-committed (see `group_commit.ts`);
 * the rarer writes (flags, expunge, users) commit on their own.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  type Delivery,
  type KeyWrap,
  type Mailbox,
  type MailStore,
  type MessageMeta,
  type SealedMessage,
  StoreError,
  type UserRecord,
} from "../mail_store.ts";
import { GroupCommit, type Outcome } from "./group_commit.ts";
import { Statements } from "./statements.ts";
import { int, text, toMailbox, toMessageMeta, toSealedMessage, toUser } from "./rows.ts";
import { migrate } from "./schema.ts";
import { SqliteQueueStore } from "./sqlite_queue.ts";
import { checkDelivery, checkKeyWrap, normaliseFlags } from "./validate.ts";

/**
 * How long a write waits for another process's lock (the CLI beside a running server). The
 * wait blocks the event loop, so it is kept to seconds: long enough for a commit, short enough
 * that a stuck lock surfaces as an error.
 */
const BUSY_TIMEOUT_MS = 5_000;

const MESSAGE_META_COLUMNS = "id, mailbox_id, uid, size, internal_date, flags, modseq";

/** A message key re-wrap waiting for the next batch. */
interface Rewrap {
  messageId: number;
  wrappedKey: Uint8Array;
  keyWrap: KeyWrap;
}

/** A MailStore on one SQLite file. */
export class SqliteMailStore implements MailStore {
  #db: DatabaseSync;
  #sql: Statements;
  #commits = 0;
  #closed = false;
  #deliveries: GroupCommit<Delivery, number[]>;
  #rewraps: GroupCommit<Rewrap, void>;
  #queue?: SqliteQueueStore;

  private constructor(db: DatabaseSync, readonly path: string) {
    this.#db = db;
    this.#sql = new Statements(db);
    this.#deliveries = new GroupCommit((batch) => this.#deliverBatch(batch));
    this.#rewraps = new GroupCommit((batch) => this.#rewrapBatch(batch));
  }

  /**
   * Opens (creating when missing, with its parent folder) the store at `path` and brings its
   * schema up to date. Throws, naming the file, when it was written by a newer fsmtp.
   */
  static open(path: string): SqliteMailStore {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const db = new DatabaseSync(path);
    try {
      // busy_timeout first: the WAL switch itself may have to wait for another process.
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = FULL");
      db.exec("PRAGMA foreign_keys = ON");
      migrate(db, path);
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteMailStore(db, path);
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
    this.#queue ??= new SqliteQueueStore(this.#db, this.path, () => !this.#closed);
    return this.#queue;
  }

  /** Creates the user and their INBOX in one transaction. */
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
        this.#ensureMailbox(user.address, "INBOX");
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
    return this.#async(() =>
      this.#write(() => {
        const bodies = this.#sql.all(
          `SELECT DISTINCT m.body_id FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
           WHERE b.address = ?`,
          address,
        ).map((row) => int(row, "body_id"));
        if (this.#sql.run("DELETE FROM users WHERE address = ?", address) === 0) return false;
        this.#deleteOrphanBodies(bodies);
        return true;
      })
    );
  }

  /** Every user's address, sorted. */
  listUsers(): Promise<string[]> {
    return this.#async(() =>
      this.#sql.all("SELECT address FROM users ORDER BY address").map((row) => text(row, "address"))
    );
  }

  /** The mailbox, created with a fresh UIDVALIDITY when missing. */
  ensureMailbox(address: string, name: string): Promise<Mailbox> {
    return this.#async(() => {
      // The common case (the mailbox exists) costs a read, not a write transaction and fsync.
      return this.#findMailbox(address, name) ??
        this.#write(() => this.#ensureMailbox(address, name));
    });
  }

  /** The mailbox, or undefined. */
  getMailbox(address: string, name: string): Promise<Mailbox | undefined> {
    return this.#async(() => this.#findMailbox(address, name));
  }

  /** The user's mailboxes, sorted by name. */
  listMailboxes(address: string): Promise<Mailbox[]> {
    return this.#async(() =>
      this.#sql.all("SELECT * FROM mailboxes WHERE address = ? ORDER BY name", address).map(
        toMailbox,
      )
    );
  }

  /**
   * Queues the delivery for the next group commit; resolves with one message id per item once
   * the transaction holding it is fsync'd. An unknown recipient rejects this delivery only.
   */
  deliver(delivery: Delivery): Promise<number[]> {
    try {
      this.#checkOpen();
      checkDelivery(delivery);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#deliveries.submit(delivery);
  }

  /** The mailbox's messages in UID order. */
  listMessages(mailboxId: number): Promise<MessageMeta[]> {
    return this.#async(() =>
      this.#sql.all(
        `SELECT ${MESSAGE_META_COLUMNS} FROM messages WHERE mailbox_id = ? ORDER BY uid`,
        mailboxId,
      ).map(toMessageMeta)
    );
  }

  /** The message with its sealed body and wrapped key, or undefined. */
  getMessage(messageId: number): Promise<SealedMessage | undefined> {
    return this.#async(() => {
      const row = this.#sql.get(
        `SELECT m.*, b.data FROM messages m JOIN bodies b ON b.id = m.body_id WHERE m.id = ?`,
        messageId,
      );
      return row && toSealedMessage(row);
    });
  }

  /** Replaces the message's wrapped key. Not an IMAP-visible change, so no modseq bump. */
  rewrapMessageKey(messageId: number, wrappedKey: Uint8Array, keyWrap: KeyWrap): Promise<void> {
    // Re-wraps come in bursts (a client downloading new mail) and each would be a commit of its
    // own; batching them like deliveries turns a thousand fsyncs into a few.
    try {
      this.#checkOpen();
      checkKeyWrap(keyWrap);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#rewraps.submit({ messageId, wrappedKey, keyWrap });
  }

  #rewrapBatch(batch: Rewrap[]): Outcome<void>[] {
    return this.#write(() =>
      batch.map(({ messageId, wrappedKey, keyWrap }): Outcome<void> => {
        const changed = this.#sql.run(
          "UPDATE messages SET wrapped_key = ?, key_wrap = ? WHERE id = ?",
          wrappedKey,
          keyWrap,
          messageId,
        );
        return changed === 0
          ? { ok: false, error: new StoreError(`no message ${messageId}`, "not-found") }
          : { ok: true, value: undefined };
      })
    );
  }

  /** Replaces the message's flags, giving it the mailbox's next mod-sequence (RFC 7162). */
  setFlags(messageId: number, flags: string[]): Promise<MessageMeta> {
    return this.#async(() => {
      const joined = normaliseFlags(flags).join(" ");
      return this.#write(() => {
        const bumped = this.#sql.get(
          `UPDATE mailboxes SET highest_modseq = highest_modseq + 1
           WHERE id = (SELECT mailbox_id FROM messages WHERE id = ?) RETURNING highest_modseq`,
          messageId,
        );
        if (!bumped) throw new StoreError(`no message ${messageId}`, "not-found");
        const row = this.#sql.get(
          `UPDATE messages SET flags = ?, modseq = ? WHERE id = ? RETURNING ${MESSAGE_META_COLUMNS}`,
          joined,
          int(bumped, "highest_modseq"),
          messageId,
        );
        if (!row) throw new StoreError(`no message ${messageId}`, "not-found");
        return toMessageMeta(row);
      });
    });
  }

  /**
   * Removes the messages, then the bodies no recipient refers to any more; committed (fsync'd)
   * before it resolves. Ids already gone are skipped: two sessions may expunge the same message.
   */
  expunge(messageIds: number[]): Promise<void> {
    return this.#async(() => {
      if (messageIds.length === 0) return;
      this.#write(() => {
        const mailboxes = new Set<number>();
        const bodies = new Set<number>();
        for (const id of new Set(messageIds)) {
          const row = this.#sql.get(
            "DELETE FROM messages WHERE id = ? RETURNING mailbox_id, body_id",
            id,
          );
          if (!row) continue;
          mailboxes.add(int(row, "mailbox_id"));
          bodies.add(int(row, "body_id"));
        }
        // An expunge is a change of the mailbox too (RFC 7162 §3.2.10, QRESYNC's VANISHED).
        for (const id of mailboxes) {
          this.#sql.run(
            "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ?",
            id,
          );
        }
        this.#deleteOrphanBodies(bodies);
      });
    });
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

  /** Lets queued deliveries commit, then closes the file. Later calls reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#deliveries.drain();
    await this.#rewraps.drain();
    await this.#queue?.drain();
    this.#sql.clear();
    this.#db.close();
  }

  /** Runs one group-commit batch: one transaction, one savepoint per delivery. */
  #deliverBatch(batch: Delivery[]): Outcome<number[]>[] {
    const db = this.#db;
    return this.#write(() => {
      const outcomes: Outcome<number[]>[] = [];
      for (const delivery of batch) {
        db.exec("SAVEPOINT delivery");
        try {
          const ids = this.#insertDelivery(delivery);
          db.exec("RELEASE delivery");
          outcomes.push({ ok: true, value: ids });
        } catch (error) {
          // Some errors (I/O, out of memory) make SQLite roll back the whole transaction; then
          // nothing of the batch stands and every delivery in it must be rejected.
          if (!db.isTransaction) throw error;
          db.exec("ROLLBACK TO delivery");
          db.exec("RELEASE delivery");
          outcomes.push({ ok: false, error });
        }
      }
      return outcomes;
    });
  }

  /** Inserts one delivery inside the open transaction; returns one message id per item. */
  #insertDelivery(delivery: Delivery): number[] {
    const bodyId = int(
      this.#sql.one("INSERT INTO bodies (data) VALUES (?) RETURNING id", delivery.body),
      "id",
    );
    return delivery.items.map((item) => {
      const box = this.#ensureMailbox(item.address, item.mailbox);
      // One statement takes the UID and mod-sequence, so two items for the same mailbox in one
      // delivery (or batch) each get their own.
      const next = this.#sql.one(
        `UPDATE mailboxes SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1
         WHERE id = ? RETURNING uid_next - 1 AS uid, highest_modseq`,
        box.id,
      );
      return int(
        this.#sql.one(
          `INSERT INTO messages (mailbox_id, uid, body_id, wrapped_key, key_wrap, size,
             internal_date, flags, modseq)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
          box.id,
          int(next, "uid"),
          bodyId,
          item.wrappedKey,
          item.keyWrap,
          delivery.size,
          delivery.internalDate,
          normaliseFlags(item.flags ?? []).join(" "),
          int(next, "highest_modseq"),
        ),
        "id",
      );
    });
  }

  #findMailbox(address: string, name: string): Mailbox | undefined {
    const row = this.#sql.get(
      "SELECT * FROM mailboxes WHERE address = ? AND name = ?",
      address,
      name,
    );
    return row && toMailbox(row);
  }

  /** Finds or creates the mailbox; must run inside a write transaction. */
  #ensureMailbox(address: string, name: string): Mailbox {
    const found = this.#findMailbox(address, name);
    if (found) return found;
    if (name === "") throw new StoreError("a mailbox name must not be empty", "invalid");
    if (!this.#sql.get("SELECT 1 AS x FROM users WHERE address = ?", address)) {
      throw new StoreError(`no user ${address}`, "not-found");
    }
    return toMailbox(this.#sql.one(
      `INSERT INTO mailboxes (address, name, uid_validity, uid_next, highest_modseq)
       VALUES (?, ?, ?, 1, 1) RETURNING *`,
      address,
      name,
      this.#nextUidValidity(),
    ));
  }

  /**
   * Seconds since the epoch, but always above every UIDVALIDITY handed out before, even for a
   * mailbox deleted and created again within the same second or after the clock stepped back.
   */
  #nextUidValidity(): number {
    const last = this.#sql.get("SELECT value FROM counters WHERE name = 'uid_validity'");
    const next = Math.max(Math.floor(Date.now() / 1000), (last ? int(last, "value") : 0) + 1);
    this.#sql.run(
      `INSERT INTO counters (name, value) VALUES ('uid_validity', ?)
       ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
      next,
    );
    return next;
  }

  /** Deletes those of `bodyIds` that no message refers to any more. */
  #deleteOrphanBodies(bodyIds: Iterable<number>): void {
    for (const id of bodyIds) {
      this.#sql.run(
        "DELETE FROM bodies WHERE id = ? AND NOT EXISTS (SELECT 1 FROM messages WHERE body_id = ?)",
        id,
        id,
      );
    }
  }

  /** Runs `fn` in one write transaction; counts the commit, rolls back on any error. */
  #write<T>(fn: () => T): T {
    const db = this.#db;
    // IMMEDIATE takes the write lock up front, so the transaction cannot fail half-way with
    // SQLITE_BUSY when it upgrades from reading to writing.
    db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      db.exec("COMMIT");
      this.#commits++;
      return result;
    } catch (err) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw err;
    }
  }

  /** Runs the synchronous `fn` as the port's async method: a throw becomes a rejection. */
  #async<T>(fn: () => T): Promise<T> {
    try {
      this.#checkOpen();
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error(`the store ${this.path} is closed`);
  }
}

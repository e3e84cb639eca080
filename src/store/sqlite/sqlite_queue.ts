/**
 * The outbound queue on the store's SQLite file (migration 2), through the same connection as
 * the mail store: one file, one WAL, and `synchronous = FULL`, so a committed transaction is
 * fsync'd before the method that made it resolves. Writes are group-committed like
 * deliveries: the results of one domain's delivery for many messages, or many enqueues that
 * arrive together, take one transaction and one fsync, which runs off the event loop and is
 * shared with the mail store's batches (`wal_sync.ts`).
 *
 * Queued content is kept in clear, as in every MTA: it leaves as it came (already DKIM-signed),
 * and is deleted with the message once no recipient is pending and no report is owed.
 */
import type { DatabaseSync } from "node:sqlite";
import type { QueueStore } from "../../queue/queue_store.ts";
import type {
  EnqueueItem,
  Notify,
  NotifyCondition,
  QueuedMessage,
  QueuedRecipient,
  RecipientResult,
  RecipientStatus,
  Ret,
} from "../../queue/types.ts";
import { StoreError } from "../mail_store.ts";
import { checkNotify, checkQueueItem, NOTIFY_CONDITIONS } from "../queue_item.ts";
import { GroupCommit, type Outcome } from "./group_commit.ts";
import { Statements } from "./statements.ts";
import type { Durability } from "./wal_sync.ts";
import { blob, int, type Row, text } from "./rows.ts";

/** One write, run inside the batch's transaction. */
type Write = () => unknown;

const MESSAGE_COLUMNS = "id, sender, size, needs_8bit, needs_smtputf8, envid, ret, arrived_at, " +
  "next_attempt_at, warned";

/** The queue port on an open SQLite connection; made by `SqliteMailStore.queue`. */
export class SqliteQueueStore implements QueueStore {
  #db: DatabaseSync;
  #isOpen: () => boolean;
  #sql: Statements;
  #writes: GroupCommit<Write, unknown>;

  /**
   * @param db an open connection whose schema includes migration 2
   * @param path the file, for error messages
   * @param isOpen false once the owner closed the connection: methods then reject
   * @param durability the connection's WAL flusher (shared with the mail store); without it,
   *   each group commit flushes in its COMMIT
   */
  constructor(
    db: DatabaseSync,
    readonly path: string,
    isOpen: () => boolean = () => true,
    durability?: Durability,
  ) {
    this.#db = db;
    this.#sql = new Statements(db);
    this.#isOpen = isOpen;
    this.#writes = new GroupCommit((batch) => this.#runBatch(batch), undefined, durability);
  }

  /** Stores the message; resolves with its id once the transaction holding it is fsync'd. */
  enqueue(item: EnqueueItem): Promise<string> {
    let id: string;
    try {
      this.#checkOpen();
      id = checkQueueItem(item);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#batched(() => this.#insert(id, item));
  }

  /** Due messages, earliest first, with recipients pending or owed a report. */
  due(now: number, limit: number): Promise<QueuedMessage[]> {
    return this.#read(() => {
      const rows = this.#sql.all(
        `SELECT ${MESSAGE_COLUMNS} FROM queue_messages WHERE next_attempt_at <= ?
         ORDER BY next_attempt_at, arrived_at, rowid LIMIT ?`,
        now,
        Math.max(0, Math.floor(limit)),
      );
      return rows.map((row) => {
        const recipients = this.#sql.all(
          `SELECT * FROM queue_recipients WHERE message_id = ?
             AND (status = 'pending' OR report_owed = 1) ORDER BY domain, address`,
          text(row, "id"),
        ).map(toRecipient);
        return toMessage(row, recipients);
      });
    });
  }

  /** The earliest next attempt, or undefined when the queue is empty. */
  nextDue(): Promise<number | undefined> {
    return this.#read(() => {
      const row = this.#sql.get("SELECT min(next_attempt_at) AS next FROM queue_messages");
      return row?.next === null || row?.next === undefined ? undefined : int(row, "next");
    });
  }

  /** The content as enqueued, or undefined. */
  content(id: string): Promise<Uint8Array | undefined> {
    return this.#read(() => {
      const row = this.#sql.get("SELECT content FROM queue_messages WHERE id = ?", id);
      return row && blob(row, "content");
    });
  }

  /** Records outcomes (pending recipients only) in one durable transaction. */
  recordResults(id: string, results: RecipientResult[], next?: number): Promise<void> {
    try {
      this.#checkOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#batched(() => {
      for (const r of results) {
        const final = r.status !== "deferred";
        this.#sql.run(
          `UPDATE queue_recipients SET status = ?, attempts = attempts + 1, last_attempt_at = ?,
             last_reply = ?, remote_host = ?, report_owed = ?
           WHERE message_id = ? AND address = ? AND status = 'pending'`,
          final ? r.status : "pending",
          r.at,
          r.reply,
          r.remoteHost ?? null,
          final && r.report ? 1 : 0,
          id,
          r.address,
        );
      }
      if (next !== undefined) {
        this.#sql.run("UPDATE queue_messages SET next_attempt_at = ? WHERE id = ?", next, id);
      }
      this.#removeIfDone(id);
    });
  }

  /** Clears owed reports; removes the message when nothing is left to do. */
  markReported(id: string, addresses: string[]): Promise<void> {
    return this.#write(() => {
      for (const address of addresses) {
        this.#sql.run(
          "UPDATE queue_recipients SET report_owed = 0 WHERE message_id = ? AND address = ?",
          id,
          address,
        );
      }
      this.#removeIfDone(id);
    });
  }

  /** Notes that the delay warning went out. */
  markWarned(id: string): Promise<void> {
    return this.#write(() => {
      this.#sql.run("UPDATE queue_messages SET warned = 1 WHERE id = ?", id);
    });
  }

  /** Every message with every recipient, earliest arrival first. */
  list(): Promise<QueuedMessage[]> {
    return this.#read(() => {
      const byMessage = new Map<string, QueuedRecipient[]>();
      for (const row of this.#sql.all("SELECT * FROM queue_recipients ORDER BY domain, address")) {
        const id = text(row, "message_id");
        const list = byMessage.get(id) ?? [];
        list.push(toRecipient(row));
        byMessage.set(id, list);
      }
      return this.#sql.all(
        `SELECT ${MESSAGE_COLUMNS} FROM queue_messages ORDER BY arrived_at, rowid`,
      )
        .map((row) => toMessage(row, byMessage.get(text(row, "id")) ?? []));
    });
  }

  /** Makes one message, or all, due now (next attempt 0: earlier than any clock). */
  retry(id: string | "all"): Promise<number> {
    return this.#write(() =>
      id === "all"
        ? this.#sql.run("UPDATE queue_messages SET next_attempt_at = 0")
        : this.#sql.run("UPDATE queue_messages SET next_attempt_at = 0 WHERE id = ?", id)
    );
  }

  /** Deletes the message and its recipients; no DSN. */
  remove(id: string): Promise<boolean> {
    return this.#write(() => this.#sql.run("DELETE FROM queue_messages WHERE id = ?", id) > 0);
  }

  /** Resolves once every write submitted so far is committed (the owner calls it on close). */
  drain(): Promise<void> {
    return this.#writes.drain();
  }

  #insert(id: string, item: EnqueueItem): string {
    if (this.#sql.get("SELECT 1 AS x FROM queue_messages WHERE id = ?", id)) {
      throw new StoreError(`queue id ${id} is in use`, "exists");
    }
    this.#sql.run(
      `INSERT INTO queue_messages (id, sender, content, size, needs_8bit, needs_smtputf8, envid,
         ret, arrived_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      id,
      item.from,
      item.content,
      item.content.length,
      item.needs8bit ? 1 : 0,
      item.needsSmtputf8 ? 1 : 0,
      item.envid ?? null,
      item.ret ?? null,
      item.arrivedAt,
      item.arrivedAt,
    );
    for (const r of item.recipients) {
      this.#sql.run(
        `INSERT INTO queue_recipients (message_id, address, domain, status, notify, orcpt)
         VALUES (?, ?, ?, 'pending', ?, ?)`,
        id,
        r.address,
        domainOf(r.address),
        r.notify === undefined ? null : encodeNotify(r.notify),
        r.orcpt ?? null,
      );
    }
    return id;
  }

  /** Deletes the message when no recipient is pending and none is owed a report. */
  #removeIfDone(id: string): void {
    this.#sql.run(
      `DELETE FROM queue_messages WHERE id = ? AND NOT EXISTS (SELECT 1 FROM queue_recipients
         WHERE message_id = ? AND (status = 'pending' OR report_owed = 1))`,
      id,
      id,
    );
  }

  /** Submits `fn` to the next group commit. */
  #batched<T>(fn: () => T): Promise<T> {
    return this.#writes.submit(fn) as Promise<T>;
  }

  /** One group-commit batch: one transaction, one savepoint per write. */
  #runBatch(batch: Write[]): Outcome<unknown>[] {
    const db = this.#db;
    return this.#sql.transaction(() =>
      batch.map((write): Outcome<unknown> => {
        db.exec("SAVEPOINT queue_write");
        try {
          const value = write();
          db.exec("RELEASE queue_write");
          return { ok: true, value };
        } catch (error) {
          // Some errors (I/O, out of memory) roll back the whole transaction: then nothing
          // of the batch stands, and throwing rejects every write of it.
          if (!db.isTransaction) throw error;
          db.exec("ROLLBACK TO queue_write");
          db.exec("RELEASE queue_write");
          return { ok: false, error };
        }
      })
    );
  }

  /** A write in its own transaction (the rarer ones: CLI, reports, warnings). */
  #write<T>(fn: () => T): Promise<T> {
    return this.#read(() => this.#sql.transaction(fn));
  }

  /** Runs the synchronous `fn` as an async method: a throw becomes a rejection. */
  #read<T>(fn: () => T): Promise<T> {
    try {
      this.#checkOpen();
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #checkOpen(): void {
    if (!this.#isOpen()) throw new Error(`the store ${this.path} is closed`);
  }
}

/** The lower-cased domain of `local@domain`. */
function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}

/** NOTIFY as stored: "NEVER" or the conditions joined by commas (RFC 3461 §4.1). */
function encodeNotify(notify: Notify): string {
  checkNotify(notify);
  if (notify === "NEVER") return "NEVER";
  return [...new Set(notify)].join(",");
}

function decodeNotify(value: string): Notify {
  if (value === "NEVER") return "NEVER";
  return value.split(",").filter((c): c is NotifyCondition =>
    (NOTIFY_CONDITIONS as readonly string[]).includes(c)
  );
}

function optText(row: Row, column: string): string | undefined {
  return row[column] === null ? undefined : text(row, column);
}

function optInt(row: Row, column: string): number | undefined {
  return row[column] === null ? undefined : int(row, column);
}

function toStatus(value: string): RecipientStatus {
  if (value === "pending" || value === "delivered" || value === "failed") return value;
  throw new TypeError(`column status is "${value}"`);
}

function toRet(value: string | undefined): Ret | undefined {
  if (value === undefined || value === "FULL" || value === "HDRS") return value;
  throw new TypeError(`column ret is "${value}"`);
}

/** A `queue_recipients` row. */
function toRecipient(row: Row): QueuedRecipient {
  const notify = optText(row, "notify");
  const orcpt = optText(row, "orcpt");
  const lastAttemptAt = optInt(row, "last_attempt_at");
  const lastReply = optText(row, "last_reply");
  const remoteHost = optText(row, "remote_host");
  return {
    address: text(row, "address"),
    domain: text(row, "domain"),
    status: toStatus(text(row, "status")),
    attempts: int(row, "attempts"),
    reportOwed: int(row, "report_owed") === 1,
    ...(notify === undefined ? {} : { notify: decodeNotify(notify) }),
    ...(orcpt === undefined ? {} : { orcpt }),
    ...(lastAttemptAt === undefined ? {} : { lastAttemptAt }),
    ...(lastReply === undefined ? {} : { lastReply }),
    ...(remoteHost === undefined ? {} : { remoteHost }),
  };
}

/** A `queue_messages` row (without content) with the recipients given. */
function toMessage(row: Row, recipients: QueuedRecipient[]): QueuedMessage {
  const envid = optText(row, "envid");
  const ret = toRet(optText(row, "ret"));
  return {
    id: text(row, "id"),
    from: text(row, "sender"),
    arrivedAt: int(row, "arrived_at"),
    nextAttemptAt: int(row, "next_attempt_at"),
    size: int(row, "size"),
    needs8bit: int(row, "needs_8bit") === 1,
    needsSmtputf8: int(row, "needs_smtputf8") === 1,
    warned: int(row, "warned") === 1,
    ...(envid === undefined ? {} : { envid }),
    ...(ret === undefined ? {} : { ret }),
    recipients,
  };
}

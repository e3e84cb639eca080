/**
 * The import port on the SQLite file (`fsmtp --migrate-store` reads the journal through it, and
 * a Cassandra installation could be moved back into a file through it). Every call is one write
 * transaction of the store's connection, so a check and the write it guards are not split.
 *
 * Bodies shared in the source stay shared here within one importer: it remembers which body row
 * it wrote for which sealed octets (their SHA-256; sealed octets are unique per body).
 */
import type { Notify, QueuedMessage } from "../../queue/types.ts";
import { type Mailbox, type MailboxId, StoreError, type UserRecord } from "../mail_store.ts";
import {
  checkFigures,
  contentId,
  type ExportedStatus,
  groupStatusRows,
  type ImportedCount,
  type ImportedMailbox,
  type ImportedMessage,
  type MailboxJournal,
  sameBytes,
  type StoreImport,
} from "../store_import.ts";
import {
  deleteOrphanBodies,
  findMailbox,
  nextMailboxRow,
  requireMailbox,
  requireUser,
  rowOf,
} from "./mailboxes.ts";
import { blob, int, text, toMailbox } from "./rows.ts";
import type { DeliveryState } from "../delivery_status.ts";
import type { Statements } from "./statements.ts";
import { checkKeyWrap, checkSpecialUse, mailboxName, normaliseFlags } from "./validate.ts";

/** Runs `fn` in one write transaction of the store (rolled back when it throws). */
export type Transact = <T>(fn: () => T) => Promise<T>;

/** StoreImport on a `SqliteMailStore`'s connection (made by its `importer()`). */
export class SqliteStoreImport implements StoreImport {
  /** Body rows this importer wrote, by the SHA-256 id of their sealed octets. */
  readonly #bodies = new Map<string, number>();

  constructor(private readonly sql: Statements, private readonly transact: Transact) {}

  importUser(user: UserRecord): Promise<boolean> {
    return this.transact(() => {
      const row = this.sql.get("SELECT keys FROM users WHERE address = ?", user.address);
      if (row) {
        if (sameBytes(blob(row, "keys"), user.keys)) return false;
        throw new StoreError(`user ${user.address} exists with other key material`, "exists");
      }
      this.sql.run(
        "INSERT INTO users (address, keys, created_at) VALUES (?, ?, ?)",
        user.address,
        user.keys,
        user.createdAt,
      );
      return true;
    });
  }

  importMailbox(box: ImportedMailbox): Promise<Mailbox> {
    return this.transact(() => {
      const name = mailboxName(box.name);
      checkSpecialUse(box.specialUse);
      checkFigures(box);
      requireUser(this.sql, box.address);
      this.sql.run(
        `INSERT INTO counters (name, value) VALUES ('uid_validity', ?)
         ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`,
        box.uidValidity,
      );
      const found = findMailbox(this.sql, box.address, name);
      if (found) {
        if (found.uidValidity !== box.uidValidity) {
          throw new StoreError(
            `mailbox ${name} of ${box.address} exists with UIDVALIDITY ${found.uidValidity}, ` +
              `not ${box.uidValidity}`,
            "exists",
          );
        }
        this.sql.run(
          `UPDATE mailboxes SET uid_next = max(uid_next, ?),
             highest_modseq = max(highest_modseq, ?) WHERE id = ?`,
          box.uidNext,
          box.highestModSeq,
          rowOf(found),
        );
        return requireMailbox(this.sql, found.id);
      }
      return toMailbox(this.sql.one(
        `INSERT INTO mailboxes (id, address, name, uid_validity, uid_next, highest_modseq,
           special_use) VALUES (?, ?, ?, ?, ?, ?, ?)
         RETURNING id, address, name, uid_validity, uid_next, highest_modseq, special_use`,
        nextMailboxRow(this.sql),
        box.address,
        name,
        box.uidValidity,
        box.uidNext,
        box.highestModSeq,
        box.specialUse ?? null,
      ));
    });
  }

  async importMessages(
    mailboxId: MailboxId,
    messages: ImportedMessage[],
  ): Promise<ImportedCount> {
    // The hashes first: the transaction below is synchronous.
    const ids = await Promise.all(messages.map((m) => contentId(m.body)));
    return await this.transact(() => {
      const box = requireMailbox(this.sql, mailboxId);
      const row = rowOf(box);
      const count: ImportedCount = { copied: 0, present: 0, updated: 0 };
      for (const [i, m] of messages.entries()) {
        if (!Number.isSafeInteger(m.uid) || m.uid < 1 || m.uid >= box.uidNext) {
          throw new StoreError(
            `UID ${m.uid} is not below UIDNEXT ${box.uidNext} of mailbox ${box.name}`,
            "invalid",
          );
        }
        checkKeyWrap(m.keyWrap);
        const flags = normaliseFlags(m.flags).join(" ");
        const old = this.sql.get(
          "SELECT modseq FROM messages WHERE mailbox_id = ? AND uid = ?",
          row,
          m.uid,
        );
        if (old) {
          if (m.modSeq <= int(old, "modseq")) {
            count.present++;
            continue;
          }
          this.sql.run(
            "UPDATE messages SET flags = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
            flags,
            m.modSeq,
            row,
            m.uid,
          );
          count.updated++;
          continue;
        }
        this.sql.run(
          `INSERT INTO messages (mailbox_id, uid, body_id, wrapped_key, key_wrap, size,
             internal_date, flags, modseq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          row,
          m.uid,
          this.#body(ids[i], m),
          m.wrappedKey,
          m.keyWrap,
          m.size,
          m.internalDate,
          flags,
          m.modSeq,
        );
        count.copied++;
      }
      return count;
    });
  }

  mailboxJournal(mailboxId: MailboxId): Promise<MailboxJournal> {
    return this.transact(() => {
      const box = requireMailbox(this.sql, mailboxId);
      const row = rowOf(box);
      const tombstones = this.sql.all(
        "SELECT uid, modseq, expunged_at FROM expunged WHERE mailbox_id = ? ORDER BY uid",
        row,
      ).map((t) => ({
        uid: int(t, "uid"),
        modSeq: int(t, "modseq"),
        expungedAt: int(t, "expunged_at"),
      }));
      const floor = int(
        this.sql.one("SELECT vanished_floor FROM mailboxes WHERE id = ?", row),
        "vanished_floor",
      );
      return { tombstones, floor };
    });
  }

  importJournal(mailboxId: MailboxId, journal: MailboxJournal): Promise<void> {
    return this.transact(() => {
      const row = rowOf(requireMailbox(this.sql, mailboxId));
      const bodies = new Set<number>();
      for (const t of journal.tombstones) {
        const stale = this.sql.get(
          "DELETE FROM messages WHERE mailbox_id = ? AND uid = ? RETURNING body_id",
          row,
          t.uid,
        );
        if (stale) bodies.add(int(stale, "body_id"));
        this.sql.run(
          `INSERT INTO expunged (mailbox_id, uid, modseq, expunged_at) VALUES (?, ?, ?, ?)
           ON CONFLICT DO NOTHING`,
          row,
          t.uid,
          t.modSeq,
          t.expungedAt,
        );
      }
      deleteOrphanBodies(this.sql, bodies);
      this.sql.run(
        "UPDATE mailboxes SET vanished_floor = max(vanished_floor, ?) WHERE id = ?",
        journal.floor,
        row,
      );
    });
  }

  importQueued(message: QueuedMessage, content: Uint8Array): Promise<boolean> {
    return this.transact(() => {
      if (this.sql.get("SELECT 1 AS x FROM queue_messages WHERE id = ?", message.id)) {
        return false;
      }
      this.sql.run(
        `INSERT INTO queue_messages (id, sender, content, size, needs_8bit, needs_smtputf8,
           envid, ret, arrived_at, next_attempt_at, warned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        message.id,
        message.from,
        content,
        content.length,
        message.needs8bit ? 1 : 0,
        message.needsSmtputf8 ? 1 : 0,
        message.envid ?? null,
        message.ret ?? null,
        message.arrivedAt,
        message.nextAttemptAt,
        message.warned ? 1 : 0,
      );
      for (const r of message.recipients) {
        this.sql.run(
          `INSERT INTO queue_recipients (message_id, address, domain, status, attempts,
             last_attempt_at, last_reply, remote_host, notify, orcpt, report_owed)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          message.id,
          r.address,
          r.domain,
          r.status,
          r.attempts,
          r.lastAttemptAt ?? null,
          r.lastReply ?? null,
          r.remoteHost ?? null,
          r.notify === undefined ? null : encodeNotify(r.notify),
          r.orcpt ?? null,
          r.reportOwed ? 1 : 0,
        );
      }
      return true;
    });
  }

  deliveryStatuses(): Promise<ExportedStatus[]> {
    return this.transact(() => {
      const now = Date.now();
      const rows = this.sql.all("SELECT * FROM delivery_status WHERE expires_at > ?", now);
      return groupStatusRows(
        rows.map((row) => ({
          messageId: text(row, "message_id"),
          address: text(row, "address"),
          owner: text(row, "owner"),
          state: text(row, "state") as DeliveryState,
          ...(typeof row.detail === "string" ? { detail: row.detail } : {}),
          createdAt: int(row, "created_at"),
          updatedAt: int(row, "updated_at"),
          expiresAt: int(row, "expires_at"),
        })),
        now,
      );
    });
  }

  /** The body row for these sealed octets: the one written before, or a new one. */
  #body(id: string, m: ImportedMessage): number {
    const known = this.#bodies.get(id);
    if (known !== undefined && this.sql.get("SELECT 1 AS x FROM bodies WHERE id = ?", known)) {
      if (m.summary) {
        this.sql.run(
          "UPDATE bodies SET summary = ? WHERE id = ? AND summary IS NULL",
          m.summary,
          known,
        );
      }
      return known;
    }
    const row = int(
      this.sql.one(
        "INSERT INTO bodies (data, summary) VALUES (?, ?) RETURNING id",
        m.body,
        m.summary ?? null,
      ),
      "id",
    );
    this.#bodies.set(id, row);
    return row;
  }
}

/** NOTIFY as `sqlite_queue.ts` stores it: "NEVER" or the conditions joined by commas. */
function encodeNotify(notify: Notify): string {
  return notify === "NEVER" ? "NEVER" : notify.join(",");
}

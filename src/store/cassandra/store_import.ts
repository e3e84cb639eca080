/**
 * The import port on Cassandra (`fsmtp --migrate-store`): users, mailboxes with their IMAP
 * figures, messages with their UIDs and modseqs, journals and queued mail, written as the
 * source has them.
 *
 * Mailbox rows and the UIDVALIDITY counter are written only by LWTs, as everywhere in this
 * store (see `mailboxes.ts`). An imported body's id is derived from its sealed octets
 * (`sha256:<hex>`): every copy of one body in the source (one delivery to several users, IMAP
 * COPY) becomes one body here, and a run interrupted after writing a body finds it again instead
 * of leaving an orphan. Sealed octets are unique per body (each has its own random key and IV),
 * so two different bodies never share an id.
 */
import cassandra from "cassandra-driver";
import type { QueuedMessage } from "../../queue/types.ts";
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
import { checkSpecialUse, mailboxName, normaliseFlags } from "../sqlite/validate.ts";
import { findMailbox, mailboxById, requireMailbox, requireUser } from "./mailboxes.ts";
import {
  casFlags,
  deleteMessages,
  insertMessages,
  limited,
  readMessages,
  type StoredMessage,
  vanishedFloor,
  writeBody,
} from "./messages.ts";
import { CHUNK_SIZE } from "./schema.ts";
import { bytes, type CqlSession, num, optStr, str } from "./session.ts";
import type { DeliveryState } from "../delivery_status.ts";

/** Messages written at once: enough to keep the cluster busy, few enough for its queues. */
const PARALLELISM = 16;

/** LWT rounds lost to a concurrent writer before "conflict". */
const MAX_ROUNDS = 20;

/** StoreImport on the keyspace of a `CassandraMailStore` (its `session`). */
export class CassandraStoreImport implements StoreImport {
  constructor(private readonly s: CqlSession) {}

  async importUser(user: UserRecord): Promise<boolean> {
    const cas = await this.s.cas(
      "INSERT INTO users (address, keys, created_at) VALUES (?, ?, ?) IF NOT EXISTS",
      [user.address, user.keys, user.createdAt],
    );
    if (cas.applied) return true;
    if (cas.row && sameBytes(bytes(cas.row, "keys"), user.keys)) return false;
    throw new StoreError(`user ${user.address} exists with other key material`, "exists");
  }

  async importMailbox(box: ImportedMailbox): Promise<Mailbox> {
    const name = mailboxName(box.name);
    checkSpecialUse(box.specialUse);
    checkFigures(box);
    await requireUser(this.s, box.address);
    await this.#raiseUidValidity(box.uidValidity);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const found = await findMailbox(this.s, box.address, name);
      if (found) {
        if (found.uidValidity !== box.uidValidity) {
          throw new StoreError(
            `mailbox ${name} of ${box.address} exists with UIDVALIDITY ${found.uidValidity}, ` +
              `not ${box.uidValidity}`,
            "exists",
          );
        }
        return await this.#raiseCounters(found, box);
      }
      // The row first, then the name: the index never points at a mailbox not yet written.
      const id = cassandra.types.TimeUuid.now().toString();
      await this.s.cas(
        `INSERT INTO mailboxes (id, address, name, uid_validity, uid_next, highest_modseq,
           special_use) VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS`,
        [
          id,
          box.address,
          name,
          box.uidValidity,
          box.uidNext,
          box.highestModSeq,
          box.specialUse ?? null,
        ],
      );
      const claim = await this.s.cas(
        "INSERT INTO mailbox_names (address, name, id) VALUES (?, ?, ?) IF NOT EXISTS",
        [box.address, name, id],
      );
      if (claim.applied) return (await mailboxById(this.s, id))!;
      await this.s.cas("DELETE FROM mailboxes WHERE id = ? IF EXISTS", [id]);
    }
    throw new StoreError(`mailbox ${name} of ${box.address} keeps changing; retry`, "conflict");
  }

  async importMessages(
    mailboxId: MailboxId,
    messages: ImportedMessage[],
  ): Promise<ImportedCount> {
    const box = await requireMailbox(this.s, mailboxId);
    const count: ImportedCount = { copied: 0, present: 0, updated: 0 };
    if (messages.length === 0) return count;
    for (const m of messages) {
      if (!Number.isSafeInteger(m.uid) || m.uid < 1 || m.uid >= box.uidNext) {
        throw new StoreError(
          `UID ${m.uid} is not below UIDNEXT ${box.uidNext} of mailbox ${box.name}`,
          "invalid",
        );
      }
    }
    const uids = [...new Set(messages.map((m) => m.uid))].sort((a, b) => a - b);
    const there = new Map(
      (await readMessages(this.s, mailboxId, box.uidNext, uids)).map((m) => [m.uid, m]),
    );
    await limited(
      messages.map((m) => async () => {
        const old = there.get(m.uid);
        if (!old) {
          await this.#insert(mailboxId, m);
          count.copied++;
        } else if (m.modSeq > old.modSeq) {
          const flags = normaliseFlags(m.flags);
          if (!await casFlags(this.s, { ...old, flags, modSeq: m.modSeq }, old.modSeq)) {
            throw new StoreError(`message ${m.uid} of ${box.name} changed meanwhile`, "conflict");
          }
          count.updated++;
        } else {
          count.present++;
        }
      }),
      PARALLELISM,
    );
    return count;
  }

  async mailboxJournal(mailboxId: MailboxId): Promise<MailboxJournal> {
    const rows = await this.s.rows(
      "SELECT uid, modseq, expunged_at FROM expunged WHERE mailbox_id = ?",
      [mailboxId],
    );
    return {
      tombstones: rows.map((row) => ({
        uid: num(row, "uid"),
        modSeq: num(row, "modseq"),
        expungedAt: num(row, "expunged_at"),
      })).sort((a, b) => a.uid - b.uid),
      floor: await vanishedFloor(this.s, mailboxId),
    };
  }

  async importJournal(mailboxId: MailboxId, journal: MailboxJournal): Promise<void> {
    const box = await requireMailbox(this.s, mailboxId);
    if (journal.tombstones.length > 0) {
      const uids = [...new Set(journal.tombstones.map((t) => t.uid))].sort((a, b) => a - b);
      const stale = await readMessages(this.s, mailboxId, box.uidNext, uids);
      await deleteMessages(this.s, stale, true);
      await this.s.batch(journal.tombstones.map((t) => ({
        query: "INSERT INTO expunged (mailbox_id, modseq, uid, expunged_at) VALUES (?, ?, ?, ?)",
        params: [mailboxId, t.modSeq, t.uid, t.expungedAt],
      })));
    }
    if (journal.floor > 0) {
      await this.s.run("INSERT INTO vanished_floor (mailbox_id, floor) VALUES (?, ?)", [
        mailboxId,
        journal.floor,
      ]);
    }
  }

  async importQueued(message: QueuedMessage, content: Uint8Array): Promise<boolean> {
    if (await this.s.row("SELECT id FROM queue_messages WHERE id = ?", [message.id])) {
      return false;
    }
    const chunks = Math.ceil(content.length / CHUNK_SIZE);
    await Promise.all(
      Array.from(
        { length: chunks },
        (_, i) =>
          this.s.run("INSERT INTO queue_content (id, chunk, data) VALUES (?, ?, ?)", [
            message.id,
            i,
            content.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE),
          ]),
      ),
    );
    const cas = await this.s.cas(
      `INSERT INTO queue_messages (id, sender, size, needs_8bit, needs_smtputf8, envid, ret,
         arrived_at, next_attempt_at, warned, recipients, chunks, version, lease_owner,
         lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, null, 0) IF NOT EXISTS`,
      [
        message.id,
        message.from,
        content.length,
        message.needs8bit,
        message.needsSmtputf8,
        message.envid ?? null,
        message.ret ?? null,
        message.arrivedAt,
        message.nextAttemptAt,
        message.warned,
        JSON.stringify(message.recipients),
        chunks,
      ],
    );
    return cas.applied;
  }

  /** Writes the body (once: its id is its content's hash), then the message row. */
  async #insert(mailboxId: MailboxId, m: ImportedMessage): Promise<void> {
    const bodyId = await contentId(m.body);
    const meta = await this.s.row("SELECT length, summary FROM bodies WHERE body_id = ?", [
      bodyId,
    ]);
    if (!meta) {
      await writeBody(this.s, m.body, m.summary, bodyId);
    } else if (m.summary && meta.get("summary") === null) {
      await this.s.cas(
        "UPDATE bodies SET summary = ? WHERE body_id = ? IF length >= 0 AND summary = null",
        [m.summary, bodyId],
      );
    }
    const row: StoredMessage = {
      mailboxId,
      uid: m.uid,
      bodyId,
      wrappedKey: m.wrappedKey,
      keyWrap: m.keyWrap,
      size: m.size,
      internalDate: m.internalDate,
      flags: normaliseFlags(m.flags),
      modSeq: m.modSeq,
    };
    await insertMessages(this.s, [row]);
  }

  async deliveryStatuses(): Promise<ExportedStatus[]> {
    // A scan of the whole table: it holds only the statuses within http.status_retention.
    const rows = await this.s.rows("SELECT * FROM delivery_status", []);
    return groupStatusRows(
      rows.map((row) => {
        const detail = optStr(row, "detail");
        return {
          messageId: str(row, "message_id"),
          address: str(row, "address"),
          owner: str(row, "owner"),
          state: str(row, "state") as DeliveryState,
          ...(detail === undefined ? {} : { detail }),
          createdAt: num(row, "created_at"),
          updatedAt: num(row, "updated_at"),
          expiresAt: num(row, "expires_at"),
        };
      }),
      Date.now(),
    );
  }

  /** Brings an existing mailbox's UIDNEXT and HIGHESTMODSEQ up to at least the source's. */
  async #raiseCounters(found: Mailbox, box: ImportedMailbox): Promise<Mailbox> {
    let current = found;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const uidNext = Math.max(current.uidNext, box.uidNext);
      const modSeq = Math.max(current.highestModSeq, box.highestModSeq);
      if (uidNext === current.uidNext && modSeq === current.highestModSeq) return current;
      const cas = await this.s.cas(
        `UPDATE mailboxes SET uid_next = ?, highest_modseq = ? WHERE id = ?
         IF uid_next = ? AND highest_modseq = ?`,
        [uidNext, modSeq, current.id, current.uidNext, current.highestModSeq],
      );
      if (cas.applied) return { ...current, uidNext, highestModSeq: modSeq };
      current = await requireMailbox(this.s, current.id);
    }
    throw new StoreError(`mailbox ${found.name} keeps changing; retry`, "conflict");
  }

  /** Raises the keyspace's UIDVALIDITY counter to at least `value` (see `counters.ts`). */
  async #raiseUidValidity(value: number): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const row = await this.s.serialRow(
        "SELECT value FROM counters WHERE name = 'uid_validity'",
      );
      const last = row ? num(row, "value") : undefined;
      if (last !== undefined && last >= value) return;
      const cas = last === undefined
        ? await this.s.cas(
          "INSERT INTO counters (name, value) VALUES ('uid_validity', ?) IF NOT EXISTS",
          [value],
        )
        : await this.s.cas(
          "UPDATE counters SET value = ? WHERE name = 'uid_validity' IF value = ?",
          [value, last],
        );
      if (cas.applied) return;
    }
    throw new StoreError("the UIDVALIDITY counter keeps changing; retry", "conflict");
  }
}

/**
 * The import port: what `fsmtp --migrate-store` needs beyond the MailStore port to copy one
 * installation into another store without clients noticing.
 *
 * The normal port cannot do it: it hands out fresh UIDVALIDITYs, UIDs and modseqs, and a client
 * that saw other ones would have to resynchronise every mailbox (RFC 3501 §2.3.1.1, RFC 7162
 * §3.1.1). These calls write the source's figures as they are, and nothing else: no change is
 * published (no session watches a store being migrated into), nothing is decrypted (sealed
 * parts and wrapped keys are copied byte for byte), and every call is idempotent, so a migration
 * run again continues where it stopped.
 *
 * Implementations: `src/store/sqlite/store_import.ts`, `src/store/cassandra/store_import.ts`.
 */
import type { EnqueueItem, QueuedMessage } from "../queue/types.ts";
import type { DeliveryState, DeliveryStatusRecord } from "./delivery_status.ts";
import {
  type Mailbox,
  type MailboxId,
  type SealedMessage,
  type SpecialUse,
  StoreError,
  type UserRecord,
} from "./mail_store.ts";

/** A mailbox as the source has it: its name and its IMAP figures, kept by the import. */
export interface ImportedMailbox {
  address: string;
  name: string;
  uidValidity: number;
  uidNext: number;
  highestModSeq: number;
  specialUse?: SpecialUse;
}

/** A sealed message with its body, as read from the source (`getMessages(…, true)`). */
export type ImportedMessage = SealedMessage & { body: Uint8Array };

/** One expunged message's tombstone (RFC 7162 §3.2.10: VANISHED needs its modseq). */
export interface Tombstone {
  uid: number;
  modSeq: number;
  expungedAt: number;
}

/** A mailbox's expunge journal: the tombstones kept and how far pruning went. */
export interface MailboxJournal {
  tombstones: Tombstone[];
  /** The highest modseq pruned: changes since an older modseq may miss expunges. */
  floor: number;
}

/** What one `importMessages` call did. */
export interface ImportedCount {
  /** Messages written. */
  copied: number;
  /** Messages already there, with flags as new as the source's. */
  present: number;
  /** Messages already there whose flags (and modseq) were older, brought up to the source's. */
  updated: number;
}

/** An HTTP API message's delivery status with the time it is forgotten, as the source has it. */
export interface ExportedStatus {
  record: DeliveryStatusRecord;
  /** Milliseconds since the epoch: `createdAt` plus the `http.status_retention` it was sent under. */
  expiresAt: number;
}

/** One recipient's row of a delivery status, as both stores keep it. */
export interface StatusRow {
  messageId: string;
  address: string;
  owner: string;
  state: DeliveryState;
  detail?: string;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
}

/** Rows (in any order) to one status per message, recipients by address; expired ones left out. */
export function groupStatusRows(rows: StatusRow[], now: number): ExportedStatus[] {
  const byId = new Map<string, ExportedStatus>();
  for (const row of rows) {
    if (row.expiresAt <= now) continue;
    let status = byId.get(row.messageId);
    if (!status) {
      status = {
        record: { id: row.messageId, owner: row.owner, createdAt: row.createdAt, recipients: [] },
        expiresAt: row.expiresAt,
      };
      byId.set(row.messageId, status);
    }
    status.record.recipients.push({
      address: row.address,
      state: row.state,
      ...(row.detail === undefined ? {} : { detail: row.detail }),
      updatedAt: row.updatedAt,
    });
  }
  const out = [...byId.values()].sort((a, b) => (a.record.id < b.record.id ? -1 : 1));
  for (const s of out) {
    s.record.recipients.sort((a, b) => (a.address < b.address ? -1 : 1));
  }
  return out;
}

/** The import (and journal export) side of a store. */
export interface StoreImport {
  /**
   * Creates the user with these keys and no mailboxes (the source's come next); false when
   * the user is there with the same keys; `StoreError("exists")` when with other keys.
   */
  importUser(user: UserRecord): Promise<boolean>;
  /**
   * Creates the mailbox with the source's UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and special use;
   * a mailbox of that name with the same UIDVALIDITY is kept, its UIDNEXT and HIGHESTMODSEQ
   * raised to at least the source's. `StoreError("exists")` when it has another UIDVALIDITY,
   * "not-found" when the user does not exist. The store's UIDVALIDITY counter is raised past
   * the source's, so a mailbox made later never gets one already used.
   */
  importMailbox(box: ImportedMailbox): Promise<Mailbox>;
  /**
   * Writes messages (from one source mailbox) into the mailbox with their UIDs, modseqs, flags,
   * dates, sizes, wrapped keys and sealed parts. A UID already there is left alone, unless the
   * source's modseq is higher: then its flags and modseq are brought up to the source's.
   * `StoreError("invalid")` for a UID at or above the mailbox's UIDNEXT.
   */
  importMessages(mailboxId: MailboxId, messages: ImportedMessage[]): Promise<ImportedCount>;
  /** The mailbox's expunge journal, for the other store's {@link importJournal}. */
  mailboxJournal(mailboxId: MailboxId): Promise<MailboxJournal>;
  /**
   * Adds the tombstones (removing messages that are still there under their UIDs: they were
   * expunged in the source after an earlier run) and raises the pruning floor.
   */
  importJournal(mailboxId: MailboxId, journal: MailboxJournal): Promise<void>;
  /**
   * Puts a queued message with every recipient's state (attempts, replies, owed reports) and
   * its schedule into the queue, unleased; false when a message with its id is there.
   */
  importQueued(message: QueuedMessage, content: EnqueueItem["content"]): Promise<boolean>;
  /**
   * Every HTTP API delivery status not expired yet, for the other store's
   * `DeliveryStatusStore` (statuses are written there through that port).
   */
  deliveryStatuses(): Promise<ExportedStatus[]>;
}

/** Refuses figures no mailbox can have (RFC 3501 §2.3.1.1: UIDs and UIDVALIDITY are > 0). */
export function checkFigures(box: ImportedMailbox): void {
  const ok = [box.uidValidity, box.uidNext, box.highestModSeq].every((n) =>
    Number.isSafeInteger(n) && n >= 1
  );
  if (!ok) {
    throw new StoreError(
      `mailbox ${box.name} of ${box.address}: invalid UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ`,
      "invalid",
    );
  }
}

/** The id of an imported body: the SHA-256 of its sealed octets. */
export async function contentId(body: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(body)));
  return "sha256:" + Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Byte-wise equality. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

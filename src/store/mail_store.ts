/**
 * The MailStore port: everything the protocol servers need from durable storage.
 *
 * Implementations (SQLite now, Cassandra next) must pass `tests/contract/mail_store_contract.ts`.
 * The store never sees a password or a clear-text message: it keeps the sealed forms produced by
 * `src/crypto/`. Only what the protocols need before a login is in clear (ids, sizes, dates,
 * flags, UIDs, mailbox names).
 *
 * Addressing is what a distributed store can serve: a mailbox has an opaque string id, a message
 * is (mailbox id, UID). Nothing here exposes a database row number.
 */
import type { KeyWrap } from "../crypto/message_seal.ts";
import type { ChangeFeed } from "./change_feed.ts";

/** A user's credential and key material, all of it safe to keep at rest. */
export interface UserRecord {
  /** Lower-cased `local@domain`. */
  address: string;
  /** Sealed key material (see `src/crypto/user_keys.ts`), opaque to the store. */
  keys: Uint8Array;
  createdAt: number;
}

/** An opaque mailbox id; unique across users, never reused for another mailbox. */
export type MailboxId = string;

/** The special-use attributes (RFC 6154 §2) the store records on a mailbox. */
export type SpecialUse =
  | "\\All"
  | "\\Archive"
  | "\\Drafts"
  | "\\Flagged"
  | "\\Junk"
  | "\\Sent"
  | "\\Trash";

/** Every special use a mailbox can have. */
export const SPECIAL_USES: readonly SpecialUse[] = [
  "\\All",
  "\\Archive",
  "\\Drafts",
  "\\Flagged",
  "\\Junk",
  "\\Sent",
  "\\Trash",
];

/** The mailboxes `createUser` makes beside INBOX, with their special use (RFC 6154). */
export const DEFAULT_MAILBOXES: readonly { name: string; specialUse: SpecialUse }[] = [
  { name: "Sent", specialUse: "\\Sent" },
  { name: "Drafts", specialUse: "\\Drafts" },
  { name: "Trash", specialUse: "\\Trash" },
  { name: "Junk", specialUse: "\\Junk" },
  { name: "Archive", specialUse: "\\Archive" },
];

/** The hierarchy delimiter of mailbox names (RFC 3501 §5.1.1): "Archive/2026". */
export const MAILBOX_DELIMITER = "/";

/** A mailbox, with the IMAP bookkeeping (RFC 3501 §2.3.1.1, RFC 7162). */
export interface Mailbox {
  id: MailboxId;
  address: string;
  /** The full name, levels joined by {@link MAILBOX_DELIMITER}; "INBOX" is always upper case. */
  name: string;
  uidValidity: number;
  /** The UID the next message will get; UIDs are strictly increasing and never reused. */
  uidNext: number;
  /** The mod-sequence of the latest change (RFC 7162 §3.1.1); every change raises it. */
  highestModSeq: number;
  specialUse?: SpecialUse;
}

/** A mailbox with the counts of STATUS (RFC 3501 §6.3.10, RFC 9051 §6.3.11). */
export interface MailboxStatus extends Mailbox {
  messages: number;
  /** Messages without \Seen. */
  unseen: number;
  /** Messages with \Deleted (RFC 9051 STATUS DELETED). */
  deleted: number;
  /** Total octets of the mailbox's messages (RFC 8438 STATUS SIZE). */
  size: number;
}

/** Everything about a stored message except its content. */
export interface MessageMeta {
  mailboxId: MailboxId;
  uid: number;
  /** Octets of the clear-text message (CRLF line endings). */
  size: number;
  /** Milliseconds since the epoch at which the server accepted the message. */
  internalDate: number;
  /** The message's flags, system flags with their backslash (RFC 3501 §2.3.2). */
  flags: string[];
  modSeq: number;
}

/** A message's sealed parts and the sealed key that opens them. */
export interface SealedMessage extends MessageMeta {
  wrappedKey: Uint8Array;
  keyWrap: KeyWrap;
  /**
   * The sealed summary (envelope, structure, header fields) under the same content key; absent
   * for messages stored before summaries existed (see {@link MailStore.setSummary}).
   */
  summary?: Uint8Array;
  /** `iv || ciphertext || tag` of the message; absent when not asked for. */
  body?: Uint8Array;
}

/** What reading a message's content needs, and nothing more (POP3 RETR). */
export interface SealedBody {
  mailboxId: MailboxId;
  uid: number;
  wrappedKey: Uint8Array;
  keyWrap: KeyWrap;
  /** `iv || ciphertext || tag` of the message. */
  body: Uint8Array;
}

/** One recipient mailbox of a delivery. */
export interface DeliveryItem {
  address: string;
  mailbox: string;
  wrappedKey: Uint8Array;
  keyWrap: KeyWrap;
  flags?: string[];
  /**
   * Create the mailbox when it does not exist (the default; e.g. "Sent" on first use). False
   * for IMAP APPEND, which must fail with [TRYCREATE] instead (RFC 3501 §6.3.11).
   */
  createMailbox?: boolean;
}

/**
 * A message to deliver: one sealed body shared by every recipient, each with the content key
 * wrapped for them. It becomes visible to all recipients at once, or to none.
 */
export interface Delivery {
  /**
   * Unique per message (e.g. the SMTP queue id). A delivery retried with the same id files
   * each item at most once: the items already filed are returned as they were.
   */
  id: string;
  body: Uint8Array;
  /** The sealed summary, under the same content key as the body. */
  summary?: Uint8Array;
  size: number;
  internalDate: number;
  items: DeliveryItem[];
}

/** Where a delivered item was filed. */
export interface MessageRef {
  mailboxId: MailboxId;
  uid: number;
}

/** How STORE changes flags (RFC 3501 §6.4.6). */
export type FlagMode = "add" | "remove" | "replace";

/** What a flag change did (RFC 7162 §3.1.3). */
export interface FlagUpdate {
  /**
   * Every message of the set that passed the UNCHANGEDSINCE test, with its flags now; its
   * modseq is new when its flags changed and as before when they did not.
   */
  updated: MessageMeta[];
  /** UIDs that failed the UNCHANGEDSINCE test (the MODIFIED response code). */
  modified: number[];
}

/** The UIDs a COPY or MOVE gave the messages in the target (RFC 4315 COPYUID). */
export interface UidMap {
  /** The target mailbox's UIDVALIDITY. */
  uidValidity: number;
  /** Source UIDs in ascending order; those that did not exist are left out. */
  source: number[];
  /** The new UIDs, `target[i]` for `source[i]`. */
  target: number[];
}

/** What changed in a mailbox after a mod-sequence (RFC 7162 §3.2.5, §3.2.10). */
export interface MailboxChanges {
  highestModSeq: number;
  /** Messages with a modseq above the one asked for (new ones included), in UID order. */
  changed: MessageMeta[];
  /** UIDs expunged after that mod-sequence, ascending. */
  vanished: number[];
  /**
   * False when tombstones that old were already pruned: `vanished` may then miss UIDs, and a
   * client must be told about expunges by comparing UID sets instead.
   */
  complete: boolean;
}

/** Why a store call failed. "conflict" and "unavailable" are worth retrying. */
export type StoreErrorCode =
  | "not-found"
  | "exists"
  | "invalid"
  /** A concurrent change won (e.g. a mailbox renamed meanwhile); retry. */
  | "conflict"
  /** The backend cannot be reached or has too few replicas now; retry later. */
  | "unavailable";

/** The one error type of the store port. */
export class StoreError extends Error {
  constructor(message: string, readonly code: StoreErrorCode) {
    super(message);
    this.name = "StoreError";
  }
}

/** The storage port. Every method may be backed by I/O, so every method is async. */
export interface MailStore {
  /** Wakes every session on a mailbox after a change is durable. */
  readonly changes: ChangeFeed;

  /**
   * Creates a user with INBOX and {@link DEFAULT_MAILBOXES}. Throws `StoreError("exists")` when
   * the address is taken.
   */
  createUser(user: UserRecord): Promise<void>;
  getUser(address: string): Promise<UserRecord | undefined>;
  /** Replaces the sealed key material (password change). Throws `StoreError("not-found")`. */
  updateUserKeys(address: string, keys: Uint8Array): Promise<void>;
  /** Removes the user with all their mailboxes and messages; false when there was none. */
  deleteUser(address: string): Promise<boolean>;
  listUsers(): Promise<string[]>;

  /**
   * Returns the mailbox, creating it (with a fresh UIDVALIDITY) when it does not exist; a
   * `specialUse` given is recorded only on creation.
   */
  ensureMailbox(address: string, name: string, specialUse?: SpecialUse): Promise<Mailbox>;
  /** Creates a mailbox; `StoreError("exists")` when it exists. Parents are not created. */
  createMailbox(address: string, name: string, specialUse?: SpecialUse): Promise<Mailbox>;
  getMailbox(address: string, name: string): Promise<Mailbox | undefined>;
  getMailboxById(id: MailboxId): Promise<Mailbox | undefined>;
  /** The user's mailboxes, sorted by name. */
  listMailboxes(address: string): Promise<Mailbox[]>;
  /**
   * Renames a mailbox and every mailbox below it (`from/…` → `to/…`), each keeping its id,
   * UIDVALIDITY and messages. Renaming INBOX moves its messages into a new mailbox `to` and
   * leaves INBOX empty (RFC 3501 §6.3.5). "not-found" / "exists" as the names require.
   */
  renameMailbox(address: string, from: string, to: string): Promise<void>;
  /**
   * Deletes a mailbox and its messages; mailboxes below it stay. INBOX cannot be deleted
   * (`StoreError("invalid")`). Its UIDVALIDITY is never handed out again.
   */
  deleteMailbox(address: string, name: string): Promise<void>;
  /** Subscribes or unsubscribes a name (RFC 3501 §6.3.6); the mailbox need not exist. */
  setSubscribed(address: string, name: string, subscribed: boolean): Promise<void>;
  /** Subscribed names, sorted. */
  listSubscriptions(address: string): Promise<string[]>;
  /** The mailbox with its STATUS counts; undefined when it does not exist. */
  mailboxStatus(id: MailboxId): Promise<MailboxStatus | undefined>;
  /** Octets of all the user's messages (RFC 9208 STORAGE). */
  usage(address: string): Promise<number>;

  /**
   * Stores a message for all its recipients durably (fsync'd) before the promise resolves.
   * Returns where each item was filed, in order. Idempotent per (delivery id, item).
   */
  deliver(delivery: Delivery): Promise<MessageRef[]>;
  /** Message metadata of a mailbox in UID order. */
  listMessages(mailboxId: MailboxId): Promise<MessageMeta[]>;
  /**
   * The sealed messages with these UIDs in UID order (missing ones left out); bodies only when
   * `withBody`, so reading summaries of a whole mailbox stays cheap.
   */
  getMessages(mailboxId: MailboxId, uids: number[], withBody: boolean): Promise<SealedMessage[]>;
  /**
   * The bodies and wrapped keys of the messages with these UIDs, in UID order (missing ones
   * left out): {@link getMessages} with bodies, without the metadata and summary a download
   * does not need, read in one round trip.
   */
  getBodies(mailboxId: MailboxId, uids: number[]): Promise<SealedBody[]>;
  /** One sealed message with its body, or undefined. */
  getMessage(mailboxId: MailboxId, uid: number): Promise<SealedMessage | undefined>;
  /**
   * Replaces a message's wrapped key, e.g. RSA-wrapped by symmetric-wrapped after first read.
   * Not an IMAP-visible change: no modseq. A message gone meanwhile is skipped silently.
   */
  rewrapMessageKey(
    mailboxId: MailboxId,
    uid: number,
    wrappedKey: Uint8Array,
    keyWrap: KeyWrap,
  ): Promise<void>;
  /** Stores the sealed summary of a message that has none (made on its first read). */
  setSummary(mailboxId: MailboxId, uid: number, summary: Uint8Array): Promise<void>;
  /**
   * Changes the flags of the messages with these UIDs, each changed one getting the mailbox's
   * next modseq; with `unchangedSince`, a message whose modseq is above it is left alone and
   * reported in `modified` (RFC 7162 §3.1.3).
   */
  storeFlags(
    mailboxId: MailboxId,
    uids: number[],
    mode: FlagMode,
    flags: string[],
    unchangedSince?: number,
  ): Promise<FlagUpdate>;
  /** Copies messages (with their flags) into another mailbox of the same user, atomically. */
  copyMessages(from: MailboxId, uids: number[], to: MailboxId): Promise<UidMap>;
  /** Moves messages: the copy and the expunge happen in one step (RFC 6851 §3.3). */
  moveMessages(from: MailboxId, uids: number[], to: MailboxId): Promise<UidMap>;
  /**
   * Removes messages durably before resolving, leaving a tombstone with its modseq for
   * `changesSince`; bodies go when no message refers to them. Returns the UIDs removed
   * (ascending); UIDs already gone are skipped, as two sessions may expunge one message.
   */
  expunge(mailboxId: MailboxId, uids: number[]): Promise<number[]>;
  /** What changed after `modSeq`: the journal sessions pull when the change feed wakes them. */
  changesSince(mailboxId: MailboxId, modSeq: number): Promise<MailboxChanges>;

  /** Writes and reads back a probe row: the `--test` self-check. */
  selfCheck(): Promise<void>;
  close(): Promise<void>;
}

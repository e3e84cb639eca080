/**
 * The MailStore port: everything the protocol servers need from durable storage.
 *
 * Implementations (SQLite now, Cassandra later) must pass `tests/contract/mail_store_contract.ts`.
 * The store never sees a password or a clear-text message: it keeps the sealed forms produced by
 * `src/crypto/`. Only what the protocols need before a login is in clear (ids, sizes, dates,
 * flags, UIDs).
 */

/** A user's credential and key material, all of it safe to keep at rest. */
export interface UserRecord {
  /** Lower-cased `local@domain`. */
  address: string;
  /** Sealed key material (see `src/crypto/user_keys.ts`), opaque to the store. */
  keys: Uint8Array;
  createdAt: number;
}

/** A mailbox, with the IMAP bookkeeping (RFC 3501 §2.3.1.1, RFC 7162) modelled from day one. */
export interface Mailbox {
  id: number;
  address: string;
  name: string;
  uidValidity: number;
  uidNext: number;
  highestModSeq: number;
}

/** How a message's content key is wrapped. */
export type KeyWrap = "rsa" | "sym";

/** Everything about a stored message except its content. */
export interface MessageMeta {
  id: number;
  mailboxId: number;
  uid: number;
  /** Octets of the clear-text message (CRLF line endings). */
  size: number;
  /** Milliseconds since the epoch at which the server accepted the message. */
  internalDate: number;
  flags: string[];
  modSeq: number;
}

/** A message's sealed content and the sealed key that opens it. */
export interface SealedMessage extends MessageMeta {
  /** `iv || ciphertext || tag` of the message under its content key (AES-256-GCM). */
  body: Uint8Array;
  wrappedKey: Uint8Array;
  keyWrap: KeyWrap;
}

/** One sealed copy of a message for one recipient's INBOX (or another mailbox). */
export interface DeliveryItem {
  address: string;
  mailbox: string;
  wrappedKey: Uint8Array;
  keyWrap: KeyWrap;
  flags?: string[];
}

/**
 * A message to deliver: one sealed body shared by every recipient, each with the content key
 * wrapped for them. It becomes visible to all recipients at once, or to none.
 */
export interface Delivery {
  body: Uint8Array;
  size: number;
  internalDate: number;
  items: DeliveryItem[];
}

/** Thrown when a user that must exist does not, or one that must not exist does. */
export class StoreError extends Error {
  constructor(message: string, readonly code: "not-found" | "exists" | "invalid") {
    super(message);
    this.name = "StoreError";
  }
}

/** The storage port. Every method may be backed by I/O, so every method is async. */
export interface MailStore {
  /** Creates a user and their INBOX. Throws `StoreError("exists")` when the address is taken. */
  createUser(user: UserRecord): Promise<void>;
  getUser(address: string): Promise<UserRecord | undefined>;
  /** Replaces the sealed key material (password change). Throws `StoreError("not-found")`. */
  updateUserKeys(address: string, keys: Uint8Array): Promise<void>;
  /** Removes the user with all their mailboxes and messages; false when there was none. */
  deleteUser(address: string): Promise<boolean>;
  listUsers(): Promise<string[]>;

  /** Returns the mailbox, creating it (with a fresh UIDVALIDITY) when it does not exist. */
  ensureMailbox(address: string, name: string): Promise<Mailbox>;
  getMailbox(address: string, name: string): Promise<Mailbox | undefined>;
  listMailboxes(address: string): Promise<Mailbox[]>;

  /**
   * Stores a message for all its recipients durably (fsync'd) before the promise resolves.
   * Returns the new message ids, one per item, in order.
   */
  deliver(delivery: Delivery): Promise<number[]>;
  /** Message metadata of a mailbox in UID order. */
  listMessages(mailboxId: number): Promise<MessageMeta[]>;
  getMessage(messageId: number): Promise<SealedMessage | undefined>;
  /** Replaces a message's wrapped key, e.g. RSA-wrapped by symmetric-wrapped after first read. */
  rewrapMessageKey(messageId: number, wrappedKey: Uint8Array, keyWrap: KeyWrap): Promise<void>;
  setFlags(messageId: number, flags: string[]): Promise<MessageMeta>;
  /** Removes messages durably before resolving; bodies go when no recipient refers to them. */
  expunge(messageIds: number[]): Promise<void>;

  /** Writes and reads back a probe row: the `--test` self-check. */
  selfCheck(): Promise<void>;
  close(): Promise<void>;
}

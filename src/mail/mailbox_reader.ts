/**
 * Reading a user's mail after a login: the password unlocks the user's keys for this reader
 * only; each message is opened with them. A message still RSA-wrapped is re-wrapped under the
 * user's symmetric mailbox key on first read, so its RSA operation happens once (shared with
 * the user's other sessions and the bulk re-wrap of a login: content_keys.ts).
 * POP3 and IMAP sessions read mail through this.
 */
import { openBody } from "../crypto/message_seal.ts";
import { type UnlockedUserKeys, unlockUserKeys } from "../crypto/user_keys.ts";
import type { MailboxId, MailStore, MessageMeta, SealedBody } from "../store/mail_store.ts";
import { UserContentKeys } from "./content_keys.ts";

/** A logged-in view of one user's mail. */
export class MailboxReader {
  #mailboxIds: Set<MailboxId> | undefined;

  private constructor(
    readonly store: MailStore,
    readonly address: string,
    readonly contentKeys: UserContentKeys,
  ) {}

  /** Unlocks with `password`; undefined for an unknown user or a wrong password. */
  static async open(
    store: MailStore,
    address: string,
    password: string,
  ): Promise<MailboxReader | undefined> {
    const user = await store.getUser(address);
    if (!user) return undefined;
    const keys = await unlockUserKeys(user.keys, password);
    return keys ? MailboxReader.withKeys(store, address, keys) : undefined;
  }

  /** Wraps keys unlocked elsewhere (a login), or the user's shared content keys. */
  static withKeys(
    store: MailStore,
    address: string,
    keys: UnlockedUserKeys | UserContentKeys,
  ): MailboxReader {
    const contentKeys = keys instanceof UserContentKeys
      ? keys
      : new UserContentKeys(store, address, keys);
    return new MailboxReader(store, address, contentKeys);
  }

  /** The messages of a mailbox in UID order; [] when the mailbox does not exist. */
  async list(mailbox = "INBOX"): Promise<MessageMeta[]> {
    const box = await this.store.getMailbox(this.address, mailbox);
    return box ? await this.store.listMessages(box.id) : [];
  }

  /** The clear text of the message `uid` of one of this user's mailboxes. */
  async read(mailboxId: MailboxId, uid: number): Promise<Uint8Array> {
    const [sealed] = await this.fetch(mailboxId, [uid]);
    if (!sealed) throw new Error(`message ${uid} of mailbox ${mailboxId} does not exist`);
    return await this.open(sealed);
  }

  /**
   * The sealed bodies with these UIDs (ascending) of one of this user's mailboxes, in one
   * store round trip; missing ones are left out.
   */
  async fetch(mailboxId: MailboxId, uids: number[]): Promise<SealedBody[]> {
    // Checked first: the store would serve any user's mailbox to whoever names its id.
    if (!(await this.#ownsMailbox(mailboxId))) {
      throw new Error(`mailbox ${mailboxId} is not a mailbox of ${this.address}`);
    }
    return await this.store.getBodies(mailboxId, uids);
  }

  /** The clear text of a message {@link fetch} returned. */
  async open(sealed: SealedBody): Promise<Uint8Array> {
    const key = await this.contentKeys.contentKey(sealed);
    try {
      return openBody(key, sealed.body);
    } finally {
      key.raw.fill(0);
    }
  }

  /** Resolves once every re-wrap started by reads has been written (or has failed). */
  async settled(): Promise<void> {
    await this.contentKeys.settled();
  }

  async #ownsMailbox(mailboxId: MailboxId): Promise<boolean> {
    if (this.#mailboxIds?.has(mailboxId)) return true;
    // A mailbox made after the last look (e.g. Junk) is found by looking again.
    this.#mailboxIds = new Set((await this.store.listMailboxes(this.address)).map((b) => b.id));
    return this.#mailboxIds.has(mailboxId);
  }
}

/**
 * Reading a user's mail after a login: the password unlocks the user's keys for this reader
 * only; each message is opened with them. A message still RSA-wrapped is re-wrapped under the
 * user's symmetric mailbox key on first read, so its RSA operation happens once.
 * POP3 and IMAP sessions read mail through this.
 */
import { openMessage } from "../crypto/message_seal.ts";
import { type UnlockedUserKeys, unlockUserKeys } from "../crypto/user_keys.ts";
import type { MailboxId, MailStore, MessageMeta } from "../store/mail_store.ts";

/** A logged-in view of one user's mail. */
export class MailboxReader {
  #rewrites = new Set<Promise<void>>();
  #mailboxIds: Set<MailboxId> | undefined;

  private constructor(
    readonly store: MailStore,
    readonly address: string,
    readonly keys: UnlockedUserKeys,
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
    return keys ? new MailboxReader(store, address, keys) : undefined;
  }

  /** Wraps keys unlocked elsewhere (a login cache hit). */
  static withKeys(store: MailStore, address: string, keys: UnlockedUserKeys): MailboxReader {
    return new MailboxReader(store, address, keys);
  }

  /** The messages of a mailbox in UID order; [] when the mailbox does not exist. */
  async list(mailbox = "INBOX"): Promise<MessageMeta[]> {
    const box = await this.store.getMailbox(this.address, mailbox);
    return box ? await this.store.listMessages(box.id) : [];
  }

  /** The clear text of the message `uid` of one of this user's mailboxes. */
  async read(mailboxId: MailboxId, uid: number): Promise<Uint8Array> {
    // Checked first: the store would serve any user's mailbox to whoever names its id.
    if (!(await this.#ownsMailbox(mailboxId))) {
      throw new Error(`mailbox ${mailboxId} is not a mailbox of ${this.address}`);
    }
    const sealed = await this.store.getMessage(mailboxId, uid);
    if (!sealed?.body) throw new Error(`message ${uid} of mailbox ${mailboxId} does not exist`);
    const opened = await openMessage(sealed.body, sealed.wrappedKey, sealed.keyWrap, this.keys);
    if (opened.rewrapped) {
      // Not awaited: the store batches re-wraps into few commits, and a lost one is harmless
      // (the RSA-wrapped key stays until it lands). `settled()` waits for them.
      const write = this.store.rewrapMessageKey(mailboxId, uid, opened.rewrapped, "sym")
        .catch(() => {})
        .finally(() => this.#rewrites.delete(write));
      this.#rewrites.add(write);
    }
    return opened.clear;
  }

  /** Resolves once every re-wrap started by `read()` has been written (or has failed). */
  async settled(): Promise<void> {
    await Promise.all(this.#rewrites);
  }

  async #ownsMailbox(mailboxId: MailboxId): Promise<boolean> {
    if (this.#mailboxIds?.has(mailboxId)) return true;
    // A mailbox made after the last look (e.g. Junk) is found by looking again.
    this.#mailboxIds = new Set((await this.store.listMailboxes(this.address)).map((b) => b.id));
    return this.#mailboxIds.has(mailboxId);
  }
}

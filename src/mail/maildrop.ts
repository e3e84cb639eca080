/**
 * A POP3 maildrop (RFC 1939 §2): a user's INBOX as it was at login, held under an exclusive
 * lock so a second session cannot change it underneath. Messages that arrive later are not
 * part of it; deletions happen only through `expunge()`, at QUIT.
 */
import type { Login } from "../auth/authenticator.ts";
import type { MaildropLockPort } from "../store/coordinator.ts";
import type { MailboxId, MailStore, MessageMeta } from "../store/mail_store.ts";
import { MailboxReader } from "./mailbox_reader.ts";

const READ_AHEAD = 4;
const READ_AHEAD_OCTETS = 16 * 1024 * 1024;

/** One exclusive lock per maildrop, for this process. */
export class MaildropLocks implements MaildropLockPort {
  #held = new Set<string>();

  /** Takes the lock; false when another session holds it. */
  acquire(address: string): boolean {
    if (this.#held.has(address)) return false;
    this.#held.add(address);
    return true;
  }

  /** Gives the lock back. */
  release(address: string): void {
    this.#held.delete(address);
  }
}

/** An open, locked maildrop. */
export class Maildrop {
  #released = false;
  /** Reads started ahead, by UID. */
  #ahead = new Map<number, Promise<Uint8Array>>();
  #aheadOctets = 0;

  private constructor(
    readonly messages: readonly MessageMeta[],
    readonly mailboxId: MailboxId,
    readonly uidValidity: number,
    private readonly reader: MailboxReader,
    private readonly locks: MaildropLockPort,
  ) {}

  /**
   * Locks and snapshots the user's INBOX; "in-use" when another session holds it. Throws when
   * the lock cannot be decided (the coordinator is unreachable).
   */
  static async open(
    store: MailStore,
    locks: MaildropLockPort,
    login: Login,
  ): Promise<Maildrop | "in-use"> {
    if (!(await locks.acquire(login.address))) return "in-use";
    try {
      const reader = MailboxReader.withKeys(store, login.address, login.keys);
      const box = await store.ensureMailbox(login.address, "INBOX");
      const messages = await store.listMessages(box.id);
      return new Maildrop(messages, box.id, box.uidValidity, reader, locks);
    } catch (err) {
      locks.release(login.address);
      throw err;
    }
  }

  /** The clear text of a message of this maildrop. */
  read(meta: MessageMeta): Promise<Uint8Array> {
    const ahead = this.#ahead.get(meta.uid);
    if (ahead) {
      this.#ahead.delete(meta.uid);
      this.#aheadOctets -= meta.size;
      return ahead;
    }
    return this.reader.read(this.mailboxId, meta.uid);
  }

  /**
   * Starts opening the messages after `meta` (up to 4, at most 16 MiB in all) while the
   * client takes this one: a first read costs an RSA operation per message, and running a
   * few at once puts every core to work for a client downloading its mail in order.
   */
  readAhead(meta: MessageMeta, skip: (m: MessageMeta) => boolean): void {
    const from = this.messages.indexOf(meta) + 1;
    for (const next of this.messages.slice(from, from + READ_AHEAD)) {
      if (this.#ahead.has(next.uid) || skip(next)) continue;
      if (this.#aheadOctets + next.size > READ_AHEAD_OCTETS) break;
      const opened = this.reader.read(this.mailboxId, next.uid);
      opened.catch(() => {}); // a failure is reported when the message is actually read
      this.#ahead.set(next.uid, opened);
      this.#aheadOctets += next.size;
    }
  }

  /** Removes the messages with these UIDs durably (the UPDATE state, RFC 1939 §6). */
  async expunge(uids: number[]): Promise<void> {
    if (uids.length > 0) await this.reader.store.expunge(this.mailboxId, uids);
  }

  /** Releases the lock (idempotent). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.locks.release(this.reader.address);
  }
}

/**
 * A POP3 maildrop (RFC 1939 §2): a user's INBOX as it was at login, held under an exclusive
 * lock so a second session cannot change it underneath. Messages that arrive later are not
 * part of it; deletions happen only through `expunge()`, at QUIT.
 */
import type { Login } from "../auth/authenticator.ts";
import type { MaildropLockPort } from "../store/coordinator.ts";
import type { MailboxId, MailStore, MessageMeta } from "../store/mail_store.ts";
import { MailboxReader } from "./mailbox_reader.ts";
import type { KeysHold, UnlockedUsers } from "./unlocked_users.ts";

/** Messages fetched from the store in one round trip when a client reads in order. */
const READ_AHEAD = 64;
/** Octets of one such fetch, and of everything fetched but not yet taken, at most. */
const READ_AHEAD_BATCH_OCTETS = 4 * 1024 * 1024;
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
  /** Messages before this index have been fetched ahead (or passed). */
  #fetchedTo = 0;
  /** Index of each message by UID. */
  #index: Map<number, number>;

  private constructor(
    readonly messages: readonly MessageMeta[],
    readonly mailboxId: MailboxId,
    readonly uidValidity: number,
    private readonly reader: MailboxReader,
    private readonly locks: MaildropLockPort,
    private readonly hold: KeysHold | undefined,
  ) {
    this.#index = new Map(messages.map((m, i) => [m.uid, i]));
  }

  /**
   * Locks and snapshots the user's INBOX; "in-use" when another session holds it. Throws when
   * the lock cannot be decided (the coordinator is unreachable).
   */
  static async open(
    store: MailStore,
    locks: MaildropLockPort,
    login: Login,
    users?: UnlockedUsers,
  ): Promise<Maildrop | "in-use"> {
    if (!(await locks.acquire(login.address))) return "in-use";
    // With the process's unlocked users, reads share the re-wrap the login started.
    const hold = users?.acquire(login);
    try {
      const reader = MailboxReader.withKeys(
        store,
        login.address,
        hold?.contentKeys ?? login.keys,
      );
      const box = await store.ensureMailbox(login.address, "INBOX");
      const messages = await store.listMessages(box.id);
      return new Maildrop(messages, box.id, box.uidValidity, reader, locks, hold);
    } catch (err) {
      hold?.release();
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
   * Fetches `meta` and the messages after it (up to 64, 4 MiB) in one store round trip, and
   * opens them, when the client reads in order and little is fetched ahead: one query instead
   * of one a message, and a first read's RSA unwraps run several at once (every core works).
   */
  readAhead(meta: MessageMeta, skip: (m: MessageMeta) => boolean): void {
    const at = this.#index.get(meta.uid);
    if (at === undefined || this.#fetchedTo - at > READ_AHEAD / 2) return;
    const batch: MessageMeta[] = [];
    let octets = 0;
    for (let i = Math.max(at, this.#fetchedTo); i < this.messages.length; i++) {
      const next = this.messages[i];
      if (batch.length >= READ_AHEAD || octets + next.size > READ_AHEAD_BATCH_OCTETS) break;
      if (this.#aheadOctets + next.size > READ_AHEAD_OCTETS) break;
      this.#fetchedTo = i + 1;
      if (this.#ahead.has(next.uid) || skip(next)) continue;
      batch.push(next);
      octets += next.size;
      this.#aheadOctets += next.size;
    }
    if (batch.length === 0) return;
    const fetched = this.reader.fetch(this.mailboxId, batch.map((m) => m.uid))
      .then((sealed) => new Map(sealed.map((s) => [s.uid, s])));
    fetched.catch(() => {}); // reported by each message's read
    for (const m of batch) {
      const opened = fetched.then((byUid) => {
        const found = byUid.get(m.uid);
        if (!found) throw new Error(`message ${m.uid} of mailbox ${this.mailboxId} is gone`);
        return this.reader.open(found);
      });
      opened.catch(() => {}); // a failure is reported when the message is actually read
      this.#ahead.set(m.uid, opened);
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
    this.#ahead.clear();
    this.hold?.release();
    this.locks.release(this.reader.address);
  }
}

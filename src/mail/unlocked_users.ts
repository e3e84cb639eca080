/**
 * The users whose keys are unlocked in this process now, by address: held by their POP3 and
 * IMAP sessions and by the bulk re-wrap a login starts (content_keys.ts), or left in the login
 * cache by a recent login. Delivery asks here for a recipient's mailbox key, so mail for a
 * user who is logged in needs no RSA when read (local_delivery.ts).
 *
 * Nothing is kept longer than before: a session's keys go when its last hold is released, the
 * login cache keeps its own TTL. What outlives them is only which mailboxes a re-wrap finished
 * (mailbox ids and UIDs, no secret), so the next login does not look through them again.
 */
import type { Login } from "../auth/authenticator.ts";
import type { UnlockedUserKeys } from "../crypto/user_keys.ts";
import type { MailboxId, MailStore } from "../store/mail_store.ts";
import { REWRAP_CONCURRENCY, Slots, UserContentKeys } from "./content_keys.ts";

/** Users whose finished re-wraps are remembered (the oldest is forgotten first). */
const MAX_REMEMBERED = 10_000;

/** A session's hold on a user's unlocked keys. */
export interface KeysHold {
  contentKeys: UserContentKeys;
  /** Lets go (idempotent); the keys leave this registry with the last hold. */
  release(): void;
}

interface Live {
  keys: UnlockedUserKeys;
  contentKeys: UserContentKeys;
  holds: number;
}

/** The unlocked users of the process. */
export class UnlockedUsers {
  #live = new Map<string, Live>();
  #doneUpTo = new Map<string, Map<MailboxId, number>>();
  /** The RSA unwraps of every user's bulk re-wrap, together: as many as keep the cores busy. */
  #slots = new Slots(REWRAP_CONCURRENCY);

  /**
   * @param cached the keys a recent login left in the login cache, asked when no session
   *   holds the user's keys
   */
  constructor(
    readonly store: MailStore,
    readonly cached: (address: string) => UnlockedUserKeys | undefined = () => undefined,
  ) {}

  /**
   * After a successful login, by any protocol: starts re-wrapping the user's RSA-wrapped
   * message keys in the background, holding the keys until it is done.
   */
  loggedIn(login: Login): void {
    const hold = this.acquire(login);
    hold.contentKeys.rewrapAll().catch(() => {}).finally(() => hold.release());
  }

  /**
   * Holds the user's keys for a session: their content keys, shared with the user's other
   * sessions and re-wrap (one RSA per message, whoever asks first).
   */
  acquire(login: Login): KeysHold {
    const address = login.address;
    let live = this.#live.get(address);
    if (live && live.keys.mailboxKeyId !== login.keys.mailboxKeyId) {
      // Another key pair under the same address (the user was deleted and added again while a
      // session of the old one lives): nothing can be shared with it.
      return { contentKeys: new UserContentKeys(this.store, address, login.keys), release() {} };
    }
    if (!live) {
      live = {
        keys: login.keys,
        contentKeys: new UserContentKeys(
          this.store,
          address,
          login.keys,
          this.#remembered(address),
          this.#slots,
        ),
        holds: 0,
      };
      this.#live.set(address, live);
    }
    live.holds++;
    const entry = live;
    let released = false;
    return {
      contentKeys: entry.contentKeys,
      release: () => {
        if (released) return;
        released = true;
        if (--entry.holds === 0 && this.#live.get(address) === entry) this.#live.delete(address);
      },
    };
  }

  /** The user's unlocked keys: a live hold's, else the login cache's; undefined when neither. */
  keysFor(address: string): UnlockedUserKeys | undefined {
    return this.#live.get(address)?.keys ?? this.cached(address);
  }

  /** Users with keys held now. */
  get size(): number {
    return this.#live.size;
  }

  #remembered(address: string): Map<MailboxId, number> {
    let done = this.#doneUpTo.get(address);
    if (done) {
      this.#doneUpTo.delete(address); // re-insert: the map's order is the forgetting order
    } else {
      done = new Map();
      if (this.#doneUpTo.size >= MAX_REMEMBERED) {
        this.#doneUpTo.delete(this.#doneUpTo.keys().next().value!);
      }
    }
    this.#doneUpTo.set(address, done);
    return done;
  }
}

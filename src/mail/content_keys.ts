/**
 * One logged-in user's message keys: opening them for reads, and re-wrapping the RSA-wrapped
 * ones under the mailbox key, once each, shared by every read and by the bulk re-wrap that
 * starts at login.
 *
 * Mail that arrived while its user was away has its content key RSA-wrapped (local_delivery.ts);
 * each costs one RSA private-key operation to open. Right after a login {@link rewrapAll} walks
 * the user's mailboxes (INBOX first, in UID order, as POP3 and most IMAP clients read) and
 * re-wraps them in chunks on the RSA pool's worker threads, one per core (rsa_pool.ts), while
 * the session's own thread serves reads. A read that reaches a message of a chunk under way
 * waits for that chunk; a read ahead of the re-wrap unwraps the message itself, and the re-wrap
 * then skips it: one RSA per message.
 */
import {
  type ContentKey,
  type KeyWrap,
  unwrapContentKey,
  unwrapRsaMany,
} from "../crypto/message_seal.ts";
import type { UnlockedUserKeys } from "../crypto/user_keys.ts";
import type { Mailbox, MailboxId, MailStore } from "../store/mail_store.ts";

/** A message's wrapped key as the store holds it. */
export interface WrappedKeyOf {
  mailboxId: MailboxId;
  uid: number;
  wrappedKey: Uint8Array;
  keyWrap: KeyWrap;
}

/** Wrapped keys asked of the store per round trip during a bulk re-wrap. */
const BATCH = 256;
/** Keys per batch sent to an RSA worker: ~4 ms of RSA, so a read waiting for one waits little. */
const CHUNK = 16;

/**
 * Chunks in flight at once across the process: two per core keeps every worker busy while
 * the next chunk travels to it.
 */
export const REWRAP_CONCURRENCY = Math.max(2, navigator.hardwareConcurrency || 2) * 2;

/**
 * At most `limit` tasks at once, first come first served: the bulk re-wraps of all users share
 * one, so a burst of logins queues its RSA work instead of starting thousands of operations.
 */
export class Slots {
  #free: number;
  #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#free = limit;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

/** What a bulk re-wrap did. */
export interface RewrapResult {
  /** RSA-wrapped keys found and re-wrapped. */
  rewrapped: number;
  /** Keys that did not open (damaged rows): left as they are, reads report them. */
  failed: number;
}

/** The content keys of one user, while logged in. */
export class UserContentKeys {
  /** RSA unwraps in flight or not yet durable as "sym", by message: the re-wrapped key. */
  #pending = new Map<string, Promise<Uint8Array>>();
  /**
   * Messages whose "sym" form is durable by now, by mailbox: a row read before that write
   * (a batch the bulk re-wrap fetched earlier) is not unwrapped again.
   */
  #done = new Map<MailboxId, Set<number>>();
  #writes = new Set<Promise<void>>();
  #bulk: Promise<RewrapResult> | undefined;

  /**
   * @param doneUpTo per mailbox, the UIDNEXT below which a finished bulk re-wrap left no
   *   RSA-wrapped key: a later login skips the mailbox when it is unchanged, and looks only
   *   above it otherwise. No secret: it outlives the keys (see UnlockedUsers).
   * @param slots shared by the bulk re-wraps of the process (reads do not wait for them)
   */
  constructor(
    readonly store: MailStore,
    readonly address: string,
    readonly keys: UnlockedUserKeys,
    private readonly doneUpTo: Map<MailboxId, number> = new Map(),
    private readonly slots = new Slots(REWRAP_CONCURRENCY),
  ) {}

  /**
   * The message's content key; an RSA-wrapped one is unwrapped once however many reads ask
   * at the same time, and re-wrapped under the mailbox key in the store. Zero `raw` when done.
   */
  async contentKey(message: WrappedKeyOf): Promise<ContentKey> {
    if (message.keyWrap === "sym") {
      return await unwrapContentKey(message.wrappedKey, "sym", this.keys);
    }
    if (this.#isDone(message)) {
      const [now] = await this.store.getMessages(message.mailboxId, [message.uid], false);
      if (now?.keyWrap === "sym") return await unwrapContentKey(now.wrappedKey, "sym", this.keys);
    }
    return await unwrapContentKey(await this.#rewrap(message), "sym", this.keys);
  }

  /**
   * Re-wraps every RSA-wrapped key of the user, INBOX first; resolves once all of them are
   * re-wrapped and written (or failed). One run at a time: a second call while one runs
   * shares it.
   */
  rewrapAll(): Promise<RewrapResult> {
    if (!this.#bulk) {
      this.#bulk = this.#rewrapAll().finally(() => this.#bulk = undefined);
    }
    return this.#bulk;
  }

  /** Resolves once every re-wrap started so far is written (or has failed). */
  async settled(): Promise<void> {
    while (this.#writes.size > 0 || this.#pending.size > 0) {
      await Promise.allSettled([...this.#pending.values(), ...this.#writes]);
    }
  }

  #rewrap(message: WrappedKeyOf): Promise<Uint8Array> {
    const id = idOf(message);
    let pending = this.#pending.get(id);
    if (!pending) {
      pending = this.#unwrapRsa(message, id);
      this.#pending.set(id, pending);
    }
    return pending;
  }

  async #unwrapRsa(message: WrappedKeyOf, id: string): Promise<Uint8Array> {
    let rewrapped: Uint8Array;
    try {
      const key = await unwrapContentKey(message.wrappedKey, "rsa", this.keys);
      key.raw.fill(0);
      rewrapped = key.rewrapped!;
    } catch (err) {
      this.#pending.delete(id);
      throw err;
    }
    this.#persist(message, id, rewrapped);
    return rewrapped;
  }

  /**
   * Writes the re-wrapped key. The message stays pending until the "sym" form is durable, so
   * a read that fetched the row before the write landed joins this unwrap instead of paying
   * RSA again. A failed write is harmless: the RSA-wrapped key stays and still opens.
   */
  #persist(message: WrappedKeyOf, id: string, rewrapped: Uint8Array): void {
    const write = this.store
      .rewrapMessageKey(message.mailboxId, message.uid, rewrapped, "sym")
      .then(() => this.#markDone(message), () => {})
      .finally(() => {
        this.#pending.delete(id);
        this.#writes.delete(write);
      });
    this.#writes.add(write);
  }

  /**
   * Re-wraps a chunk of RSA-wrapped keys in one batch on the RSA pool (unwrapRsaMany). Each
   * message is pending from now on, so a read of one waits for this chunk rather than paying
   * for RSA itself. Resolves to how many did not open.
   */
  #rewrapChunk(chunk: WrappedKeyOf[]): Promise<number> {
    const waiting = chunk.map((message) => {
      const id = idOf(message);
      let settle!: { resolve: (k: Uint8Array) => void; reject: (e: Error) => void };
      const promise = new Promise<Uint8Array>((resolve, reject) => settle = { resolve, reject });
      promise.catch(() => {}); // a read that joins it gets the error
      this.#pending.set(id, promise);
      return { message, id, ...settle };
    });
    return this.slots.run(async () => {
      let failed = 0;
      let keys: (ContentKey | Error)[];
      try {
        keys = await unwrapRsaMany(chunk.map((m) => m.wrappedKey), this.keys);
      } catch (err) {
        keys = chunk.map(() => err as Error);
      }
      keys.forEach((key, i) => {
        const w = waiting[i];
        if (key instanceof Error) {
          failed++;
          this.#pending.delete(w.id);
          w.reject(key);
          return;
        }
        key.raw.fill(0);
        this.#persist(w.message, w.id, key.rewrapped!);
        w.resolve(key.rewrapped!);
      });
      return failed;
    });
  }

  #isDone(message: WrappedKeyOf): boolean {
    return this.#done.get(message.mailboxId)?.has(message.uid) ?? false;
  }

  #markDone(message: WrappedKeyOf): void {
    let uids = this.#done.get(message.mailboxId);
    if (!uids) this.#done.set(message.mailboxId, uids = new Set());
    uids.add(message.uid);
  }

  async #rewrapAll(): Promise<RewrapResult> {
    const result: RewrapResult = { rewrapped: 0, failed: 0 };
    const boxes = (await this.store.listMailboxes(this.address))
      .sort((a, b) => Number(b.name === "INBOX") - Number(a.name === "INBOX"));
    for (const box of boxes) {
      if (this.doneUpTo.get(box.id) === box.uidNext) continue;
      if (await this.#rewrapMailbox(box, result)) this.doneUpTo.set(box.id, box.uidNext);
    }
    await this.settled();
    return result;
  }

  /** Re-wraps one mailbox's RSA-wrapped keys; true when it got through all of them. */
  async #rewrapMailbox(box: Mailbox, result: RewrapResult): Promise<boolean> {
    const from = this.doneUpTo.get(box.id) ?? 0;
    const failedBefore = result.failed;
    const uids = (await this.store.listMessages(box.id))
      .filter((m) => m.uid >= from)
      .map((m) => m.uid);
    for (let i = 0; i < uids.length; i += BATCH) {
      const rsa = (await this.store.getMessages(box.id, uids.slice(i, i + BATCH), false))
        .filter((m) => m.keyWrap === "rsa" && !this.#isDone(m) && !this.#pending.has(idOf(m)));
      const chunks: Promise<number>[] = [];
      for (let j = 0; j < rsa.length; j += CHUNK) {
        chunks.push(this.#rewrapChunk(rsa.slice(j, j + CHUNK)));
      }
      let failed = 0;
      for (const n of await Promise.all(chunks)) failed += n;
      result.failed += failed;
      result.rewrapped += rsa.length - failed;
    }
    return result.failed === failedBefore;
  }
}

function idOf(message: WrappedKeyOf): string {
  return `${message.mailboxId}/${message.uid}`;
}

/**
 * A logged-in user's mail as an IMAP session reads it: message summaries (envelope, structure,
 * header) and bodies, opened with the keys the login unlocked.
 *
 * The expensive step is the first read of a message delivered while its user was away: its
 * content key is RSA-wrapped (DESIGN.md, encryption at rest). A `FETCH 1:* ENVELOPE` over
 * thousands of such messages must not hold the session (or the process) hostage, so keys are
 * unwrapped in bulk, several at once (libcrypto runs RSA on Deno's thread pool, so every core
 * works), and each RSA-wrapped key is re-wrapped under the user's symmetric key so it is paid
 * once; the login starts doing that for all of them, ahead of the client (content_keys.ts).
 * Messages stored before summaries existed get theirs made and stored on first read.
 */
import { type ContentKey, openBody, openSummary, sealSummary } from "../crypto/message_seal.ts";
import { UserContentKeys, type WrappedKeyOf } from "../mail/content_keys.ts";
import type { UnlockedUserKeys } from "../crypto/user_keys.ts";
import {
  buildSummary,
  decodeSummary,
  encodeSummary,
  type MessageSummary,
} from "../mime/summary.ts";
import type { MailboxId, MailStore, SealedMessage } from "../store/mail_store.ts";

/** Unwraps run at most this many at a time: enough to keep every core busy with RSA. */
const UNWRAP_CONCURRENCY = 8;
/** Summaries asked of the store per round trip. */
const BATCH = 256;
/** Decoded summaries kept per user (a few KiB each). */
const MAX_SUMMARIES = 20_000;
/** Opened bodies kept per session: clients fetch a message's parts one after another. */
const MAX_BODY_OCTETS = 8 * 1024 * 1024;

/**
 * Decoded summaries of one user's messages, shared by the user's sessions (Thunderbird opens
 * several; a phone reconnects every few minutes), so only the first of them pays for opening
 * them. It lives in memory only, like the unlocked keys of the login cache, and is dropped a
 * while after the user's last session ends (see {@link SummaryCaches}).
 */
export class SummaryCache {
  #map = new Map<string, MessageSummary>();

  get(key: string): MessageSummary | undefined {
    return this.#map.get(key);
  }

  set(key: string, summary: MessageSummary): void {
    if (this.#map.size >= MAX_SUMMARIES) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
    this.#map.set(key, summary);
  }

  clear(): void {
    this.#map.clear();
  }
}

/** The summary caches of the users with sessions now (or very recently), for the process. */
export class SummaryCaches {
  #entries = new Map<
    string,
    { cache: SummaryCache; sessions: number; timer?: ReturnType<typeof setTimeout> }
  >();

  /** @param keepMs how long a user's cache outlives their last session */
  constructor(readonly keepMs: number) {}

  /** The user's cache, counting one more session. */
  acquire(address: string): SummaryCache {
    let entry = this.#entries.get(address);
    if (!entry) {
      entry = { cache: new SummaryCache(), sessions: 0 };
      this.#entries.set(address, entry);
    }
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.sessions++;
    return entry.cache;
  }

  /** One session fewer; the cache goes `keepMs` after the last. */
  release(address: string): void {
    const entry = this.#entries.get(address);
    if (!entry || --entry.sessions > 0) return;
    const drop = () => {
      entry.cache.clear();
      if (this.#entries.get(address) === entry) this.#entries.delete(address);
    };
    if (this.keepMs <= 0) return drop();
    entry.timer = setTimeout(drop, this.keepMs);
    Deno.unrefTimer(entry.timer);
  }

  /** Users with a cache now. */
  get size(): number {
    return this.#entries.size;
  }
}

/** A user's opened mail for one session. */
export class UserMail {
  #bodies = new Map<string, Uint8Array>();
  #bodyOctets = 0;
  #writes = new Set<Promise<void>>();

  /**
   * @param summaries the user's shared cache, and `release` to call when this session ends;
   *   a private cache when omitted.
   * @param contentKeys the user's content keys, shared with their other sessions and the
   *   re-wrap their login started; this session's own when omitted.
   */
  constructor(
    readonly store: MailStore,
    readonly address: string,
    readonly keys: UnlockedUserKeys,
    private readonly summaryCache: SummaryCache = new SummaryCache(),
    private readonly release: () => void = () => {},
    private readonly contentKeys = new UserContentKeys(store, address, keys),
  ) {}

  /**
   * The summaries of these messages of a mailbox, by UID; messages that no longer exist are
   * left out. Opens in bulk: one store round trip per batch, unwraps several at once.
   */
  async summaries(
    mailboxId: MailboxId,
    uids: readonly number[],
  ): Promise<Map<number, MessageSummary>> {
    const found = new Map<number, MessageSummary>();
    const missing: number[] = [];
    for (const uid of uids) {
      const cached = this.summaryCache.get(cacheKey(mailboxId, uid));
      if (cached) found.set(uid, cached);
      else missing.push(uid);
    }
    for (let i = 0; i < missing.length; i += BATCH) {
      const sealed = await this.store.getMessages(mailboxId, missing.slice(i, i + BATCH), false);
      await runPool(sealed, UNWRAP_CONCURRENCY, async (message) => {
        const summary = await this.#openSummary(message);
        if (!summary) return;
        found.set(message.uid, summary);
        this.summaryCache.set(cacheKey(mailboxId, message.uid), summary);
      });
    }
    return found;
  }

  /** The summary of one message, or undefined when it no longer exists. */
  async summary(mailboxId: MailboxId, uid: number): Promise<MessageSummary | undefined> {
    return (await this.summaries(mailboxId, [uid])).get(uid);
  }

  /** The clear text of one message, or undefined when it no longer exists. */
  async body(mailboxId: MailboxId, uid: number): Promise<Uint8Array | undefined> {
    const key = cacheKey(mailboxId, uid);
    const cached = this.#bodies.get(key);
    if (cached) {
      // Re-insert: the map's order is the eviction order, oldest first.
      this.#bodies.delete(key);
      this.#bodies.set(key, cached);
      return cached;
    }
    const sealed = await this.store.getMessage(mailboxId, uid);
    if (!sealed?.body) return undefined;
    const content = await this.#withKey(sealed, (k) => openBody(k, sealed.body!));
    this.#keepBody(key, content);
    return content;
  }

  /**
   * The clear text of several messages, by UID, in one store round trip (FETCH 1:* BODY[]);
   * messages that no longer exist are left out. Unlike {@link body} nothing is kept: a whole
   * mailbox read would only churn the session's few bodies, and decrypted mail should live no
   * longer than the response it goes into. The caller bounds the batch's octets.
   */
  async bodies(mailboxId: MailboxId, uids: readonly number[]): Promise<Map<number, Uint8Array>> {
    const found = new Map<number, Uint8Array>();
    const missing: number[] = [];
    for (const uid of uids) {
      const cached = this.#bodies.get(cacheKey(mailboxId, uid));
      if (cached) found.set(uid, cached);
      else missing.push(uid);
    }
    if (missing.length === 0) return found;
    // The store wants ascending UIDs without repeats; a sequence set may give others.
    const ascending = [...new Set(missing)].sort((a, b) => a - b);
    const sealed = await this.store.getBodies(mailboxId, ascending);
    await runPool(sealed, UNWRAP_CONCURRENCY, async (message) => {
      found.set(message.uid, await this.#withKey(message, (k) => openBody(k, message.body)));
    });
    return found;
  }

  /** Resolves once the re-wraps and summaries this session started are written. */
  async settled(): Promise<void> {
    await Promise.all(this.#writes);
    await this.contentKeys.settled();
  }

  /**
   * Forgets the bodies this session opened: a client done fetching parts (entering IDLE, which
   * a phone may then stay in all day) should not keep up to {@link MAX_BODY_OCTETS} alive.
   */
  forgetBodies(): void {
    this.#bodies.clear();
    this.#bodyOctets = 0;
  }

  /** Forgets the bodies this session opened, and lets go of the shared summaries. */
  close(): void {
    this.forgetBodies();
    this.release();
  }

  async #openSummary(message: SealedMessage): Promise<MessageSummary | undefined> {
    if (message.summary) {
      const sealed = message.summary;
      return decodeSummary(await this.#withKey(message, (k) => openSummary(k, sealed)));
    }
    // Stored before summaries existed: read the body once, and store its summary for next time.
    const full = await this.store.getMessage(message.mailboxId, message.uid);
    if (!full?.body) return undefined;
    const body = full.body;
    return await this.#withKey(full, (k) => {
      const content = openBody(k, body);
      const summary = buildSummary(content);
      this.#track(
        this.store.setSummary(full.mailboxId, full.uid, sealSummary(k, encodeSummary(summary))),
      );
      return summary;
    });
  }

  /**
   * Unwraps the message's content key for `use`; an RSA-wrapped one is re-wrapped for later,
   * once however many sessions (and the login's bulk re-wrap) ask (content_keys.ts).
   */
  async #withKey<T>(message: WrappedKeyOf, use: (key: ContentKey) => T): Promise<T> {
    const key = await this.contentKeys.contentKey(message);
    try {
      return use(key);
    } finally {
      key.raw.fill(0);
    }
  }

  /** A background write: its failure is harmless (the old form stays and works). */
  #track(write: Promise<void>): void {
    const tracked = write.catch(() => {}).finally(() => this.#writes.delete(tracked));
    this.#writes.add(tracked);
  }

  #keepBody(key: string, content: Uint8Array): void {
    if (content.length > MAX_BODY_OCTETS) return;
    this.#bodies.set(key, content);
    this.#bodyOctets += content.length;
    for (const [old, bytes] of this.#bodies) {
      if (this.#bodyOctets <= MAX_BODY_OCTETS) break;
      this.#bodies.delete(old);
      this.#bodyOctets -= bytes.length;
    }
  }
}

function cacheKey(mailboxId: MailboxId, uid: number): string {
  return `${mailboxId}/${uid}`;
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function runPool<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

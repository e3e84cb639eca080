/**
 * Mailbox STATUS figures in Redis (RFC 9051 §6.3.11: MESSAGES, UIDNEXT, UIDVALIDITY, UNSEEN,
 * DELETED, SIZE, and HIGHESTMODSEQ of RFC 7162): numbers only, nothing sealed content would
 * reveal. One hash per mailbox id.
 *
 * An entry is trusted only while its UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ equal the mailbox's
 * own (every delivery raises UIDNEXT, and every flag change or expunge raises HIGHESTMODSEQ), so
 * an entry written late by a slow reader, or left by a node that died before invalidating,
 * can never be served stale. Entries are also deleted on every change event and expire after a
 * day, so the cache only holds what is read.
 */
import type { ChangeFeed, MailboxEvent } from "../change_feed.ts";
import type { Mailbox, MailboxId, MailboxStatus } from "../mail_store.ts";
import { KEY_PREFIX, OutageLog, type RedisClient } from "./redis_link.ts";
import { messageListKey } from "./message_list_cache.ts";
import type { Logger } from "../../log.ts";

/** The counts kept, with the figures that tell whether they are still current. */
export interface CachedStatus {
  messages: number;
  unseen: number;
  deleted: number;
  size: number;
  uidNext: number;
  uidValidity: number;
  highestModSeq: number;
}

const FIELDS: readonly (keyof CachedStatus)[] = [
  "messages",
  "unseen",
  "deleted",
  "size",
  "uidNext",
  "uidValidity",
  "highestModSeq",
];

/** How long an entry lives without being written again. */
const ENTRY_TTL_MS = 86_400_000;

/** The key of a mailbox's entry. */
export function statusKey(id: MailboxId): string {
  return `${KEY_PREFIX}status:${id}`;
}

/** The entry's figures when they describe `box` as it is now; undefined otherwise. */
export function currentFigures(
  cached: CachedStatus | undefined,
  box: Mailbox,
): CachedStatus | undefined {
  if (!cached) return undefined;
  const same = cached.uidValidity === box.uidValidity && cached.uidNext === box.uidNext &&
    cached.highestModSeq === box.highestModSeq;
  return same ? cached : undefined;
}

/** Reads a hash back; undefined when absent or not wholly numeric (written by something else). */
export function parseEntry(hash: Record<string, string>): CachedStatus | undefined {
  const entry: Partial<CachedStatus> = {};
  for (const field of FIELDS) {
    const text = hash[field];
    if (text === undefined || !/^\d{1,15}$/.test(text)) return undefined;
    entry[field] = Number(text);
  }
  return entry as CachedStatus;
}

/** The cache. Every method swallows Redis errors (logged once per outage): it is only a cache. */
export class RedisStatusCache {
  readonly #outage: OutageLog;

  constructor(private readonly redis: RedisClient, log: Logger) {
    this.#outage = new OutageLog(log, "status cache", "STATUS figures come from the store");
  }

  /** The entry of `id`, or undefined (absent, malformed, or Redis unreachable). */
  async get(id: MailboxId): Promise<CachedStatus | undefined> {
    try {
      const hash = await this.redis.hgetall(statusKey(id));
      this.#outage.succeeded();
      return parseEntry(hash);
    } catch (err) {
      this.#outage.failed(err);
      return undefined;
    }
  }

  /** Writes the entry of a mailbox. */
  async put(status: MailboxStatus): Promise<void> {
    const key = statusKey(status.id);
    const values: Record<string, number> = {};
    for (const field of FIELDS) values[field] = status[field];
    try {
      await this.redis.multi().hset(key, values).pexpire(key, ENTRY_TTL_MS).exec();
      this.#outage.succeeded();
    } catch (err) {
      this.#outage.failed(err);
    }
  }

  /** Deletes what is cached about `id`: its STATUS entry and its message list. */
  async invalidate(id: MailboxId): Promise<void> {
    try {
      await this.redis.del(statusKey(id), messageListKey(id));
      this.#outage.succeeded();
    } catch (err) {
      this.#outage.failed(err);
    }
  }
}

/**
 * A feed that deletes a mailbox's cache entry on every change published through it, then
 * passes the event on. The store publishes each change once, on the node that made it, so one
 * node deletes each entry once.
 */
export class InvalidatingFeed implements ChangeFeed {
  constructor(private readonly inner: ChangeFeed, private readonly cache: RedisStatusCache) {}

  publish(event: MailboxEvent): void {
    this.cache.invalidate(event.mailboxId);
    this.inner.publish(event);
  }

  subscribe(mailboxId: MailboxId, listener: (event: MailboxEvent) => void): () => void {
    return this.inner.subscribe(mailboxId, listener);
  }
}

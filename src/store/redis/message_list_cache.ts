/**
 * A mailbox's message metadata list in Redis (what `listMessages` answers and an IMAP SELECT
 * reads): per message its UID, size, internal date, modseq and flags. All of these are kept in
 * clear by the store already; wrapped keys, summaries and bodies are never cached.
 *
 * One string per mailbox id: a header line with the UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ the
 * list was read under, then one line per message. As with the STATUS cache (`status_cache.ts`),
 * a list is served only while those three figures equal the mailbox's own, so a list written
 * late by a slow reader, or left by a node that died before invalidating, is never served
 * stale. The figures must be read before the list: a list newer than its figures is then at
 * worst never served, never the other way round. Entries are also deleted on every change event
 * (`RedisStatusCache.invalidate`) and expire after a day.
 */
import type { Mailbox, MailboxId, MessageMeta } from "../mail_store.ts";
import { KEY_PREFIX, OutageLog, type RedisClient } from "./redis_link.ts";
import type { Logger } from "../../log.ts";

/** Mailboxes with more messages than this are not cached (one Redis value stays a few MB). */
export const MAX_CACHED_MESSAGES = 50_000;

/** How long an entry lives without being written again. */
const ENTRY_TTL_MS = 86_400_000;

/** Format marker of the header line, so a changed encoding never parses an old entry. */
const VERSION = "v1";

const NUMBER = /^\d{1,15}$/;
/** A flag as stored: a system flag or a keyword atom (RFC 9051 §9 flag-keyword); no spaces. */
const FLAG = /^\\?[\x21-\x7e]+$/;

/** The key of a mailbox's list. */
export function messageListKey(id: MailboxId): string {
  return `${KEY_PREFIX}msglist:${id}`;
}

/** A cached list with the figures it was read under. */
export interface CachedList {
  uidValidity: number;
  uidNext: number;
  highestModSeq: number;
  messages: MessageMeta[];
}

/**
 * The text stored for `messages` read under `box`'s figures; undefined when it cannot be
 * stored faithfully (a flag with a space or control character, too many messages).
 */
export function encodeList(box: Mailbox, messages: MessageMeta[]): string | undefined {
  if (messages.length > MAX_CACHED_MESSAGES) return undefined;
  const lines = [`${VERSION} ${box.uidValidity} ${box.uidNext} ${box.highestModSeq}`];
  for (const m of messages) {
    if (!m.flags.every((f) => FLAG.test(f))) return undefined;
    lines.push([m.uid, m.size, m.internalDate, m.modSeq, ...m.flags].join(" "));
  }
  return lines.join("\n");
}

/** Reads an entry back for mailbox `id`; undefined when malformed (written by something else). */
export function decodeList(id: MailboxId, text: string): CachedList | undefined {
  const lines = text.split("\n");
  const head = lines[0].split(" ");
  if (head.length !== 4 || head[0] !== VERSION || !head.slice(1).every((n) => NUMBER.test(n))) {
    return undefined;
  }
  const messages: MessageMeta[] = [];
  for (const line of lines.slice(1)) {
    const [uid, size, internalDate, modSeq, ...flags] = line.split(" ");
    if (![uid, size, internalDate, modSeq].every((n) => NUMBER.test(n ?? ""))) return undefined;
    if (!flags.every((f) => FLAG.test(f))) return undefined;
    messages.push({
      mailboxId: id,
      uid: Number(uid),
      size: Number(size),
      internalDate: Number(internalDate),
      modSeq: Number(modSeq),
      flags,
    });
  }
  const [uidValidity, uidNext, highestModSeq] = head.slice(1).map(Number);
  return { uidValidity, uidNext, highestModSeq, messages };
}

/** The cached messages when they describe `box` as it is now; undefined otherwise. */
export function currentList(
  cached: CachedList | undefined,
  box: Mailbox,
): MessageMeta[] | undefined {
  if (!cached) return undefined;
  const same = cached.uidValidity === box.uidValidity && cached.uidNext === box.uidNext &&
    cached.highestModSeq === box.highestModSeq;
  return same ? cached.messages : undefined;
}

/** The cache. Every method swallows Redis errors (logged once per outage): it is only a cache. */
export class RedisMessageListCache {
  readonly #outage: OutageLog;

  constructor(private readonly redis: RedisClient, log: Logger) {
    this.#outage = new OutageLog(log, "message list cache", "message lists come from the store");
  }

  /** The entry of `id`, or undefined (absent, malformed, or Redis unreachable). */
  async get(id: MailboxId): Promise<CachedList | undefined> {
    try {
      const text = await this.redis.get(messageListKey(id));
      this.#outage.succeeded();
      return text === null ? undefined : decodeList(id, text);
    } catch (err) {
      this.#outage.failed(err);
      return undefined;
    }
  }

  /** Writes the list of `box`, read after `box`'s figures were; skipped when too large. */
  async put(box: Mailbox, messages: MessageMeta[]): Promise<void> {
    const text = encodeList(box, messages);
    if (text === undefined) return;
    try {
      await this.redis.set(messageListKey(box.id), text, "PX", ENTRY_TTL_MS);
      this.#outage.succeeded();
    } catch (err) {
      this.#outage.failed(err);
    }
  }
}

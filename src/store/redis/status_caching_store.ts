/**
 * A MailStore that answers `mailboxStatus` from the Redis status cache, `listMessages` from the
 * message list cache when it is given one, and everything else from the primary store it wraps.
 * A hit costs the mailbox's own row (to prove the entry current, see `status_cache.ts` and
 * `message_list_cache.ts`) instead of counting or scanning its messages; a miss reads them and
 * fills the entry. The protocol code sees only the MailStore port.
 */
import type { KeyWrap } from "../../crypto/message_seal.ts";
import type { ChangeFeed } from "../change_feed.ts";
import type {
  Delivery,
  FlagMode,
  FlagUpdate,
  Mailbox,
  MailboxChanges,
  MailboxId,
  MailboxStatus,
  MailStore,
  MessageMeta,
  MessageRef,
  SealedBody,
  SealedMessage,
  SpecialUse,
  UidMap,
  UserRecord,
} from "../mail_store.ts";
import { currentFigures, type RedisStatusCache } from "./status_cache.ts";
import { currentList, type RedisMessageListCache } from "./message_list_cache.ts";

/** The primary store with cached STATUS figures and message lists. */
export class StatusCachingStore implements MailStore {
  /** STATUS cache hits and misses, for tests and the bench. */
  readonly stats = { hits: 0, misses: 0 };
  /** Message list cache hits and misses, for tests and the bench. */
  readonly listStats = { hits: 0, misses: 0 };

  constructor(
    readonly inner: MailStore,
    private readonly cache: RedisStatusCache,
    /** Without it, `listMessages` always asks the primary store. */
    private readonly lists?: RedisMessageListCache,
  ) {}

  get changes(): ChangeFeed {
    return this.inner.changes;
  }

  /** The STATUS figures: from the cache when current, else counted and cached. */
  async mailboxStatus(id: MailboxId): Promise<MailboxStatus | undefined> {
    const [cached, box] = await Promise.all([this.cache.get(id), this.inner.getMailboxById(id)]);
    if (!box) return undefined;
    const figures = currentFigures(cached, box);
    if (figures) {
      this.stats.hits++;
      return { ...box, ...figures };
    }
    this.stats.misses++;
    const status = await this.inner.mailboxStatus(id);
    if (status) await this.cache.put(status);
    return status;
  }

  createUser(user: UserRecord): Promise<void> {
    return this.inner.createUser(user);
  }
  getUser(address: string): Promise<UserRecord | undefined> {
    return this.inner.getUser(address);
  }
  updateUserKeys(address: string, keys: Uint8Array): Promise<void> {
    return this.inner.updateUserKeys(address, keys);
  }
  deleteUser(address: string): Promise<boolean> {
    return this.inner.deleteUser(address);
  }
  listUsers(): Promise<string[]> {
    return this.inner.listUsers();
  }
  ensureMailbox(address: string, name: string, specialUse?: SpecialUse): Promise<Mailbox> {
    return this.inner.ensureMailbox(address, name, specialUse);
  }
  createMailbox(address: string, name: string, specialUse?: SpecialUse): Promise<Mailbox> {
    return this.inner.createMailbox(address, name, specialUse);
  }
  getMailbox(address: string, name: string): Promise<Mailbox | undefined> {
    return this.inner.getMailbox(address, name);
  }
  getMailboxById(id: MailboxId): Promise<Mailbox | undefined> {
    return this.inner.getMailboxById(id);
  }
  listMailboxes(address: string): Promise<Mailbox[]> {
    return this.inner.listMailboxes(address);
  }
  renameMailbox(address: string, from: string, to: string): Promise<void> {
    return this.inner.renameMailbox(address, from, to);
  }
  deleteMailbox(address: string, name: string): Promise<void> {
    return this.inner.deleteMailbox(address, name);
  }
  setSubscribed(address: string, name: string, subscribed: boolean): Promise<void> {
    return this.inner.setSubscribed(address, name, subscribed);
  }
  listSubscriptions(address: string): Promise<string[]> {
    return this.inner.listSubscriptions(address);
  }
  usage(address: string): Promise<number> {
    return this.inner.usage(address);
  }
  deliver(delivery: Delivery): Promise<MessageRef[]> {
    return this.inner.deliver(delivery);
  }
  /** The message metadata: from the cache when current, else read and cached. */
  async listMessages(mailboxId: MailboxId): Promise<MessageMeta[]> {
    if (!this.lists) return this.inner.listMessages(mailboxId);
    // The mailbox's figures are read before the list (see message_list_cache.ts).
    const [cached, box] = await Promise.all([
      this.lists.get(mailboxId),
      this.inner.getMailboxById(mailboxId),
    ]);
    // An unknown mailbox: the primary store gives its own answer.
    if (!box) return this.inner.listMessages(mailboxId);
    const messages = currentList(cached, box);
    if (messages) {
      this.listStats.hits++;
      return messages;
    }
    this.listStats.misses++;
    const read = await this.inner.listMessages(mailboxId);
    // Cached only when the list visibly accounts for the figures: its newest UID is the last
    // one handed out, and no change landed while it was read. A store whose message rows can
    // show up after the counters moved (Cassandra) then never has a list missing its newest
    // message kept under current figures.
    const after = await this.inner.getMailboxById(mailboxId);
    const newest = read.at(-1)?.uid ?? 0;
    if (
      after && after.uidNext === box.uidNext && after.highestModSeq === box.highestModSeq &&
      after.uidValidity === box.uidValidity && newest === box.uidNext - 1
    ) {
      await this.lists.put(box, read);
    }
    return read;
  }
  getMessages(mailboxId: MailboxId, uids: number[], withBody: boolean): Promise<SealedMessage[]> {
    return this.inner.getMessages(mailboxId, uids, withBody);
  }

  getBodies(mailboxId: MailboxId, uids: number[]): Promise<SealedBody[]> {
    return this.inner.getBodies(mailboxId, uids);
  }
  getMessage(mailboxId: MailboxId, uid: number): Promise<SealedMessage | undefined> {
    return this.inner.getMessage(mailboxId, uid);
  }
  rewrapMessageKey(
    mailboxId: MailboxId,
    uid: number,
    wrappedKey: Uint8Array,
    keyWrap: KeyWrap,
  ): Promise<void> {
    return this.inner.rewrapMessageKey(mailboxId, uid, wrappedKey, keyWrap);
  }
  setSummary(mailboxId: MailboxId, uid: number, summary: Uint8Array): Promise<void> {
    return this.inner.setSummary(mailboxId, uid, summary);
  }
  storeFlags(
    mailboxId: MailboxId,
    uids: number[],
    mode: FlagMode,
    flags: string[],
    unchangedSince?: number,
  ): Promise<FlagUpdate> {
    return this.inner.storeFlags(mailboxId, uids, mode, flags, unchangedSince);
  }
  copyMessages(from: MailboxId, uids: number[], to: MailboxId): Promise<UidMap> {
    return this.inner.copyMessages(from, uids, to);
  }
  moveMessages(from: MailboxId, uids: number[], to: MailboxId): Promise<UidMap> {
    return this.inner.moveMessages(from, uids, to);
  }
  expunge(mailboxId: MailboxId, uids: number[]): Promise<number[]> {
    return this.inner.expunge(mailboxId, uids);
  }
  changesSince(mailboxId: MailboxId, modSeq: number): Promise<MailboxChanges> {
    return this.inner.changesSince(mailboxId, modSeq);
  }
  selfCheck(): Promise<void> {
    return this.inner.selfCheck();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

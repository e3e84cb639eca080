/**
 * The cluster MailStore: one Cassandra keyspace shared by any number of fsmtp nodes.
 *
 * Every write is acknowledged at the configured consistency (LOCAL_QUORUM by default: a
 * majority of the local replicas, so it survives one replica of three down) before the method
 * resolves, and the change feed hears of it only then; a session woken by the feed reads at
 * the same consistency, so it finds the change (quorum writes and reads overlap). Tables and
 * keys: `schema.ts`; UIDs and modseqs: `counters.ts`; delivery: `deliver.ts`.
 */
import { applyFlags, sameFlagSet } from "../flag_sets.ts";
import type { KeyWrap } from "../../crypto/message_seal.ts";
import { type ChangeFeed, InProcessChangeFeed, type MailboxEvent } from "../change_feed.ts";
import {
  DEFAULT_MAILBOXES,
  type Delivery,
  type FlagMode,
  type FlagUpdate,
  type Mailbox,
  type MailboxChanges,
  type MailboxId,
  type MailboxStatus,
  type MailStore,
  type MessageMeta,
  type MessageRef,
  type SealedBody,
  type SealedMessage,
  type SpecialUse,
  StoreError,
  type UidMap,
  type UserRecord,
} from "../mail_store.ts";
import { DEFAULT_JOURNAL_BOUNDS, type JournalBounds } from "../sqlite/journal.ts";
import { checkKeyWrap, mailboxName, normaliseFlags, uidSet } from "../sqlite/validate.ts";
import { CassandraQueueStore } from "./cassandra_queue.ts";
import { CassandraApiStore } from "./cassandra_api_tokens.ts";
import { MailboxCounters } from "./counters.ts";
import { fileDelivery } from "./deliver.ts";
import * as boxes from "./mailboxes.ts";
import * as msgs from "./messages.ts";
import { migrate } from "./schema.ts";
import { visibleMailbox, watermark } from "./visibility.ts";
import { bytes, type CassandraOptions, CqlSession, num, str } from "./session.ts";

/** How to open the store. */
export interface CassandraStoreOptions extends CassandraOptions {
  /** The feed to publish changes on (the Redis feed in a cluster); in-process when absent. */
  changes?: ChangeFeed;
  journal?: Partial<JournalBounds>;
  /** This node's id: the owner of its queue leases. */
  nodeId?: string;
  /** How long a queue lease lasts (tests shorten it). */
  queueLeaseMs?: number;
}

/** Rounds of a flag change on one message lost to concurrent changes before "conflict". */
const MAX_FLAG_ROUNDS = 20;

/** A MailStore on a Cassandra keyspace. */
export class CassandraMailStore implements MailStore {
  /** Wakes sessions on a mailbox once a change of it is acknowledged. */
  readonly changes: ChangeFeed;
  readonly #s: CqlSession;
  readonly #counters: MailboxCounters;
  readonly #bounds: JournalBounds;
  readonly #pending = new Set<Promise<unknown>>();
  readonly #nodeId: string;
  readonly #leaseMs?: number;
  #queue?: CassandraQueueStore;
  #api?: CassandraApiStore;
  #closed = false;

  private constructor(session: CqlSession, options: CassandraStoreOptions) {
    this.#s = session;
    this.#counters = new MailboxCounters(session);
    this.changes = options.changes ?? new InProcessChangeFeed();
    this.#bounds = { ...DEFAULT_JOURNAL_BOUNDS, ...options.journal };
    this.#nodeId = options.nodeId ?? crypto.randomUUID();
    this.#leaseMs = options.queueLeaseMs;
  }

  /**
   * Connects, creates or migrates the keyspace, and returns the store. Throws "unavailable"
   * when no contact point answers, and an Error naming the keyspace when its schema is newer.
   */
  static async open(options: CassandraStoreOptions): Promise<CassandraMailStore> {
    const session = new CqlSession(options);
    try {
      await session.connect();
      await migrate(session, options.keyspace, options.replicationFactor);
    } catch (err) {
      await session.close();
      throw err;
    }
    return new CassandraMailStore(session, options);
  }

  /** The session, for the self-test and the tests' fixtures. */
  get session(): CqlSession {
    return this.#s;
  }

  /** The outbound queue in the same keyspace, with leases owned by this node. */
  get queue(): CassandraQueueStore {
    this.#queue ??= new CassandraQueueStore(
      this.#s,
      this.#nodeId,
      () => !this.#closed,
      this.#leaseMs,
    );
    return this.#queue;
  }

  /** The HTTP API's tokens in the same keyspace (schema version 2). */
  get apiTokens(): CassandraApiStore {
    this.#api ??= new CassandraApiStore(this.#s, () => !this.#closed);
    return this.#api;
  }

  /** The HTTP API's message statuses in the same keyspace (schema version 2). */
  get deliveryStatus(): CassandraApiStore {
    return this.apiTokens;
  }

  createUser(user: UserRecord): Promise<void> {
    return this.#op(async () => {
      const cas = await this.#s.cas(
        "INSERT INTO users (address, keys, created_at) VALUES (?, ?, ?) IF NOT EXISTS",
        [user.address, user.keys, user.createdAt],
      );
      if (!cas.applied) throw new StoreError(`user ${user.address} already exists`, "exists");
      const wanted = [{ name: "INBOX" }, ...DEFAULT_MAILBOXES];
      await boxes.createMailboxes(this.#s, user.address, wanted);
      await this.#s.batch(wanted.map(({ name }) => ({
        query: "INSERT INTO subscriptions (address, name) VALUES (?, ?)",
        params: [user.address, name],
      })));
    });
  }

  getUser(address: string): Promise<UserRecord | undefined> {
    return this.#op(async () => {
      const row = await this.#s.row(
        "SELECT address, keys, created_at FROM users WHERE address = ?",
        [address],
      );
      return row && {
        address: str(row, "address"),
        keys: bytes(row, "keys"),
        createdAt: num(row, "created_at"),
      };
    });
  }

  updateUserKeys(address: string, keys: Uint8Array): Promise<void> {
    return this.#op(async () => {
      const cas = await this.#s.cas("UPDATE users SET keys = ? WHERE address = ? IF EXISTS", [
        keys,
        address,
      ]);
      if (!cas.applied) throw new StoreError(`no user ${address}`, "not-found");
    });
  }

  /** Removes the user, then their mailboxes with everything in them. */
  deleteUser(address: string): Promise<boolean> {
    return this.#op(async () => {
      const cas = await this.#s.cas("DELETE FROM users WHERE address = ? IF EXISTS", [address]);
      if (!cas.applied) return false;
      const all = await boxes.listMailboxes(this.#s, address);
      for (const box of all) await this.#dropMailbox(box);
      await this.#s.run("DELETE FROM mailbox_names WHERE address = ?", [address]);
      await this.#s.run("DELETE FROM subscriptions WHERE address = ?", [address]);
      for (const box of all) this.#publish(box.id, "deleted", box.highestModSeq);
      return true;
    });
  }

  /** Every user's address, sorted (a scan of the users table: an operator's command). */
  listUsers(): Promise<string[]> {
    return this.#op(async () =>
      (await this.#s.rows("SELECT address FROM users")).map((row) => str(row, "address")).sort()
    );
  }

  ensureMailbox(address: string, name: string, specialUse?: SpecialUse): Promise<Mailbox> {
    return this.#op(() => boxes.ensureMailbox(this.#s, address, name, specialUse));
  }

  createMailbox(address: string, name: string, specialUse?: SpecialUse): Promise<Mailbox> {
    return this.#op(async () =>
      (await boxes.createMailboxes(this.#s, address, [{ name, specialUse }]))[0]
    );
  }

  /** The mailbox with its highest modseq held at the visibility watermark (`visibility.ts`). */
  getMailbox(address: string, name: string): Promise<Mailbox | undefined> {
    return this.#op(async () => {
      const stored = readableName(name);
      const box = stored === undefined
        ? undefined
        : await boxes.findMailbox(this.#s, address, stored);
      return box && await visibleMailbox(this.#s, box);
    });
  }

  getMailboxById(id: MailboxId): Promise<Mailbox | undefined> {
    return this.#op(async () => {
      const box = await boxes.mailboxById(this.#s, id);
      return box && await visibleMailbox(this.#s, box);
    });
  }

  listMailboxes(address: string): Promise<Mailbox[]> {
    return this.#op(() => boxes.listMailboxes(this.#s, address));
  }

  /** Renames a tree; INBOX's messages move into a new mailbox instead (RFC 3501 §6.3.5). */
  renameMailbox(address: string, from: string, to: string): Promise<void> {
    return this.#op(async () => {
      const source = mailboxName(from);
      const target = mailboxName(to);
      if (source !== "INBOX") {
        await boxes.renameMailboxTree(this.#s, address, source, target);
        return;
      }
      const inbox = await boxes.findMailbox(this.#s, address, "INBOX");
      if (!inbox) throw new StoreError(`no mailbox INBOX of ${address}`, "not-found");
      const [into] = await boxes.createMailboxes(this.#s, address, [{ name: target }]);
      const uids = (await msgs.readMessages(this.#s, inbox.id, inbox.uidNext)).map((m) => m.uid);
      await this.#move(inbox, uids, into);
    });
  }

  deleteMailbox(address: string, name: string): Promise<void> {
    return this.#op(async () => {
      const stored = mailboxName(name);
      if (stored === "INBOX") throw new StoreError("INBOX cannot be deleted", "invalid");
      const box = await boxes.findMailbox(this.#s, address, stored);
      if (!box) throw new StoreError(`no mailbox ${stored} of ${address}`, "not-found");
      const cas = await this.#s.cas(
        "DELETE FROM mailbox_names WHERE address = ? AND name = ? IF id = ?",
        [address, stored, box.id],
      );
      if (!cas.applied) throw new StoreError(`mailbox ${stored} changed meanwhile`, "conflict");
      await this.#dropMailbox(box);
      this.#publish(box.id, "deleted", box.highestModSeq);
    });
  }

  setSubscribed(address: string, name: string, subscribed: boolean): Promise<void> {
    return this.#op(() => boxes.setSubscribed(this.#s, address, name, subscribed));
  }

  listSubscriptions(address: string): Promise<string[]> {
    return this.#op(() => boxes.listSubscriptions(this.#s, address));
  }

  /** STATUS counts from the mailbox's metadata (the Redis cache keeps them in a cluster). */
  mailboxStatus(id: MailboxId): Promise<MailboxStatus | undefined> {
    return this.#op(async () => {
      const box = await boxes.mailboxById(this.#s, id);
      if (!box) return undefined;
      const mark = await watermark(this.#s, box);
      return boxes.countStatus(
        { ...box, highestModSeq: mark.modSeqLimit },
        await msgs.readMessages(this.#s, id, mark.uidLimit),
      );
    });
  }

  usage(address: string): Promise<number> {
    return this.#op(async () => {
      let total = 0;
      for (const box of await boxes.listMailboxes(this.#s, address)) {
        for (const m of await msgs.readMessages(this.#s, box.id, box.uidNext)) total += m.size;
      }
      return total;
    });
  }

  /** Files the delivery (see `deliver.ts`); the feed hears of each mailbox once it stands. */
  deliver(delivery: Delivery): Promise<MessageRef[]> {
    return this.#op(async () => {
      const { refs, touched } = await fileDelivery({
        session: this.#s,
        counters: this.#counters,
        recordTtlS: Math.ceil(this.#bounds.deliveryMaxAgeMs / 1000),
      }, delivery);
      for (const [id, modSeq] of touched) this.#publish(id, "added", modSeq);
      return refs;
    });
  }

  listMessages(mailboxId: MailboxId): Promise<MessageMeta[]> {
    return this.#op(async () => {
      const box = await boxes.mailboxById(this.#s, mailboxId);
      if (!box) return [];
      const { uidLimit } = await watermark(this.#s, box);
      return (await msgs.readMessages(this.#s, mailboxId, uidLimit)).map(msgs.metaOf);
    });
  }

  getMessages(mailboxId: MailboxId, uids: number[], withBody: boolean): Promise<SealedMessage[]> {
    return this.#op(async () => {
      const set = uidSet(uids);
      const box = set.length > 0 ? await boxes.mailboxById(this.#s, mailboxId) : undefined;
      if (!box) return [];
      const stored = await msgs.readMessages(this.#s, mailboxId, box.uidNext, set);
      return await msgs.withBodies(this.#s, stored, withBody);
    });
  }

  async getBodies(mailboxId: MailboxId, uids: number[]): Promise<SealedBody[]> {
    // The rows hold the keys and the bodies table the content: the same reads as getMessages.
    return (await this.getMessages(mailboxId, uids, true)).map((m) => ({
      mailboxId: m.mailboxId,
      uid: m.uid,
      wrappedKey: m.wrappedKey,
      keyWrap: m.keyWrap,
      body: m.body!,
    }));
  }

  getMessage(mailboxId: MailboxId, uid: number): Promise<SealedMessage | undefined> {
    return this.#op(async () => {
      if (!Number.isSafeInteger(uid) || uid < 1) return undefined;
      const m = await msgs.readMessage(this.#s, mailboxId, uid);
      return m && (await msgs.withBodies(this.#s, [m], true))[0];
    });
  }

  rewrapMessageKey(
    mailboxId: MailboxId,
    uid: number,
    wrappedKey: Uint8Array,
    keyWrap: KeyWrap,
  ): Promise<void> {
    return this.#op(async () => {
      checkKeyWrap(keyWrap);
      if (!Number.isSafeInteger(uid) || uid < 1) return;
      await msgs.rewrap(this.#s, mailboxId, uid, wrappedKey, keyWrap);
    });
  }

  setSummary(mailboxId: MailboxId, uid: number, summary: Uint8Array): Promise<void> {
    return this.#op(async () => {
      if (!Number.isSafeInteger(uid) || uid < 1) return;
      const m = await msgs.readMessage(this.#s, mailboxId, uid);
      if (m) await msgs.setSummary(this.#s, m.bodyId, summary);
    });
  }

  /**
   * Changes flags message by message, each by an LWT on its modseq (RFC 7162 §3.1.3): a
   * concurrent change from another session or node makes the LWT fail, and the message is
   * read and judged again (UNCHANGEDSINCE included) with a fresh modseq.
   */
  storeFlags(
    mailboxId: MailboxId,
    uids: number[],
    mode: FlagMode,
    flags: string[],
    unchangedSince?: number,
  ): Promise<FlagUpdate> {
    return this.#op(async () => {
      const given = normaliseFlags(flags);
      const box = await boxes.requireMailbox(this.#s, mailboxId);
      const set = uidSet(uids);
      const current = set.length === 0
        ? []
        : await msgs.readMessages(this.#s, mailboxId, box.uidNext, set);
      let highest = 0;
      const outcomes = await Promise.all(current.map(async (first) => {
        let m: msgs.StoredMessage | undefined = first;
        for (let round = 0; round < MAX_FLAG_ROUNDS && m; round++) {
          if (unchangedSince !== undefined && m.modSeq > unchangedSince) {
            return { modified: m.uid };
          }
          const next = applyFlags(m.flags, mode, given);
          if (sameFlagSet(next, m.flags)) return { updated: msgs.metaOf(m) };
          const grant = await this.#counters.take(mailboxId, { uids: 0, modSeqs: 1 });
          const changed = { ...m, flags: next, modSeq: grant.firstModSeq };
          const applied = await msgs.casFlags(this.#s, changed, m.modSeq)
            .finally(() => grant.release());
          if (applied) {
            highest = Math.max(highest, grant.firstModSeq);
            return { updated: msgs.metaOf(changed) };
          }
          m = await msgs.readMessage(this.#s, mailboxId, m.uid);
        }
        if (m) throw new StoreError(`message ${m.uid} keeps changing; retry`, "conflict");
        return {};
      }));
      if (highest > 0) this.#publish(mailboxId, "flags", highest);
      const update: FlagUpdate = { updated: [], modified: [] };
      for (const o of outcomes) {
        if (o.updated) update.updated.push(o.updated);
        if (o.modified !== undefined) update.modified.push(o.modified);
      }
      return update;
    });
  }

  copyMessages(from: MailboxId, uids: number[], to: MailboxId): Promise<UidMap> {
    return this.#op(async () => {
      const [source, target] = await this.#copyPair(from, to);
      return await this.#copy(source, uidSet(uids), target);
    });
  }

  /** Copies, then expunges the originals: the target has them before the source loses them. */
  moveMessages(from: MailboxId, uids: number[], to: MailboxId): Promise<UidMap> {
    return this.#op(async () => {
      const [source, target] = await this.#copyPair(from, to);
      return await this.#move(source, uidSet(uids), target);
    });
  }

  expunge(mailboxId: MailboxId, uids: number[]): Promise<number[]> {
    return this.#op(async () => {
      const box = await boxes.requireMailbox(this.#s, mailboxId);
      return await this.#expunge(box, uidSet(uids));
    });
  }

  changesSince(mailboxId: MailboxId, modSeq: number): Promise<MailboxChanges> {
    return this.#op(async () => {
      const box = await boxes.requireMailbox(this.#s, mailboxId);
      // Read after the mailbox row and before the rows it bounds (`visibility.ts`).
      const { uidLimit, modSeqLimit } = await watermark(this.#s, box);
      const [all, vanished, floor] = await Promise.all([
        msgs.readMessages(this.#s, mailboxId, uidLimit),
        msgs.vanishedSince(this.#s, mailboxId, modSeq, modSeqLimit),
        msgs.vanishedFloor(this.#s, mailboxId),
      ]);
      const changed = all.filter((m) => m.modSeq > modSeq && m.modSeq <= modSeqLimit)
        .map(msgs.metaOf);
      return {
        highestModSeq: Math.max(modSeq, modSeqLimit),
        changed,
        vanished,
        complete: modSeq >= floor,
      };
    });
  }

  /**
   * Prunes every mailbox's tombstones as if it were `now` (expunges prune their own mailbox as
   * they go; delivery records expire by TTL). For maintenance and tests.
   */
  pruneJournal(now = Date.now()): Promise<void> {
    return this.#op(async () => {
      const rows = await this.#s.rows("SELECT DISTINCT mailbox_id FROM expunged");
      for (const row of rows) {
        await msgs.pruneTombstones(this.#s, str(row, "mailbox_id"), now, this.#bounds);
      }
    });
  }

  /**
   * Writes, reads back, changes by a lightweight transaction and deletes a probe row at the
   * configured consistency.
   */
  selfCheck(): Promise<void> {
    return this.#op(async () => {
      const id = crypto.randomUUID();
      const value = crypto.randomUUID();
      await this.#s.run("INSERT INTO probe (id, value) VALUES (?, ?)", [id, value]);
      const row = await this.#s.row("SELECT value FROM probe WHERE id = ?", [id]);
      // Every delivery takes its UID by a lightweight transaction: it needs a Paxos quorum of
      // the row's replicas whatever the consistency, so it is probed too.
      try {
        await this.#s.cas("UPDATE probe SET value = ? WHERE id = ? IF value = ?", [
          value,
          id,
          value,
        ]);
      } catch (err) {
        throw new Error(
          `a lightweight transaction failed (${(err as Error).message}): UIDs are taken by ` +
            "Paxos, which needs a majority of each row's replicas up, so with replication N " +
            "at most (N-1)/2 nodes may be down (replication 3 survives one)",
        );
      }
      await this.#s.run("DELETE FROM probe WHERE id = ?", [id]);
      if (!row || str(row, "value") !== value) {
        throw new Error(`self-check of keyspace ${this.#s.options.keyspace}: no read back`);
      }
    });
  }

  /** Lets calls in flight finish, then disconnects. Later calls reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    await this.#s.close();
  }

  async #copyPair(from: MailboxId, to: MailboxId): Promise<[Mailbox, Mailbox]> {
    const [source, target] = await Promise.all([
      boxes.requireMailbox(this.#s, from),
      boxes.requireMailbox(this.#s, to),
    ]);
    if (source.address !== target.address) {
      throw new StoreError("messages can be copied only between one user's mailboxes", "invalid");
    }
    return [source, target];
  }

  /** Copies the messages with these UIDs (a set), sharing bodies; new UIDs in source order. */
  async #copy(source: Mailbox, uids: number[], target: Mailbox): Promise<UidMap> {
    const map: UidMap = { uidValidity: target.uidValidity, source: [], target: [] };
    if (uids.length === 0) return map;
    const found = await msgs.readMessages(this.#s, source.id, source.uidNext, uids);
    if (found.length === 0) return map;
    const n = found.length;
    const grant = await this.#counters.take(target.id, { uids: n, modSeqs: n });
    await msgs.insertMessages(
      this.#s,
      found.map((m, i) => ({
        ...m,
        mailboxId: target.id,
        uid: grant.firstUid + i,
        modSeq: grant.firstModSeq + i,
      })),
    ).finally(() => grant.release());
    map.source = found.map((m) => m.uid);
    map.target = found.map((_, i) => grant.firstUid + i);
    this.#publish(target.id, "added", grant.firstModSeq + n - 1);
    return map;
  }

  async #move(source: Mailbox, uids: number[], target: Mailbox): Promise<UidMap> {
    const map = await this.#copy(source, uids, target);
    await this.#expunge(source, map.source);
    return map;
  }

  /** Deletes the messages, then leaves their tombstones under one new modseq. */
  async #expunge(box: Mailbox, uids: number[]): Promise<number[]> {
    if (uids.length === 0) return [];
    const found = await msgs.readMessages(this.#s, box.id, box.uidNext, uids);
    const removed = (await msgs.deleteMessages(this.#s, found, true)).map((m) => m.uid)
      .sort((a, b) => a - b);
    if (removed.length === 0) return [];
    // The modseq is taken after the deletes, so it is above any a client saw the messages at
    // (RFC 7162 §3.2.10: VANISHED (EARLIER) reports what went after the client's modseq).
    const grant = await this.#counters.take(box.id, { uids: 0, modSeqs: 1 });
    const firstModSeq = grant.firstModSeq;
    await msgs.writeTombstones(this.#s, box.id, removed, firstModSeq, Date.now(), this.#bounds)
      .finally(() => grant.release());
    this.#publish(box.id, "expunged", firstModSeq);
    return removed;
  }

  /** Removes a mailbox's row, messages, journal and orphaned bodies (its name is gone). */
  async #dropMailbox(box: Mailbox): Promise<void> {
    await this.#s.cas("DELETE FROM mailboxes WHERE id = ? IF EXISTS", [box.id]);
    this.#counters.forget(box.id);
    const all = await msgs.readMessages(this.#s, box.id, box.uidNext);
    await msgs.deleteMessages(this.#s, all, false);
    await this.#s.run("DELETE FROM expunged WHERE mailbox_id = ?", [box.id]);
    await this.#s.run("DELETE FROM vanished_floor WHERE mailbox_id = ?", [box.id]);
  }

  #publish(mailboxId: MailboxId, kind: MailboxEvent["kind"], modSeq: number): void {
    this.changes.publish({ mailboxId, kind, modSeq });
  }

  /** Runs one port call: refused once closed, and awaited by `close`. */
  #op<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new Error(`the store ${this.#s.options.keyspace} is closed`));
    }
    const run = (async () => await fn())();
    this.#pending.add(run);
    run.then(() => this.#pending.delete(run), () => this.#pending.delete(run));
    return run;
  }
}

/** A name for reading: normalised, or undefined when no mailbox can have it. */
function readableName(name: string): string | undefined {
  try {
    return mailboxName(name);
  } catch {
    return undefined;
  }
}

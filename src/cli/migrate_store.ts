/**
 * `fsmtp --migrate-store`: copies a SQLite installation (the file in `data_dir`) into the
 * configured Cassandra keyspace, so that the nodes can switch `store.backend` without a client
 * noticing: users with their sealed key material, mailboxes with UIDVALIDITY, UIDNEXT,
 * HIGHESTMODSEQ and special use, messages with UIDs, modseqs, flags, dates, sizes, wrapped keys
 * and sealed parts, the expunge journals (so QRESYNC still reports what vanished, RFC 7162
 * §3.2.10), subscriptions, the outbound queue with every recipient's state, and the HTTP API's
 * tokens (their hashes) and delivery statuses.
 *
 * Nothing is decrypted and no password is needed: sealed bytes are copied as they are (through
 * the import port, `src/store/store_import.ts`). A run is idempotent: what is there is skipped,
 * so a run that stopped half-way continues, and a run after the servers were stopped brings
 * what arrived since the first. A user whose data in the keyspace is not this installation's
 * (other key material, or a mailbox with another UIDVALIDITY) stops the migration before
 * anything is written, unless `--force` replaces that user's data.
 */
import { existsSync } from "node:fs";
import type { Config } from "../config/config.ts";
import { loadConfig } from "../config/load_config.ts";
import { type Mailbox, type MailStore, StoreError } from "../store/mail_store.ts";
import type { QueueStore } from "../queue/queue_store.ts";
import type { ApiTokenStore } from "../store/api_tokens.ts";
import type { DeliveryStatusStore } from "../store/delivery_status.ts";
import { CassandraMailStore } from "../store/cassandra/cassandra_store.ts";
import { CassandraStoreImport } from "../store/cassandra/store_import.ts";
import { SqliteMailStore } from "../store/sqlite/sqlite_store.ts";
import {
  type ExportedStatus,
  type ImportedMessage,
  sameBytes,
  type StoreImport,
} from "../store/store_import.ts";
import { openStore, storePath } from "./setup.ts";

/** One side of a migration: a store with its queue and HTTP API tables, and its import port. */
export interface MigrationEnd {
  store: MailStore & {
    readonly queue: QueueStore;
    readonly apiTokens: ApiTokenStore;
    readonly deliveryStatus: DeliveryStatusStore;
  };
  importer: StoreImport;
}

/** What a migration did. */
export interface MigrationSummary {
  users: number;
  mailboxes: number;
  /** Messages written into the target. */
  messages: number;
  /** Messages the target had already (an earlier run). */
  present: number;
  /** Messages whose flags the target had older (changed after an earlier run). */
  updated: number;
  /** Queued messages written into the target. */
  queued: number;
  /** API tokens written into the target. */
  tokens: number;
  /** API tokens the target had that the source no longer has (revoked after an earlier run). */
  revoked: number;
  /** Delivery statuses written into the target. */
  statuses: number;
  /** Delivery statuses the target had with older recipient states, brought up to the source's. */
  statusesUpdated: number;
  seconds: number;
}

/** A user whose data in the target is not the source's. */
export interface Conflict {
  address: string;
  reason: string;
}

/** The migration was refused before anything was written: the target holds other data. */
export class MigrationConflict extends Error {
  constructor(readonly conflicts: Conflict[]) {
    super(
      `the target already holds other data for ${conflicts.length} user(s): ` +
        conflicts.map((c) => `${c.address} (${c.reason})`).join(", "),
    );
    this.name = "MigrationConflict";
  }
}

/** How to migrate. */
export interface MigrateOptions {
  /** Replace the target's data of conflicting users instead of refusing. */
  force?: boolean;
  /** A line of progress (after each user, and for the queue). */
  progress?: (line: string) => void;
  /** Messages read and written per round trip (bodies included, so it bounds memory). */
  pageSize?: number;
}

/** Messages per page: with bodies in memory, a page of large mail stays a few MiB. */
const DEFAULT_PAGE = 64;

/** The users whose target data is not the source's, each with why. */
export async function findConflicts(from: MailStore, to: MailStore): Promise<Conflict[]> {
  const conflicts: Conflict[] = [];
  for (const address of await from.listUsers()) {
    const there = await to.getUser(address);
    if (!there) continue;
    const user = await from.getUser(address);
    if (!user) continue; // deleted meanwhile
    if (!sameBytes(there.keys, user.keys)) {
      conflicts.push({ address, reason: "other key material (another password or user)" });
      continue;
    }
    const theirs = new Map((await to.listMailboxes(address)).map((b) => [b.name, b]));
    for (const box of await from.listMailboxes(address)) {
      const other = theirs.get(box.name);
      if (other && other.uidValidity !== box.uidValidity) {
        conflicts.push({
          address,
          reason:
            `mailbox ${box.name} has UIDVALIDITY ${other.uidValidity}, not ${box.uidValidity}`,
        });
        break;
      }
    }
  }
  return conflicts;
}

/**
 * Copies everything of `from` into `to`. Throws {@link MigrationConflict} before writing
 * anything when the target holds other data for a user and `force` is not set; with `force`,
 * those users are deleted from the target first and copied afresh.
 */
export async function migrateStore(
  from: MigrationEnd,
  to: MigrationEnd,
  options: MigrateOptions = {},
): Promise<MigrationSummary> {
  const started = performance.now();
  const progress = options.progress ?? (() => {});
  const pageSize = Math.max(1, options.pageSize ?? DEFAULT_PAGE);
  const conflicts = await findConflicts(from.store, to.store);
  if (conflicts.length > 0 && !options.force) throw new MigrationConflict(conflicts);
  for (const c of conflicts) {
    progress(`migrate: --force: deleting ${c.address} from the target (${c.reason})`);
    await to.store.deleteUser(c.address);
  }
  const summary: MigrationSummary = {
    users: 0,
    mailboxes: 0,
    messages: 0,
    present: 0,
    updated: 0,
    queued: 0,
    tokens: 0,
    revoked: 0,
    statuses: 0,
    statusesUpdated: 0,
    seconds: 0,
  };
  const users = await from.store.listUsers();
  for (const [i, address] of users.entries()) {
    const user = await from.store.getUser(address);
    if (!user) continue;
    await to.importer.importUser(user);
    const before = summary.messages;
    const boxes = await from.store.listMailboxes(address);
    for (const box of boxes) await copyMailbox(from, to, box, pageSize, summary);
    for (const name of await from.store.listSubscriptions(address)) {
      await to.store.setSubscribed(address, name, true);
    }
    await copyTokens(from, to, address, summary);
    summary.users++;
    progress(
      `migrate: user ${i + 1}/${users.length} ${address}: ${boxes.length} mailboxes, ` +
        `${summary.messages - before} messages copied`,
    );
  }
  const queued = await from.store.queue.list();
  for (const message of queued) {
    const content = await from.store.queue.content(message.id);
    if (content === undefined) continue; // delivered meanwhile
    if (await to.importer.importQueued(message, content)) summary.queued++;
  }
  progress(`migrate: queue: ${summary.queued} of ${queued.length} queued messages copied`);
  const statuses = await from.importer.deliveryStatuses();
  for (const status of statuses) await copyStatus(to, status, summary);
  progress(
    `migrate: API: ${summary.tokens} tokens copied, ${summary.revoked} revoked; ` +
      `${summary.statuses} of ${statuses.length} delivery statuses copied, ` +
      `${summary.statusesUpdated} updated`,
  );
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

/** Copies one mailbox: its figures, its messages page by page, then its journal. */
async function copyMailbox(
  from: MigrationEnd,
  to: MigrationEnd,
  box: Mailbox,
  pageSize: number,
  summary: MigrationSummary,
): Promise<void> {
  const target = await to.importer.importMailbox({
    address: box.address,
    name: box.name,
    uidValidity: box.uidValidity,
    uidNext: box.uidNext,
    highestModSeq: box.highestModSeq,
    ...(box.specialUse ? { specialUse: box.specialUse } : {}),
  });
  const uids = (await from.store.listMessages(box.id)).map((m) => m.uid);
  for (let at = 0; at < uids.length; at += pageSize) {
    const page = await from.store.getMessages(box.id, uids.slice(at, at + pageSize), true);
    const whole = page.filter((m): m is ImportedMessage => m.body !== undefined);
    const count = await to.importer.importMessages(target.id, whole);
    summary.messages += count.copied;
    summary.present += count.present;
    summary.updated += count.updated;
  }
  await to.importer.importJournal(target.id, await from.importer.mailboxJournal(box.id));
  summary.mailboxes++;
}

/**
 * Makes the target's API tokens of `address` the source's: the missing ones added (hash,
 * id and date as they are; nobody needs to make a new token), and the ones the source no
 * longer has revoked, so a token revoked after an earlier run does not live on in the target.
 */
async function copyTokens(
  from: MigrationEnd,
  to: MigrationEnd,
  address: string,
  summary: MigrationSummary,
): Promise<void> {
  const mine = await from.store.apiTokens.listTokens(address);
  const ids = new Set(mine.map((t) => t.id));
  for (const token of mine) {
    const there = await to.store.apiTokens.getToken(token.id);
    if (there && there.address === token.address && sameBytes(there.hash, token.hash)) continue;
    // Ids are 128 random bits: a different token under one id is another installation's.
    if (there) {
      throw new StoreError(`API token ${token.id} is another token in the target`, "exists");
    }
    await to.store.apiTokens.addToken(token);
    summary.tokens++;
  }
  for (const token of await to.store.apiTokens.listTokens(address)) {
    if (!ids.has(token.id) && await to.store.apiTokens.revokeToken(address, token.id)) {
      summary.revoked++;
    }
  }
}

/**
 * Writes one delivery status into the target with the time it expires in the source, or brings
 * the recipients whose state changed since an earlier run up to the source's.
 */
async function copyStatus(
  to: MigrationEnd,
  status: ExportedStatus,
  summary: MigrationSummary,
): Promise<void> {
  const { record, expiresAt } = status;
  const there = await to.store.deliveryStatus.getStatus(record.id);
  if (!there) {
    await to.store.deliveryStatus.trackMessage(record, expiresAt - record.createdAt);
    summary.statuses++;
    return;
  }
  const theirs = new Map(there.recipients.map((r) => [r.address, r.updatedAt]));
  const newer = record.recipients.filter((r) => r.updatedAt > (theirs.get(r.address) ?? Infinity));
  if (newer.length === 0) return;
  await to.store.deliveryStatus.updateRecipients(record.id, newer);
  summary.statusesUpdated++;
}

/** Runs the command; returns the exit code. */
export async function migrateStoreCommand(
  opts: { config: string | undefined; force: boolean },
): Promise<number> {
  const config: Config = loadConfig(opts.config).config;
  if (config.store.backend !== "cassandra") {
    console.error(
      "fsmtp: --migrate-store copies the SQLite store into Cassandra: set [store] backend = " +
        '"cassandra" with the [cassandra] keys (and [redis] url) in the config, or run it with ' +
        "FSMTP_STORE_BACKEND=cassandra, and run it again",
    );
    return 1;
  }
  const path = storePath(config);
  if (!existsSync(path)) {
    console.error(
      `fsmtp: no SQLite store at ${path} (data_dir = "${config.data_dir}"): nothing to migrate`,
    );
    return 1;
  }
  const source = SqliteMailStore.open(path);
  try {
    const target = await openStore(config);
    try {
      if (!(target instanceof CassandraMailStore)) throw new Error("the target is not Cassandra");
      const keyspace = config.cassandra.keyspace;
      console.log(`migrate: ${path} -> Cassandra keyspace "${keyspace}"`);
      const summary = await migrateStore(
        { store: source, importer: source.importer() },
        { store: target, importer: new CassandraStoreImport(target.session) },
        { force: opts.force, progress: (line) => console.log(line) },
      );
      console.log(
        `migrate: done: ${summary.users} users, ${summary.mailboxes} mailboxes, ` +
          `${summary.messages} messages copied (${summary.present} already there, ` +
          `${summary.updated} with newer flags), ${summary.queued} queued, ` +
          `${summary.tokens} API tokens, ${summary.statuses} delivery statuses, ` +
          `${summary.seconds.toFixed(2)} s`,
      );
      console.log(
        `migrate: ${path} is unchanged. To serve from Cassandra: stop fsmtp, run ` +
          `--migrate-store once more (it copies only what changed), make sure the config every ` +
          `node starts with has [store] backend = "cassandra", start the nodes, then run ` +
          `fsmtp --sync.`,
      );
      return 0;
    } catch (err) {
      if (!(err instanceof MigrationConflict)) throw err;
      console.error(`fsmtp: --migrate-store refused, nothing written: ${err.message}.`);
      console.error(
        "fsmtp: is the keyspace another installation's? Set [cassandra] keyspace to a new one, " +
          "or run with --force to replace those users' data in the keyspace with this store's.",
      );
      return 1;
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

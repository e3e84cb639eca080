/**
 * The Cassandra store's keyspace and tables, created or migrated at start-up, with the schema
 * version recorded in the keyspace so that an fsmtp older than the data refuses to touch it.
 *
 * How the tables are keyed (the partition key is what Cassandra spreads over nodes, and what
 * one read or one LWT can address):
 *
 * - `messages` is partitioned by (mailbox id, UID bucket): {@link UID_BUCKET} UIDs per
 *   partition, so a 100,000-message mailbox is ~50 partitions of a few hundred KiB on several
 *   nodes, not one hot giant one.
 * - `bodies` holds a body's metadata; its octets are in `body_chunks`, one partition per
 *   {@link CHUNK_SIZE} chunk, so no partition grows with the size of a message.
 * - `mailboxes` is one row per mailbox id, holding the UID and modseq counters that LWTs
 *   advance (see `counters.ts`); `mailbox_names` is the per-user name index that makes a name
 *   unique (an LWT `INSERT … IF NOT EXISTS`), and lists a user's mailboxes sorted by name.
 * - `expunged` (tombstones) is one partition per mailbox, bounded by pruning (count and age);
 *   `vanished_floor` records how far pruning went, as a set whose largest member is the floor.
 * - `deliveries` makes delivery idempotent per (delivery id, address, mailbox, nth); rows
 *   expire by TTL after the journal's delivery bound.
 * - the queue: one row per message (`queue_messages`, its lease columns included) and its
 *   content in chunks (`queue_content`).
 * - the HTTP API: `api_tokens` by id with `api_tokens_by_user` beside it, and
 *   `delivery_status`, one partition per message, expiring by TTL.
 */
import { PENDING_TTL_S } from "./visibility.ts";
import { type CqlSession, num } from "./session.ts";

/** UIDs per `messages` partition. */
export const UID_BUCKET = 2048;

/** Octets per body chunk row: large enough for few reads, small enough for one cheap row. */
export const CHUNK_SIZE = 128 * 1024;

/** The version this code writes; a keyspace at a higher one is refused. */
export const SCHEMA_VERSION = 3;

/** CQL per version: MIGRATIONS[i] brings a keyspace from version i to i + 1. */
export const MIGRATIONS: readonly (readonly string[])[] = [[
  `CREATE TABLE IF NOT EXISTS users (address text PRIMARY KEY, keys blob, created_at bigint)`,
  `CREATE TABLE IF NOT EXISTS mailbox_names (address text, name text, id text,
     PRIMARY KEY (address, name))`,
  `CREATE TABLE IF NOT EXISTS mailboxes (id text PRIMARY KEY, address text, name text,
     uid_validity bigint, uid_next bigint, highest_modseq bigint, special_use text)`,
  `CREATE TABLE IF NOT EXISTS subscriptions (address text, name text,
     PRIMARY KEY (address, name))`,
  `CREATE TABLE IF NOT EXISTS counters (name text PRIMARY KEY, value bigint)`,
  `CREATE TABLE IF NOT EXISTS messages (mailbox_id text, bucket int, uid bigint, body_id text,
     wrapped_key blob, key_wrap text, size bigint, internal_date bigint, flags text,
     modseq bigint, PRIMARY KEY ((mailbox_id, bucket), uid))`,
  `CREATE TABLE IF NOT EXISTS bodies (body_id text PRIMARY KEY, length bigint, chunks int,
     summary blob)`,
  `CREATE TABLE IF NOT EXISTS body_chunks (body_id text, chunk int, data blob,
     PRIMARY KEY ((body_id, chunk)))`,
  `CREATE TABLE IF NOT EXISTS body_refs (body_id text, mailbox_id text, uid bigint,
     PRIMARY KEY (body_id, mailbox_id, uid))`,
  `CREATE TABLE IF NOT EXISTS expunged (mailbox_id text, modseq bigint, uid bigint,
     expunged_at bigint, PRIMARY KEY (mailbox_id, modseq, uid))`,
  `CREATE TABLE IF NOT EXISTS vanished_floor (mailbox_id text, floor bigint,
     PRIMARY KEY (mailbox_id, floor)) WITH CLUSTERING ORDER BY (floor DESC)`,
  `CREATE TABLE IF NOT EXISTS deliveries (delivery_id text, address text, mailbox text, nth int,
     owner text, claimed_at bigint, mailbox_id text, uid bigint, done boolean,
     PRIMARY KEY (delivery_id, address, mailbox, nth))`,
  `CREATE TABLE IF NOT EXISTS probe (id text PRIMARY KEY, value text)`,
  `CREATE TABLE IF NOT EXISTS queue_messages (id text PRIMARY KEY, sender text, size bigint,
     needs_8bit boolean, needs_smtputf8 boolean, envid text, ret text, arrived_at bigint,
     next_attempt_at bigint, warned boolean, recipients text, chunks int, version int,
     lease_owner text, lease_until bigint)`,
  `CREATE TABLE IF NOT EXISTS queue_content (id text, chunk int, data blob,
     PRIMARY KEY ((id, chunk)))`,
], [
  // 2: announcements of UIDs and modseqs taken but not yet written (visibility.ts). Rows live
  // seconds, so tombstones may be purged after minutes rather than the default ten days.
  `CREATE TABLE IF NOT EXISTS pending_grants (mailbox_id text, first_modseq bigint, grant_id text,
     first_uid bigint, since bigint, PRIMARY KEY (mailbox_id, first_modseq, grant_id))
     WITH default_time_to_live = ${PENDING_TTL_S} AND gc_grace_seconds = ${PENDING_TTL_S}`,
], [
  // 3: the HTTP API. Tokens by id (the lookup of every request) and by user (listing);
  // message statuses expire by TTL after http.status_retention.
  `CREATE TABLE IF NOT EXISTS api_tokens (id text PRIMARY KEY, address text, hash blob,
     created_at bigint)`,
  `CREATE TABLE IF NOT EXISTS api_tokens_by_user (address text, id text, created_at bigint,
     PRIMARY KEY (address, id))`,
  `CREATE TABLE IF NOT EXISTS delivery_status (message_id text, address text, owner text,
     state text, detail text, created_at bigint, updated_at bigint, expires_at bigint,
     PRIMARY KEY (message_id, address))`,
]];

/** How long one node may hold the migration lock before another may take over. */
const LOCK_TTL_S = 120;

/**
 * Creates the keyspace when missing, then brings its tables to {@link SCHEMA_VERSION}, and
 * switches the session to it. Throws, naming the keyspace, when it was written by a newer
 * fsmtp. Two nodes starting at once: one takes the migration lock (an LWT row with a TTL, so
 * a node dying mid-migration frees it) and migrates; the other waits for the version. Running
 * DDL from one node at a time matters in Cassandra: the same CREATE TABLE from two nodes at
 * once can leave two table ids in disagreement.
 */
export async function migrate(session: CqlSession, keyspace: string, rf: number): Promise<void> {
  if (!/^[a-z][a-z0-9_]{0,47}$/.test(keyspace)) {
    throw new Error(`invalid keyspace name "${keyspace}": use a-z, 0-9 and _ (48 at most)`);
  }
  const dc = session.options.localDc.replaceAll("'", "''");
  await session.run(
    `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication =
       {'class': 'NetworkTopologyStrategy', '${dc}': ${Math.max(1, Math.floor(rf))}}`,
  );
  await session.run(`USE ${keyspace}`);
  await session.run(
    "CREATE TABLE IF NOT EXISTS schema_version (id int PRIMARY KEY, version int, lock text)",
  );
  const deadline = Date.now() + LOCK_TTL_S * 1000;
  for (;;) {
    const version = await currentVersion(session);
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `the Cassandra keyspace "${keyspace}" has schema version ${version}, but this fsmtp ` +
          `knows only up to version ${SCHEMA_VERSION}: run a newer fsmtp, or set ` +
          `[cassandra] keyspace to another keyspace`,
      );
    }
    if (version === SCHEMA_VERSION) return;
    const me = crypto.randomUUID();
    const lock = await session.cas(
      `INSERT INTO schema_version (id, lock) VALUES (1, ?) IF NOT EXISTS USING TTL ${LOCK_TTL_S}`,
      [me],
    );
    if (lock.applied) {
      try {
        for (const statements of MIGRATIONS.slice(version)) {
          for (const cql of statements) await session.run(cql);
        }
        await session.run("INSERT INTO schema_version (id, version) VALUES (0, ?)", [
          SCHEMA_VERSION,
        ]);
      } finally {
        await session.run("DELETE FROM schema_version WHERE id = 1");
      }
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `the Cassandra keyspace "${keyspace}" is being migrated by another node for over ` +
          `${LOCK_TTL_S} s; check the other fsmtp nodes' logs`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The recorded schema version; 0 for a keyspace without one. */
export async function currentVersion(session: CqlSession): Promise<number> {
  const row = await session.serialRow("SELECT version FROM schema_version WHERE id = 0");
  return row && row.get("version") !== null ? num(row, "version") : 0;
}

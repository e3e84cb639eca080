/**
 * The SQLite store's schema and its migrations. The file's `PRAGMA user_version` is the number of
 * migrations applied; each migration runs in its own transaction together with the version bump,
 * so a crash mid-upgrade leaves the file at the old version, never half-migrated.
 */
import type { DatabaseSync } from "node:sqlite";

/**
 * Migrations in order; migration `i` takes the file from version `i` to `i + 1`. Append only:
 * a released migration never changes, because files in the field already ran it.
 */
export const MIGRATIONS: readonly string[] = [
  // Version 1.
  `
  CREATE TABLE users (
    address    TEXT PRIMARY KEY,
    keys       BLOB NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE mailboxes (
    id             INTEGER PRIMARY KEY,
    address        TEXT NOT NULL REFERENCES users(address) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    uid_validity   INTEGER NOT NULL,
    uid_next       INTEGER NOT NULL,
    highest_modseq INTEGER NOT NULL,
    UNIQUE (address, name)
  ) STRICT;

  -- One sealed body shared by every recipient of one delivery; each recipient's message row
  -- holds the content key wrapped for them.
  CREATE TABLE bodies (
    id   INTEGER PRIMARY KEY,
    data BLOB NOT NULL
  ) STRICT;

  -- No ON DELETE on body_id: deleting a body that a message still refers to must fail loudly
  -- rather than leave a message without content.
  CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    body_id       INTEGER NOT NULL REFERENCES bodies(id),
    wrapped_key   BLOB NOT NULL,
    key_wrap      TEXT NOT NULL CHECK (key_wrap IN ('rsa', 'sym')),
    size          INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    flags         TEXT NOT NULL,
    modseq        INTEGER NOT NULL,
    UNIQUE (mailbox_id, uid)
  ) STRICT;

  -- Finding whether a body is still referenced (expunge, deleteUser), and the foreign-key check
  -- SQLite runs when a body row is deleted, would otherwise scan every message.
  CREATE INDEX messages_body ON messages(body_id);

  -- High-water marks that must survive the rows they were taken from: the last UIDVALIDITY
  -- handed out, so a mailbox deleted and created again never reuses one (RFC 3501 §2.3.1.1).
  CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) STRICT;

  -- The self-check's scratch row.
  CREATE TABLE probe (
    id    INTEGER PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;
  `,
  // Version 2: the outbound queue (src/queue/, src/store/sqlite/sqlite_queue.ts). Content is
  // kept in clear, as in every MTA: it must go out as signed; it is deleted once done.
  `
  CREATE TABLE queue_messages (
    id              TEXT PRIMARY KEY,
    sender          TEXT NOT NULL,
    content         BLOB NOT NULL,
    size            INTEGER NOT NULL,
    needs_8bit      INTEGER NOT NULL CHECK (needs_8bit IN (0, 1)),
    needs_smtputf8  INTEGER NOT NULL CHECK (needs_smtputf8 IN (0, 1)),
    envid           TEXT,
    ret             TEXT CHECK (ret IN ('FULL', 'HDRS')),
    arrived_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    warned          INTEGER NOT NULL DEFAULT 0 CHECK (warned IN (0, 1))
  ) STRICT;

  CREATE INDEX queue_messages_next ON queue_messages(next_attempt_at);

  -- report_owed: the recipient reached a final status that owes the sender a DSN which has
  -- not been sent yet; the message stays (with its content) until it is.
  CREATE TABLE queue_recipients (
    message_id      TEXT NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
    address         TEXT NOT NULL,
    domain          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_attempt_at INTEGER,
    last_reply      TEXT,
    remote_host     TEXT,
    notify          TEXT,
    orcpt           TEXT,
    report_owed     INTEGER NOT NULL DEFAULT 0 CHECK (report_owed IN (0, 1)),
    PRIMARY KEY (message_id, address)
  ) STRICT;
  `,
  // Version 3: what IMAP needs (special use, subscriptions, summaries, the expunge journal) and
  // idempotent delivery. The default mailboxes and subscriptions of existing users are made
  // here, as createUser makes them for new ones.
  `
  ALTER TABLE mailboxes ADD COLUMN special_use TEXT
    CHECK (special_use IN ('\\All', '\\Archive', '\\Drafts', '\\Flagged', '\\Junk',
                           '\\Sent', '\\Trash'));
  -- The highest modseq of the tombstones pruned so far: changes since an older modseq may miss
  -- expunges (RFC 7162 §3.2.5.2 lets the server say so through a full resync).
  ALTER TABLE mailboxes ADD COLUMN vanished_floor INTEGER NOT NULL DEFAULT 0;

  -- The sealed summary (envelope, structure, header fields) under the body's content key;
  -- null for messages stored before it existed, filled on first read.
  ALTER TABLE bodies ADD COLUMN summary BLOB;

  -- CONDSTORE/QRESYNC ask for the messages changed after a modseq (RFC 7162 §3.1.4).
  CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);

  -- Subscribed names (RFC 3501 §6.3.6); a name need not be an existing mailbox.
  CREATE TABLE subscriptions (
    address TEXT NOT NULL REFERENCES users(address) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    PRIMARY KEY (address, name)
  ) STRICT, WITHOUT ROWID;

  -- Tombstones of expunged messages, for VANISHED (RFC 7162 §3.2.10); pruned by age and count.
  CREATE TABLE expunged (
    mailbox_id  INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid         INTEGER NOT NULL,
    modseq      INTEGER NOT NULL,
    expunged_at INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
  ) STRICT, WITHOUT ROWID;

  CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);

  -- Where each item of a delivery was filed, so a retried delivery files nothing twice.
  CREATE TABLE deliveries (
    delivery_id  TEXT NOT NULL,
    address      TEXT NOT NULL,
    mailbox      TEXT NOT NULL,
    -- Two items of one delivery for the same mailbox are two messages: 0, 1, … among them.
    nth          INTEGER NOT NULL,
    mailbox_id   INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid          INTEGER NOT NULL,
    delivered_at INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, address, mailbox, nth)
  ) STRICT;

  CREATE INDEX deliveries_at ON deliveries(delivered_at);
  CREATE INDEX deliveries_mailbox ON deliveries(mailbox_id);

  -- One UIDVALIDITY, above every one handed out before, for all the mailboxes made below.
  INSERT INTO counters (name, value) VALUES ('uid_validity', unixepoch())
    ON CONFLICT (name) DO UPDATE SET value = max(value + 1, unixepoch());

  CREATE TEMP TABLE default_mailboxes (name TEXT, special_use TEXT);
  INSERT INTO default_mailboxes VALUES
    ('Sent', '\\Sent'), ('Drafts', '\\Drafts'), ('Trash', '\\Trash'), ('Junk', '\\Junk'),
    ('Archive', '\\Archive');

  UPDATE mailboxes SET special_use =
    (SELECT d.special_use FROM default_mailboxes d WHERE d.name = mailboxes.name)
  WHERE name IN (SELECT name FROM default_mailboxes);

  INSERT INTO mailboxes (address, name, uid_validity, uid_next, highest_modseq, special_use)
  SELECT u.address, d.name, (SELECT value FROM counters WHERE name = 'uid_validity'), 1, 1,
         d.special_use
  FROM users u CROSS JOIN default_mailboxes d
  WHERE NOT EXISTS (SELECT 1 FROM mailboxes m WHERE m.address = u.address AND m.name = d.name);

  DROP TABLE default_mailboxes;

  INSERT INTO subscriptions (address, name) SELECT address, name FROM mailboxes;
  `,
  // Version 4: the HTTP API (src/http/): tokens, stored only as SHA-256 hashes and gone with
  // their user, and the per-recipient status of API messages, kept after the queue forgets
  // them until expires_at.
  `
  CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    address    TEXT NOT NULL REFERENCES users(address) ON DELETE CASCADE,
    hash       BLOB NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  CREATE INDEX api_tokens_address ON api_tokens(address);

  CREATE TABLE delivery_status (
    message_id TEXT NOT NULL,
    address    TEXT NOT NULL,
    owner      TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('queued', 'deferred', 'delivered', 'bounced')),
    detail     TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, address)
  ) STRICT, WITHOUT ROWID;

  CREATE INDEX delivery_status_expires ON delivery_status(expires_at);
  `,
];

/** The schema version this build writes: the number of known migrations. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Reads the file's schema version (`PRAGMA user_version`). */
export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get();
  return Number(row?.user_version ?? 0);
}

/**
 * Brings the file at `path` up to {@link SCHEMA_VERSION}. Refuses a file written by a newer
 * fsmtp: an older build would not know what the newer columns mean and could corrupt them.
 */
export function migrate(db: DatabaseSync, path: string): void {
  for (;;) {
    // The version is read inside the write transaction: two processes opening a new file at
    // once would otherwise both run migration 1, and the second would fail on "table exists".
    db.exec("BEGIN IMMEDIATE");
    try {
      const found = schemaVersion(db);
      if (found > SCHEMA_VERSION) {
        throw new Error(
          `${path} has schema version ${found}, but this fsmtp knows only up to version ` +
            `${SCHEMA_VERSION}; run a newer fsmtp on it, or point data_dir elsewhere`,
        );
      }
      if (found === SCHEMA_VERSION) {
        db.exec("COMMIT");
        return;
      }
      try {
        db.exec(MIGRATIONS[found]);
        // user_version lives in the file header and is written by this transaction too.
        db.exec(`PRAGMA user_version = ${found + 1}`);
      } catch (err) {
        throw new Error(
          `${path}: migrating the schema to version ${found + 1} failed: ${(err as Error).message}`,
        );
      }
      db.exec("COMMIT");
    } catch (err) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw err;
    }
  }
}

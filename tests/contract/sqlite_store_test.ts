/**
 * The SQLite store: the MailStore contract on a temporary file, and what only SQLite has —
 * data surviving a reopen, schema versions and the migration of older files, group commit,
 * journal bounds, and a locked file reported as "unavailable".
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/store/sqlite/schema.ts";
import { type Delivery, StoreError } from "../../src/store/mail_store.ts";
import { mailStoreContract } from "./mail_store_contract.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Reads one number from the file through a connection of its own. */
function peek(path: string, sql: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return Number(Object.values(db.prepare(sql).get() ?? {})[0]);
  } finally {
    db.close();
  }
}

async function tempDb(): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-sqlite-" });
  return { dir, path: join(dir, "fsmtp.db") };
}

mailStoreContract("sqlite", async () => {
  const { dir, path } = await tempDb();
  const store = SqliteMailStore.open(path);
  return {
    store,
    cleanup: () => Deno.remove(dir, { recursive: true }),
    countBodies: () => Promise.resolve(peek(path, "SELECT count(*) FROM bodies")),
    // A year on, every tombstone is past its 30 days.
    prune: () => store.pruneJournal(Date.now() + 365 * DAY_MS),
  };
});

const USER = "alice@test.example";

function oneDelivery(i: number, id = `delivery-${i}-${crypto.randomUUID()}`): Delivery {
  const body = new TextEncoder().encode(`sealed body ${i}`);
  return {
    id,
    body,
    size: body.length,
    internalDate: 1_700_000_000_000 + i,
    items: [{
      address: USER,
      mailbox: "INBOX",
      wrappedKey: new Uint8Array([i % 256]),
      keyWrap: "rsa",
    }],
  };
}

Deno.test("sqlite store", async (t) => {
  const { dir, path } = await tempDb();
  try {
    await t.step("open creates the parent folder", async () => {
      const nested = join(dir, "a", "b", "nested.db");
      const store = SqliteMailStore.open(nested);
      await store.close();
      assert.ok((await Deno.stat(nested)).isFile);
    });

    await t.step("the file is in WAL mode at the current schema version", async () => {
      const store = SqliteMailStore.open(path);
      await store.close();
      assert.equal(SCHEMA_VERSION, 4);
      assert.equal(peek(path, "PRAGMA user_version"), SCHEMA_VERSION);
      const db = new DatabaseSync(path, { readOnly: true });
      try {
        assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
      } finally {
        db.close();
      }
    });

    await t.step("data survives close and reopen", async () => {
      const first = SqliteMailStore.open(path);
      await first.createUser({ address: USER, keys: new Uint8Array([1, 2]), createdAt: 5 });
      const [ref] = await first.deliver(oneDelivery(1));
      await first.storeFlags(ref.mailboxId, [ref.uid], "add", ["\\Seen"]);
      const box = await first.getMailbox(USER, "INBOX");
      await first.close();

      const second = SqliteMailStore.open(path);
      try {
        assert.deepEqual(await second.getMailbox(USER, "INBOX"), box);
        const m = await second.getMessage(ref.mailboxId, ref.uid);
        assert.deepEqual(m?.body, oneDelivery(1).body);
        assert.deepEqual(m?.flags, ["\\Seen"]);
        const [next] = await second.deliver(oneDelivery(2));
        assert.ok(next.uid > ref.uid);
      } finally {
        await second.close();
      }
    });

    await t.step("200 concurrent deliveries take far fewer than 200 commits", async () => {
      const store = SqliteMailStore.open(path);
      try {
        const before = store.commits;
        const refs = await Promise.all(
          Array.from({ length: 200 }, (_, i) => store.deliver(oneDelivery(i))),
        );
        const commits = store.commits - before;
        assert.equal(new Set(refs.flat().map((r) => r.uid)).size, 200);
        assert.ok(commits <= 5, `200 deliveries took ${commits} commits`);
      } finally {
        await store.close();
      }
    });

    await t.step("system flags are stored in their canonical case", async () => {
      const store = SqliteMailStore.open(path);
      try {
        const [ref] = await store.deliver(oneDelivery(7));
        const { updated } = await store.storeFlags(ref.mailboxId, [ref.uid], "replace", [
          "\\seen",
          "\\DELETED",
          "$label",
          "\\Seen",
        ]);
        assert.deepEqual(updated[0].flags, ["\\Seen", "\\Deleted", "$label"]);
        const status = await store.mailboxStatus(ref.mailboxId);
        assert.ok(status && status.deleted >= 1);
      } finally {
        await store.close();
      }
    });

    await t.step("a file from a newer fsmtp is refused, naming the file", () => {
      const newer = join(dir, "newer.db");
      const db = new DatabaseSync(newer);
      db.exec("PRAGMA user_version = 99");
      db.close();
      assert.throws(() => SqliteMailStore.open(newer), (err: Error) => {
        assert.ok(err.message.includes(newer), err.message);
        assert.match(err.message, /schema version 99/);
        assert.match(err.message, new RegExp(`knows only up to version ${SCHEMA_VERSION}`));
        return true;
      });
      assert.equal(peek(newer, "PRAGMA user_version"), 99, "the file was changed");
    });

    await t.step("methods reject once the store is closed", async () => {
      const store = SqliteMailStore.open(path);
      await store.close();
      await assert.rejects(store.getUser(USER), /closed/);
      await assert.rejects(store.deliver(oneDelivery(3)), /closed/);
      await assert.rejects(store.setSummary("1", 1, new Uint8Array(1)), /closed/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: journal bounds", async (t) => {
  const { dir, path } = await tempDb();
  const store = SqliteMailStore.open(path, { journal: { tombstonesPerMailbox: 3 } });
  try {
    await store.createUser({ address: USER, keys: new Uint8Array([1]), createdAt: 1 });
    const refs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => store.deliver(oneDelivery(i))),
    );
    const inbox = refs[0][0].mailboxId;
    const uids = refs.map(([r]) => r.uid);
    const start = (await store.getMailbox(USER, "INBOX"))!.highestModSeq;

    await t.step("beyond the count bound the oldest tombstones go", async () => {
      for (const uid of uids.slice(0, 3)) await store.expunge(inbox, [uid]);
      const mid = (await store.getMailbox(USER, "INBOX"))!.highestModSeq;
      assert.equal((await store.changesSince(inbox, start)).complete, true);
      await store.expunge(inbox, [uids[3]]);
      const changes = await store.changesSince(inbox, start);
      assert.equal(changes.complete, false);
      assert.deepEqual(changes.vanished, uids.slice(1, 4));
      assert.equal((await store.changesSince(inbox, mid)).complete, true);
      assert.equal(peek(path, "SELECT count(*) FROM expunged"), 3);
    });

    await t.step("a delivery record past its age no longer stops a redelivery", async () => {
      const d = oneDelivery(40, "fixed-id");
      const [first] = await store.deliver(d);
      assert.deepEqual(await store.deliver(d), [first]);
      await store.pruneJournal(Date.now() + 6 * DAY_MS);
      assert.deepEqual(await store.deliver(d), [first], "pruned before 7 days");
      await store.pruneJournal(Date.now() + 8 * DAY_MS);
      const [again] = await store.deliver(d);
      assert.ok(again.uid > first.uid);
    });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: the change feed speaks only of committed changes", async () => {
  const { dir, path } = await tempDb();
  const store = SqliteMailStore.open(path);
  try {
    await store.createUser({ address: USER, keys: new Uint8Array([1]), createdAt: 1 });
    const inbox = (await store.getMailbox(USER, "INBOX"))!;
    // Another connection sees only what is committed: what a second process would see.
    const committed: number[] = [];
    const stop = store.changes.subscribe(inbox.id, () => {
      committed.push(peek(path, "SELECT count(*) FROM messages"));
    });
    const [ref] = await store.deliver(oneDelivery(1));
    await store.storeFlags(inbox.id, [ref.uid], "add", ["\\Seen"]);
    await store.expunge(inbox.id, [ref.uid]);
    stop();
    assert.deepEqual(committed, [1, 1, 0]);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: a locked file is unavailable, not a crash", async () => {
  const { dir, path } = await tempDb();
  const store = SqliteMailStore.open(path, { busyTimeoutMs: 50 });
  const other = new DatabaseSync(path);
  try {
    other.exec("BEGIN IMMEDIATE");
    await assert.rejects(
      store.createUser({ address: USER, keys: new Uint8Array([1]), createdAt: 1 }),
      (err: unknown) => err instanceof StoreError && err.code === "unavailable",
    );
    await assert.rejects(
      store.deliver(oneDelivery(1)),
      (err: unknown) => err instanceof StoreError && err.code === "unavailable",
    );
    other.exec("ROLLBACK");
    await store.createUser({ address: USER, keys: new Uint8Array([1]), createdAt: 1 });
    assert.equal((await store.deliver(oneDelivery(2))).length, 1);
  } finally {
    other.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: migrating a version-2 file", async (t) => {
  const { dir, path } = await tempDb();
  const enc = new TextEncoder();
  // The file as fsmtp wrote it before migration 3: the same SQL, rows as that code made them.
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  for (const sql of MIGRATIONS.slice(0, 2)) db.exec(sql);
  db.exec("PRAGMA user_version = 2");
  db.prepare("INSERT INTO users (address, keys, created_at) VALUES (?, ?, ?)")
    .run(USER, new Uint8Array([4, 2]), 1_600_000_000_000);
  const addBox = db.prepare(
    `INSERT INTO mailboxes (address, name, uid_validity, uid_next, highest_modseq)
     VALUES (?, ?, ?, ?, ?) RETURNING id`,
  );
  const inboxRow = Number(addBox.get(USER, "INBOX", 1_600_000_000, 3, 4)!.id);
  const sentRow = Number(addBox.get(USER, "Sent", 1_600_000_001, 2, 2)!.id);
  addBox.get(USER, "Junk", 1_600_000_002, 1, 1);
  db.prepare("INSERT INTO counters (name, value) VALUES ('uid_validity', ?)").run(1_600_000_002);
  const addBody = db.prepare("INSERT INTO bodies (data) VALUES (?) RETURNING id");
  const shared = Number(addBody.get(enc.encode("sealed shared"))!.id);
  const own = Number(addBody.get(enc.encode("sealed own"))!.id);
  const addMessage = db.prepare(
    `INSERT INTO messages (mailbox_id, uid, body_id, wrapped_key, key_wrap, size, internal_date,
       flags, modseq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  addMessage.run(inboxRow, 1, shared, new Uint8Array([1]), "rsa", 100, 1_600_000_000_001, "", 2);
  addMessage.run(inboxRow, 2, own, new Uint8Array([2]), "sym", 50, 1_600_000_000_002, "\\Seen", 4);
  addMessage.run(
    sentRow,
    1,
    shared,
    new Uint8Array([3]),
    "rsa",
    100,
    1_600_000_000_001,
    "\\Seen",
    2,
  );
  db.close();

  const store = SqliteMailStore.open(path);
  try {
    await t.step("the file is at the current version", () => {
      assert.equal(peek(path, "PRAGMA user_version"), SCHEMA_VERSION);
    });
    await t.step("users, mailboxes and messages read back as they were", async () => {
      assert.deepEqual(await store.getUser(USER), {
        address: USER,
        keys: new Uint8Array([4, 2]),
        createdAt: 1_600_000_000_000,
      });
      const inbox = await store.getMailbox(USER, "INBOX");
      assert.ok(inbox);
      assert.equal(inbox.uidValidity, 1_600_000_000);
      assert.equal(inbox.uidNext, 3);
      assert.equal(inbox.highestModSeq, 4);
      assert.equal(inbox.specialUse, undefined);
      const messages = await store.getMessages(inbox.id, [1, 2], true);
      assert.deepEqual(messages.map((m) => [m.uid, m.flags, m.keyWrap, m.size, m.modSeq]), [
        [1, [], "rsa", 100, 2],
        [2, ["\\Seen"], "sym", 50, 4],
      ]);
      assert.deepEqual(messages[0].body, enc.encode("sealed shared"));
      assert.equal(messages[0].summary, undefined);
      const status = await store.mailboxStatus(inbox.id);
      assert.deepEqual([status?.messages, status?.unseen, status?.size], [2, 1, 150]);
      assert.equal(await store.usage(USER), 250);
      const changes = await store.changesSince(inbox.id, 0);
      assert.equal(changes.complete, true);
      assert.deepEqual(changes.vanished, []);
    });
    await t.step("the default mailboxes exist with their special use", async () => {
      const boxes = await store.listMailboxes(USER);
      assert.deepEqual(
        boxes.map((b) => [b.name, b.specialUse]),
        [
          ["Archive", "\\Archive"],
          ["Drafts", "\\Drafts"],
          ["INBOX", undefined],
          ["Junk", "\\Junk"],
          ["Sent", "\\Sent"],
          ["Trash", "\\Trash"],
        ],
      );
      const sent = boxes.find((b) => b.name === "Sent")!;
      assert.equal(sent.uidValidity, 1_600_000_001, "an existing mailbox changed UIDVALIDITY");
      for (const name of ["Archive", "Drafts", "Trash"]) {
        const box = boxes.find((b) => b.name === name)!;
        assert.ok(box.uidValidity > 1_600_000_002, `${name}: ${box.uidValidity}`);
        assert.equal(box.uidNext, 1);
      }
      assert.deepEqual(await store.listSubscriptions(USER), boxes.map((b) => b.name));
    });
    await t.step("deliveries, flags and expunges work on the migrated file", async () => {
      const inbox = (await store.getMailbox(USER, "INBOX"))!;
      const [ref] = await store.deliver({ ...oneDelivery(9), summary: new Uint8Array([9]) });
      assert.equal(ref.mailboxId, inbox.id);
      assert.equal(ref.uid, 3);
      assert.deepEqual((await store.getMessage(inbox.id, 3))?.summary, new Uint8Array([9]));
      await store.storeFlags(inbox.id, [1], "add", ["\\Flagged"]);
      assert.deepEqual(await store.expunge(inbox.id, [1, 2]), [1, 2]);
      const sent = (await store.getMailbox(USER, "Sent"))!;
      assert.ok((await store.getMessage(sent.id, 1))?.body, "a shared body went too early");
      assert.deepEqual((await store.changesSince(inbox.id, 4)).vanished, [1, 2]);
    });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

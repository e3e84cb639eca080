/**
 * The SQLite store: the MailStore contract on a temporary file, and what only SQLite has —
 * data surviving a reopen, schema versions, and group commit.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";
import { SCHEMA_VERSION } from "../../src/store/sqlite/schema.ts";
import type { Delivery } from "../../src/store/mail_store.ts";
import { mailStoreContract } from "./mail_store_contract.ts";

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
  return {
    store: SqliteMailStore.open(path),
    cleanup: () => Deno.remove(dir, { recursive: true }),
    countBodies: () => Promise.resolve(peek(path, "SELECT count(*) FROM bodies")),
  };
});

const USER = "alice@test.example";

function oneDelivery(i: number): Delivery {
  const body = new TextEncoder().encode(`sealed body ${i}`);
  return {
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
      assert.equal(SCHEMA_VERSION, 2);
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
      const [id] = await first.deliver(oneDelivery(1));
      await first.setFlags(id, ["\\Seen"]);
      const box = await first.getMailbox(USER, "INBOX");
      await first.close();

      const second = SqliteMailStore.open(path);
      try {
        assert.deepEqual(await second.getMailbox(USER, "INBOX"), box);
        const m = await second.getMessage(id);
        assert.deepEqual(m?.body, oneDelivery(1).body);
        assert.deepEqual(m?.flags, ["\\Seen"]);
        const [next] = await second.deliver(oneDelivery(2));
        assert.ok((await second.getMessage(next))!.uid > m!.uid);
      } finally {
        await second.close();
      }
    });

    await t.step("200 concurrent deliveries take far fewer than 200 commits", async () => {
      const store = SqliteMailStore.open(path);
      try {
        const before = store.commits;
        const ids = await Promise.all(
          Array.from({ length: 200 }, (_, i) => store.deliver(oneDelivery(i))),
        );
        const commits = store.commits - before;
        assert.equal(new Set(ids.flat()).size, 200);
        assert.ok(commits <= 5, `200 deliveries took ${commits} commits`);
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
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * WalSync: a batch commits with synchronous = NORMAL and FULL is back after it; flushes of the
 * WAL are shared by every commit made before they start, and a commit made while one runs
 * waits for the next.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { WalSync } from "../../src/store/sqlite/wal_sync.ts";

function openDb(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("CREATE TABLE IF NOT EXISTS t (v INTEGER)");
  return db;
}

const synchronous = (db: DatabaseSync) =>
  (db.prepare("PRAGMA synchronous").get() as { synchronous: number }).synchronous;

Deno.test("WalSync", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-walsync-" });
  const path = join(dir, "test.db");
  const db = openDb(path);
  const wal = new WalSync(db, path);
  const insert = (v: number) =>
    wal.unsynced(() => {
      db.exec("BEGIN IMMEDIATE");
      db.prepare("INSERT INTO t (v) VALUES (?)").run(v);
      db.exec("COMMIT");
      return synchronous(db);
    });
  try {
    await t.step("a batch commits with NORMAL; FULL is back afterwards", () => {
      assert.equal(synchronous(db), 2);
      assert.equal(insert(1), 1);
      assert.equal(synchronous(db), 2);
    });

    await t.step("callers of one turn share one flush", async () => {
      const before = wal.flushes;
      await Promise.all([wal.durable(), wal.durable(), wal.durable()]);
      assert.equal(wal.flushes - before, 1);
    });

    await t.step("a commit made while a flush runs waits for the next one", async () => {
      const before = wal.flushes;
      insert(2);
      const first = wal.durable();
      insert(3);
      const second = wal.durable();
      const third = wal.durable(); // shares the waiting one
      assert.notEqual(first, second);
      assert.equal(second, third);
      await Promise.all([first, second, third]);
      assert.equal(wal.flushes - before, 2);
    });

    await t.step("no commit since the running flush began: it covers the caller", async () => {
      insert(4);
      const first = wal.durable();
      assert.equal(wal.durable(), first);
      await first;
    });

    await t.step("what was acknowledged is in the file for another connection", async () => {
      insert(5);
      await wal.durable();
      const other = new DatabaseSync(path);
      try {
        const row = other.prepare("SELECT count(*) AS n FROM t").get() as { n: number };
        assert.equal(row.n, 5);
      } finally {
        other.close();
      }
    });

    await t.step("an in-memory database has nothing to flush", async () => {
      const memory = openDb(":memory:");
      const none = new WalSync(memory, ":memory:");
      assert.equal(none.unsynced(() => synchronous(memory)), synchronous(memory));
      await none.durable();
      assert.equal(none.flushes, 0);
      memory.close();
    });
  } finally {
    await wal.close();
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

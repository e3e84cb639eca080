/**
 * The SQLite queue: the QueueStore contract on a temporary file, and what only SQLite has —
 * migration 2 over a version-1 file, and an enqueue visible to another connection at once
 * (committed, not merely buffered in this process).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/store/sqlite/schema.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";
import { item, queueStoreContract } from "./queue_store_contract.ts";

async function tempDb(): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-queue-" });
  return { dir, path: join(dir, "fsmtp.db") };
}

queueStoreContract("sqlite", async () => {
  const { dir, path } = await tempDb();
  let store = SqliteMailStore.open(path);
  return {
    queue: store.queue,
    reopen: async () => {
      await store.close();
      store = SqliteMailStore.open(path);
      return store.queue;
    },
    cleanup: async () => {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});

Deno.test("sqlite queue", async (t) => {
  const { dir, path } = await tempDb();
  try {
    await t.step("a version-1 file is migrated to the queue schema, users kept", async () => {
      const old = join(dir, "v1.db");
      const db = new DatabaseSync(old);
      db.exec(MIGRATIONS[0]);
      db.exec("PRAGMA user_version = 1");
      db.exec("INSERT INTO users (address, keys, created_at) VALUES ('a@x.example', x'01', 1)");
      db.close();
      const store = SqliteMailStore.open(old);
      try {
        assert.ok(await store.getUser("a@x.example"));
        const id = await store.queue.enqueue(item(["b@y.example"]));
        assert.equal((await store.queue.list())[0].id, id);
      } finally {
        await store.close();
      }
      const check = new DatabaseSync(old, { readOnly: true });
      try {
        assert.equal(check.prepare("PRAGMA user_version").get()?.user_version, SCHEMA_VERSION);
      } finally {
        check.close();
      }
    });

    await t.step(
      "an enqueue is committed when it resolves (seen by a new connection)",
      async () => {
        const store = SqliteMailStore.open(path);
        try {
          const id = await store.queue.enqueue(item(["b@y.example"]));
          // The first store is not closed: as after a crash, only what was committed counts.
          const other = new DatabaseSync(path, { readOnly: true });
          try {
            const row = other.prepare(
              "SELECT count(*) AS n FROM queue_recipients WHERE message_id = ?",
            )
              .get(id);
            assert.equal(row?.n, 1);
          } finally {
            other.close();
          }
        } finally {
          await store.close();
        }
      },
    );

    await t.step("enqueues submitted together share a transaction", async () => {
      const store = SqliteMailStore.open(path);
      try {
        const ids = await Promise.all(
          Array.from({ length: 100 }, (_, i) => store.queue.enqueue(item([`r${i}@y.example`]))),
        );
        assert.equal(new Set(ids).size, 100);
      } finally {
        await store.close();
      }
    });

    await t.step("queue methods reject once the store is closed", async () => {
      const store = SqliteMailStore.open(path);
      const queue = store.queue;
      await store.close();
      await assert.rejects(queue.enqueue(item(["b@y.example"])), /closed/);
      await assert.rejects(queue.list(), /closed/);
      await assert.rejects(queue.recordResults("X", []), /closed/);
    });

    await t.step("an enqueue submitted just before close is committed", async () => {
      const store = SqliteMailStore.open(path);
      const pending = store.queue.enqueue(item(["late@y.example"], { id: "LATE" }));
      await store.close();
      assert.equal(await pending, "LATE");
      const again = SqliteMailStore.open(path);
      try {
        assert.ok(await again.queue.content("LATE"));
      } finally {
        await again.close();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

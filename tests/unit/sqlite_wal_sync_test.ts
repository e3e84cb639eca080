/** WAL syncs off the event loop: coalesced, and delivery acknowledged only after one. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { WalSync } from "../../src/store/sqlite/wal_sync.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";

Deno.test("WalSync coalesces requests made while a sync runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-walsync-" });
  try {
    const path = join(dir, "file");
    await Deno.writeTextFile(path, "x");
    const sync = WalSync.open(path)!;
    // One sync starts at once; the nine asked for meanwhile share the one after it.
    await Promise.all(Array.from({ length: 10 }, () => sync.request()));
    assert.equal(sync.syncs, 2);
    await sync.request();
    assert.equal(sync.syncs, 3);
    await sync.close();
    await assert.rejects(sync.request(), /closed/);
    assert.equal(WalSync.open(join(dir, "missing")), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SQLite deliveries: the WAL is synced before the promise resolves", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-walsync-store-" });
  const path = join(dir, "mail.db");
  const store = SqliteMailStore.open(path);
  try {
    await store.createUser({ address: "a@example.org", keys: new Uint8Array([1]), createdAt: 1 });
    const box = (await store.getMailbox("a@example.org", "INBOX"))!;
    const announced: number[] = [];
    store.changes.subscribe(box.id, (e) => announced.push(e.modSeq));
    const delivered = await Promise.all([1, 2, 3].map((i) =>
      store.deliver({
        id: `d${i}`,
        body: new Uint8Array([i]),
        size: 1,
        internalDate: Date.now(),
        items: [{
          address: "a@example.org",
          mailbox: "INBOX",
          wrappedKey: new Uint8Array([9]),
          keyWrap: "rsa",
        }],
      })
    ));
    assert.equal(delivered.length, 3);
    assert.ok(store.walSyncs >= 1, "a WAL sync came before the deliveries resolved");
    assert.ok(announced.length >= 1, "the mailbox change was announced");
    // Another connection sees them: committed.
    const other = new DatabaseSync(path, { readOnly: true });
    try {
      const row = other.prepare("SELECT count(*) AS n FROM messages").get() as { n: number };
      assert.equal(Number(row.n), 3);
    } finally {
      other.close();
    }
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

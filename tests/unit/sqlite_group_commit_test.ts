/**
 * Group commit: what is submitted in one turn of the event loop runs as one batch; with a
 * durability, its items settle only once the flush covering it is done.
 */
import assert from "node:assert/strict";
import { GroupCommit, type Outcome } from "../../src/store/sqlite/group_commit.ts";
import type { Durability } from "../../src/store/sqlite/wal_sync.ts";

Deno.test("GroupCommit", async (t) => {
  await t.step("submissions of one turn form one batch, in order", async () => {
    const batches: number[][] = [];
    const gc = new GroupCommit<number, number>((items) => {
      batches.push(items);
      return items.map((i) => ({ ok: true, value: i * 2 }));
    });
    const results = await Promise.all([1, 2, 3].map((i) => gc.submit(i)));
    assert.deepEqual(results, [2, 4, 6]);
    assert.deepEqual(batches, [[1, 2, 3]]);
  });

  await t.step("items failing alone reject alone", async () => {
    const gc = new GroupCommit<number, number>((items) =>
      items.map((i): Outcome<number> =>
        i % 2 ? { ok: true, value: i } : { ok: false, error: new Error(`even ${i}`) }
      )
    );
    const settled = await Promise.allSettled([1, 2, 3].map((i) => gc.submit(i)));
    assert.deepEqual(settled.map((s) => s.status), ["fulfilled", "rejected", "fulfilled"]);
  });

  await t.step("a batch that throws rejects every item of it", async () => {
    const gc = new GroupCommit<number, number>(() => {
      throw new Error("disk full");
    });
    const settled = await Promise.allSettled([1, 2].map((i) => gc.submit(i)));
    for (const s of settled) {
      assert.equal(s.status, "rejected");
      assert.match(String(s.reason), /disk full/);
    }
  });

  await t.step("what arrives while a batch runs goes into the next one", async () => {
    const batches: number[][] = [];
    let late: Promise<number> | undefined;
    const gc = new GroupCommit<number, number>((items) => {
      batches.push(items);
      // Submitted from inside the running batch, like a delivery whose data arrived meanwhile.
      if (!late) late = gc.submit(99);
      return items.map((i) => ({ ok: true, value: i }));
    });
    await Promise.all([gc.submit(1), gc.submit(2)]);
    assert.equal(await late, 99);
    assert.deepEqual(batches, [[1, 2], [99]]);
  });

  await t.step("maxBatch splits a flood and drain waits for all of it", async () => {
    const sizes: number[] = [];
    const gc = new GroupCommit<number, number>((items) => {
      sizes.push(items.length);
      return items.map((i) => ({ ok: true, value: i }));
    }, 4);
    const all = Promise.all(Array.from({ length: 10 }, (_, i) => gc.submit(i)));
    assert.equal(gc.pending, 10);
    await gc.drain();
    assert.equal(gc.pending, 0);
    assert.deepEqual(sizes, [4, 4, 2]);
    assert.equal((await all).length, 10);
    await gc.drain();
  });
});

/** A Durability whose flushes the test ends by hand. */
class ManualFlush implements Durability {
  flushes: PromiseWithResolvers<void>[] = [];
  unsyncedRuns = 0;
  unsynced<T>(fn: () => T): T {
    this.unsyncedRuns++;
    return fn();
  }
  durable(): Promise<void> {
    const flush = Promise.withResolvers<void>();
    this.flushes.push(flush);
    return flush.promise;
  }
}

/** Resolves after the event loop's pending callbacks (setImmediate) have run. */
const turn = () => new Promise((r) => setTimeout(r, 0));

Deno.test("GroupCommit with a durability", async (t) => {
  await t.step("items settle after the flush; the next batch runs meanwhile", async () => {
    const flush = new ManualFlush();
    const batches: number[][] = [];
    const gc = new GroupCommit<number, number>(
      (items) => {
        batches.push(items);
        return items.map((i) => ({ ok: true, value: i }));
      },
      500,
      flush,
    );
    let settled = 0;
    const first = [1, 2].map((i) => gc.submit(i).then((v) => (settled++, v)));
    await turn();
    assert.deepEqual(batches, [[1, 2]]);
    assert.equal(settled, 0, "a 250 before the flush");
    const second = gc.submit(3).then((v) => (settled++, v));
    await turn();
    assert.deepEqual(batches, [[1, 2], [3]], "the second batch waited for the first flush");
    assert.equal(flush.unsyncedRuns, 2);
    flush.flushes[0].resolve();
    assert.deepEqual(await Promise.all(first), [1, 2]);
    assert.equal(settled, 2);
    flush.flushes[1].resolve();
    assert.equal(await second, 3);
  });

  await t.step("a failed flush rejects the items of its batch", async () => {
    const flush = new ManualFlush();
    const gc = new GroupCommit<number, number>(
      (items) => items.map((i) => ({ ok: true, value: i })),
      500,
      flush,
    );
    const settled = Promise.allSettled([1, 2].map((i) => gc.submit(i)));
    await turn();
    flush.flushes[0].reject(new Error("EIO"));
    for (const s of await settled) {
      assert.equal(s.status, "rejected");
      assert.match(String((s as PromiseRejectedResult).reason), /EIO/);
    }
  });

  await t.step("a batch that failed as a whole does not wait for a flush", async () => {
    const flush = new ManualFlush();
    const gc = new GroupCommit<number, number>(
      () => {
        throw new Error("disk full");
      },
      500,
      flush,
    );
    await assert.rejects(gc.submit(1), /disk full/);
    assert.equal(flush.flushes.length, 0);
  });

  await t.step("drain waits for the flush", async () => {
    const flush = new ManualFlush();
    const gc = new GroupCommit<number, number>(
      (items) => items.map((i) => ({ ok: true, value: i })),
      500,
      flush,
    );
    const item = gc.submit(1);
    let drained = false;
    const draining = gc.drain().then(() => drained = true);
    await turn();
    assert.equal(drained, false);
    flush.flushes[0].resolve();
    await draining;
    assert.equal(await item, 1);
  });
});

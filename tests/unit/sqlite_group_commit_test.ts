/** Group commit: what is submitted in one turn of the event loop runs as one batch. */
import assert from "node:assert/strict";
import { GroupCommit, type Outcome } from "../../src/store/sqlite/group_commit.ts";

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

Deno.test("GroupCommit with a durable step", async (t) => {
  await t.step(
    "items settle only once the batch is durable; the next batch runs meanwhile",
    async () => {
      const syncs: PromiseWithResolvers<void>[] = [];
      const batches: number[][] = [];
      const gc = new GroupCommit<number, number>(
        (items) => {
          batches.push(items);
          return items.map((i) => ({ ok: true, value: i }));
        },
        500,
        () => {
          const sync = Promise.withResolvers<void>();
          syncs.push(sync);
          return sync.promise;
        },
      );
      let settled = false;
      const first = gc.submit(1).then((v) => {
        settled = true;
        return v;
      });
      await new Promise((r) => setTimeout(r, 0));
      assert.deepEqual(batches, [[1]]);
      assert.equal(settled, false, "not before the batch is on disk");
      const second = gc.submit(2);
      await new Promise((r) => setTimeout(r, 0));
      assert.deepEqual(batches, [[1], [2]], "the second batch did not wait for the first's sync");
      let drained = false;
      const drain = gc.drain().then(() => drained = true);
      syncs[0].resolve();
      assert.equal(await first, 1);
      assert.equal(drained, false, "drain waits for every sync");
      syncs[1].resolve();
      assert.equal(await second, 2);
      await drain;
    },
  );

  await t.step("a failed durable step rejects the whole batch", async () => {
    const gc = new GroupCommit<number, number>(
      (items) => items.map((i) => ({ ok: true, value: i })),
      500,
      () => Promise.reject(new Error("fsync: I/O error")),
    );
    const settled = await Promise.allSettled([1, 2].map((i) => gc.submit(i)));
    for (const s of settled) {
      assert.equal(s.status, "rejected");
      assert.match(String(s.reason), /I\/O error/);
    }
  });
});

/**
 * Collections follow large give-backs, at most one per interval; small ones cause none. And
 * one follows a burst of connections once no new one came for a while.
 */
import assert from "node:assert/strict";
import {
  CollectionScheduler,
  fullCollection,
  QuietCollector,
} from "../../src/net/collect_garbage.ts";
import { OctetBudget } from "../../src/net/octet_budget.ts";

/** Waits until `done()` holds (bounded): the scheduler's timers are real. */
async function until(done: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("collection scheduler", async (t) => {
  await t.step("the runtime offers a full collection", () => {
    assert.equal(typeof fullCollection(), "function");
  });

  await t.step("below the threshold nothing is collected", async () => {
    let runs = 0;
    const s = new CollectionScheduler(1000, 0, () => runs++);
    s.released(999);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(runs, 0);
    s.cancel();
  });

  await t.step("past the threshold one collection runs; the count starts again", async () => {
    let runs = 0;
    const s = new CollectionScheduler(1000, 0, () => runs++);
    s.released(600);
    s.released(600);
    s.released(600); // already pending: still one
    await until(() => runs === 1);
    s.released(500);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(runs, 1);
    s.released(500);
    await until(() => runs === 2);
  });

  await t.step("collections keep the interval apart", async () => {
    const times: number[] = [];
    const s = new CollectionScheduler(1, 80, () => times.push(Date.now()));
    s.released(1);
    await until(() => times.length === 1);
    s.released(1);
    await until(() => times.length === 2);
    assert.ok(times[1] - times[0] >= 70, `${times[1] - times[0]} ms apart`);
  });

  await t.step("the octet budget tells the scheduler what it gets back", async () => {
    let runs = 0;
    const budget = new OctetBudget(10_000, new CollectionScheduler(5000, 0, () => runs++));
    assert.ok(budget.take(6000));
    assert.equal(budget.available, 4000);
    budget.give(6000);
    await until(() => runs === 1);
    assert.equal(budget.used, 0);
  });
});

Deno.test("quiet collector", async (t) => {
  await t.step("one collection once the connections stop coming, none without any", async () => {
    let runs = 0;
    const q = new QuietCollector(30, 0, () => runs++);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(runs, 0);
    for (let i = 0; i < 5; i++) q.activity();
    await until(() => runs === 1);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(runs, 1);
    q.cancel();
  });

  await t.step("a connection within the quiet time postpones it", async () => {
    // The clock is the test's: time passes for the collector only when the test says so.
    let clock = 0;
    let runs = 0;
    const q = new QuietCollector(20, 0, () => runs++, () => clock);
    q.activity();
    clock = 15;
    q.activity(); // quiet until 35 now
    clock = 30;
    await new Promise((r) => setTimeout(r, 80)); // the timer fired, and re-armed
    assert.equal(runs, 0);
    clock = 40;
    await until(() => runs === 1);
    q.cancel();
  });

  await t.step("collections keep the interval apart", async () => {
    const times: number[] = [];
    const q = new QuietCollector(5, 100, () => times.push(Date.now()));
    q.activity();
    await until(() => times.length === 1);
    q.activity();
    await until(() => times.length === 2);
    assert.ok(times[1] - times[0] >= 90, `${times[1] - times[0]} ms apart`);
    q.cancel();
  });
});

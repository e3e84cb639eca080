/**
 * `/metrics` reads the queue (a full scan on Cassandra) at most once per interval: scrapes in
 * between reuse the figures, concurrent scrapes share one read, the oldest age keeps growing,
 * and a failed read is not remembered.
 */
import assert from "node:assert/strict";
import { cachedQueueSummary } from "../../src/queue/queue_summary_cache.ts";
import type { QueuedMessage } from "../../src/queue/types.ts";

function queued(arrivedAt: number, pending: number): QueuedMessage {
  return {
    id: `m${arrivedAt}`,
    from: "a@example.org",
    arrivedAt,
    nextAttemptAt: arrivedAt,
    size: 10,
    needs8bit: false,
    needsSmtputf8: false,
    warned: false,
    recipients: Array.from({ length: pending }, (_, i) => ({
      address: `r${i}@example.net`,
      domain: "example.net",
      status: "pending",
      attempts: 0,
      reportOwed: false,
    })),
  };
}

Deno.test("queue figures: one read per interval, shared, aged, errors not kept", async () => {
  let now = 10_000;
  let reads = 0;
  let queue = [queued(4_000, 2)];
  let fail = false;
  const list = () => {
    reads++;
    return fail ? Promise.reject(new Error("store down")) : Promise.resolve(queue);
  };
  const summary = cachedQueueSummary(list, 5_000, () => now);

  const [a, b] = await Promise.all([summary(), summary()]);
  assert.equal(reads, 1, "concurrent scrapes share one read");
  assert.deepEqual(a, { messages: 1, waiting: 2, oldestAgeMs: 6_000 });
  assert.deepEqual(b, a);

  queue = [];
  now += 3_000;
  assert.deepEqual(await summary(), { messages: 1, waiting: 2, oldestAgeMs: 9_000 });
  assert.equal(reads, 1, "within the interval the queue is not read again");

  now += 2_000;
  assert.deepEqual(await summary(), { messages: 0, waiting: 0, oldestAgeMs: 0 });
  assert.equal(reads, 2);

  fail = true;
  now += 5_000;
  await assert.rejects(summary(), /store down/);
  fail = false;
  queue = [queued(now - 1_000, 1)];
  assert.deepEqual(await summary(), { messages: 1, waiting: 1, oldestAgeMs: 1_000 });
  assert.equal(reads, 4, "the failed read was not remembered");
});

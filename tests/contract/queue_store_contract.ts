/**
 * The QueueStore contract: every queue backend runs these through `queueStoreContract`, so the
 * runner and the CLI can rely on one behaviour whatever the store.
 */
import assert from "node:assert/strict";
import type { QueueStore } from "../../src/queue/queue_store.ts";
import type { EnqueueItem, RecipientResult } from "../../src/queue/types.ts";
import { StoreError } from "../../src/store/mail_store.ts";

/** A queue opened for one test; `reopen` gives a new store object on the same data. */
export interface QueueFixture {
  queue: QueueStore;
  /** Closes the current store and opens the same data again (a restart). */
  reopen: () => Promise<QueueStore>;
  /** Closes and removes what the store left behind. */
  cleanup: () => Promise<void>;
}

const T0 = 1_700_000_000_000;
const enc = new TextEncoder();

/** An item with recipients at the given addresses, arrived at T0. */
export function item(addresses: string[], extra: Partial<EnqueueItem> = {}): EnqueueItem {
  return {
    from: "alice@here.example",
    recipients: addresses.map((address) => ({ address })),
    content: enc.encode("Subject: hi\r\n\r\nhello\r\n"),
    needs8bit: false,
    needsSmtputf8: false,
    arrivedAt: T0,
    ...extra,
  };
}

function result(
  address: string,
  status: RecipientResult["status"],
  reply: string,
  report = false,
): RecipientResult {
  return { address, status, reply, at: T0 + 1000, report, remoteHost: "mx.there.example" };
}

async function rejectsWith(promise: Promise<unknown>, code: StoreError["code"]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected a StoreError, got ${err}`);
    assert.equal(err.code, code);
    return true;
  });
}

/** Registers the contract's tests for one backend; `open` gives a fresh, empty queue. */
export function queueStoreContract(name: string, open: () => Promise<QueueFixture>): void {
  function contractTest(title: string, fn: (t: Deno.TestContext, f: QueueFixture) => unknown) {
    Deno.test(`${name} queue contract: ${title}`, async (t) => {
      const fixture = await open();
      try {
        await fn(t, fixture);
      } finally {
        await fixture.cleanup();
      }
    });
  }

  contractTest("enqueue and due", async (t, { queue }) => {
    let id = "";
    await t.step("enqueue gives an id; the message is due from its arrival", async () => {
      id = await queue.enqueue(item(["b@b.example", "a@a.example", "c@A.Example"], {
        envid: "env-1",
        ret: "HDRS",
        needs8bit: true,
      }));
      assert.match(id, /^[\x21-\x7e]+$/);
      assert.deepEqual(await queue.due(T0 - 1, 10), []);
      assert.equal(await queue.nextDue(), T0);
    });
    await t.step("due gives the recipients sorted (grouped) by lower-cased domain", async () => {
      const [m] = await queue.due(T0, 10);
      assert.equal(m.id, id);
      assert.equal(m.from, "alice@here.example");
      assert.equal(m.envid, "env-1");
      assert.equal(m.ret, "HDRS");
      assert.equal(m.needs8bit, true);
      assert.equal(m.needsSmtputf8, false);
      assert.equal(m.warned, false);
      assert.equal(m.arrivedAt, T0);
      assert.deepEqual(m.recipients.map((r) => [r.domain, r.address]), [
        ["a.example", "a@a.example"],
        ["a.example", "c@A.Example"],
        ["b.example", "b@b.example"],
      ]);
      for (const r of m.recipients) {
        assert.equal(r.status, "pending");
        assert.equal(r.attempts, 0);
        assert.equal(r.reportOwed, false);
      }
    });
    await t.step("content is kept byte for byte", async () => {
      assert.deepEqual(await queue.content(id), item([]).content);
      assert.equal(await queue.content("NOPE"), undefined);
    });
    await t.step("DSN parameters are kept per recipient", async () => {
      const other = await queue.enqueue(item([], {
        recipients: [
          { address: "x@x.example", notify: "NEVER" },
          { address: "y@x.example", notify: ["SUCCESS", "FAILURE"], orcpt: "rfc822;Y@x.example" },
        ],
      }));
      const m = (await queue.due(T0, 10)).find((m) => m.id === other)!;
      assert.equal(m.recipients[0].notify, "NEVER");
      assert.deepEqual(m.recipients[1].notify, ["SUCCESS", "FAILURE"]);
      assert.equal(m.recipients[1].orcpt, "rfc822;Y@x.example");
      assert.equal(m.recipients[0].orcpt, undefined);
    });
    await t.step("limit caps how many messages due returns, earliest first", async () => {
      const late = await queue.enqueue(item(["z@z.example"], { arrivedAt: T0 + 5 }));
      assert.equal((await queue.due(T0 + 10, 1)).length, 1);
      assert.equal((await queue.due(T0 + 10, 10)).at(-1)?.id, late);
    });
    await t.step("bad items are refused before anything is written", async () => {
      const before = (await queue.list()).length;
      await rejectsWith(queue.enqueue(item([])), "invalid");
      await rejectsWith(queue.enqueue(item(["nodomain"])), "invalid");
      await rejectsWith(queue.enqueue(item(["a@x.example", "a@x.example"])), "invalid");
      await rejectsWith(
        queue.enqueue(item([], { recipients: [{ address: "a@x.example", notify: [] }] })),
        "invalid",
      );
      await rejectsWith(queue.enqueue(item(["a@x.example"], { id })), "exists");
      assert.equal((await queue.list()).length, before);
    });
  });

  contractTest("a queued message survives a restart", async (_t, { queue, reopen }) => {
    const content = crypto.getRandomValues(new Uint8Array(4096));
    const id = await queue.enqueue(item(["b@b.example"], { content }));
    const again = await reopen();
    const [m] = await again.due(T0, 10);
    assert.equal(m.id, id);
    assert.deepEqual(await again.content(id), content);
  });

  contractTest("recordResults, retry, remove, list", async (t, { queue, reopen }) => {
    const id = await queue.enqueue(item(["a@a.example", "b@b.example", "c@c.example"]));
    await t.step("results update recipients; next attempt moves", async () => {
      await queue.recordResults(id, [
        result("a@a.example", "delivered", "250 2.0.0 ok"),
        result("b@b.example", "deferred", "451 4.7.1 greylisted"),
      ], T0 + 60_000);
      assert.deepEqual(await queue.due(T0 + 59_999, 10), []);
      const [m] = await queue.due(T0 + 60_000, 10);
      assert.equal(m.nextAttemptAt, T0 + 60_000);
      assert.deepEqual(m.recipients.map((r) => r.address), ["b@b.example", "c@c.example"]);
      const b = m.recipients[0];
      assert.equal(b.attempts, 1);
      assert.equal(b.lastReply, "451 4.7.1 greylisted");
      assert.equal(b.remoteHost, "mx.there.example");
      assert.equal(b.lastAttemptAt, T0 + 1000);
    });
    await t.step("a recipient no longer pending never changes again", async () => {
      await queue.recordResults(id, [result("a@a.example", "failed", "550 late")]);
      const a = (await queue.list())[0].recipients.find((r) => r.address === "a@a.example")!;
      assert.equal(a.status, "delivered");
      assert.equal(a.attempts, 1);
    });
    await t.step("list shows every recipient with its status", async () => {
      const [m] = await queue.list();
      assert.deepEqual(
        m.recipients.map((r) => [r.address, r.status]),
        [["a@a.example", "delivered"], ["b@b.example", "pending"], ["c@c.example", "pending"]],
      );
      assert.equal(m.size, item([]).content.length);
    });
    await t.step("retry makes a message due now; unknown ids touch nothing", async () => {
      assert.equal(await queue.retry("NOPE"), 0);
      assert.equal(await queue.retry(id), 1);
      assert.equal((await queue.due(T0, 10))[0]?.id, id);
      await queue.recordResults(id, [], T0 + 3_600_000);
      const other = await queue.enqueue(item(["d@d.example"], { arrivedAt: T0 + 7_200_000 }));
      assert.equal(await queue.retry("all"), 2);
      assert.deepEqual((await queue.due(T0, 10)).map((m) => m.id).sort(), [id, other].sort());
    });
    await t.step("a failure owing a report keeps the message until markReported", async () => {
      await queue.recordResults(id, [
        result("b@b.example", "delivered", "250 ok"),
        result("c@c.example", "failed", "550 5.1.1 no such user", true),
      ]);
      const [m] = (await queue.due(T0, 10)).filter((m) => m.id === id);
      assert.deepEqual(m.recipients.map((r) => [r.address, r.status, r.reportOwed]), [
        ["c@c.example", "failed", true],
      ]);
      // Still there after a restart: the DSN is owed, so it must not be lost.
      const again = await reopen();
      assert.ok((await again.content(id))?.length);
      await again.markReported(id, ["c@c.example"]);
      assert.equal(await again.content(id), undefined, "done: the message (and content) goes");
      assert.ok(!(await again.list()).some((m) => m.id === id));
    });
  });

  contractTest("markWarned, remove, and recording for a removed message", async (_t, f) => {
    const id = await f.queue.enqueue(item(["a@a.example"]));
    await f.queue.markWarned(id);
    assert.equal((await f.queue.due(T0, 10))[0].warned, true);
    assert.equal(await f.queue.remove(id), true);
    assert.equal(await f.queue.remove(id), false);
    await f.queue.recordResults(id, [result("a@a.example", "delivered", "250 ok")], T0 + 1);
    assert.deepEqual(await f.queue.list(), []);
    assert.equal(await f.queue.nextDue(), undefined);
  });

  contractTest("a message with no pending recipient and no report goes", async (_t, f) => {
    const id = await f.queue.enqueue(item(["a@a.example", "b@b.example"]));
    await f.queue.recordResults(id, [
      result("a@a.example", "delivered", "250 ok"),
      result("b@b.example", "failed", "550 no", false),
    ]);
    assert.deepEqual(await f.queue.list(), []);
    assert.equal(await f.queue.content(id), undefined);
  });

  contractTest("concurrent enqueues each get their own id", async (_t, { queue }) => {
    const ids = await Promise.all(
      Array.from({ length: 50 }, (_, i) => queue.enqueue(item([`r${i}@x.example`]))),
    );
    assert.equal(new Set(ids).size, 50);
    assert.equal((await queue.list()).length, 50);
  });
}

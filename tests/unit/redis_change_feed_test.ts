/** The change feed across processes, against a real redis-server. */
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import type { MailboxEvent } from "../../src/store/change_feed.ts";
import {
  CHANGES_CHANNEL,
  decodeEvent,
  encodeEvent,
  RedisChangeFeed,
} from "../../src/store/redis/redis_change_feed.ts";
import { RedisServer, waitUntil } from "../helpers/redis_server.ts";

function logged() {
  const lines: string[] = [];
  return { lines, log: createLogger("debug", (line) => lines.push(line)) };
}

Deno.test("redis change feed: wire format", async (t) => {
  await t.step("round trip", () => {
    const event: MailboxEvent = { mailboxId: "42", kind: "expunged", modSeq: 7 };
    assert.deepEqual(decodeEvent(encodeEvent("n1/ab", event)), { origin: "n1/ab", event });
  });
  await t.step("malformed messages are ignored", () => {
    for (
      const text of [
        "",
        "not json",
        "null",
        "[]",
        '{"o":"x","m":"1","k":"added"}',
        '{"o":"x","m":"1","k":"bogus","s":1}',
        '{"o":"x","m":"","k":"added","s":1}',
        '{"o":1,"m":"1","k":"added","s":1}',
        '{"o":"x","m":"1","k":"added","s":-1}',
        '{"o":"x","m":"1","k":"added","s":1.5}',
      ]
    ) {
      assert.equal(decodeEvent(text), undefined, text);
    }
  });
});

Deno.test("redis change feed: two feeds on one Redis", async (t) => {
  const redis = await RedisServer.start();
  const a = logged();
  const b = logged();
  const feedA = new RedisChangeFeed({ url: redis.url, nodeId: "a", log: a.log });
  const feedB = new RedisChangeFeed({ url: redis.url, nodeId: "b", log: b.log });
  try {
    await Promise.all([feedA.ready(), feedB.ready()]);
    const heardA: MailboxEvent[] = [];
    const heardB: MailboxEvent[] = [];
    const offA = feedA.subscribe("1", (e) => heardA.push(e));
    const offB = feedB.subscribe("1", (e) => heardB.push(e));
    const otherB: MailboxEvent[] = [];
    feedB.subscribe("2", (e) => otherB.push(e));

    await t.step(
      "a publish is heard at once locally and soon on the other node, once",
      async () => {
        const started = performance.now();
        feedA.publish({ mailboxId: "1", kind: "added", modSeq: 5 });
        assert.equal(heardA.length, 1, "local delivery is synchronous");
        await waitUntil(() => heardB.length === 1, "node b to hear the event");
        const ms = performance.now() - started;
        assert.ok(ms < 1000, `took ${ms} ms`);
        assert.deepEqual(heardB[0], { mailboxId: "1", kind: "added", modSeq: 5 });
        // A second event shows the first was not delivered twice (own echo ignored).
        feedB.publish({ mailboxId: "1", kind: "flags", modSeq: 6 });
        await waitUntil(() => heardA.length === 2, "node a to hear node b");
        assert.equal(heardB.length, 2);
        assert.deepEqual(otherB, [], "another mailbox's listener is not woken");
      },
    );

    await t.step("garbage on the channel is ignored", async () => {
      await redis.cli("PUBLISH", CHANGES_CHANNEL, "garbage");
      feedA.publish({ mailboxId: "1", kind: "added", modSeq: 9 });
      await waitUntil(() => heardB.length === 3, "the next real event");
      assert.equal(heardB[2].modSeq, 9);
    });

    await t.step(
      "Redis down: local delivery goes on, one warning; back: subscribers woken",
      async () => {
        await redis.kill();
        await waitUntil(
          () => a.lines.some((l) => /redis\.unavailable .*what="change feed"/.test(l)),
          "the outage warning",
        );
        const before = heardA.length;
        for (let i = 0; i < 5; i++) {
          feedA.publish({ mailboxId: "1", kind: "added", modSeq: 20 + i });
        }
        assert.equal(heardA.length, before + 5, "local subscribers still hear every event");
        await new Promise((r) => setTimeout(r, 0));
        const warnings = a.lines.filter((l) => /redis\.unavailable/.test(l)).length;
        assert.equal(warnings, 1, a.lines.join("\n"));

        const heardBefore = heardB.length;
        await redis.restart();
        // After re-subscribing, b wakes its subscribers (it may have missed events).
        await waitUntil(
          () => heardB.length > heardBefore,
          "b's wake-up after reconnecting",
          15_000,
        );
        await feedB.ready();
        await waitUntil(
          async () => {
            // The publisher reconnects on its own; an event then reaches b again.
            const n = heardB.length;
            feedA.publish({ mailboxId: "1", kind: "added", modSeq: 99 });
            await new Promise((r) => setTimeout(r, 50));
            return heardB.slice(n).some((e) => e.modSeq === 99);
          },
          "events across nodes again",
          15_000,
        );
        assert.ok(a.lines.some((l) => /redis\.recovered/.test(l)), a.lines.join("\n"));
      },
    );

    await t.step("unsubscribed listeners hear nothing more", async () => {
      offA();
      offB();
      assert.equal(feedA.listenerCount, 0);
      const n = heardA.length;
      feedB.publish({ mailboxId: "1", kind: "added", modSeq: 100 });
      feedB.publish({ mailboxId: "2", kind: "added", modSeq: 1 });
      await waitUntil(() => otherB.length >= 1, "the other mailbox's event");
      assert.equal(heardA.length, n);
    });
  } finally {
    await Promise.all([feedA.close(), feedB.close()]);
    await redis.kill();
  }
});

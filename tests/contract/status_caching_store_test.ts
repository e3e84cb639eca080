/**
 * The SQLite store behind the Redis STATUS and message list caches, publishing on the Redis change feed: the
 * whole MailStore contract unchanged (the wrapper and the feed are transparent), then what the
 * cache adds — hits, invalidation, stale entries never served, Redis down — and `--sync`'s
 * rebuild. Against a real redis-server.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createLogger } from "../../src/log.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";
import { RedisChangeFeed } from "../../src/store/redis/redis_change_feed.ts";
import {
  closeRedis,
  connectRedis,
  type RedisClient,
  whenReady,
} from "../../src/store/redis/redis_link.ts";
import {
  currentFigures,
  InvalidatingFeed,
  parseEntry,
  RedisStatusCache,
  statusKey,
} from "../../src/store/redis/status_cache.ts";
import { StatusCachingStore } from "../../src/store/redis/status_caching_store.ts";
import { RedisMessageListCache } from "../../src/store/redis/message_list_cache.ts";
import { progressBar, syncStatusCache } from "../../src/cli/sync.ts";
import { RedisServer, waitUntil } from "../helpers/redis_server.ts";
import { mailStoreContract } from "./mail_store_contract.ts";
import { addUser, ALICE, BOB, delivery, fill, item } from "./mail_store_contract_helpers.ts";

interface Stack {
  store: StatusCachingStore;
  inner: SqliteMailStore;
  redis: RedisServer;
  client: RedisClient;
  lines: string[];
  close: () => Promise<void>;
}

async function openStack(): Promise<Stack> {
  const redis = await RedisServer.start();
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-cached-" });
  const lines: string[] = [];
  const log = createLogger("debug", (line) => lines.push(line));
  const client = connectRedis(redis.url);
  client.on("error", () => {});
  await whenReady(client, 5_000);
  const feed = new RedisChangeFeed({ url: redis.url, nodeId: "t", log });
  await feed.ready();
  const cache = new RedisStatusCache(client, log);
  const inner = SqliteMailStore.open(join(dir, "fsmtp.db"), {
    changes: new InvalidatingFeed(feed, cache),
  });
  const store = new StatusCachingStore(inner, cache, new RedisMessageListCache(client, log));
  let closed = false;
  return {
    store,
    inner,
    redis,
    client,
    lines,
    close: async () => {
      if (!closed) await store.close();
      closed = true;
      await feed.close();
      await closeRedis(client);
      await redis.kill();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

mailStoreContract("sqlite behind the redis status cache", async () => {
  const stack = await openStack();
  return {
    store: stack.store,
    cleanup: async () => {
      // The contract closed the store already.
      await stack.close().catch(() => {});
    },
  };
});

Deno.test("status cache: entries", async (t) => {
  const box = {
    id: "1",
    address: ALICE,
    name: "INBOX",
    uidValidity: 7,
    uidNext: 5,
    highestModSeq: 9,
  };
  const figures = {
    messages: 4,
    unseen: 1,
    deleted: 0,
    size: 100,
    uidNext: 5,
    uidValidity: 7,
    highestModSeq: 9,
  };
  await t.step("an entry is current only while all three markers match", () => {
    assert.deepEqual(currentFigures(figures, box), figures);
    assert.equal(currentFigures(undefined, box), undefined);
    assert.equal(currentFigures({ ...figures, uidNext: 4 }, box), undefined);
    assert.equal(currentFigures({ ...figures, highestModSeq: 8 }, box), undefined);
    assert.equal(currentFigures({ ...figures, uidValidity: 6 }, box), undefined);
  });
  await t.step("a hash that is not wholly numeric is no entry", () => {
    const hash = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, String(v)]));
    assert.deepEqual(parseEntry(hash), figures);
    assert.equal(parseEntry({}), undefined);
    assert.equal(parseEntry({ ...hash, messages: "-1" }), undefined);
    assert.equal(parseEntry({ ...hash, size: "1e3" }), undefined);
    assert.equal(parseEntry({ ...hash, unseen: "" }), undefined);
    const { deleted: _, ...partial } = hash;
    assert.equal(parseEntry(partial), undefined);
  });
  await t.step("progress bar", () => {
    assert.equal(progressBar(0, 4, 0, 4), "[....] 0/4 users, 0 mailboxes");
    assert.equal(progressBar(2, 4, 12, 4), "[##..] 2/4 users, 12 mailboxes");
    assert.equal(progressBar(0, 0, 0, 4), "[####] 0/0 users, 0 mailboxes");
  });
});

Deno.test("status cache: in front of the store", async (t) => {
  const s = await openStack();
  try {
    await addUser(s.store, ALICE);
    const inbox = (await s.store.getMailbox(ALICE, "INBOX"))!;
    await fill(s.store, ALICE, 3);

    await t.step("a miss counts and fills; a hit serves the same figures", async () => {
      const first = await s.store.mailboxStatus(inbox.id);
      assert.equal(first?.messages, 3);
      assert.deepEqual(s.store.stats, { hits: 0, misses: 1 });
      assert.deepEqual(await s.store.mailboxStatus(inbox.id), first);
      assert.deepEqual(s.store.stats, { hits: 1, misses: 1 });
      assert.equal(await s.redis.cli("HGET", statusKey(inbox.id), "messages"), "3");
    });

    await t.step("every change deletes the entry", async () => {
      await s.store.deliver(delivery([item(ALICE)]));
      assert.equal(await s.redis.cli("EXISTS", statusKey(inbox.id)), "0");
      assert.equal((await s.store.mailboxStatus(inbox.id))?.messages, 4);
      await s.store.storeFlags(inbox.id, [1], "add", ["\\Seen"]);
      await waitUntil(
        async () => (await s.redis.cli("EXISTS", statusKey(inbox.id))) === "0",
        "the flag change to invalidate",
      );
      assert.equal((await s.store.mailboxStatus(inbox.id))?.unseen, 3);
    });

    await t.step("a stale entry (a change it missed) is never served", async () => {
      const now = (await s.store.mailboxStatus(inbox.id))!;
      await s.store.expunge(inbox.id, [1]);
      await waitUntil(
        async () => (await s.redis.cli("EXISTS", statusKey(inbox.id))) === "0",
        "the expunge to invalidate",
      );
      // A slow reader writes the figures it counted before the expunge, after the invalidation.
      await new RedisStatusCache(s.client, createLogger("error", () => {})).put(now);
      assert.equal(await s.redis.cli("HGET", statusKey(inbox.id), "messages"), `${now.messages}`);
      const after = await s.store.mailboxStatus(inbox.id);
      assert.equal(after?.messages, now.messages - 1);
      assert.equal(after?.highestModSeq, (await s.inner.getMailboxById(inbox.id))?.highestModSeq);
    });

    await t.step("an unknown mailbox is undefined, cached or not", async () => {
      assert.equal(await s.store.mailboxStatus("999999"), undefined);
    });

    await t.step("Redis down: figures come from the store, one warning", async () => {
      await s.redis.kill();
      await s.store.deliver(delivery([item(ALICE)]));
      const status = await s.store.mailboxStatus(inbox.id);
      assert.equal(status?.messages, (await s.inner.mailboxStatus(inbox.id))?.messages);
      await s.store.mailboxStatus(inbox.id);
      const warnings = s.lines.filter((l) => /redis\.unavailable .*status cache/.test(l));
      assert.equal(warnings.length, 1, s.lines.join("\n"));
      await s.redis.restart();
      await waitUntil(
        async () => {
          await s.store.mailboxStatus(inbox.id);
          return (await s.redis.cli("EXISTS", statusKey(inbox.id))) === "1";
        },
        "the cache to fill again",
        15_000,
      );
    });

    await t.step("sync rebuilds every entry after FLUSHALL, idempotently", async () => {
      await addUser(s.store, BOB);
      await fill(s.store, BOB, 2, "Archive");
      await s.redis.cli("FLUSHALL");
      const cache = new RedisStatusCache(s.client, createLogger("error", () => {}));
      const seen: string[] = [];
      const summary = await syncStatusCache(s.inner, cache, (done, total, boxes) => {
        seen.push(`${done}/${total}:${boxes}`);
      });
      assert.equal(summary.users, 2);
      assert.equal(summary.mailboxes, 12);
      const inboxNow = (await s.inner.mailboxStatus(inbox.id))!;
      assert.equal(summary.messages, inboxNow.messages + 2);
      assert.deepEqual(seen, ["1/2:6", "2/2:12"]);
      const keys = (await s.redis.cli("--scan", "--pattern", "fsmtp:status:*")).split("\n");
      assert.equal(keys.length, 12);
      const hits = s.store.stats.hits;
      assert.deepEqual(await s.store.mailboxStatus(inbox.id), inboxNow);
      assert.equal(s.store.stats.hits, hits + 1, "served from the rebuilt entry");
      const again = await syncStatusCache(s.inner, cache, () => {});
      assert.equal(again.mailboxes, 12);
    });
  } finally {
    await s.close();
  }
});

/**
 * The message list cache: its encoding, that a cached list is served instead of asking the
 * store, and that it is never stale after a change made by another node (another store
 * instance on the same SQLite file, publishing on the same Redis). Against a real redis-server.
 * The MailStore contract behind it runs in `status_caching_store_test.ts`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createLogger, type Logger } from "../../src/log.ts";
import type { MailboxId, MessageMeta } from "../../src/store/mail_store.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";
import { RedisChangeFeed } from "../../src/store/redis/redis_change_feed.ts";
import {
  closeRedis,
  connectRedis,
  type RedisClient,
  whenReady,
} from "../../src/store/redis/redis_link.ts";
import {
  currentList,
  decodeList,
  encodeList,
  MAX_CACHED_MESSAGES,
  messageListKey,
  RedisMessageListCache,
} from "../../src/store/redis/message_list_cache.ts";
import { InvalidatingFeed, RedisStatusCache } from "../../src/store/redis/status_cache.ts";
import { StatusCachingStore } from "../../src/store/redis/status_caching_store.ts";
import { RedisServer, waitUntil } from "../helpers/redis_server.ts";
import { addUser, ALICE, delivery, fill, item } from "./mail_store_contract_helpers.ts";

const BOX = {
  id: "7",
  address: ALICE,
  name: "INBOX",
  uidValidity: 3,
  uidNext: 9,
  highestModSeq: 12,
};

function meta(uid: number, flags: string[] = []): MessageMeta {
  return {
    mailboxId: "7",
    uid,
    size: 100 + uid,
    internalDate: 1_700_000_000_000,
    flags,
    modSeq: uid,
  };
}

Deno.test("message list cache: encoding", async (t) => {
  await t.step("round trip, flags and keywords kept in order", () => {
    const list = [meta(1), meta(4, ["\\Seen", "$Forwarded", "\\Deleted"]), meta(8, ["x"])];
    const text = encodeList(BOX, list)!;
    assert.deepEqual(decodeList("7", text), {
      uidValidity: 3,
      uidNext: 9,
      highestModSeq: 12,
      messages: list,
    });
  });
  await t.step("an empty mailbox is a list too", () => {
    assert.deepEqual(decodeList("7", encodeList(BOX, [])!)?.messages, []);
  });
  await t.step("not cached: a flag with a space or control, too many messages", () => {
    assert.equal(encodeList(BOX, [meta(1, ["a b"])]), undefined);
    assert.equal(encodeList(BOX, [meta(1, ["a\nb"])]), undefined);
    assert.equal(encodeList(BOX, [meta(1, [""])]), undefined);
    const many = Array.from({ length: MAX_CACHED_MESSAGES + 1 }, (_, i) => meta(i + 1));
    assert.equal(encodeList(BOX, many), undefined);
    assert.ok(encodeList(BOX, many.slice(1)) !== undefined, "the bound itself is cached");
  });
  await t.step("malformed entries are no entry", () => {
    const good = encodeList(BOX, [meta(1)])!;
    for (
      const bad of [
        "",
        "v2 3 9 12",
        "v1 3 9",
        "v1 3 9 -12",
        "v1 3 9 12\n1 2 3",
        "v1 3 9 12\n1 2 3 x",
        "v1 3 9 12\n1 2 3 4 a\u0001",
        `${good}\n`,
        good.replace("v1 3", "v1 1e3"),
      ]
    ) {
      assert.equal(decodeList("7", bad), undefined, JSON.stringify(bad));
    }
  });
  await t.step("current only while all three figures match", () => {
    const cached = decodeList("7", encodeList(BOX, [meta(1)])!);
    assert.deepEqual(currentList(cached, BOX), [meta(1)]);
    assert.equal(currentList(undefined, BOX), undefined);
    assert.equal(currentList(cached, { ...BOX, uidNext: 10 }), undefined);
    assert.equal(currentList(cached, { ...BOX, highestModSeq: 13 }), undefined);
    assert.equal(currentList(cached, { ...BOX, uidValidity: 4 }), undefined);
  });
});

/** One node: a store on `file` counting its listMessages calls, behind both caches. */
interface Node {
  store: StatusCachingStore;
  calls: { list: number };
  close(): Promise<void>;
}

async function openNode(redis: RedisServer, file: string, name: string, log: Logger) {
  const client: RedisClient = connectRedis(redis.url);
  client.on("error", () => {});
  await whenReady(client, 5_000);
  const feed = new RedisChangeFeed({ url: redis.url, nodeId: name, log });
  await feed.ready();
  const status = new RedisStatusCache(client, log);
  const sqlite = SqliteMailStore.open(file, { changes: new InvalidatingFeed(feed, status) });
  const calls = { list: 0 };
  const counted = new Proxy(sqlite, {
    get(target, prop) {
      if (prop === "listMessages") {
        return (id: MailboxId) => {
          calls.list++;
          return target.listMessages(id);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const store = new StatusCachingStore(counted, status, new RedisMessageListCache(client, log));
  return {
    store,
    calls,
    close: async () => {
      await store.close();
      await feed.close();
      await closeRedis(client);
    },
  } satisfies Node;
}

Deno.test("message list cache: two nodes on one store and one Redis", async (t) => {
  const redis = await RedisServer.start();
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-msglist-" });
  const lines: string[] = [];
  const log = createLogger("debug", (line) => lines.push(line));
  const file = join(dir, "fsmtp.db");
  const a = await openNode(redis, file, "a", log);
  const b = await openNode(redis, file, "b", log);
  try {
    await addUser(a.store, ALICE);
    const inbox = (await a.store.getMailbox(ALICE, "INBOX"))!;
    await fill(a.store, ALICE, 3);
    const key = messageListKey(inbox.id);
    const gone = (what: string) =>
      waitUntil(async () => (await redis.cli("EXISTS", key)) === "0", what);

    await t.step("a miss reads the store; then both nodes are served from the cache", async () => {
      const first = await a.store.listMessages(inbox.id);
      assert.equal(first.length, 3);
      assert.equal(a.calls.list, 1);
      assert.deepEqual(await a.store.listMessages(inbox.id), first);
      assert.deepEqual(await b.store.listMessages(inbox.id), first);
      assert.equal(a.calls.list + b.calls.list, 1, "one store read for three lists");
      assert.deepEqual(a.store.listStats, { hits: 1, misses: 1 });
      assert.deepEqual(b.store.listStats, { hits: 1, misses: 0 });
    });

    await t.step("a delivery on b: a sees it at once", async () => {
      await b.store.deliver(delivery([item(ALICE)]));
      await gone("b's delivery to invalidate");
      const list = await a.store.listMessages(inbox.id);
      assert.deepEqual(list.map((m) => m.uid), [1, 2, 3, 4]);
      assert.equal(a.calls.list, 2);
    });

    await t.step("a flag change on b: a sees the new flags and modseq", async () => {
      await a.store.listMessages(inbox.id);
      await b.store.storeFlags(inbox.id, [2], "add", ["\\Seen", "$Label1"]);
      const two = (await a.store.listMessages(inbox.id)).find((m) => m.uid === 2)!;
      assert.deepEqual([...two.flags].sort(), ["$Label1", "\\Seen"]);
      assert.equal(two.modSeq, (await b.store.getMailboxById(inbox.id))!.highestModSeq);
    });

    await t.step("an expunge on b: never served from a list written before it", async () => {
      const boxBefore = (await a.store.getMailboxById(inbox.id))!;
      const before = await a.store.listMessages(inbox.id);
      await b.store.expunge(inbox.id, [1]);
      await gone("b's expunge to invalidate");
      // A slow reader writes the list it read before the expunge, after the invalidation.
      const client = connectRedis(redis.url);
      await whenReady(client, 5_000);
      await new RedisMessageListCache(client, log).put(boxBefore, before);
      await closeRedis(client);
      assert.equal(await redis.cli("EXISTS", key), "1");
      const after = await a.store.listMessages(inbox.id);
      assert.deepEqual(after.map((m) => m.uid), [2, 3, 4]);
    });

    await t.step("an unknown mailbox: the store's answer, nothing cached", async () => {
      assert.deepEqual(await a.store.listMessages("999999"), []);
      assert.equal(await redis.cli("EXISTS", messageListKey("999999")), "0");
    });

    await t.step(
      "Redis down: lists come from the store, one warning; back: cached again",
      async () => {
        await redis.kill();
        await b.store.deliver(delivery([item(ALICE)]));
        const calls = a.calls.list;
        assert.deepEqual((await a.store.listMessages(inbox.id)).map((m) => m.uid), [2, 3, 4, 5]);
        await a.store.listMessages(inbox.id);
        assert.equal(a.calls.list, calls + 2);
        const warnings = lines.filter((l) => /redis\.unavailable .*message list cache/.test(l));
        assert.equal(warnings.length, 1, lines.join("\n"));
        await redis.restart();
        await waitUntil(
          async () => {
            await a.store.listMessages(inbox.id);
            return (await redis.cli("EXISTS", key)) === "1";
          },
          "the list to be cached again",
          15_000,
        );
      },
    );
  } finally {
    await a.close();
    await b.close();
    await redis.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

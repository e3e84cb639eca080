/**
 * The API's rate counters: in process (a fake clock), and in a real redis-server shared by two
 * counters playing two nodes, with the in-process fallback while Redis is down.
 */
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { InProcessRateCounter } from "../../src/http/rate_limit.ts";
import { closeRedis, connectRedis, whenReady } from "../../src/store/redis/redis_link.ts";
import { RedisRateCounter } from "../../src/store/redis/redis_rate_limit.ts";
import { RedisServer } from "../helpers/redis_server.ts";

Deno.test("in-process rate counter: a window starts at the first hit and lasts windowMs", async () => {
  let now = 1_000_000 + 59_000; // a wall-clock minute ends in a second: nothing to do with it
  const counter = new InProcessRateCounter(() => now);
  assert.deepEqual(await counter.hit("t", 60_000), { count: 1, resetMs: 60_000 });
  now += 2_000;
  assert.deepEqual(await counter.hit("t", 60_000), { count: 2, resetMs: 58_000 });
  assert.equal((await counter.hit("other", 60_000)).count, 1, "keys count apart");
  now += 58_000;
  assert.deepEqual(await counter.hit("t", 60_000), { count: 1, resetMs: 60_000 });
});

Deno.test("redis rate counter: shared by two nodes; counted locally while Redis is down", async () => {
  const redis = await RedisServer.start();
  const log = createLogger("error", () => {});
  const clients = [connectRedis(redis.url), connectRedis(redis.url)];
  try {
    for (const c of clients) c.on("error", () => {});
    await Promise.all(clients.map((c) => whenReady(c, 5_000)));
    const [a, b] = clients.map((c) => new RedisRateCounter(c, log));
    assert.equal((await a.hit("token:x", 60_000)).count, 1);
    assert.equal((await b.hit("token:x", 60_000)).count, 2);
    const third = await a.hit("token:x", 60_000);
    assert.equal(third.count, 3);
    assert.ok(third.resetMs > 0 && third.resetMs <= 60_000);
    assert.equal((await b.hit("token:y", 60_000)).count, 1);
    await redis.kill();
    assert.equal((await a.hit("token:x", 60_000)).count, 1, "this node's own count meanwhile");
  } finally {
    await Promise.all(clients.map((c) => closeRedis(c)));
    await redis.kill();
  }
});

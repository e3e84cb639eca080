/**
 * The Redis coordinator against a real redis-server: two instances play two nodes (and two
 * listener gates, for the connections per IP).
 */
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { StoreError } from "../../src/store/mail_store.ts";
import { RedisCoordinator } from "../../src/store/redis/redis_coordinator.ts";
import { whenReady } from "../../src/store/redis/redis_link.ts";
import { maildropLockKey } from "../../src/store/redis/redis_locks.ts";
import { RedisSessionSlots } from "../../src/store/redis/redis_sessions.ts";
import { ConnectionGate } from "../../src/net/listener.ts";
import { RedisServer, waitUntil } from "../helpers/redis_server.ts";

const LEASE_MS = 600;

async function twoNodes(redis: RedisServer) {
  const lines: string[] = [];
  const log = createLogger("debug", (line) => lines.push(line));
  const a = new RedisCoordinator({ url: redis.url, nodeId: "a", log, leaseMs: LEASE_MS });
  const b = new RedisCoordinator({ url: redis.url, nodeId: "b", log, leaseMs: LEASE_MS });
  await Promise.all([whenReady(a.redis, 5_000), whenReady(b.redis, 5_000)]);
  return { a, b, lines };
}

Deno.test("redis coordinator: maildrop locks", async (t) => {
  const redis = await RedisServer.start();
  const { a, b, lines } = await twoNodes(redis);
  try {
    await t.step("exclusive across nodes and within one", async () => {
      assert.equal(await a.maildropLocks.acquire("u@x"), true);
      assert.equal(await b.maildropLocks.acquire("u@x"), false);
      assert.equal(await a.maildropLocks.acquire("u@x"), false, "a second session on a");
      assert.equal(await b.maildropLocks.acquire("v@x"), true, "another maildrop is free");
      b.maildropLocks.release("v@x");
    });

    await t.step("refreshed while held: outlives several lifetimes", async () => {
      const until = Date.now() + LEASE_MS * 3;
      while (Date.now() < until) {
        assert.equal(await b.maildropLocks.acquire("u@x"), false);
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    await t.step("released: the other node gets it", async () => {
      a.maildropLocks.release("u@x");
      await waitUntil(async () => await b.maildropLocks.acquire("u@x"), "b to take the lock");
      assert.equal(await a.maildropLocks.acquire("u@x"), false);
    });

    await t.step("a release by a non-holder does not free it", async () => {
      a.maildropLocks.release("u@x");
      assert.equal(await redis.cli("EXISTS", maildropLockKey("u@x")), "1");
    });

    await t.step("abandoned (node killed): expires within one lifetime", async () => {
      b.maildropLocks.abandonAll();
      const started = Date.now();
      assert.equal(await a.maildropLocks.acquire("u@x"), false);
      await waitUntil(async () => await a.maildropLocks.acquire("u@x"), "the lock to expire");
      const ms = Date.now() - started;
      assert.ok(ms <= LEASE_MS + 300, `expired after ${ms} ms`);
      a.maildropLocks.release("u@x");
    });

    await t.step("Redis down: acquire refuses with 'unavailable'; back: works again", async () => {
      await redis.kill();
      await assert.rejects(
        () => Promise.resolve(a.maildropLocks.acquire("w@x")),
        (err: unknown) => err instanceof StoreError && err.code === "unavailable",
      );
      assert.ok(lines.some((l) => /redis\.unavailable .*what="maildrop locks"/.test(l)));
      await redis.restart();
      await waitUntil(
        async () => {
          try {
            return await a.maildropLocks.acquire("w@x");
          } catch {
            return false;
          }
        },
        "locks after the restart",
        15_000,
      );
      assert.equal(await b.maildropLocks.acquire("w@x"), false);
      assert.ok(lines.some((l) => /redis\.recovered .*what="maildrop locks"/.test(l)));
    });
  } finally {
    await Promise.all([a.close(), b.close()]);
    await redis.kill();
  }
});

Deno.test("redis coordinator: IMAP session counts", async (t) => {
  const redis = await RedisServer.start();
  const { a, b, lines } = await twoNodes(redis);
  const slotsA = a.userSessions(() => 3);
  const slotsB = b.userSessions(() => 3);
  try {
    await t.step("the limit counts every node's sessions", async () => {
      assert.equal(await slotsA.enter("u@x"), true);
      assert.equal(await slotsA.enter("u@x"), true);
      assert.equal(await slotsB.enter("u@x"), true);
      assert.equal(await slotsB.enter("u@x"), false);
      assert.equal(await slotsA.enter("u@x"), false);
      assert.equal(await slotsB.enter("v@x"), true, "another user is not affected");
      slotsA.leave("u@x");
      await waitUntil(async () => await slotsB.enter("u@x"), "the freed slot");
      assert.equal(await slotsA.enter("u@x"), false);
    });

    await t.step("concurrent logins of one user are each counted and each refreshed", async () => {
      const results = await Promise.all([1, 2, 3, 4].map(() => slotsA.enter("c@x")));
      assert.deepEqual(results.filter((r) => r).length, 3);
      assert.equal((slotsA as RedisSessionSlots).localCount("c@x"), 3);
      for (let i = 0; i < 3; i++) slotsA.leave("c@x");
      assert.equal((slotsA as RedisSessionSlots).localCount("c@x"), 0);
      await waitUntil(async () => (await redis.cli("ZCARD", "fsmtp:sessions:c@x")) === "0", "zrem");
    });

    await t.step("leave without enter is ignored", async () => {
      slotsA.leave("nobody@x");
      assert.equal(await slotsA.enter("u@x"), false);
    });

    await t.step("a dead node's sessions stop counting within the lifetime", async () => {
      // b holds two of u's three slots; killing b = stopping its refreshes.
      await b.close();
      const started = Date.now();
      // b's two slots were taken at different moments and run out one after the other: each
      // frees a place for a.
      let entered = 0;
      await waitUntil(async () => {
        if (await slotsA.enter("u@x")) entered++;
        return entered === 2;
      }, "b's sessions to expire");
      assert.ok(Date.now() - started <= LEASE_MS + 1000);
      // a's own sessions are still counted (refreshed): 1 + 2 now, the limit.
      assert.equal(await slotsA.enter("u@x"), false);
    });

    await t.step("Redis down: the node's own count decides; back: counted again", async () => {
      await redis.kill();
      const local = await slotsA.enter("z@x");
      assert.equal(local, true);
      assert.equal(await slotsA.enter("z@x"), true);
      assert.equal(await slotsA.enter("z@x"), true);
      assert.equal(await slotsA.enter("z@x"), false, "the local count still holds the limit");
      assert.ok(lines.some((l) => /redis\.unavailable .*what="IMAP session counts"/.test(l)));
      await redis.restart();
      // The next refresh puts the sessions opened during the outage back into Redis.
      await waitUntil(
        async () => (await redis.cli("ZCARD", "fsmtp:sessions:z@x")) === "3",
        "z's sessions in Redis",
        15_000,
      );
    });
  } finally {
    await a.close();
    await redis.kill();
  }
});

Deno.test("redis coordinator: failed logins shared per address", async (t) => {
  const redis = await RedisServer.start();
  const { a, b } = await twoNodes(redis);
  try {
    await t.step("failures on one node count on the other, within the window", async () => {
      await a.authFailures.record("192.0.2.1", 60_000);
      await a.authFailures.record("192.0.2.1", 60_000);
      await b.authFailures.record("192.0.2.1", 60_000);
      assert.equal(await b.authFailures.count("192.0.2.1", 60_000), 3);
      assert.equal(await a.authFailures.count("192.0.2.2", 60_000), 0);
    });
    await t.step("a short window forgets them", async () => {
      await a.authFailures.record("192.0.2.3", 300);
      assert.equal(await a.authFailures.count("192.0.2.3", 300), 1);
      await waitUntil(async () => (await b.authFailures.count("192.0.2.3", 300)) === 0, "expiry");
    });
    await t.step("Redis down: count 0, record does not throw", async () => {
      await redis.kill();
      assert.equal(await a.authFailures.count("192.0.2.1", 60_000), 0);
      await a.authFailures.record("192.0.2.1", 60_000);
    });
  } finally {
    await Promise.all([a.close(), b.close()]);
    await redis.kill();
  }
});

Deno.test("redis coordinator: connections per IP across nodes", async (t) => {
  const redis = await RedisServer.start();
  const { a, b, lines } = await twoNodes(redis);
  const gate = (node: RedisCoordinator) => {
    const g = new ConnectionGate({ maxConnections: 100, maxConnectionsPerIp: 3 });
    g.shared = node.connectionsPerIp(() => g.limits.maxConnectionsPerIp);
    return g;
  };
  const gateA = gate(a);
  const gateB = gate(b);
  const ip = "198.51.100.7";
  try {
    await t.step("the per-IP limit counts the connections of both nodes", async () => {
      assert.equal(await gateA.admit(ip), true);
      assert.equal(await gateA.admit(ip), true);
      assert.equal(await gateB.admit(ip), true);
      assert.equal(await gateB.admit(ip), false);
      assert.equal(await gateA.admit(ip), false);
      assert.equal(gateB.total, 1, "a refusal by the shared count holds no local slot");
      assert.equal(gateA.total, 2);
      assert.equal(await gateB.admit("198.51.100.8"), true, "another address is not affected");
      gateB.release("198.51.100.8");
      assert.equal(await redis.cli("ZCARD", `fsmtp:conns:${ip}`), "3");
    });

    await t.step("a connection closed on one node frees a slot on the other", async () => {
      gateA.release(ip);
      assert.equal(gateA.total, 1);
      await waitUntil(async () => await gateB.admit(ip), "the freed slot");
      assert.equal(await gateA.admit(ip), false);
    });

    await t.step("open connections keep counting past several lifetimes", async () => {
      const until = Date.now() + LEASE_MS * 3;
      while (Date.now() < until) {
        assert.equal(await gateA.admit(ip), false);
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    await t.step("the local gate still applies on its own", async () => {
      const local = new ConnectionGate({ maxConnections: 1, maxConnectionsPerIp: 3 });
      local.shared = a.connectionsPerIp(() => 3);
      assert.equal(await local.admit("198.51.100.9"), true);
      assert.equal(await local.admit("198.51.100.10"), false, "limits.max_connections");
      local.release("198.51.100.9");
      await waitUntil(
        async () =>
          (await redis.cli("EXISTS", "fsmtp:conns:198.51.100.9")) === "0" ||
          (await redis.cli("ZCARD", "fsmtp:conns:198.51.100.9")) === "0",
        "the released connection to leave Redis",
      );
    });

    await t.step("a raised limit (SIGHUP) applies to the shared count", async () => {
      gateA.limits = { maxConnections: 100, maxConnectionsPerIp: 4 };
      assert.equal(await gateA.admit(ip), true);
      assert.equal(await gateA.admit(ip), false);
      gateA.release(ip);
      gateA.limits = { maxConnections: 100, maxConnectionsPerIp: 3 };
    });

    await t.step("a dead node's connections stop counting within the lifetime", async () => {
      // b holds two of the three; killing b = stopping its refreshes.
      await b.close();
      const started = Date.now();
      await waitUntil(async () => await gateA.admit(ip), "b's connections to expire");
      assert.ok(Date.now() - started <= LEASE_MS + 300);
      assert.equal(await gateA.admit(ip), true);
      assert.equal(await gateA.admit(ip), false, "a's own three are still counted");
    });

    await t.step("Redis down: the local gate alone decides, one warning", async () => {
      await redis.kill();
      const other = "198.51.100.20";
      for (let i = 0; i < 3; i++) assert.equal(await gateA.admit(other), true);
      assert.equal(await gateA.admit(other), false, "the local count still holds the limit");
      const warnings = lines.filter((l) =>
        /redis\.unavailable .*what="connection counts per IP"/.test(l)
      );
      assert.equal(warnings.length, 1, lines.join("\n"));
      await redis.restart();
      // The next refresh puts the connections opened during the outage back into Redis.
      await waitUntil(
        async () => (await redis.cli("ZCARD", `fsmtp:conns:${other}`)) === "3",
        "the outage's connections in Redis",
        15_000,
      );
    });
  } finally {
    await a.close();
    await redis.kill();
  }
});

/** The login guard with failures shared across nodes (the SharedFailures port). */
import assert from "node:assert/strict";
import { LoginGuard } from "../../src/auth/login_guard.ts";
import type { SharedFailures } from "../../src/store/coordinator.ts";

/** Failures "on other nodes" as a map; records what this node adds. */
class FakeShared implements SharedFailures {
  counts = new Map<string, number>();
  recorded: string[] = [];
  count(ip: string): Promise<number> {
    return Promise.resolve(this.counts.get(ip) ?? 0);
  }
  record(ip: string): Promise<void> {
    this.recorded.push(ip);
    this.counts.set(ip, (this.counts.get(ip) ?? 0) + 1);
    return Promise.resolve();
  }
}

const opts = () => ({ failureDelayMs: 0, maxFailuresPerIp: 3, windowMs: 60_000 });
const wrong = { full: () => Promise.resolve(undefined) };
const right = { full: () => Promise.resolve("ok") };

Deno.test("login guard: shared failures", async (t) => {
  await t.step("failures on other nodes block this one, before any KDF", async () => {
    const shared = new FakeShared();
    shared.counts.set("192.0.2.1", 3);
    const guard = new LoginGuard(opts(), shared);
    let kdf = 0;
    const result = await guard.attempt("192.0.2.1", {
      full: () => {
        kdf++;
        return Promise.resolve("ok");
      },
    });
    assert.equal(result, "blocked");
    assert.equal(kdf, 0);
    assert.equal(await guard.attempt("192.0.2.2", right), "ok", "other addresses unaffected");
  });

  await t.step("this node's failures are recorded for the others", async () => {
    const shared = new FakeShared();
    const guard = new LoginGuard(opts(), shared);
    assert.equal(await guard.attempt("192.0.2.9", wrong), "bad");
    assert.equal(await guard.attempt("192.0.2.9", wrong), "bad");
    assert.deepEqual(shared.recorded, ["192.0.2.9", "192.0.2.9"]);
    assert.equal(await guard.attempt("192.0.2.9", right), "ok", "below the limit: admitted");
    assert.deepEqual(shared.recorded.length, 2, "a success records nothing");
  });

  await t.step("shared count 0 (Redis down): the local count still blocks", async () => {
    const shared: SharedFailures = {
      count: () => Promise.resolve(0),
      record: () => Promise.resolve(),
    };
    const guard = new LoginGuard(opts(), shared);
    for (let i = 0; i < 3; i++) assert.equal(await guard.attempt("192.0.2.5", wrong), "bad");
    assert.equal(await guard.attempt("192.0.2.5", right), "blocked");
  });

  await t.step(
    "a burst with shared failures near the limit reaches the KDF at most once",
    async () => {
      const shared = new FakeShared();
      shared.counts.set("192.0.2.7", 2);
      const guard = new LoginGuard(opts(), shared);
      let kdf = 0;
      const check = {
        full: () => {
          kdf++;
          return Promise.resolve(undefined);
        },
      };
      const results = await Promise.all(
        Array.from({ length: 10 }, () => guard.attempt("192.0.2.7", check)),
      );
      assert.equal(kdf, 1);
      assert.equal(results.filter((r) => r === "bad").length, 1);
      assert.equal(results.filter((r) => r === "blocked").length, 9);
    },
  );
});

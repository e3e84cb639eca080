/**
 * The LoginGuard with an injected clock and checks the test controls: the costly check runs one
 * at a time per address and each is checked against the failures when its turn comes, so a
 * burst cannot walk past the limit; cheap checks and other addresses are not held up; failures
 * leave the window.
 */
import assert from "node:assert/strict";
import { type GuardedResult, type LoginCheck, LoginGuard } from "../../src/auth/login_guard.ts";

const A = "192.0.2.1";
const B = "198.51.100.7";

/** A promise with its resolve and reject exposed. */
function deferred<T>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: Error) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets pending promise callbacks and zero timers run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 5));
}

/** A full check that records how many ran and how many ran at once, answering `answer`. */
function counted(answer: () => Promise<string | undefined>) {
  const stats = { started: 0, running: 0, mostAtOnce: 0 };
  const check: LoginCheck<string> = {
    full: async () => {
      stats.started++;
      stats.running++;
      stats.mostAtOnce = Math.max(stats.mostAtOnce, stats.running);
      try {
        return await answer();
      } finally {
        stats.running--;
      }
    },
  };
  return { stats, check };
}

function guardAt(clock: { now: number }, maxFailuresPerIp = 5): LoginGuard {
  return new LoginGuard({
    failureDelayMs: 0,
    maxFailuresPerIp,
    windowMs: 60_000,
    now: () => clock.now,
  });
}

function count<T>(results: GuardedResult<T>[], value: GuardedResult<T>): number {
  return results.filter((r) => r === value).length;
}

Deno.test("login guard: bursts", async (t) => {
  await t.step("of 50 simultaneous wrong attempts, only the limit reach the check", async () => {
    const guard = guardAt({ now: 1_000 });
    const { stats, check } = counted(async () => {
      await settle();
      return undefined;
    });
    const results = await Promise.all(Array.from({ length: 50 }, () => guard.attempt(A, check)));
    assert.equal(stats.started, 5);
    assert.equal(count(results, "bad"), 5);
    assert.equal(count(results, "blocked"), 45);
    assert.equal(stats.mostAtOnce, 1, "one full check per address at a time");
  });

  await t.step("attempts wait their turn and are checked against the failures then", async () => {
    const guard = guardAt({ now: 1_000 }, 2);
    const first = deferred<string | undefined>();
    const answers = [first.promise, Promise.resolve(undefined), Promise.resolve(undefined)];
    const { stats, check } = counted(() => answers.shift()!);
    const pending = [guard.attempt(A, check), guard.attempt(A, check), guard.attempt(A, check)];
    await settle();
    assert.equal(stats.started, 1, "the others wait for the first one's turn");
    first.resolve(undefined);
    assert.deepEqual(await Promise.all(pending), ["bad", "bad", "blocked"]);
    assert.equal(stats.started, 2, "the third found the limit reached when its turn came");
  });

  await t.step("many simultaneous right logins all get in", async () => {
    const guard = guardAt({ now: 1_000 }, 2);
    const results = await Promise.all(
      Array.from({ length: 30 }, () => guard.attempt(A, { full: () => Promise.resolve("ok") })),
    );
    assert.equal(count(results, "ok"), 30);
  });

  await t.step("successes give their slot back, however many", async () => {
    const guard = guardAt({ now: 1_000 }, 2);
    for (let i = 0; i < 20; i++) {
      assert.equal(await guard.attempt(A, { full: () => Promise.resolve("ok") }), "ok");
    }
    assert.equal(guard.size, 0, "nothing is kept for an address without failures");
  });

  await t.step("another address is neither blocked nor queued behind this one", async () => {
    const guard = guardAt({ now: 1_000 }, 3);
    const slow = deferred<string | undefined>();
    const pending = Array.from({ length: 3 }, () => guard.attempt(A, { full: () => slow.promise }));
    // A's first check is still running: B's own check runs and answers meanwhile.
    assert.equal(await guard.attempt(B, { full: () => Promise.resolve("bob") }), "bob");
    slow.resolve(undefined);
    assert.deepEqual(await Promise.all(pending), ["bad", "bad", "bad"]);
    assert.equal(await guard.attempt(A, { full: () => Promise.resolve("x") }), "blocked");
    assert.equal(await guard.attempt(B, { full: () => Promise.resolve("bob") }), "bob");
  });
});

Deno.test("login guard: the quick check", async (t) => {
  await t.step("a hit answers at once, not after the address's running check", async () => {
    const guard = guardAt({ now: 1_000 });
    const slow = deferred<string | undefined>();
    const running = guard.attempt(A, { full: () => slow.promise });
    let fullRan = false;
    const hit = await guard.attempt(A, {
      quick: () => Promise.resolve("cached"),
      full: () => {
        fullRan = true;
        return Promise.resolve("slow");
      },
    });
    assert.equal(hit, "cached");
    assert.equal(fullRan, false);
    slow.resolve("done");
    assert.equal(await running, "done");
  });

  await t.step("a miss goes on to the full check and its failure counts", async () => {
    const guard = guardAt({ now: 1_000 }, 1);
    const miss = {
      quick: () => Promise.resolve(undefined),
      full: () => Promise.resolve(undefined),
    };
    assert.equal(await guard.attempt(A, miss), "bad");
    assert.equal(await guard.attempt(A, miss), "blocked");
  });

  await t.step("a blocked address is refused even the cached right password", async () => {
    const guard = guardAt({ now: 1_000 }, 1);
    assert.equal(await guard.attempt(A, { full: () => Promise.resolve(undefined) }), "bad");
    let asked = false;
    const result = await guard.attempt(A, {
      quick: () => {
        asked = true;
        return Promise.resolve("cached");
      },
      full: () => Promise.resolve("slow"),
    });
    assert.equal(result, "blocked");
    assert.equal(asked, false, "nothing is checked for a blocked address");
  });
});

Deno.test("login guard: the window, errors, delay and reload", async (t) => {
  await t.step("failures leave the window one by one", async () => {
    const clock = { now: 1_000_000 };
    const guard = guardAt(clock, 3);
    const wrong = { full: () => Promise.resolve(undefined) };
    for (let i = 0; i < 3; i++) {
      assert.equal(await guard.attempt(A, wrong), "bad");
      clock.now += 10_000;
    }
    // Failures at 0 s, 10 s and 20 s; now 30 s.
    assert.equal(await guard.attempt(A, { full: () => Promise.resolve("ok") }), "blocked");
    clock.now = 1_000_000 + 60_000; // the first failure is exactly a window old: gone
    assert.equal(await guard.attempt(A, { full: () => Promise.resolve("ok") }), "ok");
    assert.equal(await guard.attempt(A, wrong), "bad");
    assert.equal(await guard.attempt(A, wrong), "blocked");
    clock.now += 10_000; // the second failure leaves
    assert.equal(await guard.attempt(A, { full: () => Promise.resolve("ok") }), "ok");
  });

  await t.step("a check that throws gives its slot and its turn back", async () => {
    const guard = guardAt({ now: 1_000 }, 1);
    const broken = { full: () => Promise.reject(new Error("corrupt keys")) };
    await assert.rejects(guard.attempt(A, broken), /corrupt keys/);
    await assert.rejects(guard.attempt(A, { ...broken, quick: broken.full }), /corrupt keys/);
    assert.equal(await guard.attempt(A, { full: () => Promise.resolve("ok") }), "ok");
    assert.equal(guard.size, 0);
  });

  await t.step("a failure waits out the delay, but the next check need not", async () => {
    const guard = new LoginGuard({ failureDelayMs: 150, maxFailuresPerIp: 10, windowMs: 60_000 });
    const started = Date.now();
    const failing = guard.attempt(A, { full: () => Promise.resolve(undefined) });
    await settle();
    let nextRanAt = 0;
    const next = guard.attempt(A, {
      full: () => {
        nextRanAt = Date.now();
        return Promise.resolve("ok");
      },
    });
    assert.equal(await next, "ok");
    assert.ok(nextRanAt - started < 100, `the next check waited ${nextRanAt - started} ms`);
    assert.equal(await failing, "bad");
    assert.ok(Date.now() - started >= 140, `answered after ${Date.now() - started} ms`);
  });

  await t.step("a changed limit or window applies at once (SIGHUP reload)", async () => {
    const clock = { now: 1_000 };
    const guard = guardAt(clock, 3);
    assert.equal(await guard.attempt(A, { full: () => Promise.resolve(undefined) }), "bad");
    guard.opts.maxFailuresPerIp = 1;
    assert.equal(await guard.attempt(A, { full: () => Promise.resolve("ok") }), "blocked");
    clock.now += 5_000;
    guard.opts.windowMs = 5_000;
    assert.equal(await guard.attempt(A, { full: () => Promise.resolve("ok") }), "ok");
  });

  await t.step("addresses that never come back are forgotten after a window", async () => {
    const clock = { now: 1_000 };
    const guard = guardAt(clock);
    for (let i = 0; i < 100; i++) {
      await guard.attempt(`203.0.113.${i}`, { full: () => Promise.resolve(undefined) });
    }
    assert.equal(guard.size, 100);
    clock.now += 60_001;
    await guard.attempt(B, { full: () => Promise.resolve("ok") });
    assert.equal(guard.size, 0);
  });

  await t.step("a limit of 0 refuses everything", async () => {
    const guard = guardAt({ now: 1_000 }, 0);
    assert.equal(await guard.attempt(A, { full: () => Promise.resolve("ok") }), "blocked");
    assert.equal(guard.size, 0);
  });
});

/** The retry schedule: minutes growing to hours, capped at 4 h, never past max_age. */
import assert from "node:assert/strict";
import {
  expiresAt,
  formatDuration,
  isExpired,
  nextAttemptAt,
  retryDelay,
} from "../../src/queue/backoff.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

Deno.test("queue backoff", async (t) => {
  await t.step("1m, 5m, 15m, 30m, 1h, 2h, 4h, then 4h", () => {
    const delays = Array.from({ length: 10 }, (_, i) => retryDelay(i + 1));
    assert.deepEqual(delays, [
      MIN,
      5 * MIN,
      15 * MIN,
      30 * MIN,
      HOUR,
      2 * HOUR,
      4 * HOUR,
      4 * HOUR,
      4 * HOUR,
      4 * HOUR,
    ]);
  });

  await t.step("attempts below 1 count as 1", () => {
    assert.equal(retryDelay(0), MIN);
    assert.equal(retryDelay(-3), MIN);
  });

  await t.step("jitter only adds, up to the fraction", () => {
    assert.equal(retryDelay(5, { fraction: 0.1, random: () => 0 }), HOUR);
    assert.equal(retryDelay(5, { fraction: 0.1, random: () => 0.5 }), HOUR + 0.05 * HOUR);
    for (let i = 0; i < 100; i++) {
      const d = retryDelay(3, { fraction: 0.2 });
      assert.ok(d >= 15 * MIN && d < 15 * MIN * 1.2, `${d}`);
    }
    assert.equal(retryDelay(3, { fraction: 0 }), 15 * MIN);
  });

  await t.step("the next attempt never lies past the expiry", () => {
    const arrived = 1_000_000;
    assert.equal(nextAttemptAt(arrived + MIN, 1, arrived, 5 * DAY), arrived + 2 * MIN);
    const late = arrived + 5 * DAY - HOUR;
    assert.equal(nextAttemptAt(late, 9, arrived, 5 * DAY), arrived + 5 * DAY);
  });

  await t.step("expiry at max_age", () => {
    assert.equal(expiresAt(10, 5 * DAY), 10 + 5 * DAY);
    assert.equal(isExpired(10 + 5 * DAY - 1, 10, 5 * DAY), false);
    assert.equal(isExpired(10 + 5 * DAY, 10, 5 * DAY), true);
  });

  await t.step("durations in words", () => {
    assert.equal(formatDuration(5 * DAY), "5 days");
    assert.equal(formatDuration(DAY), "1 day");
    assert.equal(formatDuration(36 * HOUR), "36 hours");
    assert.equal(formatDuration(90 * MIN), "90 minutes");
    assert.equal(formatDuration(30_000), "30 seconds");
  });
});

/**
 * The DNS server's UDP response rate limit: a bucket per /24 or /56, refilled at the rate,
 * every second excess query slipped (TC=1) and the others dropped; networks kept apart; the map
 * bounded; 0 = no limit.
 */
import assert from "node:assert/strict";
import { networkOf, ResponseRateLimiter } from "../../src/dns_server/rate_limit.ts";

Deno.test("dns rate limit: client networks are /24 and /56", () => {
  assert.equal(networkOf("192.0.2.7"), networkOf("192.0.2.200"));
  assert.equal(networkOf("::ffff:192.0.2.7"), networkOf("192.0.2.9"));
  assert.notEqual(networkOf("192.0.2.7"), networkOf("192.0.3.7"));
  assert.equal(networkOf("2001:db8:0:ab00::1"), networkOf("2001:db8:0:abff:1::2"));
  assert.notEqual(networkOf("2001:db8:0:ab00::1"), networkOf("2001:db8:0:ac00::1"));
  assert.notEqual(networkOf("::1"), networkOf("127.0.0.1"));
});

Deno.test("dns rate limit: a bucket per network, slip every second excess query in a row", () => {
  let now = 1_000_000;
  let rate = 3;
  const limiter = new ResponseRateLimiter(() => rate, 10_000, () => now);
  const burst = (address: string, n: number) =>
    Array.from({ length: n }, () => limiter.decide(address));
  assert.deepEqual(burst("192.0.2.1", 7), [
    "answer",
    "answer",
    "answer",
    "drop",
    "slip",
    "drop",
    "slip",
  ]);
  // Another network has its own bucket; the same /24 shares the empty one.
  assert.deepEqual(burst("198.51.100.1", 3), ["answer", "answer", "answer"]);
  assert.equal(limiter.decide("192.0.2.99"), "drop");
  // A third of a second brings one token back at 3 a second.
  now += 334;
  assert.deepEqual(burst("192.0.2.1", 3), ["answer", "drop", "slip"]);
  // Idle for long: full again, but never more than a second's worth.
  now += 60_000;
  assert.deepEqual(burst("192.0.2.1", 4), ["answer", "answer", "answer", "drop"]);
  rate = 0;
  assert.deepEqual(burst("192.0.2.1", 50), Array(50).fill("answer"));
});

Deno.test("dns rate limit: the table stays bounded, the least recent network goes first", () => {
  const limiter = new ResponseRateLimiter(() => 1, 100, () => 0);
  for (let i = 0; i < 1000; i++) limiter.decide(`10.${i >> 8}.${i & 0xff}.1`);
  assert.equal(limiter.size, 100);
  // 10.3.231 (i = 999) was heard from last and is still empty; 10.0.0 was forgotten.
  assert.equal(limiter.decide("10.3.231.1"), "drop");
  assert.equal(limiter.decide("10.0.0.1"), "answer");
});

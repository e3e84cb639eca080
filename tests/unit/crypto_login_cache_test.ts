import assert from "node:assert/strict";
import { LoginCache } from "../../src/crypto/login_cache.ts";
import type { UnlockedUserKeys } from "../../src/crypto/user_keys.ts";

/** Distinct stand-in unlocked keys; the cache only stores and returns them. */
async function fakeKeys(): Promise<UnlockedUserKeys> {
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "encrypt",
  ]);
  return { privateKey: key, mailboxKey: key };
}

/** A settable clock. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

Deno.test("login cache", async (t) => {
  const a = await fakeKeys();
  const b = await fakeKeys();

  await t.step("a hit needs the same address and password", () => {
    const cache = new LoginCache();
    assert.equal(cache.get("a@x", "pw"), undefined);
    cache.set("a@x", "pw", a);
    assert.equal(cache.get("a@x", "pw"), a);
    assert.equal(cache.get("A@X", "pw"), a);
    assert.equal(cache.get("a@x", "pw "), undefined);
    assert.equal(cache.get("a@x", "PW"), undefined);
    assert.equal(cache.get("b@x", "pw"), undefined);
  });

  await t.step("freshFor: the latest fresh login's keys, whatever its password", () => {
    const c = clock();
    const cache = new LoginCache({ ttlMs: 1_000, now: c.now });
    assert.equal(cache.freshFor("a@x"), undefined);
    cache.set("a@x", "old", a);
    c.advance(500);
    cache.set("A@x", "new", b);
    assert.equal(cache.freshFor("a@X"), b);
    assert.equal(cache.freshFor("b@x"), undefined);
    c.advance(600); // "new" has 400 ms left, "old" ran out
    assert.equal(cache.freshFor("a@x"), b);
    c.advance(400);
    assert.equal(cache.freshFor("a@x"), undefined);
    cache.set("a@x", "pw", a);
    cache.forget("a@x");
    assert.equal(cache.freshFor("a@x"), undefined);
  });

  await t.step("the address/password split is unambiguous", () => {
    const cache = new LoginCache();
    cache.set("a", "b\0c", a);
    assert.equal(cache.get("a\0b", "c"), undefined);
  });

  await t.step("entries expire after the TTL, counted from set, not from use", () => {
    const c = clock();
    const cache = new LoginCache({ ttlMs: 1_000, now: c.now });
    cache.set("a@x", "pw", a);
    c.advance(600);
    assert.equal(cache.get("a@x", "pw"), a);
    c.advance(399);
    assert.equal(cache.get("a@x", "pw"), a);
    c.advance(1);
    assert.equal(cache.get("a@x", "pw"), undefined);
    assert.equal(cache.size, 0, "the expired entry is evicted when found");
  });

  await t.step("expired entries are swept on set", () => {
    const c = clock();
    const cache = new LoginCache({ ttlMs: 1_000, now: c.now });
    cache.set("a@x", "pw", a);
    cache.set("b@x", "pw", b);
    c.advance(1_000);
    cache.set("c@x", "pw", a);
    assert.equal(cache.size, 1);
  });

  await t.step("setting again restarts the TTL", () => {
    const c = clock();
    const cache = new LoginCache({ ttlMs: 1_000, now: c.now });
    cache.set("a@x", "pw", a);
    c.advance(800);
    cache.set("a@x", "pw", b);
    c.advance(800);
    assert.equal(cache.get("a@x", "pw"), b);
    assert.equal(cache.size, 1);
  });

  await t.step("forget drops every entry of one user only", () => {
    const cache = new LoginCache();
    cache.set("a@x", "old", a);
    cache.set("a@x", "new", a);
    cache.set("b@x", "pw", b);
    cache.forget("A@x");
    assert.equal(cache.get("a@x", "old"), undefined);
    assert.equal(cache.get("a@x", "new"), undefined);
    assert.equal(cache.get("b@x", "pw"), b);
    assert.equal(cache.size, 1);
    cache.forget("nobody@x");
    assert.equal(cache.size, 1);
  });

  await t.step("past maxEntries the oldest entry goes first", () => {
    const c = clock();
    const cache = new LoginCache({ maxEntries: 2, now: c.now });
    cache.set("1@x", "pw", a);
    c.advance(1);
    cache.set("2@x", "pw", a);
    c.advance(1);
    cache.set("3@x", "pw", b);
    assert.equal(cache.size, 2);
    assert.equal(cache.get("1@x", "pw"), undefined);
    assert.equal(cache.get("2@x", "pw"), a);
    assert.equal(cache.get("3@x", "pw"), b);
    // An evicted entry leaves nothing behind for forget to trip over.
    cache.forget("1@x");
    assert.equal(cache.size, 2);
  });

  await t.step("maxEntries 0 disables caching", () => {
    const cache = new LoginCache({ maxEntries: 0 });
    cache.set("a@x", "pw", a);
    assert.equal(cache.get("a@x", "pw"), undefined);
    assert.equal(cache.size, 0);
  });

  await t.step("bad options are refused", () => {
    assert.throws(() => new LoginCache({ ttlMs: -1 }), RangeError);
    assert.throws(() => new LoginCache({ maxEntries: 1.5 }), RangeError);
  });
});

import assert from "node:assert/strict";
import { CryptoError } from "../../src/crypto/crypto_error.ts";
import { LoginCache } from "../../src/crypto/login_cache.ts";
import { UserUnlocker } from "../../src/crypto/password_auth.ts";
import { changePassword, createUserKeys } from "../../src/crypto/user_keys.ts";

const FAST = { iterations: 1_000 };

/** An in-memory key lookup that counts its calls. */
function keyStore(initial: Record<string, Uint8Array>) {
  const users = new Map(Object.entries(initial));
  const store = {
    lookups: 0,
    users,
    getKeys: (address: string) => {
      store.lookups++;
      return Promise.resolve(users.get(address));
    },
  };
  return store;
}

/** Median wall time of `runs` sequential calls of `fn`, in ms. */

Deno.test("user unlocker", async (t) => {
  const { keys } = await createUserKeys("pw", FAST);

  await t.step("a good login fills the cache and the next one skips the KDF", async () => {
    const store = keyStore({ "a@x": keys });
    const cache = new LoginCache();
    const unlocker = new UserUnlocker({ getKeys: store.getKeys, cache, dummyIterations: 1_000 });
    const first = await unlocker.unlock("a@x", "pw");
    assert.ok(first);
    assert.equal(cache.get("a@x", "pw"), first);
    assert.equal(await unlocker.unlock("a@x", "pw"), first);
    assert.equal(store.lookups, 1);
  });

  await t.step("wrong password and unknown user both give undefined, uncached", async () => {
    const store = keyStore({ "a@x": keys });
    const cache = new LoginCache();
    const unlocker = new UserUnlocker({ getKeys: store.getKeys, cache, dummyIterations: 1_000 });
    assert.equal(await unlocker.unlock("a@x", "nope"), undefined);
    assert.equal(await unlocker.unlock("ghost@x", "pw"), undefined);
    assert.equal(cache.size, 0);
  });

  await t.step("simultaneous logins share one unlock", async () => {
    const store = keyStore({ "a@x": keys });
    const unlocker = new UserUnlocker({ getKeys: store.getKeys, cache: new LoginCache() });
    const results = await Promise.all([1, 2, 3, 4].map(() => unlocker.unlock("a@x", "pw")));
    assert.ok(results[0]);
    assert.ok(results.every((r) => r === results[0]));
    assert.equal(store.lookups, 1);
  });

  await t.step("after a password change and forget, only the new password works", async () => {
    const store = keyStore({ "a@x": keys });
    const unlocker = new UserUnlocker({ getKeys: store.getKeys, cache: new LoginCache() });
    assert.ok(await unlocker.unlock("a@x", "pw"));
    const changed = await changePassword(keys, "pw", "pw2", FAST);
    assert.ok(changed);
    store.users.set("a@x", changed);
    unlocker.forget("a@x");
    assert.equal(await unlocker.unlock("a@x", "pw"), undefined);
    assert.ok(await unlocker.unlock("a@x", "pw2"));
  });

  await t.step("an unlock racing a forget does not refill the cache", async () => {
    const store = keyStore({ "a@x": keys });
    const cache = new LoginCache();
    const unlocker = new UserUnlocker({ getKeys: store.getKeys, cache });
    const pending = unlocker.unlock("a@x", "pw");
    unlocker.forget("a@x");
    assert.ok(await pending);
    assert.equal(cache.size, 0);
  });

  await t.step("corrupt stored keys throw", async () => {
    const store = keyStore({ "a@x": new TextEncoder().encode("garbage") });
    const unlocker = new UserUnlocker({ getKeys: store.getKeys, cache: new LoginCache() });
    await assert.rejects(unlocker.unlock("a@x", "pw"), CryptoError);
  });
});

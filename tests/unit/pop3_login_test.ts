/**
 * What a POP3 login goes through: the LoginGuard (failure delay, per-address blocking within
 * a window) and the Authenticator (address normalisation, cache invalidation when the stored
 * keys change), on a real store in a temp folder.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Authenticator } from "../../src/auth/authenticator.ts";
import { LoginGuard } from "../../src/auth/login_guard.ts";
import { changePassword, createUserKeys } from "../../src/crypto/user_keys.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";

Deno.test("pop3 login guard", async (t) => {
  let now = 1_000_000;
  const guard = new LoginGuard({
    failureDelayMs: 0,
    maxFailuresPerIp: 3,
    windowMs: 60_000,
    now: () => now,
  });
  await t.step("an address is blocked at the limit, not before", async () => {
    assert.equal(guard.blocked("192.0.2.1"), false);
    await guard.failed("192.0.2.1");
    await guard.failed("192.0.2.1");
    assert.equal(guard.blocked("192.0.2.1"), false);
    await guard.failed("192.0.2.1");
    assert.equal(guard.blocked("192.0.2.1"), true);
  });
  await t.step("other addresses are not affected", () => {
    assert.equal(guard.blocked("192.0.2.2"), false);
    assert.equal(guard.blocked("127.0.0.1"), false);
  });
  await t.step("failures older than the window are forgotten one by one", async () => {
    now += 30_000;
    await guard.failed("198.51.100.7");
    await guard.failed("198.51.100.7");
    await guard.failed("198.51.100.7");
    assert.equal(guard.blocked("198.51.100.7"), true);
    now += 30_001; // the first address's failures are now out of the window
    assert.equal(guard.blocked("192.0.2.1"), false);
    assert.equal(guard.blocked("198.51.100.7"), true);
    now += 30_000;
    assert.equal(guard.blocked("198.51.100.7"), false);
  });
  await t.step("a changed limit applies at once (SIGHUP reload)", async () => {
    await guard.failed("203.0.113.9");
    assert.equal(guard.blocked("203.0.113.9"), false);
    guard.opts.maxFailuresPerIp = 1;
    assert.equal(guard.blocked("203.0.113.9"), true);
    guard.opts.maxFailuresPerIp = 3;
  });
  await t.step("a failure waits out the failure delay", async () => {
    const real = new LoginGuard({ failureDelayMs: 120, maxFailuresPerIp: 10, windowMs: 60_000 });
    const started = Date.now();
    await real.failed("192.0.2.50");
    assert.ok(Date.now() - started >= 110, `waited ${Date.now() - started} ms`);
  });
});

Deno.test("pop3 authenticator", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-pop3-auth-" });
  const store = SqliteMailStore.open(join(dir, "fsmtp.db"));
  const auth = new Authenticator(store, { dummyIterations: 1_000 });
  const address = "carol@example.org";
  try {
    const { keys } = await createUserKeys("first password", { iterations: 1_000 });
    await store.createUser({ address, keys, createdAt: Date.now() });

    await t.step("the address is trimmed and lower-cased", async () => {
      const login = await auth.login("  Carol@Example.ORG ", "first password");
      assert.equal(login?.address, address);
    });
    await t.step("a wrong password, an unknown user, an empty password", async () => {
      assert.equal(await auth.login(address, "First password"), undefined);
      assert.equal(await auth.login(address, "first password "), undefined);
      assert.equal(await auth.login("nobody@example.org", "first password"), undefined);
      assert.equal(await auth.login(address, ""), undefined);
    });
    await t.step("a cached login still checks the password", async () => {
      assert.ok(await auth.login(address, "first password"));
      assert.equal(await auth.login(address, "wrong"), undefined);
    });
    await t.step("a password changed in the store takes effect at once", async () => {
      const changed = await changePassword(keys, "first password", "second password", {
        iterations: 1_000,
      });
      assert.ok(changed);
      await store.updateUserKeys(address, changed);
      assert.equal(await auth.login(address, "first password"), undefined);
      assert.ok(await auth.login(address, "second password"));
    });
    await t.step("a deleted user cannot log in with a cached password", async () => {
      assert.ok(await auth.login(address, "second password"));
      await store.deleteUser(address);
      assert.equal(await auth.login(address, "second password"), undefined);
    });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

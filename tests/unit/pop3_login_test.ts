/**
 * What a POP3 login goes through in the Authenticator (address normalisation, the login cache
 * and its invalidation when the stored keys change), on a real store in a temp folder. The
 * LoginGuard around it is tested in auth_login_guard_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Authenticator } from "../../src/auth/authenticator.ts";
import { changePassword, createUserKeys } from "../../src/crypto/user_keys.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";

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
    await t.step("cachedLogin answers only for a password that logged in lately", async () => {
      const fresh = new Authenticator(store, { dummyIterations: 1_000 });
      assert.equal(await fresh.cachedLogin(address, "first password"), undefined);
      assert.ok(await fresh.login(address, "first password"));
      assert.equal(
        (await fresh.cachedLogin(" CAROL@example.org", "first password"))?.address,
        address,
      );
      assert.equal(await fresh.cachedLogin(address, "first passwordx"), undefined);
      assert.equal(await fresh.cachedLogin("nobody@example.org", "first password"), undefined);
    });
    await t.step("a password changed in the store takes effect at once", async () => {
      const changed = await changePassword(keys, "first password", "second password", {
        iterations: 1_000,
      });
      assert.ok(changed);
      await store.updateUserKeys(address, changed);
      assert.equal(await auth.cachedLogin(address, "first password"), undefined);
      assert.equal(await auth.login(address, "first password"), undefined);
      assert.ok(await auth.login(address, "second password"));
    });
    await t.step("a deleted user cannot log in with a cached password", async () => {
      assert.ok(await auth.login(address, "second password"));
      await store.deleteUser(address);
      assert.equal(await auth.cachedLogin(address, "second password"), undefined);
      assert.equal(await auth.login(address, "second password"), undefined);
    });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

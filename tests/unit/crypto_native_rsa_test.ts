/**
 * RSA-OAEP through libcrypto opens exactly what WebCrypto sealed (same label, SHA-256), and
 * refuses what it must. Skipped, saying so, where libcrypto cannot be loaded.
 */
import assert from "node:assert/strict";
import { NativeRsaKey } from "../../src/crypto/native_rsa.ts";
import { nativeOaepFixture } from "../helpers/rsa_fixtures.ts";

const te = new TextEncoder();
const { native, seal } = await nativeOaepFixture("crypto_native_rsa_test");

Deno.test({ name: "native RSA-OAEP", ignore: !native }, async (t) => {
  const key = native!;
  const label = te.encode("fsmtp/test/label");
  const secret = crypto.getRandomValues(new Uint8Array(32));

  await t.step("opens what WebCrypto sealed", async () => {
    assert.deepEqual(await key.decrypt(await seal(secret, label), label), secret);
  });
  await t.step("many at once (run on the thread pool) all open", async () => {
    const sealed = await Promise.all(Array.from({ length: 32 }, () => seal(secret, label)));
    const opened = await Promise.all(sealed.map((c) => key.decrypt(c, label)));
    for (const o of opened) assert.deepEqual(o, secret);
  });
  await t.step("a wrong label, a flipped bit or garbage is refused", async () => {
    const sealed = await seal(secret, label);
    await assert.rejects(key.decrypt(sealed, te.encode("another label")));
    const flipped = sealed.slice();
    flipped[100] ^= 1;
    await assert.rejects(key.decrypt(flipped, label));
    await assert.rejects(key.decrypt(new Uint8Array(256), label));
    await assert.rejects(key.decrypt(new Uint8Array(3), label));
  });
  await t.step("an empty label works like WebCrypto's", async () => {
    const empty = new Uint8Array(0);
    assert.deepEqual(await key.decrypt(await seal(secret, empty), empty), secret);
  });
  await t.step("a key that is not PKCS#8 is not imported", () => {
    assert.equal(NativeRsaKey.fromPkcs8(te.encode("not a key")), undefined);
  });
});

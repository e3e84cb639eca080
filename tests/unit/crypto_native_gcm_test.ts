/**
 * AES-256-GCM through libcrypto opens exactly what node:crypto sealed (the format of
 * message_seal.ts: iv || ciphertext || tag), keyed per context or per call, and refuses
 * anything altered. Skipped, saying so, where libcrypto cannot be loaded.
 */
import assert from "node:assert/strict";
import { createCipheriv, createDecipheriv } from "node:crypto";
import { NativeGcm } from "../../src/crypto/native_gcm.ts";

const keyed = NativeGcm.create(crypto.getRandomValues(new Uint8Array(32)));
if (!keyed) console.log("crypto_native_gcm_test: libcrypto not loadable here; skipped");

function seal(key: Uint8Array, clear: Uint8Array, aad: Uint8Array): Uint8Array {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  const head = cipher.update(clear);
  const tail = cipher.final();
  const out = new Uint8Array(12 + head.length + tail.length + 16);
  out.set(iv);
  out.set(head, 12);
  out.set(tail, 12 + head.length);
  out.set(cipher.getAuthTag(), 12 + head.length + tail.length);
  return out;
}

Deno.test({ name: "native AES-256-GCM", ignore: !keyed }, async (t) => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const aad = new TextEncoder().encode("fsmtp/test/aad");
  const withKey = NativeGcm.create(key)!;
  const perCall = NativeGcm.create()!;

  await t.step("opens what node:crypto sealed, of any length, many times over", () => {
    for (const length of [0, 1, 15, 16, 17, 4096, 100_000]) {
      const clear = new Uint8Array(length).map((_, i) => (i * 7 + length) & 0xff);
      const sealed = seal(key, clear, aad);
      assert.deepEqual(withKey.open(sealed, aad), clear);
      assert.deepEqual(perCall.open(sealed, aad, key), clear);
      // A view into a larger buffer opens the same.
      const padded = new Uint8Array(sealed.length + 5);
      padded.set(sealed, 5);
      assert.deepEqual(withKey.open(padded.subarray(5), aad), clear);
    }
  });

  await t.step("a flipped bit, a wrong key or AAD, or a truncation is refused", () => {
    const clear = new TextEncoder().encode("secret content");
    const sealed = seal(key, clear, aad);
    for (const at of [0, 12, sealed.length - 1]) {
      const bad = sealed.slice();
      bad[at] ^= 1;
      assert.equal(withKey.open(bad, aad), undefined);
    }
    assert.equal(withKey.open(sealed, new TextEncoder().encode("other")), undefined);
    assert.equal(perCall.open(sealed, aad, crypto.getRandomValues(new Uint8Array(32))), undefined);
    assert.equal(withKey.open(sealed.subarray(0, 27), aad), undefined);
    // After a refusal the context still opens good input.
    assert.deepEqual(withKey.open(sealed, aad), clear);
  });

  await t.step("a sealing context seals what node:crypto and an opening context open", () => {
    const sealer = NativeGcm.create(key, "seal")!;
    for (const length of [0, 1, 32, 4096]) {
      const clear = new Uint8Array(length).map((_, i) => i & 0xff);
      const a = sealer.seal(clear, aad);
      const b = sealer.seal(clear, aad);
      assert.notDeepEqual(a.subarray(0, 12), b.subarray(0, 12)); // a fresh IV each time
      assert.deepEqual(withKey.open(a, aad), clear);
      const decipher = createDecipheriv("aes-256-gcm", key, a.subarray(0, 12));
      decipher.setAAD(aad);
      decipher.setAuthTag(a.subarray(a.length - 16));
      const head = decipher.update(a.subarray(12, a.length - 16));
      assert.deepEqual(new Uint8Array([...head, ...decipher.final()]), clear);
    }
    assert.throws(() => sealer.open(sealer.seal(new Uint8Array(1), aad), aad));
    assert.throws(() => withKey.seal(new Uint8Array(1), aad));
  });

  await t.step("a key where the context has one, or none where it needs one, throws", () => {
    const sealed = seal(key, new Uint8Array(3), aad);
    assert.throws(() => withKey.open(sealed, aad, key));
    assert.throws(() => perCall.open(sealed, aad));
    assert.throws(() => NativeGcm.create(new Uint8Array(16)), RangeError);
  });
});

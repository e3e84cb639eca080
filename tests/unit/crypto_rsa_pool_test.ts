/**
 * The RSA worker pool opens, in batches on worker threads, exactly what WebCrypto sealed with
 * the same label, gives undefined for what does not open, and keeps the order of a batch.
 * Skipped, saying so, where libcrypto cannot be loaded.
 */
import assert from "node:assert/strict";
import { NativeRsaKey } from "../../src/crypto/native_rsa.ts";
import { RsaPool } from "../../src/crypto/rsa_pool.ts";

const te = new TextEncoder();
const pair = await crypto.subtle.generateKey(
  {
    name: "RSA-OAEP",
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: "SHA-256",
  },
  true,
  ["encrypt", "decrypt"],
);
const native = NativeRsaKey.fromPkcs8(
  new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
);
if (!native) console.log("crypto_rsa_pool_test: libcrypto not loadable here; skipped");

async function seal(data: Uint8Array<ArrayBuffer>, label: Uint8Array<ArrayBuffer>) {
  return new Uint8Array(
    await crypto.subtle.encrypt({ name: "RSA-OAEP", label }, pair.publicKey, data),
  );
}

Deno.test({ name: "RSA worker pool", ignore: !native }, async (t) => {
  const pool = new RsaPool(2);
  const label = te.encode("fsmtp/test/pool");

  await t.step("batches on both workers open in order", async () => {
    const secrets = Array.from({ length: 40 }, (_, i) => new Uint8Array(32).fill(i));
    const sealed = await Promise.all(secrets.map((s) => seal(s, label)));
    const batches = await Promise.all([
      pool.decryptMany(native!, sealed.slice(0, 20), label),
      pool.decryptMany(native!, sealed.slice(20), label),
    ]);
    assert.deepEqual(batches.flat(), secrets);
    assert.equal(pool.broken, false);
  });

  await t.step("what does not open is undefined, the rest of the batch opens", async () => {
    const good = await seal(new Uint8Array(32).fill(7), label);
    const flipped = good.slice();
    flipped[10] ^= 1;
    const otherLabel = await seal(new Uint8Array(32).fill(8), te.encode("another label"));
    const out = await pool.decryptMany(
      native!,
      [flipped, good, otherLabel, new Uint8Array(3)],
      label,
    );
    assert.deepEqual(out, [undefined, new Uint8Array(32).fill(7), undefined, undefined]);
  });
});

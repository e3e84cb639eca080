/**
 * The RSA worker pool opens, in batches on worker threads, exactly what WebCrypto sealed with
 * the same label, gives undefined for what does not open, and keeps the order of a batch.
 * Skipped, saying so, where libcrypto cannot be loaded.
 */
import assert from "node:assert/strict";
import { RsaPool } from "../../src/crypto/rsa_pool.ts";
import { nativeOaepFixture } from "../helpers/rsa_fixtures.ts";

const te = new TextEncoder();
const { native, seal } = await nativeOaepFixture("crypto_rsa_pool_test");

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

/**
 * rsa-sha256 DKIM signatures through libcrypto are the very octets WebCrypto makes (PKCS#1 v1.5
 * is deterministic), and signMessage uses libcrypto for keys imported by keys.ts. Skipped,
 * saying so, where libcrypto cannot be loaded.
 */
import assert from "node:assert/strict";
import { NativeRsaSigner, nativeSignerOf } from "../../src/crypto/native_rsa_sign.ts";
import { importDkimPrivateKey } from "../../src/dkim/keys.ts";
import { dkimSign } from "../../src/dkim/sign.ts";
import { derToPem } from "../../src/tls/pem.ts";
import { derOf, rsaKeyPair } from "../helpers/rsa_fixtures.ts";

const pair = await rsaKeyPair("RSASSA-PKCS1-v1_5");
const pkcs8 = await derOf(pair.privateKey);
const native = NativeRsaSigner.fromPkcs8(pkcs8, 2048);
if (!native) console.log("native_rsa_sign_test: libcrypto not loadable here; skipped");

Deno.test({ name: "native RSA signing", ignore: !native }, async (t) => {
  const data = crypto.getRandomValues(new Uint8Array(700));

  await t.step("gives WebCrypto's octets, which verify", async () => {
    const mine = await native!.sign(data);
    const theirs = new Uint8Array(
      await crypto.subtle.sign("RSASSA-PKCS1-v1_5", pair.privateKey, data),
    );
    assert.deepEqual(mine, theirs);
    assert.ok(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", pair.publicKey, mine, data));
  });
  await t.step("many at once (on the thread pool) all verify", async () => {
    const inputs = Array.from({ length: 32 }, (_, i) => new Uint8Array([i, 1, 2, 3]));
    const signatures = await Promise.all(inputs.map((d) => native!.sign(d)));
    for (const [i, s] of signatures.entries()) {
      assert.ok(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", pair.publicKey, s, inputs[i]));
    }
  });
  await t.step("a key that is not RSA PKCS#8 is not imported", async () => {
    assert.equal(NativeRsaSigner.fromPkcs8(new TextEncoder().encode("not a key"), 2048), undefined);
    const ed = await crypto.subtle.generateKey("Ed25519", true, ["sign"]) as CryptoKeyPair;
    assert.equal(NativeRsaSigner.fromPkcs8(await derOf(ed.privateKey), 256), undefined);
  });
  await t.step("a DKIM key imported by keys.ts signs through libcrypto", async () => {
    const key = await importDkimPrivateKey(derToPem("PRIVATE KEY", pkcs8), "rsa-sha256");
    assert.ok(nativeSignerOf(key));
    const signed = await dkimSign({ algorithm: "rsa-sha256", key }, data);
    assert.ok(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", pair.publicKey, signed, data));
  });
});

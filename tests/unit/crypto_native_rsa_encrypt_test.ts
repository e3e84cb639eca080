import assert from "node:assert/strict";
import { NativeRsaPublicKey, rsaOaepEncrypt } from "../../src/crypto/native_rsa_encrypt.ts";
import { derOf, rsaKeyPair } from "../helpers/rsa_fixtures.ts";

const label = new TextEncoder().encode("fsmtp/test/label");

Deno.test("RSA-OAEP encryption through libcrypto opens with WebCrypto", async (t) => {
  const pair = await rsaKeyPair();
  const plain = crypto.getRandomValues(new Uint8Array(32));
  const native = NativeRsaPublicKey.fromSpki(await derOf(pair.publicKey));
  assert.ok(native, "libcrypto loads here (Debian's libssl3)");

  await t.step("the native ciphertext decrypts with WebCrypto, with its label only", async () => {
    const sealed = native.encrypt(plain, label);
    assert.equal(sealed.length, 256);
    const opened = await crypto.subtle.decrypt(
      { name: "RSA-OAEP", label },
      pair.privateKey,
      sealed,
    );
    assert.deepEqual(new Uint8Array(opened), plain);
    await assert.rejects(
      crypto.subtle.decrypt(
        { name: "RSA-OAEP", label: new Uint8Array(1) },
        pair.privateKey,
        sealed,
      ),
    );
  });

  await t.step("randomised: two encryptions of one key differ", () => {
    const a = native.encrypt(plain, label);
    const b = native.encrypt(plain, label);
    assert.notDeepEqual(a, b);
  });

  await t.step("rsaOaepEncrypt on a CryptoKey, repeatedly, and an empty label", async () => {
    for (const l of [label, new Uint8Array(0), label]) {
      const sealed = await rsaOaepEncrypt(pair.publicKey, plain, l);
      const opened = await crypto.subtle.decrypt(
        { name: "RSA-OAEP", label: l },
        pair.privateKey,
        sealed,
      );
      assert.deepEqual(new Uint8Array(opened), plain);
    }
  });

  await t.step("a key that is no SPKI is refused, not a crash", () => {
    assert.equal(NativeRsaPublicKey.fromSpki(new Uint8Array([0x30, 0x03, 1, 2, 3])), undefined);
  });
});

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey, createSign, createVerify } from "node:crypto";
import { createDkimKeyPair, dkimDnsRecordValue } from "../../src/tls/dkim_keys.ts";

Deno.test("DKIM keys", async (t) => {
  const pair = await createDkimKeyPair();

  await t.step("PEM labels and key types", () => {
    assert.match(
      pair.privatePem,
      /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/,
    );
    assert.match(
      pair.publicPem,
      /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/,
    );
    const priv = createPrivateKey(pair.privatePem);
    assert.equal(priv.asymmetricKeyType, "rsa");
    assert.equal(priv.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(priv.asymmetricKeyDetails?.publicExponent, 65537n);
    // The public PEM must be the public half of this very private key.
    const derived = createPublicKey(priv).export({ type: "spki", format: "pem" });
    assert.equal(derived, pair.publicPem);
  });

  await t.step(
    "rsa-sha256 signature made with the private key verifies with the public key",
    () => {
      const message = "from:a@example.org\r\nsubject:hi\r\ndkim-signature:v=1; a=rsa-sha256; b=";
      const signature = createSign("RSA-SHA256").update(message).sign(pair.privatePem);
      assert.equal(signature.length, 256);
      assert.equal(
        createVerify("RSA-SHA256").update(message).verify(pair.publicPem, signature),
        true,
      );
      const tampered = message.replace("hi", "ho");
      assert.equal(
        createVerify("RSA-SHA256").update(tampered).verify(pair.publicPem, signature),
        false,
      );
    },
  );

  await t.step("two pairs differ", async () => {
    const other = await createDkimKeyPair();
    assert.notEqual(other.privatePem, pair.privatePem);
    assert.notEqual(other.publicPem, pair.publicPem);
  });

  await t.step("DNS record value carries the SPKI DER in base64 on one line", () => {
    const value = dkimDnsRecordValue(pair.publicPem);
    const m = /^v=DKIM1; k=rsa; p=([A-Za-z0-9+/]+={0,2})$/.exec(value);
    assert.ok(m, value);
    const spki = createPublicKey(pair.publicPem).export({ type: "spki", format: "der" });
    assert.equal(m[1], spki.toString("base64"));
    // A verifier rebuilds the key from p= exactly like this.
    const rebuilt = createPublicKey({
      key: Buffer.from(m[1], "base64"),
      format: "der",
      type: "spki",
    });
    assert.equal(rebuilt.export({ type: "spki", format: "pem" }), pair.publicPem);
    // 2048-bit SPKI is 294 bytes -> 392 base64 characters.
    assert.equal(m[1].length, 392);
  });

  await t.step("DNS record value tolerates CRLF PEMs and rejects non-public-key input", () => {
    const crlf = pair.publicPem.replace(/\n/g, "\r\n");
    assert.equal(dkimDnsRecordValue(crlf), dkimDnsRecordValue(pair.publicPem));
    assert.throws(() => dkimDnsRecordValue(pair.privatePem), SyntaxError);
    assert.throws(() => dkimDnsRecordValue(""), SyntaxError);
    assert.throws(
      () => dkimDnsRecordValue("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n"),
      SyntaxError,
    );
  });
});

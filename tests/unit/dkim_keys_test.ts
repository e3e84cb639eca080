/** DKIM key files in keys_dir and the TXT records for them. */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createPublicKey, verify } from "node:crypto";
import { join } from "node:path";
import { createDkimKeyPair } from "../../src/tls/dkim_keys.ts";
import {
  createEd25519DkimKeyPair,
  DkimKeyError,
  dkimTxtRecord,
  loadDkimKeys,
} from "../../src/dkim/keys.ts";
import { dkimSign } from "../../src/dkim/sign.ts";

const data = new TextEncoder().encode("from:a@example.org\r\ndkim-signature:v=1; b=");

/** Checks that `key` signs as the public half published in `txt` says. */
async function assertPairs(
  key: { algorithm: "rsa-sha256" | "ed25519-sha256"; key: CryptoKey },
  txt: string,
) {
  const p = /; p=([A-Za-z0-9+/=]+)$/.exec(txt)![1];
  const b = Buffer.from(await dkimSign(key, data));
  if (key.algorithm === "rsa-sha256") {
    const pub = createPublicKey({ key: Buffer.from(p, "base64"), format: "der", type: "spki" });
    assert.ok(verify("sha256", data, pub, b));
  } else {
    const x = Buffer.from(p, "base64").toString("base64url");
    const pub = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    assert.ok(verify(null, hash, pub, b));
  }
}

Deno.test("DKIM keys", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const rsa = await createDkimKeyPair();
    const ed = await createEd25519DkimKeyPair();
    const rsaOther = await createDkimKeyPair();

    await t.step("TXT records: k=rsa (SPKI) and k=ed25519 (raw 32 octets, RFC 8463 §4.2)", () => {
      assert.match(dkimTxtRecord(rsa.publicPem, "rsa-sha256"), /^v=DKIM1; k=rsa; p=MIIB[\w+/]+=*$/);
      const edTxt = dkimTxtRecord(ed.publicPem, "ed25519-sha256");
      assert.match(edTxt, /^v=DKIM1; k=ed25519; p=[\w+/]{43}=$/);
      assert.equal(Buffer.from(edTxt.split("p=")[1], "base64").length, 32);
      assert.throws(() => dkimTxtRecord(rsa.publicPem, "ed25519-sha256"), /Ed25519/);
      assert.throws(() => dkimTxtRecord(ed.privatePem, "ed25519-sha256"), /PUBLIC KEY/);
    });

    await t.step("no key at all: error names the file looked for", async () => {
      await assert.rejects(loadDkimKeys(dir, "example.org"), (err) => {
        assert.ok(err instanceof DkimKeyError);
        assert.equal(err.path, join(dir, "dkim-private.pem"));
        return true;
      });
    });

    await t.step("default keys in keys_dir, rsa first then ed25519", async () => {
      await Deno.writeTextFile(join(dir, "dkim-private.pem"), rsa.privatePem);
      await Deno.writeTextFile(join(dir, "dkim-ed25519.pem"), ed.privatePem);
      const keys = await loadDkimKeys(dir, "Example.ORG.");
      assert.deepEqual(keys.map((k) => k.algorithm), ["rsa-sha256", "ed25519-sha256"]);
      assert.equal(keys[0].key.extractable, false);
      await assertPairs(keys[0], dkimTxtRecord(rsa.publicPem, "rsa-sha256"));
      await assertPairs(keys[1], dkimTxtRecord(ed.publicPem, "ed25519-sha256"));
    });

    await t.step("a domain directory takes precedence, without mixing in the default", async () => {
      await Deno.mkdir(join(dir, "other.example"));
      await Deno.writeTextFile(join(dir, "other.example", "dkim-private.pem"), rsaOther.privatePem);
      const keys = await loadDkimKeys(dir, "other.example");
      assert.deepEqual(keys.map((k) => k.algorithm), ["rsa-sha256"]);
      await assertPairs(keys[0], dkimTxtRecord(rsaOther.publicPem, "rsa-sha256"));
      // Other domains still get the default.
      assert.equal((await loadDkimKeys(dir, "third.example")).length, 2);
    });

    await t.step("a replaced key file is picked up (cache keyed by mtime and size)", async () => {
      const file = join(dir, "other.example", "dkim-private.pem");
      await Deno.writeTextFile(file, rsa.privatePem);
      await Deno.utime(file, new Date(), new Date(Date.now() + 5000));
      const keys = await loadDkimKeys(dir, "other.example");
      await assertPairs(keys[0], dkimTxtRecord(rsa.publicPem, "rsa-sha256"));
    });

    await t.step("invalid files: the error names the file", async () => {
      const bad = join(dir, "bad.example");
      await Deno.mkdir(bad);
      await Deno.writeTextFile(join(bad, "dkim-private.pem"), "not a key\n");
      await assert.rejects(
        loadDkimKeys(dir, "bad.example"),
        (err) => err instanceof DkimKeyError && err.message.includes(join(bad, "dkim-private.pem")),
      );
      // An RSA key where the Ed25519 one belongs.
      await Deno.writeTextFile(join(bad, "dkim-private.pem"), rsa.privatePem);
      await Deno.writeTextFile(join(bad, "dkim-ed25519.pem"), rsa.privatePem);
      await assert.rejects(
        loadDkimKeys(dir, "bad.example"),
        (err) =>
          err instanceof DkimKeyError && err.path === join(bad, "dkim-ed25519.pem") &&
          /Ed25519/.test(err.message),
      );
      // A directory where the file should be: unreadable.
      await Deno.remove(join(bad, "dkim-ed25519.pem"));
      await Deno.mkdir(join(bad, "dkim-ed25519.pem"));
      await assert.rejects(
        loadDkimKeys(dir, "bad.example"),
        (err) => err instanceof DkimKeyError && err.path === join(bad, "dkim-ed25519.pem"),
      );
    });

    await t.step("domain names that could escape keys_dir are refused", async () => {
      for (const domain of ["../etc", "a/b", "", ".", "a..b"]) {
        await assert.rejects(loadDkimKeys(dir, domain), TypeError, domain);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

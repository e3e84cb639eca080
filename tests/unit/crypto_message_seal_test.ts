import assert from "node:assert/strict";
import { CryptoError } from "../../src/crypto/crypto_error.ts";
import { openMessage, sealMessage, sealStats } from "../../src/crypto/message_seal.ts";
import { createUserKeys, publicKeyOf, unlockUserKeys } from "../../src/crypto/user_keys.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const tampered = (e: unknown) => e instanceof CryptoError && e.code === "tampered";

/** A user with low KDF cost, unlocked, with their public key. */
async function user(password: string) {
  const { keys } = await createUserKeys(password, { iterations: 1_000 });
  const unlocked = await unlockUserKeys(keys, password);
  assert.ok(unlocked);
  return { publicKey: await publicKeyOf(keys), unlocked };
}

/** True when `needle` occurs in `hay` byte for byte. */
function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

Deno.test("message seal", async (t) => {
  const alice = await user("alice pw");
  const bob = await user("bob pw");
  const clear = enc.encode("Subject: secret\r\n\r\nThe eagle lands at midnight.\r\n");

  await t.step("the sealed body does not contain the clear text", async () => {
    const { body, wrappedKeys } = await sealMessage(clear, [alice.publicKey]);
    assert.equal(body.length, 12 + clear.length + 16);
    assert.ok(!contains(body, enc.encode("eagle")));
    assert.ok(!contains(body, clear));
    assert.equal(wrappedKeys.length, 1);
    assert.equal(wrappedKeys[0].length, 256);
  });

  await t.step("each recipient opens the one shared body", async () => {
    const { body, wrappedKeys } = await sealMessage(clear, [alice.publicKey, bob.publicKey]);
    assert.deepEqual((await openMessage(body, wrappedKeys[0], "rsa", alice.unlocked)).clear, clear);
    assert.deepEqual((await openMessage(body, wrappedKeys[1], "rsa", bob.unlocked)).clear, clear);
    // Alice's wrapped key means nothing to Bob.
    await assert.rejects(openMessage(body, wrappedKeys[0], "rsa", bob.unlocked), tampered);
  });

  await t.step("the rsa path re-wraps once; the sym path opens it without RSA", async () => {
    const { body, wrappedKeys } = await sealMessage(clear, [alice.publicKey]);
    const before = sealStats.rsaUnwraps;
    const first = await openMessage(body, wrappedKeys[0], "rsa", alice.unlocked);
    assert.deepEqual(first.clear, clear);
    assert.ok(first.rewrapped);
    assert.equal(first.rewrapped.length, 12 + 32 + 16);
    for (let i = 0; i < 3; i++) {
      const again = await openMessage(body, first.rewrapped, "sym", alice.unlocked);
      assert.deepEqual(again.clear, clear);
      assert.equal(again.rewrapped, undefined);
    }
    assert.equal(sealStats.rsaUnwraps - before, 1);
    // The sym wrap is under Alice's mailbox key only.
    await assert.rejects(openMessage(body, first.rewrapped, "sym", bob.unlocked), tampered);
  });

  await t.step("a tampered body, key or truncation throws", async () => {
    const { body, wrappedKeys } = await sealMessage(clear, [alice.publicKey]);
    for (const at of [0, 12, 20, body.length - 1]) {
      const bad = body.slice();
      bad[at] ^= 0x01;
      await assert.rejects(openMessage(bad, wrappedKeys[0], "rsa", alice.unlocked), tampered);
    }
    await assert.rejects(
      openMessage(body.subarray(0, 20), wrappedKeys[0], "rsa", alice.unlocked),
      tampered,
    );
    const badKey = wrappedKeys[0].slice();
    badKey[5] ^= 0x80;
    await assert.rejects(openMessage(body, badKey, "rsa", alice.unlocked), tampered);

    const { rewrapped } = await openMessage(body, wrappedKeys[0], "rsa", alice.unlocked);
    assert.ok(rewrapped);
    const badSym = rewrapped.slice();
    badSym[30] ^= 0x01;
    await assert.rejects(openMessage(body, badSym, "sym", alice.unlocked), tampered);
    await assert.rejects(openMessage(body, rewrapped.subarray(1), "sym", alice.unlocked), tampered);
    // A body sealed under another content key does not open with this one.
    const other = await sealMessage(clear, [alice.publicKey]);
    await assert.rejects(openMessage(other.body, rewrapped, "sym", alice.unlocked), tampered);
  });

  await t.step("two seals of the same message differ", async () => {
    const a = await sealMessage(clear, [alice.publicKey]);
    const b = await sealMessage(clear, [alice.publicKey]);
    assert.notDeepEqual(a.body, b.body);
  });

  await t.step("an empty message round-trips", async () => {
    const { body, wrappedKeys } = await sealMessage(new Uint8Array(), [alice.publicKey]);
    const opened = await openMessage(body, wrappedKeys[0], "rsa", alice.unlocked);
    assert.equal(dec.decode(opened.clear), "");
  });

  await t.step("a message needs at least one recipient", async () => {
    await assert.rejects(sealMessage(clear, []), RangeError);
  });
});

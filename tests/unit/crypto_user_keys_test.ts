import assert from "node:assert/strict";
import { CryptoError } from "../../src/crypto/crypto_error.ts";
import { openMessage, sealMessage } from "../../src/crypto/message_seal.ts";
import {
  changePassword,
  createUserKeys,
  DEFAULT_PBKDF2_ITERATIONS,
  publicKeyOf,
  resetPasswordWithRecovery,
  spendUnlockWork,
  unlockUserKeys,
  unlockWithRecoveryKey,
} from "../../src/crypto/user_keys.ts";

// Low so the suite stays fast; one step below checks the real default.
const FAST = { iterations: 1_000 };
const enc = new TextEncoder();
const dec = new TextDecoder();

/** The serialised key material as JSON, to check what is stored. */
function stored(keys: Uint8Array): Record<string, unknown> & { kdf: Record<string, unknown> } {
  return JSON.parse(dec.decode(keys));
}

/** Seals `text` for the user whose key material is `keys`. */
async function sealFor(keys: Uint8Array, text: string) {
  const sealed = await sealMessage(enc.encode(text), [await publicKeyOf(keys)]);
  return { body: sealed.body, wrappedKey: sealed.wrappedKeys[0] };
}

Deno.test("user keys", async (t) => {
  await t.step("the default KDF cost is at least 600,000 PBKDF2 iterations", async () => {
    assert.ok(DEFAULT_PBKDF2_ITERATIONS >= 600_000);
    // The one slow run of the suite: createUserKeys derives once, nothing here unlocks.
    const { keys, recoveryKey } = await createUserKeys("pw");
    const json = stored(keys);
    assert.equal(json.format, "fsmtp-user-keys");
    assert.equal(json.version, 1);
    assert.equal(json.kdf.name, "PBKDF2-SHA256");
    assert.ok((json.kdf.iterations as number) >= 600_000);
    assert.equal(Uint8Array.fromBase64(json.kdf.salt as string).length, 16);
    assert.equal(recoveryKey, undefined);
    assert.equal(json.recovery, undefined);
  });

  await t.step("iterations below the minimum are refused", async () => {
    await assert.rejects(createUserKeys("pw", { iterations: 999 }), RangeError);
  });

  const { keys } = await createUserKeys("correct horse", FAST);

  await t.step("stored bytes hold neither the password nor a clear private key", () => {
    const text = dec.decode(keys);
    assert.ok(!text.includes("correct horse"));
    assert.ok(!text.includes("PRIVATE"));
    assert.deepEqual(Object.keys(stored(keys)).sort(), [
      "format",
      "kdf",
      "mailboxKey",
      "privateKey",
      "publicKey",
      "verifier",
      "version",
    ]);
  });

  await t.step("a wrong password resolves to undefined", async () => {
    assert.equal(await unlockUserKeys(keys, "wrong horse"), undefined);
    assert.equal(await unlockUserKeys(keys, ""), undefined);
  });

  await t.step("the right password opens a sealed message, with non-extractable keys", async () => {
    const unlocked = await unlockUserKeys(keys, "correct horse");
    assert.ok(unlocked);
    assert.equal(unlocked.privateKey.extractable, false);
    assert.equal(unlocked.mailboxKey.extractable, false);
    const { body, wrappedKey } = await sealFor(keys, "hello");
    const opened = await openMessage(body, wrappedKey, "rsa", unlocked);
    assert.equal(dec.decode(opened.clear), "hello");
  });

  await t.step("the password is compared in Unicode NFC", async () => {
    const created = await createUserKeys("caf\u00e9", FAST);
    assert.ok(await unlockUserKeys(created.keys, "cafe\u0301"));
  });

  await t.step("changing the password keeps old messages readable", async () => {
    const { body, wrappedKey } = await sealFor(keys, "before the change");
    const before = await unlockUserKeys(keys, "correct horse");
    assert.ok(before);
    // A key already re-wrapped under the mailbox key must survive the change too.
    const { rewrapped } = await openMessage(body, wrappedKey, "rsa", before);
    assert.ok(rewrapped);

    assert.equal(await changePassword(keys, "wrong horse", "new horse", FAST), undefined);
    const changed = await changePassword(keys, "correct horse", "new horse", FAST);
    assert.ok(changed);
    assert.equal(await unlockUserKeys(changed, "correct horse"), undefined);
    const after = await unlockUserKeys(changed, "new horse");
    assert.ok(after);
    assert.equal(
      dec.decode((await openMessage(body, wrappedKey, "rsa", after)).clear),
      "before the change",
    );
    assert.equal(
      dec.decode((await openMessage(body, rewrapped, "sym", after)).clear),
      "before the change",
    );

    const [was, now] = [stored(keys), stored(changed)];
    assert.equal(now.publicKey, was.publicKey);
    assert.equal(now.mailboxKey, was.mailboxKey);
    assert.notEqual(now.kdf.salt, was.kdf.salt);
    assert.notEqual(now.verifier, was.verifier);
  });

  await t.step("a password change can raise the KDF cost", async () => {
    const changed = await changePassword(keys, "correct horse", "pw2", { iterations: 2_000 });
    assert.ok(changed);
    assert.equal(stored(changed).kdf.iterations, 2_000);
    assert.ok(await unlockUserKeys(changed, "pw2"));
  });

  await t.step("a recovery key unlocks, resets the password, and keeps working", async () => {
    const created = await createUserKeys("pw", { ...FAST, recovery: true });
    const recoveryKey = created.recoveryKey;
    assert.ok(recoveryKey);
    assert.match(recoveryKey, /^([0-9A-HJKMNP-TV-Z]{4}-){7}[0-9A-HJKMNP-TV-Z]{4}$/);
    assert.ok(!dec.decode(created.keys).includes(recoveryKey));

    assert.ok(await unlockWithRecoveryKey(created.keys, recoveryKey));
    // Typed back by hand: lower case, without dashes.
    assert.ok(
      await unlockWithRecoveryKey(created.keys, recoveryKey.toLowerCase().replaceAll("-", " ")),
    );

    const { body, wrappedKey } = await sealFor(created.keys, "mail");
    const reset = await resetPasswordWithRecovery(created.keys, recoveryKey, "fresh", FAST);
    assert.ok(reset);
    assert.equal(await unlockUserKeys(reset, "pw"), undefined);
    const unlocked = await unlockUserKeys(reset, "fresh");
    assert.ok(unlocked);
    assert.equal(dec.decode((await openMessage(body, wrappedKey, "rsa", unlocked)).clear), "mail");
    assert.ok(await unlockWithRecoveryKey(reset, recoveryKey));

    // And the recovery wrap survives an ordinary password change.
    const changed = await changePassword(reset, "fresh", "fresher", FAST);
    assert.ok(changed);
    assert.ok(await unlockWithRecoveryKey(changed, recoveryKey));
  });

  await t.step("a wrong or malformed recovery key resolves to undefined", async () => {
    const created = await createUserKeys("pw", { ...FAST, recovery: true });
    const other = await createUserKeys("pw", { ...FAST, recovery: true });
    assert.equal(await unlockWithRecoveryKey(created.keys, other.recoveryKey!), undefined);
    assert.equal(await unlockWithRecoveryKey(created.keys, "not-a-key"), undefined);
    assert.equal(await unlockWithRecoveryKey(created.keys, ""), undefined);
    assert.equal(
      await resetPasswordWithRecovery(created.keys, other.recoveryKey!, "x", FAST),
      undefined,
    );
    // A user created without recovery has nothing a recovery key could open.
    assert.equal(await unlockWithRecoveryKey(keys, created.recoveryKey!), undefined);
  });

  await t.step("corrupt key material throws CryptoError", async () => {
    const isCode = (code: string) => (e: unknown) => e instanceof CryptoError && e.code === code;
    await assert.rejects(unlockUserKeys(enc.encode("{"), "pw"), isCode("corrupt"));
    await assert.rejects(unlockUserKeys(enc.encode("{}"), "pw"), isCode("corrupt"));
    await assert.rejects(publicKeyOf(enc.encode("[]")), isCode("corrupt"));

    const json = stored(keys);
    const edit = (change: (j: Record<string, unknown>) => void) => {
      const copy = structuredClone(json);
      change(copy);
      return enc.encode(JSON.stringify(copy));
    };
    await assert.rejects(
      unlockUserKeys(edit((j) => (j.version = 2)), "correct horse"),
      isCode("unsupported"),
    );
    await assert.rejects(
      unlockUserKeys(edit((j) => ((j.kdf as Record<string, unknown>).iterations = 1e12)), "x"),
      isCode("corrupt"),
    );
    await assert.rejects(
      unlockUserKeys(edit((j) => (j.verifier = "AAAA")), "correct horse"),
      isCode("corrupt"),
    );
    // The password is verified, so a wrap that fails GCM is damage, not a wrong password.
    const flipped = edit((j) => {
      const wrap = j.privateKey as { ct: string };
      const ct = Uint8Array.fromBase64(wrap.ct);
      ct[10] ^= 1;
      wrap.ct = ct.toBase64();
    });
    await assert.rejects(unlockUserKeys(flipped, "correct horse"), isCode("corrupt"));
    assert.equal(await unlockUserKeys(flipped, "wrong"), undefined);
  });

  await t.step("the stand-in work for unknown users resolves", async () => {
    await spendUnlockWork("pw", 1_000);
    await assert.rejects(spendUnlockWork("pw", 10), RangeError);
  });
});

/**
 * Message keys and logins, on a real SqliteMailStore in a temp folder, counting RSA
 * decryptions with the crypto module's counter (sealStats.rsaUnwraps):
 * - mail delivered while its user is logged in (a session's hold, or the login cache) is
 *   stored wrapped under the mailbox key and read without any RSA;
 * - the re-wrap a login starts leaves no RSA-wrapped key of the user in the store, paying one
 *   RSA per message, even while a POP3 session reads the same messages at the same time;
 * - keys unlocked from another key pair (the user re-created) are never used at delivery;
 * - the store file holds neither the messages nor their content keys in clear, and nothing
 *   opens without the password.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { Authenticator } from "../../src/auth/authenticator.ts";
import { sealStats, unwrapContentKey } from "../../src/crypto/message_seal.ts";
import { createUserKeys, unlockUserKeys } from "../../src/crypto/user_keys.ts";
import { LocalDelivery } from "../../src/mail/local_delivery.ts";
import { Maildrop, MaildropLocks } from "../../src/mail/maildrop.ts";
import { MailboxReader } from "../../src/mail/mailbox_reader.ts";
import { UnlockedUsers } from "../../src/mail/unlocked_users.ts";
import type { MailStore, SealedMessage } from "../../src/store/mail_store.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";

const DOMAIN = "example.org";
const ALICE = `alice@${DOMAIN}`;
const BOB = `bob@${DOMAIN}`;
const PASSWORD = "unlocked keys test password";
const enc = new TextEncoder();
const dec = new TextDecoder();

function message(n: number, marker: string): Uint8Array {
  return enc.encode(
    `From: <sender@remote.example>\r\nTo: <${ALICE}>\r\nSubject: message ${n}\r\n\r\n` +
      `${marker} number ${n}\r\n`,
  );
}

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-unlocked-" });
  const path = join(dir, "fsmtp.db");
  const store = SqliteMailStore.open(path);
  const material = new Map<string, Uint8Array>();
  for (const address of [ALICE, BOB]) {
    const made = await createUserKeys(PASSWORD, { iterations: 1_000 });
    material.set(address, made.keys);
    await store.createUser({ address, keys: made.keys, createdAt: Date.now() });
  }
  const auth = new Authenticator(store, { dummyIterations: 1_000 });
  const users = new UnlockedUsers(store, (address) => auth.cachedKeys(address));
  const delivery = new LocalDelivery(store, [DOMAIN]);
  delivery.unlockedKeys = (address) => users.keysFor(address);
  const login = async (address: string) => ({
    address,
    keys: (await unlockUserKeys(material.get(address)!, PASSWORD))!,
  });
  const cleanup = async () => {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { dir, path, store, auth, users, delivery, login, cleanup };
}

/** Every message of the user's mailboxes, with its wrapped key (no body). */
async function allKeys(store: MailStore, address: string): Promise<SealedMessage[]> {
  const out: SealedMessage[] = [];
  for (const box of await store.listMailboxes(address)) {
    const uids = (await store.listMessages(box.id)).map((m) => m.uid);
    out.push(...await store.getMessages(box.id, uids, false));
  }
  return out;
}

Deno.test("mail for a logged-in user is read without RSA", async (t) => {
  const env = await setup();
  try {
    await t.step("a session's hold: delivered sym-wrapped, read with 0 RSA", async () => {
      const hold = env.users.acquire(await env.login(ALICE));
      const [ref] = await env.delivery.deliverTo(message(1, "held"), [
        { address: ALICE, mailbox: "INBOX" },
      ]);
      const [stored] = await env.store.getMessages(ref.mailboxId, [ref.uid], false);
      assert.equal(stored.keyWrap, "sym");
      const before = sealStats.rsaUnwraps;
      const reader = MailboxReader.withKeys(env.store, ALICE, hold.contentKeys);
      assert.match(dec.decode(await reader.read(ref.mailboxId, ref.uid)), /held number 1/);
      assert.equal(sealStats.rsaUnwraps - before, 0);
      hold.release();
      assert.equal(env.users.keysFor(ALICE), undefined);
    });

    await t.step("the login cache's keys count too; other recipients stay RSA", async () => {
      assert.ok(await env.auth.login(ALICE, PASSWORD));
      const [forAlice, forBob] = await env.delivery.deliverTo(message(2, "cached"), [
        { address: ALICE, mailbox: "INBOX" },
        { address: BOB, mailbox: "INBOX" },
      ]);
      const [a] = await env.store.getMessages(forAlice.mailboxId, [forAlice.uid], false);
      const [b] = await env.store.getMessages(forBob.mailboxId, [forBob.uid], false);
      assert.equal(a.keyWrap, "sym");
      assert.equal(b.keyWrap, "rsa");
      const before = sealStats.rsaUnwraps;
      const reader = await MailboxReader.open(env.store, ALICE, PASSWORD);
      assert.match(dec.decode(await reader!.read(a.mailboxId, a.uid)), /cached number 2/);
      assert.equal(sealStats.rsaUnwraps - before, 0);
    });

    await t.step("keys of another key pair under the address are not used", async () => {
      const other = await createUserKeys(PASSWORD, { iterations: 1_000 });
      const stranger = (await unlockUserKeys(other.keys, PASSWORD))!;
      const delivery = new LocalDelivery(env.store, [DOMAIN]);
      delivery.unlockedKeys = () => stranger;
      const [ref] = await delivery.deliverTo(message(3, "stranger"), [
        { address: BOB, mailbox: "INBOX" },
      ]);
      const [stored] = await env.store.getMessages(ref.mailboxId, [ref.uid], false);
      assert.equal(stored.keyWrap, "rsa");
    });
  } finally {
    await env.cleanup();
  }
});

Deno.test("a login re-wraps every RSA-wrapped key, racing reads included", async (t) => {
  const env = await setup();
  const count = 40;
  try {
    for (let n = 1; n <= count; n++) {
      await env.delivery.deliver({
        id: `away-${n}`,
        from: "sender@remote.example",
        recipients: [ALICE],
        content: message(n, "away"),
        mailbox: n % 4 === 0 ? "Junk" : undefined,
      });
    }
    assert.equal(
      (await allKeys(env.store, ALICE)).filter((m) => m.keyWrap === "rsa").length,
      count,
    );

    await t.step("re-wrap and a POP3 download at once: one RSA per message", async () => {
      const login = await env.login(ALICE);
      const before = sealStats.rsaUnwraps;
      env.users.loggedIn(login);
      const drop = await Maildrop.open(env.store, new MaildropLocks(), login, env.users);
      assert.notEqual(drop, "in-use");
      const maildrop = drop as Maildrop;
      const texts = await Promise.all(
        maildrop.messages.map((meta) => {
          maildrop.readAhead(meta, () => false);
          return maildrop.read(meta).then((b) => dec.decode(b));
        }),
      );
      assert.equal(texts.length, count - count / 4);
      for (const text of texts) assert.match(text, /away number \d+/);
      maildrop.release();
      // The re-wrap holds the keys until it is done; then they leave the registry.
      const deadline = Date.now() + 20_000;
      while (env.users.keysFor(ALICE) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(env.users.keysFor(ALICE), undefined);
      assert.equal(sealStats.rsaUnwraps - before, count);
    });

    await t.step("no RSA-wrapped key of the user is left in the store", async () => {
      const keys = await allKeys(env.store, ALICE);
      assert.equal(keys.length, count);
      assert.deepEqual(keys.filter((m) => m.keyWrap === "rsa"), []);
    });

    await t.step("the next login finds nothing to do and reads with 0 RSA", async () => {
      const login = await env.login(ALICE);
      const before = sealStats.rsaUnwraps;
      const hold = env.users.acquire(login);
      const result = await hold.contentKeys.rewrapAll();
      assert.deepEqual(result, { rewrapped: 0, failed: 0 });
      const reader = MailboxReader.withKeys(env.store, ALICE, hold.contentKeys);
      for (const m of await allKeys(env.store, ALICE)) {
        assert.match(dec.decode(await reader.read(m.mailboxId, m.uid)), /away number/);
      }
      assert.equal(sealStats.rsaUnwraps - before, 0);
      hold.release();
    });
  } finally {
    await env.cleanup();
  }
});

Deno.test("a damaged key fails alone: the others are re-wrapped, its read reports it", async () => {
  const env = await setup();
  try {
    const refs = [];
    for (let n = 1; n <= 3; n++) {
      refs.push(
        ...await env.delivery.deliverTo(message(n, "fine"), [{ address: ALICE, mailbox: "INBOX" }]),
      );
    }
    const box = refs[0].mailboxId;
    const [good] = await env.store.getMessages(box, [refs[0].uid], true);
    const damaged = good.wrappedKey.slice();
    damaged[7] ^= 1;
    const [bad] = await env.store.deliver({
      id: "damaged",
      body: good.body!,
      size: good.size,
      internalDate: Date.now(),
      items: [{ address: ALICE, mailbox: "INBOX", wrappedKey: damaged, keyWrap: "rsa" }],
    });
    const hold = env.users.acquire(await env.login(ALICE));
    try {
      assert.deepEqual(await hold.contentKeys.rewrapAll(), { rewrapped: 3, failed: 1 });
      const left = (await allKeys(env.store, ALICE)).filter((m) => m.keyWrap === "rsa");
      assert.deepEqual(left.map((m) => m.uid), [bad.uid]);
      const reader = MailboxReader.withKeys(env.store, ALICE, hold.contentKeys);
      await assert.rejects(reader.read(box, bad.uid));
      assert.match(dec.decode(await reader.read(box, refs[2].uid)), /fine number 3/);
    } finally {
      hold.release();
    }
  } finally {
    await env.cleanup();
  }
});

Deno.test("at rest: no clear message or content key in the store file", async () => {
  const env = await setup();
  const marker = "a-marker-that-must-never-be-stored-in-clear";
  try {
    // One copy delivered while Alice is logged in (sym), one for Bob who is not (rsa).
    const hold = env.users.acquire(await env.login(ALICE));
    const refs = await env.delivery.deliverTo(message(1, marker), [
      { address: ALICE, mailbox: "INBOX" },
      { address: BOB, mailbox: "INBOX" },
    ]);
    hold.release();
    const [sym] = await env.store.getMessages(refs[0].mailboxId, [refs[0].uid], false);
    assert.equal(sym.keyWrap, "sym");
    const alice = await env.login(ALICE);
    const contentKey = await unwrapContentKey(sym.wrappedKey, "sym", alice.keys);
    const raw = contentKey.raw.slice();
    contentKey.raw.fill(0);
    await env.store.close();

    // Every octet the store keeps: the database, its WAL and anything else in the folder.
    const file = new Uint8Array(
      (await Array.fromAsync(Deno.readDir(env.dir))).flatMap((e) =>
        e.isFile ? [...Deno.readFileSync(join(env.dir, e.name))] : []
      ),
    );
    assert.ok(file.length > 0);
    assert.equal(indexOf(file, enc.encode(marker)), -1, "message text in clear");
    assert.equal(indexOf(file, raw), -1, "content key in clear");
    const db = new DatabaseSync(env.path, { readOnly: true });
    try {
      for (const row of db.prepare("SELECT wrapped_key FROM messages").all()) {
        assert.equal(indexOf(row.wrapped_key as Uint8Array, raw), -1);
      }
    } finally {
      db.close();
    }

    // And it opens with the password only.
    const store = SqliteMailStore.open(env.path);
    try {
      assert.equal(await MailboxReader.open(store, ALICE, "not the password"), undefined);
      const reader = await MailboxReader.open(store, ALICE, PASSWORD);
      const text = dec.decode(await reader!.read(refs[0].mailboxId, refs[0].uid));
      assert.match(text, new RegExp(marker));
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(env.dir, { recursive: true });
  }
});

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

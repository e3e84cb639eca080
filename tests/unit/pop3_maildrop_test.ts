/**
 * The POP3 maildrop and session on a real SqliteMailStore in a temp folder: the exclusive
 * lock, the snapshot taken at login, durable expunge, stable UIDLs, and whole sessions whose
 * RETR gives back the delivered bytes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Authenticator } from "../../src/auth/authenticator.ts";
import { sealMessage } from "../../src/crypto/message_seal.ts";
import { createUserKeys, publicKeyOf, unlockUserKeys } from "../../src/crypto/user_keys.ts";
import { createLogger } from "../../src/log.ts";
import { Maildrop, MaildropLocks } from "../../src/mail/maildrop.ts";
import { Connection } from "../../src/net/connection.ts";
import { type Pop3Ports, Pop3Session } from "../../src/pop3/session.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";
import { MemorySocket } from "../helpers/memory_socket.ts";

const ALICE = "alice@example.org";
const BOB = "bob@example.org";
const PASSWORD = "maildrop test password";
const enc = new TextEncoder();

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-pop3-" });
  const path = join(dir, "fsmtp.db");
  const store = SqliteMailStore.open(path);
  const keys = new Map<string, Uint8Array>();
  for (const address of [ALICE, BOB]) {
    const made = await createUserKeys(PASSWORD, { iterations: 1_000 });
    keys.set(address, made.keys);
    await store.createUser({ address, keys: made.keys, createdAt: Date.now() });
  }
  const deliver = async (address: string, text: string) => {
    const content = enc.encode(text);
    const sealed = await sealMessage(content, [await publicKeyOf(keys.get(address)!)]);
    await store.deliver({
      id: crypto.randomUUID(),
      body: sealed.body,
      size: content.length,
      internalDate: Date.now(),
      items: [{ address, mailbox: "INBOX", wrappedKey: sealed.wrappedKeys[0], keyWrap: "rsa" }],
    });
  };
  const login = async (address: string) => ({
    address,
    keys: (await unlockUserKeys(keys.get(address)!, PASSWORD))!,
  });
  return { dir, path, store, deliver, login };
}

Deno.test("pop3 maildrop on a real store", async (t) => {
  const env = await setup();
  const locks = new MaildropLocks();
  try {
    await env.deliver(ALICE, "Subject: 1\r\n\r\none\r\n");
    await env.deliver(ALICE, "Subject: 2\r\n\r\n.two\r\n");
    await env.deliver(BOB, "Subject: b\r\n\r\nbob's\r\n");
    const alice = await env.login(ALICE);

    let first: Maildrop | "in-use";
    await t.step("open takes a snapshot and the lock", async () => {
      first = await Maildrop.open(env.store, locks, alice);
      assert.ok(first instanceof Maildrop);
      assert.equal(first.messages.length, 2);
      assert.deepEqual(
        first.messages.map((m) => m.size),
        [
          enc.encode("Subject: 1\r\n\r\none\r\n").length,
          enc.encode("Subject: 2\r\n\r\n.two\r\n")
            .length,
        ],
      );
      assert.equal(
        new TextDecoder().decode(await first.read(first.messages[1])),
        "Subject: 2\r\n\r\n.two\r\n",
      );
    });
    await t.step("a second open of the same maildrop is refused", async () => {
      assert.equal(await Maildrop.open(env.store, locks, alice), "in-use");
      assert.equal(await Maildrop.open(env.store, locks, { ...alice }), "in-use");
    });
    await t.step("another user's maildrop is not affected", async () => {
      const bob = await Maildrop.open(env.store, locks, await env.login(BOB));
      assert.ok(bob instanceof Maildrop);
      assert.equal(bob.messages.length, 1);
      bob.release();
    });
    await t.step("mail arriving later is not in the snapshot", async () => {
      await env.deliver(ALICE, "Subject: 3\r\n\r\nlater\r\n");
      assert.equal((first as Maildrop).messages.length, 2);
    });
    await t.step(
      "release (idempotent) lets the next open in, which sees the new mail",
      async () => {
        const drop = first as Maildrop;
        drop.release();
        drop.release();
        const next = await Maildrop.open(env.store, locks, alice);
        assert.ok(next instanceof Maildrop);
        assert.equal(next.messages.length, 3);
        assert.equal(next.uidValidity, drop.uidValidity);
        assert.deepEqual(
          next.messages.slice(0, 2).map((m) => m.uid),
          drop.messages.map((m) => m.uid),
        );
        assert.equal(new Set(next.messages.map((m) => m.uid)).size, 3);
        first = next;
      },
    );
    await t.step("expunge removes durably", async () => {
      const drop = first as Maildrop;
      await drop.expunge([drop.messages[0].uid]);
      drop.release();
      await env.store.close();
      const reopened = SqliteMailStore.open(env.path);
      try {
        const box = await reopened.getMailbox(ALICE, "INBOX");
        const left = await reopened.listMessages(box!.id);
        assert.deepEqual(left.map((m) => m.uid), drop.messages.slice(1).map((m) => m.uid));
      } finally {
        await reopened.close();
      }
    });
  } finally {
    await env.store.close().catch(() => {});
    await Deno.remove(env.dir, { recursive: true });
  }
});

/** A POP3 session over an in-memory socket, backed by the real store. */
function session(store: SqliteMailStore, locks: MaildropLocks, auth: Authenticator) {
  const socket = new MemorySocket();
  const ports: Pop3Ports = {
    hostname: "pop.example.org",
    tls: undefined,
    plaintextAllowed: () => true,
    login: async (address, password) => (await auth.login(address, password)) ?? "bad",
    openMaildrop: (login) => Maildrop.open(store, locks, login),
    maxLoginFailures: 3,
    maxErrors: 20,
    handshakeTimeoutMs: 1000,
  };
  const conn = new Connection(socket.asSocket(), { maxLineLength: 1000, timeoutMs: 5000 });
  const done = new Pop3Session(conn, ports, createLogger("error", () => {})).run();
  const exchange = async (input: string, expect: RegExp) => {
    const before = socket.output.length;
    socket.send(input);
    await socket.waitFor(new RegExp(`^[\\s\\S]{${before}}[\\s\\S]*?${expect.source}`));
    return socket.output.slice(before);
  };
  const line = (cmd: string) => exchange(cmd + "\r\n", /\r\n$/);
  const multi = (cmd: string) => exchange(cmd + "\r\n", /(^|\r\n)(-ERR [^\r\n]*|\.)\r\n$/);
  return { socket, done, line, multi };
}

Deno.test("pop3 sessions on a real store", async (t) => {
  const env = await setup();
  const locks = new MaildropLocks();
  const auth = new Authenticator(env.store, { dummyIterations: 1_000 });
  const messages = [
    "Subject: one\r\n\r\nUTF-8: Grüße ✉\r\n",
    "Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n",
    "Subject: three\r\n\r\nthird\r\n",
  ];
  try {
    for (const m of messages) await env.deliver(ALICE, m);
    const a = session(env.store, locks, auth);
    await a.socket.waitFor(/^\+OK /);

    await t.step("USER/PASS opens the maildrop (mixed-case address)", async () => {
      assert.equal(await a.line("USER Alice@Example.ORG"), "+OK Send PASS\r\n");
      assert.match(await a.line(`PASS ${PASSWORD}`), /^\+OK Logged in, 3 messages/);
    });
    await t.step("LIST sizes equal RETR octets and the content is what was delivered", async () => {
      const list = (await a.multi("LIST")).split("\r\n").slice(1, -2);
      assert.equal(list.length, 3);
      for (const [i, entry] of list.entries()) {
        const [n, size] = entry.split(" ").map(Number);
        assert.equal(n, i + 1);
        const out = await a.multi(`RETR ${n}`);
        assert.ok(out.startsWith(`+OK ${size} octets\r\n`), out);
        const body = out.slice(`+OK ${size} octets\r\n`.length, -3).replace(/^\./gm, "");
        assert.equal(body, messages[i]);
        assert.equal(enc.encode(body).length, size);
      }
    });
    await t.step("a second session for the same user gets [IN-USE]", async () => {
      const b = session(env.store, locks, auth);
      await b.socket.waitFor(/^\+OK /);
      await b.line(`USER ${ALICE}`);
      assert.equal(
        await b.line(`PASS ${PASSWORD}`),
        "-ERR [IN-USE] Maildrop is locked by another session\r\n",
      );
      await b.line("QUIT");
      await b.done;
    });
    let uidls: string[] = [];
    await t.step("DELE and QUIT remove from the store", async () => {
      uidls = (await a.multi("UIDL")).split("\r\n").slice(1, -2).map((l) => l.split(" ")[1]);
      assert.equal(new Set(uidls).size, 3);
      await a.line("DELE 2");
      assert.match(await a.line("QUIT"), /^\+OK /);
      await a.done;
      const box = await env.store.getMailbox(ALICE, "INBOX");
      assert.equal((await env.store.listMessages(box!.id)).length, 2);
    });
    await t.step("the next session sees the rest with the same UIDLs", async () => {
      const c = session(env.store, locks, auth);
      await c.socket.waitFor(/^\+OK /);
      await c.line(`USER ${ALICE}`);
      assert.match(await c.line(`PASS ${PASSWORD}`), /^\+OK Logged in, 2 messages/);
      const again = (await c.multi("UIDL")).split("\r\n").slice(1, -2);
      assert.deepEqual(again, [`1 ${uidls[0]}`, `2 ${uidls[2]}`]);
      await c.line("QUIT");
      await c.done;
    });
    await t.step("a wrong password and an unknown user look the same", async () => {
      const d = session(env.store, locks, auth);
      await d.socket.waitFor(/^\+OK /);
      await d.line(`USER ${ALICE}`);
      const wrong = await d.line("PASS not the password");
      await d.line("USER nobody@example.org");
      const unknown = await d.line(`PASS ${PASSWORD}`);
      assert.equal(wrong, "-ERR [AUTH] Invalid user name or password\r\n");
      assert.equal(unknown, wrong);
      await d.line("QUIT");
      await d.done;
    });
  } finally {
    await env.store.close();
    await Deno.remove(env.dir, { recursive: true });
  }
});

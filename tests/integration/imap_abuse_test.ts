/**
 * IMAP abuse against the real server: garbage bytes, literals left unfinished, literals over
 * the limits (RFC 7888 §4: sync → NO [TOOBIG], non-sync → BYE), a 100 KB command line,
 * commands in the wrong state, clients that vanish in IDLE, and many sessions idling then
 * vanishing at once. After each, a fresh client logs in and FETCHes whole messages, and the
 * server process is still running.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ImapClient, literalsOf, numbered } from "../helpers/imap_client.ts";
import { sendMail } from "../helpers/pop3_client.ts";
import { TestServer } from "../helpers/test_server.ts";

const USER = "mallory@test.example";
const PASSWORD = "abuse password";
const MAX_MESSAGE = 200_000;
/** Literals outside APPEND (runtime.ts IMAP_MAX_LITERAL). */
const MAX_LITERAL = 64 * 1024;
const MESSAGES = ["Subject: one\r\n\r\nfirst body\r\n", "Subject: two\r\n\r\nsecond body\r\n"];
const SESSIONS = 50;

/**
 * Opens a session and logs in, retrying while sessions the server has not yet seen end still
 * hold the per-user slots (bounded, condition-based).
 */
async function loginWhenFree(server: TestServer): Promise<ImapClient> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const c = await ImapClient.open(server.imapPort);
    const login = await c.command(`LOGIN ${USER} "${PASSWORD}"`);
    if (login.status === "OK") return c;
    c.close();
    if (login.code !== "LIMIT" || Date.now() > deadline) {
      throw new Error(`LOGIN failed: ${login.status} [${login.code}] ${login.text}`);
    }
  }
}

/** A fresh client logs in, SELECTs INBOX and FETCHes every message whole. */
async function serves(server: TestServer): Promise<void> {
  const c = await loginWhenFree(server);
  try {
    const select = await c.command("SELECT INBOX");
    assert.equal(select.status, "OK", select.text);
    const fetch = await c.command("FETCH 1:* (UID BODY.PEEK[])");
    assert.equal(fetch.status, "OK", fetch.text);
    const bodies = fetch.untagged.flatMap(literalsOf).filter((b) => /Subject: (one|two)/.test(b));
    assert.equal(bodies.length, MESSAGES.length, fetch.untagged.join(" | "));
    for (const [i, body] of bodies.entries()) assert.ok(body.endsWith(MESSAGES[i]), body);
    assert.equal((await c.command("LOGOUT")).status, "OK");
  } finally {
    c.close();
  }
}

Deno.test("imap abuse on a running server", async (t) => {
  const server = await TestServer.start({
    limits: {
      max_message_size: MAX_MESSAGE,
      max_connections_per_ip: SESSIONS + 20,
      max_connections_per_user: SESSIONS + 10,
      max_errors: 10,
    },
  });
  let exited = false;
  server.process.status.then(() => exited = true);
  const alive = () => assert.equal(exited, false, `the server died:\n${server.output.text}`);
  try {
    await server.addUser(USER, PASSWORD);
    for (const m of MESSAGES) await sendMail(server.smtpPort, USER, m);
    await serves(server);

    await t.step("garbage bytes: BAD or BYE, never a crash", async () => {
      const c = await ImapClient.open(server.imapPort);
      try {
        const junk = new Uint8Array(8192);
        crypto.getRandomValues(junk);
        await c.send(junk);
        await c.send("\r\n\x00\x00\x00\r\n\xff\xfe\r\n");
        // Garbage is BAD each line; after max_errors of them the server says BYE and closes.
        assert.equal(await c.closedByServer(), true);
        assert.ok(c.unsolicited.some((l) => /^\* BAD /.test(l) || / BAD /.test(l)));
        assert.ok(c.unsolicited.some((l) => /^\* BYE /.test(l)), c.unsolicited.join(" | "));
      } finally {
        c.close();
      }
      alive();
      await serves(server);
    });

    await t.step("an unterminated literal, then a hang-up", async () => {
      const before = await ImapClient.open(server.imapPort);
      await before.send("a1 LOGIN {500}\r\n");
      await before.expectContinuation();
      await before.send("only a few octets");
      before.close();
      const after = await ImapClient.login(server.imapPort, USER, PASSWORD);
      await after.command("SELECT INBOX");
      await after.send(`a2 APPEND INBOX {${MAX_MESSAGE - 10}+}\r\nSubject: half\r\n\r\n`);
      await after.send("x".repeat(50_000));
      after.close();
      alive();
      await serves(server);
    });

    await t.step(
      "a sync literal over the limit: NO [TOOBIG], no +, the session goes on",
      async () => {
        const c = await ImapClient.login(server.imapPort, USER, PASSWORD);
        try {
          // Refused while framing, before the command (and its state) is known.
          await c.send(`b1 LOGIN {${MAX_LITERAL + 1}}\r\n`);
          const refused = await c.completion("b1");
          assert.equal(refused.status, "NO");
          assert.equal(refused.code, "TOOBIG");
          await c.send(`b2 CREATE {${MAX_LITERAL + 1}}\r\n`);
          const created = await c.completion("b2");
          assert.equal(created.status, "NO");
          assert.equal(created.code, "TOOBIG");
          await c.send(`b3 APPEND INBOX {${MAX_MESSAGE + 1}}\r\n`);
          const appended = await c.completion("b3");
          assert.equal(appended.status, "NO");
          assert.equal(appended.code, "TOOBIG");
          assert.equal((await c.command("NOOP")).status, "OK");
        } finally {
          c.close();
        }
        alive();
        await serves(server);
      },
    );

    await t.step("a non-sync literal over the limit: BYE and the connection closes", async () => {
      const c = await ImapClient.login(server.imapPort, USER, PASSWORD);
      try {
        await c.send(`c1 APPEND INBOX {${MAX_MESSAGE + 1}+}\r\nSubject: big\r\n\r\n`);
        assert.equal(await c.closedByServer(), true);
        assert.ok(c.unsolicited.some((l) => /^\* BYE /.test(l)), c.unsolicited.join(" | "));
        assert.ok(!c.unsolicited.some((l) => /^c1 OK/.test(l)));
      } finally {
        c.close();
      }
      alive();
      await serves(server);
    });

    await t.step("a 100 KB command line: BYE and the connection closes", async () => {
      const c = await ImapClient.open(server.imapPort);
      try {
        await c.send(`d1 LOGIN ${"u".repeat(100 * 1024)} pass\r\n`).catch(() => {});
        assert.equal(await c.closedByServer(), true);
        assert.ok(c.unsolicited.some((l) => /^\* BYE /.test(l)), c.unsolicited.join(" | "));
      } finally {
        c.close();
      }
      alive();
      await serves(server);
    });

    await t.step("commands in the wrong state: BAD, the session goes on", async () => {
      const c = await ImapClient.open(server.imapPort);
      try {
        for (const text of ["SELECT INBOX", "FETCH 1 FLAGS", "IDLE", "APPEND INBOX {1+}\r\nx"]) {
          assert.equal((await c.command(text)).status, "BAD", text);
        }
        assert.equal((await c.command(`LOGIN ${USER} "${PASSWORD}"`)).status, "OK");
        for (const text of ["FETCH 1 FLAGS", "EXPUNGE", `LOGIN ${USER} x`, "STARTTLS"]) {
          assert.equal((await c.command(text)).status, "BAD", text);
        }
        assert.equal((await c.command("SELECT INBOX")).status, "OK");
        assert.equal((await c.command("ENABLE CONDSTORE")).status, "BAD");
        const fetch = await c.command("FETCH 1:* (FLAGS)");
        assert.equal(numbered(fetch.untagged, "FETCH").length, MESSAGES.length);
      } finally {
        c.close();
      }
      alive();
      await serves(server);
    });

    await t.step("clear text on the imaps port is dropped; TLS clients still served", async () => {
      const plain = await ImapClient.connect(server.imapsPort);
      try {
        await plain.send("a1 LOGIN x y\r\n".repeat(50)).catch(() => {});
        assert.equal(await plain.closedByServer(), true);
      } finally {
        plain.close();
      }
      const caCert = await Deno.readTextFile(join(server.dir, "keys", "cert.pem"));
      const c = await ImapClient.open(server.imapsPort, { tls: { caCert } });
      try {
        assert.ok(!c.greeting.includes("STARTTLS"), c.greeting);
        assert.equal((await c.command(`LOGIN ${USER} "${PASSWORD}"`)).status, "OK");
        assert.equal((await c.command("SELECT INBOX")).status, "OK");
        const fetch = await c.command("FETCH 1:* (BODY.PEEK[])");
        assert.equal(fetch.untagged.flatMap(literalsOf).length, MESSAGES.length);
      } finally {
        c.close();
      }
      alive();
      await serves(server);
    });

    await t.step("clients that vanish in IDLE leave nothing behind", async () => {
      // More than max_connections_per_user in turn: a leaked per-user slot would lock us out.
      for (let i = 0; i < SESSIONS + 20; i++) {
        const c = await loginWhenFree(server);
        await c.command("SELECT INBOX");
        await c.idle();
        c.close();
      }
      alive();
      await serves(server);
      // A change now wakes no listener of a vanished session into a crash.
      await sendMail(server.smtpPort, USER, "Subject: ping\r\n\r\nwake the feed\r\n");
      const c = await ImapClient.login(server.imapPort, USER, PASSWORD);
      try {
        await c.command("SELECT INBOX");
        const r = await c.command("UID SEARCH SUBJECT ping");
        const uid = /^\* SEARCH (\d+)$/.exec(
          r.untagged.find((l) => l.startsWith("* SEARCH ")) ?? "",
        );
        assert.ok(uid, r.untagged.join(" | "));
        assert.equal((await c.command(`UID STORE ${uid[1]} +FLAGS (\\Deleted)`)).status, "OK");
        assert.equal((await c.command(`UID EXPUNGE ${uid[1]}`)).status, "OK");
      } finally {
        c.close();
      }
      alive();
      await serves(server);
    });

    await t.step(`${SESSIONS} sessions idle then vanish; a final client is served`, async () => {
      const clients = await Promise.all(
        Array.from({ length: SESSIONS }, async () => {
          const c = await ImapClient.login(server.imapPort, USER, PASSWORD);
          await c.command("SELECT INBOX");
          await c.idle();
          return c;
        }),
      );
      // All of them hear one delivery, then all vanish at once.
      await sendMail(server.smtpPort, USER, "Subject: crowd\r\n\r\nfor everyone\r\n");
      await Promise.all(clients.map((c) => c.waitUntagged(/^\* \d+ EXISTS$/, 10_000)));
      for (const c of clients) c.close();
      alive();
      const c = await ImapClient.login(server.imapPort, USER, PASSWORD);
      try {
        await c.command("SELECT INBOX");
        const r = await c.command("UID SEARCH SUBJECT crowd");
        const uid = /^\* SEARCH (\d+)$/.exec(
          r.untagged.find((l) => l.startsWith("* SEARCH ")) ?? "",
        );
        assert.ok(uid, r.untagged.join(" | "));
        await c.command(`UID STORE ${uid[1]} +FLAGS (\\Deleted)`);
        assert.equal((await c.command(`UID EXPUNGE ${uid[1]}`)).status, "OK");
      } finally {
        c.close();
      }
      await serves(server);
      alive();
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

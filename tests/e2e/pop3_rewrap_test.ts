/**
 * The real server, a POP3 session and SMTP delivery: mail that arrived while the user was away
 * is re-wrapped in the store right after their POP3 login, while the session sits idle (no
 * RETR asked for it); mail that arrives while they are logged in is stored wrapped under their
 * mailbox key at once; both read back intact through RETR. An IMAP LOGIN re-wraps the same way. The store file is read directly
 * (SQLite, read-only) to see how each message's key is wrapped.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { ImapClient } from "../helpers/imap_client.ts";
import { Pop3Client, sendMail, startServer } from "../helpers/pop3_client.ts";

const USER = "rewrap@test.example";
const PASSWORD = "rewrap e2e password";
const AWAY = 12;

function message(n: number, word: string): string {
  return `From: <sender@remote.test>\r\nTo: <${USER}>\r\nSubject: ${word} ${n}\r\n\r\n` +
    `${word} body ${n}\r\n`;
}

/** How many of the store's messages have their key wrapped each way. */
function keyWraps(dbPath: string, user = USER): { rsa: number; sym: number } {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const count = (wrap: string) =>
      Number(
        (db.prepare(
          `SELECT count(*) AS n FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
           WHERE m.key_wrap = ? AND b.address = ?`,
        ).get(wrap, user) as { n: number }).n,
      );
    return { rsa: count("rsa"), sym: count("sym") };
  } finally {
    db.close();
  }
}

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

Deno.test("POP3 login re-wraps mail from while away; mail while logged in needs no RSA", async () => {
  const server = await startServer();
  try {
    await server.addUser(USER, PASSWORD);
    for (let n = 1; n <= AWAY; n++) await sendMail(server.smtpPort, USER, message(n, "away"));
    assert.deepEqual(keyWraps(server.dbPath), { rsa: AWAY, sym: 0 });

    const pop = await Pop3Client.open(server.pop3Port);
    try {
      assert.match(await pop.login(USER, PASSWORD), /^\+OK/);
      // Nothing is read: the login alone re-wraps every key.
      await until("the login's re-wrap", () => keyWraps(server.dbPath).rsa === 0);
      assert.deepEqual(keyWraps(server.dbPath), { rsa: 0, sym: AWAY });

      await sendMail(server.smtpPort, USER, message(AWAY + 1, "online"));
      assert.deepEqual(keyWraps(server.dbPath), { rsa: 0, sym: AWAY + 1 });

      // The maildrop is the INBOX as it was at login (RFC 1939): the away messages.
      for (let n = 1; n <= AWAY; n++) {
        const got = await pop.commandMulti(`RETR ${n}`);
        assert.match(got.status, /^\+OK/);
        assert.ok(got.lines.includes(`away body ${n}`), `message ${n}`);
      }
      assert.match(await pop.command("QUIT"), /^\+OK/);
    } finally {
      pop.close();
    }

    const again = await Pop3Client.open(server.pop3Port);
    try {
      assert.match(await again.login(USER, PASSWORD), /^\+OK/);
      const got = await again.commandMulti(`RETR ${AWAY + 1}`);
      assert.ok(got.lines.includes(`online body ${AWAY + 1}`));
      assert.match(await again.command("QUIT"), /^\+OK/);
    } finally {
      again.close();
    }
    assert.deepEqual(keyWraps(server.dbPath), { rsa: 0, sym: AWAY + 1 });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

Deno.test("IMAP LOGIN re-wraps mail from while away, before any FETCH", async () => {
  const server = await startServer();
  const user = "imap-rewrap@test.example";
  try {
    await server.addUser(user, PASSWORD);
    for (let n = 1; n <= AWAY; n++) await sendMail(server.smtpPort, user, message(n, "away"));
    assert.deepEqual(keyWraps(server.dbPath, user), { rsa: AWAY, sym: 0 });
    const imap = await ImapClient.login(server.imapPort, user, PASSWORD);
    try {
      await until("the login's re-wrap", () => keyWraps(server.dbPath, user).rsa === 0);
      assert.deepEqual(keyWraps(server.dbPath, user), { rsa: 0, sym: AWAY });
      assert.equal((await imap.command("SELECT INBOX")).status, "OK");
      const fetched = await imap.command("UID FETCH 1:* (BODY.PEEK[TEXT])");
      assert.equal(fetched.status, "OK");
      const untagged = fetched.untagged.join("\n");
      for (let n = 1; n <= AWAY; n++) assert.ok(untagged.includes(`away body ${n}`), `${n}`);
    } finally {
      imap.close();
    }
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

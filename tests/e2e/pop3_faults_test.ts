/**
 * POP3 bad input and faults against the real server: wrong states, unknown commands, garbage,
 * over-long lines, the maildrop lock, dropped connections, a crash right after QUIT, wrong
 * passwords and the failure delay, mail arriving mid-session, UIDL stability. After each
 * fault the server must still serve another client.
 */
import assert from "node:assert/strict";
import type { TestServer } from "../helpers/test_server.ts";
import { countMessages } from "../helpers/read_mail.ts";
import { Pop3Client, sendMail, startServer } from "../helpers/pop3_client.ts";

const USER = "faulty@test.example";
const PASSWORD = "fault injection password";
const FAILURE_DELAY_MS = 400;

/** A whole session on a fresh connection: login, STAT, QUIT; the message count. */
async function serves(server: TestServer, user = USER, password = PASSWORD): Promise<number> {
  const c = await Pop3Client.open(server.pop3sPort, { tls: true });
  try {
    const reply = await loginWhenFree(c, user, password);
    assert.match(reply, /^\+OK Logged in/);
    const stat = /^\+OK (\d+) \d+$/.exec(await c.command("STAT"));
    assert.ok(stat);
    assert.match(await c.command("QUIT"), /^\+OK /);
    assert.equal(await c.closedByServer(), true);
    return Number(stat[1]);
  } finally {
    c.close();
  }
}

/**
 * Logs in, retrying while the maildrop is still locked by a session the server has not yet
 * seen end (a client that just hung up); bounded, condition-based.
 */
async function loginWhenFree(c: Pop3Client, user: string, password: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const reply = await c.login(user, password);
    if (!reply.includes("[IN-USE]") || Date.now() > deadline) return reply;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** UIDL of a fresh session, as [n, uid] lines. */
async function uidls(server: TestServer): Promise<string[]> {
  const c = await Pop3Client.open(server.pop3Port);
  try {
    assert.match(await loginWhenFree(c, USER, PASSWORD), /^\+OK/);
    const r = await c.commandMulti("UIDL");
    await c.command("QUIT");
    return r.lines;
  } finally {
    c.close();
  }
}

Deno.test("pop3 faults on a running server", async (t) => {
  const server = await startServer({
    auth: { failure_delay: `${FAILURE_DELAY_MS}ms` },
    limits: { max_errors: 20 },
  });
  try {
    await server.addUser(USER, PASSWORD);
    for (let i = 1; i <= 3; i++) {
      await sendMail(server.smtpPort, USER, `Subject: m${i}\r\n\r\nbody ${i}\r\n.dot\r\n`);
    }

    await t.step("plaintext USER/PASS over the non-TLS port from loopback is allowed", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      try {
        const capa = await c.commandMulti("CAPA");
        assert.ok(capa.lines.includes("USER"));
        assert.ok(capa.lines.includes("STLS"));
        assert.match(await c.login(USER, PASSWORD), /^\+OK Logged in, 3 messages/);
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
      assert.equal(await serves(server), 3);
    });

    await t.step("commands in the wrong state", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      try {
        for (const cmd of ["STAT", "LIST", "UIDL", "RETR 1", "TOP 1 0", "DELE 1", "RSET", "NOOP"]) {
          assert.equal(await c.command(cmd), "-ERR Log in first (USER/PASS or AUTH)", cmd);
        }
        assert.equal(await c.command("PASS x"), "-ERR Send USER first");
        assert.match(await c.login(USER, PASSWORD), /^\+OK/);
        for (const cmd of [`USER ${USER}`, `PASS ${PASSWORD}`, "AUTH PLAIN", "APOP a b"]) {
          assert.equal(
            await c.command(cmd),
            "-ERR Order Error: Client already authenticated.",
            cmd,
          );
        }
        assert.equal(await c.command("STLS"), "-ERR STLS is only allowed before login");
        assert.match(await c.command("STAT"), /^\+OK 3 /);
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
      assert.equal(await serves(server), 3);
    });

    await t.step("unknown commands and garbage, until too many errors", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      try {
        for (const cmd of ["XTND XLIST", "LAST", "HELO x", "GET / HTTP/1.1", "EHLO pop.test"]) {
          assert.equal(await c.command(cmd), "-ERR Unknown command", cmd);
        }
        await c.send(new Uint8Array([0xff, 0xfe, 0xfd, 0x80, 13, 10]));
        assert.equal(await c.line(), "-ERR Command is not UTF-8 text");
        await c.send("US\0ER x\r\n");
        assert.equal(await c.line(), "-ERR Command holds control characters");
        // A TLS ClientHello on the plain port ends up as garbage lines too.
        const hello = new Uint8Array([
          0x16,
          0x03,
          0x01,
          0x00,
          0x2f,
          0x01,
          ...Array.from({ length: 60 }, (_, i) => i).filter((b) => b !== 10 && b !== 13),
          13,
          10,
        ]);
        await c.send(hello);
        assert.match(await c.line(), /^-ERR /);
        assert.match(await c.command("NOOP"), /^-ERR Log in first/, "still answering");
        // Keep going: the session is closed at max_errors (20).
        const flood = Array.from({ length: 20 }, (_, i) => `JUNK${i}\r\n`).join("");
        await c.send(flood);
        let last = "";
        for (;;) {
          last = await c.line();
          if (!last.startsWith("-ERR Unknown command")) break;
        }
        assert.equal(last, "-ERR Too many errors, closing connection");
        assert.equal(await c.closedByServer(), true);
      } finally {
        c.close();
      }
      assert.equal(await serves(server), 3);
    });

    await t.step("over-long lines are refused once each, then the session goes on", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      try {
        assert.equal(await c.command("NOOP " + "x".repeat(5000)), "-ERR Line too long");
        await c.send("Y".repeat(1 << 20));
        assert.equal(await c.line(), "-ERR Line too long");
        await c.send("Z".repeat(1 << 16) + "\r\nCAPA\r\n");
        const capa = await c.multi();
        assert.match(capa.status, /^\+OK Capability list follows/);
        assert.match(await c.login(USER, PASSWORD), /^\+OK/);
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
      assert.equal(await serves(server), 3);
    });

    await t.step("commands sent in clear with STLS are discarded (no injection)", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      try {
        assert.equal(await c.command(`USER ${USER}`), "+OK Send PASS");
        await c.stls(undefined, `PASS ${PASSWORD}\r\n`);
        assert.equal(c.encrypted, true);
        assert.equal(await c.command("STAT"), "-ERR Log in first (USER/PASS or AUTH)");
        assert.equal(await c.command(`PASS ${PASSWORD}`), "-ERR Send USER first");
        assert.match(await c.login(USER, PASSWORD), /^\+OK Logged in/);
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
      assert.equal(await serves(server), 3);
    });

    await t.step("STLS followed by something that is not a TLS handshake", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      try {
        assert.match(await c.command("STLS"), /^\+OK Begin TLS/);
        await c.send("USER not a client hello\r\nPASS x\r\n");
        assert.equal(await c.closedByServer(), true);
      } finally {
        c.close();
      }
      assert.equal(await serves(server), 3);
    });

    await t.step("plain text on the implicit TLS port", async () => {
      const c = await Pop3Client.connect(server.pop3sPort);
      try {
        await c.send(`USER ${USER}\r\nPASS ${PASSWORD}\r\n`);
        assert.equal(await c.closedByServer(), true);
        assert.doesNotMatch(c.pending, /\+OK/);
      } finally {
        c.close();
      }
      assert.equal(await serves(server), 3);
    });

    await t.step("a wrong password gets -ERR [AUTH] after the failure delay", async () => {
      const c = await Pop3Client.open(server.pop3sPort, { tls: true });
      try {
        assert.equal(await c.command(`USER ${USER}`), "+OK Send PASS");
        const started = Date.now();
        assert.equal(
          await c.command("PASS wrong password"),
          "-ERR [AUTH] Invalid user name or password",
        );
        const waited = Date.now() - started;
        assert.ok(waited >= FAILURE_DELAY_MS - 20, `answered after ${waited} ms`);
        assert.equal(await c.command("USER nobody@test.example"), "+OK Send PASS");
        assert.equal(
          await c.command(`PASS ${PASSWORD}`),
          "-ERR [AUTH] Invalid user name or password",
          "an unknown user gets the same answer",
        );
        assert.match(await c.login(USER, PASSWORD), /^\+OK Logged in/);
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
      assert.equal(await serves(server), 3);
    });

    await t.step("three wrong passwords in one session close it", async () => {
      const c = await Pop3Client.open(server.pop3sPort, { tls: true });
      try {
        for (let i = 0; i < 3; i++) {
          assert.match(await c.login(USER, `wrong ${i}`), /^-ERR \[AUTH\] /);
        }
        assert.equal(await c.closedByServer(), true);
      } finally {
        c.close();
      }
      assert.equal(await serves(server), 3);
    });

    await t.step("a second session gets [IN-USE] until the first QUITs", async () => {
      const first = await Pop3Client.open(server.pop3Port);
      const second = await Pop3Client.open(server.pop3sPort, { tls: true });
      try {
        assert.match(await first.login(USER, PASSWORD), /^\+OK Logged in/);
        assert.equal(
          await second.login(USER, PASSWORD),
          "-ERR [IN-USE] Maildrop is locked by another session",
        );
        assert.match(await first.command("STAT"), /^\+OK 3 /, "the first session is unaffected");
        assert.match(await first.command("QUIT"), /^\+OK/);
        assert.equal(await first.closedByServer(), true);
        assert.match(await second.login(USER, PASSWORD), /^\+OK Logged in, 3 messages/);
        assert.match(await second.command("QUIT"), /^\+OK/);
      } finally {
        first.close();
        second.close();
      }
      assert.equal(await serves(server), 3);
    });

    await t.step("a connection dropped after DELE deletes nothing", async () => {
      const c = await Pop3Client.open(server.pop3sPort, { tls: true });
      assert.match(await c.login(USER, PASSWORD), /^\+OK/);
      assert.equal(await c.command("DELE 1"), "+OK Message 1 deleted");
      assert.equal(await c.command("DELE 2"), "+OK Message 2 deleted");
      c.close();
      assert.equal(await serves(server), 3);
      assert.equal(await countMessages(server.dbPath, USER), 3);
    });

    await t.step("RSET undoes DELE before QUIT", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      try {
        assert.match(await loginWhenFree(c, USER, PASSWORD), /^\+OK/);
        await c.command("DELE 1");
        assert.match(await c.command("RSET"), /^\+OK Maildrop has 3 messages/);
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
      assert.equal(await serves(server), 3);
    });

    await t.step("mail arriving during a session is not shown in it", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      try {
        assert.match(await loginWhenFree(c, USER, PASSWORD), /^\+OK Logged in, 3 messages/);
        const stat = await c.command("STAT");
        const list = await c.commandMulti("LIST");
        await sendMail(server.smtpPort, USER, "Subject: late\r\n\r\narrived mid-session\r\n");
        assert.equal(await countMessages(server.dbPath, USER), 4);
        assert.equal(await c.command("STAT"), stat);
        assert.deepEqual(await c.commandMulti("LIST"), list);
        assert.equal((await c.commandMulti("UIDL")).lines.length, 3);
        assert.equal(await c.command("RETR 4"), "-ERR No such message 4");
        assert.equal(await c.command("LIST 4"), "-ERR No such message 4");
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
      assert.equal(await serves(server), 4);
    });

    await t.step("UIDLs are unique and stable across sessions and deletions", async () => {
      const before = await uidls(server);
      assert.equal(before.length, 4);
      const ids = before.map((l) => l.split(" ")[1]);
      assert.equal(new Set(ids).size, 4);
      for (const id of ids) assert.match(id, /^[\x21-\x7e]{1,70}$/);
      assert.deepEqual(await uidls(server), before);
      const c = await Pop3Client.open(server.pop3Port);
      try {
        assert.match(await loginWhenFree(c, USER, PASSWORD), /^\+OK/);
        assert.equal(await c.command("DELE 2"), "+OK Message 2 deleted");
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
      const after = await uidls(server);
      assert.deepEqual(after, [`1 ${ids[0]}`, `2 ${ids[2]}`, `3 ${ids[3]}`]);
      await sendMail(server.smtpPort, USER, "Subject: newer\r\n\r\nnew uid\r\n");
      const newest = await uidls(server);
      assert.equal(newest.length, 4);
      assert.ok(!ids.includes(newest[3].split(" ")[1]), "a new message gets a new UIDL");
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

Deno.test("pop3 crash and shutdown: only QUIT deletes, and its deletion is durable", async (t) => {
  let server = await startServer();
  const dir = server.dir;
  try {
    await server.addUser(USER, PASSWORD);
    for (let i = 1; i <= 3; i++) {
      await sendMail(server.smtpPort, USER, `Subject: c${i}\r\n\r\ncrash ${i}\r\n`);
    }
    const ids = (await uidls(server)).map((l) => l.split(" ")[1]);

    await t.step("SIGKILL right after QUIT's +OK: the deletion survives the restart", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      try {
        assert.match(await c.login(USER, PASSWORD), /^\+OK/);
        assert.equal(await c.command("DELE 2"), "+OK Message 2 deleted");
        assert.match(await c.command("QUIT"), /^\+OK /);
        await server.kill();
      } finally {
        c.close();
      }
      server = await startServer({ dir });
      assert.equal(await countMessages(server.dbPath, USER), 2);
      assert.deepEqual(await uidls(server), [`1 ${ids[0]}`, `2 ${ids[2]}`]);
    });

    await t.step("SIGKILL after DELE without QUIT: nothing is deleted", async () => {
      const c = await Pop3Client.open(server.pop3sPort, { tls: true });
      try {
        assert.match(await c.login(USER, PASSWORD), /^\+OK/);
        assert.equal(await c.command("DELE 1"), "+OK Message 1 deleted");
        await server.kill();
        assert.equal(await c.closedByServer(), true);
      } finally {
        c.close();
      }
      server = await startServer({ dir });
      assert.deepEqual(await uidls(server), [`1 ${ids[0]}`, `2 ${ids[2]}`]);
      assert.equal(await serves(server), 2);
    });

    await t.step(
      "SIGTERM with a DELE pending: the session is told, nothing is deleted",
      async () => {
        const c = await Pop3Client.open(server.pop3Port);
        try {
          assert.match(await c.login(USER, PASSWORD), /^\+OK/);
          assert.equal(await c.command("DELE 2"), "+OK Message 2 deleted");
          assert.equal(await server.stop(), 0);
          assert.equal(await c.line(), "-ERR [SYS/TEMP] Server shutting down");
          assert.equal(await c.closedByServer(), true);
        } finally {
          c.close();
        }
        server = await startServer({ dir });
        assert.deepEqual(await uidls(server), [`1 ${ids[0]}`, `2 ${ids[2]}`]);
        assert.equal(await serves(server), 2);
      },
    );
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

Deno.test("pop3 connection limit per address", async () => {
  const server = await startServer({ limits: { max_connections_per_ip: 2 } });
  const open: Pop3Client[] = [];
  try {
    await server.addUser(USER, PASSWORD);
    open.push(await Pop3Client.open(server.pop3Port));
    open.push(await Pop3Client.open(server.pop3sPort, { tls: true }));
    const third = await Pop3Client.connect(server.pop3Port);
    open.push(third);
    assert.equal(await third.line(), "-ERR [SYS/TEMP] Too many connections, try again later");
    assert.equal(await third.closedByServer(), true);
    const other = await Pop3Client.open(server.pop3Port, { localAddress: "127.0.0.2" });
    open.push(other);
    assert.match(await other.command("QUIT"), /^\+OK/);
    assert.match(await open[0].command("QUIT"), /^\+OK/);
    assert.equal(await open[0].closedByServer(), true);
    // The slot is free once the server has seen the first connection go.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const c = await Pop3Client.connect(server.pop3Port);
      open.push(c);
      const greeting = await c.line();
      if (greeting.startsWith("+OK")) {
        assert.match(await c.login(USER, PASSWORD), /^\+OK Logged in/);
        assert.match(await c.command("QUIT"), /^\+OK/);
        break;
      }
      assert.ok(Date.now() < deadline, "the connection slot was never freed");
      c.close();
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    for (const c of open) c.close();
    await server.stop();
    await server.cleanup();
  }
});

/**
 * Slow clients ("slowloris") against the real server over real sockets: a client trickling
 * one octet a second inside a command line or a message is cut at its deadline in every
 * protocol, and its slot comes back, while a normal client is served meanwhile; an IMAP client
 * in IDLE, which sends nothing, is not cut.
 */
import assert from "node:assert/strict";
import { ImapClient } from "../helpers/imap_client.ts";
import { Pop3Client } from "../helpers/pop3_client.ts";
import { RawClient } from "../helpers/raw_client.ts";
import { countMessages } from "../helpers/read_mail.ts";
import { TestServer } from "../helpers/test_server.ts";

const USER = "alice@test.example";
const PASSWORD = "slow test password";
/** limits.command_timeout: the idle time, and the grace of a message transfer. */
const COMMAND_TIMEOUT_MS = 2000;
/** limits.line_deadline. */
const LINE_DEADLINE_MS = 4000;
/** The client's pace: the one octet a second, so each octet beats the idle timeout. */
const ONE_PER_SECOND = 1000;
/** Slack for a loaded machine when checking when a cut came. */
const SLACK_MS = 4000;
const PER_IP = 5;

/** Sends `text` one octet at a time until all is sent, the server hangs up, or `stop()`. */
function trickle(
  send: (octet: string) => Promise<unknown>,
  text: string,
  everyMs = ONE_PER_SECOND,
) {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: () => void = () => {};
  const done = (async () => {
    for (const octet of text) {
      if (stopped) return;
      try {
        await send(octet);
      } catch {
        return; // the server closed the connection
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, everyMs);
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      wake();
      await done;
    },
  };
}

/** Milliseconds since `start`. */
const since = (start: number) => Date.now() - start;

/** A normal, complete SMTP transaction; returns the final reply code. */
async function normalMail(port: number): Promise<number> {
  const c = await RawClient.connect(port);
  try {
    assert.equal((await c.reply()).code, 220);
    assert.equal((await c.command("EHLO normal.test")).code, 250);
    assert.equal((await c.command("MAIL FROM:<n@remote.test>")).code, 250);
    assert.equal((await c.command(`RCPT TO:<${USER}>`)).code, 250);
    assert.equal((await c.command("DATA")).code, 354);
    const done = await c.command("Subject: normal\r\n\r\nserved meanwhile\r\n.");
    assert.equal((await c.command("QUIT")).code, 221);
    return done.code;
  } finally {
    c.close();
  }
}

/** Counts the server's log lines matching `pattern`. */
function logLines(server: TestServer, pattern: RegExp): string[] {
  return server.output.text.split("\n").filter((line) => pattern.test(line));
}

Deno.test("slow clients are cut over real sockets", async (t) => {
  const server = await TestServer.start({
    limits: {
      command_timeout: `${COMMAND_TIMEOUT_MS / 1000}s`,
      line_deadline: `${LINE_DEADLINE_MS / 1000}s`,
      max_connections_per_ip: PER_IP,
    },
  });
  try {
    await server.addUser(USER, PASSWORD);
    const port = server.smtpPort;

    await t.step(
      "1 B/s SMTP command lines are cut at the deadline and free their slots",
      async () => {
        const clients = await Promise.all(
          Array.from({ length: PER_IP }, () => RawClient.connect(port)),
        );
        for (const c of clients) assert.equal((await c.reply()).code, 220);
        const start = Date.now();
        const slow = clients.map((c) =>
          trickle((o) => c.send(o), "MAIL FROM:<trickle@remote.test>")
        );
        // Every slot of this address is held: one more connection is refused.
        const extra = await RawClient.connect(port);
        assert.equal((await extra.reply()).code, 421);
        extra.close();
        for (const c of clients) {
          const cut = await c.reply(LINE_DEADLINE_MS + SLACK_MS);
          assert.equal(cut.code, 421);
          assert.match(cut.text, /^421 4\.4\.2 /);
          assert.ok(await c.closedByServer());
        }
        const took = since(start);
        assert.ok(took >= LINE_DEADLINE_MS - 100, `cut after ${took} ms`);
        assert.ok(took < LINE_DEADLINE_MS + SLACK_MS, `cut after ${took} ms`);
        await Promise.all(slow.map((s) => s.stop()));
        clients.forEach((c) => c.close());
        // The slots came back: a normal client is served.
        assert.equal(await normalMail(port), 250);
        await server.waitForOutput(/smtp\.too_slow(.*\n[^]*smtp\.too_slow){4}/);
        const logged = logLines(server, /smtp\.too_slow/);
        assert.equal(logged.length, PER_IP);
        for (const line of logged) {
          assert.match(line, /state=connected read=line octets=\d+ ms=\d+/);
          assert.doesNotMatch(line, /trickle|MAIL/);
        }
      },
    );

    await t.step("1 B/s DATA is cut while a normal client is served", async () => {
      const before = await countMessages(server.dbPath, USER);
      const c = await RawClient.connect(port);
      assert.equal((await c.reply()).code, 220);
      assert.equal((await c.command("EHLO slow.test")).code, 250);
      assert.equal((await c.command("MAIL FROM:<slow@remote.test>")).code, 250);
      assert.equal((await c.command(`RCPT TO:<${USER}>`)).code, 250);
      assert.equal((await c.command("DATA")).code, 354);
      const start = Date.now();
      const slow = trickle((o) => c.send(o), "Subject: slow\r\n\r\n" + "x".repeat(200));
      assert.equal(await normalMail(port), 250);
      const cut = await c.reply(COMMAND_TIMEOUT_MS + SLACK_MS);
      const took = since(start);
      assert.match(cut.text, /^421 4\.4\.2 /);
      assert.ok(await c.closedByServer());
      await slow.stop();
      c.close();
      // After the grace each octet buys 10 ms at 100 octets/s: cut soon after the grace.
      assert.ok(took >= COMMAND_TIMEOUT_MS - 100, `cut after ${took} ms`);
      assert.ok(took < COMMAND_TIMEOUT_MS + SLACK_MS, `cut after ${took} ms`);
      assert.equal(await countMessages(server.dbPath, USER), before + 1, "only the normal one");
      await server.waitForOutput(/smtp\.too_slow cid=\w+ state=rcpt read=data/);
    });

    await t.step("a 1 B/s SMTP AUTH response line is cut with 421", async () => {
      const c = await RawClient.connect(server.submissionPort);
      try {
        assert.equal((await c.reply()).code, 220);
        assert.equal((await c.command("EHLO slow.test")).code, 250);
        assert.equal((await c.command("AUTH PLAIN")).code, 334);
        const start = Date.now();
        const slow = trickle((o) => c.send(o), btoa(`\0${USER}\0${PASSWORD}`) + "\r\n");
        const cut = await c.reply(LINE_DEADLINE_MS + SLACK_MS);
        const took = since(start);
        await slow.stop();
        assert.equal(cut.code, 421);
        assert.ok(took < LINE_DEADLINE_MS + SLACK_MS, `${took}`);
        await server.waitForOutput(/smtp\.too_slow cid=\w+ state=ready read=line/);
      } finally {
        c.close();
      }
    });

    await t.step("a 1 B/s POP3 command line is cut long before the 10-minute idle", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      const start = Date.now();
      const slow = trickle((o) => c.send(o), `USER ${USER}\r\n`);
      const cut = await c.line(LINE_DEADLINE_MS + SLACK_MS);
      const took = since(start);
      assert.match(cut, /^-ERR /);
      await assert.rejects(c.line(SLACK_MS), /closed/);
      await slow.stop();
      assert.ok(took >= LINE_DEADLINE_MS - 100 && took < LINE_DEADLINE_MS + SLACK_MS, `${took}`);
      await server.waitForOutput(/pop3\.too_slow cid=\w+ state=authorization read=line/);
    });

    await t.step("a 1 B/s IMAP command line is cut with BYE", async () => {
      const c = await ImapClient.open(server.imapPort);
      const start = Date.now();
      const slow = trickle((o) => c.send(o), `a1 LOGIN ${USER} "${PASSWORD}"\r\n`);
      assert.ok(await c.closedByServer(LINE_DEADLINE_MS + SLACK_MS));
      const took = since(start);
      await slow.stop();
      c.close();
      assert.ok(c.unsolicited.some((l) => /^\* BYE /.test(l)), c.unsolicited.join(" | "));
      assert.ok(took >= LINE_DEADLINE_MS - 100 && took < LINE_DEADLINE_MS + SLACK_MS, `${took}`);
      await server.waitForOutput(/imap\.too_slow cid=\w+ state=not-authenticated read=line/);
    });

    await t.step("an IMAP line continued after a literal has its own deadline", async () => {
      const c = await ImapClient.open(server.imapPort);
      await c.send("a1 LOGIN {18}\r\n");
      await c.expectContinuation();
      await c.send(USER);
      const start = Date.now();
      const slow = trickle((o) => c.send(o), ` "${PASSWORD}"\r\n`);
      assert.ok(await c.closedByServer(LINE_DEADLINE_MS + SLACK_MS));
      const took = since(start);
      await slow.stop();
      c.close();
      assert.ok(c.unsolicited.some((l) => /^\* BYE /.test(l)), c.unsolicited.join(" | "));
      assert.ok(took >= LINE_DEADLINE_MS - 100 && took < LINE_DEADLINE_MS + SLACK_MS, `${took}`);
    });

    await t.step("an APPEND literal trickled at 1 B/s is cut and nothing is stored", async () => {
      const before = await countMessages(server.dbPath, USER);
      const c = await ImapClient.login(server.imapPort, USER, PASSWORD);
      const message = "Subject: appended slowly\r\n\r\n" + "y".repeat(200) + "\r\n";
      await c.send(`a2 APPEND INBOX {${message.length}}\r\n`);
      await c.expectContinuation();
      const start = Date.now();
      const slow = trickle((o) => c.send(o), message);
      // Logged in, the idle timeout is 30 minutes: only the minimum rate can cut this.
      assert.ok(await c.closedByServer(COMMAND_TIMEOUT_MS + SLACK_MS));
      const took = since(start);
      await slow.stop();
      c.close();
      assert.ok(c.unsolicited.some((l) => /^\* BYE /.test(l)), c.unsolicited.join(" | "));
      assert.ok(took >= COMMAND_TIMEOUT_MS - 100 && took < COMMAND_TIMEOUT_MS + SLACK_MS);
      await server.waitForOutput(/imap\.too_slow cid=\w+ state=authenticated read=data/);
      assert.equal(await countMessages(server.dbPath, USER), before);
    });

    await t.step("an IMAP client in IDLE sends nothing and is not cut", async () => {
      const c = await ImapClient.login(server.imapPort, USER, PASSWORD);
      assert.equal((await c.command("SELECT INBOX")).status, "OK");
      const tag = await c.idle();
      // Past the line deadline and the content grace: an idle client is left alone.
      assert.equal(await c.closedByServer(LINE_DEADLINE_MS + COMMAND_TIMEOUT_MS), false);
      assert.equal((await c.done(tag)).status, "OK");
      assert.equal((await c.command("LOGOUT")).status, "OK");
      c.close();
    });

    const logged = server.output.text;
    assert.doesNotMatch(logged, new RegExp(PASSWORD), "no trickled octets in the log");
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

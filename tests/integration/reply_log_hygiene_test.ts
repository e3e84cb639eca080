/**
 * What the server says back and what it logs, over real sockets against the real server:
 * client text quoted in a reply is printable ASCII (bidi overrides, C1 controls and BOMs are
 * escaped, not echoed), log lines carry no raw bidi control, and a failed login logs the user
 * name only when it names a user (a hash otherwise, so a password typed as the user name never
 * lands in the log).
 */
import assert from "node:assert/strict";
import { ImapClient, quote } from "../helpers/imap_client.ts";
import { Pop3Client } from "../helpers/pop3_client.ts";
import { RawClient } from "../helpers/raw_client.ts";
import { TestServer } from "../helpers/test_server.ts";

const USER = "alice@test.example";
const PASSWORD = "correct horse battery";
/** Code points a reply or a log line must never carry raw. */
const HOSTILE = /[\u0080-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

/** AUTH PLAIN's initial response for `user` and `password` (RFC 4616). */
function plain(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`\0${user}\0${password}`);
  return btoa(String.fromCharCode(...bytes));
}

/** Asserts every line of a reply is printable ASCII. */
function assertPrintable(lines: string[]): void {
  for (const line of lines) assert.ok(/^[\x20-\x7e]*$/.test(line), JSON.stringify(line));
}

/** The log lines of `event` written since `from`, waiting (bounded) for at least `count`. */
async function logLines(
  server: TestServer,
  from: number,
  event: string,
  count = 1,
): Promise<string[]> {
  const pattern = new RegExp(` ${event.replaceAll(".", "\\.")} .*$`, "gm");
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = server.output.text.slice(from).match(pattern) ?? [];
    if (lines.length >= count || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("reply and log hygiene over real sockets", async (t) => {
  const server = await TestServer.start({ auth: { max_failures_per_ip: 100 } });
  try {
    await server.addUser(USER, PASSWORD);

    await t.step(
      "an EHLO name with a bidi override and C1 controls is echoed escaped",
      async () => {
        const c = await RawClient.connect(server.smtpPort);
        try {
          assert.equal((await c.reply()).code, 220);
          // RLO, LRI, PDI, NEL, LRM: the name would show as "evil.example" reversed.
          const r = await c.command("EHLO \u202Eelpmaxe.live\u2066\u2069\u0085\u200E");
          assert.equal(r.code, 250, r.text);
          assertPrintable(r.lines);
          assert.ok(!HOSTILE.test(r.text), JSON.stringify(r.text));
          assert.match(
            r.lines[0],
            /Hello \\u202eelpmaxe\.live\\u2066\\u2069\\u0085\\u200e \[127\.0\.0\.1\]$/,
          );
        } finally {
          c.close();
        }
      },
    );

    await t.step("an EHLO or HELO with a BOM is answered without it", async () => {
      const c = await RawClient.connect(server.smtpPort);
      try {
        assert.equal((await c.reply()).code, 220);
        for (const line of ["EHLO \uFEFFbom.example", "HELO bom\uFEFF.example"]) {
          const r = await c.command(line);
          assertPrintable(r.lines);
          assert.ok(!r.text.includes("\uFEFF"), JSON.stringify(r.text));
        }
      } finally {
        c.close();
      }
    });

    await t.step("a malformed ESMTP parameter is quoted escaped", async () => {
      const c = await RawClient.connect(server.smtpPort);
      try {
        assert.equal((await c.reply()).code, 220);
        assert.equal((await c.command("EHLO client.example")).code, 250);
        const r = await c.command("MAIL FROM:<a@remote.example> X\u202E\uFEFF=\u00851");
        assert.equal(r.code, 501, r.text);
        assertPrintable(r.lines);
        assert.match(r.text, /Malformed parameter .*X\\u202e\\ufeff=\\u00851/);
        // The session goes on: a clean MAIL is accepted.
        assert.equal((await c.command("MAIL FROM:<a@remote.example>")).code, 250);
      } finally {
        c.close();
      }
    });

    await t.step("a bidi override in a logged value is escaped in the log line", async () => {
      const from = server.output.text.length;
      const c = await RawClient.connect(server.smtpPort);
      try {
        assert.equal((await c.reply()).code, 220);
        assert.equal((await c.command("EHLO client.example")).code, 250);
        const r = await c.command("MAIL FROM:<\u202Emoc.live@remote.example> SMTPUTF8");
        assert.equal(r.code, 250, r.text);
      } finally {
        c.close();
      }
      const lines = await logLines(server, from, "smtp.mail");
      assert.equal(lines.length, 1, server.output.text.slice(from));
      assert.ok(!HOSTILE.test(lines[0]), JSON.stringify(lines[0]));
      assert.match(lines[0], /from="\\u202emoc\.live@remote\.example"/);
    });

    // A password typed into the user field, as a hurried user does.
    const typedPassword = "Tr0ub4dor&3-hunter2";

    await t.step("SMTP AUTH: unknown user logged as a hash, a known user by name", async () => {
      const from = server.output.text.length;
      const c = await RawClient.connect(server.submissionPort);
      try {
        assert.equal((await c.reply()).code, 220);
        assert.equal((await c.command("EHLO client.example")).code, 250);
        assert.equal((await c.command(`AUTH PLAIN ${plain(typedPassword, "x")}`)).code, 535);
        assert.equal((await c.command(`AUTH PLAIN ${plain(USER, "wrong")}`)).code, 535);
      } finally {
        c.close();
      }
      const lines = await logLines(server, from, "smtp.auth.failed", 2);
      assert.equal(lines.length, 2, server.output.text.slice(from));
      assert.match(lines[0], /user_hash=[0-9a-f]{12}(?: |$)/);
      assert.match(lines[1], /user=alice@test\.example(?: |$)/);
      assert.ok(!server.output.text.includes("hunter2"), "the typed password is in the log");
    });

    await t.step("POP3: unknown user logged as a hash, a known user by name", async () => {
      const from = server.output.text.length;
      const c = await Pop3Client.open(server.pop3Port);
      try {
        assert.match(await c.command(`USER ${typedPassword}-pop3`), /^\+OK/);
        assert.match(await c.command("PASS x"), /^-ERR/);
        assert.match(await c.command(`USER ${USER}`), /^\+OK/);
        assert.match(await c.command("PASS wrong"), /^-ERR/);
      } finally {
        c.close();
      }
      const lines = await logLines(server, from, "pop3.login.failed", 2);
      assert.equal(lines.length, 2, server.output.text.slice(from));
      assert.match(lines[0], /user_hash=[0-9a-f]{12}(?: |$)/);
      assert.match(lines[1], /user=alice@test\.example(?: |$)/);
      assert.ok(!server.output.text.includes("hunter2"), "the typed password is in the log");
    });

    await t.step("IMAP: unknown user logged as a hash, a known user by name", async () => {
      const from = server.output.text.length;
      const c = await ImapClient.open(server.imapPort);
      try {
        const unknown = await c.command(`LOGIN ${quote(`${typedPassword}-imap`)} "x"`);
        assert.equal(unknown.status, "NO", unknown.text);
        const known = await c.command(`LOGIN ${quote(USER)} "wrong"`);
        assert.equal(known.status, "NO", known.text);
      } finally {
        c.close();
      }
      const lines = await logLines(server, from, "imap.login.failed", 2);
      assert.equal(lines.length, 2, server.output.text.slice(from));
      assert.match(lines[0], /user_hash=[0-9a-f]{12}(?: |$)/);
      assert.match(lines[1], /user=alice@test\.example(?: |$)/);
      assert.ok(!server.output.text.includes("hunter2"), "the typed password is in the log");
    });

    await t.step("one name gives the same hash on each attempt within a run", async () => {
      const from = server.output.text.length;
      const c = await Pop3Client.open(server.pop3Port);
      try {
        assert.match(await c.command(`USER ${typedPassword}-pop3`), /^\+OK/);
        assert.match(await c.command("PASS x"), /^-ERR/);
      } finally {
        c.close();
      }
      const [line] = await logLines(server, from, "pop3.login.failed");
      const earlier = server.output.text.slice(0, from).match(
        / pop3\.login\.failed .*user_hash=([0-9a-f]{12})(?: |$)/m,
      );
      assert.ok(earlier);
      assert.ok(line.includes(`user_hash=${earlier[1]}`), line);
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

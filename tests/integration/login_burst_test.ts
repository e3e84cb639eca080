/**
 * Password guessing in bursts, over real sockets against the real server: simultaneous wrong
 * logins from one address may not walk past `auth.max_failures_per_ip` (attempts in flight count
 * against it), SMTP AUTH, POP3 and IMAP share one budget per address, and a blocked address
 * stays blocked, right password or not, until `auth.failure_window` has passed.
 */
import assert from "node:assert/strict";
import { ImapClient, quote } from "../helpers/imap_client.ts";
import { Pop3Client } from "../helpers/pop3_client.ts";
import { RawClient } from "../helpers/raw_client.ts";
import { TestServer } from "../helpers/test_server.ts";

const USER = "burst@test.example";
const PASSWORD = "the right password";
const MAX_FAILURES = 5;
const WINDOW_MS = 4_000;
const BURST = 50;

/** AUTH PLAIN's initial response for `user` and `password` (RFC 4616). */
function plain(user: string, password: string): string {
  return btoa(`\0${user}\0${password}`);
}

/** An SMTP submission connection past EHLO. */
async function smtpReady(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  assert.equal((await c.reply()).code, 220);
  assert.equal((await c.command("EHLO burst.test")).code, 250);
  return c;
}

/** How often `event` was logged in `text` (as the event of a line, not inside a value). */
function logged(text: string, event: string): number {
  const pattern = new RegExp(` ${event.replaceAll(".", "\\.")}(?= |$)`, "gm");
  return text.match(pattern)?.length ?? 0;
}

/**
 * The server's log since `from`, once it holds `lines` lines of `events` (the log reaches the
 * test through a pipe, possibly after the replies).
 */
async function logOf(server: TestServer, from: number, events: string[], lines: number) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const log = server.output.text.slice(from);
    const seen = events.reduce((sum, event) => sum + logged(log, event), 0);
    if (seen >= lines || Date.now() > deadline) return log;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** User plus system CPU seconds the server process has used so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of proc(5), counted from 1 before the command name was cut off.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Waits until the failures the server recorded have left the window. */
function windowPasses(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, WINDOW_MS + 300));
}

Deno.test("login bursts over real sockets", async (t) => {
  const server = await TestServer.start({
    auth: { max_failures_per_ip: MAX_FAILURES, failure_window: `${WINDOW_MS / 1000}s` },
    limits: { max_connections: 200, max_connections_per_ip: 150 },
  });
  try {
    await server.addUser(USER, PASSWORD);
    const port = server.submissionPort;

    await t.step(
      `${BURST} simultaneous wrong AUTH PLAIN: at most the limit are checked`,
      async () => {
        const clients = await Promise.all(Array.from({ length: BURST }, () => smtpReady(port)));
        const logStart = server.output.text.length;
        const cpuStart = cpuSeconds(server.process.pid);
        const started = performance.now();
        // Half for the real user, half for unknown ones: both must be counted alike.
        const replies = await Promise.all(clients.map((c, i) => {
          const user = i % 2 === 0 ? USER : `nobody${i}@test.example`;
          return c.command(`AUTH PLAIN ${plain(user, `wrong guess ${i}`)}`);
        }));
        const elapsed = performance.now() - started;
        const cpu = cpuSeconds(server.process.pid) - cpuStart;
        for (const c of clients) c.close();
        const log = await logOf(server, logStart, ["smtp.auth.failed", "smtp.auth.blocked"], BURST);
        const checked = logged(log, "smtp.auth.failed");
        const blocked = logged(log, "smtp.auth.blocked");
        console.log(
          `burst of ${BURST}: all answered in ${elapsed.toFixed(0)} ms, server CPU ` +
            `${cpu.toFixed(2)} s, ${checked} checked, ${blocked} blocked`,
        );
        const codes = replies.map((r) => r.code);
        assert.equal(codes.filter((c) => c === 535).length, MAX_FAILURES, codes.join(" "));
        assert.equal(codes.filter((c) => c === 421).length, BURST - MAX_FAILURES, codes.join(" "));
        assert.equal(checked, MAX_FAILURES);
        assert.equal(blocked, BURST - MAX_FAILURES);
      },
    );

    await t.step("the right password is refused until the window has passed", async () => {
      const c = await smtpReady(port);
      try {
        const r = await c.command(`AUTH PLAIN ${plain(USER, PASSWORD)}`);
        assert.equal(r.code, 421, r.text);
        assert.match(r.text, /4\.7\.0/);
      } finally {
        c.close();
      }
      await windowPasses();
      const again = await smtpReady(port);
      try {
        assert.equal((await again.command(`AUTH PLAIN ${plain(USER, PASSWORD)}`)).code, 235);
      } finally {
        again.close();
      }
    });

    await t.step("SMTP, POP3 and IMAP from one address share one budget", async () => {
      await windowPasses();
      const logStart = server.output.text.length;
      const smtp = await Promise.all(Array.from({ length: 6 }, () => smtpReady(port)));
      const pop3 = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const c = await Pop3Client.open(server.pop3Port);
          assert.match(await c.command(`USER ${USER}`), /^\+OK/);
          return c;
        }),
      );
      const imap = await Promise.all(
        Array.from({ length: 6 }, () => ImapClient.open(server.imapPort)),
      );
      const answers = await Promise.all([
        ...smtp.map(async (c, i) => {
          const r = await c.command(`AUTH PLAIN ${plain(USER, `smtp guess ${i}`)}`);
          return r.code === 535 ? "bad" : r.code === 421 ? "blocked" : `smtp ${r.text}`;
        }),
        ...pop3.map(async (c, i) => {
          const r = await c.command(`PASS pop3 guess ${i}`);
          return /^-ERR \[AUTH\] Too many/.test(r) ? "blocked" : /^-ERR/.test(r) ? "bad" : r;
        }),
        ...imap.map(async (c, i) => {
          const r = await c.command(`LOGIN ${quote(USER)} ${quote(`imap guess ${i}`)}`);
          return r.status !== "NO"
            ? `imap ${r.text}`
            : /too many/i.test(r.text)
            ? "blocked"
            : "bad";
        }),
      ]);
      for (const c of [...smtp, ...pop3, ...imap]) c.close();
      const protocols = ["smtp.auth", "pop3.login", "imap.login"];
      const events = protocols.flatMap((p) => [`${p}.failed`, `${p}.blocked`]);
      const log = await logOf(server, logStart, events, 18);
      const checked = protocols.reduce((sum, p) => sum + logged(log, `${p}.failed`), 0);
      assert.equal(answers.filter((a) => a === "bad").length, MAX_FAILURES, answers.join(" "));
      assert.equal(answers.filter((a) => a === "blocked").length, 18 - MAX_FAILURES);
      assert.equal(checked, MAX_FAILURES);
    });

    await t.step("the right password from the same address is refused too", async () => {
      const c = await ImapClient.open(server.imapPort);
      try {
        const r = await c.command(`LOGIN ${quote(USER)} ${quote(PASSWORD)}`);
        assert.equal(r.status, "NO", r.text);
      } finally {
        c.close();
      }
    });

    await t.step("another address with a cached login is served during a burst", async () => {
      await windowPasses();
      const clients = await Promise.all(Array.from({ length: BURST }, () => smtpReady(port)));
      const other = await Pop3Client.open(server.pop3Port, { localAddress: "127.0.0.2" });
      try {
        assert.match(await other.command(`USER ${USER}`), /^\+OK/);
        const burst = Promise.all(
          clients.map((c, i) => c.command(`AUTH PLAIN ${plain(USER, `again ${i}`)}`)),
        );
        const started = performance.now();
        // The right password logged in before (step 2), so this is a login-cache hit.
        const answer = await other.command(`PASS ${PASSWORD}`);
        const elapsed = performance.now() - started;
        const codes = (await burst).map((r) => r.code);
        console.log(`cached login from 127.0.0.2 during the burst: ${elapsed.toFixed(0)} ms`);
        assert.match(answer, /^\+OK/);
        assert.ok(elapsed < 2_000, `took ${elapsed} ms`);
        assert.equal(codes.filter((c) => c === 535).length, MAX_FAILURES);
      } finally {
        other.close();
        for (const c of clients) c.close();
      }
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

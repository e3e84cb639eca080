/**
 * The outbound queue of a running fsmtp against scripted SMTP peers (issue 5): a 451 after
 * DATA and then a 250 delivers exactly once; a 5xx gives the local sender exactly one bounce
 * (a multipart/report DSN quoting the remote's reply) and a failing bounce gives none; a
 * message deferred when the server is SIGKILLed is delivered once after the restart; with
 * `outbound.require_tls` a peer without STARTTLS never gets as far as MAIL FROM.
 *
 * The first retry is a minute away: `fsmtp --queue retry all` makes it due and a SIGHUP wakes
 * the running server's queue runner at once (src/cli/run.ts), so nothing here waits that long.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakePeer } from "../helpers/smtp_peer.ts";
import { readMailboxText } from "../helpers/read_mail.ts";
import { freePort, runProgram, TestServer } from "../helpers/test_server.ts";
import { waitFor } from "../helpers/outbound.ts";

const SUBMIT = join(new URL(".", import.meta.url).pathname, "submission_send.py");
const IVY = "ivy@test.example";
const PW = "ivy's queue password";
const PEER_DNS = {
  mx: { "peer.example": [[10, "mx.peer.example"]] as [number, string][] },
  a: { "mx.peer.example": "127.0.0.1" },
};
const dec = new TextDecoder();

/** Submits a message from Ivy to `to` like a mail client (STARTTLS + AUTH PLAIN). */
async function submit(server: TestServer, to: string): Promise<void> {
  const r = await runProgram("python3", [
    SUBMIT,
    String(server.submissionPort),
    "starttls",
    "PLAIN",
    IVY,
    PW,
    IVY,
    to,
  ]);
  assert.equal(r.stdout.trim(), "OK", r.stdout + r.stderr);
}

/** `fsmtp --queue` of the server. */
async function queueListing(server: TestServer): Promise<string> {
  const r = await server.cli(["--queue"]);
  assert.equal(r.code, 0, r.out);
  return r.out;
}

const queueEmpty = (server: TestServer) => async () =>
  /the queue is empty/.test(await queueListing(server)) || undefined;

/** `--queue retry all` from another process, then SIGHUP: the runner looks at once. */
async function retryNow(server: TestServer): Promise<void> {
  const r = await server.cli(["--queue", "retry", "all"]);
  assert.equal(r.code, 0, r.out);
  server.process.kill("SIGHUP");
}

/** How often `pattern` occurs in the server's output. */
function count(server: TestServer, pattern: RegExp): number {
  return server.output.text.match(new RegExp(pattern, "g"))?.length ?? 0;
}

Deno.test("outbound queue: retry once, bounces, a crash, required TLS", async (t) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    // later@: 451 after the first DATA, 250 after the next; nobody@/stranger@: 550 at RCPT.
    let laterTries = 0;
    let laterAccepted = 0;
    const peer = await FakePeer.start({
      rcpt: (to) =>
        to.startsWith("nobody@")
          ? "550 5.1.1 <nobody@peer.example>: no such user here"
          : to.startsWith("stranger@")
          ? "550 5.1.1 <stranger@peer.example>: gone away"
          : undefined,
      message: (content) => {
        if (!/\r\nTo: later@peer\.example\r\n/.test(dec.decode(content))) return undefined;
        if (laterTries++ === 0) return "451 4.3.0 try again later";
        laterAccepted++;
        return undefined;
      },
    });
    cleanups.push(() => peer.close());
    const server = await TestServer.start({
      dns: PEER_DNS,
      tables: { outbound: { port: peer.port } },
    });
    cleanups.push(async () => {
      await server.stop();
      await server.cleanup();
    });
    await server.addUser(IVY, PW);

    await t.step("451 after DATA, then 250: delivered exactly once", async () => {
      await submit(server, "later@peer.example");
      await waitFor(
        "the deferral in --queue",
        async () =>
          /later@peer\.example {2}1 attempt, next attempt in [\s\S]*451 4\.3\.0 try again later/
            .test(await queueListing(server)) || undefined,
      );
      assert.equal(laterAccepted, 0);
      const kicked = Date.now();
      await retryNow(server);
      await waitFor("the second attempt", () => laterAccepted === 1 || undefined);
      // Well before the runner's own 60 s wake-up: the SIGHUP did it.
      assert.ok(Date.now() - kicked < 15_000);
      await waitFor("the queue to empty", queueEmpty(server));
      assert.equal(laterTries, 2);
      assert.equal(laterAccepted, 1);
      const tries = peer.transactions.filter((x) => x.rcpts.includes("later@peer.example"));
      assert.equal(tries.length, 2, "two DATA transactions, one refused and one accepted");
      assert.match(dec.decode(tries[1].content), /^DKIM-Signature: /);
      assert.equal(count(server, /queue\.delivered [^\n]*to=later@peer\.example/), 1);
      // No DSN: NOTIFY was not asked for, and the delivery succeeded.
      assert.equal(count(server, /queue\.dsn_sent/), 0);
    });

    await t.step(
      "550: exactly one bounce, a DSN with the remote's reply, in the INBOX",
      async () => {
        await submit(server, "nobody@peer.example");
        const bounces = async () =>
          (await readMailboxText(server.dbPath, IVY, PW)).filter((m) =>
            /^Content-Type: multipart\/report;/im.test(m)
          );
        await waitFor("the bounce", async () => (await bounces()).length > 0 || undefined);
        await waitFor("the queue to empty", queueEmpty(server));
        const all = await readMailboxText(server.dbPath, IVY, PW);
        assert.equal(all.length, 1, "the INBOX holds the bounce and nothing else");
        const [dsn] = await bounces();
        assert.match(dsn, /^Return-Path: <>\r\n/);
        assert.match(dsn, /report-type="?delivery-status"?/);
        assert.match(dsn, /^Content-Type: message\/delivery-status/m);
        assert.match(dsn, /^Final-Recipient: rfc822; ?nobody@peer\.example\r$/m);
        assert.match(dsn, /^Action: failed\r$/m);
        assert.match(dsn, /^Status: 5\.1\.1\r$/m);
        assert.match(
          dsn,
          /^Diagnostic-Code: smtp; ?550 5\.1\.1 <nobody@peer\.example>: no such user/m,
        );
        assert.equal(count(server, /queue\.dsn_sent/), 1);
      },
    );

    await t.step("a bounce that fails itself is not bounced (null sender)", async () => {
      const mails = () => peer.commands.filter((c) => /^MAIL FROM:/i.test(c));
      const before = mails().length;
      // A queued message from a remote sender: its bounce goes out through the queue with
      // MAIL FROM:<>, and the peer refuses that too.
      const r = await server.cli([
        "--mailtest",
        "--from",
        "stranger@peer.example",
        "--to",
        "nobody@peer.example",
        "--subject",
        "bounce of a bounce",
      ]);
      assert.equal(r.code, 0, r.out);
      server.process.kill("SIGHUP");
      await waitFor(
        "the bounce to be offered",
        () => mails().slice(before).some((c) => /^MAIL FROM:<>/i.test(c)) || undefined,
      );
      await waitFor("the queue to empty", queueEmpty(server));
      const sent = mails().slice(before).map((c) => /^MAIL (FROM:<[^>]*>)/i.exec(c)?.[1]);
      assert.deepEqual(sent, ["FROM:<stranger@peer.example>", "FROM:<>"]);
      assert.ok(peer.commands.includes("RCPT TO:<stranger@peer.example>"));
      assert.match(server.output.text, /queue\.failed [^\n]*to=stranger@peer\.example/);
      assert.equal(count(server, /queue\.dsn_sent/), 2, "the first bounce only");
      // Ivy's INBOX still holds only the earlier bounce.
      assert.equal((await readMailboxText(server.dbPath, IVY, PW)).length, 1);
    });

    await t.step("SIGKILL with a deferred message; restart; retry: delivered once", async () => {
      const port = freePort(); // nobody listens yet: connection refused
      const first = await TestServer.start({ dns: PEER_DNS, tables: { outbound: { port } } });
      cleanups.push(() => first.cleanup());
      let restarted: TestServer | undefined;
      cleanups.push(async () => await restarted?.stop());
      try {
        await first.addUser(IVY, PW);
        await submit(first, "crash@peer.example");
        await first.waitForOutput(/queue\.deferred [^\n]*to=crash@peer\.example/, 20_000);
        await first.kill();
        const late = await FakePeer.start({}, "127.0.0.1", port);
        cleanups.push(() => late.close());
        restarted = await TestServer.start({
          dir: first.dir,
          dns: PEER_DNS,
          tables: { outbound: { port } },
        });
        assert.match(await queueListing(restarted), /crash@peer\.example {2}1 attempt/);
        await retryNow(restarted);
        await waitFor("delivery after the restart", () => late.transactions.length || undefined);
        await waitFor("the queue to empty", queueEmpty(restarted));
        assert.equal(late.transactions.length, 1);
        assert.deepEqual(late.transactions[0].rcpts, ["crash@peer.example"]);
        assert.match(dec.decode(late.transactions[0].content), /^DKIM-Signature: /);
      } finally {
        await first.kill(); // already dead: only makes sure
      }
    });

    await t.step("require_tls, peer without STARTTLS: deferred, MAIL FROM never sent", async () => {
      const plain = await FakePeer.start();
      cleanups.push(() => plain.close());
      const strict = await TestServer.start({
        dns: PEER_DNS,
        tables: { outbound: { port: plain.port, require_tls: true } },
      });
      cleanups.push(async () => {
        await strict.stop();
        await strict.cleanup();
      });
      await strict.addUser(IVY, PW);
      await submit(strict, "private@peer.example");
      const listing = await waitFor("the deferral in --queue", async () => {
        const out = await queueListing(strict);
        return /private@peer\.example {2}1 attempt/.test(out) ? out : undefined;
      });
      assert.match(listing, /4\.7\.10 .*does not offer STARTTLS/);
      assert.ok(plain.connections >= 1);
      // Only the greeting exchange and goodbye: nothing of the message went in clear.
      assert.deepEqual(
        [...new Set(plain.commands.map((c) => c.split(" ")[0].toUpperCase()))],
        ["EHLO", "QUIT"],
      );
      assert.equal(plain.transactions.length, 0);
    });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
});

/**
 * The outbound queue against scripted peers: a 4xx then a 250 delivers exactly once; a 5xx
 * gives the sender one bounce carrying the remote's reply; a message queued when the server
 * is killed is delivered once after the restart; with require_tls a peer without STARTTLS
 * never sees the message.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakePeer } from "../helpers/smtp_peer.ts";
import { freePort, runProgram, TestServer } from "../helpers/test_server.ts";
import { readMailboxText } from "../helpers/read_mail.ts";

const SUBMIT = join(new URL(".", import.meta.url).pathname, "submission_send.py");
const IVY = "ivy@test.example";
const PW = "ivy's queue password";
const PEER_DNS = {
  mx: { "peer.example": [[10, "mx.peer.example"]] as [number, string][] },
  a: { "mx.peer.example": "127.0.0.1" },
};

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

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `--queue retry all`, then SIGHUP so the running server looks at once. */
async function retryNow(server: TestServer): Promise<void> {
  const r = await server.cli(["--queue", "retry", "all"]);
  assert.equal(r.code, 0, r.out);
  server.process.kill("SIGHUP");
}

Deno.test("outbound queue: retry, bounce, crash and required TLS", async (t) => {
  let attempts = 0;
  const peer = await FakePeer.start({
    rcpt: (to) => {
      if (to.startsWith("nobody@")) return "550 5.1.1 <nobody@peer.example>: user unknown";
      if (to.startsWith("later@") && attempts++ === 0) return "451 4.7.1 greylisted, come back";
      return undefined;
    },
  });
  const server = await TestServer.start({
    dns: PEER_DNS,
    tables: { outbound: { port: peer.port } },
  });
  try {
    await server.addUser(IVY, PW);

    await t.step("4xx first, then accepted: delivered exactly once", async () => {
      await submit(server, "later@peer.example");
      await waitFor("the first attempt", () => attempts === 1);
      assert.equal(peer.transactions.filter((x) => x.content).length, 0);
      await waitFor(
        "--queue to show the deferral",
        async () => /451 4\.7\.1 greylisted/.test((await server.cli(["--queue"])).out),
      );
      await retryNow(server);
      await waitFor("the second attempt", () => peer.transactions.some((x) => x.content));
      await waitFor(
        "the queue to empty",
        async () => /the queue is empty/.test((await server.cli(["--queue"])).out),
      );
      const delivered = peer.transactions.filter((x) => x.content);
      assert.equal(delivered.length, 1);
      assert.deepEqual(delivered[0].rcpts, ["later@peer.example"]);
      assert.match(new TextDecoder().decode(delivered[0].content), /^DKIM-Signature: /);
    });

    await t.step("5xx: one bounce to the sender with the remote's reply", async () => {
      await submit(server, "nobody@peer.example");
      const bounces = async () =>
        (await readMailboxText(server.dbPath, IVY, PW)).filter((m) => /multipart\/report/.test(m));
      await waitFor("the bounce", async () => (await bounces()).length === 1);
      const [dsn] = await bounces();
      assert.match(dsn, /^Return-Path: <>\r\n/);
      assert.match(dsn, /report-type=delivery-status/);
      assert.match(dsn, /Final-Recipient: rfc822; ?nobody@peer\.example/);
      assert.match(dsn, /Action: failed/);
      assert.match(dsn, /Status: 5\.1\.1/);
      assert.match(dsn, /550 5\.1\.1 <nobody@peer\.example>: user unknown/);
      await waitFor(
        "the queue to empty",
        async () => /the queue is empty/.test((await server.cli(["--queue"])).out),
      );
      assert.equal((await bounces()).length, 1, "exactly one bounce");
    });
  } finally {
    await server.stop();
    await server.cleanup();
    await peer.close();
  }

  await t.step("SIGKILL with a queued message: delivered once after the restart", async () => {
    const port = freePort();
    const first = await TestServer.start({ dns: PEER_DNS, tables: { outbound: { port } } });
    let peer2: FakePeer | undefined;
    let second: TestServer | undefined;
    try {
      await first.addUser(IVY, PW);
      await submit(first, "someone@peer.example");
      await waitFor(
        "a failed attempt",
        async () =>
          /someone@peer\.example/.test((await first.cli(["--queue"])).out) &&
          /(refused|connect)/i.test((await first.cli(["--queue"])).out),
      );
      await first.kill();
      peer2 = await FakePeer.start({}, "127.0.0.1", port);
      const retry = await first.cli(["--queue", "retry", "all"]);
      assert.equal(retry.code, 0, retry.out);
      second = await TestServer.start({
        dir: first.dir,
        dns: PEER_DNS,
        tables: { outbound: { port } },
      });
      await waitFor("delivery after the restart", () => peer2!.transactions.some((x) => x.content));
      await waitFor(
        "the queue to empty",
        async () => /the queue is empty/.test((await second!.cli(["--queue"])).out),
      );
      assert.equal(peer2.transactions.filter((x) => x.content).length, 1);
    } finally {
      await second?.stop();
      await first.stop();
      await first.cleanup();
      await peer2?.close();
    }
  });

  await t.step("require_tls and a peer without STARTTLS: deferred, nothing sent", async () => {
    const plain = await FakePeer.start({ extensions: ["PIPELINING", "8BITMIME"] });
    const strict = await TestServer.start({
      dns: PEER_DNS,
      tables: { outbound: { port: plain.port, require_tls: true } },
    });
    try {
      await strict.addUser(IVY, PW);
      await submit(strict, "private@peer.example");
      await waitFor(
        "the deferral",
        async () =>
          /private@peer\.example[\s\S]*(TLS|tls)/.test((await strict.cli(["--queue"])).out),
      );
      assert.ok(plain.connections >= 1);
      assert.equal(plain.commands.some((c) => /^MAIL FROM/i.test(c)), false);
      assert.equal(plain.transactions.length, 0);
    } finally {
      await strict.stop();
      await strict.cleanup();
      await plain.close();
    }
  });
});

/**
 * `--mailtest`: composed, DKIM-signed and sent — with `--direct --verbose` now, printing the
 * SMTP conversation (the body never shown), or through the queue that the running server
 * delivers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakePeer } from "../helpers/smtp_peer.ts";
import { TestServer } from "../helpers/test_server.ts";

const IVY = "ivy@test.example";

Deno.test("--mailtest --direct --verbose and through the queue", async (t) => {
  const peer = await FakePeer.start();
  const server = await TestServer.start({
    dns: {
      mx: { "peer.example": [[10, "mx.peer.example"]] },
      a: { "mx.peer.example": "127.0.0.1" },
    },
    tables: { outbound: { port: peer.port } },
  });
  const dir = await Deno.makeTempDir();
  try {
    await server.addUser(IVY, "mailtest password");
    const attachment = join(dir, "notes.txt");
    await Deno.writeTextFile(attachment, "attached text\n");

    await t.step("--direct --verbose prints the conversation and delivers", async () => {
      const r = await server.cli([
        "--mailtest",
        "--from",
        IVY,
        "--to",
        "bob@peer.example",
        "--subject",
        "direct test",
        "--text",
        "hello from mailtest",
        "--attach",
        attachment,
        "--direct",
        "--verbose",
      ]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^C\s+EHLO mx\.test\.example$/m);
      assert.match(r.out, /^S\s+220/m);
      assert.match(r.out, /^C\s+MAIL FROM:<ivy@test\.example>/m);
      assert.match(r.out, /bob@peer\.example: delivered \(250/);
      assert.doesNotMatch(r.out, /hello from mailtest/, "the body is not printed");
      const [tx] = peer.transactions.filter((x) => x.content);
      const text = new TextDecoder().decode(tx.content);
      assert.match(
        text,
        /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=test\.example;/,
      );
      assert.match(text, /\r\nX-Mailer: fsmtp\r\n/);
      assert.match(text, /\r\nSubject: direct test\r\n/);
      assert.match(text, /filename=notes\.txt/);
      assert.match(text, /\r\nMessage-ID: <[^>]+@test\.example>\r\n/);
    });

    await t.step("without --direct the message is queued and the server delivers it", async () => {
      const r = await server.cli([
        "--mailtest",
        "--from",
        IVY,
        "--to",
        "carol@peer.example",
        "--html",
        "<p>queued</p>",
      ]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^queued as \w+ for carol@peer\.example/m);
      server.process.kill("SIGHUP");
      const deadline = Date.now() + 30_000;
      while (!peer.transactions.some((x) => x.rcpts.includes("carol@peer.example") && x.content)) {
        if (Date.now() > deadline) throw new Error("the queued mailtest was not delivered");
        await new Promise((res) => setTimeout(res, 50));
      }
    });
  } finally {
    await server.stop();
    await server.cleanup();
    await peer.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--mailtest --direct --verbose to a peer with STARTTLS shows the upgrade", async () => {
  const peer = await TestServer.start({ hostname: "mx.other.example", domains: ["other.example"] });
  const server = await TestServer.start({
    dns: {
      mx: { "other.example": [[10, "mx.other.example"]] },
      a: { "mx.other.example": "127.0.0.1" },
    },
    tables: { outbound: { port: peer.smtpPort } },
  });
  try {
    await peer.addUser("rex@other.example", "rex's password");
    await server.addUser(IVY, "mailtest password");
    const r = await server.cli([
      "--mailtest",
      "--from",
      IVY,
      "--to",
      "rex@other.example",
      "--direct",
      "--verbose",
    ]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^S\s+220 mx\.other\.example ESMTP/m);
    assert.match(r.out, /^C\s+STARTTLS$/m);
    assert.match(r.out, /^TLS\s+.*TLSv1\.3/m);
    assert.match(r.out, /^S\s+250 2\.0\.0 OK queued as/m);
    assert.match(r.out, /rex@other\.example: delivered/);
  } finally {
    await server.stop();
    await peer.stop();
    await server.cleanup();
    await peer.cleanup();
  }
});

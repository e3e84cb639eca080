/**
 * Bad input and resource limits over real sockets against the real server: after each abuse
 * the server still serves a normal client, and nothing half-received is stored.
 */
import assert from "node:assert/strict";
import { RawClient } from "../helpers/raw_client.ts";
import { TestServer } from "../helpers/test_server.ts";
import { countMessages } from "../helpers/read_mail.ts";

/** A normal, complete transaction; returns the final reply code. */
async function normalMail(port: number, rcpt = "alice@test.example"): Promise<number> {
  const c = await RawClient.connect(port);
  try {
    assert.equal((await c.reply()).code, 220);
    assert.equal((await c.command("EHLO normal.test")).code, 250);
    assert.equal((await c.command("MAIL FROM:<n@remote.test>")).code, 250);
    assert.equal((await c.command(`RCPT TO:<${rcpt}>`)).code, 250);
    assert.equal((await c.command("DATA")).code, 354);
    const done = await c.command("Subject: normal\r\n\r\nhello\r\n.");
    assert.equal((await c.command("QUIT")).code, 221);
    return done.code;
  } finally {
    c.close();
  }
}

Deno.test("smtp abuse over real sockets", async (t) => {
  const server = await TestServer.start({
    limits: {
      command_timeout: "1s",
      max_connections: 300,
      max_connections_per_ip: 250,
      max_line_length: 1000,
      max_errors: 5,
    },
  });
  try {
    await server.addUser("alice@test.example", "correct horse battery");
    const port = server.smtpPort;

    await t.step("unknown commands, garbage and an over-long line", async () => {
      const c = await RawClient.connect(port);
      assert.equal((await c.reply()).code, 220);
      assert.equal((await c.command("XYZZY")).code, 500);
      // Every byte value except CR and LF, so it is one (long, binary) line.
      const binary = new Uint8Array(600).map((_, i) => [10, 13].includes(i % 256) ? 0 : i % 256);
      await c.send(binary);
      await c.send("\r\n");
      assert.equal((await c.reply()).code, 500);
      assert.equal((await c.command("A".repeat(5000))).code, 500);
      assert.equal((await c.command("RCPT TO:<alice@test.example>")).code, 503);
      // The fifth error ends the session with 421.
      await c.send("DATA\r\n");
      assert.equal((await c.reply()).code, 503);
      assert.equal((await c.reply()).code, 421);
      assert.ok(await c.closedByServer());
      c.close();
      assert.equal(await normalMail(port), 250);
    });

    await t.step("a client hanging up mid-DATA leaves nothing stored", async () => {
      const before = await countMessages(server.dbPath, "alice@test.example");
      const c = await RawClient.connect(port);
      await c.reply();
      await c.command("EHLO half.test");
      await c.command("MAIL FROM:<h@remote.test>");
      await c.command("RCPT TO:<alice@test.example>");
      assert.equal((await c.command("DATA")).code, 354);
      await c.send("Subject: half\r\n\r\n" + "x".repeat(10_000));
      c.close();
      assert.equal(await normalMail(port), 250);
      assert.equal(await countMessages(server.dbPath, "alice@test.example"), before + 1);
    });

    await t.step("a silent client is cut at the command timeout", async () => {
      const c = await RawClient.connect(port);
      assert.equal((await c.reply()).code, 220);
      const cut = await c.reply(5000);
      assert.equal(cut.code, 421);
      assert.match(cut.text, /4\.4\.2/);
      assert.ok(await c.closedByServer());
      c.close();
      assert.equal(await normalMail(port), 250);
    });

    await t.step("more connections than allowed per IP get 421, the others work", async () => {
      const held: RawClient[] = [];
      try {
        for (let i = 0; i < 250; i++) {
          const c = await RawClient.connect(port);
          held.push(c);
        }
        await Promise.all(held.map(async (c) => assert.equal((await c.reply()).code, 220)));
        const extra = await RawClient.connect(port);
        const refused = await extra.reply();
        assert.equal(refused.code, 421);
        assert.ok(await extra.closedByServer());
        extra.close();
        // An existing session is unaffected.
        assert.equal((await held[0].command("NOOP")).code, 250);
      } finally {
        held.forEach((c) => c.close());
      }
      // Slots are released when clients go; poll until a new session is served.
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          assert.equal(await normalMail(port), 250);
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    });

    await t.step("200 simultaneous sessions each deliver a message", async () => {
      const before = await countMessages(server.dbPath, "alice@test.example");
      const codes = await Promise.all(
        Array.from({ length: 200 }, () => normalMail(port)),
      );
      assert.deepEqual(codes, Array(200).fill(250));
      assert.equal(await countMessages(server.dbPath, "alice@test.example"), before + 200);
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

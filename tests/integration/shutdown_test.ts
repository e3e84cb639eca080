/**
 * Graceful shutdown (SIGTERM): a message being received is finished and acknowledged before
 * the session gets 421; new connections are no longer accepted; the process exits 0.
 */
import assert from "node:assert/strict";
import { RawClient } from "../helpers/raw_client.ts";
import { TestServer } from "../helpers/test_server.ts";
import { readInbox } from "../helpers/read_mail.ts";

Deno.test("SIGTERM lets a message in flight finish, then closes", async () => {
  const server = await TestServer.start();
  try {
    await server.addUser("hank@test.example", "shutdown password");
    const c = await RawClient.connect(server.smtpPort);
    await c.reply();
    await c.command("EHLO busy.test");
    await c.command("MAIL FROM:<busy@remote.test>");
    await c.command("RCPT TO:<hank@test.example>");
    assert.equal((await c.command("DATA")).code, 354);
    await c.send("Subject: in flight\r\n\r\nfirst half\r\n");
    server.process.kill("SIGTERM");
    await server.waitForOutput(/fsmtp\.stopping/);
    await c.send("second half\r\n.\r\n");
    const accepted = await c.reply();
    assert.equal(accepted.code, 250);
    const closing = await c.reply();
    assert.equal(closing.code, 421);
    c.close();
    assert.equal((await server.process.status).code, 0);
    await assert.rejects(() => RawClient.connect(server.smtpPort).then((x) => x.reply()));
    const [stored] = await readInbox(server.dbPath, "hank@test.example", "shutdown password");
    assert.match(new TextDecoder().decode(stored), /first half\r\nsecond half\r\n$/);
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

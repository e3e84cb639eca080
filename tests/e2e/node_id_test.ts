/**
 * Node identity end to end (issue 10): the configured `node_id` is on every log line the server
 * writes, in `X-Fannst-NodeID` of a message `--mailtest` composes, and in the `Received:` line
 * of a message the node merely receives (which gets no `X-Fannst-NodeID`).
 */
import assert from "node:assert/strict";
import { RawClient } from "../helpers/raw_client.ts";
import { readMailboxText } from "../helpers/read_mail.ts";
import { TestServer } from "../helpers/test_server.ts";

const NODE = "node-e2e-7";
const IVY = "ivy@test.example";
const BOB = "bob@test.example";
const BOB_PASSWORD = "bob's node password";
/** A line the logger wrote: ISO time, padded level, event name. */
const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?:DEBUG|INFO |WARN |ERROR) \S+/;

/** The header section of a message, through its last CRLF. */
function head(message: string): string {
  return message.slice(0, message.indexOf("\r\n\r\n") + 2);
}

Deno.test("node_id in logs, X-Fannst-NodeID and Received:", async (t) => {
  const server = await TestServer.start({ nodeId: NODE });
  try {
    await server.addUser(IVY, "ivy's node password");
    await server.addUser(BOB, BOB_PASSWORD);

    await t.step("--mailtest to a local user carries X-Fannst-NodeID of the config", async () => {
      const r = await server.cli(["--mailtest", "--from", IVY, "--to", BOB, "--subject", "n"]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^delivered to bob@test\.example$/m);
      const [message] = await readMailboxText(server.dbPath, BOB, BOB_PASSWORD);
      assert.ok(message, "the message was delivered");
      const h = head(message);
      assert.equal(h.match(/^X-Fannst-NodeID: node-e2e-7\r\n/gm)?.length, 1, h);
      assert.match(h, /^Subject: n\r\n/m);
    });

    await t.step("mail received over SMTP gets Received: with the node, no NodeID", async () => {
      const c = await RawClient.connect(server.smtpPort);
      try {
        assert.equal((await c.reply()).code, 220);
        assert.equal((await c.command("EHLO client.example")).code, 250);
        assert.equal((await c.command("MAIL FROM:<carol@elsewhere.example>")).code, 250);
        assert.equal((await c.command(`RCPT TO:<${BOB}>`)).code, 250);
        assert.equal((await c.command("DATA")).code, 354);
        const body = "From: carol@elsewhere.example\r\nSubject: inbound\r\n\r\nhello\r\n.\r\n";
        assert.equal((await c.command(body.slice(0, -2))).code, 250);
        await c.command("QUIT");
      } finally {
        c.close();
      }
      const messages = await readMailboxText(server.dbPath, BOB, BOB_PASSWORD);
      const inbound = messages.find((m) => /^Subject: inbound\r$/m.test(m));
      assert.ok(inbound, `no inbound message among ${messages.length}`);
      const h = head(inbound);
      assert.match(h, /^\tby mx\.test\.example \(fsmtp node-e2e-7\) with ESMTP\r\n/m);
      assert.doesNotMatch(h, /X-Fannst-NodeID/i, "the node did not compose it");
    });

    await t.step("every log line of the server ends with the node", () => {
      const lines = server.output.text.split("\n").filter((l) => LOG_LINE.test(l));
      assert.ok(lines.some((l) => / fsmtp\.started /.test(l)), server.output.text);
      assert.ok(lines.some((l) => / cid=/.test(l)), "connection lines are among them");
      for (const line of lines) {
        assert.match(line, / node=node-e2e-7$/, line);
      }
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

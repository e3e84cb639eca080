/**
 * STARTTLS (RFC 3207) and CHUNKING (RFC 3030) over real sockets and real TLS: commands
 * pipelined behind STARTTLS are discarded, the session is reset by the upgrade, and BDAT
 * content arrives byte-identical.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RawClient } from "../helpers/raw_client.ts";
import { TestServer } from "../helpers/test_server.ts";
import { readInbox, withoutTrace } from "../helpers/read_mail.ts";

const USER = "carol@test.example";
const PASSWORD = "starttls and bdat";

Deno.test("STARTTLS and BDAT", async (t) => {
  const server = await TestServer.start();
  const cert = await Deno.readTextFile(join(server.dir, "keys", "cert.pem"));
  try {
    await server.addUser(USER, PASSWORD);

    await t.step("commands pipelined behind STARTTLS are discarded (CVE-2011-0411)", async () => {
      const c = await RawClient.connect(server.smtpPort);
      try {
        await c.reply();
        const ehlo = await c.command("EHLO inject.test");
        assert.match(ehlo.text, /250[- ]STARTTLS/);
        await c.send("STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n");
        const ready = await c.reply();
        assert.equal(ready.code, 220);
        await c.startTls("mx.test.example", cert);
        // The session was reset: the first reply after the handshake answers our EHLO, and
        // STARTTLS is no longer offered.
        const again = await c.command("EHLO inject.test");
        assert.equal(again.code, 250);
        assert.doesNotMatch(again.text, /STARTTLS/);
        assert.equal((await c.command("MAIL FROM:<real@remote.test>")).code, 250);
        assert.equal((await c.command("STARTTLS")).code, 503);
        assert.equal((await c.command("QUIT")).code, 221);
      } finally {
        c.close();
      }
    });

    await t.step("MAIL before EHLO after STARTTLS is a sequence error", async () => {
      const c = await RawClient.connect(server.smtpPort);
      try {
        await c.reply();
        await c.command("EHLO reset.test");
        assert.equal((await c.command("STARTTLS")).code, 220);
        await c.startTls("mx.test.example", cert);
        const r = await c.command("MAIL FROM:<a@remote.test>");
        assert.equal(r.code, 503);
        assert.match(r.text, /5\.5\.1/);
      } finally {
        c.close();
      }
    });

    const chunks = ["Subject: chunked\r\n", "\r\n.line with a dot\r\n", "8bit: \xe9\r\n"];
    await t.step("pipelined BDAT chunks over TLS", async () => {
      const c = await RawClient.connect(server.smtpPort);
      try {
        await c.reply();
        await c.command("EHLO bdat.test");
        await c.command("STARTTLS");
        await c.startTls("mx.test.example", cert);
        const ehlo = await c.command("EHLO bdat.test");
        assert.match(ehlo.text, /250[- ]CHUNKING/);
        const bytes = chunks.map((s) => Uint8Array.from(s, (ch) => ch.charCodeAt(0)));
        const batch = [
          "MAIL FROM:<bdat@remote.test> BODY=8BITMIME\r\n",
          `RCPT TO:<${USER}>\r\n`,
        ].join("");
        await c.send(batch);
        for (const [i, b] of bytes.entries()) {
          await c.send(`BDAT ${b.length}${i === bytes.length - 1 ? " LAST" : ""}\r\n`);
          await c.send(b);
        }
        const codes = [];
        for (let i = 0; i < 2 + bytes.length; i++) codes.push((await c.reply()).code);
        assert.deepEqual(codes, [250, 250, 250, 250, 250]);
        assert.equal((await c.command("QUIT")).code, 221);
      } finally {
        c.close();
      }
      const [stored] = await readInbox(server.dbPath, USER, PASSWORD);
      const expected = Uint8Array.from(chunks.join(""), (ch) => ch.charCodeAt(0));
      assert.deepEqual(withoutTrace(stored), expected);
    });

    await t.step("a BDAT chunk over the size limit is refused and consumed", async () => {
      const c = await RawClient.connect(server.smtpPort);
      try {
        await c.reply();
        await c.command("EHLO big.test");
        await c.command("MAIL FROM:<big@remote.test>");
        await c.command(`RCPT TO:<${USER}>`);
        const size = 26_214_400 + 1;
        await c.send(`BDAT ${size} LAST\r\n`);
        const block = new Uint8Array(1024 * 1024).fill(0x61);
        let sent = 0;
        while (sent < size) {
          const n = Math.min(block.length, size - sent);
          await c.send(block.subarray(0, n));
          sent += n;
        }
        const r = await c.reply(30_000);
        assert.equal(r.code, 552);
        assert.equal((await c.command("NOOP")).code, 250);
      } finally {
        c.close();
      }
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

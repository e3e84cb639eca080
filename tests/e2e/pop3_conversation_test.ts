/**
 * The original server's POP3 conversation replayed line by line, with this test's own
 * messages, ids and sizes: greeting, USER, PASS, a second PASS refused with the original's
 * exact words, UIDL, LIST, RETR 1 and QUIT, over the plain port from loopback.
 */
import assert from "node:assert/strict";
import { readInbox } from "../helpers/read_mail.ts";
import { Pop3Client, sendMail, startServer } from "../helpers/pop3_client.ts";

const USER = "replay@test.example";
const PASSWORD = "replay the original";

Deno.test("pop3: the original server's conversation, line by line", async (t) => {
  const server = await startServer();
  const c = await Pop3Client.connect(server.pop3Port);
  try {
    await server.addUser(USER, PASSWORD);
    await sendMail(server.smtpPort, USER, "Subject: first\r\n\r\n.hello\r\nworld\r\n");
    await sendMail(server.smtpPort, USER, "Subject: second\r\n\r\nsecond body\r\n");
    const stored = await readInbox(server.dbPath, USER, PASSWORD);
    const sizes = stored.map((m) => m.length);
    let uids: string[] = [];

    await t.step("S: +OK greeting", async () => {
      assert.match(await c.line(), /^\+OK /);
    });
    await t.step("C: USER → +OK", async () => {
      assert.match(await c.command(`USER ${USER}`), /^\+OK/);
    });
    await t.step("C: PASS → +OK", async () => {
      assert.match(await c.command(`PASS ${PASSWORD}`), /^\+OK/);
    });
    await t.step("C: PASS again → the original's exact refusal", async () => {
      assert.equal(
        await c.command(`PASS ${PASSWORD}`),
        "-ERR Order Error: Client already authenticated.",
      );
    });
    await t.step("C: UIDL → one `n uid` line per message", async () => {
      const r = await c.commandMulti("UIDL");
      assert.match(r.status, /^\+OK/);
      assert.equal(r.lines.length, 2);
      for (const [i, line] of r.lines.entries()) {
        const m = /^(\d+) ([\x21-\x7e]{1,70})$/.exec(line);
        assert.ok(m, line);
        assert.equal(Number(m[1]), i + 1);
        uids.push(m[2]);
      }
      assert.equal(new Set(uids).size, 2);
    });
    await t.step("C: LIST → the sizes of the stored messages", async () => {
      const r = await c.commandMulti("LIST");
      assert.match(r.status, /^\+OK/);
      assert.deepEqual(r.lines, [`1 ${sizes[0]}`, `2 ${sizes[1]}`]);
    });
    await t.step("C: RETR 1 → +OK <size> octets, the message, dot-terminated", async () => {
      await c.send("RETR 1\r\n");
      assert.equal(await c.line(), `+OK ${sizes[0]} octets`);
      const body = await c.rawBody();
      assert.deepEqual(body, stored[0]);
      assert.match(new TextDecoder().decode(body), /\r\n\r\n\.hello\r\nworld\r\n$/);
    });
    await t.step("C: QUIT → +OK and the server closes", async () => {
      assert.match(await c.command("QUIT"), /^\+OK/);
      assert.equal(await c.closedByServer(), true);
    });
    await t.step("nothing was deleted, and the UIDLs are the same next time", async () => {
      const again = await Pop3Client.open(server.pop3Port);
      try {
        assert.match(await again.login(USER, PASSWORD), /^\+OK/);
        const r = await again.commandMulti("UIDL");
        assert.deepEqual(r.lines, uids.map((u, i) => `${i + 1} ${u}`));
        assert.match(await again.command("QUIT"), /^\+OK/);
      } finally {
        again.close();
      }
      uids = [];
    });
  } finally {
    c.close();
    await server.stop();
    await server.cleanup();
  }
});

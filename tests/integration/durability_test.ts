/**
 * Durability: the server is SIGKILLed while clients are sending. After a restart on the same
 * data, every message that got a 250 is there exactly once, and no partial message is visible.
 */
import assert from "node:assert/strict";
import { RawClient } from "../helpers/raw_client.ts";
import { TestServer } from "../helpers/test_server.ts";
import { readInbox } from "../helpers/read_mail.ts";

const USER = "dave@test.example";
const PASSWORD = "durability password";
const CLIENTS = 8;
const BODY = "line of body text that makes the message a little longer\r\n".repeat(60);

/** Sends messages in a loop until the connection fails; records each acknowledged subject. */
async function sender(port: number, id: number, acked: Set<string>, sent: Set<string>) {
  let c: RawClient | undefined;
  try {
    c = await RawClient.connect(port);
    await c.reply();
    await c.command(`EHLO sender${id}.test`);
    for (let i = 0;; i++) {
      const subject = `m-${id}-${i}`;
      if ((await c.command("MAIL FROM:<s@remote.test>")).code !== 250) return;
      if ((await c.command(`RCPT TO:<${USER}>`)).code !== 250) return;
      if ((await c.command("DATA")).code !== 354) return;
      sent.add(subject);
      const r = await c.command(`Subject: ${subject}\r\n\r\n${BODY}END ${subject}\r\n.`);
      if (r.code === 250) acked.add(subject);
    }
  } catch {
    // The server was killed: this client's last message may be unacknowledged.
  } finally {
    c?.close();
  }
}

Deno.test("SIGKILL during delivery loses no acknowledged mail and shows no partial mail", async () => {
  const first = await TestServer.start();
  await first.addUser(USER, PASSWORD);
  const acked = new Set<string>();
  const sent = new Set<string>();
  const senders = Array.from(
    { length: CLIENTS },
    (_, i) => sender(first.smtpPort, i, acked, sent),
  );
  const deadline = Date.now() + 30_000;
  while (acked.size < 150 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await first.kill();
  await Promise.all(senders);
  assert.ok(acked.size >= 150, `only ${acked.size} messages were acknowledged before the kill`);

  const second = await TestServer.start({ dir: first.dir });
  try {
    const stored = (await readInbox(second.dbPath, USER, PASSWORD)).map((m) =>
      new TextDecoder().decode(m)
    );
    const subjects = stored.map((text) => {
      const subject = /\r\nSubject: (m-\d+-\d+)\r\n/.exec(text)?.[1];
      assert.ok(subject, "a stored message has no subject");
      assert.ok(
        text.endsWith(`\r\n\r\n${BODY}END ${subject}\r\n`),
        `message ${subject} is incomplete`,
      );
      assert.ok(sent.has(subject), `stored ${subject} was never sent`);
      return subject;
    });
    assert.equal(new Set(subjects).size, subjects.length, "a message is stored twice");
    const missing = [...acked].filter((s) => !subjects.includes(s));
    assert.deepEqual(missing, [], "acknowledged messages lost");
  } finally {
    await second.stop();
    await second.cleanup();
  }
});

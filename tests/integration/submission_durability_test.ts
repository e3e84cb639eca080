/**
 * Group commit with the WAL flushed off the event loop (src/store/sqlite/wal_sync.ts): the
 * server is SIGKILLed while users submit mail for a remote domain. Every message that got its
 * 250 is then in the queue or already at the remote peer, and in the sender's Sent mailbox,
 * each once; nothing unacknowledged was relayed half-written.
 */
import assert from "node:assert/strict";
import { FakePeer } from "../helpers/smtp_peer.ts";
import { RawClient } from "../helpers/raw_client.ts";
import { readMailboxText } from "../helpers/read_mail.ts";
import { TestServer } from "../helpers/test_server.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";

const USER = "rita@test.example";
const PASSWORD = "rita's submission password";
const CLIENTS = 8;
const BODY = "a line of text to make the message somewhat longer than a few octets\r\n".repeat(40);
const dec = new TextDecoder();

const subjectOf = (text: string) => /\r\nSubject: (m-\d+-\d+)\r\n/.exec(text)?.[1];

/** Submits messages until the connection fails; records each one that got its 250. */
async function sender(port: number, id: number, acked: Set<string>, sent: Set<string>) {
  let c: RawClient | undefined;
  try {
    c = await RawClient.connect(port);
    await c.reply();
    await c.command(`EHLO client${id}.test`);
    const auth = await c.command(`AUTH PLAIN ${btoa(`\0${USER}\0${PASSWORD}`)}`);
    if (auth.code !== 235) throw new Error(`AUTH: ${auth.code}`);
    for (let i = 0;; i++) {
      const subject = `m-${id}-${i}`;
      if ((await c.command(`MAIL FROM:<${USER}>`)).code !== 250) return;
      if ((await c.command(`RCPT TO:<to${id}@far.example>`)).code !== 250) return;
      if ((await c.command("DATA")).code !== 354) return;
      sent.add(subject);
      const r = await c.command(
        `From: <${USER}>\r\nTo: <to${id}@far.example>\r\nSubject: ${subject}\r\n\r\n` +
          `${BODY}END ${subject}\r\n.`,
      );
      if (r.code === 250) acked.add(subject);
    }
  } catch {
    // The server was killed: this client's last message may be unacknowledged.
  } finally {
    c?.close();
  }
}

Deno.test("SIGKILL during submission loses no acknowledged message (queue and Sent)", async () => {
  const peer = await FakePeer.start({});
  const server = await TestServer.start({
    dns: {
      mx: { "far.example": [[10, "mx.far.example"]] },
      a: { "mx.far.example": "127.0.0.1" },
    },
    tables: { outbound: { port: peer.port } },
  });
  try {
    await server.addUser(USER, PASSWORD);
    const acked = new Set<string>();
    const sent = new Set<string>();
    const senders = Array.from(
      { length: CLIENTS },
      (_, i) => sender(server.submissionPort, i, acked, sent),
    );
    const deadline = Date.now() + 60_000;
    while (acked.size < 150 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await server.kill();
    await Promise.all(senders);
    assert.ok(acked.size >= 150, `only ${acked.size} messages were acknowledged before the kill`);

    // At the peer: every relayed message whole.
    const relayed = peer.transactions.map((t) => {
      const text = dec.decode(t.content);
      const subject = subjectOf(text);
      assert.ok(subject, "a relayed message has no subject");
      assert.ok(text.endsWith(`${BODY}END ${subject}\r\n`), `relayed ${subject} is incomplete`);
      return subject;
    });
    // In the queue: the rest.
    const store = SqliteMailStore.open(server.dbPath);
    const queued: string[] = [];
    try {
      for (const m of await store.queue.list()) {
        const content = await store.queue.content(m.id);
        const subject = subjectOf(dec.decode(content));
        assert.ok(subject, "a queued message has no subject");
        queued.push(subject);
      }
    } finally {
      await store.close();
    }
    for (const s of [...relayed, ...queued]) assert.ok(sent.has(s), `${s} was never sent`);
    const outbound = new Set([...relayed, ...queued]);
    const lost = [...acked].filter((s) => !outbound.has(s));
    assert.deepEqual(lost, [], "acknowledged messages neither queued nor relayed");
    assert.equal(new Set(queued).size, queued.length, "a message is queued twice");

    const sentCopies = (await readMailboxText(server.dbPath, USER, PASSWORD, "Sent")).map((t) =>
      subjectOf(t)
    );
    assert.equal(new Set(sentCopies).size, sentCopies.length, "a Sent copy is stored twice");
    const noCopy = [...acked].filter((s) => !sentCopies.includes(s));
    assert.deepEqual(noCopy, [], "acknowledged messages without their Sent copy");
  } finally {
    await server.kill().catch(() => {});
    await peer.close();
    await server.cleanup();
  }
});

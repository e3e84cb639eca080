/**
 * POP3 answers to pipelined RETRs wait for a client that does not read (src/pop3/commands.ts,
 * Connection.drained): a client pipelining many RETRs of a large message and reading nothing
 * gets only a bounded amount queued for it, and everything once it reads.
 */
import assert from "node:assert/strict";
import type { UnlockedUserKeys } from "../../src/crypto/user_keys.ts";
import { createLogger } from "../../src/log.ts";
import type { Maildrop } from "../../src/mail/maildrop.ts";
import { Connection } from "../../src/net/connection.ts";
import { Pop3Session } from "../../src/pop3/session.ts";
import type { MessageMeta } from "../../src/store/mail_store.ts";
import { MemorySocket } from "../helpers/memory_socket.ts";

const MESSAGE_OCTETS = 300_000;
const RETRS = 50;

/** A socket whose client reads nothing until `release()`: writes stay pending in it. */
class StalledSocket extends MemorySocket {
  #held: (() => void)[] | undefined = [];
  received = 0;

  override _write(chunk: Uint8Array | string, _enc: string, done: () => void): void {
    this.received += chunk.length;
    const held = this.#held;
    if (held) held.push(() => done());
    else done();
  }

  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const done of held) done();
  }
}

/** Yields to the event loop `turns` times (no timing: a session that can go on, goes on). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) await turns(1);
  assert.ok(cond(), "condition never met");
}

Deno.test("pop3: pipelined RETRs to a client that reads nothing queue a bounded amount", async () => {
  const line = "x".repeat(98) + "\r\n";
  const content = new TextEncoder().encode(
    "Subject: big\r\n\r\n" + line.repeat(Math.ceil(MESSAGE_OCTETS / line.length)),
  );
  const meta: MessageMeta = {
    mailboxId: "inbox",
    uid: 1,
    size: content.length,
    internalDate: 0,
    flags: [],
    modSeq: 1,
  };
  let reads = 0;
  const drop = {
    messages: [meta],
    mailboxId: "inbox",
    uidValidity: 1,
    read: () => (reads++, Promise.resolve(content)),
    readAhead: () => {},
    expunge: () => Promise.resolve(),
    release: () => {},
  } as unknown as Maildrop;
  const socket = new StalledSocket();
  const conn = new Connection(socket.asSocket(), { maxLineLength: 1000, timeoutMs: 10_000 });
  const session = new Pop3Session(conn, {
    hostname: "pop.example.org",
    tls: undefined,
    plaintextAllowed: () => true,
    login: () => Promise.resolve({ address: "a@example.org", keys: {} as UnlockedUserKeys }),
    openMaildrop: () => Promise.resolve(drop),
    maxLoginFailures: 3,
    maxErrors: 50,
    handshakeTimeoutMs: 1000,
  }, createLogger("error", () => {}));
  const done = session.run();
  socket.send(`USER a@example.org\r\nPASS p\r\n${"RETR 1\r\n".repeat(RETRS)}`);

  // The session stops reading messages once about a mebibyte waits for the client.
  await until(() => socket.writableLength >= 1024 * 1024);
  const stalledAt = reads;
  await turns(50);
  assert.equal(reads, stalledAt, "no more messages read while the client reads nothing");
  assert.ok(reads < RETRS / 5, `${reads} of ${RETRS} messages read`);
  assert.ok(socket.writableLength < 2 * 1024 * 1024, `${socket.writableLength} octets queued`);

  // Once the client reads, every answer comes, whole.
  socket.release();
  const stuffedTerminator = ".\r\n";
  await until(() => reads === RETRS && socket.writableLength === 0);
  socket.send("QUIT\r\n");
  await done;
  const expected = RETRS * (`+OK ${content.length} octets\r\n`.length + content.length +
    stuffedTerminator.length);
  assert.ok(socket.received >= expected, `${socket.received} octets sent, ${expected} expected`);
});

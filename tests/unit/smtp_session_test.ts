/** The SMTP session machine fed with bytes over an in-memory socket. */
import assert from "node:assert/strict";
import { StoreError } from "../../src/store/mail_store.ts";
import { Connection } from "../../src/net/connection.ts";
import { createLogger } from "../../src/log.ts";
import type { InboundMessage } from "../../src/mail/message_types.ts";
import { type SmtpPorts, SmtpSession } from "../../src/smtp/session.ts";
import { MemorySocket } from "../helpers/memory_socket.ts";
import { OctetBudget } from "../../src/net/octet_budget.ts";

const USERS = new Set(["alice@example.org", "bob@example.org", "postmaster@example.org"]);

function start(
  overrides: Partial<SmtpPorts["limits"]> = {},
  maxLineLength = 1000,
  memory?: OctetBudget,
) {
  const socket = new MemorySocket();
  const delivered: InboundMessage[] = [];
  const ports: SmtpPorts = {
    memory,
    hostname: "mx.example.org",
    nodeId: "node-t",
    tls: undefined,
    limits: {
      maxMessageSize: 1000,
      maxRecipients: 3,
      maxErrors: 5,
      commandTimeoutMs: 2000,
      ...overrides,
    },
    postmaster: "postmaster@example.org",
    checkRecipient: (a) =>
      Promise.resolve(
        !a.endsWith("@example.org") ? "not-local" : USERS.has(a) ? "ok" : "no-such-user",
      ),
    deliver: (m) => {
      delivered.push(m);
      return Promise.resolve();
    },
    now: () => new Date(Date.UTC(2026, 10, 26, 12, 0, 0)),
    newId: () => "ID1",
  };
  const conn = new Connection(socket.asSocket(), {
    maxLineLength,
    timeoutMs: ports.limits.commandTimeoutMs,
  });
  const session = new SmtpSession(conn, ports, createLogger("error", () => {}));
  const done = session.run();
  return { socket, delivered, done, session, ports };
}

/** Sends `input`, waits for `expect` to appear in the output, returns the new output. */
async function exchange(socket: MemorySocket, input: string, expect: RegExp): Promise<string> {
  const before = socket.output.length;
  socket.send(input);
  await socket.waitFor(new RegExp(`[\\s\\S]{${before}}[\\s\\S]*${expect.source}`));
  return socket.output.slice(before);
}

async function finish(s: { socket: MemorySocket; done: Promise<void> }) {
  await exchange(s.socket, "QUIT\r\n", /221 /);
  await s.done;
}

Deno.test("smtp session: greeting, EHLO capabilities and a full transaction", async () => {
  const s = start();
  await s.socket.waitFor(/^220 mx\.example\.org ESMTP/);
  const ehlo = await exchange(s.socket, "EHLO client.test\r\n", /250 CHUNKING\r\n/);
  for (const cap of ["PIPELINING", "SIZE 1000", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"]) {
    assert.match(ehlo, new RegExp(`250-${cap}\r\n`));
  }
  assert.doesNotMatch(ehlo, /STARTTLS|AUTH/);
  await exchange(s.socket, "MAIL FROM:<sender@remote.test>\r\n", /250 2\.1\.0/);
  await exchange(s.socket, "RCPT TO:<Alice@Example.org>\r\n", /250 2\.1\.5/);
  await exchange(s.socket, "DATA\r\n", /354 /);
  await exchange(s.socket, "Subject: hi\r\n\r\n..dot line\r\nend\r\n.\r\n", /250 2\.0\.0/);
  assert.equal(s.delivered.length, 1);
  const text = new TextDecoder().decode(s.delivered[0].content);
  assert.deepEqual(s.delivered[0].recipients, ["alice@example.org"]);
  assert.match(text, /^Return-Path: <sender@remote\.test>\r\nReceived: from client\.test/);
  assert.match(text, /by mx\.example\.org \(fsmtp node-t\) with ESMTP\r\n/);
  assert.ok(text.endsWith("Subject: hi\r\n\r\n.dot line\r\nend\r\n"));
  await finish(s);
});

Deno.test("smtp session: sequence errors get 503 5.5.1", async () => {
  const s = start({ maxErrors: 20 });
  await s.socket.waitFor(/^220 /);
  assert.match(await exchange(s.socket, "MAIL FROM:<a@b.test>\r\n", /503 /), /503 5\.5\.1/);
  await exchange(s.socket, "HELO c.test\r\n", /250 /);
  assert.match(await exchange(s.socket, "RCPT TO:<alice@example.org>\r\n", /503 /), /5\.5\.1/);
  assert.match(await exchange(s.socket, "DATA\r\n", /503 /), /5\.5\.1/);
  await exchange(s.socket, "MAIL FROM:<a@b.test>\r\n", /250 /);
  assert.match(await exchange(s.socket, "MAIL FROM:<a@b.test>\r\n", /503 /), /5\.5\.1/);
  assert.match(await exchange(s.socket, "DATA\r\n", /503 /), /5\.5\.1/);
  await finish(s);
});

Deno.test("smtp session: syntax errors and unknown commands", async () => {
  const s = start({ maxErrors: 20 });
  await s.socket.waitFor(/^220 /);
  assert.match(await exchange(s.socket, "FOO bar\r\n", /500 /), /500 5\.5\.2/);
  assert.match(await exchange(s.socket, "EHLO\r\n", /501 /), /501 5\.5\.4/);
  await exchange(s.socket, "EHLO c.test\r\n", /250 CHUNKING/);
  assert.match(await exchange(s.socket, "MAIL FROM:a@b.test\r\n", /501 /), /5\.5\.4/);
  assert.match(await exchange(s.socket, "MAIL FROM:<a@b.test> FOO=1\r\n", /555 /), /5\.5\.4/);
  assert.match(
    await exchange(s.socket, "MAIL FROM:<a@b.test> SIZE=5000\r\n", /552 /),
    /552 5\.3\.4/,
  );
  assert.match(await exchange(s.socket, "VRFY alice\r\n", /252 /), /252 2\.5\.0/);
  assert.match(await exchange(s.socket, "HELP\r\n", /214 /), /214 2\.0\.0/);
  assert.match(await exchange(s.socket, "AUTH PLAIN AAAA\r\n", /503 /), /503 5\.5\.1/);
  await finish(s);
});

Deno.test("smtp session: relay tricks are refused 5.7.1, unknown users 5.1.1", async () => {
  const s = start({ maxErrors: 50 });
  await s.socket.waitFor(/^220 /);
  await exchange(s.socket, "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\n", /250 2\.1\.0/);
  for (
    const rcpt of [
      "<victim@elsewhere.test>",
      "<victim%elsewhere.test@example.org>",
      "<elsewhere.test!victim@example.org>",
      "<@example.org:victim@elsewhere.test>",
      "<@example.org:alice@example.org>",
      '<"victim@elsewhere.test"@example.org>',
      "<victim@[192.0.2.1]>",
    ]
  ) {
    assert.match(await exchange(s.socket, `RCPT TO:${rcpt}\r\n`, /\r\n/), /^550 5\.7\.1 /, rcpt);
  }
  assert.match(
    await exchange(s.socket, "RCPT TO:<nobody@example.org>\r\n", /\r\n/),
    /^550 5\.1\.1/,
  );
  assert.match(await exchange(s.socket, "RCPT TO:<Postmaster>\r\n", /\r\n/), /^250 2\.1\.5/);
  await finish(s);
});

Deno.test("smtp session: recipient limit answers 452 4.5.3", async () => {
  const s = start({ maxRecipients: 2 });
  await s.socket.waitFor(/^220 /);
  await exchange(s.socket, "EHLO c.test\r\nMAIL FROM:<>\r\n", /250 2\.1\.0/);
  await exchange(s.socket, "RCPT TO:<alice@example.org>\r\n", /250 2\.1\.5/);
  await exchange(s.socket, "RCPT TO:<bob@example.org>\r\n", /250 2\.1\.5/);
  assert.match(
    await exchange(s.socket, "RCPT TO:<postmaster@example.org>\r\n", /\r\n/),
    /^452 4\.5\.3/,
  );
  await finish(s);
});

Deno.test("smtp session: message over the size limit gets 552 and nothing is delivered", async () => {
  const s = start({ maxMessageSize: 100 });
  await s.socket.waitFor(/^220 /);
  await exchange(
    s.socket,
    "EHLO c.test\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\n",
    /2\.1\.5/,
  );
  await exchange(s.socket, "DATA\r\n", /354/);
  const body = "x".repeat(60) + "\r\n" + "y".repeat(60) + "\r\n.\r\n";
  assert.match(await exchange(s.socket, body, /552 /), /552 5\.3\.4/);
  assert.equal(s.delivered.length, 0);
  // Exactly at the limit is accepted.
  await exchange(s.socket, "MAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n", /354/);
  assert.match(await exchange(s.socket, "z".repeat(98) + "\r\n.\r\n", /250 /), /250 2\.0\.0/);
  await finish(s);
});

Deno.test("smtp session: smuggling attempts with bare LF never end DATA", async () => {
  const s = start();
  await s.socket.waitFor(/^220 /);
  await exchange(
    s.socket,
    "EHLO c.test\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\n",
    /2\.1\.5/,
  );
  await exchange(s.socket, "DATA\r\n", /354/);
  const smuggle = "Subject: a\r\n\r\nbody\n.\nMAIL FROM:<evil@x.test>\r\n" +
    "body\r\n.\nRCPT TO:<bob@example.org>\r\n.\r\n";
  const out = await exchange(s.socket, smuggle, /\d{3} /);
  assert.match(out, /^554 5\.6\.0 /);
  assert.equal(s.delivered.length, 0);
  await finish(s);
});

Deno.test("smtp session: BDAT chunks, and a refused chunk is still consumed", async () => {
  const s = start();
  await s.socket.waitFor(/^220 /);
  await exchange(s.socket, "EHLO c.test\r\n", /CHUNKING/);
  // Without a transaction the chunk's octets must be read, not run as commands.
  const refused = await exchange(s.socket, "BDAT 6 LAST\r\nNOOP\r\n", /503 /);
  assert.match(refused, /^503 5\.5\.1/);
  await exchange(s.socket, "NOOP\r\n", /250 2\.0\.0/);
  await exchange(s.socket, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@example.org>\r\n", /2\.1\.5/);
  const chunk1 = "Subject: x\r\n\r\n";
  const chunk2 = ".starts with dot\r\n";
  await exchange(
    s.socket,
    `BDAT ${chunk1.length}\r\n${chunk1}BDAT ${chunk2.length} LAST\r\n${chunk2}`,
    /250 2\.0\.0 OK/,
  );
  assert.equal(s.delivered.length, 1);
  assert.ok(
    new TextDecoder().decode(s.delivered[0].content).endsWith(chunk1 + chunk2),
    "BDAT content is not unstuffed",
  );
  await finish(s);
});

Deno.test("smtp session: over-long lines and too many errors end with 421", async () => {
  const s = start({ maxErrors: 3 });
  await s.socket.waitFor(/^220 /);
  assert.match(await exchange(s.socket, "A".repeat(3000) + "\r\n", /500 /), /500 5\.5\.2 Line/);
  s.socket.send("\x00\xff\xfe garbage\r\nBAD\r\n");
  await s.socket.waitFor(/421 4\.7\.0/);
  await s.done;
});

Deno.test("smtp session: a silent client is cut at the timeout", async () => {
  const s = start({ commandTimeoutMs: 200 });
  await s.socket.waitFor(/^220 /);
  await s.socket.waitFor(/421 4\.4\.2/, 3000);
  await s.done;
});

Deno.test("smtp session: hanging up mid-DATA stores nothing", async () => {
  const s = start();
  await s.socket.waitFor(/^220 /);
  await exchange(
    s.socket,
    "EHLO c.test\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\n",
    /2\.1\.5/,
  );
  await exchange(s.socket, "DATA\r\n", /354/);
  s.socket.send("Subject: half\r\n\r\npart of a body");
  s.socket.hangUp();
  await s.done;
  assert.equal(s.delivered.length, 0);
});

Deno.test("smtp session: SMTPUTF8 is needed for non-ASCII addresses", async () => {
  const s = start();
  await s.socket.waitFor(/^220 /);
  await exchange(s.socket, "EHLO c.test\r\n", /CHUNKING/);
  assert.match(await exchange(s.socket, "MAIL FROM:<jörg@b.test>\r\n", /\r\n/), /^553 5\.6\.7/);
  assert.match(
    await exchange(s.socket, "MAIL FROM:<jörg@b.test> SMTPUTF8 BODY=8BITMIME\r\n", /\r\n/),
    /^250 2\.1\.0/,
  );
  await finish(s);
});

Deno.test("smtp session: messages beyond the memory budget get 452 4.3.1, memory comes back", async () => {
  // The budget counts the content buffer and the copies made on the way to the store (the
  // sealed form, the store's own), so a 90 KB message needs some 350 KB of it.
  const memory = new OctetBudget(500_000);
  const s = start({ maxMessageSize: 100_000 }, 1000, memory);
  await s.socket.waitFor(/^220 /);
  const rcpt = "EHLO c.test\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\n";
  await exchange(s.socket, rcpt, /2\.1\.5/);
  // Another session holds most of the budget: this DATA cannot grow past its first buffer.
  assert.ok(memory.take(400_000));
  await exchange(s.socket, "DATA\r\n", /354/);
  const big = ("y".repeat(98) + "\r\n").repeat(900) + ".\r\n";
  assert.match(await exchange(s.socket, big, /\d{3} /), /^452 4\.3\.1/);
  assert.equal(s.delivered.length, 0);
  assert.equal(memory.used, 400_000, "the refused message gave its memory back");
  memory.give(400_000);
  await exchange(s.socket, rcpt.slice("EHLO c.test\r\n".length) + "DATA\r\n", /354/);
  assert.match(await exchange(s.socket, big, /\d{3} /), /^250 2\.0\.0/);
  assert.equal(memory.used, 0);
  // BDAT chunks are counted too, and given back when the session ends.
  await exchange(s.socket, "MAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\n", /2\.1\.5/);
  await exchange(s.socket, "BDAT 10\r\n0123456789", /250 /);
  assert.equal(memory.used, 10);
  s.socket.hangUp();
  await s.done;
  assert.equal(memory.used, 0);
});

Deno.test("smtp session: a store that cannot answer gets 451 4.3.0, and the session goes on", async () => {
  const s = start();
  let down = true;
  const real = s.ports.checkRecipient;
  s.ports.checkRecipient = (a) =>
    down ? Promise.reject(new StoreError("no quorum", "unavailable")) : real(a);
  await s.socket.waitFor(/^220 /);
  await exchange(s.socket, "EHLO c.test\r\nMAIL FROM:<>\r\n", /2\.1\.0/);
  assert.match(
    await exchange(s.socket, "RCPT TO:<alice@example.org>\r\n", /\d{3} /),
    /^451 4\.3\.0/,
  );
  down = false;
  assert.match(await exchange(s.socket, "RCPT TO:<alice@example.org>\r\n", /\d{3} /), /^250 /);
  s.socket.hangUp();
  await s.done;
});

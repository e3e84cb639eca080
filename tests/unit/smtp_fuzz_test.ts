/**
 * Seeded random input in every session state: the session must answer with protocol replies
 * only (never crash, never hang), and a well-formed transaction afterwards still works.
 */
import assert from "node:assert/strict";
import { Connection } from "../../src/net/connection.ts";
import { createLogger } from "../../src/log.ts";
import type { InboundMessage } from "../../src/mail/message_types.ts";
import { type SmtpPorts, SmtpSession } from "../../src/smtp/session.ts";
import { MemorySocket } from "../helpers/memory_socket.ts";

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VERBS = ["EHLO", "HELO", "MAIL FROM:", "RCPT TO:", "DATA", "BDAT", "RSET", "NOOP", "VRFY"];

function garbage(rand: () => number): Uint8Array {
  const out: number[] = [];
  const n = Math.floor(rand() * 200);
  if (rand() < 0.5) {
    for (const c of new TextEncoder().encode(VERBS[Math.floor(rand() * VERBS.length)])) out.push(c);
  }
  for (let i = 0; i < n; i++) {
    const r = rand();
    out.push(r < 0.1 ? 13 : r < 0.2 ? 10 : r < 0.3 ? 46 : Math.floor(rand() * 256));
  }
  out.push(13, 10);
  return new Uint8Array(out);
}

const PREFIXES = [
  "",
  "EHLO f.test\r\n",
  "EHLO f.test\r\nMAIL FROM:<a@b.test>\r\n",
  "EHLO f.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.org>\r\n",
];

Deno.test("smtp session survives seeded garbage in every state", async () => {
  for (let seed = 1; seed <= 60; seed++) {
    const rand = prng(seed);
    const socket = new MemorySocket();
    const delivered: InboundMessage[] = [];
    const ports: SmtpPorts = {
      hostname: "mx.example.org",
      nodeId: "fuzz",
      tls: undefined,
      limits: { maxMessageSize: 4096, maxRecipients: 5, maxErrors: 1000, commandTimeoutMs: 2000 },
      postmaster: "postmaster@example.org",
      checkRecipient: (a) => Promise.resolve(a === "u@example.org" ? "ok" : "no-such-user"),
      deliver: (m) => {
        delivered.push(m);
        return Promise.resolve();
      },
      now: () => new Date(0),
      newId: () => "F",
    };
    const conn = new Connection(socket.asSocket(), { maxLineLength: 1000, timeoutMs: 2000 });
    const done = new SmtpSession(conn, ports, createLogger("error", () => {})).run();
    socket.send(PREFIXES[seed % PREFIXES.length]);
    for (let i = 0; i < 20; i++) socket.send(garbage(rand));
    // Whatever state the garbage left, a full transaction must work afterwards: fill a BDAT
    // chunk that may be swallowing bytes, end a DATA that may be open, then start over.
    socket.send(new Uint8Array(5000).fill(0x41));
    socket.send("\r\n.\r\nRSET\r\nEHLO ok.test\r\nMAIL FROM:<ok@b.test>\r\n");
    socket.send("RCPT TO:<u@example.org>\r\nDATA\r\n");
    socket.send("Subject: after fuzz\r\n\r\nfine\r\n.\r\nQUIT\r\n");
    await socket.waitFor(/221 2\.0\.0 Bye/);
    await done;
    const last = new TextDecoder().decode(delivered.at(-1)?.content);
    assert.ok(last.endsWith("Subject: after fuzz\r\n\r\nfine\r\n"), `seed ${seed}`);
    for (const line of socket.output.split("\r\n").filter((l) => l !== "")) {
      assert.match(line, /^\d{3}[ -]/, `seed ${seed}: not a reply line: ${line.slice(0, 80)}`);
    }
  }
});

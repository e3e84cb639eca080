/** The scripted SMTP peer the outbound tests use (tests/helpers/smtp_peer.ts) checks itself. */
import assert from "node:assert/strict";
import { FakePeer } from "../helpers/smtp_peer.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("fake SMTP peer: answers a plain conversation", async () => {
  const peer = await FakePeer.start({ rcpt: (to) => to.startsWith("x") ? "550 no" : undefined });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: peer.port });
    const lines = [
      "EHLO t",
      "MAIL FROM:<a@b>",
      "RCPT TO:<x@y>",
      "RCPT TO:<ok@y>",
      "DATA",
    ];
    await conn.write(encoder.encode(lines.map((l) => `${l}\r\n`).join("")));
    await conn.write(encoder.encode("..dot\r\nline\r\n.\r\nQUIT\r\n"));
    let text = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n));
    }
    conn.close();
    assert.match(text, /^220 /);
    assert.match(text, /550 no\r\n250 2\.1\.5 OK\r\n354 go ahead\r\n250 2\.0\.0 queued/);
    assert.equal(peer.transactions.length, 1);
    assert.deepEqual(peer.transactions[0].rcpts, ["ok@y"]);
    assert.equal(decoder.decode(peer.transactions[0].content), ".dot\r\nline\r\n");
    assert.equal(peer.transactions[0].pipelined, true);
  } finally {
    await peer.close();
  }
});

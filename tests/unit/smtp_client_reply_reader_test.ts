/**
 * The outbound client's reply parser (RFC 5321 §4.2): single and multi-line replies, enhanced
 * status codes (RFC 3463), replies split anywhere across reads, pipelined replies in one read,
 * and the limits that keep a hostile server from filling memory.
 */
import assert from "node:assert/strict";
import {
  parseReply,
  ReplyFormatError,
  ReplyReader,
  replyText,
} from "../../src/smtp_client/reply_reader.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("reply reader", async (t) => {
  await t.step("a one-line reply with an enhanced code", () => {
    const r = parseReply("250 2.1.0 Sender OK\r\n");
    assert.deepEqual(r, { code: 250, enhanced: "2.1.0", lines: ["2.1.0 Sender OK"] });
    assert.equal(replyText(r), "250 2.1.0 Sender OK");
  });

  await t.step("a multi-line reply: code on every line, the last one with SP", () => {
    const r = parseReply(
      "250-mx.example greets you\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n",
    );
    assert.equal(r.code, 250);
    assert.deepEqual(r.lines, ["mx.example greets you", "PIPELINING", "SIZE 1000", "8BITMIME"]);
    assert.equal(r.enhanced, undefined);
  });

  await t.step("a code alone is a complete reply (§4.2: the text is optional)", () => {
    assert.deepEqual(parseReply("354\r\n"), { code: 354, lines: [""] });
    assert.equal(replyText(parseReply("354\r\n")), "354");
  });

  await t.step("the enhanced code is kept only when its class matches the reply's", () => {
    assert.equal(parseReply("550 4.1.1 odd").enhanced, undefined);
    assert.equal(parseReply("451 4.7.1 greylisted").enhanced, "4.7.1");
    assert.equal(parseReply("550 5.1.10 null MX").enhanced, "5.1.10");
    assert.equal(parseReply("550 5.1.1x not a code").enhanced, undefined);
  });

  await t.step("replyText joins lines and says a repeated enhanced code once", () => {
    const r = parseReply("550-5.1.1 no such user\r\n550 5.1.1 try another one\r\n");
    assert.equal(replyText(r), "550 5.1.1 no such user try another one");
  });

  await t.step("bytes fed one at a time give the same replies", () => {
    const reader = new ReplyReader();
    const wire = bytes("220-hello\r\n220 ready\r\n250 OK\r\n");
    const got = [];
    for (const b of wire) {
      reader.push(Uint8Array.of(b));
      const r = reader.next();
      if (r) got.push(r);
    }
    assert.deepEqual(got.map((r) => [r.code, r.lines]), [[220, ["hello", "ready"]], [250, ["OK"]]]);
    assert.equal(reader.buffered, 0);
  });

  await t.step("pipelined replies in one read come out one by one, in order", () => {
    const reader = new ReplyReader();
    reader.push(bytes("250 2.1.0 ok\r\n550 5.1.1 no\r\n451 4.7.1 later\r\n250 2."));
    assert.equal(reader.next()?.code, 250);
    assert.equal(reader.next()?.code, 550);
    assert.equal(reader.next()?.code, 451);
    assert.equal(reader.next(), undefined);
    assert.ok(reader.buffered > 0);
    reader.push(bytes("1.5 ok\r\n"));
    assert.equal(replyText(reader.next()!), "250 2.1.5 ok");
  });

  await t.step("bare LF line ends are accepted", () => {
    assert.deepEqual(parseReply("250-a\n250 b\n").lines, ["a", "b"]);
  });

  await t.step("a multi-line reply whose codes differ takes the last line's", () => {
    assert.equal(parseReply("250-first\r\n251 last\r\n").code, 251);
  });

  await t.step("UTF-8 text survives", () => {
    assert.equal(parseReply("250 2.0.0 café ✓\r\n").lines[0], "2.0.0 café ✓");
  });

  await t.step("malformed lines are errors, and the reader stays broken", () => {
    for (const bad of ["hello\r\n", "25 short\r\n", "250x text\r\n", "650 no such class\r\n"]) {
      const reader = new ReplyReader();
      reader.push(bytes(bad));
      assert.throws(() => reader.next(), ReplyFormatError, bad);
      reader.push(bytes("250 fine\r\n"));
      assert.throws(() => reader.next(), ReplyFormatError);
    }
  });

  await t.step("an endless line or reply is cut off", () => {
    const long = new ReplyReader({ maxLineLength: 100 });
    long.push(bytes(`250 ${"x".repeat(200)}`));
    assert.throws(() => long.next(), /longer than 100 octets/);
    const endless = new ReplyReader({ maxLines: 10 });
    endless.push(bytes("250-x\r\n".repeat(11)));
    assert.throws(() => endless.next(), /longer than 10 lines/);
    // Many complete replies (a big pipelined batch) are not "one long reply".
    const many = new ReplyReader({ maxLines: 10 });
    many.push(bytes("250 ok\r\n".repeat(50)));
    for (let i = 0; i < 50; i++) assert.equal(many.next()?.code, 250);
  });

  await t.step("parseReply wants exactly one reply", () => {
    assert.throws(() => parseReply("250 a\r\n250 b\r\n"), ReplyFormatError);
    assert.throws(() => parseReply("250-a\r\n"), ReplyFormatError);
    assert.equal(parseReply("221 bye").code, 221);
  });
});

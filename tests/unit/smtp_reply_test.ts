import assert from "node:assert/strict";
import { formatReply, Replies, type Reply, reply, SmtpError } from "../../src/smtp/reply.ts";

Deno.test("formatReply (RFC 5321 §4.2)", async (t) => {
  await t.step("single line without an enhanced code", () => {
    assert.equal(
      formatReply(reply(220, undefined, "mx.example ESMTP ready")),
      "220 mx.example ESMTP ready\r\n",
    );
  });

  await t.step("single line with an enhanced code (RFC 2034)", () => {
    assert.equal(formatReply(reply(250, "2.1.0", "Sender OK")), "250 2.1.0 Sender OK\r\n");
  });

  await t.step("a one-element array is a single line", () => {
    assert.equal(formatReply(reply(250, "2.0.0", ["OK"])), "250 2.0.0 OK\r\n");
  });

  await t.step("multi-line: '-' after the code on every line but the last (§4.2.1)", () => {
    assert.equal(
      formatReply(reply(250, undefined, ["mx.example", "PIPELINING", "SIZE 1000", "8BITMIME"])),
      "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n",
    );
  });

  await t.step("multi-line: the enhanced code on each line (RFC 2034 §3)", () => {
    assert.equal(
      formatReply(reply(550, "5.7.1", ["Relay denied", "see https://example.org/policy"])),
      "550-5.7.1 Relay denied\r\n550 5.7.1 see https://example.org/policy\r\n",
    );
  });

  await t.step("every line ends in CRLF and starts with the code", () => {
    const text = formatReply(reply(214, "2.0.0", ["a", "b", "c"]));
    const lines = text.split("\r\n");
    assert.equal(lines.pop(), "");
    assert.equal(lines.length, 3);
    for (const line of lines) assert.match(line, /^214[- ]2\.0\.0 [abc]$/);
    assert.ok(!/[^\r]\n/.test(text));
  });

  await t.step("an empty enhanced code is left out", () => {
    assert.equal(formatReply({ code: 354, enhanced: "", text: "Go" }), "354 Go\r\n");
  });

  await t.step("an empty text still gives a line", () => {
    assert.equal(formatReply(reply(250, undefined, "")), "250 \r\n");
  });
  await t.step("client text in a line is escaped to printable ASCII, never a second line", () => {
    const hostile = "mx \u202eevil\ufeff\u0085\u2028\r\n250 forged é";
    const wire = formatReply(reply(250, undefined, [`Hello ${hostile}`, "SIZE 10"]));
    assert.equal(
      wire,
      "250-Hello mx \\u202eevil\\ufeff\\u0085\\u2028\\u000d\\u000a250 forged \\u00e9\r\n" +
        "250 SIZE 10\r\n",
    );
    assert.equal(wire.split("\r\n").length, 3);
  });
});

Deno.test("Replies and SmtpError", async (t) => {
  await t.step("shared replies carry the RFC codes", () => {
    const cases: [Reply, number, string | undefined][] = [
      [Replies.ok, 250, "2.0.0"],
      [Replies.startData, 354, undefined],
      [Replies.bye, 221, "2.0.0"],
      [Replies.syntax("x"), 501, "5.5.4"],
      [Replies.unknownCommand, 500, "5.5.2"],
      [Replies.syntaxErrorBinary, 500, "5.5.2"],
      [Replies.badSequence("x"), 503, "5.5.1"],
      [Replies.badParameter("x"), 555, "5.5.4"],
      [Replies.tooBig, 552, "5.3.4"],
      [Replies.tooManyRecipients, 452, "4.5.3"],
      [Replies.relayDenied("x"), 550, "5.7.1"],
      [Replies.noSuchUser, 550, "5.1.1"],
      [Replies.timeout, 421, "4.4.2"],
      [Replies.shuttingDown, 421, "4.3.2"],
    ];
    for (const [r, code, enhanced] of cases) {
      assert.equal(r.code, code, JSON.stringify(r));
      assert.equal(r.enhanced, enhanced, JSON.stringify(r));
      // The class digit of the enhanced code matches the reply code's first digit.
      if (enhanced) assert.equal(enhanced[0], String(code)[0], JSON.stringify(r));
    }
  });

  await t.step("the start-data reply tells the client how to end", () => {
    assert.equal(formatReply(Replies.startData), "354 End data with <CR><LF>.<CR><LF>\r\n");
  });

  await t.step("SmtpError carries the reply and the close flag", () => {
    const e = new SmtpError(reply(550, "5.1.1", ["No such", "user"]), true);
    assert.ok(e instanceof Error);
    assert.equal(e.name, "SmtpError");
    assert.equal(e.reply.code, 550);
    assert.equal(e.close, true);
    assert.equal(e.message, "550 5.1.1 No such user");
    assert.equal(new SmtpError(Replies.ok).close, false);
  });
});

import assert from "node:assert/strict";
import { type Command, isReply, parseCommand, parseParams } from "../../src/smtp/parse_command.ts";
import { Replies, type Reply } from "../../src/smtp/reply.ts";

const enc = new TextEncoder();

function parse(line: string | Uint8Array): Command | Reply {
  return parseCommand(typeof line === "string" ? enc.encode(line) : line);
}

/** Parses a line that must succeed and returns the command. */
function ok(line: string): Command {
  const r = parse(line);
  assert.ok(!isReply(r), `${JSON.stringify(line)} was refused: ${JSON.stringify(r)}`);
  return r;
}

/** Parses a line that must be refused and returns the reply. */
function refused(line: string | Uint8Array, code = 501, enhanced = "5.5.4"): Reply {
  const r = parse(line);
  assert.ok(isReply(r), `${JSON.stringify(line)} was accepted: ${JSON.stringify(r)}`);
  assert.equal(r.code, code, `code for ${JSON.stringify(line)}`);
  assert.equal(r.enhanced, enhanced, `enhanced code for ${JSON.stringify(line)}`);
  return r;
}

Deno.test("parseCommand: verbs (RFC 5321 §4.1.1)", async (t) => {
  await t.step("EHLO and HELO take one domain, surrounding spaces trimmed", () => {
    assert.deepEqual(ok("EHLO client.example.org"), {
      verb: "EHLO",
      domain: "client.example.org",
    });
    assert.deepEqual(ok("HELO client"), { verb: "HELO", domain: "client" });
    assert.deepEqual(ok("EHLO  under_score.example "), {
      verb: "EHLO",
      domain: "under_score.example",
    });
    assert.deepEqual(ok("EHLO [192.0.2.1]"), { verb: "EHLO", domain: "[192.0.2.1]" });
  });

  await t.step("EHLO/HELO without a domain or with two words → 501", () => {
    refused("EHLO");
    refused("HELO ");
    refused("EHLO a b");
    refused("HELO a\tb");
  });

  await t.step("MAIL FROM with a mailbox", () => {
    const c = ok("MAIL FROM:<alice@example.org>");
    assert.equal(c.verb, "MAIL");
    if (c.verb !== "MAIL") return;
    assert.equal(c.path.mailbox?.localPart, "alice");
    assert.equal(c.path.mailbox?.domain, "example.org");
    assert.deepEqual(c.path.route, []);
    assert.equal(c.params.size, 0);
  });

  await t.step("RCPT TO with a mailbox", () => {
    const c = ok("RCPT TO:<bob@example.net>");
    assert.equal(c.verb, "RCPT");
    if (c.verb !== "RCPT") return;
    assert.equal(c.path.mailbox?.localPart, "bob");
    assert.equal(c.path.mailbox?.domain, "example.net");
  });

  await t.step("DATA, RSET, NOOP, QUIT, STARTTLS without arguments", () => {
    assert.deepEqual(ok("DATA"), { verb: "DATA" });
    assert.deepEqual(ok("RSET"), { verb: "RSET" });
    assert.deepEqual(ok("NOOP"), { verb: "NOOP" });
    assert.deepEqual(ok("QUIT"), { verb: "QUIT" });
    assert.deepEqual(ok("STARTTLS"), { verb: "STARTTLS" });
  });

  await t.step("trailing spaces after an argument-less verb are tolerated", () => {
    assert.deepEqual(ok("DATA "), { verb: "DATA" });
    assert.deepEqual(ok("QUIT  "), { verb: "QUIT" });
  });

  await t.step("DATA/RSET/QUIT/STARTTLS with arguments → 501 5.5.4", () => {
    for (const verb of ["DATA", "RSET", "QUIT", "STARTTLS"]) {
      const r = refused(`${verb} now`);
      assert.match(String(r.text), new RegExp(verb));
    }
  });

  await t.step("NOOP with a string is accepted and the string ignored (§4.1.1.9)", () => {
    assert.deepEqual(ok("NOOP hello there"), { verb: "NOOP" });
  });

  await t.step("VRFY, EXPN, HELP, AUTH keep their argument text", () => {
    assert.deepEqual(ok("VRFY alice"), { verb: "VRFY", argument: "alice" });
    assert.deepEqual(ok("EXPN list-name"), { verb: "EXPN", argument: "list-name" });
    assert.deepEqual(ok("HELP"), { verb: "HELP", argument: "" });
    assert.deepEqual(ok("HELP MAIL"), { verb: "HELP", argument: "MAIL" });
    assert.deepEqual(ok("AUTH PLAIN dGVzdAB0ZXN0AHB3"), {
      verb: "AUTH",
      argument: "PLAIN dGVzdAB0ZXN0AHB3",
    });
  });

  await t.step("verbs are case-insensitive", () => {
    assert.deepEqual(ok("ehlo x.example"), { verb: "EHLO", domain: "x.example" });
    assert.deepEqual(ok("HeLo x"), { verb: "HELO", domain: "x" });
    assert.equal(ok("mail from:<a@b.example>").verb, "MAIL");
    assert.equal(ok("rcpt to:<a@b.example>").verb, "RCPT");
    assert.equal(ok("Mail From:<a@b.example>").verb, "MAIL");
    assert.deepEqual(ok("data"), { verb: "DATA" });
    assert.deepEqual(ok("rset"), { verb: "RSET" });
    assert.deepEqual(ok("Quit"), { verb: "QUIT" });
    assert.deepEqual(ok("startTLS"), { verb: "STARTTLS" });
    assert.deepEqual(ok("noop"), { verb: "NOOP" });
    assert.deepEqual(ok("bdat 3 last"), { verb: "BDAT", size: 3, last: true });
    assert.equal(ok("vrfy x").verb, "VRFY");
    assert.equal(ok("expn x").verb, "EXPN");
    assert.equal(ok("help").verb, "HELP");
    assert.equal(ok("auth login").verb, "AUTH");
  });

  await t.step("unknown verbs → 500 5.5.2", () => {
    for (const line of ["TURN", "XYZZY foo", "", " MAIL FROM:<a@b.example>", "MAILFROM:<a@b>"]) {
      const r = refused(line, 500, "5.5.2");
      assert.deepEqual(r, Replies.unknownCommand);
    }
  });

  await t.step("object-prototype names are not verbs", () => {
    for (const line of ["__proto__", "constructor", "toString", "hasOwnProperty x"]) {
      refused(line, 500, "5.5.2");
    }
  });
});

Deno.test("parseCommand: MAIL/RCPT paths (RFC 5321 §4.1.2)", async (t) => {
  await t.step("one space after the colon is tolerated, none is the standard form", () => {
    for (const line of ["MAIL FROM:<a@b.example>", "MAIL FROM: <a@b.example>"]) {
      const c = ok(line);
      assert.equal(c.verb === "MAIL" && c.path.mailbox?.localPart, "a", line);
    }
    for (const line of ["RCPT TO:<a@b.example>", "RCPT TO: <a@b.example>"]) {
      const c = ok(line);
      assert.equal(c.verb === "RCPT" && c.path.mailbox?.domain, "b.example", line);
    }
  });

  await t.step("two spaces after the colon or a space before it → 501", () => {
    refused("MAIL FROM:  <a@b.example>");
    refused("MAIL FROM :<a@b.example>");
    refused("RCPT TO :<a@b.example>");
  });

  await t.step("missing FROM:/TO: keyword or angle brackets → 501", () => {
    refused("MAIL");
    refused("MAIL <a@b.example>");
    refused("MAIL TO:<a@b.example>");
    refused("RCPT FROM:<a@b.example>");
    refused("MAIL FROM:a@b.example");
    refused("RCPT TO:a@b.example");
    refused("MAIL FROM:<a@b.example");
  });

  await t.step("null reverse-path <> only for MAIL", () => {
    const c = ok("MAIL FROM:<>");
    assert.equal(c.verb, "MAIL");
    if (c.verb === "MAIL") {
      assert.equal(c.path.mailbox, undefined);
      assert.deepEqual(c.path.route, []);
    }
    const m = ok("MAIL FROM:<> BODY=8BITMIME");
    assert.equal(m.verb === "MAIL" && m.params.get("BODY"), "8BITMIME");
    refused("RCPT TO:<>");
  });

  await t.step("<Postmaster> without domain only for RCPT (§4.1.1.3)", () => {
    const c = ok("RCPT TO:<Postmaster>");
    assert.equal(c.verb === "RCPT" && c.path.mailbox?.localPart, "postmaster");
    refused("MAIL FROM:<Postmaster>");
  });

  await t.step("a path must be followed by a space before parameters", () => {
    refused("MAIL FROM:<a@b.example>SIZE=10");
  });

  await t.step("a malformed mailbox → 501 5.5.4", () => {
    refused("MAIL FROM:<a..b@example.org>");
    refused("RCPT TO:<a@-bad.example>");
    refused("RCPT TO:<no-domain>");
  });
});

Deno.test("parseCommand: ESMTP parameters (RFC 1869, RFC 5321 §4.1.2 esmtp-param)", async (t) => {
  await t.step("keywords are upper-cased; values keep their case; no value is undefined", () => {
    const c = ok("MAIL FROM:<a@b.example> size=1000 Body=8BITMIME SMTPUTF8 ret=hdrs");
    assert.equal(c.verb, "MAIL");
    if (c.verb !== "MAIL") return;
    assert.deepEqual([...c.params], [
      ["SIZE", "1000"],
      ["BODY", "8BITMIME"],
      ["SMTPUTF8", undefined],
      ["RET", "hdrs"],
    ]);
  });

  await t.step("RCPT parameters are parsed the same way", () => {
    const c = ok("RCPT TO:<a@b.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bb@c.example");
    assert.equal(c.verb, "RCPT");
    if (c.verb !== "RCPT") return;
    assert.equal(c.params.get("NOTIFY"), "SUCCESS,FAILURE");
    assert.equal(c.params.get("ORCPT"), "rfc822;a+2Bb@c.example");
  });

  await t.step("several spaces between parameters and trailing spaces are tolerated", () => {
    const c = ok("MAIL FROM:<a@b.example>  SIZE=1   BODY=7BIT  ");
    assert.equal(c.verb === "MAIL" && c.params.size, 2);
  });

  await t.step("a parameter given twice, in any case, → 501", () => {
    const r = refused("MAIL FROM:<a@b.example> SIZE=1 size=2");
    assert.match(String(r.text), /SIZE given twice/);
    refused("MAIL FROM:<a@b.example> SMTPUTF8 SMTPUTF8");
  });

  await t.step("malformed parameters → 501 naming the parameter", () => {
    for (const item of ["=1", "SIZE=", "-X=1", "X_Y=1", "A=b=c", "A==b", "ü=1"]) {
      const r = refused(`MAIL FROM:<a@b.example> ${item}`);
      assert.match(String(r.text), /Malformed parameter/, item);
    }
  });

  await t.step("parseParams: empty text is an empty map", () => {
    assert.deepEqual(parseParams(""), new Map());
    assert.deepEqual(parseParams("   "), new Map());
  });

  await t.step("parseParams: UTF-8 values allowed (RFC 6531), '=' in a value is not", () => {
    const p = parseParams(" ORCPT=utf-8;jörg@example.de");
    assert.ok(p instanceof Map);
    assert.equal(p.get("ORCPT"), "utf-8;jörg@example.de");
    assert.equal(typeof parseParams(" A=b=c"), "string");
    assert.equal(typeof parseParams(" A=b\x7f"), "string");
  });

  await t.step("parseParams: long malformed items are cut in the message", () => {
    const msg = parseParams(" " + "!".repeat(200));
    assert.equal(typeof msg, "string");
    assert.ok((msg as string).length < 80, msg as string);
  });
});

Deno.test("parseCommand: BDAT (RFC 3030)", async (t) => {
  await t.step("BDAT <size> and BDAT <size> LAST", () => {
    assert.deepEqual(ok("BDAT 0 LAST"), { verb: "BDAT", size: 0, last: true });
    assert.deepEqual(ok("BDAT 1000"), { verb: "BDAT", size: 1000, last: false });
    assert.deepEqual(ok("BDAT 1000 LAST"), { verb: "BDAT", size: 1000, last: true });
    assert.deepEqual(ok("BDAT 0"), { verb: "BDAT", size: 0, last: false });
    assert.deepEqual(ok("BDAT 5 last"), { verb: "BDAT", size: 5, last: true });
    assert.deepEqual(ok("BDAT 5  LAST"), { verb: "BDAT", size: 5, last: true });
    assert.deepEqual(ok("BDAT 007"), { verb: "BDAT", size: 7, last: false });
  });

  await t.step("the largest accepted size is 15 digits and exact", () => {
    assert.deepEqual(ok("BDAT 999999999999999"), {
      verb: "BDAT",
      size: 999_999_999_999_999,
      last: false,
    });
    refused("BDAT 1000000000000000");
  });

  await t.step("bad sizes and end markers → 501", () => {
    for (
      const line of [
        "BDAT",
        "BDAT LAST",
        "BDAT -1",
        "BDAT +1",
        "BDAT 1.5",
        "BDAT 1e3",
        "BDAT 0x10",
        "BDAT 10 LASTX",
        "BDAT 10 LAST more",
        "BDAT 10 FIRST",
        "BDAT  10",
        "BDAT １０",
      ]
    ) {
      const r = refused(line);
      assert.match(String(r.text), /BDAT/, line);
    }
  });
});

Deno.test("parseCommand: non-text input → 500 5.5.2 (RFC 5321 §4.1.1)", async (t) => {
  await t.step("invalid UTF-8 bytes", () => {
    const cases = [
      new Uint8Array([0x4d, 0x41, 0x49, 0x4c, 0x20, 0xff]),
      Uint8Array.of(...enc.encode("EHLO x"), 0xc3),
      Uint8Array.of(...enc.encode("EHLO "), 0xc0, 0xaf), // overlong "/"
      Uint8Array.of(...enc.encode("EHLO "), 0xed, 0xa0, 0x80), // encoded surrogate
      Uint8Array.of(0x80),
    ];
    for (const bytes of cases) {
      assert.deepEqual(parse(bytes), Replies.syntaxErrorBinary, String(bytes));
    }
  });

  await t.step("control characters, including NUL, bare CR/LF and DEL", () => {
    for (const c of ["\x00", "\x01", "\x08", "\n", "\r", "\x0b", "\x1b", "\x1f", "\x7f"]) {
      assert.deepEqual(parse(`EHLO a${c}b`), Replies.syntaxErrorBinary, JSON.stringify(c));
      assert.deepEqual(parse(`NOOP ${c}`), Replies.syntaxErrorBinary, JSON.stringify(c));
    }
    assert.deepEqual(parse("DATA\r"), Replies.syntaxErrorBinary);
    assert.deepEqual(parse("\x00"), Replies.syntaxErrorBinary);
  });

  await t.step("valid UTF-8 is decoded, not refused", () => {
    const c = ok("MAIL FROM:<jörg@bücher.example> SMTPUTF8");
    assert.equal(c.verb === "MAIL" && c.path.mailbox?.utf8, true);
  });

  await t.step("isReply tells replies from commands", () => {
    assert.equal(isReply(Replies.ok), true);
    assert.equal(isReply({ verb: "DATA" }), false);
  });
});

/** The POP3 command parser and the SASL PLAIN decoder: bytes in, command or refusal out. */
import assert from "node:assert/strict";
import { decodeSaslPlain } from "../../src/auth/sasl_plain.ts";
import { isParseError, parsePop3Command } from "../../src/pop3/parse_command.ts";

const enc = new TextEncoder();
const parse = (line: string | Uint8Array) =>
  parsePop3Command(typeof line === "string" ? enc.encode(line) : line);
const b64 = (s: string) => btoa(String.fromCharCode(...enc.encode(s)));

Deno.test("pop3 parse: commands without arguments, any case", async (t) => {
  for (const verb of ["CAPA", "STLS", "STAT", "RSET", "NOOP", "QUIT"]) {
    await t.step(verb, () => {
      assert.deepEqual(parse(verb), { verb });
      assert.deepEqual(parse(verb.toLowerCase()), { verb });
      assert.deepEqual(parse(verb[0] + verb.slice(1).toLowerCase()), { verb });
      assert.deepEqual(parse(`${verb} extra`), { error: `${verb} takes no arguments` });
    });
  }
  await t.step("trailing spaces are tolerated", () => {
    assert.deepEqual(parse("STAT "), { verb: "STAT" });
    assert.deepEqual(parse("QUIT  "), { verb: "QUIT" });
  });
});

Deno.test("pop3 parse: USER and PASS", async (t) => {
  await t.step("USER takes the rest of the line, trimmed", () => {
    assert.deepEqual(parse("USER alice@example.org"), { verb: "USER", name: "alice@example.org" });
    assert.deepEqual(parse("user  alice "), { verb: "USER", name: "alice" });
  });
  await t.step("USER without a name or with one over 255 characters", () => {
    assert.deepEqual(parse("USER"), { error: "Syntax: USER name" });
    assert.deepEqual(parse("USER "), { error: "Syntax: USER name" });
    assert.deepEqual(parse(`USER ${"a".repeat(256)}`), { error: "Syntax: USER name" });
    assert.deepEqual(parse(`USER ${"a".repeat(255)}`), { verb: "USER", name: "a".repeat(255) });
  });
  await t.step("PASS keeps spaces inside and around the password", () => {
    assert.deepEqual(parse("PASS a long passphrase"), {
      verb: "PASS",
      password: "a long passphrase",
    });
    assert.deepEqual(parse("PASS  two leading "), { verb: "PASS", password: " two leading " });
    assert.deepEqual(parse("pass Grüße✉"), { verb: "PASS", password: "Grüße✉" });
  });
  await t.step("PASS without a password", () => {
    assert.deepEqual(parse("PASS"), { error: "Syntax: PASS password" });
    assert.deepEqual(parse("PASS "), { error: "Syntax: PASS password" });
  });
});

Deno.test("pop3 parse: AUTH and APOP", async (t) => {
  await t.step("AUTH alone lists mechanisms", () => {
    assert.deepEqual(parse("AUTH"), { verb: "AUTH", mechanism: undefined, initial: undefined });
  });
  await t.step("mechanism is upper-cased, the initial response kept as is", () => {
    assert.deepEqual(parse("auth plain"), { verb: "AUTH", mechanism: "PLAIN", initial: undefined });
    assert.deepEqual(parse("AUTH PLAIN AGFsaWNlAHB3"), {
      verb: "AUTH",
      mechanism: "PLAIN",
      initial: "AGFsaWNlAHB3",
    });
    assert.deepEqual(parse("AUTH PLAIN ="), { verb: "AUTH", mechanism: "PLAIN", initial: "=" });
  });
  await t.step("more than two arguments", () => {
    assert.deepEqual(parse("AUTH PLAIN a b"), {
      error: "Syntax: AUTH mechanism [initial-response]",
    });
  });
  await t.step("APOP parses whatever follows (and is refused by the session)", () => {
    assert.deepEqual(parse("APOP mrose c4c9334bac560ecc979e58001b3e22fb"), { verb: "APOP" });
    assert.deepEqual(parse("APOP"), { verb: "APOP" });
  });
});

Deno.test("pop3 parse: message numbers", async (t) => {
  await t.step("LIST and UIDL take an optional number", () => {
    for (const verb of ["LIST", "UIDL"] as const) {
      assert.deepEqual(parse(verb), { verb });
      assert.deepEqual(parse(`${verb} 1`), { verb, msg: 1 });
      assert.deepEqual(parse(`${verb.toLowerCase()} 42`), { verb, msg: 42 });
      for (const bad of ["0", "-1", "01", "x", "1 2", "1.0", "9999999999", "+1", "0x1"]) {
        assert.deepEqual(parse(`${verb} ${bad}`), { error: `Syntax: ${verb} [message-number]` });
      }
    }
  });
  await t.step("RETR and DELE need exactly one number", () => {
    for (const verb of ["RETR", "DELE"] as const) {
      assert.deepEqual(parse(`${verb} 7`), { verb, msg: 7 });
      assert.deepEqual(parse(`${verb} 999999999`), { verb, msg: 999999999 });
      for (const bad of ["", " ", "0", "x", "1 2", "-3", "1e3"]) {
        assert.deepEqual(parse(`${verb} ${bad}`), { error: `Syntax: ${verb} message-number` });
      }
      assert.deepEqual(parse(verb), { error: `Syntax: ${verb} message-number` });
    }
  });
  await t.step("TOP needs a message number and a line count (0 allowed)", () => {
    assert.deepEqual(parse("TOP 1 0"), { verb: "TOP", msg: 1, lines: 0 });
    assert.deepEqual(parse("top 3 10"), { verb: "TOP", msg: 3, lines: 10 });
    for (const bad of ["", "1", "0 1", "1 -1", "1 x", "1 2 3", "x 1", "1 1234567890"]) {
      assert.deepEqual(parse(`TOP ${bad}`), { error: "Syntax: TOP message-number lines" });
    }
  });
});

Deno.test("pop3 parse: unknown commands and garbage", async (t) => {
  await t.step("unknown verbs, including prototype names", () => {
    for (
      const line of [
        "",
        " ",
        "FOO",
        "XTND XMIT",
        "HELO x",
        "EHLO x",
        "LAST",
        "constructor",
        "__proto__",
        "toString",
        "hasOwnProperty",
        " USER alice",
        "USERalice",
      ]
    ) {
      assert.deepEqual(parse(line), { error: "Unknown command" }, JSON.stringify(line));
    }
  });
  await t.step("bytes that are not UTF-8", () => {
    assert.deepEqual(parse(new Uint8Array([0xff, 0xfe, 0x55])), {
      error: "Command is not UTF-8 text",
    });
    assert.deepEqual(parse(new Uint8Array([0x55, 0x53, 0x45, 0x52, 0x20, 0xc3])), {
      error: "Command is not UTF-8 text",
    });
  });
  await t.step("control characters anywhere (TAB excepted)", () => {
    for (const line of ["US\0ER a", "STAT\x7f", "USER a\rb", "USER a\nb", "\x1b[31mSTAT"]) {
      assert.deepEqual(parse(line), { error: "Command holds control characters" }, line);
    }
    assert.deepEqual(parse("USER a\tb"), { verb: "USER", name: "a\tb" });
  });
  await t.step("isParseError tells the two apart", () => {
    assert.equal(isParseError(parse("FOO")), true);
    assert.equal(isParseError(parse("STAT")), false);
  });
});

Deno.test("pop3 parse: SASL PLAIN responses", async (t) => {
  await t.step("without and with an authorization identity", () => {
    assert.deepEqual(decodeSaslPlain(b64("\0alice@example.org\0secret pw")), {
      user: "alice@example.org",
      password: "secret pw",
    });
    assert.deepEqual(decodeSaslPlain(b64("Alice@Example.org\0alice@example.org\0pw")), {
      user: "alice@example.org",
      password: "pw",
    });
  });
  await t.step("UTF-8 passwords", () => {
    assert.deepEqual(decodeSaslPlain(b64("\0a@b.example\0Grüße ✉")), {
      user: "a@b.example",
      password: "Grüße ✉",
    });
  });
  await t.step("malformed", () => {
    for (
      const bad of [
        "",
        "!!!not base64",
        b64("alice\0pw"),
        b64("\0\0pw"),
        b64("\0alice\0"),
        b64("a\0b\0c\0d"),
        b64("bob@example.org\0alice@example.org\0pw"),
        btoa("\0alice\0\xff\xfe"),
      ]
    ) {
      assert.equal(decodeSaslPlain(bad), undefined, JSON.stringify(bad));
    }
  });
});

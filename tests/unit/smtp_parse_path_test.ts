import assert from "node:assert/strict";
import {
  isDomain,
  type Mailbox,
  mailboxText,
  parseMailbox,
  parsePath,
  type Path,
} from "../../src/smtp/parse_path.ts";

const STRICT = { allowNull: false };

/** Parses a path that must succeed. */
function path(text: string, opts: { allowNull: boolean; allowPostmaster?: boolean } = STRICT): {
  path: Path;
  rest: string;
} {
  const r = parsePath(text, opts);
  assert.ok(!("error" in r), `${JSON.stringify(text)} was refused: ${JSON.stringify(r)}`);
  return r;
}

/** Parses a mailbox that must succeed. */
function mailbox(text: string): Mailbox {
  const r = parseMailbox(text);
  assert.ok(typeof r !== "string", `${JSON.stringify(text)} was refused: ${r}`);
  return r;
}

/** Asserts a path is refused and returns the error message. */
function refused(
  text: string,
  opts: { allowNull: boolean; allowPostmaster?: boolean } = STRICT,
): string {
  const r = parsePath(text, opts);
  assert.ok("error" in r, `${JSON.stringify(text)} was accepted: ${JSON.stringify(r)}`);
  return r.error;
}

Deno.test("parsePath: framing (RFC 5321 §4.1.2 Path)", async (t) => {
  await t.step("the rest after > is returned for the parameters", () => {
    assert.deepEqual(path("<a@b.example>"), {
      path: {
        route: [],
        mailbox: {
          localPart: "a",
          domain: "b.example",
          quoted: false,
          literal: false,
          utf8: false,
        },
      },
      rest: "",
    });
    assert.equal(path("<a@b.example> SIZE=1 BODY=7BIT").rest, " SIZE=1 BODY=7BIT");
  });

  await t.step("missing brackets and junk after > are refused", () => {
    assert.match(refused("a@b.example"), /enclosed in <>/);
    assert.match(refused(" <a@b.example>"), /enclosed in <>/);
    assert.match(refused("<a@b.example"), /missing >/);
    assert.match(refused("<a@b.example>x"), /space after the path/);
    assert.match(refused("<a@b.example>>"), /space after the path/);
    assert.match(refused(""), /enclosed/);
  });

  await t.step("null path <> only when allowed", () => {
    assert.deepEqual(path("<>", { allowNull: true }), { path: { route: [] }, rest: "" });
    assert.deepEqual(path("<> BODY=8BITMIME", { allowNull: true }).rest, " BODY=8BITMIME");
    assert.match(refused("<>"), /Null path/);
  });
});

Deno.test("parseMailbox: dot-string local parts (RFC 5321 §4.1.2 Dot-string)", async (t) => {
  await t.step("atext and dots", () => {
    for (const local of ["a", "first.last", "a+tag", "x!#$%&'*+-/=?^_`{|}~y", "1.2.3"]) {
      const m = mailbox(`${local}@example.org`);
      assert.equal(m.localPart, local);
      assert.equal(m.quoted, false);
    }
  });

  await t.step("leading, trailing or doubled dots are refused", () => {
    for (const text of [".a@x.example", "a.@x.example", "a..b@x.example", ".@x.example"]) {
      assert.equal(typeof parseMailbox(text), "string", text);
    }
  });

  await t.step("specials outside quotes are refused", () => {
    for (
      const text of ["a b@x.example", "a,b@x.example", "a(b)@x.example", "a@b@x.example", 'a"b@x']
    ) {
      assert.equal(typeof parseMailbox(text), "string", text);
    }
  });

  await t.step("no @, empty local part or empty domain are refused", () => {
    assert.match(parseMailbox("user") as string, /local-part@domain/);
    assert.match(parseMailbox("@x.example") as string, /local-part@domain/);
    assert.match(parseMailbox("user@") as string, /Invalid domain/);
  });
});

Deno.test("parseMailbox: quoted local parts (RFC 5321 §4.1.2 Quoted-string)", async (t) => {
  await t.step("spaces, @ and specials inside quotes; quotes removed", () => {
    const m = mailbox('"john doe"@example.org');
    assert.deepEqual(m, {
      localPart: "john doe",
      domain: "example.org",
      quoted: true,
      literal: false,
      utf8: false,
    });
    assert.equal(mailbox('"a@b"@example.org').localPart, "a@b");
    assert.equal(mailbox('"a,b(c)<d>"@example.org').localPart, "a,b(c)<d>");
    assert.equal(mailbox('""@example.org').localPart, "");
  });

  await t.step("quoted-pairs: backslash removed, escaped char kept", () => {
    assert.equal(mailbox('"a\\"b"@x.example').localPart, 'a"b');
    assert.equal(mailbox('"a\\\\b"@x.example').localPart, "a\\b");
    assert.equal(mailbox('"\\a"@x.example').localPart, "a");
  });

  await t.step("a > inside quotes does not close the path", () => {
    const r = path('<"a>b"@x.example> SIZE=1');
    assert.equal(r.path.mailbox?.localPart, "a>b");
    assert.equal(r.rest, " SIZE=1");
    const esc = path('<"a\\">"@x.example>');
    assert.equal(esc.path.mailbox?.localPart, 'a">');
  });

  await t.step("malformed quoting is refused", () => {
    assert.match(parseMailbox('"abc@x.example') as string, /Unterminated/);
    assert.match(parseMailbox('"abc\\') as string, /quoted-pair/);
    assert.match(parseMailbox('"a\\\tb"@x.example') as string, /quoted-pair/);
    assert.match(parseMailbox('"a"b@x.example') as string, /Expected @/);
    assert.match(parseMailbox('"a"') as string, /Expected @/);
    assert.match(parseMailbox('"a\tb"@x.example') as string, /Invalid character/);
    assert.match(parseMailbox('"a\x7fb"@x.example') as string, /Invalid character/);
  });

  await t.step("the domain after a quoted local part is still checked", () => {
    assert.match(parseMailbox('"a"@bad..example') as string, /Invalid domain/);
  });
});

Deno.test("parseMailbox: local part length (RFC 5321 §4.5.3.1.1)", async (t) => {
  await t.step("64 octets accepted, 65 refused", () => {
    assert.equal(mailbox(`${"a".repeat(64)}@x.example`).localPart.length, 64);
    assert.match(parseMailbox(`${"a".repeat(65)}@x.example`) as string, /64 octets/);
  });

  await t.step("counted in UTF-8 octets, not characters", () => {
    // 32 × "é" is 64 octets; 33 is 66.
    assert.equal(mailbox(`${"é".repeat(32)}@x.example`).utf8, true);
    assert.match(parseMailbox(`${"é".repeat(33)}@x.example`) as string, /64 octets/);
  });

  await t.step("counted after quotes and backslashes are removed", () => {
    assert.equal(mailbox(`"${"a".repeat(64)}"@x.example`).localPart.length, 64);
    assert.match(parseMailbox(`"${"a".repeat(65)}"@x.example`) as string, /64 octets/);
    assert.equal(mailbox(`"${"\\a".repeat(64)}"@x.example`).localPart.length, 64);
  });
});

Deno.test("parseMailbox: domains (RFC 5321 §4.1.2 Domain)", async (t) => {
  await t.step("ordinary domains, single labels, digits and hyphens", () => {
    for (const d of ["example.org", "localhost", "a-b.c-d.example", "1.example", "x1"]) {
      assert.equal(mailbox(`u@${d}`).domain, d);
    }
  });

  await t.step("malformed domains are refused", () => {
    for (
      const d of [
        "",
        ".example.org",
        "example.org.",
        "example..org",
        "-a.example",
        "a-.example",
        "a_b.example",
        "a b.example",
        "exa$mple.org",
      ]
    ) {
      assert.match(parseMailbox(`u@${d}`) as string, /Invalid domain/, JSON.stringify(d));
    }
  });

  await t.step("isDomain: at most 255 characters", () => {
    const label = "a".repeat(63);
    const d255 = [label, label, label, "a".repeat(63)].join("."); // 4×63 + 3 = 255
    assert.equal(d255.length, 255);
    assert.equal(isDomain(d255), true);
    assert.equal(isDomain(d255 + "a"), false);
    assert.equal(isDomain(""), false);
  });
});

Deno.test("parseMailbox: address literals (RFC 5321 §4.1.3)", async (t) => {
  await t.step("IPv4 literal", () => {
    const m = mailbox("u@[192.0.2.1]");
    assert.equal(m.domain, "[192.0.2.1]");
    assert.equal(m.literal, true);
    assert.equal(mailbox("u@[255.255.255.255]").literal, true);
  });

  await t.step("IPv4 literal with an octet over 255 or the wrong shape is refused", () => {
    for (
      const d of ["[256.0.0.1]", "[1.2.3]", "[1.2.3.4.5]", "[1.2.3.1234]", "[]", "[1.2.3.4", "[a]"]
    ) {
      assert.match(parseMailbox(`u@${d}`) as string, /Invalid domain/, d);
    }
  });

  await t.step("IPv6 literal", () => {
    for (const d of ["[IPv6:2001:db8::1]", "[IPv6:::1]", "[IPv6:::ffff:192.0.2.1]"]) {
      const m = mailbox(`u@${d}`);
      assert.equal(m.domain, d);
      assert.equal(m.literal, true);
    }
  });

  await t.step("general address literal: tag ':' dcontent", () => {
    const m = mailbox("u@[x-tag:some.content]");
    assert.equal(m.literal, true);
    assert.equal(m.domain, "[x-tag:some.content]");
    assert.match(parseMailbox("u@[:content]") as string, /Invalid domain/);
    assert.match(parseMailbox("u@[tag-:content]") as string, /Invalid domain/);
    assert.match(parseMailbox("u@[tag:]") as string, /Invalid domain/);
    assert.match(parseMailbox("u@[tag:a[b]") as string, /Invalid domain/);
  });

  await t.step({
    // RFC 5321 §4.1.3: "IPv6" is a registered tag, so its content must be an IPv6-addr.
    name: "malformed IPv6 literals are refused (RFC 5321 §4.1.3 IPv6-addr)",
    fn: () => {
      assert.equal(typeof parseMailbox("u@[IPv6:zz]"), "string");
      assert.equal(typeof parseMailbox("u@[IPv6:1:2:3:4:5:6:7:8:9]"), "string");
      assert.equal(typeof parseMailbox("u@[IPv6:1::2::3]"), "string");
      assert.equal(typeof parseMailbox("u@[IPv6:]"), "string");
      assert.equal(typeof parseMailbox("u@[IPv6:1:2:3:4:5:6:7:1.2.3.4]"), "string");
    },
  });

  await t.step("full and IPv4-embedded IPv6 forms are accepted (RFC 5321 §4.1.3)", () => {
    for (const d of ["[IPv6:1:2:3:4:5:6:7:8]", "[IPv6:1:2:3:4:5:6:1.2.3.4]", "[IPv6:FE80::A]"]) {
      assert.equal(mailbox(`u@${d}`).domain, d);
    }
  });

  await t.step({
    // IPv6-addr has no zone identifier; node:net isIPv6 accepts one.
    name: "an IPv6 zone identifier is not part of an address literal",
    fn: () => {
      assert.equal(typeof parseMailbox("u@[IPv6:fe80::1%eth0]"), "string");
    },
  });
});

Deno.test("parsePath: source routes (RFC 5321 §4.1.2 A-d-l, Appendix C)", async (t) => {
  await t.step("the route is captured without @ and the mailbox parsed", () => {
    const r = path("<@relay1.example,@relay2.example:user@final.example>");
    assert.deepEqual(r.path.route, ["relay1.example", "relay2.example"]);
    assert.equal(r.path.mailbox?.localPart, "user");
    assert.equal(r.path.mailbox?.domain, "final.example");
    assert.deepEqual(path("<@one.example:u@x.example>").path.route, ["one.example"]);
  });

  await t.step("malformed routes are refused", () => {
    assert.match(refused("<@relay.example>"), /source route/);
    assert.match(refused("<@bad..example:u@x.example>"), /source route/);
    assert.match(refused("<@:u@x.example>"), /source route/);
    assert.match(refused("<@a.example,:u@x.example>"), /source route/);
  });

  await t.step({
    // A-d-l = At-domain *( "," At-domain ); At-domain = "@" Domain.
    name: "every hop of a route needs its @ (RFC 5321 §4.1.2 At-domain)",
    fn: () => {
      refused("<@a.example,b.example:u@x.example>");
    },
  });

  await t.step("the mailbox after a route must still be valid", () => {
    refused("<@a.example:u@bad..example>");
    refused("<@a.example:>");
  });
});

Deno.test("parsePath: <Postmaster> (RFC 5321 §4.1.1.3)", async (t) => {
  await t.step("accepted, any case, when allowed", () => {
    for (const text of ["<Postmaster>", "<postmaster>", "<POSTMASTER>"]) {
      const r = path(text, { allowNull: false, allowPostmaster: true });
      assert.deepEqual(r.path, {
        route: [],
        mailbox: {
          localPart: "postmaster",
          domain: "",
          quoted: false,
          literal: false,
          utf8: false,
        },
      });
    }
    assert.equal(
      path("<Postmaster> NOTIFY=NEVER", { allowNull: false, allowPostmaster: true }).rest,
      " NOTIFY=NEVER",
    );
  });

  await t.step("refused when not allowed", () => {
    refused("<Postmaster>");
    refused("<Postmaster>", { allowNull: true, allowPostmaster: false });
  });

  await t.step("other bare names and a routed Postmaster are refused even when allowed", () => {
    const opts = { allowNull: false, allowPostmaster: true };
    refused("<abuse>", opts);
    refused("<postmasters>", opts);
    refused("<@relay.example:Postmaster>", opts);
  });

  await t.step("postmaster@domain is an ordinary mailbox", () => {
    const m = path("<Postmaster@example.org>").path.mailbox;
    assert.equal(m?.localPart, "Postmaster");
    assert.equal(m?.domain, "example.org");
  });
});

Deno.test("parseMailbox: UTF-8 addresses (RFC 6531 §3.3)", async (t) => {
  await t.step("UTF-8 local part and domain set the utf8 flag", () => {
    const m = mailbox("用户@例子.广告");
    assert.deepEqual(m, {
      localPart: "用户",
      domain: "例子.广告",
      quoted: false,
      literal: false,
      utf8: true,
    });
    assert.equal(mailbox("jörg@example.de").utf8, true);
    assert.equal(mailbox("joerg@bücher.example").utf8, true);
    assert.equal(mailbox('"jö rg"@example.de').utf8, true);
    assert.equal(mailbox("😀@example.org").utf8, true);
  });

  await t.step("ASCII addresses do not set the flag", () => {
    assert.equal(mailbox("joerg@example.de").utf8, false);
    assert.equal(mailbox('"jo rg"@example.de').utf8, false);
  });
});

Deno.test("mailboxText: round trip through parseMailbox", async (t) => {
  await t.step("dot-strings are written as is", () => {
    assert.equal(mailboxText(mailbox("first.last@example.org")), "first.last@example.org");
    assert.equal(mailboxText(mailbox("jörg@bücher.example")), "jörg@bücher.example");
    assert.equal(mailboxText(mailbox("u@[192.0.2.1]")), "u@[192.0.2.1]");
  });

  await t.step("needlessly quoted local parts come back unquoted", () => {
    assert.equal(mailboxText(mailbox('"abc"@example.org')), "abc@example.org");
  });

  await t.step("local parts that need quotes are re-quoted with escapes", () => {
    assert.equal(mailboxText(mailbox('"a b"@x.example')), '"a b"@x.example');
    assert.equal(mailboxText(mailbox('"a\\"b"@x.example')), '"a\\"b"@x.example');
    assert.equal(mailboxText(mailbox('"a\\\\b"@x.example')), '"a\\\\b"@x.example');
    assert.equal(mailboxText(mailbox('"a@b"@x.example')), '"a@b"@x.example');
    assert.equal(mailboxText(mailbox('"a..b"@x.example')), '"a..b"@x.example');
    assert.equal(mailboxText(mailbox('""@x.example')), '""@x.example');
  });

  await t.step("parse(text(parse(x))) equals parse(x)", () => {
    for (
      const text of [
        "a@b.example",
        '"a b"@x.example',
        '"\\"\\\\"@x.example',
        '"a@b"@x.example',
        '".a"@x.example',
        '"a\\b"@x.example',
        "u@[IPv6:2001:db8::1]",
        "用户@例子.广告",
      ]
    ) {
      const first = mailbox(text);
      const again = mailbox(mailboxText(first));
      // `quoted` may change ("\\b" needs no quotes once unescaped); the meaning may not.
      assert.deepEqual(
        [again.localPart, again.domain, again.literal, again.utf8],
        [first.localPart, first.domain, first.literal, first.utf8],
        text,
      );
    }
  });
});

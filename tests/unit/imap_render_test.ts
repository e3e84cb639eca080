import assert from "node:assert/strict";
import { parseStructure } from "../../src/mime/structure.ts";
import { buildSummary, decodeSummary, encodeSummary } from "../../src/mime/summary.ts";
import { renderBodyStructure } from "../../src/imap/render/bodystructure.ts";
import { parseAddressList, renderEnvelope } from "../../src/imap/render/envelope.ts";
import { imapString } from "../../src/imap/render/imap_string.ts";

const enc = new TextEncoder();
const crlf = (text: string) => enc.encode(text.replace(/\n/g, "\r\n"));

// Cases whose expected strings were checked against Dovecot's, the reference of imaptest.
const FORWARD = crlf(`From: user@domain.org
Date: Sat, 24 Mar 2007 23:00:00 +0200
Mime-Version: 1.0
Content-Type: multipart/mixed; boundary="foo
 bar"

Root MIME prologue

--foo bar
Content-Type: text/x-myown; charset=us-ascii; foo="quoted\\"string"
Content-ID: <foo@example.com>
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==
Content-Disposition: inline; foo=bar
Content-Description: hellodescription
Content-Language: en, fi, se
Content-Location: http://example.com/test.txt

hello

--foo bar
Content-Type: message/rfc822

From: sub@domain.org
To: sub-to1@domain.org, sub-to2@domain.org
Date: Sun, 12 Aug 2012 12:34:56 +0300
Subject: submsg
Content-Type: multipart/alternative; boundary="sub1"

Sub MIME prologue
--sub1
Content-Type: text/html
Content-Transfer-Encoding: 8bit

<p>Hello world</p>

--sub1
Content-Type: text/plain
Content-Transfer-Encoding: ?invalid

Hello another world

--sub1--
Sub MIME epilogue

--foo bar--
Root MIME epilogue
`);

const SUB_ENVELOPE = '("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) ' +
  '((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ' +
  '((NIL NIL "sub-to1" "domain.org")(NIL NIL "sub-to2" "domain.org")) NIL NIL NIL NIL)';

Deno.test("renderBodyStructure", async (t) => {
  await t.step("BODYSTRUCTURE with every extension field and a nested message", () => {
    const expected = '(("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\\"string") ' +
      '"<foo@example.com>" "hellodescription" "7bit" 7 1 "Q2hlY2sgSW50ZWdyaXR5IQ==" ' +
      '("inline" ("foo" "bar")) ("en" "fi" "se") "http://example.com/test.txt")' +
      '("message" "rfc822" NIL NIL NIL "7bit" 412 ' + SUB_ENVELOPE + " " +
      '(("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1 NIL NIL NIL NIL)' +
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1 NIL NIL NIL NIL) ' +
      '"alternative" ("boundary" "sub1") NIL NIL NIL) 21 NIL NIL NIL NIL) ' +
      '"mixed" ("boundary" "foo bar") NIL NIL NIL)';
    assert.equal(renderBodyStructure(parseStructure(FORWARD), FORWARD, true), expected);
  });

  await t.step("BODY leaves the extension fields out", () => {
    const expected = '(("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\\"string") ' +
      '"<foo@example.com>" "hellodescription" "7bit" 7 1)' +
      '("message" "rfc822" NIL NIL NIL "7bit" 412 ' + SUB_ENVELOPE + " " +
      '(("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1)' +
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1) "alternative") 21) "mixed")';
    assert.equal(renderBodyStructure(parseStructure(FORWARD), FORWARD, false), expected);
  });

  await t.step("from a decoded summary alone, without the message", () => {
    const summary = decodeSummary(encodeSummary(buildSummary(FORWARD)));
    assert.equal(
      renderBodyStructure(summary.structure, undefined, true),
      renderBodyStructure(parseStructure(FORWARD), FORWARD, true),
    );
    assert.throws(() => renderBodyStructure(parseStructure(FORWARD), undefined, true), Error);
  });

  await t.step("the RFC 3501 §7.4.2 BODY example's shape", () => {
    const msg = crlf("Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n\n" + "line\n".repeat(92));
    assert.equal(
      renderBodyStructure(parseStructure(msg), msg, false),
      '("text" "plain" ("charset" "US-ASCII") NIL NIL "7bit" 552 92)',
    );
  });

  await t.step("no Content-Type: text/plain with the default charset", () => {
    const msg = crlf("Subject: x\n\nbody\n");
    assert.equal(
      renderBodyStructure(parseStructure(msg), msg, true),
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL NIL NIL)',
    );
  });

  await t.step("an attachment: no lines, NIL params, disposition", () => {
    const msg = crlf(
      "Content-Type: image/png\nContent-Transfer-Encoding: base64\n" +
        'Content-Disposition: attachment; filename="pigeon.png"\n\niVBORw0K\n',
    );
    assert.equal(
      renderBodyStructure(parseStructure(msg), msg, true),
      '("image" "png" NIL NIL NIL "base64" 10 NIL ("attachment" ("filename" "pigeon.png")) NIL NIL)',
    );
  });

  await t.step("a multipart without parts gets one empty text/plain part", () => {
    const msg = crlf('Content-Type: multipart/mixed; boundary="foo"\n\n');
    const root = parseStructure(msg);
    assert.equal(
      renderBodyStructure(root, msg, true),
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) ' +
        '"mixed" ("boundary" "foo") NIL NIL NIL)',
    );
    assert.equal(
      renderBodyStructure(root, msg, false),
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")',
    );
  });

  await t.step("a multipart without boundary renders as one basic part", () => {
    const msg = crlf("Content-Type: multipart/mixed\n\nabc\n");
    assert.equal(
      renderBodyStructure(parseStructure(msg), msg, false),
      '("multipart" "mixed" NIL NIL NIL "7bit" 5)',
    );
  });

  await t.step("8-bit parameter values become literals unless UTF-8 is on", () => {
    const msg = enc.encode('Content-Type: text/plain; name="résumé.txt"\r\n\r\nx');
    const root = parseStructure(msg);
    assert.ok(renderBodyStructure(root, msg, false).includes('"name" {12}\r\nrésumé.txt'));
    assert.ok(renderBodyStructure(root, msg, false, true).includes('"name" "résumé.txt"'));
  });

  await t.step("RFC 2231 values stay encoded, as a 7-bit name* parameter", () => {
    const msg = crlf("Content-Type: text/plain; name*=utf-8''%E2%82%AC.txt\n\nx");
    assert.ok(
      renderBodyStructure(parseStructure(msg), msg, false).includes(
        `("name*" "utf-8''%E2%82%AC.txt" "charset" "us-ascii")`,
      ),
    );
  });

  await t.step("too deep to parse: still a well-formed message/rfc822 body", () => {
    const msg = crlf("Content-Type: message/rfc822\n\n".repeat(150) + "\nend\n");
    const out = renderBodyStructure(buildSummary(msg).structure, undefined, false);
    assert.ok(out.includes("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"));
    assert.equal(out.split("(").length, out.split(")").length);
  });
});

Deno.test("renderEnvelope", async (t) => {
  await t.step("every field (the imaptest case)", () => {
    const header = crlf(`Message-ID: <msg@id>
In-Reply-To: <reply@to.id>
Date: Thu, 15 Feb 2007 01:02:03 +0200
Subject: subject header
From: From Real <fromuser@fromdomain.org>
To: To Real <touser@todomain.org>
Cc: Cc Real <ccuser@ccdomain.org>
Bcc: Bcc Real <bccuser@bccdomain.org>
Sender: Sender Real <senderuser@senderdomain.org>
Reply-To: ReplyTo Real <replytouser@replytodomain.org>

`);
    assert.equal(
      renderEnvelope(header, false),
      '("Thu, 15 Feb 2007 01:02:03 +0200" "subject header" ' +
        '(("From Real" NIL "fromuser" "fromdomain.org")) ' +
        '(("Sender Real" NIL "senderuser" "senderdomain.org")) ' +
        '(("ReplyTo Real" NIL "replytouser" "replytodomain.org")) ' +
        '(("To Real" NIL "touser" "todomain.org")) (("Cc Real" NIL "ccuser" "ccdomain.org")) ' +
        '(("Bcc Real" NIL "bccuser" "bccdomain.org")) "<reply@to.id>" "<msg@id>")',
    );
  });

  await t.step("groups, comments as names, empty Sender defaulting to From", () => {
    const header = crlf(`Date: Thu, 15 Feb 2007 01:02:03 +0200
From: user@domain (Real Name)
Sender: 
To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;
Cc: group:;, group2: (foo) ;

`);
    assert.equal(
      renderEnvelope(header, false),
      '("Thu, 15 Feb 2007 01:02:03 +0200" NIL ' +
        '(("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) ' +
        '(("Real Name" NIL "user" "domain")) ' +
        '((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")(NIL NIL NIL NIL)' +
        '(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL)) ' +
        '((NIL NIL "group" NIL)(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL NIL NIL)) ' +
        "NIL NIL NIL)",
    );
  });

  await t.step("a source route goes to adl", () => {
    assert.deepEqual(parseAddressList("<@route:user@domain>"), [
      { name: undefined, adl: "@route", mailbox: "user", host: "domain" },
    ]);
  });

  await t.step("no fields at all: all NIL", () => {
    assert.equal(renderEnvelope(crlf("\n"), false), "(" + Array(10).fill("NIL").join(" ") + ")");
  });

  await t.step("unfolded, encoded-words left alone, quotes escaped", () => {
    const header = crlf(
      'Subject: =?utf-8?Q?caf=C3=A9?=\n and "more"\nFrom: "Doe, John \\"JD\\"" <j@x.org>\n\n',
    );
    assert.equal(
      renderEnvelope(header, false),
      '(NIL "=?utf-8?Q?caf=C3=A9?= and \\"more\\"" (("Doe, John \\"JD\\"" NIL "j" "x.org")) ' +
        '(("Doe, John \\"JD\\"" NIL "j" "x.org")) (("Doe, John \\"JD\\"" NIL "j" "x.org")) ' +
        "NIL NIL NIL NIL NIL)",
    );
  });

  await t.step("8-bit header text: literal, or quoted UTF-8 with utf8", () => {
    const header = enc.encode("Subject: Grüße\r\n\r\n");
    assert.ok(renderEnvelope(header, false).startsWith("(NIL {7}\r\nGrüße NIL"));
    assert.ok(renderEnvelope(header, true).startsWith('(NIL "Grüße" NIL'));
  });

  await t.step("missing local part or domain; display names with dots", () => {
    assert.deepEqual(parseAddressList("undisclosed"), [
      { name: undefined, adl: undefined, mailbox: "undisclosed", host: "MISSING_DOMAIN" },
    ]);
    assert.deepEqual(parseAddressList("John Q. Public <@x.org>"), [
      { name: "John Q. Public", adl: undefined, mailbox: "MISSING_MAILBOX", host: "x.org" },
    ]);
    assert.deepEqual(parseAddressList('"a b"@example.org, , c@[127.0.0.1]'), [
      { name: undefined, adl: undefined, mailbox: "a b", host: "example.org" },
      { name: undefined, adl: undefined, mailbox: "c", host: "[127.0.0.1]" },
    ]);
    assert.deepEqual(parseAddressList(""), []);
  });

  await t.step("an unterminated group is closed", () => {
    assert.deepEqual(parseAddressList("team: a@b"), [
      { mailbox: "team" },
      { name: undefined, adl: undefined, mailbox: "a", host: "b" },
      {},
    ]);
  });
});

Deno.test("imapString", () => {
  assert.equal(imapString("plain", false), '"plain"');
  assert.equal(imapString('a"b\\c', false), '"a\\"b\\\\c"');
  assert.equal(imapString("two\r\nlines", true), "{10}\r\ntwo\r\nlines");
  assert.equal(imapString("€", false), "{3}\r\n€");
  assert.equal(imapString("€", true), '"€"');
});

import assert from "node:assert/strict";
import { parseStructure } from "../../src/mime/structure.ts";
import {
  bodySearchText,
  decodeEncodedWords,
  headerSearchText,
  headerValues,
  parseSentDate,
} from "../../src/mime/search_text.ts";

const enc = new TextEncoder();
const crlf = (text: string) => enc.encode(text.replace(/\n/g, "\r\n"));

Deno.test("header search text", async (t) => {
  await t.step("headerValues: unfolded, encoded-words decoded, every occurrence", () => {
    const header = crlf(
      "Subject: =?iso-8859-1?Q?caf=E9?=\n =?UTF-8?B?w6k=?= end\nReceived: a\nreceived: b\n\n",
    );
    assert.deepEqual(headerValues(header, "SUBJECT"), ["caféé end"]);
    assert.deepEqual(headerValues(header, "received"), ["a", "b"]);
    assert.deepEqual(headerValues(header, "x-missing"), []);
  });

  await t.step("raw 8-bit header bytes are read as UTF-8, else Latin-1", () => {
    assert.deepEqual(headerValues(enc.encode("Subject: Grüße\r\n\r\n"), "subject"), ["Grüße"]);
    const latin = Uint8Array.of(...enc.encode("Subject: "), 0x47, 0x72, 0xfc, 0xdf, 13, 10);
    assert.deepEqual(headerValues(latin, "subject"), ["Grüß"]);
  });

  await t.step("headerSearchText lists every field decoded", () => {
    const header = crlf("From: =?utf-8?Q?J=C3=B6rg?= <j@x.org>\nSubject: hi\n\nbody: no\n");
    assert.equal(headerSearchText(header), "from: Jörg <j@x.org>\nsubject: hi");
  });

  await t.step("encoded-word details (RFC 2047)", () => {
    assert.equal(decodeEncodedWords("=?utf-8?q?a_b?="), "a b");
    assert.equal(decodeEncodedWords("=?utf-8?Q?a?= =?utf-8?Q?b?="), "ab");
    assert.equal(decodeEncodedWords("x =?utf-8?Q?a?= y"), "x a y");
    assert.equal(decodeEncodedWords("=?utf-8*en?Q?hi?="), "hi");
    assert.equal(decodeEncodedWords("=?x-unknown?Q?hi?="), "hi");
    assert.equal(decodeEncodedWords("=?utf-8?X?bad?="), "=?utf-8?X?bad?=");
    assert.equal(decodeEncodedWords("not =?encoded"), "not =?encoded");
  });
});

Deno.test("bodySearchText", async (t) => {
  const msg = crlf(`Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Caf=E9 cr=E8me
--b
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: base64

PHA+R3LDvMOfZTwvcD4=
--b
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

c2VjcmV0IGF0dGFjaG1lbnQ=
--b
Content-Type: message/rfc822

Subject: =?utf-8?Q?inner_=C3=A9?=

inner body
--b
Content-Type: text/plain; charset=windows-1252

`);
  const tail = Uint8Array.of(
    0x93,
    ...enc.encode("quoted"),
    0x94,
    13,
    10,
    ...enc.encode("--b--\r\n"),
  );
  const full = Uint8Array.of(...msg, ...tail);
  const text = bodySearchText(full, parseStructure(full));

  await t.step("text parts are transfer- and charset-decoded, HTML kept raw", () => {
    assert.ok(text.includes("Café crème"));
    assert.ok(text.includes("<p>Grüße</p>"));
    assert.ok(text.includes("\u201cquoted\u201d"));
  });

  await t.step("attachments are skipped; nested messages are included, header too", () => {
    assert.ok(!text.includes("secret"));
    assert.ok(text.includes("subject: inner é"));
    assert.ok(text.includes("inner body"));
  });

  await t.step("an unknown charset falls back to UTF-8 with replacement", () => {
    const m = Uint8Array.of(
      ...enc.encode("Content-Type: text/plain; charset=x-klingon\r\n\r\nok "),
      0xff,
    );
    assert.equal(bodySearchText(m, parseStructure(m)), "ok \ufffd");
  });
});

Deno.test("parseSentDate", async (t) => {
  await t.step("RFC 5322 dates", () => {
    assert.equal(parseSentDate("Thu, 15 Feb 2007 01:02:03 +0200"), Date.UTC(2007, 1, 14, 23, 2, 3));
    assert.equal(parseSentDate("15 Feb 2007 01:02 -0130"), Date.UTC(2007, 1, 15, 2, 32));
    assert.equal(
      parseSentDate("Mon, 1 Jan 2024 00:00:00 +0000 (UTC)"),
      Date.UTC(2024, 0, 1),
    );
  });

  await t.step("obsolete forms (RFC 5322 §4.3)", () => {
    assert.equal(parseSentDate("Fri, 21 Nov 97 09:55:06 GMT"), Date.UTC(1997, 10, 21, 9, 55, 6));
    assert.equal(parseSentDate("21 Nov 03 09:55:06 EST"), Date.UTC(2003, 10, 21, 14, 55, 6));
    assert.equal(parseSentDate("21 Nov 103 09:55:06 PDT"), Date.UTC(2003, 10, 21, 16, 55, 6));
    assert.equal(parseSentDate("Thu,15 Feb 2007 1:2:3"), Date.UTC(2007, 1, 15, 1, 2, 3));
    assert.equal(
      parseSentDate("  15  February  2007  01 : 02 : 03  +0000"),
      Date.UTC(2007, 1, 15, 1, 2, 3),
    );
    assert.equal(parseSentDate("15-Feb-2007 01:02:03 +0000"), Date.UTC(2007, 1, 15, 1, 2, 3));
    assert.equal(parseSentDate("1 Jan 2000 00:00:00 XYZ"), Date.UTC(2000, 0, 1));
  });

  await t.step("garbage is undefined", () => {
    for (
      const bad of [
        "",
        "yesterday",
        "32 Jan 2007 00:00 +0000",
        "1 Foo 2007 00:00",
        "1 Jan 2007 25:00",
      ]
    ) {
      assert.equal(parseSentDate(bad), undefined, bad);
    }
  });
});

import assert from "node:assert/strict";
import { parseStructure } from "../../src/mime/structure.ts";
import {
  decodeBase64,
  decodePart,
  decodeQuotedPrintable,
  findPart,
  headerFields,
  partialRange,
  sectionBytes,
  type SectionSpec,
} from "../../src/mime/section.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const crlf = (text: string) => enc.encode(text.replace(/\n/g, "\r\n"));

const MSG = crlf(`From: a@example.org
Subject: test
 folded
To: b@example.org
Content-Type: multipart/mixed; boundary="o"

preamble
--o
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

caf=E9 =
soft
--o
Content-Type: message/rfc822

From: inner@example.org
Subject: inner
Content-Type: multipart/alternative; boundary="i"

--i
Content-Type: text/plain

inner plain
--i
Content-Type: image/gif
Content-Transfer-Encoding: base64

R0lG
ODlh
--i--
--o
Content-Type: application/octet-stream
Content-Transfer-Encoding: x-uuencode

begin 644 x
--o--
`);
const ROOT = parseStructure(MSG);

function section(spec: SectionSpec): string | undefined {
  const bytes = sectionBytes(MSG, ROOT, spec);
  return bytes === undefined ? undefined : dec.decode(bytes);
}

Deno.test("sections (RFC 3501 §6.4.5)", async (t) => {
  await t.step("BODY[], HEADER and TEXT; HEADER + TEXT is the whole message", () => {
    assert.equal(section({ part: [] }), dec.decode(MSG));
    const head = section({ part: [], text: "HEADER" })!;
    const text = section({ part: [], text: "TEXT" })!;
    assert.ok(head.endsWith('boundary="o"\r\n\r\n'));
    assert.ok(text.startsWith("preamble\r\n--o\r\n"));
    assert.equal(head + text, dec.decode(MSG));
  });

  await t.step("numbered parts; MIME header + body is the part as written", () => {
    assert.equal(section({ part: [1] }), "caf=E9 =\r\nsoft");
    assert.equal(
      section({ part: [1], text: "MIME" }),
      "Content-Type: text/plain; charset=iso-8859-1\r\n" +
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
    );
    assert.equal(section({ part: [2, 1] }), "inner plain");
    assert.equal(section({ part: [2, 2] }), "R0lG\r\nODlh");
    assert.equal(section({ part: [3] }), "begin 644 x");
  });

  await t.step("HEADER and TEXT of an encapsulated message", () => {
    const head = section({ part: [2], text: "HEADER" })!;
    const text = section({ part: [2], text: "TEXT" })!;
    assert.ok(head.startsWith("From: inner@example.org\r\n"));
    assert.ok(head.endsWith("\r\n\r\n"));
    assert.equal(head + text, section({ part: [2] }));
    assert.equal(
      section({ part: [2], text: "HEADER.FIELDS", fields: ["subject"] }),
      "Subject: inner\r\n\r\n",
    );
  });

  await t.step("sections that do not exist or do not apply are undefined", () => {
    assert.equal(section({ part: [4] }), undefined);
    assert.equal(section({ part: [0] }), undefined);
    assert.equal(section({ part: [1, 1] }), undefined);
    assert.equal(section({ part: [2, 3] }), undefined);
    assert.equal(section({ part: [1], text: "HEADER" }), undefined);
    assert.equal(section({ part: [1], text: "TEXT" }), undefined);
    assert.equal(section({ part: [], text: "MIME" }), undefined);
  });

  await t.step("a single-part message: part 1 is its body, and 1.1 does not exist", () => {
    const msg = crlf("Subject: x\n\nhello\n");
    const root = parseStructure(msg);
    assert.equal(findPart(root, [1]), root);
    assert.equal(dec.decode(sectionBytes(msg, root, { part: [1] })!), "hello\r\n");
    assert.equal(sectionBytes(msg, root, { part: [1, 1] }), undefined);
  });

  await t.step("a top-level message/rfc822: 1 is the encapsulated message, 1.1 its body", () => {
    const msg = crlf("Content-Type: message/rfc822\n\nSubject: in\n\ninner body\n");
    const root = parseStructure(msg);
    assert.equal(
      dec.decode(sectionBytes(msg, root, { part: [1] })!),
      "Subject: in\r\n\r\ninner body\r\n",
    );
    assert.equal(dec.decode(sectionBytes(msg, root, { part: [1, 1] })!), "inner body\r\n");
  });
});

Deno.test("headerFields", async (t) => {
  const header = MSG.subarray(0, ROOT.headerEnd);

  await t.step("named fields in original order, folded lines kept, blank line added", () => {
    const got = dec.decode(headerFields(header, ["TO", "subject"], false));
    assert.equal(got, "Subject: test\r\n folded\r\nTo: b@example.org\r\n\r\n");
  });

  await t.step("NOT gives the rest", () => {
    const got = dec.decode(headerFields(header, ["subject", "to", "content-type"], true));
    assert.equal(got, "From: a@example.org\r\n\r\n");
  });

  await t.step("no match gives just the blank line; prefixes do not match", () => {
    assert.equal(dec.decode(headerFields(header, ["subj", "x-none"], false)), "\r\n");
  });

  await t.step("a header without blank line gets none; an unterminated field gets a CRLF", () => {
    assert.equal(dec.decode(headerFields(crlf("A: 1\nB: 2"), ["b"], false)), "B: 2\r\n");
    assert.equal(dec.decode(headerFields(crlf("A: 1\n"), ["a"], false)), "A: 1\r\n");
  });

  await t.step("LF-only headers are returned as written", () => {
    const got = headerFields(enc.encode("A: 1\nB: 2\n\n"), ["a"], false);
    assert.equal(dec.decode(got), "A: 1\n\r\n");
  });
});

Deno.test("partialRange", () => {
  const bytes = enc.encode("0123456789");
  assert.equal(dec.decode(partialRange(bytes, 2, 3)), "234");
  assert.equal(dec.decode(partialRange(bytes, 8, 10)), "89");
  assert.equal(partialRange(bytes, 10, 1).length, 0);
  assert.equal(partialRange(bytes, 50, 1).length, 0);
  assert.equal(dec.decode(partialRange(bytes, 7)), "789");
  assert.equal(partialRange(bytes, 3, 0).length, 0);
});

Deno.test("decodePart (RFC 3516 BINARY)", async (t) => {
  await t.step("quoted-printable with a soft line break", () => {
    const got = decodePart(MSG, findPart(ROOT, [1])!);
    assert.deepEqual(got, Uint8Array.of(...enc.encode("caf"), 0xe9, ...enc.encode(" soft")));
  });

  await t.step("base64 across lines", () => {
    assert.equal(dec.decode(decodePart(MSG, findPart(ROOT, [2, 2])!) as Uint8Array), "GIF89a");
  });

  await t.step("identity encodings as they are; others unknown", () => {
    assert.equal(dec.decode(decodePart(MSG, findPart(ROOT, [2, 1])!) as Uint8Array), "inner plain");
    assert.equal(decodePart(MSG, findPart(ROOT, [3])!), "unknown-encoding");
  });

  await t.step("base64 tolerates junk and stops at padding", () => {
    assert.equal(dec.decode(decodeBase64(enc.encode(" aGVs\r\nbG8=\r\n!!junk"))), "hello");
    assert.equal(dec.decode(decodeBase64(enc.encode("aGk"))), "hi");
    assert.equal(decodeBase64(new Uint8Array()).length, 0);
  });

  await t.step("quoted-printable edge cases", () => {
    const qp = (s: string) => dec.decode(decodeQuotedPrintable(enc.encode(s)));
    assert.equal(qp("a=3Db"), "a=b");
    assert.equal(qp("a=3db"), "a=b");
    assert.equal(qp("trailing   \r\nnext"), "trailing\r\nnext");
    assert.equal(qp("soft= \t\r\nbreak"), "softbreak");
    assert.equal(qp("lf=\nonly"), "lfonly");
    assert.equal(qp("bad=ZZ and =4"), "bad=ZZ and =4");
    assert.equal(qp("end="), "end");
    assert.equal(qp("in the middle  of"), "in the middle  of");
  });
});

import assert from "node:assert/strict";
import { isMultipart, MAX_DEPTH, type MimePart, parseStructure } from "../../src/mime/structure.ts";
import { buildSummary, decodeSummary, encodeSummary } from "../../src/mime/summary.ts";
import { paramValue } from "../../src/mime/mime_params.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
/** A message written with LF line ends, stored with CRLF. */
const crlf = (text: string) => enc.encode(text.replace(/\n/g, "\r\n"));
const body = (msg: Uint8Array, p: MimePart) => dec.decode(msg.subarray(p.headerEnd, p.bodyEnd));
const header = (msg: Uint8Array, p: MimePart) =>
  dec.decode(msg.subarray(p.headerStart, p.headerEnd));

const ALTERNATIVE = crlf(`From: a@example.org
Subject: alt
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="XX"

This is the preamble.
--XX
Content-Type: text/plain; charset=utf-8

plain line 1
plain line 2

--XX
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p>html</p>
--XX--
epilogue
`);

const MIXED = crlf(`From: a@example.org
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b1

--b1
Content-Type: text/plain

see attached
--b1
Content-Type: application/pdf; name="doc.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="doc.pdf"

JVBERi0xLjQK
--b1--
`);

const NESTED_TEXT = `From: outer@example.org
Subject: fwd
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain

note
--outer
Content-Type: message/rfc822

From: inner@example.org
Subject: inner
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

inner text
--inner
Content-Type: text/html

<b>inner</b>
--inner--

--outer--
`;
const NESTED = crlf(NESTED_TEXT);

Deno.test("parseStructure", async (t) => {
  await t.step("a simple text message: RFC 2045 defaults, exact offsets, lines", () => {
    const msg = crlf("Subject: hi\n\nline one\nline two\n");
    const root = parseStructure(msg);
    assert.equal(root.headerStart, 0);
    assert.equal(header(msg, root), "Subject: hi\r\n\r\n");
    assert.equal(body(msg, root), "line one\r\nline two\r\n");
    assert.equal(root.bodyEnd, msg.length);
    assert.deepEqual([root.type, root.subtype, root.encoding], ["text", "plain", "7bit"]);
    assert.deepEqual(root.params, []);
    assert.equal(root.lines, 2);
    assert.deepEqual(root.children, []);
  });

  await t.step(
    "multipart/alternative: preamble and epilogue excluded, CRLF before -- kept out",
    () => {
      const root = parseStructure(ALTERNATIVE);
      assert.ok(isMultipart(root));
      assert.equal(root.children.length, 2);
      const [plain, html] = root.children;
      assert.equal(header(ALTERNATIVE, plain), "Content-Type: text/plain; charset=utf-8\r\n\r\n");
      // The blank line before the delimiter is body; the CRLF just before "--XX" is not.
      assert.equal(body(ALTERNATIVE, plain), "plain line 1\r\nplain line 2\r\n");
      assert.equal(plain.lines, 2);
      assert.equal(body(ALTERNATIVE, html), "<p>html</p>");
      assert.equal(html.lines, 0);
      assert.equal(html.encoding, "quoted-printable");
      assert.deepEqual(html.params, [["charset", "utf-8"]]);
      // The multipart's own body runs to the end, epilogue included.
      assert.equal(root.bodyEnd, ALTERNATIVE.length);
    },
  );

  await t.step("multipart/mixed with a base64 attachment", () => {
    const root = parseStructure(MIXED);
    const [text, pdf] = root.children;
    assert.equal(body(MIXED, text), "see attached");
    assert.deepEqual([pdf.type, pdf.subtype, pdf.encoding], ["application", "pdf", "base64"]);
    assert.deepEqual(pdf.params, [["name", "doc.pdf"]]);
    assert.deepEqual(pdf.disposition, { type: "attachment", params: [["filename", "doc.pdf"]] });
    assert.equal(body(MIXED, pdf), "JVBERi0xLjQK");
  });

  await t.step("message/rfc822 holding a multipart: offsets in the outer message", () => {
    const root = parseStructure(NESTED);
    const part = root.children[1];
    assert.deepEqual([part.type, part.subtype], ["message", "rfc822"]);
    const inner = part.message!;
    assert.equal(inner.headerStart, part.headerEnd);
    assert.ok(header(NESTED, inner).startsWith("From: inner@example.org\r\n"));
    assert.equal(inner.children.length, 2);
    assert.equal(body(NESTED, inner.children[0]), "inner text");
    assert.equal(body(NESTED, inner.children[1]), "<b>inner</b>");
    assert.equal(part.bodyEnd, inner.bodyEnd);
    assert.ok(body(NESTED, part).endsWith("--inner--\r\n"));
    assert.equal(part.lines, body(NESTED, part).split("\n").length - 1);
  });

  await t.step("multipart/digest children default to message/rfc822", () => {
    const msg = crlf(`Content-Type: multipart/digest; boundary=d

--d

From: one@example.org
Subject: one

first
--d
Content-Type: text/plain

not a message
--d--
`);
    const root = parseStructure(msg);
    const [first, second] = root.children;
    assert.deepEqual([first.type, first.subtype], ["message", "rfc822"]);
    assert.equal(body(msg, first.message!), "first");
    assert.deepEqual([second.type, second.subtype], ["text", "plain"]);
  });

  await t.step("RFC 2231: continuations merged, extended values kept encoded", () => {
    const msg = crlf(`Content-Type: application/x-stuff;
 title*0*=us-ascii'en'This%20is%20even%20more%20;
 title*1*=%2A%2A%2Afun%2A%2A%2A%20;
 title*2="isn't it!";
 url*0="ftp://";
 url*1="cs.utk.edu/pub"
Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.txt

x`);
    const root = parseStructure(msg);
    assert.deepEqual(root.params, [
      ["title*", "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn't it!"],
      ["url", "ftp://cs.utk.edu/pub"],
    ]);
    assert.equal(paramValue(root.params, "title"), "This is even more ***fun*** isn't it!");
    assert.equal(paramValue(root.params, "url"), "ftp://cs.utk.edu/pub");
    assert.equal(paramValue(root.disposition!.params, "filename"), "€ rates.txt");
  });

  await t.step("a broken continuation run keeps only its unbroken start", () => {
    const root = parseStructure(crlf("Content-Type: text/plain; a*0=x; a*2=z\n\n"));
    assert.deepEqual(root.params, [["a", "x"]]);
  });

  await t.step("a message without a body or blank line: header runs to the end", () => {
    const msg = crlf("Subject: no body\nFrom: a@b");
    const root = parseStructure(msg);
    assert.equal(root.headerEnd, msg.length);
    assert.equal(root.bodyEnd, msg.length);
    assert.equal(root.lines, 0);
    const empty = parseStructure(new Uint8Array());
    assert.deepEqual([empty.headerEnd, empty.bodyEnd], [0, 0]);
  });

  await t.step("a message starting with the blank line has an empty header", () => {
    const msg = crlf("\nbody\n");
    const root = parseStructure(msg);
    assert.equal(root.headerEnd, 2);
    assert.equal(body(msg, root), "body\r\n");
  });

  await t.step("LF line ends: offsets into the original bytes", () => {
    const msg = enc.encode(
      "Content-Type: multipart/mixed; boundary=q\n\n--q\n\nA\n--q\n\nB\n--q--\n",
    );
    const root = parseStructure(msg);
    assert.equal(root.headerEnd, 43);
    assert.deepEqual(root.children.map((c) => body(msg, c)), ["A", "B"]);
    assert.equal(root.children[0].headerEnd - root.children[0].headerStart, 1);
  });

  await t.step("multipart without boundary: one leaf part keeping its type", () => {
    const msg = crlf("Content-Type: multipart/mixed\n\n--x\n\nhi\n--x--\n");
    const root = parseStructure(msg);
    assert.equal(isMultipart(root), false);
    assert.equal(root.type, "multipart");
    assert.deepEqual(root.children, []);
    assert.equal(root.bodyEnd, msg.length);
  });

  await t.step("boundary never found: a multipart without children", () => {
    const msg = crlf("Content-Type: multipart/mixed; boundary=zz\n\nno delimiters here\n");
    const root = parseStructure(msg);
    assert.ok(isMultipart(root));
    assert.deepEqual(root.children, []);
    assert.equal(root.bodyEnd, msg.length);
  });

  await t.step("an inner multipart without close delimiter ends at the outer boundary", () => {
    const msg = crlf(`Content-Type: multipart/mixed; boundary=out

--out
Content-Type: multipart/alternative; boundary=in

--in

one
--out

two
--out--
`);
    const root = parseStructure(msg);
    assert.equal(root.children.length, 2);
    assert.equal(body(msg, root.children[0].children[0]), "one");
    assert.equal(body(msg, root.children[1]), "two");
  });

  await t.step("a delimiter with trailing white space still counts", () => {
    const msg = crlf("Content-Type: multipart/mixed; boundary=w\n\n--w  \n\nA\n--w--\t\n");
    assert.equal(body(msg, parseStructure(msg).children[0]), "A");
  });

  await t.step("bad Content-Transfer-Encoding reads as 7bit; first field of a name counts", () => {
    const msg = crlf(
      "Content-Type: text/html\nContent-Type: image/png\nContent-Transfer-Encoding: ?x y\n\n",
    );
    const root = parseStructure(msg);
    assert.deepEqual([root.type, root.subtype, root.encoding], ["text", "html", "7bit"]);
  });

  await t.step("a type without subtype", () => {
    assert.equal(parseStructure(crlf("Content-Type: text\n\n")).subtype, "plain");
    assert.equal(parseStructure(crlf("Content-Type: image\n\n")).subtype, "unknown");
  });

  await t.step("1,000 levels of nesting: no stack overflow, depth capped, linear", () => {
    let text = "";
    for (let i = 0; i < 1000; i++) {
      text += `Content-Type: multipart/mixed; boundary=b${i}\n\n--b${i}\n`;
    }
    text += "\nleaf\n";
    for (let i = 999; i >= 0; i--) text += `--b${i}--\n`;
    const msg = crlf(text);
    const started = performance.now();
    const root = parseStructure(msg);
    assert.ok(performance.now() - started < 2000);
    let depth = 0;
    for (let p = root; p.children.length > 0; p = p.children[0]) depth++;
    assert.equal(depth, MAX_DEPTH);
  });

  await t.step("1,000 levels of message/rfc822 nesting", () => {
    const msg = crlf("Content-Type: message/rfc822\n\n".repeat(1000) + "\nend\n");
    const root = parseStructure(msg);
    let depth = 0;
    for (let p: MimePart | undefined = root; p?.message; p = p.message) depth++;
    assert.equal(depth, MAX_DEPTH);
  });

  await t.step("a flood of delimiters stops making parts at the limit", () => {
    const msg = crlf("Content-Type: multipart/mixed; boundary=f\n\n" + "--f\n".repeat(50_000));
    const root = parseStructure(msg);
    assert.ok(root.children.length < 10_001);
    assert.equal(root.bodyEnd, msg.length);
  });
});

Deno.test("message summary", async (t) => {
  await t.step("buildSummary: raw header, nested headers, sent date", () => {
    const msg = crlf("Date: Sat, 24 Mar 2007 23:00:00 +0200\n" + NESTED_TEXT);
    const s = buildSummary(msg);
    assert.equal(dec.decode(s.header), dec.decode(msg.subarray(0, s.structure.headerEnd)));
    assert.ok(dec.decode(s.header).endsWith("\r\n\r\n"));
    assert.equal(s.sentDate, Date.UTC(2007, 2, 24, 21, 0, 0));
    const nested = s.structure.children[1].message!;
    assert.ok(dec.decode(nested.header!).startsWith("From: inner@example.org"));
    assert.notEqual(nested.header!.buffer, msg.buffer);
  });

  await t.step("encode then decode gives the same summary", () => {
    for (const msg of [ALTERNATIVE, MIXED, NESTED, crlf("no header at all")]) {
      const s = buildSummary(msg);
      const back = decodeSummary(encodeSummary(s));
      assert.deepEqual(back, s);
    }
  });

  await t.step("a summary without a parsable date has no sentDate", () => {
    const s = decodeSummary(encodeSummary(buildSummary(crlf("Date: someday\n\nx"))));
    assert.equal(s.sentDate, undefined);
  });

  await t.step("decode rejects garbage with an Error", () => {
    const good = encodeSummary(buildSummary(NESTED));
    const bad: Uint8Array[] = [
      new Uint8Array(),
      new Uint8Array([1, 0, 0]),
      Uint8Array.of(2, ...good.subarray(1)),
      good.subarray(0, good.length - 1),
      Uint8Array.of(...good, 0),
      Uint8Array.of(1, 0, 0, 0, 4, ...enc.encode("nope")),
      Uint8Array.of(1, 0, 0, 0, 2, ...enc.encode("[]")),
      Uint8Array.of(1, 0, 0, 0, 10, ...enc.encode('{"s":{}, }')),
      Uint8Array.of(1, 255, 255, 255, 255),
    ];
    const inverted = enc.encode(JSON.stringify({ s: { o: [5, 1, 9, 0], t: ["a", "b", "c"] } }));
    bad.push(Uint8Array.of(1, 0, 0, 0, inverted.length, ...inverted));
    for (const bytes of bad) assert.throws(() => decodeSummary(bytes), Error);
  });
});

Deno.test("an encapsulated message ending at an enclosing delimiter stays inside its part", () => {
  const te = new TextEncoder();
  const message = te.encode(
    "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n" +
      "Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\n--B--\r\n",
  );
  const root = parseStructure(message);
  const part = root.children[0];
  const nested = part.message!;
  assert.ok(nested.headerEnd <= part.bodyEnd, `${nested.headerEnd} > ${part.bodyEnd}`);
  assert.ok(nested.bodyEnd <= part.bodyEnd, `${nested.bodyEnd} > ${part.bodyEnd}`);
});

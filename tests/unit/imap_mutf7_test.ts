/** Modified UTF-7 mailbox names (RFC 3501 §5.1.3) and response-side string quoting. */
import assert from "node:assert/strict";
import { decodeMutf7, encodeMutf7 } from "../../src/imap/parse/mutf7.ts";
import {
  astringOut,
  isQuotable,
  literalFor,
  nstringOut,
  quoted,
  stringOut,
} from "../../src/imap/parse/quote.ts";

Deno.test("imap mutf7: known encodings", async (t) => {
  const pairs: Array<[string, string]> = [
    ["INBOX", "INBOX"],
    ["&", "&-"],
    ["Tom & Jerry", "Tom &- Jerry"],
    ["Café", "Caf&AOk-"],
    ["é", "&AOk-"],
    ["~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"],
    ["Entwürfe", "Entw&APw-rfe"],
    ["😀", "&2D3eAA-"],
    ["", ""],
  ];
  for (const [name, wire] of pairs) {
    await t.step(JSON.stringify(name), () => {
      assert.equal(encodeMutf7(name), wire);
      assert.equal(decodeMutf7(wire), name);
    });
  }
});

Deno.test("imap mutf7: malformed input", () => {
  for (
    const bad of [
      "&",
      "&AOk",
      "Caf&AOk",
      "&AOk=-",
      "&AO/-",
      "&A-",
      "&AOkA-",
      "&AGE-",
      "&ACY-",
      "&2D0-",
      "&3gA-",
      "café",
      "a\tb",
      "a\x7fb",
      "&AOl-",
    ]
  ) {
    assert.equal(decodeMutf7(bad), undefined, bad);
  }
});

Deno.test("imap mutf7: round trip of random names", () => {
  let x = 7;
  const next = () => (x = (x * 1103515245 + 12345) & 0x7fffffff);
  const alphabet = ["a", "&", "-", " ", "é", "ß", "日", "😀", "/", ".", "\u00a0", "~"];
  for (let i = 0; i < 500; i++) {
    let name = "";
    const len = next() % 12;
    for (let k = 0; k < len; k++) name += alphabet[next() % alphabet.length];
    const wire = encodeMutf7(name);
    assert.match(wire, /^[\x20-\x7e]*$/);
    assert.equal(decodeMutf7(wire), name, wire);
  }
});

Deno.test("imap quote: response strings", async (t) => {
  await t.step("quoted", () => {
    assert.equal(quoted('a "b" \\c'), '"a \\"b\\" \\\\c"');
    assert.equal(stringOut("plain", false), '"plain"');
    assert.equal(stringOut("", false), '""');
    assert.equal(stringOut("tab\there", false), '"tab\there"');
  });
  await t.step("literals for CR, LF, NUL and (outside UTF-8 mode) 8-bit", () => {
    assert.equal(stringOut("a\r\nb", false), "{4}\r\na\r\nb");
    assert.equal(stringOut("Grüße", false), "{7}\r\nGrüße");
    assert.equal(stringOut("Grüße", true), '"Grüße"');
    assert.equal(stringOut("a\0", true), "{2}\r\na\0");
    assert.equal(isQuotable("x\n", true), false);
    assert.equal(isQuotable("é", false), false);
  });
  await t.step("astrings and nstrings", () => {
    assert.equal(astringOut("INBOX", false), "INBOX");
    assert.equal(astringOut("a]b", false), "a]b");
    assert.equal(astringOut("NIL", false), '"NIL"');
    assert.equal(astringOut("a b", false), '"a b"');
    assert.equal(astringOut("", false), '""');
    assert.equal(astringOut("a*", false), '"a*"');
    assert.equal(astringOut("a{1}", false), '"a{1}"');
    assert.equal(nstringOut(null, false), "NIL");
    assert.equal(nstringOut(undefined, false), "NIL");
    assert.equal(nstringOut("NIL", false), '"NIL"');
  });
  await t.step("literalFor", () => {
    assert.deepEqual([...literalFor(new Uint8Array([0, 255]))], [
      ...new TextEncoder().encode("{2}\r\n"),
      0,
      255,
    ]);
    assert.equal(new TextDecoder().decode(literalFor(new Uint8Array())), "{0}\r\n");
  });
});

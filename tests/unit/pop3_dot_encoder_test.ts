/** Byte-stuffing of POP3 multi-line responses and the TOP cut (src/net/dot_encoder.ts). */
import assert from "node:assert/strict";
import { dotEncode, dotEncodeParts, headAndLines } from "../../src/net/dot_encoder.ts";
import { unstuff } from "../helpers/pop3_client.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const encode = (s: string) => dec.decode(dotEncode(enc.encode(s)));
const top = (s: string, n: number) => dec.decode(headAndLines(enc.encode(s), n));

Deno.test("pop3 dotEncode", async (t) => {
  await t.step("lines starting with dots get one more", () => {
    assert.equal(encode("a\r\n.\r\n..\r\n.x\r\nb.\r\n"), "a\r\n..\r\n...\r\n..x\r\nb.\r\n.\r\n");
  });
  await t.step("a dot at the very start", () => {
    assert.equal(encode(".start\r\n"), "..start\r\n.\r\n");
  });
  await t.step("content without a final CRLF is closed first", () => {
    assert.equal(encode("no newline"), "no newline\r\n.\r\n");
    assert.equal(encode("ends in cr\r"), "ends in cr\r\r\n.\r\n");
    assert.equal(encode(".\r\n."), "..\r\n..\r\n.\r\n");
  });
  await t.step("empty content", () => {
    assert.equal(encode(""), "\r\n.\r\n");
  });
  await t.step("dots not at a line start are untouched", () => {
    assert.equal(encode("a.b\r\n x.\r\n"), "a.b\r\n x.\r\n.\r\n");
  });
  await t.step("8-bit bytes pass through and unstuffing gives the content back", () => {
    const content = new Uint8Array([0x2e, 0xff, 13, 10, 0x2e, 0x2e, 0x80, 13, 10, 0, 13, 10]);
    const wire = dotEncode(content);
    assert.deepEqual(unstuff(wire), content);
  });
  await t.step("no CRLF.CRLF inside the encoded body before the end", () => {
    const wire = dotEncode(enc.encode("x\r\n.\r\n.\r\n\r\n.\r\n"));
    const text = dec.decode(wire);
    assert.equal(text.indexOf("\r\n.\r\n"), text.length - 5);
  });
});

Deno.test("pop3 headAndLines (TOP)", async (t) => {
  const msg = "Subject: s\r\nFrom: f\r\n\r\nl1\r\nl2\r\nl3\r\n";
  await t.step("0 lines: the header and the blank line", () => {
    assert.equal(top(msg, 0), "Subject: s\r\nFrom: f\r\n\r\n");
  });
  await t.step("n lines of body", () => {
    assert.equal(top(msg, 1), "Subject: s\r\nFrom: f\r\n\r\nl1\r\n");
    assert.equal(top(msg, 2), "Subject: s\r\nFrom: f\r\n\r\nl1\r\nl2\r\n");
  });
  await t.step("more lines than the body has: the whole message", () => {
    assert.equal(top(msg, 3), msg);
    assert.equal(top(msg, 100), msg);
  });
  await t.step("a message without a body separator is all header", () => {
    assert.equal(top("Subject: s\r\nFrom: f\r\n", 0), "Subject: s\r\nFrom: f\r\n");
  });
  await t.step("a last body line without CRLF", () => {
    assert.equal(top("S: s\r\n\r\nl1\r\nlast", 5), "S: s\r\n\r\nl1\r\nlast");
  });
  await t.step("an empty body line counts as a line", () => {
    assert.equal(top("S: s\r\n\r\n\r\nl2\r\n", 1), "S: s\r\n\r\n\r\n");
  });
});

Deno.test("pop3 dotEncodeParts: the same octets as dotEncode, no copy when nothing is stuffed", () => {
  for (
    const text of [
      "",
      "a",
      "a\r\n",
      ".",
      ".\r\n",
      "x\r\n.y\r\n",
      "no dots\r\nat all\r\n",
      "a.b\r\n",
    ]
  ) {
    const content = enc.encode(text);
    const [body, end] = dotEncodeParts(content);
    assert.deepEqual(new Uint8Array([...body, ...end]), dotEncode(content));
    if (!/(^|\n)\./.test(text)) assert.equal(body, content);
  }
});

Deno.test("pop3 dotEncode: every line-starting dot doubled, whatever its offset's parity", () => {
  // The scan looks at every second octet; a reference written line by line checks it.
  const reference = (s: string) => {
    const body = s.split("\n").map((line) => line.startsWith(".") ? "." + line : line).join("\n");
    return body + (s.endsWith("\r\n") ? "" : "\r\n") + ".\r\n";
  };
  const alphabet = ["\r", "\n", ".", "a"];
  let seed = 7;
  for (let n = 0; n < 5000; n++) {
    let s = "";
    for (let len = n % 13; len > 0; len--) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      s += alphabet[seed >>> 30];
    }
    assert.equal(encode(s), reference(s), JSON.stringify(s));
  }
});

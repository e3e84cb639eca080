/** DKIM canonicalization (RFC 6376 §3.4) against the RFC's own examples and edge cases. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  binaryToBytes,
  bytesToBinary,
  canonicalizeBodyRelaxed,
  canonicalizeBodySimple,
  canonicalizeHeaderRelaxed,
  canonicalizeHeaderSimple,
} from "../../src/dkim/canonicalize.ts";
import { splitMessage } from "../../src/dkim/message.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (text: string) => enc.encode(text);
const text = (data: Uint8Array) => dec.decode(data);

/** RFC 6376 §3.4.5, with <SP>, <HTAB> and <CRLF> written out. */
const RFC_EXAMPLE = "A: X\r\n" +
  "B : Y\t\r\n" +
  "\tZ  \r\n" +
  "\r\n" +
  " C \r\n" +
  "D \t E\r\n" +
  "\r\n" +
  "\r\n";

Deno.test("DKIM canonicalization", async (t) => {
  await t.step("RFC 6376 §3.4.5 example, relaxed", () => {
    const { headers, body } = splitMessage(bytes(RFC_EXAMPLE));
    assert.deepEqual(headers.map((h) => h.name), ["A", "B"]);
    assert.equal(headers.map((h) => canonicalizeHeaderRelaxed(h.raw)).join(""), "a:X\r\nb:Y Z\r\n");
    assert.equal(text(canonicalizeBodyRelaxed(body)), " C\r\nD E\r\n");
  });

  await t.step("RFC 6376 §3.4.5 example, simple", () => {
    const { headers, body } = splitMessage(bytes(RFC_EXAMPLE));
    assert.equal(
      headers.map((h) => canonicalizeHeaderSimple(h.raw)).join(""),
      "A: X\r\nB : Y\t\r\n\tZ  \r\n",
    );
    assert.equal(text(canonicalizeBodySimple(body)), " C \r\nD \t E\r\n");
  });

  await t.step("RFC 6376 Appendix A body: simple body hash is the bh= it publishes", () => {
    const body = bytes("Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.\r\n");
    const bh = createHash("sha256").update(canonicalizeBodySimple(body)).digest("base64");
    assert.equal(bh, "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
  });

  await t.step("empty body: simple is one CRLF, relaxed is empty (§3.4.3, §3.4.4)", () => {
    assert.equal(text(canonicalizeBodySimple(new Uint8Array())), "\r\n");
    assert.equal(text(canonicalizeBodyRelaxed(new Uint8Array())), "");
    assert.equal(text(canonicalizeBodySimple(bytes("\r\n\r\n\r\n"))), "\r\n");
    assert.equal(text(canonicalizeBodyRelaxed(bytes("\r\n \t\r\n\r\n"))), "");
    // The well-known hashes of the two empty bodies.
    const hash = (d: Uint8Array) => createHash("sha256").update(d).digest("base64");
    assert.equal(
      hash(canonicalizeBodyRelaxed(new Uint8Array())),
      "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    );
    assert.equal(
      hash(canonicalizeBodySimple(new Uint8Array())),
      "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=",
    );
  });

  await t.step("trailing blank lines go, inner blank lines stay", () => {
    const body = bytes("a\r\n\r\n\r\nb  \r\n\r\n \r\n\t\r\n\r\n");
    assert.equal(text(canonicalizeBodySimple(body)), "a\r\n\r\n\r\nb  \r\n\r\n \r\n\t\r\n");
    assert.equal(text(canonicalizeBodyRelaxed(body)), "a\r\n\r\n\r\nb\r\n");
  });

  await t.step("missing final CRLF is added; bare LF is a line end", () => {
    assert.equal(text(canonicalizeBodySimple(bytes("a\r\nb"))), "a\r\nb\r\n");
    assert.equal(text(canonicalizeBodyRelaxed(bytes("a \r\nb \t"))), "a\r\nb\r\n");
    assert.equal(text(canonicalizeBodyRelaxed(bytes("a\nb\n\n"))), "a\r\nb\r\n");
    assert.equal(text(canonicalizeBodySimple(bytes("a\n\nb\n"))), "a\r\n\r\nb\r\n");
    // A bare CR is ordinary content.
    assert.equal(text(canonicalizeBodyRelaxed(bytes("a\rb\r\n"))), "a\rb\r\n");
  });

  await t.step(
    "relaxed body keeps a leading WSP run as one SP and 8-bit octets as they are",
    () => {
      const body = new Uint8Array([0x09, 0x20, 0xc3, 0xa9, 0x20, 0x20, 0xff, 0x0d, 0x0a]);
      assert.deepEqual([...canonicalizeBodyRelaxed(body)], [0x20, 0xc3, 0xa9, 0x20, 0xff, 13, 10]);
    },
  );

  await t.step("relaxed header: folding, WSP runs, colon spacing, name case", () => {
    assert.equal(
      canonicalizeHeaderRelaxed("SUBJect \t:  Is \t dinner\r\n\t ready?  \r\n"),
      "subject:Is dinner ready?\r\n",
    );
    assert.equal(canonicalizeHeaderRelaxed("X-Empty:\r\n"), "x-empty:\r\n");
    assert.equal(canonicalizeHeaderRelaxed("X-Empty:   \r\n"), "x-empty:\r\n");
    assert.equal(canonicalizeHeaderRelaxed("To: a,\r\n b"), "to:a, b\r\n");
    // Only WSP is collapsed: a UTF-8 octet such as 0xA0 (NBSP's second octet) stays.
    const utf8 = bytesToBinary(bytes("Subject: \u00e0 \u00a0x\r\n"));
    assert.deepEqual(
      binaryToBytes(canonicalizeHeaderRelaxed(utf8)),
      bytes("subject:\u00e0 \u00a0x\r\n"),
    );
  });

  await t.step("splitMessage: folded fields, repeated fields, bare LF, no body", () => {
    const { headers, body } = splitMessage(bytes("To: a\n  b\nTo: c\r\nX:y\r\n\r\nbody\r\n"));
    assert.deepEqual(headers, [
      { name: "To", raw: "To: a\r\n  b\r\n" },
      { name: "To", raw: "To: c\r\n" },
      { name: "X", raw: "X:y\r\n" },
    ]);
    assert.equal(text(body), "body\r\n");
    const noBody = splitMessage(bytes("Subject: x"));
    assert.deepEqual(noBody.headers, [{ name: "Subject", raw: "Subject: x\r\n" }]);
    assert.equal(noBody.body.length, 0);
  });
});

/** NUL-holding parts become base64 at APPEND, and decode back to the same octets. */
import assert from "node:assert/strict";
import { encodeBinaryParts } from "../../src/mime/encode_binary_parts.ts";
import { decodePart, findPart } from "../../src/mime/section.ts";
import { parseStructure } from "../../src/mime/structure.ts";

const te = new TextEncoder();
const bytes = (...parts: (string | number[])[]) => {
  const chunks = parts.map((p) => typeof p === "string" ? te.encode(p) : new Uint8Array(p));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
};

Deno.test("encodeBinaryParts", async (t) => {
  await t.step("a message without NUL is returned as it is", () => {
    const m = te.encode("Subject: x\r\n\r\nhello\r\n");
    assert.equal(encodeBinaryParts(m), m);
  });

  await t.step("a single binary part becomes base64 and decodes to the same octets", () => {
    const payload = [0, 0x2d, 0xe4, 13, 10, 0, 255];
    const m = bytes(
      "From: a@b\r\nContent-Type: application/octet-stream\r\n",
      "Content-Transfer-Encoding: binary\r\n\r\n",
      payload,
    );
    const out = encodeBinaryParts(m);
    assert.ok(!out.includes(0));
    const text = new TextDecoder().decode(out);
    assert.match(text, /Content-Transfer-Encoding: base64\r\n\r\n/);
    assert.doesNotMatch(text, /binary/);
    const root = parseStructure(out);
    assert.equal(root.encoding, "base64");
    assert.deepEqual([...(decodePart(out, root) as Uint8Array)], payload);
  });

  await t.step("only the NUL part of a multipart changes", () => {
    const m = bytes(
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
      "Content-Type: text/plain\r\n\r\nplain text\r\n--b\r\n",
      "Content-Type: application/x\r\n\r\n",
      [1, 0, 2],
      "\r\n--b--\r\n",
    );
    const out = encodeBinaryParts(m);
    const root = parseStructure(out);
    const first = findPart(root, [1])!;
    const second = findPart(root, [2])!;
    assert.equal(
      new TextDecoder().decode(out.subarray(first.headerEnd, first.bodyEnd)),
      "plain text",
    );
    assert.equal(second.encoding, "base64");
    assert.deepEqual([...(decodePart(out, second) as Uint8Array)], [1, 0, 2]);
  });
});

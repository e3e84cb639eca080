import assert from "node:assert/strict";
import { escapeInvisible, escapeUnits, printableAscii } from "../../src/net/printable.ts";

Deno.test("printable text", async (t) => {
  await t.step("escapeUnits writes each UTF-16 code unit as \\uXXXX", () => {
    assert.equal(escapeUnits("\u202e"), "\\u202e");
    assert.equal(escapeUnits("\r\n"), "\\u000d\\u000a");
    assert.equal(escapeUnits("\u{1f600}"), "\\ud83d\\ude00");
    assert.equal(escapeUnits(""), "");
  });

  await t.step("printableAscii keeps 0x20-0x7E as they are", () => {
    let all = "";
    for (let c = 0x20; c <= 0x7e; c++) all += String.fromCharCode(c);
    assert.equal(printableAscii(all), all);
  });

  await t.step("printableAscii escapes everything else: C0, DEL, C1, bidi, BOM, letters", () => {
    const input = "a\x00\t\r\n\x7f\x85\u00a0é\u2028\u202e\u2066\ufeff\u{1f600}z";
    const out = printableAscii(input);
    assert.ok(/^[\x20-\x7e]*$/.test(out), out);
    assert.equal(
      out,
      "a\\u0000\\u0009\\u000d\\u000a\\u007f\\u0085\\u00a0\\u00e9\\u2028\\u202e\\u2066\\ufeff" +
        "\\ud83d\\ude00z",
    );
  });

  await t.step("escapeInvisible escapes non-printing code points and keeps readable text", () => {
    assert.equal(escapeInvisible("jörg 日本"), "jörg 日本");
    assert.equal(escapeInvisible("a\u202eb\u200fc\ufeffd"), "a\\u202eb\\u200fc\\ufeffd");
    assert.equal(escapeInvisible("\x00\x1b\x7f\x9f"), "\\u0000\\u001b\\u007f\\u009f");
    assert.equal(escapeInvisible("\u2028\u2029\u00a0\u3000"), "\\u2028\\u2029\\u00a0\\u3000");
    assert.equal(escapeInvisible("\ud800x\udfff"), "\\ud800x\\udfff");
    assert.equal(escapeInvisible("\u{e0041}"), "\\udb40\\udc41");
  });
});

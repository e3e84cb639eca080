import assert from "node:assert/strict";
import { type DataProblem, DotDecoder, scanLines } from "../../src/net/dot_decoder.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Outcome {
  content: string;
  done: boolean;
  problem: DataProblem | undefined;
  consumed: number;
}

/** Feeds `wire` in one chunk. */
function whole(wire: string, maxSize = 1 << 20): Outcome {
  const d = new DotDecoder(maxSize);
  const consumed = d.feed(enc.encode(wire));
  return { content: dec.decode(d.content), done: d.done, problem: d.problem, consumed };
}

/** Feeds `wire` one byte at a time, stopping when the decoder stops consuming. */
function byteByByte(wire: string, maxSize = 1 << 20): Outcome {
  const d = new DotDecoder(maxSize);
  const bytes = enc.encode(wire);
  let consumed = 0;
  for (const b of bytes) {
    const n = d.feed(Uint8Array.of(b));
    consumed += n;
    if (n === 0) break;
  }
  return { content: dec.decode(d.content), done: d.done, problem: d.problem, consumed };
}

/** Decodes `wire` both ways, asserts both agree, and returns the outcome. */
function decode(wire: string, maxSize?: number): Outcome {
  const a = whole(wire, maxSize);
  const b = byteByByte(wire, maxSize);
  assert.deepEqual(b, a, `byte-by-byte differs from one piece for ${JSON.stringify(wire)}`);
  return a;
}

Deno.test("DotDecoder: end of data and transparency (RFC 5321 §4.1.1.4, §4.5.2)", async (t) => {
  await t.step("a simple message; the end marker is removed, the last CRLF kept", () => {
    const wire = "Subject: hi\r\n\r\nbody\r\n.\r\n";
    assert.deepEqual(decode(wire), {
      content: "Subject: hi\r\n\r\nbody\r\n",
      done: true,
      problem: undefined,
      consumed: wire.length,
    });
  });

  await t.step("empty message: the end marker first", () => {
    assert.deepEqual(decode(".\r\n"), {
      content: "",
      done: true,
      problem: undefined,
      consumed: 3,
    });
  });

  await t.step("a message of one empty line", () => {
    assert.deepEqual(decode("\r\n.\r\n"), {
      content: "\r\n",
      done: true,
      problem: undefined,
      consumed: 5,
    });
  });

  await t.step("a leading dot is removed from a line (dot-unstuffing)", () => {
    assert.equal(decode("..\r\n.\r\n").content, ".\r\n");
    assert.equal(decode("...\r\n.\r\n").content, "..\r\n");
    assert.equal(decode("a\r\n..b\r\n.\r\n").content, "a\r\n.b\r\n");
    assert.equal(decode(".x\r\n.\r\n").content, "x\r\n");
  });

  await t.step("dots not at a line start are kept", () => {
    assert.equal(decode("a.b.\r\n x.\r\n.\r\n").content, "a.b.\r\n x.\r\n");
  });

  await t.step("a line '. ' (dot space) is not the end marker", () => {
    const r = decode(". \r\n.\r\n");
    assert.equal(r.content, " \r\n");
    assert.equal(r.done, true);
    assert.equal(r.problem, undefined);
  });

  await t.step("without the end marker the decoder is not done and consumes everything", () => {
    const r = decode("abc\r\n.");
    assert.equal(r.done, false);
    assert.equal(r.consumed, 6);
    assert.equal(r.content, "abc\r\n");
  });

  await t.step("bytes after the end marker are not consumed", () => {
    const wire = "hello\r\n.\r\nQUIT\r\n";
    const r = decode(wire);
    assert.equal(r.done, true);
    assert.equal(r.consumed, "hello\r\n.\r\n".length);
    assert.equal(r.content, "hello\r\n");
    assert.equal(wire.slice(r.consumed), "QUIT\r\n");
  });

  await t.step("feeding after the end consumes nothing and changes nothing", () => {
    const d = new DotDecoder(1000);
    assert.equal(d.feed(enc.encode("x\r\n.\r\n")), 6);
    assert.equal(d.feed(enc.encode("more\r\n.\r\n")), 0);
    assert.equal(d.feed(new Uint8Array(0)), 0);
    assert.equal(dec.decode(d.content), "x\r\n");
    assert.equal(d.done, true);
  });

  await t.step("an empty chunk consumes nothing", () => {
    const d = new DotDecoder(1000);
    assert.equal(d.feed(new Uint8Array(0)), 0);
    assert.equal(d.done, false);
  });

  await t.step("the end marker split at every position across two chunks", () => {
    const wire = enc.encode("line one\r\n..two\r\n.\r\nNEXT");
    const end = wire.length - 4;
    for (let cut = 0; cut <= wire.length; cut++) {
      const d = new DotDecoder(1000);
      const first = d.feed(wire.subarray(0, cut));
      const second = d.feed(wire.subarray(cut));
      assert.equal(first + second, end, `cut at ${cut}`);
      assert.equal(d.done, true, `cut at ${cut}`);
      assert.equal(dec.decode(d.content), "line one\r\n.two\r\n", `cut at ${cut}`);
      assert.equal(d.problem, undefined, `cut at ${cut}`);
    }
  });

  await t.step("binary-ish bytes (8BITMIME, NUL) pass through unchanged", () => {
    const d = new DotDecoder(1000);
    const body = Uint8Array.of(0x00, 0xff, 0x80, 0x2e, 0x7f, 0x0d, 0x0a, 0x2e, 0x0d, 0x0a);
    assert.equal(d.feed(body), body.length);
    assert.deepEqual([...d.content], [0x00, 0xff, 0x80, 0x2e, 0x7f, 0x0d, 0x0a]);
    assert.equal(d.problem, undefined);
  });

  await t.step("a large message grows the buffer and is kept whole", () => {
    const line = "x".repeat(998) + "\r\n";
    const body = line.repeat(200); // 200 000 octets, beyond the first 64 KiB buffer
    const d = new DotDecoder(300_000);
    const wire = enc.encode(body + ".\r\n");
    assert.equal(d.feed(wire), wire.length);
    assert.equal(d.done, true);
    assert.equal(d.problem, undefined);
    assert.equal(d.content.length, 200_000);
    assert.equal(dec.decode(d.content), body);
  });
});

Deno.test("DotDecoder: bare CR and LF (RFC 5321 §2.3.8, SMTP smuggling)", async (t) => {
  await t.step("<LF>.<LF> does not end the message and is flagged", () => {
    const r = decode("a\n.\nb\r\n.\r\n");
    assert.equal(r.done, true);
    assert.equal(r.problem, "bare-newline");
    assert.equal(r.consumed, "a\n.\nb\r\n.\r\n".length);
    assert.match(r.content, /^a\n\.\nb\r\n$/);
  });

  await t.step("<CR><LF>.<LF> does not end the message and is flagged", () => {
    const r = decode("a\r\n.\nSMUGGLED\r\n.\r\n");
    assert.equal(r.done, true);
    assert.equal(r.problem, "bare-newline");
    assert.ok(r.content.includes("SMUGGLED"), r.content);
    assert.equal(r.consumed, "a\r\n.\nSMUGGLED\r\n.\r\n".length);
  });

  await t.step("<LF>.<CR><LF> does not end the message and is flagged", () => {
    const r = decode("a\n.\r\nSMUGGLED\r\n.\r\n");
    assert.equal(r.done, true);
    assert.equal(r.problem, "bare-newline");
    assert.ok(r.content.includes("SMUGGLED"), r.content);
  });

  await t.step("<CR>.<CR> and <CR><LF>.<CR> do not end the message and are flagged", () => {
    for (const wire of ["a\r.\rb\r\n.\r\n", "a\r\n.\rb\r\n.\r\n"]) {
      const r = decode(wire);
      assert.equal(r.done, true, JSON.stringify(wire));
      assert.equal(r.problem, "bare-newline", JSON.stringify(wire));
      assert.equal(r.consumed, wire.length, JSON.stringify(wire));
      assert.ok(r.content.endsWith("b\r\n"), JSON.stringify(r.content));
    }
  });

  await t.step("without a real end marker, bare endings never finish the message", () => {
    for (const wire of ["a\n.\n", "a\r\n.\n", "a\n.\r\n", "a\r.\r", "a\r\n.\r"]) {
      const r = decode(wire);
      assert.equal(r.done, false, JSON.stringify(wire));
      assert.equal(r.consumed, wire.length, JSON.stringify(wire));
    }
  });

  await t.step("a bare CR mid-line is flagged and kept", () => {
    const r = decode("a\rb\r\n.\r\n");
    assert.equal(r.problem, "bare-newline");
    assert.equal(r.content, "a\rb\r\n");
  });

  await t.step("a bare LF mid-line is flagged and kept", () => {
    const r = decode("a\nb\r\n.\r\n");
    assert.equal(r.problem, "bare-newline");
    assert.equal(r.content, "a\nb\r\n");
  });

  await t.step("CR CR LF is a bare CR followed by a line end", () => {
    const r = decode("a\r\r\n.\r\n");
    assert.equal(r.problem, "bare-newline");
    assert.equal(r.content, "a\r\r\n");
    assert.equal(r.done, true);
  });

  await t.step("a clean message has no problem", () => {
    assert.equal(decode("a\r\nb\r\n\r\nc\r\n.\r\n").problem, undefined);
  });
});

Deno.test("DotDecoder: limits (RFC 5321 §4.5.3.1)", async (t) => {
  await t.step("content of exactly maxSize octets is accepted", () => {
    // "abcd\r\n" is 6 octets of decoded content.
    const r = decode("abcd\r\n.\r\n", 6);
    assert.equal(r.problem, undefined);
    assert.equal(r.content, "abcd\r\n");
    assert.equal(r.done, true);
  });

  await t.step("one octet over is too-big, content cut at maxSize, end still found", () => {
    const wire = "abcde\r\n.\r\nQUIT\r\n";
    const r = decode(wire, 6);
    assert.equal(r.problem, "too-big");
    assert.equal(r.content, "abcde\r");
    assert.equal(r.done, true);
    assert.equal(r.consumed, "abcde\r\n.\r\n".length);
  });

  await t.step("far over the limit: content stays at maxSize, the rest is read", () => {
    const body = "y".repeat(500) + "\r\n";
    const r = decode(body.repeat(10) + ".\r\n", 1000);
    assert.equal(r.problem, "too-big");
    assert.equal(r.content.length, 1000);
    assert.equal(r.done, true);
  });

  await t.step("dot-stuffing is not counted toward the size", () => {
    const r = decode("..ab\r\n.\r\n", 5);
    assert.equal(r.problem, undefined);
    assert.equal(r.content, ".ab\r\n");
  });

  await t.step("maxSize 0 accepts only the empty message", () => {
    assert.equal(decode(".\r\n", 0).problem, undefined);
    const r = decode("x\r\n.\r\n", 0);
    assert.equal(r.problem, "too-big");
    assert.equal(r.content, "");
  });

  await t.step("lines of any length are kept whole (RFC 5322's 998 binds writers)", () => {
    const line = "x".repeat(100_000);
    const r = decode(`Subject: ${line}\r\n\r\n${line}\r\n..${line}\r\n.\r\n`);
    assert.equal(r.problem, undefined);
    assert.equal(r.content, `Subject: ${line}\r\n\r\n${line}\r\n.${line}\r\n`);
  });

  await t.step("a long line past maxSize is cut at maxSize, the end still found", () => {
    const r = decode("x".repeat(5000) + "\r\n.\r\nQUIT\r\n", 1000);
    assert.equal(r.problem, "too-big");
    assert.equal(r.content, "x".repeat(1000));
    assert.equal(r.consumed, 5000 + 5);
  });

  await t.step("the first problem found wins", () => {
    assert.equal(decode("a\nb" + "x".repeat(20) + "\r\n.\r\n", 5).problem, "bare-newline");
    assert.equal(decode("x".repeat(20) + "\na\r\n.\r\n", 5).problem, "too-big");
  });
});

Deno.test("scanLines: BDAT content checks (RFC 3030, RFC 5321 §2.3.8)", async (t) => {
  const scan = (s: string) => scanLines(enc.encode(s));

  await t.step("clean content has no problem", () => {
    assert.equal(scan(""), undefined);
    assert.equal(scan("a\r\nb\r\n"), undefined);
    assert.equal(scan("\r\n\r\n"), undefined);
    assert.equal(scan("no final newline".slice(0, 10)), undefined);
  });

  await t.step("bare CR or LF anywhere is bare-newline", () => {
    assert.equal(scan("a\nb\r\n"), "bare-newline");
    assert.equal(scan("a\rb\r\n"), "bare-newline");
    assert.equal(scan("a\r\n\n"), "bare-newline");
    assert.equal(scan("\n"), "bare-newline");
    assert.equal(scan("a\r"), "bare-newline", "a CR at the very end has no LF");
    assert.equal(scan("a\r\r\n"), "bare-newline");
    assert.equal(scan("a\n\r\n"), "bare-newline");
  });

  await t.step("lines of any length pass, the last one without CRLF too", () => {
    assert.equal(scan("x".repeat(100_000) + "\r\n"), undefined);
    assert.equal(scan("a\r\n" + "x".repeat(100_000) + "\r\nb\r\n"), undefined);
    assert.equal(scan("a\r\n" + "x".repeat(100_000)), undefined);
  });

  await t.step("dots are not special in BDAT content", () => {
    assert.equal(scan(".\r\n..\r\n"), undefined);
  });
});

Deno.test("DotDecoder gives its whole buffer back when a grow is refused", () => {
  let held = 0;
  const decoder = new DotDecoder(
    10_000_000,
    (n) => {
      if (held + n > 200_000) return false;
      held += n;
      return true;
    },
    undefined,
    (n) => held -= n,
  );
  const line = "z".repeat(98) + "\r\n";
  decoder.feed(new TextEncoder().encode(line.repeat(5000) + ".\r\n"));
  assert.ok(decoder.done);
  assert.equal(decoder.problem, "no-memory");
  assert.equal(held, 0, "what the refused message held went back at once");
  assert.equal(decoder.reserved, 0);
});

/**
 * Fuzz targets for the DATA dot decoder (src/net/dot_decoder.ts, RFC 5321 §4.5.2) against the
 * encoder (src/net/dot_encoder.ts) and a line-by-line reference model: encode then decode gives
 * back any content, the end marker is never found early, any split of the input gives the same
 * result, lines of any length are kept, and the size and memory limits hold.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { DotDecoder, scanLines } from "../../src/net/dot_decoder.ts";
import { dotEncode } from "../../src/net/dot_encoder.ts";
import { concat, type FuzzTarget, target, timed, validAndMutated } from "./harness.ts";

const CR = 13;
const LF = 10;

/** Line content biased toward dots, spaces and 8-bit octets; no CR or LF. */
const lineArb = fc.array(
  fc.oneof(
    { arbitrary: fc.constant(0x2e), weight: 3 },
    { arbitrary: fc.integer({ min: 0, max: 255 }).filter((b) => b !== CR && b !== LF), weight: 5 },
  ),
  { maxLength: 40 },
);

/** Content made of CRLF lines only (what a well-behaved client sends), maybe unterminated. */
const cleanContent = fc.tuple(fc.array(lineArb, { maxLength: 12 }), fc.boolean()).map(
  ([lines, terminated]) => {
    const out: number[] = [];
    lines.forEach((line, i) => {
      out.push(...line);
      if (i < lines.length - 1 || terminated) out.push(CR, LF);
    });
    return Uint8Array.from(out);
  },
);

/**
 * Content with long lines (up to 20,000 octets, past any command-line limit), each a fill octet
 * with a few others set at random places, maybe a leading dot; CRLF-terminated.
 */
const longLineContent = fc.array(
  fc.tuple(
    fc.integer({ min: 0, max: 20_000 }),
    fc.integer({ min: 0, max: 255 }).filter((b) => b !== CR && b !== LF),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom(0x2e, 0x20, 0x00, 0xff)), { maxLength: 5 }),
  ),
  { maxLength: 5 },
).map((lines) =>
  concat(...lines.map(([length, fill, marks]) => {
    const line = new Uint8Array(length + 2).fill(fill);
    for (const [at, b] of marks) if (length > 0) line[at % length] = b;
    line[length] = CR;
    line[length + 1] = LF;
    return line;
  }))
);

/** Any content: clean lines with bare CR, LF and `.` thrown in. */
const anyContent = fc.oneof(
  cleanContent,
  fc.array(fc.constantFrom(CR, LF, 0x2e, 0x61, 0x20), { maxLength: 60 }).map((a) =>
    Uint8Array.from(a)
  ),
  fc.uint8Array({ maxLength: 200 }),
);

const endsWithCrlf = (b: Uint8Array) =>
  b.length >= 2 && b[b.length - 2] === CR && b[b.length - 1] === LF;

/** The content the decoder must give for `x`: the encoder closes an open last line. */
function expectedContent(x: Uint8Array): Uint8Array {
  return endsWithCrlf(x) ? x : concat(x, new Uint8Array([CR, LF]));
}

/** Whether `x` holds a CR not followed by LF or an LF not preceded by CR. */
function hasBareNewline(x: Uint8Array): boolean {
  for (let i = 0; i < x.length; i++) {
    if (x[i] === CR && x[i + 1] !== LF) return true;
    if (x[i] === LF && x[i - 1] !== CR) return true;
  }
  return false;
}

interface Decoded {
  consumed: number;
  done: boolean;
  problem: string | undefined;
  content: Uint8Array;
  reserved: number;
}

/** Feeds `chunks` in order until the end marker; `budget` caps what `reserve` grants. */
function decode(
  chunks: Uint8Array[],
  limits: { maxSize: number; budget?: number },
): Decoded {
  return timed(() => {
    let granted = 0;
    const reserve = (n: number) => {
      if (limits.budget !== undefined && granted + n > limits.budget) return false;
      granted += n;
      return true;
    };
    const d = new DotDecoder(limits.maxSize, reserve);
    let consumed = 0;
    for (const chunk of chunks) {
      if (d.done) break;
      consumed += d.feed(chunk);
    }
    assert.equal(d.reserved, granted, "reserved octets differ from what was granted");
    return {
      consumed,
      done: d.done,
      problem: d.problem,
      content: d.content.slice(),
      reserved: d.reserved,
    };
  });
}

/** Splits `bytes` at the given cut points (taken modulo its length). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

/**
 * The reference model: CRLF-terminated lines from the start; a line that is exactly "." ends the
 * data, a leading "." of any other line is dropped. Undefined when no end line comes.
 */
function reference(
  stream: Uint8Array,
): { end: number; content: Uint8Array; body: Uint8Array } | undefined {
  const out: number[] = [];
  let start = 0;
  for (;;) {
    let i = start;
    while (i + 1 < stream.length && !(stream[i] === CR && stream[i + 1] === LF)) i++;
    if (i + 1 >= stream.length) return undefined;
    const line = stream.subarray(start, i);
    if (line.length === 1 && line[0] === 0x2e) {
      return { end: i + 2, content: Uint8Array.from(out), body: stream.subarray(0, start) };
    }
    out.push(...(line[0] === 0x2e ? line.subarray(1) : line), CR, LF);
    start = i + 2;
  }
}

const limitsArb = fc.record({
  maxSize: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constant(1 << 20)),
}).map((l) => ({ ...l }));

const BIG = { maxSize: 1 << 20 };

const streamArb = validAndMutated(
  fc.tuple(anyContent, fc.uint8Array({ maxLength: 10 })).map(([x, next]) =>
    concat(dotEncode(x), next)
  ),
);

/** The dot decoder targets. */
export const dotTargets: FuzzTarget[] = [
  target("dot", "roundtrip", [anyContent, fc.uint8Array({ maxLength: 10 })], (x, next) => {
    const encoded = dotEncode(x);
    const d = decode([concat(encoded, next)], BIG);
    // The end marker is found exactly at the end of the encoding: never early (smuggling), and
    // what follows it is left for the next command.
    assert.ok(d.done, "no end marker found");
    assert.equal(d.consumed, encoded.length, "the end marker was found elsewhere");
    const expected = expectedContent(x);
    if (hasBareNewline(expected)) {
      assert.equal(d.problem, "bare-newline");
    } else {
      assert.equal(d.problem, undefined);
      assert.deepEqual(d.content, expected);
    }
  }),
  target("dot", "size-limit", [cleanContent, fc.integer({ min: 0, max: 400 })], (x, maxSize) => {
    const expected = expectedContent(x);
    const d = decode([dotEncode(x)], { maxSize });
    assert.ok(d.done);
    assert.deepEqual(d.content, expected.subarray(0, maxSize), "content is not the allowed prefix");
    assert.equal(d.problem, expected.length > maxSize ? "too-big" : undefined);
  }),
  target(
    "dot",
    "chunking",
    [streamArb, limitsArb, fc.array(fc.nat(), { maxLength: 8 })],
    (stream, limits, cuts) => {
      const whole = decode([stream], limits);
      const pieces = decode(split(stream, cuts), limits);
      assert.deepEqual(pieces, whole, "the result depends on how the input was split");
      const byteAtATime = decode([...stream].map((b) => Uint8Array.of(b)), limits);
      assert.deepEqual(byteAtATime, whole, "byte-at-a-time feeding differs");
    },
  ),
  target("dot", "reference", [streamArb, limitsArb], (stream, limits) => {
    const d = decode([stream], limits);
    assert.ok(d.content.length <= limits.maxSize, "content beyond maxSize");
    const ref = reference(stream);
    assert.equal(d.done, ref !== undefined, "end marker disagrees with the reference");
    if (!ref) return;
    assert.equal(d.consumed, ref.end);
    assert.deepEqual(d.content, ref.content.subarray(0, limits.maxSize));
    const bare = hasBareNewline(ref.body);
    const tooBig = ref.content.length > limits.maxSize;
    if (d.problem === undefined) assert.ok(!bare && !tooBig, "a problem was missed");
    if (d.problem === "bare-newline") assert.ok(bare);
    if (d.problem === "too-big") assert.ok(tooBig);
    // Line length is never a problem (RFC 5322's 998 binds writers, not relays).
    if (!bare && !tooBig) assert.equal(d.problem, undefined);
  }),
  target(
    "dot",
    "long-lines",
    [longLineContent, fc.array(fc.nat(), { maxLength: 8 })],
    (x, cuts) => {
      // Content lines have no length limit (RFC 5322 §2.1.1 binds writers): kept byte for byte
      // however the wire is split, in DATA as in BDAT.
      const encoded = dotEncode(x);
      const d = decode(split(encoded, cuts), BIG);
      assert.ok(d.done);
      assert.equal(d.consumed, encoded.length);
      assert.equal(d.problem, undefined);
      assert.deepEqual(d.content, expectedContent(x));
      assert.equal(scanLines(x), undefined);
    },
  ),
  target("dot", "memory-budget", [
    cleanContent,
    fc.integer({ min: 0, max: 300 }),
    fc.integer({ min: 0, max: 700 }),
  ], (x, maxSize, budget) => {
    const d = decode([dotEncode(x)], { maxSize, budget });
    assert.ok(d.done, "the end marker must be found even out of memory");
    assert.ok(d.reserved <= budget, "reserved beyond the budget");
    assert.ok(d.content.length <= d.reserved, "content beyond what was reserved");
    const expected = expectedContent(x);
    // Without a budget, memory is never the problem.
    const free = decode([dotEncode(x)], { maxSize });
    assert.notEqual(free.problem, "no-memory");
    if (d.problem === undefined) assert.deepEqual(d.content, expected);
    else assert.ok(d.problem === "no-memory" || d.problem === "too-big", d.problem);
  }),
];

/**
 * Fuzz targets for DKIM canonicalization (src/dkim/canonicalize.ts, RFC 6376 §3.4): both
 * algorithms are idempotent on any input, and "relaxed" gives the same result for every
 * rendering of a field or body that differs only in what §3.4.2 and §3.4.4 ignore (WSP runs,
 * WSP at line ends and around the colon, folding, the field name's case, trailing empty lines,
 * LF or CRLF line ends).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  binaryToBytes,
  bytesToBinary,
  canonicalizeBodyRelaxed,
  canonicalizeBodySimple,
  canonicalizeHeaderRelaxed,
  canonicalizeHeaderSimple,
} from "../../src/dkim/canonicalize.ts";
import { type FuzzTarget, mixCase, target, timed } from "./harness.ts";

const anyField = fc.oneof(
  fc.uint8Array({ maxLength: 120 }).map(bytesToBinary),
  fc.array(fc.constantFrom("a", "B", ":", " ", "\t", "\r", "\n", "\r\n", "\r\n ", "é"), {
    maxLength: 30,
  })
    .map((a) => a.join("")),
);

const anyBody = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.array(fc.constantFrom(0x0d, 0x0a, 0x20, 0x09, 0x61), { maxLength: 60 }).map((a) =>
    Uint8Array.from(a)
  ),
);

/** A run of WSP (SP and HTAB), `min` or more long. */
const wsp = (min: number) =>
  fc.array(fc.constantFrom(" ", "\t"), { minLength: min, maxLength: 4 }).map((a) => a.join(""));

/** One run of WSP between words, maybe folded (CRLF before the WSP, RFC 5322 §2.2.3). */
const gap = fc.tuple(wsp(1), fc.boolean()).map(([w, fold]) => (fold ? "\r\n" + w : w));

/** A word: octets that are not WSP, CR or LF (as a binary string). */
const word = fc.array(
  fc.integer({ min: 0x21, max: 0xff }).filter((c) => c !== 0x7f),
  { minLength: 1, maxLength: 8 },
).map((a) => String.fromCharCode(...a));

// RFC 5322 §3.6.8 field name: printable ASCII but ":".
const fieldName = fc.array(fc.integer({ min: 0x21, max: 0x7e }).filter((c) => c !== 0x3a), {
  minLength: 1,
  maxLength: 12,
}).map((a) => String.fromCharCode(...a));

/** A rendering of `name: words` with whitespace and name case chosen by the arbitraries. */
const rendering = (name: string, words: string[]) =>
  fc.tuple(
    fc.nat(),
    wsp(0),
    wsp(0),
    wsp(0),
    fc.array(gap, { minLength: words.length, maxLength: words.length }),
  )
    .map(([m, beforeColon, lead, tail, gaps]) =>
      `${mixCase(name, m)}${beforeColon}:${lead}${
        words.map((w, i) => (i === 0 ? w : gaps[i] + w)).join("")
      }${tail}\r\n`
    );

const fieldCase = fc.tuple(fieldName, fc.array(word, { maxLength: 6 })).chain(([name, words]) =>
  fc.tuple(fc.constant({ name, words }), rendering(name, words), rendering(name, words))
);

/** A body as lines of words, rendered with whitespace and line ends chosen by the arbitraries. */
const bodyLines = fc.array(fc.array(word, { maxLength: 5 }), { maxLength: 8 });
const bodyRendering = (lines: string[][]) =>
  fc.tuple(
    fc.array(
      fc.tuple(wsp(0), fc.array(wsp(1), { minLength: 5, maxLength: 5 }), wsp(0), fc.boolean()),
      {
        minLength: lines.length,
        maxLength: lines.length,
      },
    ),
    fc.integer({ min: 0, max: 3 }),
    fc.boolean(),
  ).map(([shapes, emptyTail, lastOpen]) => {
    let text = "";
    lines.forEach((words, i) => {
      const [lead, gaps, tail, lf] = shapes[i];
      // Leading WSP is kept as one SP (RFC 6376 §3.4.4 only removes it at line ends).
      const leadText = words.length > 0 && lead !== "" ? lead : "";
      const open = lastOpen && i === lines.length - 1 && emptyTail === 0;
      text += leadText + words.map((w, k) => (k === 0 ? w : gaps[k - 1] + w)).join("") + tail;
      if (!open) text += lf ? "\n" : "\r\n";
    });
    return { text: text + "\r\n".repeat(emptyTail), leading: shapes.map(([l]) => l !== "") };
  });

const bodyCase = bodyLines.chain((lines) =>
  fc.tuple(fc.constant(lines), bodyRendering(lines), bodyRendering(lines))
);

function relaxedBodyOf(lines: string[][], leading: boolean[]): string {
  const rendered = lines.map((words, i) =>
    (leading[i] && words.length > 0 ? " " : "") + words.join(" ")
  );
  while (rendered.length > 0 && rendered[rendered.length - 1] === "") rendered.pop();
  return rendered.map((l) => l + "\r\n").join("");
}

const eq = (a: Uint8Array, b: Uint8Array) => assert.deepEqual(a, b);

/** The DKIM targets. */
export const dkimTargets: FuzzTarget[] = [
  target("dkim", "header-idempotent", [anyField], (field) => {
    const relaxed = timed(() => canonicalizeHeaderRelaxed(field));
    assert.equal(canonicalizeHeaderRelaxed(relaxed), relaxed, "relaxed is not idempotent");
    // The value has no WSP runs and none at its ends (a malformed name is left as it is).
    const value = relaxed.slice(relaxed.indexOf(":") + 1);
    assert.ok(value.endsWith("\r\n") && !/[ \t]{2}|^[ \t]|[ \t]\r\n$/.test(value), relaxed);
    const simple = timed(() => canonicalizeHeaderSimple(field));
    assert.equal(canonicalizeHeaderSimple(simple), simple, "simple is not idempotent");
  }),
  target("dkim", "header-whitespace", [fieldCase], ([{ name, words }, a, b]) => {
    // RFC 6376 §3.4.2: lower-case name, unfold, WSP runs to one SP, none at the ends or the colon.
    const expected = `${name.replace(/[A-Z]/g, (c) => c.toLowerCase())}:${words.join(" ")}\r\n`;
    assert.equal(canonicalizeHeaderRelaxed(a), expected, JSON.stringify(a));
    assert.equal(canonicalizeHeaderRelaxed(b), expected, JSON.stringify(b));
  }),
  target("dkim", "body-idempotent", [anyBody], (body) => {
    const relaxed = timed(() => canonicalizeBodyRelaxed(body));
    eq(canonicalizeBodyRelaxed(relaxed), relaxed);
    const simple = timed(() => canonicalizeBodySimple(body));
    eq(canonicalizeBodySimple(simple), simple);
    // RFC 6376 §3.4.3: trailing empty lines do not count; an empty body is one CRLF.
    eq(
      canonicalizeBodySimple(Uint8Array.of(...body, 13, 10, 13, 10)),
      canonicalizeBodySimple(Uint8Array.of(...body, 13, 10)),
    );
    assert.ok(
      simple.length >= 2 && simple[simple.length - 2] === 13 && simple[simple.length - 1] === 10,
    );
  }),
  target("dkim", "body-whitespace", [bodyCase], ([lines, a, b]) => {
    const ca = canonicalizeBodyRelaxed(binaryToBytes(a.text));
    const cb = canonicalizeBodyRelaxed(binaryToBytes(b.text));
    eq(ca, binaryToBytes(relaxedBodyOf(lines, a.leading)));
    eq(cb, binaryToBytes(relaxedBodyOf(lines, b.leading)));
    if (a.leading.join() === b.leading.join()) eq(ca, cb);
  }),
];

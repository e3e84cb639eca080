/** Sequence sets: parsing, resolving, membership and formatting, with property-style checks. */
import assert from "node:assert/strict";
import { type SequenceSet, STAR } from "../../src/imap/parse/command.ts";
import {
  expandSet,
  formatSet,
  parseSequenceSet,
  resolveSet,
  setContains,
} from "../../src/imap/parse/sequence_set.ts";

const set = (text: string): SequenceSet => {
  const s = parseSequenceSet(text);
  if (typeof s === "string") throw new Error(s);
  return s;
};

/** A small deterministic PRNG so that failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

Deno.test("imap sets: parsing", async (t) => {
  await t.step("numbers, ranges, star", () => {
    assert.deepEqual(set("1"), { ranges: [[1, 1]] });
    assert.deepEqual(set("1:3,5,*,7:*,*:2"), {
      ranges: [[1, 3], [5, 5], [STAR, STAR], [7, STAR], [STAR, 2]],
    });
  });
  await t.step("refusals", () => {
    assert.equal(parseSequenceSet("0"), "Zero is not a valid message number");
    assert.equal(parseSequenceSet("1:0"), "Zero is not a valid message number");
    assert.equal(parseSequenceSet("4294967296"), "Message number beyond 2^32-1");
    assert.equal(parseSequenceSet("$"), "SEARCHRES ($) is not supported");
    for (const bad of ["", "1:", ":", "1,", "a", "1:2:3", "-1", "01x", "12345678901"]) {
      assert.equal(typeof parseSequenceSet(bad), "string", bad);
    }
  });
});

Deno.test("imap sets: resolving against the largest number", async (t) => {
  await t.step("examples", () => {
    assert.deepEqual(expandSet(set("1:3,5"), 10), [1, 2, 3, 5]);
    assert.deepEqual(expandSet(set("3:1"), 10), [1, 2, 3]);
    assert.deepEqual(expandSet(set("*"), 10), [10]);
    assert.deepEqual(expandSet(set("8:*"), 10), [8, 9, 10]);
    assert.deepEqual(expandSet(set("12:*"), 10), [10]);
    assert.deepEqual(expandSet(set("*:12"), 10), [10]);
    assert.deepEqual(expandSet(set("11,12"), 10), []);
    assert.deepEqual(expandSet(set("*"), 0), []);
    assert.deepEqual(expandSet(set("1:*"), 0), []);
    assert.deepEqual(expandSet(set("5,1:3,2,3:4"), 10), [1, 2, 3, 4, 5]);
    assert.deepEqual(resolveSet(set("1:3,5,4,9:7,20"), 8), [[1, 5], [7, 8]]);
    assert.deepEqual(resolveSet(set("1:4294967295"), 4000000000), [[1, 4000000000]]);
    assert.equal(setContains(set("1:4294967295"), 3999999999, 4000000000), true);
    assert.equal(setContains(set("5:*"), 4, 4), true);
    assert.equal(setContains(set("5:*"), 3, 4), false);
    assert.equal(setContains(set("5:*"), 5, 4), false);
    assert.equal(setContains(set("*"), 1, 0), false);
  });
  await t.step("property: expandSet, resolveSet and setContains agree with a naive model", () => {
    const rand = rng(42);
    for (let round = 0; round < 500; round++) {
      const largest = Math.floor(rand() * 30);
      const ranges: Array<[number, number]> = [];
      const count = 1 + Math.floor(rand() * 5);
      for (let i = 0; i < count; i++) {
        const pick = () => (rand() < 0.15 ? STAR : 1 + Math.floor(rand() * 40));
        const a = pick();
        ranges.push([a, rand() < 0.5 ? a : pick()]);
      }
      const s: SequenceSet = { ranges };
      // The naive model: substitute *, order each range, keep 1..largest.
      const model = new Set<number>();
      for (const [a0, b0] of ranges) {
        const a = a0 === STAR ? largest : a0;
        const b = b0 === STAR ? largest : b0;
        for (let n = Math.min(a, b); n <= Math.max(a, b); n++) {
          if (n >= 1 && n <= largest) model.add(n);
        }
      }
      const expected = [...model].sort((x, y) => x - y);
      assert.deepEqual(expandSet(s, largest), expected, JSON.stringify({ ranges, largest }));
      for (let n = 0; n <= 45; n++) assert.equal(setContains(s, n, largest), model.has(n));
      const resolved = resolveSet(s, largest);
      for (let i = 1; i < resolved.length; i++) {
        assert.ok(resolved[i][0] > resolved[i - 1][1] + 1, "ranges are disjoint and not adjacent");
      }
      // formatSet round-trips through the parser.
      const text = formatSet(expected);
      if (expected.length) assert.deepEqual(expandSet(set(text), largest), expected);
      else assert.equal(text, "");
    }
  });
});

Deno.test("imap sets: formatSet", () => {
  assert.equal(formatSet([]), "");
  assert.equal(formatSet([5]), "5");
  assert.equal(formatSet([1, 2, 3, 5]), "1:3,5");
  assert.equal(formatSet([9, 3, 1, 2, 2, 10, 7]), "1:3,7,9:10");
  assert.equal(formatSet([4294967295, 4294967294]), "4294967294:4294967295");
});

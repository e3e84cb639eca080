/**
 * Fuzz targets for the IMAP command parser (src/imap/parse/parse_command.ts with
 * `literalAtEnd`): commands from the grammar of imap_grammar.ts parse to the structure they were
 * made from; their wire octets, mutated (flips, insertions, truncations, repeats) and framed again
 * as the session frames them, give a command or a ParseFailure, never an exception; a literal
 * whose size lies always gives a ParseFailure.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type ImapCommand,
  isParseFailure,
  type ParseFailure,
  type RawCommand,
} from "../../src/imap/parse/command.ts";
import { literalAtEnd, parseCommand } from "../../src/imap/parse/parse_command.ts";
import { concat, type FuzzTarget, target, timed, utf8, validAndMutated } from "./harness.ts";
import { frame, toRaw, toWire } from "./imap_framing.ts";
import { imapCommandArb } from "./imap_grammar.ts";

const latin1 = new TextDecoder("latin1");

function parse(raw: RawCommand, utf8Mode: boolean): ImapCommand | ParseFailure {
  return timed(() => parseCommand(raw, { utf8: utf8Mode }));
}

/** A result is a command or a failure, and any tag it names is how the first line starts. */
function assertWellFormed(raw: RawCommand, result: ImapCommand | ParseFailure): void {
  const first = latin1.decode(raw.lines[0]);
  if (isParseFailure(result)) {
    assert.equal(typeof result.message, "string");
    assert.ok(result.message.length > 0 && !/[\r\n]/.test(result.message), "message is one line");
    if (result.tag !== undefined) assert.ok(first.startsWith(result.tag + " "), "tag is a prefix");
    return;
  }
  assert.equal(typeof result.name, "string");
  assert.ok(first.startsWith(result.tag + " "), `tag ${result.tag} is not how the line starts`);
}

const withLiterals = imapCommandArb.filter((c) => c.pieces.some((p) => typeof p !== "string"));

/** A lie about one literal: its octets grow or shrink, or the marker's number changes. */
const lieArb = fc.record({
  index: fc.nat(),
  delta: fc.integer({ min: -8, max: 8 }).filter((d) => d !== 0),
  inMarker: fc.boolean(),
});

function lie(raw: RawCommand, l: { index: number; delta: number; inMarker: boolean }): RawCommand {
  const i = l.index % raw.literals.length;
  const lines = [...raw.lines];
  const literals = [...raw.literals];
  const size = literals[i].length;
  const wrong = Math.max(0, size + l.delta) === size
    ? size + Math.abs(l.delta)
    : Math.max(0, size + l.delta);
  if (l.inMarker) {
    const line = latin1.decode(lines[i]);
    const open = line.lastIndexOf("{");
    lines[i] = utf8(`${line.slice(0, open)}{${wrong}${line.endsWith("+}") ? "+" : ""}}`);
  } else {
    literals[i] = wrong < size
      ? literals[i].subarray(0, wrong)
      : concat(literals[i], new Uint8Array(wrong - size).fill(0x61));
  }
  return { lines, literals };
}

const PREFIX = fc.oneof(
  fc.constant(""),
  fc.string({ maxLength: 10 }),
  fc.constantFrom("~", "a{", "1}", "{x", "x~"),
);

/** The IMAP targets. */
export const imapTargets: FuzzTarget[] = [
  target("imap", "roundtrip", [imapCommandArb], (c) => {
    const raw = toRaw(c.pieces);
    assert.deepEqual(parse(raw, c.utf8), c.command);
    // Every line but the last ends with the marker of the literal that follows it.
    raw.literals.forEach((literal, i) => {
      const marker = literalAtEnd(raw.lines[i]);
      assert.ok(marker !== undefined && marker !== "bad", `line ${i} has no literal marker`);
      assert.equal(marker.size, literal.length);
    });
    assert.equal(literalAtEnd(raw.lines[raw.lines.length - 1]), undefined);
  }),
  target(
    "imap",
    "wire-mutation",
    [validAndMutated(imapCommandArb.map((c) => toWire(toRaw(c.pieces)))), fc.boolean()],
    (wire, utf8Mode) => {
      const raw = frame(wire);
      assertWellFormed(raw, parse(raw, utf8Mode));
    },
  ),
  target("imap", "literal-size-lie", [withLiterals, lieArb], (c, l) => {
    const valid = toRaw(c.pieces);
    const result = parse(lie(valid, l), c.utf8);
    assert.ok(isParseFailure(result), "a literal whose size lies was accepted");
    assert.equal(result.tag, c.command.tag);
    // Framing that lost a literal is refused too.
    const lost = { lines: valid.lines, literals: valid.literals.slice(1) };
    assert.ok(isParseFailure(parse(lost, c.utf8)), "a command missing a literal was accepted");
  }),
  target(
    "imap",
    "literal-marker",
    [
      PREFIX,
      fc.nat({ max: 2 ** 40 }),
      fc.constantFrom("", "+"),
      fc.boolean(),
      fc.uint8Array({ maxLength: 40 }),
    ],
    (prefix, size, plus, binary, noise) => {
      const line = utf8(`${prefix}${binary ? "~" : ""}{${size}${plus}}`);
      assert.deepEqual(timed(() => literalAtEnd(line)), {
        size,
        sync: plus === "",
        binary: binary || prefix.endsWith("~"),
      });
      // Any octets: no marker, a bad one, or a size that is a whole number within 2^53.
      const marker = timed(() => literalAtEnd(noise));
      if (marker !== undefined && marker !== "bad") {
        assert.ok(Number.isSafeInteger(marker.size) && marker.size >= 0);
        assert.equal(noise[noise.length - 1], 0x7d);
      }
    },
  ),
];

/**
 * Fuzz targets for the POP3 command parser (src/pop3/parse_command.ts): commands generated from
 * the RFC 1939 §3 grammar (with RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH) parse back to the
 * value they were made from; mutations and random bytes give a command or `{ error }`, never an
 * exception, and the keyword's case does not matter.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  isParseError,
  type ParseError,
  parsePop3Command,
  type Pop3Command,
} from "../../src/pop3/parse_command.ts";
import {
  type FuzzTarget,
  mixCase,
  stringOf,
  target,
  timed,
  utf8,
  validAndMutated,
} from "./harness.ts";

/** A command line and the command it must parse to. */
interface CommandCase {
  line: string;
  command: Pop3Command;
}

const mask = fc.integer({ min: 0, max: 0x3fffffff });
const gap = fc.integer({ min: 1, max: 3 }).map((n) => " ".repeat(n));
const trailing = fc.constantFrom("", " ", "  ");
const msgNumber = fc.integer({ min: 1, max: 999_999_999 });
const PRINTABLE =
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~éß日";
// A word: printable, no space.
const word = stringOf(PRINTABLE, { minLength: 1, maxLength: 20 });
// Text with inner spaces, neither starting nor ending with one.
const text = fc.array(word, { minLength: 1, maxLength: 5 }).map((w) => w.join(" "));

const user = fc.tuple(mask, text, trailing).map(([m, name, t]): CommandCase => ({
  line: `${mixCase("USER", m)} ${name}${t}`,
  command: { verb: "USER", name },
}));

// The password is the rest of the line as sent, spaces included (RFC 1939 §7 leaves it open).
const pass = fc.tuple(
  mask,
  fc.string({ minLength: 1, maxLength: 40 }).map((s) =>
    s.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "x")
  ),
).map(([m, password]): CommandCase => ({
  line: `${mixCase("PASS", m)} ${password}`,
  command: { verb: "PASS", password },
}));

const auth = fc.tuple(
  mask,
  fc.option(fc.tuple(word, fc.option(word, { nil: undefined })), {
    nil: undefined,
  }),
  gap,
  trailing,
).map(([m, args, g, t]): CommandCase => ({
  line: `${mixCase("AUTH", m)}${args ? " " + args[0] + (args[1] ? g + args[1] : "") : ""}${t}`,
  command: args
    ? { verb: "AUTH", mechanism: args[0].toUpperCase(), initial: args[1] }
    : { verb: "AUTH", mechanism: undefined, initial: undefined },
}));

const noArgs = fc.tuple(
  fc.constantFrom(
    "CAPA" as const,
    "STLS" as const,
    "STAT" as const,
    "RSET" as const,
    "NOOP" as const,
    "QUIT" as const,
  ),
  mask,
  trailing,
).map(([verb, m, t]): CommandCase => ({ line: mixCase(verb, m) + t, command: { verb } }));

const apop = fc.tuple(mask, fc.string({ maxLength: 30 })).map(([m, s]): CommandCase => ({
  line: `${mixCase("APOP", m)} ${s.replace(/[\x00-\x1f\x7f]/g, "")}`,
  command: { verb: "APOP" },
}));

const optionalMsg = fc.tuple(
  fc.constantFrom("LIST" as const, "UIDL" as const),
  mask,
  fc.option(msgNumber, { nil: undefined }),
  gap,
  trailing,
).map(([verb, m, n, g, t]): CommandCase => ({
  line: `${mixCase(verb, m)}${n === undefined ? "" : g + n}${t}`,
  command: n === undefined ? { verb } : { verb, msg: n },
}));

const requiredMsg = fc.tuple(
  fc.constantFrom("RETR" as const, "DELE" as const),
  mask,
  msgNumber,
  gap,
  trailing,
).map(([verb, m, n, g, t]): CommandCase => ({
  line: `${mixCase(verb, m)}${g}${n}${t}`,
  command: { verb, msg: n },
}));

const top = fc.tuple(mask, msgNumber, stringOf("0123456789", { minLength: 1, maxLength: 9 }), gap)
  .map(([m, n, lines, g]): CommandCase => ({
    line: `${mixCase("TOP", m)} ${n}${g}${lines}`,
    command: { verb: "TOP", msg: n, lines: Number(lines) },
  }));

/** Valid POP3 command lines with the commands they stand for. */
export const pop3CommandArb: fc.Arbitrary<CommandCase> = fc.oneof(
  user,
  pass,
  auth,
  noArgs,
  apop,
  optionalMsg,
  requiredMsg,
  top,
);

const VERBS = new Set([
  "USER",
  "PASS",
  "AUTH",
  "APOP",
  "CAPA",
  "STLS",
  "STAT",
  "RSET",
  "NOOP",
  "QUIT",
  "LIST",
  "UIDL",
  "RETR",
  "DELE",
  "TOP",
]);

function parse(line: Uint8Array): Pop3Command | ParseError {
  return timed(() => parsePop3Command(line));
}

function assertWellFormed(result: Pop3Command | ParseError): void {
  if (isParseError(result)) {
    assert.equal(typeof result.error, "string");
    assert.ok(result.error.length > 0 && !/[\r\n]/.test(result.error), "error text is one line");
    return;
  }
  assert.ok(VERBS.has(result.verb), `unknown verb ${result.verb}`);
  if ("msg" in result && result.msg !== undefined) {
    assert.ok(Number.isSafeInteger(result.msg) && result.msg >= 1, `message number ${result.msg}`);
  }
}

/** Flips the case of the ASCII letters of the line's first word. */
function flipKeywordCase(line: Uint8Array): Uint8Array {
  const out = line.slice();
  for (let i = 0; i < out.length && out[i] !== 0x20; i++) {
    const c = out[i] | 0x20;
    if (c >= 0x61 && c <= 0x7a) out[i] ^= 0x20;
  }
  return out;
}

/** The POP3 targets. */
export const pop3Targets: FuzzTarget[] = [
  target("pop3", "roundtrip", [pop3CommandArb], (c) => {
    assert.deepEqual(parse(utf8(c.line)), c.command, c.line);
  }),
  target(
    "pop3",
    "command-or-error",
    [validAndMutated(pop3CommandArb.map((c) => utf8(c.line)))],
    (line) => {
      const result = parse(line);
      assertWellFormed(result);
      // RFC 1939 §3: keywords are case-insensitive.
      assert.deepEqual(parse(flipKeywordCase(line)), result, "keyword case changed the result");
    },
  ),
];

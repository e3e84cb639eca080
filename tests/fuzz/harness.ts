/**
 * The property-based fuzzing harness shared by the CI test (tests/fuzz/fuzz_test.ts) and the
 * long run (bench/fuzz.ts): named targets wrapping fast-check properties, byte-level mutations
 * of valid inputs, and a per-input time bound.
 */
import fc from "fast-check";

/** The parser families that can be fuzzed, as `--only=` names them. */
export const GROUPS = ["smtp", "pop3", "imap", "dot", "dkim", "config", "mime", "dns"] as const;

/** One parser family. */
export type Group = typeof GROUPS[number];

/** The outcome of running one target for some inputs from one seed. */
export interface TargetRun {
  /** Inputs tried (up to and including a failing one). */
  runs: number;
  /** Set when a property was violated or an input threw. */
  failure?: {
    /** The seed of this run and the fast-check path to the (shrunk) counterexample. */
    seed: number;
    path: string;
    /** The counterexample, rendered for a human and cut to a sane length. */
    counterexample: string;
    /** What went wrong: the assertion or the exception, with its type. */
    error: string;
  };
}

/** A property to fuzz, named for reports and reproduction. */
export interface FuzzTarget {
  group: Group;
  /** Unique across targets, e.g. "smtp/roundtrip". */
  name: string;
  /**
   * A property this target is known to violate today, reported but not yet fixed (the text says
   * where). The CI test ignores such a target and the long run skips it unless asked.
   */
  knownBug?: string;
  /** Runs `numRuns` inputs from `seed`; with `path`, replays one recorded counterexample. */
  run(seed: number, numRuns: number, path?: string): TargetRun;
}

/** Wraps a fast-check property as a {@link FuzzTarget}. */
export function target<Ts extends [unknown, ...unknown[]]>(
  group: Group,
  name: string,
  arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => void,
  knownBug?: string,
): FuzzTarget {
  const property = fc.property(...arbs, predicate);
  return {
    group,
    name: `${group}/${name}`,
    knownBug,
    run(seed, numRuns, path) {
      const details = fc.check(property, { seed, numRuns, path, endOnFailure: path !== undefined });
      if (!details.failed) return { runs: details.numRuns };
      return {
        runs: details.numRuns,
        failure: {
          seed: details.seed,
          path: details.counterexamplePath ?? "",
          counterexample: render(details.counterexample),
          error: describeError(details.errorInstance),
        },
      };
    },
  };
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 2000);
  return `non-Error thrown: ${String(error)}`.slice(0, 2000);
}

/** A value rendered for a failure report: byte arrays as escaped text, cut to 2000 chars. */
export function render(value: unknown): string {
  return fc.stringify(value).slice(0, 2000);
}

/**
 * The time one input may take, in milliseconds. Generous, so that a GC pause on a loaded
 * machine is no failure; a parser that is superlinear on a few KiB, or loops, still is.
 */
export const TIME_BOUND_MS = 2000;

/**
 * Calls `f` and fails when it takes longer than {@link TIME_BOUND_MS}, twice in a row (a single
 * slow call may be the machine, not the parser).
 */
export function timed<T>(f: () => T): T {
  for (let attempt = 0;; attempt++) {
    const start = performance.now();
    const value = f();
    const elapsed = performance.now() - start;
    if (elapsed <= TIME_BOUND_MS) return value;
    if (attempt === 1) {
      throw new Error(`input took ${elapsed.toFixed(0)} ms (bound ${TIME_BOUND_MS} ms)`);
    }
  }
}

/** One edit of a byte string. */
type Edit =
  | { op: "flip"; at: number; bit: number }
  | { op: "set"; at: number; byte: number }
  | { op: "insert"; at: number; bytes: Uint8Array }
  | { op: "delete"; at: number; count: number }
  | { op: "truncate"; at: number }
  | { op: "repeat"; at: number; count: number; times: number };

/** Bytes that parsers treat specially, favoured by insertions. */
const INTERESTING = new Uint8Array([
  0x00,
  0x09,
  0x0a,
  0x0d,
  0x20,
  0x22,
  0x25,
  0x28,
  0x29,
  0x2a,
  0x2b,
  0x2c,
  0x2d,
  0x2e,
  0x3a,
  0x3c,
  0x3d,
  0x3e,
  0x40,
  0x5b,
  0x5c,
  0x5d,
  0x7b,
  0x7d,
  0x7e,
  0x7f,
  0x80,
  0xc3,
  0xe2,
  0xff,
]);

const byteArb = fc.oneof(
  fc.constantFrom(...INTERESTING),
  fc.integer({ min: 0, max: 255 }),
);

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    op: fc.constant("flip" as const),
    at: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), byte: byteArb }),
  fc.record({
    op: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.array(byteArb, { minLength: 1, maxLength: 8 }).map((a) => Uint8Array.from(a)),
  }),
  fc.record({
    op: fc.constant("delete" as const),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    op: fc.constant("repeat" as const),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 16 }),
    times: fc.integer({ min: 2, max: 64 }),
  }),
);

/** Applies one edit; positions wrap around the input's length. */
function applyEdit(input: Uint8Array, edit: Edit): Uint8Array {
  const n = input.length;
  const at = n === 0 ? 0 : edit.at % (n + 1);
  switch (edit.op) {
    case "flip":
    case "set": {
      if (n === 0) return input;
      const out = input.slice();
      const i = edit.at % n;
      out[i] = edit.op === "flip" ? out[i] ^ (1 << edit.bit) : edit.byte;
      return out;
    }
    case "insert":
      return concat(input.subarray(0, at), edit.bytes, input.subarray(at));
    case "delete":
      return concat(input.subarray(0, at), input.subarray(at + edit.count));
    case "truncate":
      return input.slice(0, at);
    case "repeat": {
      const piece = input.subarray(at, at + edit.count);
      const copies = new Array<Uint8Array>(edit.times).fill(piece);
      return concat(input.subarray(0, at), ...copies, input.subarray(at + piece.length));
    }
  }
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Mutations of the valid inputs `valid` makes: 1 to 4 edits of one of them. */
export function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.array(editArb, { minLength: 1, maxLength: 4 })).map(([input, edits]) =>
    edits.reduce(applyEdit, input)
  );
}

/** Valid inputs, their mutations and plain random bytes, in the proportions 2:5:1. */
export function validAndMutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { arbitrary: valid, weight: 2 },
    { arbitrary: mutated(valid), weight: 5 },
    { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 },
  );
}

const encoder = new TextEncoder();

/** UTF-8 octets of `text`. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** `word` with each letter's case chosen by the bits of `mask`. */
export function mixCase(word: string, mask: number): string {
  let out = "";
  for (let i = 0; i < word.length; i++) {
    out += (mask >> (i % 30)) & 1 ? word[i].toLowerCase() : word[i].toUpperCase();
  }
  return out;
}

/** Strings over the characters of `alphabet`. */
export function stringOf(
  alphabet: string,
  constraints: { minLength?: number; maxLength?: number } = {},
): fc.Arbitrary<string> {
  const chars = [...alphabet];
  return fc.array(fc.constantFrom(...chars), constraints).map((a) => a.join(""));
}

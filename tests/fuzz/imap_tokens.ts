/**
 * Generators of the IMAP tokens a command is made of (RFC 3501 §9 / RFC 9051 §9): tags, atoms,
 * astrings as atoms, quoted strings with escapes or literals, mailbox names (modified UTF-7 or
 * UTF-8), sequence sets, flags, dates and search keys, each with the value the parser must give.
 */
import fc from "fast-check";
import { type SearchKey, type SequenceSet, STAR } from "../../src/imap/parse/command.ts";
import { encodeMutf7 } from "../../src/imap/parse/mutf7.ts";
import { mixCase, stringOf, utf8 } from "./harness.ts";
import type { Piece } from "./imap_framing.ts";

// RFC 3501 §9 ATOM-CHAR (printable ASCII but atom-specials), and what else ASTRING and tags take.
const ATOM_CHARS = [...Array(0x5e).keys()].map((i) => String.fromCharCode(i + 0x21))
  .filter((c) => !'(){%*"\\]'.includes(c)).join("");
const ASTRING_CHARS = ATOM_CHARS + "]";
const TAG_CHARS = ASTRING_CHARS.replace("+", "");
const NAME_CHARS = 'abcXYZ09 &._-/%*~]"\\éß日😀Ω';

/** Bits choosing the case of each letter of a keyword (see `mixCase`). */
export const mask = fc.integer({ min: 0, max: 0x3fffffff });
/** A tag (RFC 3501 §9): ASTRING-CHARs but "+". */
export const tagArb = stringOf(TAG_CHARS, { minLength: 1, maxLength: 8 });
const atomArb = stringOf(ATOM_CHARS, { minLength: 1, maxLength: 12 });
const literalKind = fc.constantFrom("sync" as const, "nonsync" as const);

/** Text that fits a quoted string: no NUL, CR or LF; 8-bit only when `eightBit`. */
function quotable(s: string, eightBit: boolean): boolean {
  return !/[\x00\r\n]/.test(s) && (eightBit || !/[^\x00-\x7f]/.test(s));
}

const quote = (s: string) => `"${s.replace(/[\\"]/g, (c) => "\\" + c)}"`;

/**
 * The wire pieces of a string value, as an atom (when `atomChars` covers it), a quoted string
 * (when it fits one) or a literal, the form picked by `choice`.
 */
function stringPieces(
  value: string,
  choice: number,
  kind: "sync" | "nonsync",
  opts: { atomChars?: string; eightBit: boolean },
): Piece[] {
  const forms: Piece[][] = [];
  if (opts.atomChars && value !== "" && [...value].every((c) => opts.atomChars!.includes(c))) {
    forms.push([value]);
  }
  if (quotable(value, opts.eightBit)) forms.push([quote(value)]);
  forms.push([{ literal: utf8(value), kind }]);
  return forms[choice % forms.length];
}

/** A string value and its wire pieces. */
export interface Valued<T> {
  value: T;
  pieces: Piece[];
}

const textValue = fc.oneof(
  atomArb,
  fc.string({ maxLength: 16 }),
  fc.string({ unit: "grapheme", maxLength: 8 }),
).map((s) => s.replace(/\x00/g, ""));

/** An astring (RFC 3501 §9): an atom, a quoted string or a literal, with its value. */
export function astringArb(eightBit: boolean, value = textValue): fc.Arbitrary<Valued<string>> {
  return fc.tuple(value, fc.nat(), literalKind).map(([v, choice, kind]) => ({
    value: v,
    pieces: stringPieces(v, choice, kind, { atomChars: ASTRING_CHARS, eightBit }),
  }));
}

/** A string that is never an atom: quoted or a literal (RFC 2971 §3.3 ID fields and values). */
export function stringArb(eightBit: boolean): fc.Arbitrary<Valued<string>> {
  return fc.tuple(textValue, fc.nat(), literalKind).map(([v, choice, kind]) => ({
    value: v,
    pieces: stringPieces(v, choice, kind, { eightBit }),
  }));
}

/** A mailbox name: UTF-8 in UTF-8 mode, else modified UTF-7 on the wire (RFC 3501 §5.1.3). */
export function mailboxArb(utf8Mode: boolean, pattern = false): fc.Arbitrary<Valued<string>> {
  // A LIST pattern takes the wildcards as list-chars and keeps INBOX as written.
  const chars = pattern ? ASTRING_CHARS + "%*" : ASTRING_CHARS;
  return fc.tuple(
    fc.oneof(
      stringOf(NAME_CHARS, { minLength: 1, maxLength: 12 }),
      fc.constantFrom("INBOX", "inbox", "InBoX"),
    ),
    fc.nat(),
    literalKind,
  ).map(([name, choice, kind]) => {
    const wire = utf8Mode ? name : encodeMutf7(name);
    return {
      value: !pattern && name.toUpperCase() === "INBOX" ? "INBOX" : name,
      pieces: stringPieces(wire, choice, kind, { atomChars: chars, eightBit: utf8Mode }),
    };
  });
}

const seqNumber = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 0xffffffff }), weight: 4 },
  { arbitrary: fc.constant(STAR), weight: 1 },
);

/** A sequence set of 1 to 4 elements, numbers or `*`, single or ranges in either order. */
export const setArb: fc.Arbitrary<Valued<SequenceSet>> = fc.array(
  fc.tuple(seqNumber, fc.option(seqNumber, { nil: undefined })),
  { minLength: 1, maxLength: 4 },
).map((elements) => {
  const n = (x: number) => (x === STAR ? "*" : String(x));
  return {
    value: { ranges: elements.map(([a, b]): [number, number] => [a, b ?? a]) },
    pieces: [elements.map(([a, b]) => (b === undefined ? n(a) : `${n(a)}:${n(b)}`)).join(",")],
  };
});

const SYSTEM = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

/** A storable flag: a system flag in any case (canonical in the result) or a keyword. */
export const flagArb: fc.Arbitrary<Valued<string>> = fc.oneof(
  fc.tuple(fc.constantFrom(...SYSTEM), mask).map(([f, m]) => ({
    value: f,
    pieces: [mixCase(f, m)],
  })),
  atomArb.map((k) => ({ value: k, pieces: [k] })),
);

/** The pieces of `items`, separated by `sep`. */
export function joined<T>(items: Valued<T>[], sep = " "): Piece[] {
  return items.flatMap((item, i) => (i === 0 ? item.pieces : [sep, ...item.pieces]));
}

/** The pieces of `items` as a parenthesised list. */
export function listOf<T>(items: Valued<T>[]): Piece[] {
  return ["(", ...joined(items), ")"];
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, width = 2) => String(n).padStart(width, "0");

const dayArb = fc.date({
  min: new Date(Date.UTC(1000, 0, 1)),
  max: new Date(Date.UTC(9999, 11, 31)),
  noInvalidDate: true,
});

// RFC 3501 §9 `date`: d-Mon-yyyy, maybe quoted; the parser gives YYYY-MM-DD.
const searchDate: fc.Arbitrary<Valued<string>> = fc.tuple(dayArb, mask, fc.boolean(), fc.boolean())
  .map(([d, m, padded, quoted]) => {
    const text = `${padded ? pad(d.getUTCDate()) : d.getUTCDate()}-${
      mixCase(MONTHS[d.getUTCMonth()], m)
    }-${d.getUTCFullYear()}`;
    return {
      value: `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
      pieces: [quoted ? `"${text}"` : text],
    };
  });

/**
 * An APPEND date-time (RFC 3501 §9 "dd-Mon-yyyy hh:mm:ss +zzzz", the day maybe space-padded) with
 * its time in ms since the epoch.
 */
export const dateTime: fc.Arbitrary<Valued<number>> = fc.tuple(
  dayArb,
  fc.integer({ min: 0, max: 86_399 }),
  fc.integer({ min: -14 * 60, max: 14 * 60 }),
  fc.boolean(),
).map(([d, seconds, zone, spacePad]) => {
  const day = d.getUTCDate();
  const [h, mi, s] = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60];
  const z = Math.abs(zone);
  const text = `${day < 10 && spacePad ? " " + day : pad(day)}-${
    MONTHS[d.getUTCMonth()]
  }-${d.getUTCFullYear()} ${pad(h)}:${pad(mi)}:${pad(s)} ${zone < 0 ? "-" : "+"}${
    pad(Math.floor(z / 60))
  }${pad(z % 60)}`;
  const ms = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), day, h, mi, s) - zone * 60_000;
  return { value: ms, pieces: [`"${text}"`] };
});

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ["\\Answered", true],
  UNANSWERED: ["\\Answered", false],
  DELETED: ["\\Deleted", true],
  UNDELETED: ["\\Deleted", false],
  DRAFT: ["\\Draft", true],
  UNDRAFT: ["\\Draft", false],
  FLAGGED: ["\\Flagged", true],
  UNFLAGGED: ["\\Flagged", false],
  SEEN: ["\\Seen", true],
  UNSEEN: ["\\Seen", false],
};
const DATE_KEYS: Record<string, ["internal" | "sent", "before" | "on" | "since"]> = {
  BEFORE: ["internal", "before"],
  ON: ["internal", "on"],
  SINCE: ["internal", "since"],
  SENTBEFORE: ["sent", "before"],
  SENTON: ["sent", "on"],
  SENTSINCE: ["sent", "since"],
};

type Key = Valued<SearchKey>;

/** A search key (RFC 3501 §6.4.4), nested with NOT, OR and lists, with its parsed form. */
export function searchKeyArb(utf8Mode: boolean): fc.Arbitrary<Key> {
  const value = astringArb(utf8Mode);
  const kw = (word: string, m: number) => mixCase(word, m);
  const leaf: fc.Arbitrary<Key> = fc.oneof(
    fc.tuple(fc.constantFrom(...Object.keys(FLAG_KEYS)), mask).map(([k, m]) => ({
      value: { op: "flag" as const, flag: FLAG_KEYS[k][0], set: FLAG_KEYS[k][1] },
      pieces: [kw(k, m)],
    })),
    fc.tuple(fc.constantFrom("ALL", "RECENT", "OLD", "NEW"), mask).map(([k, m]): Key => ({
      value: k === "ALL" ? { op: "all" } : k === "NEW"
        ? {
          op: "and",
          keys: [{ op: "recent", set: true }, { op: "flag", flag: "\\Seen", set: false }],
        }
        : { op: "recent", set: k === "RECENT" },
      pieces: [kw(k, m)],
    })),
    fc.tuple(fc.constantFrom("FROM", "TO", "CC", "BCC", "SUBJECT"), mask, value).map((
      [k, m, v],
    ): Key => ({
      value: { op: "header", field: k, value: v.value },
      pieces: [kw(k, m), " ", ...v.pieces],
    })),
    fc.tuple(mask, value, value).map(([m, f, v]): Key => ({
      value: { op: "header", field: f.value.toUpperCase(), value: v.value },
      pieces: [kw("HEADER", m), " ", ...f.pieces, " ", ...v.pieces],
    })),
    fc.tuple(fc.constantFrom("BODY", "TEXT"), mask, value).map(([k, m, v]): Key => ({
      value: k === "BODY" ? { op: "body", value: v.value } : { op: "text", value: v.value },
      pieces: [kw(k, m), " ", ...v.pieces],
    })),
    fc.tuple(fc.constantFrom("KEYWORD", "UNKEYWORD"), mask, atomArb).map(([k, m, a]): Key => ({
      value: { op: "flag", flag: a, set: k === "KEYWORD" },
      pieces: [kw(k, m), " ", a],
    })),
    fc.tuple(fc.constantFrom("LARGER", "SMALLER"), mask, fc.maxSafeNat()).map(([k, m, n]): Key => ({
      value: { op: "size", cmp: k === "LARGER" ? "larger" : "smaller", n },
      pieces: [kw(k, m), ` ${n}`],
    })),
    fc.tuple(mask, setArb).map(([m, s]): Key => ({
      value: { op: "uid", set: s.value },
      pieces: [kw("UID", m), " ", ...s.pieces],
    })),
    setArb.map((s): Key => ({ value: { op: "seq", set: s.value }, pieces: s.pieces })),
    fc.tuple(fc.constantFrom(...Object.keys(DATE_KEYS)), mask, searchDate).map((
      [k, m, d],
    ): Key => ({
      value: { op: "date", field: DATE_KEYS[k][0], cmp: DATE_KEYS[k][1], day: d.value },
      pieces: [kw(k, m), " ", ...d.pieces],
    })),
    fc.tuple(fc.constantFrom("YOUNGER", "OLDER"), mask, fc.integer({ min: 1, max: 0xffffffff }))
      .map(([k, m, n]): Key => ({
        value: { op: k === "YOUNGER" ? "younger" : "older", seconds: n },
        pieces: [kw(k, m), ` ${n}`],
      })),
    fc.tuple(mask, fc.maxSafeNat()).map(([m, n]): Key => ({
      value: { op: "modseq", modSeq: n },
      pieces: [kw("MODSEQ", m), ` ${n}`],
    })),
  );
  const { key } = fc.letrec<{ key: Key }>((tie) => ({
    key: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.tuple(mask, tie("key")).map(([m, k]): Key => ({
        value: { op: "not", key: k.value },
        pieces: [kw("NOT", m), " ", ...k.pieces],
      })),
      fc.tuple(mask, tie("key"), tie("key")).map(([m, a, b]): Key => ({
        value: { op: "or", a: a.value, b: b.value },
        pieces: [kw("OR", m), " ", ...a.pieces, " ", ...b.pieces],
      })),
      fc.array(tie("key"), { minLength: 1, maxLength: 3 }).map((keys): Key => ({
        value: keys.length === 1 ? keys[0].value : { op: "and", keys: keys.map((k) => k.value) },
        pieces: listOf(keys),
      })),
    ),
  }));
  return key;
}

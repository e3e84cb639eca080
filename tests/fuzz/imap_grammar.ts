/**
 * A generator of valid IMAP commands (RFC 3501 §9 / RFC 9051 §9 and the extensions the parser
 * takes) for fuzzing: each comes as the pieces of its wire form (text and literals) together with
 * the {@link ImapCommand} the parser must make of it. Also the framing helpers: pieces to a
 * {@link RawCommand}, a RawCommand to wire bytes, and wire bytes back to a RawCommand the way
 * the session frames them (with `literalAtEnd`).
 */
import fc from "fast-check";
import {
  type FetchItem,
  type ImapCommand,
  type NoArgCommandName,
  type RawCommand,
  type SearchKey,
  type Section,
  type SequenceSet,
  STAR,
} from "../../src/imap/parse/command.ts";
import { encodeMutf7 } from "../../src/imap/parse/mutf7.ts";
import { literalAtEnd } from "../../src/imap/parse/parse_command.ts";
import { concat, mixCase, stringOf, utf8 } from "./harness.ts";

/** A literal of the wire form: `{n}`, `{n+}` (RFC 7888) or `~{n}` (RFC 3516 literal8). */
export interface LiteralPiece {
  literal: Uint8Array;
  kind: "sync" | "nonsync" | "binary";
}

/** A piece of a command's wire form: text of the current line, or a literal. */
export type Piece = string | LiteralPiece;

/** A generated command: its wire pieces, the parse options, and what it must parse to. */
export interface CommandCase {
  pieces: Piece[];
  utf8: boolean;
  command: ImapCommand;
}

/** Frames pieces as the session would: lines ending in the literal markers, and the literals. */
export function toRaw(pieces: Piece[]): RawCommand {
  const lines: Uint8Array[] = [];
  const literals: Uint8Array[] = [];
  let line = "";
  for (const piece of pieces) {
    if (typeof piece === "string") {
      line += piece;
      continue;
    }
    const n = piece.literal.length;
    line += piece.kind === "binary" ? `~{${n}}` : piece.kind === "nonsync" ? `{${n}+}` : `{${n}}`;
    lines.push(utf8(line));
    literals.push(piece.literal);
    line = "";
  }
  lines.push(utf8(line));
  return { lines, literals };
}

const CRLF = new Uint8Array([13, 10]);

/** The octets a client sends for a framed command, final CRLF included. */
export function toWire(raw: RawCommand): Uint8Array {
  const parts: Uint8Array[] = [];
  raw.lines.forEach((line, i) => {
    parts.push(line, CRLF);
    if (i < raw.literals.length) parts.push(raw.literals[i]);
  });
  return concat(...parts);
}

/**
 * Frames one command from wire octets as the session does: a line up to CRLF, and when it ends in
 * a literal marker, that many octets (fewer when the input ends first), then the next line.
 */
export function frame(wire: Uint8Array): RawCommand {
  const lines: Uint8Array[] = [];
  const literals: Uint8Array[] = [];
  let pos = 0;
  for (;;) {
    let end = pos;
    while (end < wire.length && !(wire[end] === 13 && wire[end + 1] === 10)) end++;
    const line = wire.subarray(pos, end);
    lines.push(line);
    const marker = end < wire.length ? literalAtEnd(line) : undefined;
    if (marker === undefined || marker === "bad") return { lines, literals };
    const start = end + 2;
    const size = Math.min(marker.size, wire.length - start);
    literals.push(wire.subarray(start, start + size));
    pos = start + size;
    if (pos >= wire.length) {
      lines.push(new Uint8Array(0));
      return { lines, literals };
    }
  }
}

// RFC 3501 §9 ATOM-CHAR (printable ASCII but atom-specials), and what else ASTRING and tags take.
const ATOM_CHARS = [...Array(0x5e).keys()].map((i) => String.fromCharCode(i + 0x21))
  .filter((c) => !'(){%*"\\]'.includes(c)).join("");
const ASTRING_CHARS = ATOM_CHARS + "]";
const TAG_CHARS = ASTRING_CHARS.replace("+", "");
const NAME_CHARS = 'abcXYZ09 &._-/%*~]"\\éß日😀Ω';

const mask = fc.integer({ min: 0, max: 0x3fffffff });
const tagArb = stringOf(TAG_CHARS, { minLength: 1, maxLength: 8 });
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
interface Valued<T> {
  value: T;
  pieces: Piece[];
}

const textValue = fc.oneof(
  atomArb,
  fc.string({ maxLength: 16 }),
  fc.string({ unit: "grapheme", maxLength: 8 }),
).map((s) => s.replace(/\x00/g, ""));

function astringArb(eightBit: boolean, value = textValue): fc.Arbitrary<Valued<string>> {
  return fc.tuple(value, fc.nat(), literalKind).map(([v, choice, kind]) => ({
    value: v,
    pieces: stringPieces(v, choice, kind, { atomChars: ASTRING_CHARS, eightBit }),
  }));
}

/** A string that is never an atom: quoted or a literal (RFC 2971 §3.3 ID fields and values). */
function stringArb(eightBit: boolean): fc.Arbitrary<Valued<string>> {
  return fc.tuple(textValue, fc.nat(), literalKind).map(([v, choice, kind]) => ({
    value: v,
    pieces: stringPieces(v, choice, kind, { eightBit }),
  }));
}

/** A mailbox name: UTF-8 in UTF-8 mode, else modified UTF-7 on the wire (RFC 3501 §5.1.3). */
function mailboxArb(utf8Mode: boolean, pattern = false): fc.Arbitrary<Valued<string>> {
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

const setArb: fc.Arbitrary<Valued<SequenceSet>> = fc.array(
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
const flagArb: fc.Arbitrary<Valued<string>> = fc.oneof(
  fc.tuple(fc.constantFrom(...SYSTEM), mask).map(([f, m]) => ({
    value: f,
    pieces: [mixCase(f, m)],
  })),
  atomArb.map((k) => ({ value: k, pieces: [k] })),
);

function joined<T>(items: Valued<T>[], sep = " "): Piece[] {
  return items.flatMap((item, i) => (i === 0 ? item.pieces : [sep, ...item.pieces]));
}

function listOf<T>(items: Valued<T>[]): Piece[] {
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

// RFC 3501 §9 `date-time`: "dd-Mon-yyyy hh:mm:ss +zzzz", the day maybe space-padded.
const dateTime: fc.Arbitrary<Valued<number>> = fc.tuple(
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

function searchKeyArb(utf8Mode: boolean): fc.Arbitrary<Key> {
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

const SIMPLE_ITEMS = [
  "FLAGS",
  "INTERNALDATE",
  "RFC822.SIZE",
  "ENVELOPE",
  "BODYSTRUCTURE",
  "BODY",
  "UID",
  "MODSEQ",
  "RFC822",
  "RFC822.HEADER",
  "RFC822.TEXT",
] as const;

const partArb = fc.array(fc.integer({ min: 1, max: 0xffffffff }), { maxLength: 3 });
const partialArb = fc.option(
  fc.tuple(fc.maxSafeNat(), fc.maxSafeNat()).map(([offset, length]) => ({ offset, length })),
  { nil: undefined },
);
const fieldName = stringOf("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-0123456789", {
  minLength: 1,
  maxLength: 12,
});

const sectionArb: fc.Arbitrary<Valued<Section>> = fc.tuple(
  partArb,
  fc.constantFrom(undefined, "HEADER", "TEXT", "MIME", "HEADER.FIELDS", "HEADER.FIELDS.NOT"),
  fc.array(astringArb(false, fieldName), { minLength: 1, maxLength: 3 }),
  mask,
).map(([part, text0, fields, m]) => {
  // MIME needs a part number; a part-less section with no text is the whole message.
  const text = text0 === "MIME" && part.length === 0 ? "TEXT" : text0;
  const section: Section = { part };
  let spec = part.join(".");
  const pieces: Piece[] = [];
  if (text) {
    section.text = text;
    spec += (spec ? "." : "") + mixCase(text, m);
  }
  pieces.push(spec);
  if (text === "HEADER.FIELDS" || text === "HEADER.FIELDS.NOT") {
    section.fields = fields.map((f) => f.value.toUpperCase());
    pieces.push(" ", ...listOf(fields));
  }
  return { value: section, pieces };
});

const partial = (p: { offset: number; length: number } | undefined) =>
  p ? `<${p.offset}.${p.length}>` : "";

const fetchItemArb: fc.Arbitrary<Valued<FetchItem>> = fc.oneof(
  fc.tuple(fc.constantFrom(...SIMPLE_ITEMS), mask).map(([kind, m]) => ({
    value: { kind },
    pieces: [mixCase(kind, m)],
  })),
  fc.tuple(fc.boolean(), sectionArb, partialArb, mask).map((
    [peek, s, p, m],
  ): Valued<FetchItem> => ({
    value: p
      ? { kind: "BODY[]", section: s.value, peek, partial: p }
      : { kind: "BODY[]", section: s.value, peek },
    pieces: [mixCase(peek ? "BODY.PEEK[" : "BODY[", m), ...s.pieces, "]" + partial(p)],
  })),
  fc.tuple(fc.boolean(), partArb, partialArb, mask).map((
    [peek, part, p, m],
  ): Valued<FetchItem> => ({
    value: p ? { kind: "BINARY", part, peek, partial: p } : { kind: "BINARY", part, peek },
    pieces: [`${mixCase(peek ? "BINARY.PEEK" : "BINARY", m)}[${part.join(".")}]${partial(p)}`],
  })),
  fc.tuple(partArb, mask).map(([part, m]): Valued<FetchItem> => ({
    value: { kind: "BINARY.SIZE", part },
    pieces: [`${mixCase("BINARY.SIZE", m)}[${part.join(".")}]`],
  })),
);

const MACROS: Record<string, FetchItem[]> = {
  ALL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"].map((k) => ({ kind: k }) as FetchItem),
  FAST: ["FLAGS", "INTERNALDATE", "RFC822.SIZE"].map((k) => ({ kind: k }) as FetchItem),
  FULL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"].map((k) =>
    ({ kind: k }) as FetchItem
  ),
};

const fetchItemsArb: fc.Arbitrary<Valued<FetchItem[]>> = fc.oneof(
  fc.tuple(fc.constantFrom("ALL", "FAST", "FULL"), mask).map(([m, c]) => ({
    value: MACROS[m],
    pieces: [mixCase(m, c)],
  })),
  fetchItemArb.map((i) => ({ value: [i.value], pieces: i.pieces })),
  fc.array(fetchItemArb, { minLength: 1, maxLength: 4 }).map((items) => ({
    value: items.map((i) => i.value),
    pieces: listOf(items),
  })),
);

/** One generated command before its tag is put in front. */
type Body = { pieces: Piece[]; command: Record<string, unknown> & { name: string } };

const NO_ARGS: NoArgCommandName[] = [
  "CAPABILITY",
  "NOOP",
  "LOGOUT",
  "STARTTLS",
  "CHECK",
  "CLOSE",
  "UNSELECT",
  "IDLE",
  "NAMESPACE",
];

function bodies(u: boolean): fc.Arbitrary<Body> {
  const mailbox = mailboxArb(u);
  const name = (n: string, m: number) => mixCase(n, m);
  const uidPrefix = (uid: boolean, m: number) => (uid ? mixCase("UID ", m) : "");
  const setCommand = fc.tuple(fc.boolean(), mask, setArb);
  return fc.oneof(
    fc.tuple(fc.constantFrom(...NO_ARGS), mask).map(([n, m]): Body => ({
      pieces: [name(n, m)],
      command: { name: n },
    })),
    fc.tuple(mask, astringArb(true), astringArb(true)).map(([m, user, pass]): Body => ({
      pieces: [name("LOGIN", m), " ", ...user.pieces, " ", ...pass.pieces],
      command: { name: "LOGIN", user: user.value, password: pass.value },
    })),
    fc.tuple(
      mask,
      fc.constantFrom("PLAIN", "xoauth2", "Login"),
      fc.option(fc.oneof(fc.base64String({ minLength: 4, maxLength: 24 }), fc.constant("=")), {
        nil: undefined,
      }),
    ).map(([m, mech, ir]): Body => ({
      pieces: [name("AUTHENTICATE", m), ` ${mech}${ir === undefined ? "" : " " + ir}`],
      command: ir === undefined ? { name: "AUTHENTICATE", mechanism: mech.toUpperCase() } : {
        name: "AUTHENTICATE",
        mechanism: mech.toUpperCase(),
        initialResponse: ir === "=" ? "" : ir,
      },
    })),
    fc.tuple(fc.constantFrom("SELECT", "EXAMINE"), mask, mailbox, fc.boolean()).map((
      [n, m, box, condstore],
    ): Body => ({
      pieces: [name(n, m), " ", ...box.pieces, condstore ? " (CONDSTORE)" : ""],
      command: { name: n, mailbox: box.value, condstore },
    })),
    fc.tuple(fc.constantFrom("CREATE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE"), mask, mailbox).map((
      [n, m, box],
    ): Body => ({
      pieces: [name(n, m), " ", ...box.pieces],
      command: { name: n, mailbox: box.value },
    })),
    fc.tuple(mask, mailbox, mailbox).map(([m, a, b]): Body => ({
      pieces: [name("RENAME", m), " ", ...a.pieces, " ", ...b.pieces],
      command: { name: "RENAME", from: a.value, to: b.value },
    })),
    fc.tuple(
      mask,
      mailbox,
      fc.uniqueArray(fc.constantFrom("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE"), {
        minLength: 1,
      }),
    ).map(([m, box, items]): Body => ({
      pieces: [name("STATUS", m), " ", ...box.pieces, ` (${items.join(" ")})`],
      command: { name: "STATUS", mailbox: box.value, items },
    })),
    fc.tuple(mask, mailboxArb(u, true), mailboxArb(u, true)).map((
      [m, ref, pattern],
    ): Body => ({
      pieces: [name("LIST", m), " ", ...ref.pieces, " ", ...pattern.pieces],
      command: {
        name: "LIST",
        reference: ref.value,
        patterns: [pattern.value],
        selection: [],
        returns: { subscribed: false, children: false, specialUse: false },
        extended: false,
      },
    })),
    fc.tuple(
      setCommand,
      fetchItemsArb,
      fc.option(fc.tuple(fc.maxSafeNat(), fc.boolean()), {
        nil: undefined,
      }),
    ).map(([[uid, m, set], items, mod]): Body => {
      const vanished = uid && mod !== undefined && mod[1];
      const command: Body["command"] = { name: "FETCH", uid, set: set.value, items: items.value };
      if (mod) command.changedSince = mod[0];
      command.vanished = vanished;
      return {
        pieces: [
          uidPrefix(uid, m) + name("FETCH", m),
          " ",
          ...set.pieces,
          " ",
          ...items.pieces,
          mod ? ` (CHANGEDSINCE ${mod[0]}${vanished ? " VANISHED" : ""})` : "",
        ],
        command,
      };
    }),
    fc.tuple(
      setCommand,
      fc.option(fc.maxSafeNat(), { nil: undefined }),
      fc.constantFrom("add", "remove", "replace"),
      fc.boolean(),
      fc.array(flagArb, { maxLength: 4 }),
      fc.boolean(),
    ).map(([[uid, m, set], unchanged, mode, silent, flags, bare]): Body => {
      const useBare = bare && flags.length > 0;
      const command: Body["command"] = { name: "STORE", uid, set: set.value, mode, silent };
      command.flags = flags.map((f) => f.value);
      if (unchanged !== undefined) command.unchangedSince = unchanged;
      return {
        pieces: [
          uidPrefix(uid, m) + name("STORE", m),
          " ",
          ...set.pieces,
          unchanged === undefined ? " " : ` (UNCHANGEDSINCE ${unchanged}) `,
          (mode === "add" ? "+" : mode === "remove" ? "-" : "") +
          mixCase(silent ? "FLAGS.SILENT" : "FLAGS", m),
          " ",
          ...(useBare ? joined(flags) : listOf(flags)),
        ],
        command,
      };
    }),
    fc.tuple(setCommand, fc.constantFrom("COPY", "MOVE"), mailbox).map((
      [[uid, m, set], n, box],
    ): Body => ({
      pieces: [uidPrefix(uid, m) + name(n, m), " ", ...set.pieces, " ", ...box.pieces],
      command: { name: n, uid, set: set.value, mailbox: box.value },
    })),
    setCommand.map(([uid, m, set]): Body => ({
      pieces: uid ? [uidPrefix(uid, m) + name("EXPUNGE", m), " ", ...set.pieces] : [
        name("EXPUNGE", m),
      ],
      command: uid ? { name: "EXPUNGE", uid, set: set.value } : { name: "EXPUNGE", uid },
    })),
    fc.tuple(
      fc.boolean(),
      mask,
      fc.option(fc.uniqueArray(fc.constantFrom("MIN", "MAX", "ALL", "COUNT", "SAVE")), {
        nil: undefined,
      }),
      fc.option(fc.constantFrom("UTF-8", "utf-8", "US-ASCII"), { nil: undefined }),
      fc.array(searchKeyArb(u), { minLength: 1, maxLength: 3 }),
    ).map(([uid, m, returns, charset, keys]): Body => {
      const command: Body["command"] = {
        name: "SEARCH",
        uid,
        program: keys.length === 1 ? keys[0].value : { op: "and", keys: keys.map((k) => k.value) },
      };
      if (charset !== undefined) command.charset = charset;
      if (returns !== undefined) command.returns = returns.length === 0 ? ["ALL"] : returns;
      return {
        pieces: [
          uidPrefix(uid, m) + name("SEARCH", m),
          returns === undefined ? "" : ` RETURN (${returns.join(" ")})`,
          charset === undefined ? "" : ` CHARSET ${charset}`,
          " ",
          ...joined(keys),
        ],
        command,
      };
    }),
    fc.tuple(
      mask,
      mailbox,
      fc.array(
        fc.tuple(
          fc.option(fc.array(flagArb, { maxLength: 3 }), { nil: undefined }),
          fc.option(dateTime, { nil: undefined }),
          fc.uint8Array({ maxLength: 64 }),
          fc.constantFrom("sync" as const, "nonsync" as const, "binary" as const),
        ),
        { minLength: 1, maxLength: 3 },
      ),
    ).map(([m, box, messages]): Body => {
      const pieces: Piece[] = [name("APPEND", m), " ", ...box.pieces];
      const values = messages.map(([flags, date, bytes, kind]) => {
        // A literal (not literal8) may not hold NUL (RFC 3501 §4.3).
        const message = kind === "binary" ? bytes : bytes.map((b) => (b === 0 ? 1 : b));
        pieces.push(" ");
        if (flags) pieces.push(...listOf(flags), " ");
        if (date) pieces.push(...date.pieces, " ");
        pieces.push({ literal: message, kind });
        const one: Record<string, unknown> = { message, binary: kind === "binary" };
        if (flags) one.flags = flags.map((f) => f.value);
        if (date) one.date = date.value;
        return one;
      });
      return { pieces, command: { name: "APPEND", mailbox: box.value, messages: values } };
    }),
    fc.tuple(
      mask,
      fc.array(fc.constantFrom("IMAP4rev2", "CONDSTORE", "utf8=accept", "X-Y"), {
        minLength: 1,
        maxLength: 3,
      }),
    ).map(([m, caps]): Body => ({
      pieces: [name("ENABLE", m), ...caps.map((c) => " " + c)],
      command: { name: "ENABLE", capabilities: caps.map((c) => c.toUpperCase()) },
    })),
    fc.tuple(
      mask,
      fc.option(
        fc.uniqueArray(
          fc.tuple(stringArb(u), fc.option(stringArb(u), { nil: null })),
          { maxLength: 3, selector: ([f]) => f.value },
        ),
        { nil: null },
      ),
    ).map(([m, params]): Body => {
      if (params === null) {
        return { pieces: [name("ID", m), " NIL"], command: { name: "ID", params: null } };
      }
      const record: Record<string, string | null> = {};
      const items: Piece[][] = params.map(([f, v]) => {
        record[f.value] = v === null ? null : v.value;
        return [...f.pieces, " ", ...(v === null ? ["NIL"] : v.pieces)];
      });
      return {
        pieces: [name("ID", m), " (", ...items.flatMap((p, i) => (i === 0 ? p : [" ", ...p])), ")"],
        command: { name: "ID", params: record },
      };
    }),
    fc.tuple(
      mask,
      astringArb(u),
      fc.array(
        fc.tuple(fc.constantFrom("STORAGE", "message"), fc.maxSafeNat()),
        { maxLength: 2 },
      ),
    ).map(([m, root, limits]): Body => ({
      pieces: [
        name("SETQUOTA", m),
        " ",
        ...root.pieces,
        ` (${limits.map(([r, n]) => `${r} ${n}`).join(" ")})`,
      ],
      command: {
        name: "SETQUOTA",
        root: root.value,
        limits: limits.map(([resource, limit]) => ({ resource: resource.toUpperCase(), limit })),
      },
    })),
    fc.tuple(mask, astringArb(u)).map(([m, root]): Body => ({
      pieces: [name("GETQUOTA", m), " ", ...root.pieces],
      command: { name: "GETQUOTA", root: root.value },
    })),
    fc.tuple(mask, mailbox).map(([m, box]): Body => ({
      pieces: [name("GETQUOTAROOT", m), " ", ...box.pieces],
      command: { name: "GETQUOTAROOT", mailbox: box.value },
    })),
  );
}

const bodiesByMode = [bodies(false), bodies(true)];

/** Valid IMAP commands with the parse they must give, in either UTF-8 mode. */
export const imapCommandArb: fc.Arbitrary<CommandCase> = fc.tuple(tagArb, fc.boolean()).chain((
  [tag, u],
) =>
  bodiesByMode[u ? 1 : 0].map((body) => ({
    pieces: [tag + " ", ...body.pieces],
    utf8: u,
    command: { tag, ...body.command } as ImapCommand,
  }))
);

/**
 * The lexer under the IMAP command parser: a cursor over the framed lines and literals of one
 * command, reading the tokens of RFC 3501 §9 / RFC 9051 §9 (atoms, quoted strings, literals,
 * numbers, sequence sets, flags, dates). Every fault throws {@link SyntaxFault}, which
 * `parseCommand` turns into a BAD reply; scanning is linear in the input.
 */
import type { RawCommand, SequenceSet } from "./command.ts";
import { decodeMutf7 } from "./mutf7.ts";
import { parseSequenceSet } from "./sequence_set.ts";

/** A syntax error at the reader's position; its message goes into the BAD reply. */
/** Marks a mailbox name that was not valid modified UTF-7 (see `Reader.mailbox`). */
export const INVALID_NAME_MARK = "\u0000";

export class SyntaxFault extends Error {}

/** Throws a {@link SyntaxFault}. */
export function fault(message: string): never {
  throw new SyntaxFault(message);
}

const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

function table(accept: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = accept(c) ? 1 : 0;
  return t;
}

// RFC 3501 §9: ATOM-CHAR is any 7-bit CHAR except atom-specials:
// "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]".
const isAtomChar = (c: number) =>
  c > 0x20 && c < 0x7f && !'(){%*"\\]'.includes(String.fromCharCode(c));
/** ATOM-CHAR. */
export const ATOM = table(isAtomChar);
/** ASTRING-CHAR: ATOM-CHAR and "]". */
export const ASTRING = table((c) => isAtomChar(c) || c === 0x5d);
/** list-char (RFC 3501 §9 `list-mailbox`): ATOM-CHAR, the wildcards and "]". */
export const LIST_CHAR = table((c) => isAtomChar(c) || c === 0x25 || c === 0x2a || c === 0x5d);
/** The characters of a sequence set, `$` included so that it can be refused by name. */
const SET_CHAR = table((c) =>
  (c >= 0x30 && c <= 0x39) || c === 0x3a || c === 0x2c || c === 0x2a || c === 0x24
);

const DIGIT = table((c) => c >= 0x30 && c <= 0x39);
const DATE_CHAR = table((c) =>
  c === 0x2d || DIGIT[c] === 1 || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a)
);

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const latin1Decoder = new TextDecoder("latin1");
const asciiEncoder = new TextEncoder();

/** Decodes UTF-8 octets, refusing invalid sequences. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return fault("Invalid UTF-8 in string");
  }
}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

/** A string token: its octets and whether it came as a literal8 (RFC 3516 `~{N}`). */
export interface StringToken {
  bytes: Uint8Array;
  binary: boolean;
}

/** A cursor over one framed command. */
export class Reader {
  readonly #lines: Uint8Array[];
  readonly #literals: Uint8Array[];
  #li = 0;
  #line: Uint8Array;
  #pos = 0;
  /** UTF-8 mode (RFC 6855 / RFC 9051): 8-bit in quoted strings, UTF-8 mailbox names. */
  readonly utf8: boolean;

  /** Starts at the first octet of the command's first line. */
  constructor(raw: RawCommand, utf8: boolean) {
    if (raw.lines.length !== raw.literals.length + 1) fault("Malformed command framing");
    this.#lines = raw.lines;
    this.#literals = raw.literals;
    this.#line = raw.lines[0];
    this.utf8 = utf8;
  }

  /** The next octet of the current line, -1 at its end. */
  peek(offset = 0): number {
    const p = this.#pos + offset;
    return p < this.#line.length ? this.#line[p] : -1;
  }

  /** Whether the whole command has been read. */
  done(): boolean {
    return this.#li === this.#lines.length - 1 && this.#pos === this.#line.length;
  }

  /** Refuses anything left after the command's arguments. */
  end(): void {
    if (!this.done()) fault("Unexpected text after the command");
  }

  /** Consumes `c` or fails with "Expected <what>". */
  expect(c: number, what: string): void {
    if (this.peek() !== c) fault(`Expected ${what}`);
    this.#pos++;
  }

  /** Consumes `c` when it comes next. */
  take(c: number): boolean {
    if (this.peek() !== c) return false;
    this.#pos++;
    return true;
  }

  /** Consumes the single SP between arguments. */
  sp(what = "a space"): void {
    this.expect(SP, what);
  }

  /** Consumes the run of octets the table accepts (ASCII only) and returns it. */
  run(accept: Uint8Array): string {
    const start = this.#pos;
    const line = this.#line;
    let p = start;
    while (p < line.length && accept[line[p]]) p++;
    this.#pos = p;
    return latin1Decoder.decode(line.subarray(start, p));
  }

  /** An atom (RFC 3501 §9), as written. */
  atom(what = "an atom"): string {
    const a = this.run(ATOM);
    if (a === "") fault(`Expected ${what}`);
    return a;
  }

  /** An atom, upper-cased: command names, keywords of the grammar. */
  word(what = "a keyword"): string {
    return this.atom(what).toUpperCase();
  }

  /** Whether the next atom is `kw` (case-insensitive) ending at a non-atom octet; consumed if so. */
  keyword(kw: string): boolean {
    for (let i = 0; i < kw.length; i++) {
      const c = this.peek(i);
      if (c < 0 || (c | 0x20) !== (kw.charCodeAt(i) | 0x20)) return false;
    }
    const after = this.peek(kw.length);
    if (after >= 0 && ATOM[after]) return false;
    this.#pos += kw.length;
    return true;
  }

  /** Whether a quoted string or a literal starts here. */
  atString(): boolean {
    const c = this.peek();
    return c === DQUOTE || c === 0x7b || (c === 0x7e && this.peek(1) === 0x7b);
  }

  /**
   * A quoted string or a literal (RFC 3501 §9 `string`). 8-bit in a quoted string needs UTF-8
   * mode or `allow8bit`; a literal8 needs `allowBinary` (RFC 3516 §4.4: APPEND only).
   */
  string(opts: { allow8bit?: boolean; allowBinary?: boolean } = {}): StringToken {
    if (this.peek() === DQUOTE) {
      return { bytes: this.#quoted(opts.allow8bit ?? false), binary: false };
    }
    if (this.atString()) return this.#literal(opts.allowBinary ?? false);
    return fault("Expected a string");
  }

  /** The octets of an astring: an atom with "]", a quoted string or a literal. */
  astringBytes(allow8bit = false): Uint8Array {
    if (this.atString()) return this.string({ allow8bit }).bytes;
    const start = this.#pos;
    const line = this.#line;
    let p = start;
    while (p < line.length && ASTRING[line[p]]) p++;
    if (p === start) fault("Expected a string or atom");
    this.#pos = p;
    return line.subarray(start, p);
  }

  /** An astring decoded as UTF-8. */
  astring(allow8bit = false): string {
    return decodeUtf8(this.astringBytes(allow8bit));
  }

  /** NIL or a string decoded as UTF-8 (RFC 3501 §9 `nstring`). */
  nstring(): string | null {
    if (this.keyword("NIL")) return null;
    return decodeUtf8(this.string().bytes);
  }

  #quoted(allow8bit: boolean): Uint8Array {
    const line = this.#line;
    let p = this.#pos + 1;
    let out: number[] | undefined;
    const start = p;
    for (;;) {
      if (p >= line.length) fault("Unterminated quoted string");
      const c = line[p];
      if (c === DQUOTE) break;
      if (c === BACKSLASH) {
        const e = line[p + 1];
        // RFC 3501 §9 QUOTED-CHAR: only "\" and DQUOTE may be escaped.
        if (e !== BACKSLASH && e !== DQUOTE) fault("Invalid escape in quoted string");
        out ??= Array.from(line.subarray(start, p));
        out.push(e);
        p += 2;
        continue;
      }
      if (c === 0 || c === 0x0d || c === 0x0a) fault("Invalid character in quoted string");
      if (c > 0x7f && !this.utf8 && !allow8bit) fault("8-bit character in quoted string");
      out?.push(c);
      p++;
    }
    this.#pos = p + 1;
    return out ? Uint8Array.from(out) : line.subarray(start, p);
  }

  #literal(allowBinary: boolean): StringToken {
    const binary = this.take(0x7e);
    this.expect(0x7b, "a literal");
    const digits = this.run(DIGIT);
    this.take(0x2b);
    this.expect(0x7d, "} closing the literal size");
    if (digits === "" || this.#pos !== this.#line.length || this.#li >= this.#literals.length) {
      fault("A literal marker must end the line");
    }
    const bytes = this.#literals[this.#li];
    if (Number(digits) !== bytes.length) fault("Literal size mismatch");
    if (binary && !allowBinary) fault("A literal8 is not allowed here");
    if (!binary && bytes.includes(0)) fault("NUL in a literal (use literal8)");
    this.#li++;
    this.#line = this.#lines[this.#li];
    this.#pos = 0;
    return { bytes, binary };
  }

  /** A decimal number within 0..max (RFC 3501 §9 `number`, RFC 9051 `number64`). */
  number(max = Number.MAX_SAFE_INTEGER, what = "a number"): number {
    const digits = this.run(DIGIT);
    if (digits === "") fault(`Expected ${what}`);
    const n = digits.length > 17 ? Infinity : Number(digits);
    if (n > max) fault(`Number too large (${what})`);
    return n;
  }

  /** A positive number within 1..max (RFC 3501 §9 `nz-number`). */
  nzNumber(max = Number.MAX_SAFE_INTEGER, what = "a number"): number {
    const n = this.number(max, what);
    if (n === 0) fault(`Expected ${what} above zero`);
    return n;
  }

  /** A sequence set (RFC 3501 §9); `$` is refused. */
  sequenceSet(): SequenceSet {
    const text = this.run(SET_CHAR);
    if (text === "") fault("Expected a sequence set");
    const set = parseSequenceSet(text);
    if (typeof set === "string") fault(set);
    return set;
  }

  /**
   * A mailbox name (RFC 3501 §9 `mailbox`): "INBOX" in any case is INBOX; outside UTF-8 mode the
   * name is decoded from modified UTF-7 (RFC 3501 §5.1.3) when it is valid.
   */
  mailbox(): string {
    const name = this.#mailboxText(this.astringBytes());
    return name.toUpperCase() === "INBOX" ? "INBOX" : name;
  }

  /** A LIST pattern (RFC 3501 §9 `list-mailbox`): list-chars with wildcards, or a string. */
  listMailbox(): string {
    if (this.atString()) return this.#mailboxText(this.string().bytes);
    const text = this.run(LIST_CHAR);
    if (text === "") fault("Expected a mailbox pattern");
    return this.#mailboxText(asciiEncoder.encode(text));
  }

  #mailboxText(bytes: Uint8Array): string {
    const text = decodeUtf8(bytes);
    if (this.utf8) return text;
    // A name that is not valid modified UTF-7 names no mailbox: it gets NO, not BAD, as other
    // servers answer it. The NUL in front (never part of a real name) keeps it from matching
    // or being created (CREATE refuses control characters).
    return decodeMutf7(text) ?? INVALID_NAME_MARK + text;
  }

  /**
   * A parenthesised list: `(` item *(SP item) `)`, possibly empty when `allowEmpty`. The item
   * reader consumes one item.
   */
  list<T>(item: () => T, allowEmpty = true): T[] {
    this.expect(0x28, "(");
    const items: T[] = [];
    if (this.take(0x29)) {
      if (!allowEmpty) fault("Empty list");
      return items;
    }
    for (;;) {
      items.push(item());
      if (this.take(0x29)) return items;
      this.sp("a space or )");
    }
  }

  /**
   * A flag (RFC 3501 §9 `flag`): a system flag in canonical case, another `\` flag as written
   * (flag-extension) unless `storable`, or a keyword atom as written. `\Recent` is refused when
   * `storable` (STORE and APPEND cannot set it, RFC 3501 §2.3.2).
   */
  flag(storable: boolean): string {
    if (this.take(BACKSLASH)) {
      const name = this.atom("a flag name");
      const canonical = SYSTEM_FLAGS.get(name.toUpperCase());
      if (canonical === "\\Recent" && storable) fault("\\Recent cannot be set");
      if (canonical) return canonical;
      if (storable) fault(`Unknown system flag \\${name}`);
      return "\\" + name;
    }
    return this.atom("a flag");
  }

  /** A SEARCH date (RFC 3501 §9 `date`): `d-Mon-yyyy`, maybe quoted; returned as YYYY-MM-DD. */
  date(): string {
    const q = this.take(DQUOTE);
    const text = this.run(DATE_CHAR);
    if (q) this.expect(DQUOTE, "a closing quote after the date");
    const m = /^([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})$/.exec(text);
    const day = m ? calendarDay(Number(m[3]), m[2], Number(m[1])) : undefined;
    if (!day) fault("Invalid date (expected d-Mon-yyyy)");
    return `${day.y.toString().padStart(4, "0")}-${pad2(day.m + 1)}-${pad2(day.d)}`;
  }
}

const SYSTEM_FLAGS = new Map(
  ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent"].map((f) => [
    f.slice(1).toUpperCase(),
    f,
  ]),
);

const pad2 = (n: number) => n.toString().padStart(2, "0");

function calendarDay(
  y: number,
  mon: string,
  d: number,
): { y: number; m: number; d: number } | undefined {
  const m = MONTHS.indexOf(mon.toUpperCase());
  if (m < 0 || d < 1) return undefined;
  const date = new Date(Date.UTC(2000, m, d));
  date.setUTCFullYear(y);
  return date.getUTCMonth() === m && date.getUTCDate() === d ? { y, m, d } : undefined;
}

/** An APPEND date-time (RFC 3501 §9 `date-time`) in ms since the epoch, zone applied. */
export function parseDateTime(bytes: Uint8Array): number {
  const text = latin1Decoder.decode(bytes);
  const m =
    /^ ?([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})$/
      .exec(text);
  const day = m ? calendarDay(Number(m[3]), m[2], Number(m[1])) : undefined;
  if (!m || !day) return fault("Invalid date-time");
  const [h, mi, s, zh, zm] = [m[4], m[5], m[6], m[8], m[9]].map(Number);
  if (h > 23 || mi > 59 || s > 60 || zm > 59) fault("Invalid date-time");
  const zone = (m[7] === "-" ? -1 : 1) * (zh * 60 + zm);
  return Date.UTC(day.y, day.m, day.d, h, mi, s) - zone * 60_000;
}

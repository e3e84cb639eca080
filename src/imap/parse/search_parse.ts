/**
 * The SEARCH program parser (RFC 3501 §6.4.4, RFC 9051 §6.4.4, RFC 7162 §3.1.5 MODSEQ,
 * RFC 5032 YOUNGER/OLDER): search keys into a {@link SearchKey} tree. Nesting is bounded so
 * that a hostile line cannot exhaust the stack.
 */
import type { SearchKey } from "./command.ts";
import { decodeUtf8, fault, type Reader } from "./reader.ts";
import { MAX_NUMBER } from "./sequence_set.ts";

/** Deepest nesting of parentheses, NOT and OR accepted. */
export const MAX_SEARCH_DEPTH = 64;

/** Turns the octets of a search string into text, per the SEARCH's CHARSET. */
export type StringDecoder = (bytes: Uint8Array) => string;

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

const HEADER_KEYS = new Set(["FROM", "TO", "CC", "BCC", "SUBJECT"]);

const DATE_KEYS: Record<string, ["internal" | "sent", "before" | "on" | "since"]> = {
  BEFORE: ["internal", "before"],
  ON: ["internal", "on"],
  SINCE: ["internal", "since"],
  SENTBEFORE: ["sent", "before"],
  SENTON: ["sent", "on"],
  SENTSINCE: ["sent", "since"],
};

/** One or more search keys separated by SP, up to the end of the command: an implicit AND. */
export function readSearchProgram(r: Reader, decode: StringDecoder): SearchKey {
  const keys = [readKey(r, decode, 0)];
  while (r.take(0x20)) keys.push(readKey(r, decode, 0));
  return keys.length === 1 ? keys[0] : { op: "and", keys };
}

function readKey(r: Reader, decode: StringDecoder, depth: number): SearchKey {
  if (depth > MAX_SEARCH_DEPTH) fault("Search program nested too deeply");
  const c = r.peek();
  if (c === 0x28) {
    const keys = r.list(() => readKey(r, decode, depth + 1), false);
    return keys.length === 1 ? keys[0] : { op: "and", keys };
  }
  if ((c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x24) {
    return { op: "seq", set: r.sequenceSet() };
  }
  const name = r.word("a search key");
  const arg = () => {
    r.sp();
    return decode(r.astringBytes());
  };
  const flag = FLAG_KEYS[name];
  if (flag) return { op: "flag", flag: flag[0], set: flag[1] };
  if (HEADER_KEYS.has(name)) return { op: "header", field: name, value: arg() };
  const date = DATE_KEYS[name];
  if (date) {
    r.sp();
    return { op: "date", field: date[0], cmp: date[1], day: r.date() };
  }
  switch (name) {
    case "ALL":
      return { op: "all" };
    case "RECENT":
      return { op: "recent", set: true };
    case "OLD":
      return { op: "recent", set: false };
    case "NEW":
      // RFC 3501 §6.4.4: NEW is RECENT UNSEEN.
      return {
        op: "and",
        keys: [{ op: "recent", set: true }, { op: "flag", flag: "\\Seen", set: false }],
      };
    case "KEYWORD":
    case "UNKEYWORD":
      r.sp();
      return { op: "flag", flag: r.atom("a keyword"), set: name === "KEYWORD" };
    case "BODY":
      return { op: "body", value: arg() };
    case "TEXT":
      return { op: "text", value: arg() };
    case "HEADER": {
      r.sp();
      const field = decode(r.astringBytes()).toUpperCase();
      return { op: "header", field, value: arg() };
    }
    case "LARGER":
    case "SMALLER":
      r.sp();
      return { op: "size", cmp: name === "LARGER" ? "larger" : "smaller", n: r.number() };
    case "UID":
      r.sp();
      return { op: "uid", set: r.sequenceSet() };
    case "NOT":
      r.sp();
      return { op: "not", key: readKey(r, decode, depth + 1) };
    case "OR": {
      r.sp();
      const a = readKey(r, decode, depth + 1);
      r.sp();
      return { op: "or", a, b: readKey(r, decode, depth + 1) };
    }
    case "MODSEQ":
      return readModseq(r);
    case "YOUNGER":
    case "OLDER":
      r.sp();
      return {
        op: name === "YOUNGER" ? "younger" : "older",
        seconds: r.nzNumber(MAX_NUMBER, "a number of seconds"),
      };
    default:
      return fault(`Unknown search key ${name.slice(0, 40)}`);
  }
}

// RFC 7162 §3.1.5: "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer.
function readModseq(r: Reader): SearchKey {
  r.sp();
  if (r.atString()) {
    const name = decodeUtf8(r.string().bytes);
    r.sp();
    const type = r.word("an entry type").toLowerCase();
    if (type !== "priv" && type !== "shared" && type !== "all") fault("Invalid MODSEQ entry type");
    r.sp();
    return { op: "modseq", modSeq: r.number(), entry: { name, type } };
  }
  return { op: "modseq", modSeq: r.number() };
}

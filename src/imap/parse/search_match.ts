/**
 * The SEARCH matcher (RFC 3501 §6.4.4, RFC 9051 §6.4.4): whether one message satisfies a parsed
 * {@link SearchKey}. Pure: the caller hands in what it knows of the message, loading headers and
 * text only when {@link searchNeeds} says the program looks at them.
 *
 * Strings match as case-insensitive substrings of NFC-normalised, lower-cased text. Dates
 * compare calendar days in UTC: the internal date's UTC day, and for SENT* the day of the
 * `sentDate` given (see {@link sentDay}, which keeps the day as written in the Date: header).
 */
import type { DateCmp, SearchKey } from "./command.ts";
import { setContains } from "./sequence_set.ts";

/** What the matcher may ask of a message. */
export interface SearchTarget {
  seq: number;
  uid: number;
  /** Flags and keywords set on the message (system flags in canonical case, `\Seen`). */
  flags: readonly string[];
  /** The message is recent in this session (RFC 3501 §2.3.2). */
  recent: boolean;
  /** The internal date, ms since the epoch. */
  internalDate: number;
  /** RFC822.SIZE in octets. */
  size: number;
  modSeq: number;
  /** Decoded values of a header field (case-insensitive name), [] when absent. */
  header(name: string): string[];
  /**
   * The Date: header's day as ms at 00:00 UTC (see {@link sentDay}); undefined when absent or
   * unparsable, which matches no SENT* key.
   */
  sentDate?: number;
  /** Decoded searchable text of the header block (asked only when `searchNeeds().text`). */
  headerText(): string;
  /** Decoded searchable text of the body parts (asked only when `searchNeeds().text`). */
  bodyText(): string;
  /** The mailbox's largest sequence number, for `*`. */
  largestSeq: number;
  /** The mailbox's largest UID, for `*`. */
  largestUid: number;
}

/** Which costly parts of a message a program looks at: header fields, or the full text. */
export function searchNeeds(key: SearchKey): { header: boolean; text: boolean } {
  const needs = { header: false, text: false };
  const visit = (k: SearchKey): void => {
    switch (k.op) {
      case "and":
        k.keys.forEach(visit);
        break;
      case "or":
        visit(k.a);
        visit(k.b);
        break;
      case "not":
        visit(k.key);
        break;
      case "header":
        needs.header = true;
        break;
      case "date":
        if (k.field === "sent") needs.header = true;
        break;
      case "body":
      case "text":
        needs.text = true;
        break;
    }
  };
  visit(key);
  return needs;
}

/** Lower-cased NFC, the form both sides of a string comparison take. */
export function foldText(s: string): string {
  return s.normalize("NFC").toLowerCase();
}

/** The UTC calendar day of a time as YYYY-MM-DD. */
export function utcDay(ms: number): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear().toString().padStart(4, "0");
  return `${y}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

const pad2 = (n: number) => n.toString().padStart(2, "0");

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/**
 * The day of an RFC 5322 Date: header value as written, disregarding time and zone (RFC 3501
 * §6.4.4 SENT*), as ms at 00:00 UTC of that day; undefined when it cannot be read. Two-digit
 * years follow RFC 5322 §4.3 (00–49 → 20xx, 50–99 → 19xx).
 */
export function sentDay(dateHeader: string): number | undefined {
  const m = /(?:^|[\s,])(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})\b/.exec(dateHeader);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2].toLowerCase());
  let year = Number(m[3]);
  if (m[3].length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3].length === 3) year += 1900;
  const day = Number(m[1]);
  if (month < 0 || day < 1) return undefined;
  const ms = Date.UTC(year, month, day);
  return new Date(ms).getUTCDate() === day ? ms : undefined;
}

function compareDay(actual: string, cmp: DateCmp, day: string): boolean {
  // RFC 3501 §6.4.4: BEFORE is earlier than the day, ON within it, SINCE within or later.
  if (cmp === "before") return actual < day;
  if (cmp === "on") return actual === day;
  return actual >= day;
}

/** Whether the message satisfies the program; `now` (ms) anchors YOUNGER/OLDER. */
export function matchSearch(key: SearchKey, msg: SearchTarget, now = Date.now()): boolean {
  let folded: string | undefined;
  const allText = () => (folded ??= foldText(msg.headerText() + "\n" + msg.bodyText()));
  let foldedBody: string | undefined;
  const bodyText = () => (foldedBody ??= foldText(msg.bodyText()));
  const flags = new Set(msg.flags.map((f) => f.toLowerCase()));

  const match = (k: SearchKey): boolean => {
    switch (k.op) {
      case "and":
        return k.keys.every(match);
      case "or":
        return match(k.a) || match(k.b);
      case "not":
        return !match(k.key);
      case "all":
        return true;
      case "flag":
        // Keywords compare without regard to case, as system flags do.
        return flags.has(k.flag.toLowerCase()) === k.set;
      case "recent":
        return msg.recent === k.set;
      case "seq":
        return setContains(k.set, msg.seq, msg.largestSeq);
      case "uid":
        return setContains(k.set, msg.uid, msg.largestUid);
      case "header": {
        const values = msg.header(k.field);
        // RFC 3501 §6.4.4: HEADER with an empty string matches every message with the field.
        if (k.value === "") return values.length > 0;
        const needle = foldText(k.value);
        return values.some((v) => foldText(v).includes(needle));
      }
      case "body":
        return bodyText().includes(foldText(k.value));
      case "text":
        return allText().includes(foldText(k.value));
      case "date":
        if (k.field === "internal") return compareDay(utcDay(msg.internalDate), k.cmp, k.day);
        return msg.sentDate !== undefined && compareDay(utcDay(msg.sentDate), k.cmp, k.day);
      case "size":
        return k.cmp === "larger" ? msg.size > k.n : msg.size < k.n;
      case "modseq":
        // RFC 7162 §3.1.5: mod-sequence equal to or greater than the value.
        return msg.modSeq >= k.modSeq;
      case "younger":
        // RFC 5032 §3: internal date within the last n seconds.
        return msg.internalDate >= now - k.seconds * 1000;
      case "older":
        return msg.internalDate < now - k.seconds * 1000;
    }
  };
  return match(key);
}

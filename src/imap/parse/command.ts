/**
 * The typed IMAP commands the parser produces (RFC 3501 IMAP4rev1, RFC 9051 IMAP4rev2 and the
 * extensions fsmtp offers), and the framing shape it consumes. The session frames lines and
 * literals from the wire (see `literalAtEnd`), `parseCommand` turns them into one of these.
 */

/** A command as framed from the wire: line segments, each but the last followed by a literal. */
export interface RawCommand {
  /**
   * `lines.length === literals.length + 1`; each line excludes its CRLF, and a line followed by
   * a literal still ends with its `{N}` / `{N+}` / `~{N}` marker text.
   */
  lines: Uint8Array[];
  /** The literal octets that followed `lines[i]`. */
  literals: Uint8Array[];
}

/** Parser options that depend on the session's state. */
export interface ParseOptions {
  /**
   * UTF8=ACCEPT (RFC 6855) or IMAP4rev2 (RFC 9051) is enabled: mailbox names are UTF-8 rather
   * than modified UTF-7, and quoted strings may hold 8-bit UTF-8.
   */
  utf8: boolean;
}

/** A command that could not be parsed: the session replies `tag BAD message` (or `* BAD`). */
export interface ParseFailure {
  /** The tag, when one could be read. */
  tag?: string;
  message: string;
}

/**
 * A set of message sequence numbers or UIDs (RFC 3501 §9 `sequence-set`). Each range is
 * `[from, to]` as the client wrote it (not ordered); `*` is encoded as {@link STAR} (0), which can
 * never be a real number since zero is refused. A single number `n` is `[n, n]`. Resolve with
 * `expandSet`, `resolveSet` or `setContains` from `sequence_set.ts`.
 */
export interface SequenceSet {
  ranges: Array<[number, number]>;
}

/** The encoding of `*` (the largest number in use) in a {@link SequenceSet}. */
export const STAR = 0;

/** A body section specifier (RFC 3501 §6.4.5 `section-spec`). */
export interface Section {
  /** The part path (`1.2` → [1, 2]); empty for the whole message. */
  part: number[];
  /** The text specifier; `MIME` only with a part number. Absent: the whole part. */
  text?: "HEADER" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT" | "TEXT" | "MIME";
  /** The header field names of HEADER.FIELDS[.NOT], upper-cased. */
  fields?: string[];
}

/** A partial fetch `<offset.length>` (RFC 3501 §6.4.5). */
export interface PartialRange {
  offset: number;
  length: number;
}

/** The plain FETCH data items (no section). */
export type SimpleFetchKind =
  | "FLAGS"
  | "INTERNALDATE"
  | "RFC822.SIZE"
  | "ENVELOPE"
  | "BODYSTRUCTURE"
  | "BODY"
  | "UID"
  | "MODSEQ"
  | "RFC822"
  | "RFC822.HEADER"
  | "RFC822.TEXT";

/** One FETCH data item (RFC 3501 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ). */
export type FetchItem =
  | { kind: SimpleFetchKind }
  | { kind: "BODY[]"; section: Section; peek: boolean; partial?: PartialRange }
  | { kind: "BINARY"; part: number[]; peek: boolean; partial?: PartialRange }
  | { kind: "BINARY.SIZE"; part: number[] };

/** Comparison of a SEARCH date key (RFC 3501 §6.4.4). */
export type DateCmp = "before" | "on" | "since";

/**
 * A SEARCH program (RFC 3501 §6.4.4, RFC 9051 §6.4.4, RFC 7162 §3.1.5 MODSEQ, RFC 5032 WITHIN).
 * FROM/TO/CC/BCC/SUBJECT become `header`; NEW becomes `and(recent, not seen)`; OLD is
 * `recent` with `set: false`; system flag names are canonical (`\Seen`), keywords as given.
 */
export type SearchKey =
  | { op: "and"; keys: SearchKey[] }
  | { op: "or"; a: SearchKey; b: SearchKey }
  | { op: "not"; key: SearchKey }
  | { op: "all" }
  | { op: "flag"; flag: string; set: boolean }
  | { op: "recent"; set: boolean }
  | { op: "seq"; set: SequenceSet }
  | { op: "uid"; set: SequenceSet }
  | { op: "header"; field: string; value: string }
  | { op: "body"; value: string }
  | { op: "text"; value: string }
  | { op: "date"; field: "internal" | "sent"; cmp: DateCmp; day: string }
  | { op: "size"; cmp: "larger" | "smaller"; n: number }
  | { op: "modseq"; modSeq: number; entry?: { name: string; type: "priv" | "shared" | "all" } }
  | { op: "younger" | "older"; seconds: number };

/** The ESEARCH return options (RFC 4731 §3.1). */
export type SearchReturn = "MIN" | "MAX" | "ALL" | "COUNT" | "SAVE";

/** One message of an APPEND (RFC 3501 §6.3.11, RFC 3502 MULTIAPPEND). */
export interface AppendMessage {
  flags?: string[];
  /** The date-time given, in ms since the epoch. */
  date?: number;
  message: Uint8Array;
  /** The message came as a literal8 (RFC 3516 §4.4). */
  binary: boolean;
}

/** A SORT key (RFC 5256 §3, RFC 5957 DISPLAYFROM/DISPLAYTO). */
export type SortKeyName =
  | "ARRIVAL"
  | "CC"
  | "DATE"
  | "FROM"
  | "SIZE"
  | "SUBJECT"
  | "TO"
  | "DISPLAYFROM"
  | "DISPLAYTO";

/** One SORT criterion: a key, possibly preceded by REVERSE. */
export interface SortCriterion {
  key: SortKeyName;
  reverse: boolean;
}

/** The ESORT return options (RFC 5267 §3.1); SAVE and PARTIAL are not offered. */
export type SortReturn = "MIN" | "MAX" | "ALL" | "COUNT";

/** A THREAD algorithm (RFC 5256 §3). */
export type ThreadAlgorithm = "ORDEREDSUBJECT" | "REFERENCES";

/** QRESYNC select parameters (RFC 7162 §3.2.5). */
export interface QresyncParams {
  uidValidity: number;
  modSeq: number;
  knownUids?: SequenceSet;
  seqMatch?: { seqs: SequenceSet; uids: SequenceSet };
}

/** The LIST RETURN options (RFC 5258 §3.2, RFC 5819, RFC 6154). */
export interface ListReturns {
  subscribed: boolean;
  children: boolean;
  specialUse: boolean;
  /** LIST-STATUS (RFC 5819): the STATUS items asked, upper-cased. */
  status?: string[];
}

/** A quota limit of SETQUOTA (RFC 9208 §4.2). */
export interface QuotaLimit {
  /** The resource name, upper-cased (STORAGE, MESSAGE, ...). */
  resource: string;
  limit: number;
}

type Tagged<N extends string, T = unknown> = { tag: string; name: N } & T;

/** Commands without arguments. */
export type NoArgCommandName =
  | "CAPABILITY"
  | "NOOP"
  | "LOGOUT"
  | "STARTTLS"
  | "CHECK"
  | "CLOSE"
  | "UNSELECT"
  | "IDLE"
  | "NAMESPACE";

/** A parsed IMAP command: a union discriminated on `name`. */
export type ImapCommand =
  | { [N in NoArgCommandName]: Tagged<N> }[NoArgCommandName]
  | Tagged<"LOGIN", { user: string; password: string }>
  | Tagged<"AUTHENTICATE", { mechanism: string; initialResponse?: string }>
  | Tagged<
    "SELECT" | "EXAMINE",
    { mailbox: string; condstore: boolean; qresync?: QresyncParams }
  >
  | Tagged<"CREATE", { mailbox: string; specialUse?: string[] }>
  | Tagged<"DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE", { mailbox: string }>
  | Tagged<"RENAME", { from: string; to: string }>
  | Tagged<"LIST", {
    reference: string;
    patterns: string[];
    /** Selection options, upper-cased: SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE. */
    selection: string[];
    returns: ListReturns;
    /** The client used extended LIST syntax (RFC 5258 §3). */
    extended: boolean;
  }>
  | Tagged<"LSUB", { reference: string; pattern: string }>
  | Tagged<"STATUS", { mailbox: string; items: string[] }>
  /** APPEND; several messages in one command with MULTIAPPEND (RFC 3502 §6.3.11). */
  | Tagged<"APPEND", { mailbox: string; messages: AppendMessage[] }>
  | Tagged<"SEARCH", {
    uid: boolean;
    charset?: string;
    /** ESEARCH return options (RFC 4731); `RETURN ()` gives ["ALL"]. */
    returns?: SearchReturn[];
    program: SearchKey;
  }>
  /** SORT and UID SORT (RFC 5256 §3), with ESORT return options (RFC 5267 §3). */
  | Tagged<"SORT", {
    uid: boolean;
    criteria: SortCriterion[];
    charset: string;
    /** ESORT return options; `RETURN ()` gives ["ALL"]. */
    returns?: SortReturn[];
    program: SearchKey;
  }>
  /** THREAD and UID THREAD (RFC 5256 §3). */
  | Tagged<
    "THREAD",
    { uid: boolean; algorithm: ThreadAlgorithm; charset: string; program: SearchKey }
  >
  | Tagged<"FETCH", {
    uid: boolean;
    set: SequenceSet;
    items: FetchItem[];
    changedSince?: number;
    vanished: boolean;
  }>
  | Tagged<"STORE", {
    uid: boolean;
    set: SequenceSet;
    mode: "add" | "remove" | "replace";
    silent: boolean;
    flags: string[];
    unchangedSince?: number;
  }>
  | Tagged<"COPY" | "MOVE", { uid: boolean; set: SequenceSet; mailbox: string }>
  /** EXPUNGE, or UID EXPUNGE (RFC 4315 §2.1, RFC 9051 §6.4.9) with its set. */
  | Tagged<"EXPUNGE", { uid: false } | { uid: true; set: SequenceSet }>
  | Tagged<"ENABLE", { capabilities: string[] }>
  | Tagged<"ID", { params: Record<string, string | null> | null }>
  | Tagged<"GETQUOTA", { root: string }>
  | Tagged<"GETQUOTAROOT", { mailbox: string }>
  | Tagged<"SETQUOTA", { root: string; limits: QuotaLimit[] }>
  | Tagged<"COMPRESS", { mechanism: string }>;

/** Every command name the parser knows. */
export type ImapCommandName = ImapCommand["name"];

/** Narrows a parse result to a failure. */
export function isParseFailure(r: ImapCommand | ParseFailure): r is ParseFailure {
  return !("name" in r);
}

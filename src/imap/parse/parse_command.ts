/**
 * The IMAP command parser (RFC 3501 §6 and §9, RFC 9051, and the extensions fsmtp offers):
 * framed lines and literals in, a typed {@link ImapCommand} or a {@link ParseFailure} out. Pure.
 */
import type {
  AppendMessage,
  ImapCommand,
  ListReturns,
  NoArgCommandName,
  ParseFailure,
  ParseOptions,
  QresyncParams,
  QuotaLimit,
  RawCommand,
  SearchReturn,
} from "./command.ts";
import { readFetchItems } from "./fetch_items.ts";
import { ASTRING, decodeUtf8, fault, parseDateTime, Reader, SyntaxFault } from "./reader.ts";
import { readSearchProgram, type StringDecoder } from "./search_parse.ts";
import { MAX_NUMBER } from "./sequence_set.ts";
import { readSort, readThread } from "./sort_parse.ts";

/** The literal marker at the end of a line (RFC 3501 §4.3, RFC 7888 LITERAL+, RFC 3516). */
export interface LiteralMarker {
  /** The number of octets that follow. */
  size: number;
  /** `{N}`: the server must send "+ " before the client sends the octets. */
  sync: boolean;
  /** `~{N}`: a literal8, which may hold NUL. */
  binary: boolean;
}

/**
 * Whether the line (without CRLF) ends with a literal marker `{N}`, `{N+}` or `~{N}`;
 * "bad" for a malformed one (`{}`, `{1+2}`) or a size beyond 2^53.
 */
export function literalAtEnd(line: Uint8Array): LiteralMarker | "bad" | undefined {
  const end = line.length - 1;
  if (end < 0 || line[end] !== 0x7d) return undefined;
  let p = end - 1;
  while (p >= 0 && ((line[p] >= 0x30 && line[p] <= 0x39) || line[p] === 0x2b)) p--;
  if (p < 0 || line[p] !== 0x7b) return undefined;
  const text = new TextDecoder().decode(line.subarray(p + 1, end));
  const m = /^([0-9]+)(\+?)$/.exec(text);
  if (!m) return "bad";
  const size = m[1].length > 16 ? Infinity : Number(m[1]);
  if (size > Number.MAX_SAFE_INTEGER) return "bad";
  return { size, sync: m[2] === "", binary: p > 0 && line[p - 1] === 0x7e };
}

type Args = { r: Reader; tag: string; uid: boolean };
type CommandParser = (a: Args) => ImapCommand;

const UID_COMMANDS = new Set([
  "FETCH",
  "STORE",
  "COPY",
  "MOVE",
  "SEARCH",
  "EXPUNGE",
  "SORT",
  "THREAD",
]);

// RFC 3501 §9: tag = 1*<any ASTRING-CHAR except "+">.
const TAG_CHAR = ASTRING.map((v, c) => (c === 0x2b ? 0 : v));

/** Parses one framed command. */
export function parseCommand(raw: RawCommand, opts: ParseOptions): ImapCommand | ParseFailure {
  let tag: string | undefined;
  try {
    const r = new Reader(raw, opts.utf8);
    const t = r.run(TAG_CHAR);
    if (t === "") fault("Missing or invalid tag");
    if (r.peek() !== 0x20) fault(r.done() ? "Missing command" : "Invalid tag");
    tag = t;
    r.sp();
    let name = r.word("a command name");
    let uid = false;
    if (name === "UID") {
      r.sp("a space after UID");
      name = r.word("a command name");
      if (!UID_COMMANDS.has(name)) fault(`UID ${name.slice(0, 20)} is not a command`);
      uid = true;
    }
    const parser = Object.hasOwn(PARSERS, name) ? PARSERS[name] : undefined;
    if (!parser) fault("Unknown command");
    const command = parser({ r, tag, uid });
    r.end();
    return command;
  } catch (e) {
    if (!(e instanceof SyntaxFault)) throw e;
    return tag === undefined ? { message: e.message } : { tag, message: e.message };
  }
}

const noArgs = (name: NoArgCommandName): CommandParser => ({ tag }) => ({ tag, name });

const STATUS_ITEMS = new Set([
  "MESSAGES",
  "UIDNEXT",
  "UIDVALIDITY",
  "UNSEEN",
  "RECENT",
  "HIGHESTMODSEQ",
  "SIZE",
  "DELETED",
  "APPENDLIMIT",
]);

function statusItem(r: Reader): string {
  const item = r.word("a status item");
  if (!STATUS_ITEMS.has(item)) fault(`Unknown status item ${item.slice(0, 30)}`);
  return item;
}

function select(name: "SELECT" | "EXAMINE"): CommandParser {
  return ({ r, tag }) => {
    r.sp();
    const mailbox = r.mailbox();
    let condstore = false;
    let qresync: QresyncParams | undefined;
    // RFC 4466 §2.1 select-params; RFC 7162 §3.1.8 CONDSTORE and §3.2.5 QRESYNC.
    if (r.take(0x20)) {
      r.list(() => {
        const param = r.word("a select parameter");
        if (param === "CONDSTORE") condstore = true;
        else if (param === "QRESYNC") qresync = readQresync(r);
        else fault(`Unknown select parameter ${param.slice(0, 30)}`);
      });
    }
    return qresync ? { tag, name, mailbox, condstore, qresync } : { tag, name, mailbox, condstore };
  };
}

function readQresync(r: Reader): QresyncParams {
  r.sp();
  r.expect(0x28, "(");
  const uidValidity = r.nzNumber(MAX_NUMBER, "a UIDVALIDITY");
  r.sp();
  const params: QresyncParams = { uidValidity, modSeq: r.nzNumber(undefined, "a mod-sequence") };
  if (r.take(0x20) && r.peek() !== 0x28) {
    params.knownUids = r.sequenceSet();
    if (!r.take(0x20)) {
      r.expect(0x29, ")");
      return params;
    }
  }
  if (r.peek() === 0x28) {
    r.take(0x28);
    const seqs = r.sequenceSet();
    r.sp();
    const uids = r.sequenceSet();
    r.expect(0x29, ") after the sequence match data");
    params.seqMatch = { seqs, uids };
  }
  r.expect(0x29, ") closing QRESYNC");
  return params;
}

const SELECTION_OPTIONS = new Set(["SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"]);

// RFC 5258 §3, RFC 5819, RFC 6154 §5.
const list: CommandParser = ({ r, tag }) => {
  r.sp();
  let extended = false;
  let selection: string[] = [];
  if (r.peek() === 0x28) {
    extended = true;
    selection = r.list(() => {
      const opt = r.word("a selection option");
      if (!SELECTION_OPTIONS.has(opt)) fault(`Unknown LIST selection option ${opt.slice(0, 30)}`);
      return opt;
    });
    // RFC 5258 §3.1: RECURSIVEMATCH only modifies another option.
    if (
      selection.includes("RECURSIVEMATCH") &&
      !selection.some((o) => o !== "RECURSIVEMATCH" && o !== "REMOTE")
    ) {
      fault("RECURSIVEMATCH needs another selection option");
    }
    r.sp();
  }
  const reference = r.listMailbox();
  r.sp();
  let patterns: string[];
  if (r.peek() === 0x28) {
    extended = true;
    patterns = r.list(() => r.listMailbox(), false);
  } else {
    patterns = [r.listMailbox()];
  }
  const returns: ListReturns = { subscribed: false, children: false, specialUse: false };
  if (r.take(0x20)) {
    if (!r.keyword("RETURN")) fault("Expected RETURN");
    extended = true;
    r.sp();
    r.list(() => {
      const opt = r.word("a return option");
      if (opt === "SUBSCRIBED") returns.subscribed = true;
      else if (opt === "CHILDREN") returns.children = true;
      else if (opt === "SPECIAL-USE") returns.specialUse = true;
      else if (opt === "STATUS") {
        r.sp();
        returns.status = r.list(() => statusItem(r), false);
      } else fault(`Unknown LIST return option ${opt.slice(0, 30)}`);
    });
  }
  return { tag, name: "LIST", reference, patterns, selection, returns, extended };
};

const SEARCH_RETURNS = new Set<string>(["MIN", "MAX", "ALL", "COUNT", "SAVE"]);

function searchDecoder(charset: string | undefined): StringDecoder {
  const label = charset?.toUpperCase();
  if (label === undefined || label === "UTF-8" || label === "US-ASCII") return decodeUtf8;
  // Another charset is refused by the session ([BADCHARSET]); decode leniently till then.
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label);
  } catch {
    decoder = new TextDecoder("latin1");
  }
  return (bytes) => decoder.decode(bytes);
}

// RFC 3501 §6.4.4, RFC 4731 §3.1 (ESEARCH RETURN), RFC 5182 SAVE.
const search: CommandParser = ({ r, tag, uid }) => {
  r.sp();
  let returns: SearchReturn[] | undefined;
  let charset: string | undefined;
  if (r.keyword("RETURN")) {
    r.sp();
    returns = r.list(() => {
      const opt = r.word("a return option");
      if (!SEARCH_RETURNS.has(opt)) fault(`Unknown SEARCH return option ${opt.slice(0, 30)}`);
      return opt as SearchReturn;
    });
    // RFC 4731 §3.1: RETURN () means RETURN (ALL).
    if (returns.length === 0) returns = ["ALL"];
    r.sp();
  }
  if (r.keyword("CHARSET")) {
    r.sp();
    charset = r.astring();
    r.sp();
  }
  const program = readSearchProgram(r, searchDecoder(charset));
  const command: ImapCommand = { tag, name: "SEARCH", uid, program };
  if (charset !== undefined) command.charset = charset;
  if (returns !== undefined) command.returns = returns;
  return command;
};

// RFC 3501 §6.4.5; RFC 7162 §3.1.4 CHANGEDSINCE and §3.2.6 VANISHED.
const fetch: CommandParser = ({ r, tag, uid }) => {
  r.sp();
  const set = r.sequenceSet();
  r.sp();
  const items = readFetchItems(r);
  let changedSince: number | undefined;
  let vanished = false;
  if (r.take(0x20)) {
    r.list(() => {
      const mod = r.word("a FETCH modifier");
      if (mod === "CHANGEDSINCE") {
        r.sp();
        changedSince = r.number(undefined, "a mod-sequence");
      } else if (mod === "VANISHED") vanished = true;
      else fault(`Unknown FETCH modifier ${mod.slice(0, 30)}`);
    }, false);
  }
  if (vanished && (!uid || changedSince === undefined)) {
    fault("VANISHED needs UID FETCH with CHANGEDSINCE");
  }
  return changedSince === undefined
    ? { tag, name: "FETCH", uid, set, items, vanished }
    : { tag, name: "FETCH", uid, set, items, changedSince, vanished };
};

// RFC 3501 §6.4.6; RFC 7162 §3.1.3 UNCHANGEDSINCE.
const store: CommandParser = ({ r, tag, uid }) => {
  r.sp();
  const set = r.sequenceSet();
  r.sp();
  let unchangedSince: number | undefined;
  if (r.peek() === 0x28) {
    r.list(() => {
      const mod = r.word("a STORE modifier");
      if (mod !== "UNCHANGEDSINCE") fault(`Unknown STORE modifier ${mod.slice(0, 30)}`);
      r.sp();
      unchangedSince = r.number(undefined, "a mod-sequence");
    }, false);
    r.sp();
  }
  const mode = r.take(0x2b) ? "add" : r.take(0x2d) ? "remove" : "replace";
  const item = r.word("FLAGS");
  if (item !== "FLAGS" && item !== "FLAGS.SILENT") fault("Expected FLAGS or FLAGS.SILENT");
  r.sp();
  let flags: string[];
  if (r.peek() === 0x28) {
    flags = r.list(() => r.flag(true));
  } else {
    flags = [r.flag(true)];
    while (r.take(0x20)) flags.push(r.flag(true));
  }
  const silent = item === "FLAGS.SILENT";
  return unchangedSince === undefined
    ? { tag, name: "STORE", uid, set, mode, silent, flags }
    : { tag, name: "STORE", uid, set, mode, silent, flags, unchangedSince };
};

// RFC 3501 §6.3.11; RFC 3516 §4.4 literal8; RFC 3502 §6.3.11: MULTIAPPEND repeats
// SP [flag-list SP] [date-time SP] literal.
const append: CommandParser = ({ r, tag }) => {
  r.sp();
  const mailbox = r.mailbox();
  const messages: AppendMessage[] = [];
  do {
    r.sp();
    messages.push(appendMessage(r));
  } while (!r.done());
  return { tag, name: "APPEND", mailbox, messages };
};

function appendMessage(r: Reader): AppendMessage {
  let flags: string[] | undefined;
  let date: number | undefined;
  if (r.peek() === 0x28) {
    flags = r.list(() => r.flag(true));
    r.sp();
  }
  if (r.peek() === 0x22) {
    const text = r.string().bytes;
    if (r.done()) fault("APPEND needs the message as a literal");
    date = parseDateTime(text);
    r.sp();
  }
  if (r.peek() === 0x22 || !r.atString()) fault("APPEND needs the message as a literal");
  const { bytes: message, binary } = r.string({ allowBinary: true });
  const one: AppendMessage = { message, binary };
  if (flags) one.flags = flags;
  if (date !== undefined) one.date = date;
  return one;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const PARSERS: Record<string, CommandParser> = {
  CAPABILITY: noArgs("CAPABILITY"),
  NOOP: noArgs("NOOP"),
  LOGOUT: noArgs("LOGOUT"),
  STARTTLS: noArgs("STARTTLS"),
  CHECK: noArgs("CHECK"),
  CLOSE: noArgs("CLOSE"),
  UNSELECT: noArgs("UNSELECT"),
  IDLE: noArgs("IDLE"),
  NAMESPACE: noArgs("NAMESPACE"),
  EXPUNGE: ({ r, tag, uid }) => {
    if (!uid) return { tag, name: "EXPUNGE", uid };
    r.sp();
    return { tag, name: "EXPUNGE", uid, set: r.sequenceSet() };
  },
  LOGIN: ({ r, tag }) => {
    // 8-bit in a quoted password is tolerated: clients send UTF-8 passwords that way, and the
    // password is what unlocks the user's key.
    r.sp();
    const user = r.astring(true);
    r.sp();
    return { tag, name: "LOGIN", user, password: r.astring(true) };
  },
  AUTHENTICATE: ({ r, tag }) => {
    r.sp();
    const mechanism = r.word("a SASL mechanism");
    if (!r.take(0x20)) return { tag, name: "AUTHENTICATE", mechanism };
    // RFC 4959 §3: "=" is an empty initial response.
    const ir = r.atom("an initial response");
    if (ir !== "=" && !BASE64.test(ir)) fault("The initial response is not base64");
    return { tag, name: "AUTHENTICATE", mechanism, initialResponse: ir === "=" ? "" : ir };
  },
  SELECT: select("SELECT"),
  EXAMINE: select("EXAMINE"),
  CREATE: ({ r, tag }) => {
    r.sp();
    const mailbox = r.mailbox();
    if (!r.take(0x20)) return { tag, name: "CREATE", mailbox };
    // RFC 6154 §3: CREATE name (USE (\Sent ...)); names are checked by the session.
    let specialUse: string[] = [];
    r.list(() => {
      if (!r.keyword("USE")) fault("Expected USE");
      r.sp();
      specialUse = r.list(() => {
        r.expect(0x5c, "a special-use attribute");
        const attr = r.atom("a special-use attribute");
        return "\\" + attr[0].toUpperCase() + attr.slice(1).toLowerCase();
      }, false);
    }, false);
    return { tag, name: "CREATE", mailbox, specialUse };
  },
  DELETE: ({ r, tag }) => (r.sp(), { tag, name: "DELETE", mailbox: r.mailbox() }),
  SUBSCRIBE: ({ r, tag }) => (r.sp(), { tag, name: "SUBSCRIBE", mailbox: r.mailbox() }),
  UNSUBSCRIBE: ({ r, tag }) => (r.sp(), { tag, name: "UNSUBSCRIBE", mailbox: r.mailbox() }),
  RENAME: ({ r, tag }) => {
    r.sp();
    const from = r.mailbox();
    r.sp();
    return { tag, name: "RENAME", from, to: r.mailbox() };
  },
  LIST: list,
  LSUB: ({ r, tag }) => {
    r.sp();
    const reference = r.listMailbox();
    r.sp();
    return { tag, name: "LSUB", reference, pattern: r.listMailbox() };
  },
  STATUS: ({ r, tag }) => {
    r.sp();
    const mailbox = r.mailbox();
    r.sp();
    return { tag, name: "STATUS", mailbox, items: r.list(() => statusItem(r), false) };
  },
  APPEND: append,
  SEARCH: search,
  SORT: ({ r, tag, uid }) => readSort(r, tag, uid, searchDecoder),
  THREAD: ({ r, tag, uid }) => readThread(r, tag, uid, searchDecoder),
  FETCH: fetch,
  STORE: store,
  COPY: ({ r, tag, uid }) => {
    r.sp();
    const set = r.sequenceSet();
    r.sp();
    return { tag, name: "COPY", uid, set, mailbox: r.mailbox() };
  },
  MOVE: ({ r, tag, uid }) => {
    r.sp();
    const set = r.sequenceSet();
    r.sp();
    return { tag, name: "MOVE", uid, set, mailbox: r.mailbox() };
  },
  ENABLE: ({ r, tag }) => {
    // RFC 5161 §3.1: ENABLE 1*(SP capability).
    const capabilities: string[] = [];
    do {
      r.sp();
      capabilities.push(r.word("a capability"));
    } while (!r.done());
    return { tag, name: "ENABLE", capabilities };
  },
  ID: ({ r, tag }) => {
    // RFC 2971 §3.3: "(" field value ... ")" or NIL.
    r.sp();
    if (r.keyword("NIL")) return { tag, name: "ID", params: null };
    const params: Record<string, string | null> = {};
    r.list(() => {
      const field = decodeUtf8(r.string().bytes);
      r.sp();
      params[field] = r.nstring();
    });
    return { tag, name: "ID", params };
  },
  GETQUOTA: ({ r, tag }) => (r.sp(), { tag, name: "GETQUOTA", root: r.astring() }),
  GETQUOTAROOT: ({ r, tag }) => (r.sp(), { tag, name: "GETQUOTAROOT", mailbox: r.mailbox() }),
  SETQUOTA: ({ r, tag }) => {
    // RFC 9208 §4.2: SETQUOTA root (resource limit ...).
    r.sp();
    const root = r.astring();
    r.sp();
    const limits: QuotaLimit[] = r.list(() => {
      const resource = r.word("a quota resource");
      r.sp();
      return { resource, limit: r.number(undefined, "a quota limit") };
    });
    return { tag, name: "SETQUOTA", root, limits };
  },
  COMPRESS: ({ r, tag }) => (r.sp(), { tag, name: "COMPRESS", mechanism: r.word("a mechanism") }),
};

/**
 * Pure parser of POP3 command lines (RFC 1939 §3, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034
 * AUTH). Bytes in, a typed command or the `-ERR` text for a malformed one out.
 */

/** A parsed command. */
export type Pop3Command =
  | { verb: "USER"; name: string }
  | { verb: "PASS"; password: string }
  | { verb: "AUTH"; mechanism?: string; initial?: string }
  | { [V in "LIST" | "UIDL"]: { verb: V; msg?: number } }["LIST" | "UIDL"]
  | { [V in "RETR" | "DELE"]: { verb: V; msg: number } }["RETR" | "DELE"]
  | { verb: "TOP"; msg: number; lines: number }
  | { [V in NoArgVerb]: { verb: V } }[NoArgVerb];

type NoArgVerb = "APOP" | "CAPA" | "STLS" | "STAT" | "RSET" | "NOOP" | "QUIT";

/** Every verb this server knows. */
export type Pop3Verb = Pop3Command["verb"];

/** A refusal: the text after `-ERR `. */
export interface ParseError {
  error: string;
}

type ArgParser = (args: string[], rest: string) => Pop3Command | ParseError;

// RFC 1939 §3: a message-number is a positive decimal; keep it to a sane width.
const MSG = /^[1-9]\d{0,8}$/;

const none = (verb: Exclude<NoArgVerb, "APOP">): ArgParser => (args) =>
  args.length === 0 ? { verb } : { error: `${verb} takes no arguments` };

const optionalMsg = (verb: "LIST" | "UIDL"): ArgParser => (args) => {
  if (args.length === 0) return { verb };
  if (args.length === 1 && MSG.test(args[0])) return { verb, msg: Number(args[0]) };
  return { error: `Syntax: ${verb} [message-number]` };
};

const requiredMsg = (verb: "RETR" | "DELE"): ArgParser => (args) =>
  args.length === 1 && MSG.test(args[0])
    ? { verb, msg: Number(args[0]) }
    : { error: `Syntax: ${verb} message-number` };

const PARSERS: Record<Pop3Verb, ArgParser> = {
  USER: (args, rest) =>
    args.length >= 1 && rest.length <= 255
      ? { verb: "USER", name: rest }
      : { error: "Syntax: USER name" },
  // The password is the rest of the line: passwords may hold spaces.
  PASS: (_args, rest) =>
    rest !== "" ? { verb: "PASS", password: rest } : { error: "Syntax: PASS password" },
  AUTH: (args) => {
    if (args.length > 2) return { error: "Syntax: AUTH mechanism [initial-response]" };
    return { verb: "AUTH", mechanism: args[0]?.toUpperCase(), initial: args[1] };
  },
  APOP: () => ({ verb: "APOP" }),
  CAPA: none("CAPA"),
  STLS: none("STLS"),
  STAT: none("STAT"),
  RSET: none("RSET"),
  NOOP: none("NOOP"),
  QUIT: none("QUIT"),
  LIST: optionalMsg("LIST"),
  UIDL: optionalMsg("UIDL"),
  RETR: requiredMsg("RETR"),
  DELE: requiredMsg("DELE"),
  TOP: (args) =>
    args.length === 2 && MSG.test(args[0]) && /^\d{1,9}$/.test(args[1])
      ? { verb: "TOP", msg: Number(args[0]), lines: Number(args[1]) }
      : { error: "Syntax: TOP message-number lines" },
};

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Parses one command line (without its CRLF). */
export function parsePop3Command(line: Uint8Array): Pop3Command | ParseError {
  let text: string;
  try {
    text = decoder.decode(line);
  } catch {
    return { error: "Command is not UTF-8 text" };
  }
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(text)) return { error: "Command holds control characters" };
  const space = text.indexOf(" ");
  const keyword = (space < 0 ? text : text.slice(0, space)).toUpperCase();
  const rest = space < 0 ? "" : text.slice(space + 1);
  if (!Object.hasOwn(PARSERS, keyword)) return { error: "Unknown command" };
  const args = rest.split(" ").filter((a) => a !== "");
  return PARSERS[keyword as Pop3Verb](args, keyword === "PASS" ? rest : rest.trim());
}

/** True when a parse result is an error rather than a command. */
export function isParseError(r: Pop3Command | ParseError): r is ParseError {
  return "error" in r;
}

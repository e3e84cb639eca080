/**
 * Pure parser of SMTP command lines (RFC 5321 §4.1.1, RFC 1869 parameters, RFC 3030 BDAT,
 * RFC 3207 STARTTLS). Bytes in, a typed command or the reply for a malformed one out.
 */
import { parsePath, type Path } from "./parse_path.ts";
import { Replies, type Reply } from "./reply.ts";

/** ESMTP parameters of MAIL/RCPT, keyword upper-cased (RFC 5321 §4.1.2 esmtp-param). */
export type Params = Map<string, string | undefined>;

/** A parsed command. */
export type Command =
  | { [V in "EHLO" | "HELO"]: { verb: V; domain: string } }["EHLO" | "HELO"]
  | { verb: "MAIL"; path: Path; params: Params }
  | { verb: "RCPT"; path: Path; params: Params }
  | { verb: "BDAT"; size: number; last: boolean }
  | { [V in TextVerb]: { verb: V; argument: string } }[TextVerb]
  | { [V in NoArgVerb]: { verb: V } }[NoArgVerb];

type TextVerb = "VRFY" | "EXPN" | "HELP" | "AUTH";
type NoArgVerb = "DATA" | "RSET" | "NOOP" | "QUIT" | "STARTTLS";

/** Every verb this server knows. */
export type Verb = Command["verb"];

type ArgParser = (args: string) => Command | Reply;

const noArgs = (verb: "DATA" | "RSET" | "STARTTLS" | "QUIT"): ArgParser => (args) =>
  args === "" ? { verb } : Replies.syntax(`${verb} takes no arguments`);

const freeText = (verb: "VRFY" | "EXPN" | "HELP" | "AUTH"): ArgParser => (args) => ({
  verb,
  argument: args,
});

const hello = (verb: "EHLO" | "HELO"): ArgParser => (args) => {
  // Accept any printable token: real clients send underscores and bare hostnames, and the name
  // is only recorded (RFC 5321 §4.1.4 forbids refusing mail over a mismatched EHLO name).
  const domain = args.trim();
  if (domain === "" || /\s/.test(domain)) return Replies.syntax(`${verb} requires one domain`);
  return { verb, domain };
};

const transactionPath = (verb: "MAIL" | "RCPT", prefix: RegExp): ArgParser => (args) => {
  const m = prefix.exec(args);
  if (!m) return Replies.syntax(`Syntax: ${verb} ${verb === "MAIL" ? "FROM" : "TO"}:<address>`);
  // Tolerate one space after the colon, which many clients send.
  const rest = args.slice(m[0].length).replace(/^ /, "");
  const parsed = parsePath(rest, { allowNull: verb === "MAIL", allowPostmaster: verb === "RCPT" });
  if ("error" in parsed) return Replies.syntax(parsed.error);
  const params = parseParams(parsed.rest);
  if (typeof params === "string") return Replies.syntax(params);
  return { verb, path: parsed.path, params };
};

const bdat: ArgParser = (args) => {
  const m = /^(\d{1,15})( +LAST)?$/i.exec(args);
  if (!m) return Replies.syntax("Syntax: BDAT <size> [LAST]");
  return { verb: "BDAT", size: Number(m[1]), last: m[2] !== undefined };
};

const PARSERS: Record<Verb, ArgParser> = {
  EHLO: hello("EHLO"),
  HELO: hello("HELO"),
  MAIL: transactionPath("MAIL", /^FROM:/i),
  RCPT: transactionPath("RCPT", /^TO:/i),
  BDAT: bdat,
  DATA: noArgs("DATA"),
  RSET: noArgs("RSET"),
  STARTTLS: noArgs("STARTTLS"),
  QUIT: noArgs("QUIT"),
  // RFC 5321 §4.1.1.9: NOOP may carry a string, which is ignored.
  NOOP: () => ({ verb: "NOOP" }),
  VRFY: freeText("VRFY"),
  EXPN: freeText("EXPN"),
  HELP: freeText("HELP"),
  AUTH: freeText("AUTH"),
};

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Parses one command line (without its CRLF). */
export function parseCommand(line: Uint8Array): Command | Reply {
  let text: string;
  try {
    text = decoder.decode(line);
  } catch {
    return Replies.syntaxErrorBinary;
  }
  // Control characters have no place in a command line (RFC 5321 §4.1.1 uses printable text).
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(text)) return Replies.syntaxErrorBinary;
  const space = text.indexOf(" ");
  const word = (space < 0 ? text : text.slice(0, space)).toUpperCase();
  const args = space < 0 ? "" : text.slice(space + 1).trimEnd();
  if (!Object.hasOwn(PARSERS, word)) return Replies.unknownCommand;
  return PARSERS[word as Verb](args);
}

/** Parses ` KEY[=VALUE] KEY2…`; returns an error message when malformed. */
export function parseParams(text: string): Params | string {
  const params: Params = new Map();
  for (const item of text.split(" ")) {
    if (item === "") continue;
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\x21-\x3c\x3e-\x7e\u0080-\u{10FFFF}]+))?$/u.exec(
      item,
    );
    if (!m) return `Malformed parameter ${JSON.stringify(item.slice(0, 40))}`;
    const key = m[1].toUpperCase();
    if (params.has(key)) return `Parameter ${key} given twice`;
    params.set(key, m[2]);
  }
  return params;
}

/** True when a parse result is a reply (an error) rather than a command. */
export function isReply(result: Command | Reply): result is Reply {
  return "code" in result;
}

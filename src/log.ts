/**
 * Structured logging: one line per event, `time level event key=value… node=<node_id>`, with a
 * connection id where there is one. Callers pass facts, never secrets: no password, key or message body is
 * ever handed to the logger, and values are quoted so a hostile client cannot forge a line.
 */
import { createHmac } from "node:crypto";
import type { LogLevel } from "./config/config.ts";
import { escapeInvisible, escapeUnits } from "./net/printable.ts";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Fields of one event. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** A logger bound to fixed fields (e.g. the connection id). */
export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
}

/** Where lines go; tests capture them. */
export type LogSink = (line: string) => void;

const encoder = new TextEncoder();
const stderrSink: LogSink = (line) => Deno.stderr.writeSync(encoder.encode(line + "\n"));

/**
 * Creates the root logger. `base` fields (the server passes `{ node: config.node_id }`) close
 * every line, and neither `with()` nor a call's fields can change, move or drop them: with
 * several nodes writing to one log store, every line says which node wrote it. They come last
 * so a line still reads, and is matched, event first, then its own fields.
 */
export function createLogger(
  level: LogLevel = "info",
  sink: LogSink = stderrSink,
  base: LogFields = {},
): Logger {
  return bind(RANK[level], sink, base, {});
}

function bind(min: number, sink: LogSink, base: LogFields, bound: LogFields): Logger {
  const emit = (level: LogLevel) => (event: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    const all: LogFields = { ...bound, ...fields };
    for (const key of Object.keys(base)) delete all[key];
    sink(formatLine(new Date(), level, event, { ...all, ...base }));
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    with: (fields) => bind(min, sink, base, { ...bound, ...fields }),
  };
}

/** Formats one line; exported for tests. */
export function formatLine(time: Date, level: LogLevel, event: string, fields: LogFields): string {
  let line = `${time.toISOString()} ${level.toUpperCase().padEnd(5)} ${formatName(event)}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    line += ` ${formatName(key)}=${formatValue(value)}`;
  }
  return line;
}

/**
 * Event names and keys are the program's own words, but a key built from data must still not
 * forge a field: anything beyond letters, digits, `_`, `.` and `-` is escaped.
 */
function formatName(name: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(name) ? name : name.replace(/[^A-Za-z0-9_.-]/g, escapeUnits);
}

function formatValue(value: string | number | boolean): string {
  const text = String(value);
  // Quote anything with spaces, quotes, '=' or control characters, escaping the latter, so
  // client-supplied text (EHLO names, addresses) cannot break the one-event-per-line rule.
  if (/^[\x21-\x7e]+$/.test(text) && !/["=\\]/.test(text)) return text;
  // JSON escapes C0 controls, quotes and backslashes; DEL, C1 controls (NEL), U+2028/9 break
  // lines in some viewers, and bidi overrides, isolates, marks and the BOM make a viewer show
  // the line reordered or hide part of it (a `user=` shown reversed), so those go too.
  return escapeInvisible(JSON.stringify(text));
}

/** Per-process key of {@link userHash}: hashes cannot be compared across restarts or hosts. */
const USER_HASH_KEY = crypto.getRandomValues(new Uint8Array(32));

/**
 * A short keyed hash of a login name that names no user: the first 12 hex digits of
 * HMAC-SHA256 under a random per-process key. Repeated attempts with one name correlate within
 * a run, yet a password typed into the user field cannot be read back or guessed offline from
 * the log (the key never leaves the process).
 */
export function userHash(name: string): string {
  return createHmac("sha256", USER_HASH_KEY).update(name).digest("hex").slice(0, 12);
}

/**
 * The fields that name the user of a failed or refused login: `user=` when `knownUser` says
 * the name is a user of this server, else `user_hash=` (see {@link userHash}), so a password
 * typed as the user name never lands in the log. Without `knownUser`, or when it fails, the
 * hash is logged. Never rejects.
 */
export async function loginUserFields(
  name: string,
  knownUser?: (name: string) => Promise<boolean>,
): Promise<LogFields> {
  const known = knownUser ? await knownUser(name).catch(() => false) : false;
  return known ? { user: name } : { user_hash: userHash(name) };
}

/**
 * Logs a failed or refused login with {@link loginUserFields}, before the reply goes out so
 * lines keep their order. The lookup runs only after the login's answer is decided (password
 * checked, failure delay served), costs one indexed read whether or not the user exists, and
 * never rejects.
 */
export async function logLoginFailure(
  log: Logger,
  level: "info" | "warn",
  event: string,
  name: string,
  knownUser?: (name: string) => Promise<boolean>,
): Promise<void> {
  log[level](event, await loginUserFields(name, knownUser));
}

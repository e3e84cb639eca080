/**
 * Structured logging: one line per event, `time level event key=value…`, with a connection id
 * where there is one. Callers pass facts, never secrets: no password, key or message body is
 * ever handed to the logger, and values are quoted so a hostile client cannot forge a line.
 */
import type { LogLevel } from "./config/config.ts";

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

/** Creates the root logger. */
export function createLogger(level: LogLevel = "info", sink: LogSink = stderrSink): Logger {
  return bind(RANK[level], sink, {});
}

function bind(min: number, sink: LogSink, bound: LogFields): Logger {
  const emit = (level: LogLevel) => (event: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    sink(formatLine(new Date(), level, event, { ...bound, ...fields }));
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    with: (fields) => bind(min, sink, { ...bound, ...fields }),
  };
}

/** Formats one line; exported for tests. */
export function formatLine(time: Date, level: LogLevel, event: string, fields: LogFields): string {
  let line = `${time.toISOString()} ${level.toUpperCase().padEnd(5)} ${event}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    line += ` ${key}=${formatValue(value)}`;
  }
  return line;
}

function formatValue(value: string | number | boolean): string {
  const text = String(value);
  // Quote anything with spaces, quotes, '=' or control characters, escaping the latter, so
  // client-supplied text (EHLO names, addresses) cannot break the one-event-per-line rule.
  if (/^[\x21-\x7e]+$/.test(text) && !/["=\\]/.test(text)) return text;
  // JSON escapes C0 controls; DEL, C1 controls (NEL) and U+2028/9 break lines in some viewers.
  return JSON.stringify(text).replace(
    /[\x7f-\x9f\u2028\u2029]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

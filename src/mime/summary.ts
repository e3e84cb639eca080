/**
 * A message summary: what IMAP needs to answer ENVELOPE, BODYSTRUCTURE, header fetches and
 * sorting without reading the message again. Built once at delivery, then sealed with it.
 *
 * Encoded form (version 1): byte 0 = 1; bytes 1-4 = big-endian length N of a UTF-8 JSON text
 * (the structure with short keys, and the sent date); then N bytes of JSON; then the raw
 * top-level header, then the raw header of every encapsulated message, depth first, each as
 * long as its part's headerEnd - headerStart. Nothing else may follow.
 */
import { isMessagePart, MAX_DEPTH, type MimePart, parseStructure } from "./structure.ts";
import { headerValues, parseSentDate } from "./search_text.ts";

export type { MimeDisposition, MimePart } from "./structure.ts";

/** The summary of one message. */
export interface MessageSummary {
  /** The top-level header block, raw as stored, including the blank line ending it. */
  header: Uint8Array;
  /** The MIME structure; encapsulated messages' roots carry their raw `header`. */
  structure: MimePart;
  /** The Date: field, in ms since the epoch, when it parses. */
  sentDate?: number;
}

/** Builds the summary of a message (the header bytes are copied, not shared). */
export function buildSummary(message: Uint8Array): MessageSummary {
  const structure = parseStructure(message);
  const header = message.slice(0, structure.headerEnd);
  forEachNested(structure, (nested) => {
    nested.header = message.slice(nested.headerStart, nested.headerEnd);
  });
  const date = headerValues(header, "date")[0];
  const sentDate = date === undefined ? undefined : parseSentDate(date);
  return sentDate === undefined ? { header, structure } : { header, structure, sentDate };
}

const VERSION = 1;

/** Serialises a summary (see the module comment for the format). */
export function encodeSummary(summary: MessageSummary): Uint8Array {
  const json = new TextEncoder().encode(
    JSON.stringify({ s: compact(summary.structure), d: summary.sentDate ?? null }),
  );
  const headers: Uint8Array[] = [summary.header];
  forEachNested(summary.structure, (nested) => {
    if (!nested.header) throw new Error("summary: nested message without its header");
    headers.push(nested.header);
  });
  const total = 5 + json.length + headers.reduce((n, h) => n + h.length, 0);
  const out = new Uint8Array(total);
  out[0] = VERSION;
  new DataView(out.buffer).setUint32(1, json.length);
  out.set(json, 5);
  let at = 5 + json.length;
  for (const h of headers) {
    out.set(h, at);
    at += h.length;
  }
  return out;
}

/** Reads back what encodeSummary wrote; throws an Error on anything else. */
export function decodeSummary(bytes: Uint8Array): MessageSummary {
  if (bytes.length < 5 || bytes[0] !== VERSION) throw new Error("summary: unknown format");
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1);
  if (5 + length > bytes.length) throw new Error("summary: truncated");
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(5, 5 + length)),
    );
  } catch {
    throw new Error("summary: malformed JSON");
  }
  if (!isRecord(parsed)) throw new Error("summary: malformed");
  const structure = expand(parsed.s, 0);
  const d = parsed.d;
  if (d !== null && (typeof d !== "number" || !Number.isFinite(d))) {
    throw new Error("summary: malformed date");
  }
  let at = 5 + length;
  const take = (n: number): Uint8Array => {
    if (at + n > bytes.length) throw new Error("summary: truncated headers");
    const out = bytes.slice(at, at + n);
    at += n;
    return out;
  };
  const header = take(structure.headerEnd - structure.headerStart);
  forEachNested(structure, (nested) => {
    nested.header = take(nested.headerEnd - nested.headerStart);
  });
  if (at !== bytes.length) throw new Error("summary: trailing bytes");
  return d === null ? { header, structure } : { header, structure, sentDate: d };
}

/** Calls `visit` on the root of every encapsulated message, depth first. */
function forEachNested(root: MimePart, visit: (nested: MimePart) => void): void {
  const stack: MimePart[] = [root];
  while (stack.length > 0) {
    const part = stack.pop()!;
    if (part.message) {
      visit(part.message);
      stack.push(part.message);
    }
    for (let i = part.children.length - 1; i >= 0; i--) stack.push(part.children[i]);
  }
}

/** The JSON shape of a part: short keys, defaults and empty lists left out. */
interface CompactPart {
  o: [number, number, number, number];
  t: [string, string, string];
  p?: string[];
  i?: string;
  d?: string;
  x?: [string, string[]];
  g?: string[];
  l?: string;
  m?: string;
  c?: CompactPart[];
  r?: CompactPart;
}

function compact(part: MimePart): CompactPart {
  const out: CompactPart = {
    o: [part.headerStart, part.headerEnd, part.bodyEnd, part.lines],
    t: [part.type, part.subtype, part.encoding],
  };
  if (part.params.length > 0) out.p = part.params.flat();
  if (part.id !== undefined) out.i = part.id;
  if (part.description !== undefined) out.d = part.description;
  if (part.disposition) out.x = [part.disposition.type, part.disposition.params.flat()];
  if (part.language) out.g = part.language;
  if (part.location !== undefined) out.l = part.location;
  if (part.md5 !== undefined) out.m = part.md5;
  if (part.children.length > 0) out.c = part.children.map(compact);
  if (part.message) out.r = compact(part.message);
  return out;
}

function expand(value: unknown, depth: number): MimePart {
  const bad = (what: string): never => {
    throw new Error(`summary: malformed part (${what})`);
  };
  // Two levels per MIME level at most (a message part, then its root).
  if (depth > 2 * MAX_DEPTH + 2) bad("too deep");
  if (!isRecord(value)) return bad("not an object");
  const o = value.o;
  const t = value.t;
  if (!Array.isArray(o) || o.length !== 4 || !o.every(isCount)) return bad("offsets");
  if (!Array.isArray(t) || t.length !== 3 || !t.every(isString)) return bad("type");
  const [headerStart, headerEnd, bodyEnd, lines] = o as number[];
  if (headerStart > headerEnd || headerEnd > bodyEnd) return bad("offsets order");
  const part: MimePart = {
    headerStart,
    headerEnd,
    bodyEnd,
    type: t[0],
    subtype: t[1],
    params: pairs(value.p, bad),
    encoding: t[2],
    lines,
    children: [],
  };
  if (value.i !== undefined) part.id = str(value.i, bad);
  if (value.d !== undefined) part.description = str(value.d, bad);
  if (value.x !== undefined) {
    const x = value.x;
    if (!Array.isArray(x) || x.length !== 2 || !isString(x[0])) return bad("disposition");
    part.disposition = { type: x[0], params: pairs(x[1], bad) };
  }
  if (value.g !== undefined) {
    if (!Array.isArray(value.g) || !value.g.every(isString)) return bad("language");
    part.language = value.g;
  }
  if (value.l !== undefined) part.location = str(value.l, bad);
  if (value.m !== undefined) part.md5 = str(value.m, bad);
  if (value.c !== undefined) {
    if (!Array.isArray(value.c)) return bad("children");
    part.children = value.c.map((c) => expand(c, depth + 1));
  }
  if (value.r !== undefined) {
    part.message = expand(value.r, depth + 1);
    if (!isMessagePart(part)) return bad("message in a non-message part");
  }
  return part;
}

function pairs(value: unknown, bad: (what: string) => never): [string, string][] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length % 2 !== 0 || !value.every(isString)) {
    return bad("parameters");
  }
  const out: [string, string][] = [];
  for (let i = 0; i < value.length; i += 2) out.push([value[i], value[i + 1]]);
  return out;
}

function str(value: unknown, bad: (what: string) => never): string {
  return isString(value) ? value : bad("string");
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}

function isCount(value: unknown): boolean {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

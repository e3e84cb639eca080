/**
 * The MIME structure of a stored message (RFC 2045, RFC 2046), with every part's byte offsets
 * into the original message, for IMAP BODYSTRUCTURE and section fetches. Pure.
 *
 * One pass over the bytes: a part's body is scanned line by line for the boundary of any
 * enclosing multipart (as Dovecot does, so a missing close delimiter of an inner multipart
 * does not swallow the outer one). Limits keep hostile input linear: below MAX_DEPTH levels
 * parts are not descended into, and after MAX_PARTS parts no more are made.
 */
import { fieldValue, headerFieldsOf, isBlankLineAt, nextLine } from "./header_block.ts";
import { parseContentType, parseDisposition, parseEncoding, parseLanguage } from "./mime_params.ts";

/** A Content-Disposition (RFC 2183): lower-cased type and its parameters. */
export interface MimeDisposition {
  /** Lower-cased disposition type, e.g. "attachment". */
  type: string;
  /** Parameters, as in MimePart.params. */
  params: [string, string][];
}

/** One MIME part; all offsets are byte indexes into the outermost message. */
export interface MimePart {
  /** First byte of the part's header. */
  headerStart: number;
  /** Just after the blank line ending the header (= body start), or the part's end if none. */
  headerEnd: number;
  /** End of the part's body (exclusive). */
  bodyEnd: number;
  /** Lower-cased media type, e.g. "text". */
  type: string;
  /** Lower-cased media subtype, e.g. "plain". */
  subtype: string;
  /**
   * Content-Type parameters in order: lower-cased name, value as written; RFC 2231 pieces are
   * merged (an extended one as `name*` = `charset'lang'%XX…`; see paramValue to decode).
   */
  params: [string, string][];
  /** Content-ID, as written. */
  id?: string;
  /** Content-Description, unfolded. */
  description?: string;
  /** Lower-cased Content-Transfer-Encoding; "7bit" when absent or malformed. */
  encoding: string;
  /** Content-Disposition. */
  disposition?: MimeDisposition;
  /** Content-Language tags. */
  language?: string[];
  /** Content-Location. */
  location?: string;
  /** Content-MD5. */
  md5?: string;
  /** Number of lines (LF characters) of the body; 0 unless text/* or message/rfc822|global. */
  lines: number;
  /** Sub-parts of a multipart (empty for a leaf, or a multipart where none were found). */
  children: MimePart[];
  /** The encapsulated message of a message/rfc822 (or message/global) part. */
  message?: MimePart;
  /**
   * Raw header bytes of an encapsulated message's root part: set by buildSummary so ENVELOPE
   * of a nested message renders without the message. Absent straight out of parseStructure.
   */
  header?: Uint8Array;
}

/** Nesting deeper than this is not parsed: such parts are leaves (Dovecot's default is 100). */
export const MAX_DEPTH = 100;
/** No more parts than this are made for one message. */
export const MAX_PARTS = 10_000;

/**
 * Whether a part is handled as a multipart: a multipart/* type with a non-empty boundary
 * parameter. Without a boundary it cannot be split (RFC 2046 §5.1.1 makes it mandatory), so,
 * as Dovecot does, it is a single leaf part that keeps its multipart/* type.
 */
export function isMultipart(part: MimePart): boolean {
  return part.type === "multipart" && boundaryOf(part) !== undefined;
}

/** Whether a part encapsulates a message (RFC 2046 §5.2.1; RFC 6532 §3.7 message/global). */
export function isMessagePart(part: MimePart): boolean {
  return part.type === "message" && (part.subtype === "rfc822" || part.subtype === "global");
}

function boundaryOf(part: MimePart): string | undefined {
  const boundary = part.params.find(([name]) => name === "boundary")?.[1];
  return boundary ? boundary : undefined;
}

/** Parses the MIME structure of a whole message. */
export function parseStructure(message: Uint8Array): MimePart {
  const parser = new Parser(message);
  return parser.part(0, 0, false).part;
}

/** A boundary line met while scanning: which enclosing boundary and where. */
interface Hit {
  /** Start of the boundary line. */
  line: number;
  /** Index of the boundary in the stack. */
  level: number;
  /** Whether it is the close delimiter (`--boundary--`). */
  close: boolean;
  /** Start of the line after it. */
  next: number;
}

class Parser {
  private readonly boundaries: Uint8Array[] = [];
  private parts = 0;

  constructor(private readonly msg: Uint8Array) {}

  /** Parses the part starting at `start`; returns it and the boundary line that ended it. */
  part(start: number, depth: number, inDigest: boolean): { part: MimePart; hit?: Hit } {
    this.parts++;
    const msg = this.msg;
    // The header: up to the blank line, or an enclosing boundary, or the end.
    let pos = start;
    let hit: Hit | undefined;
    let headerEnd = msg.length;
    while (pos < msg.length) {
      if (isBlankLineAt(msg, pos)) {
        headerEnd = nextLine(msg, pos);
        break;
      }
      hit = this.boundaryAt(pos, this.boundaries.length);
      if (hit) {
        headerEnd = this.endBefore(hit.line, start);
        break;
      }
      pos = nextLine(msg, pos);
    }
    const part = describe(msg, start, headerEnd, inDigest);
    if (hit) {
      part.bodyEnd = headerEnd;
      return { part, hit };
    }
    const room = depth < MAX_DEPTH && this.parts < MAX_PARTS;
    const boundary = boundaryOf(part);
    if (part.type === "multipart" && boundary !== undefined) {
      if (room) hit = this.multipart(part, boundary, depth);
      else hit = this.scan(headerEnd, this.boundaries.length);
    } else if (isMessagePart(part) && room) {
      const nested = this.part(headerEnd, depth + 1, false);
      part.message = nested.part;
      hit = nested.hit;
    } else {
      hit = this.scan(headerEnd, this.boundaries.length);
    }
    part.bodyEnd = hit ? this.endBefore(hit.line, headerEnd) : msg.length;
    // The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1): when the
    // encapsulated message ended right at it (its header's blank line being that break), the
    // parent steps back over it and the message must not reach past its parent.
    if (part.message) clampEnds(part.message, part.bodyEnd);
    if (part.type === "text" || isMessagePart(part)) {
      part.lines = countLines(msg, headerEnd, part.bodyEnd);
    }
    return { part, hit };
  }

  /** Parses a multipart's children (RFC 2046 §5.1.1); returns the hit that ended its body. */
  private multipart(part: MimePart, boundary: string, depth: number): Hit | undefined {
    const level = this.boundaries.length;
    this.boundaries.push(new TextEncoder().encode(boundary));
    // The preamble, up to the first delimiter, is not part of any child.
    let hit = this.scan(part.headerEnd, level + 1);
    while (hit && hit.level === level && !hit.close) {
      if (this.parts >= MAX_PARTS) {
        // Out of parts: the rest of this multipart is skipped like an epilogue.
        hit = this.scan(hit.next, level);
        this.boundaries.pop();
        return hit;
      }
      const child = this.part(hit.next, depth + 1, part.subtype === "digest");
      part.children.push(child.part);
      hit = child.hit;
    }
    this.boundaries.pop();
    // After the close delimiter comes the epilogue, up to an enclosing boundary.
    if (hit && hit.level === level) hit = this.scan(hit.next, level);
    return hit;
  }

  /** The first line from `pos` on that is a delimiter of one of the `levels` innermost… */
  private scan(pos: number, levels: number): Hit | undefined {
    const msg = this.msg;
    if (levels === 0) return undefined;
    while (pos < msg.length) {
      if (msg[pos] === 45 && msg[pos + 1] === 45) {
        const hit = this.boundaryAt(pos, levels);
        if (hit) return hit;
      }
      pos = nextLine(msg, pos);
    }
    return undefined;
  }

  /**
   * The delimiter at line start `pos`, if any: `--` and a boundary of the stack's first
   * `levels` entries, innermost first. Like Dovecot, what follows the boundary on the line is
   * not checked (RFC 2046 allows only white space there).
   */
  private boundaryAt(pos: number, levels: number): Hit | undefined {
    const msg = this.msg;
    if (msg[pos] !== 45 || msg[pos + 1] !== 45) return undefined;
    for (let level = levels - 1; level >= 0; level--) {
      const b = this.boundaries[level];
      let i = 0;
      while (i < b.length && msg[pos + 2 + i] === b[i]) i++;
      if (i < b.length) continue;
      const after = pos + 2 + b.length;
      const close = msg[after] === 45 && msg[after + 1] === 45;
      return { line: pos, level, close, next: nextLine(msg, pos) };
    }
    return undefined;
  }

  /** RFC 2046 §5.1.1: the line break before a delimiter belongs to the delimiter. */
  private endBefore(line: number, min: number): number {
    const msg = this.msg;
    let end = line;
    if (end - 1 >= min && msg[end - 1] === 10) {
      end--;
      if (end - 1 >= min && msg[end - 1] === 13) end--;
    }
    return end;
  }
}

/** Moves every offset of `root` and the parts inside it that lies past `end` back to `end`. */
function clampEnds(root: MimePart, end: number): void {
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (p.headerStart <= end && p.headerEnd <= end && p.bodyEnd <= end) continue;
    p.headerStart = Math.min(p.headerStart, end);
    p.headerEnd = Math.min(p.headerEnd, end);
    p.bodyEnd = Math.min(p.bodyEnd, end);
    stack.push(...p.children);
    if (p.message) stack.push(p.message);
  }
}

/** The part's Content-* fields (the first of each counts); offsets are filled in later. */
function describe(msg: Uint8Array, start: number, headerEnd: number, inDigest: boolean): MimePart {
  const part: MimePart = {
    headerStart: start,
    headerEnd,
    bodyEnd: headerEnd,
    type: "",
    subtype: "",
    params: [],
    encoding: "7bit",
    lines: 0,
    children: [],
  };
  const seen = new Set<string>();
  for (const field of headerFieldsOf(msg, start, headerEnd)) {
    if (!field.name.startsWith("content-") || seen.has(field.name)) continue;
    seen.add(field.name);
    const value = fieldValue(msg, field).trimEnd();
    switch (field.name) {
      case "content-type": {
        const ct = parseContentType(value);
        if (!ct) break;
        part.type = ct.type;
        // A type without a subtype: as Dovecot, text/plain for text, else "unknown".
        part.subtype = ct.subtype ?? (ct.type === "text" ? "plain" : "unknown");
        part.params = ct.params;
        break;
      }
      case "content-transfer-encoding":
        part.encoding = parseEncoding(value) ?? "7bit";
        break;
      case "content-id":
        part.id = value;
        break;
      case "content-description":
        part.description = value;
        break;
      case "content-disposition":
        part.disposition = parseDisposition(value);
        break;
      case "content-language":
        part.language = parseLanguage(value);
        break;
      case "content-location":
        part.location = value;
        break;
      case "content-md5":
        part.md5 = value;
        break;
    }
  }
  if (part.type === "") {
    // RFC 2045 §5.2 default, or RFC 2046 §5.1.5 inside multipart/digest.
    part.type = inDigest ? "message" : "text";
    part.subtype = inDigest ? "rfc822" : "plain";
  }
  return part;
}

/** The number of LF characters in [from, to). */
function countLines(msg: Uint8Array, from: number, to: number): number {
  let lines = 0;
  for (let i = msg.indexOf(10, from); i >= 0 && i < to; i = msg.indexOf(10, i + 1)) lines++;
  return lines;
}

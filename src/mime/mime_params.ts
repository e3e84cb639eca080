/**
 * Parsing the values of MIME header fields: Content-Type (RFC 2045 §5.1), Content-Disposition
 * (RFC 2183), Content-Transfer-Encoding (RFC 2045 §6.1), Content-Language (RFC 3282), with RFC
 * 2231 parameter continuations. Pure.
 *
 * Parameters are kept the way IMAP BODYSTRUCTURE shows them (as Dovecot, the reference for
 * imaptest, does): RFC 2231 continuations `name*0`, `name*1*`… are merged into one parameter;
 * when any piece is extended the merged name is `name*` and the value stays in RFC 2231
 * encoding (`charset'lang'%XX…`), which keeps BODYSTRUCTURE 7-bit and lets clients decode it.
 * `paramValue` gives the decoded text.
 */

/** Characters that end a token (RFC 2045 §5.1 tspecials, plus space and controls). */
const TSPECIALS = new Set([...'()<>@,;:\\"/[]?= \t\r\n']);

class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text[this.pos];
  }

  /** Skips white space and (nested) RFC 5322 comments. */
  skipCfws(): void {
    let depth = 0;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (c === "(") depth++;
      else if (c === ")" && depth > 0) depth--;
      else if (c === "\\" && depth > 0) this.pos++;
      else if (depth === 0 && c !== " " && c !== "\t" && c !== "\r" && c !== "\n") return;
      this.pos++;
    }
  }

  token(): string {
    const start = this.pos;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (TSPECIALS.has(c) || c.charCodeAt(0) < 32 || c === "\x7f") break;
      this.pos++;
    }
    return this.text.slice(start, this.pos);
  }

  /** A quoted-string at the cursor (opening quote included), unescaped. */
  quoted(): string {
    let out = "";
    this.pos++;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos++];
      if (c === '"') return out;
      if (c === "\\" && this.pos < this.text.length) out += this.text[this.pos++];
      else out += c;
    }
    return out;
  }
}

/** A parsed Content-Type. */
export interface ContentType {
  /** Lower-cased type. */
  type: string;
  /** Lower-cased subtype, or undefined when the value had none. */
  subtype?: string;
  /** Parameters, RFC 2231 pieces merged. */
  params: [string, string][];
}

/** Parses a Content-Type value; undefined when it has no type token at all. */
export function parseContentType(value: string): ContentType | undefined {
  const c = new Cursor(value);
  c.skipCfws();
  const type = c.token().toLowerCase();
  if (type === "") return undefined;
  c.skipCfws();
  let subtype: string | undefined;
  if (c.peek() === "/") {
    c.pos++;
    c.skipCfws();
    subtype = c.token().toLowerCase() || undefined;
  }
  return { type, subtype, params: parseParams(c) };
}

/** Parses a Content-Disposition value (RFC 2183); undefined without a type token. */
export function parseDisposition(
  value: string,
): { type: string; params: [string, string][] } | undefined {
  const c = new Cursor(value);
  c.skipCfws();
  const type = c.token().toLowerCase();
  if (type === "") return undefined;
  return { type, params: parseParams(c) };
}

/** The lower-cased mechanism of a Content-Transfer-Encoding, or undefined when malformed. */
export function parseEncoding(value: string): string | undefined {
  const c = new Cursor(value);
  c.skipCfws();
  const token = c.token().toLowerCase();
  c.skipCfws();
  return token !== "" && c.done ? token : undefined;
}

/** The language tags of a Content-Language value (RFC 3282), or undefined when none. */
export function parseLanguage(value: string): string[] | undefined {
  const c = new Cursor(value);
  const tags: string[] = [];
  for (;;) {
    c.skipCfws();
    const tag = c.token();
    if (tag === "") break;
    tags.push(tag);
    c.skipCfws();
    if (c.peek() !== ",") break;
    c.pos++;
  }
  return tags.length > 0 ? tags : undefined;
}

interface Piece {
  name: string;
  index: number;
  extended: boolean;
  value: string;
}

/** `; name=value` pairs from the cursor to the end; malformed pairs are skipped. */
function parseParams(c: Cursor): [string, string][] {
  const plain: [string, string][] = [];
  const pieces: Piece[] = [];
  while (!c.done) {
    c.skipCfws();
    if (c.peek() !== ";") {
      // Junk between parameters: skip to the next separator.
      while (!c.done && c.peek() !== ";") c.peek() === '"' ? c.quoted() : c.pos++;
      continue;
    }
    c.pos++;
    c.skipCfws();
    const name = c.token().toLowerCase();
    c.skipCfws();
    if (name === "" || c.peek() !== "=") continue;
    c.pos++;
    c.skipCfws();
    const value = c.peek() === '"' ? c.quoted() : c.token();
    // RFC 2231 §3, §4: name*N (a continuation), name* / name*N* (an extended value).
    const star = /^([^*]+)\*(?:(\d+)\*?)?$/.exec(name);
    if (star) {
      pieces.push({
        name: star[1],
        index: star[2] === undefined ? 0 : Number(star[2]),
        extended: name.endsWith("*"),
        value,
      });
    } else {
      plain.push([name, value]);
    }
  }
  return [...plain, ...mergePieces(pieces)];
}

/** RFC 2231 continuations merged per name, in section order, names sorted. */
function mergePieces(pieces: Piece[]): [string, string][] {
  const byName = new Map<string, Piece[]>();
  for (const piece of pieces) {
    const list = byName.get(piece.name);
    if (list) list.push(piece);
    else byName.set(piece.name, [piece]);
  }
  const out: [string, string][] = [];
  for (const name of [...byName.keys()].sort()) {
    const list = byName.get(name)!.sort((a, b) => a.index - b.index);
    // Only an unbroken run 0, 1, 2… counts (RFC 2231 §3: sections must be consecutive).
    const run: Piece[] = [];
    for (const piece of list) {
      if (piece.index !== run.length) break;
      run.push(piece);
    }
    if (run.length === 0) continue;
    if (run.some((p) => p.extended)) {
      // Plain pieces of an extended value are %-escaped so the whole stays one encoded value.
      const value = run.map((p) => p.extended ? p.value : p.value.replaceAll("%", "%25")).join("");
      out.push([name + "*", value]);
    } else {
      out.push([name, run.map((p) => p.value).join("")]);
    }
  }
  return out;
}

/**
 * The decoded value of parameter `name`: an RFC 2231 extended `name*` (charset'lang'%XX,
 * decoded with its charset, UTF-8 when unknown) wins over a plain `name`.
 */
export function paramValue(params: [string, string][], name: string): string | undefined {
  const wanted = name.toLowerCase();
  const extended = params.find(([n]) => n === wanted + "*");
  if (extended) return decodeExtended(extended[1]);
  return params.find(([n]) => n === wanted)?.[1];
}

/** Decodes an RFC 2231 extended value `charset'language'%XX…` (RFC 2231 §4). */
export function decodeExtended(value: string): string {
  const first = value.indexOf("'");
  const second = first < 0 ? -1 : value.indexOf("'", first + 1);
  const charset = second < 0 ? "" : value.slice(0, first);
  const text = second < 0 ? value : value.slice(second + 1);
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text[i] === "%" ? text.slice(i + 1, i + 3) : "";
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of new TextEncoder().encode(text[i])) bytes.push(b);
    }
  }
  return decodeCharset(new Uint8Array(bytes), charset);
}

/** Bytes decoded with a MIME charset name; UTF-8 (with replacement) when it is unknown. */
export function decodeCharset(bytes: Uint8Array, charset: string): string {
  const label = charset.replace(/\*.*$/, "").trim().toLowerCase();
  try {
    return new TextDecoder(label === "" ? "utf-8" : label).decode(bytes);
  } catch {
    return new TextDecoder("utf-8").decode(bytes);
  }
}

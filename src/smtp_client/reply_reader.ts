/**
 * The client's side of SMTP replies (RFC 5321 §4.2): a pure, incremental parser that turns the
 * bytes a server sends into complete (possibly multi-line) replies. No I/O: the connection
 * pushes what it reads and asks for the next reply.
 *
 *     Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 *                     Reply-code [ SP textstring ] CRLF          (RFC 5321 §4.2)
 */

/** One reply as the server sent it. */
export interface SmtpReply {
  /** The three-digit reply code (RFC 5321 §4.2.1); the last line's, as that one ends the reply. */
  code: number;
  /**
   * The enhanced status code of the first line (RFC 3463, announced by ENHANCEDSTATUSCODES,
   * RFC 2034 §3), when it is present and its class matches the reply code's first digit.
   */
  enhanced?: string;
  /** The text of each line, without the code and separator. */
  lines: string[];
}

/** A reply that breaks the grammar of RFC 5321 §4.2, or one too large to keep. */
export class ReplyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReplyFormatError";
  }
}

/** Limits against a server that never ends its reply. */
export interface ReplyReaderLimits {
  /**
   * Octets in one line. RFC 5321 §4.5.3.1.5 sets 512 including CRLF; real servers exceed it
   * in EHLO lists and long texts, so the default is generous: 8192.
   */
  maxLineLength?: number;
  /** Lines in one reply (default 1000). */
  maxLines?: number;
}

const LF = 10;
const CR = 13;
const LINE = /^([2-5]\d\d)(?:([ -])(.*))?$/s;
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?= |$)/;
const decoder = new TextDecoder();

/**
 * Collects bytes and hands out whole replies. Lines may end in CRLF or, leniently, in a bare
 * LF. After a `ReplyFormatError` the reader stays broken: the stream cannot be trusted.
 */
export class ReplyReader {
  #partial: Uint8Array[] = [];
  #partialLength = 0;
  #lines: string[] = [];
  /** Continuation lines since the last line that ended a reply. */
  #open = 0;
  #error: ReplyFormatError | undefined;
  readonly #maxLineLength: number;
  readonly #maxLines: number;

  constructor(limits: ReplyReaderLimits = {}) {
    this.#maxLineLength = limits.maxLineLength ?? 8192;
    this.#maxLines = limits.maxLines ?? 1000;
  }

  /** Octets and lines received but not yet returned as part of a reply. */
  get buffered(): number {
    return this.#partialLength + this.#lines.reduce((n, l) => n + l.length + 2, 0);
  }

  /** Adds received bytes. */
  push(bytes: Uint8Array): void {
    if (this.#error) return;
    let from = 0;
    for (;;) {
      const lf = bytes.indexOf(LF, from);
      if (lf < 0) break;
      this.#partial.push(bytes.subarray(from, lf));
      this.#partialLength += lf - from;
      this.#endLine();
      if (this.#error) return;
      from = lf + 1;
    }
    if (from < bytes.length) {
      this.#partial.push(bytes.slice(from));
      this.#partialLength += bytes.length - from;
      if (this.#partialLength > this.#maxLineLength) {
        this.#error = new ReplyFormatError(
          `reply line longer than ${this.#maxLineLength} octets`,
        );
      }
    }
  }

  #endLine(): void {
    const parts = this.#partial;
    let line = new Uint8Array(this.#partialLength);
    let at = 0;
    for (const p of parts) {
      line.set(p, at);
      at += p.length;
    }
    this.#partial = [];
    this.#partialLength = 0;
    if (line.length > this.#maxLineLength) {
      this.#error = new ReplyFormatError(`reply line longer than ${this.#maxLineLength} octets`);
      return;
    }
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    const text = decoder.decode(line);
    this.#lines.push(text);
    this.#open = text[3] === "-" ? this.#open + 1 : 0;
    if (this.#open >= this.#maxLines) {
      this.#error = new ReplyFormatError(`reply longer than ${this.#maxLines} lines`);
    }
  }

  /**
   * The next complete reply, or undefined when more bytes are needed.
   * @throws ReplyFormatError when a line is not `ddd`, `ddd text` or `ddd-text`
   */
  next(): SmtpReply | undefined {
    if (this.#error) throw this.#error;
    const lines = this.#lines;
    for (let i = 0; i < lines.length; i++) {
      const m = LINE.exec(lines[i]);
      if (!m) {
        this.#error = new ReplyFormatError(`malformed reply line: ${JSON.stringify(lines[i])}`);
        throw this.#error;
      }
      if (m[2] === "-") continue;
      // The last line: "ddd" alone or "ddd SP text". A multi-line reply repeats the code on
      // every line (§4.2.1); like most clients we trust the last line when a server doesn't.
      const taken = lines.splice(0, i + 1);
      return toReply(Number(m[1]), taken.map((l) => l.slice(4)));
    }
    return undefined;
  }
}

function toReply(code: number, lines: string[]): SmtpReply {
  const reply: SmtpReply = { code, lines };
  const m = ENHANCED.exec(lines[0] ?? "");
  // RFC 3463 §2: the class of the enhanced code matches the class of the reply code.
  if (m && Number(m[1]) === Math.floor(code / 100)) reply.enhanced = `${m[1]}.${m[2]}.${m[3]}`;
  return reply;
}

/**
 * Parses one complete reply given as text (lines ending in CRLF or LF), e.g. for tests and
 * for replies stored in a queue.
 * @throws ReplyFormatError when the text is not exactly one reply
 */
export function parseReply(text: string): SmtpReply {
  const reader = new ReplyReader();
  reader.push(new TextEncoder().encode(text.endsWith("\n") ? text : `${text}\r\n`));
  const reply = reader.next();
  if (!reply || reader.buffered > 0) {
    throw new ReplyFormatError(`not exactly one reply: ${JSON.stringify(text)}`);
  }
  return reply;
}

/**
 * One line for logs, queues and DSNs: the code and the text of every line joined by spaces,
 * with the enhanced code said once, e.g. "550 5.1.1 no such user".
 */
export function replyText(reply: SmtpReply): string {
  const prefix = reply.enhanced ? `${reply.enhanced} ` : undefined;
  const text = reply.lines
    .map((l, i) => (i > 0 && prefix && l.startsWith(prefix) ? l.slice(prefix.length) : l).trim())
    .filter((l) => l !== "")
    .join(" ");
  return text === "" ? String(reply.code) : `${reply.code} ${text}`;
}

/** The reply's class: 2 positive, 3 intermediate, 4 transient, 5 permanent (RFC 5321 §4.2.1). */
export function replyClass(reply: SmtpReply): 2 | 3 | 4 | 5 {
  return Math.floor(reply.code / 100) as 2 | 3 | 4 | 5;
}

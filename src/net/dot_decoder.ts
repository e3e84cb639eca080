/**
 * Incremental decoder of SMTP DATA content (RFC 5321 §4.1.1.4, §4.5.2): removes the
 * transparency dot, finds the end marker `CRLF.CRLF`, and enforces limits. Pure: bytes in,
 * state out; the connection feeds it whatever the socket delivers.
 *
 * Line endings: only CRLF ends a line. RFC 5321 §2.3.8 forbids bare CR and LF, and treating
 * them as line ends is what SMTP smuggling exploits (`<LF>.<LF>` or `<LF>.<CRLF>` read as the
 * end of data by one server and not by the next). So a bare CR or LF never ends a line or the
 * message here; it is noted, and the session rejects the message once the real end arrives.
 */

const CR = 13;
const LF = 10;
const DOT = 46;
/** The content buffer of a message whose size the client did not declare. */
const INITIAL = 64 * 1024;
/** Room in front of the content for the trace headers (Received:, Authentication-Results:). */
const HEADROOM = 8 * 1024;
/** The least a full content buffer grows by. */
const GROWTH_STEP = 64 * 1024;

const enum State {
  LineStart,
  Dot,
  DotCr,
  Mid,
  Cr,
}

/** What was wrong with the content, if anything; the first problem found wins. */
export type DataProblem = "too-big" | "bare-newline" | "line-too-long" | "no-memory";

/** Decodes one message's DATA content. */
export class DotDecoder {
  #state = State.LineStart;
  #out: Uint8Array;
  #length = 0;
  #lineLength = 0;
  #done = false;
  #problem: DataProblem | undefined;
  #reserved = 0;

  /**
   * @param maxSize octets of decoded content allowed; more sets the "too-big" problem and stops
   *   keeping content (the rest is still scanned for the end marker, RFC 5321 §4.5.3.1.10 asks
   *   servers to read it before replying)
   * @param maxLineLength octets per line, CRLF excluded
   * @param reserve asked before the buffer grows; `release` takes it all back when a grow is
   *   refused (the message will be refused; its buffer is dropped)
   * @param sizeHint the client's SIZE=, to size the buffer at once
   */
  constructor(
    readonly maxSize: number,
    readonly maxLineLength: number,
    readonly reserve: (octets: number) => boolean = () => true,
    sizeHint?: number,
    readonly release: (octets: number) => void = () => {},
  ) {
    // The client's SIZE= (RFC 1870) sizes the buffer at once: no doubling, no copies, and the
    // budget is charged what the message takes, not up to twice that. HEADROOM in front takes
    // the trace headers the server adds, so the content is not copied to prepend them.
    const initial = HEADROOM + Math.min(maxSize + 2, Math.max(INITIAL, (sizeHint ?? 0) + 2));
    if (this.reserve(initial)) {
      this.#out = new Uint8Array(initial);
      this.#reserved = initial;
    } else {
      this.#out = new Uint8Array(0);
      this.#problem = "no-memory";
    }
  }

  /** Octets taken through `reserve` for the content buffer; the caller gives them back. */
  get reserved(): number {
    return this.#reserved;
  }

  /** True once `CRLF.CRLF` was seen. */
  get done(): boolean {
    return this.#done;
  }

  /** The problem found, if any. */
  get problem(): DataProblem | undefined {
    return this.#problem;
  }

  /** The decoded message (CRLF line endings, dots unstuffed, end marker removed). */
  get content(): Uint8Array {
    return this.#out.subarray(HEADROOM, HEADROOM + this.#length);
  }

  /**
   * The content with `prefix` in front: written into the buffer's headroom when it fits (no
   * copy of the content), else a new buffer. Call once, after the end marker.
   */
  prepend(prefix: Uint8Array): Uint8Array {
    if (prefix.length > HEADROOM) {
      const out = new Uint8Array(prefix.length + this.#length);
      out.set(prefix);
      out.set(this.content, prefix.length);
      return out;
    }
    const at = HEADROOM - prefix.length;
    this.#out.set(prefix, at);
    return this.#out.subarray(at, HEADROOM + this.#length);
  }

  /**
   * Consumes bytes of `chunk` until the end marker or the chunk's end.
   * Returns how many bytes were consumed; bytes after the end marker belong to the next command.
   */
  feed(chunk: Uint8Array): number {
    let i = 0;
    while (i < chunk.length && !this.#done) {
      const b = chunk[i++];
      switch (this.#state) {
        case State.LineStart:
          if (b === DOT) this.#state = State.Dot;
          else this.#mid(b);
          break;
        case State.Dot:
          // The leading dot of a line is transparency padding (§4.5.2): drop it.
          if (b === CR) this.#state = State.DotCr;
          else this.#mid(b);
          break;
        case State.DotCr:
          if (b === LF) {
            this.#done = true;
          } else {
            // ".<CR>x": a bare CR after a line's only dot.
            this.#flag("bare-newline");
            this.#emit(CR);
            this.#mid(b);
          }
          break;
        case State.Mid:
          this.#mid(b);
          break;
        case State.Cr:
          if (b === LF) {
            this.#emit(CR);
            this.#emit(LF);
            this.#lineLength = 0;
            this.#state = State.LineStart;
          } else {
            this.#flag("bare-newline");
            this.#emit(CR);
            this.#mid(b);
          }
          break;
      }
    }
    return i;
  }

  #mid(b: number): void {
    if (b === CR) {
      this.#state = State.Cr;
      return;
    }
    if (b === LF) this.#flag("bare-newline");
    this.#state = State.Mid;
    if (++this.#lineLength > this.maxLineLength) this.#flag("line-too-long");
    this.#emit(b);
  }

  #flag(problem: DataProblem): void {
    this.#problem ??= problem;
  }

  #emit(b: number): void {
    if (this.#problem === "no-memory") return;
    if (this.#length >= this.maxSize) {
      this.#flag("too-big");
      return;
    }
    if (HEADROOM + this.#length === this.#out.length) {
      // Grow by a quarter (at least a step): what is reserved stays within 25% of the content.
      const grown = Math.max(this.#out.length + GROWTH_STEP, Math.ceil(this.#out.length * 1.25));
      const size = Math.min(grown, HEADROOM + this.maxSize + 2);
      if (!this.reserve(size - this.#out.length)) {
        // Out of budget: keep scanning for the end marker, store nothing more, and give back
        // what this message held at once, so the others growing beside it can finish.
        this.#problem = "no-memory";
        this.release(this.#reserved);
        this.#reserved = 0;
        this.#out = new Uint8Array(0);
        this.#length = 0;
        return;
      }
      this.#reserved += size - this.#out.length;
      const bigger = new Uint8Array(size);
      bigger.set(this.#out);
      this.#out = bigger;
    }
    this.#out[HEADROOM + this.#length++] = b;
  }
}

/**
 * Checks raw content (BDAT chunks carry no dot-stuffing) for the same problems the decoder
 * flags: a bare CR or LF, or a line longer than `maxLineLength` (CRLF excluded).
 */
export function scanLines(content: Uint8Array, maxLineLength: number): DataProblem | undefined {
  let lineStart = 0;
  for (let i = 0; i < content.length; i++) {
    const b = content[i];
    if (b === CR) {
      if (content[i + 1] !== LF) return "bare-newline";
      if (i - lineStart > maxLineLength) return "line-too-long";
      i++;
      lineStart = i + 1;
    } else if (b === LF) {
      return "bare-newline";
    }
  }
  return content.length - lineStart > maxLineLength ? "line-too-long" : undefined;
}

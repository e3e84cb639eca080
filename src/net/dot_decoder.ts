/**
 * Incremental decoder of SMTP DATA content (RFC 5321 §4.1.1.4, §4.5.2): removes the
 * transparency dot, finds the end marker `CRLF.CRLF`, and enforces limits. Pure: bytes in,
 * state out; the connection feeds it whatever the socket delivers.
 *
 * Line endings: only CRLF ends a line. RFC 5321 §2.3.8 forbids bare CR and LF, and treating
 * them as line ends is what SMTP smuggling exploits (`<LF>.<LF>` or `<LF>.<CRLF>` read as the
 * end of data by one server and not by the next). So a bare CR or LF never ends a line or the
 * message here; it is noted, and the session rejects the message once the real end arrives.
 *
 * Line length: content lines are not limited. RFC 5322 §2.1.1's 998 octets binds the programs
 * that write messages, not the relays that carry them, and Postfix accepts lines of any length;
 * refusing them loses real mail (generated HTML, base64 without line breaks). Only the size
 * limit bounds the content. Command lines keep their limit (connection.ts `readLine`).
 */

const CR = 13;
const LF = 10;
const DOT = 46;
/**
 * The content buffer of a message whose size the client did not declare: most mail fits, and a
 * small first buffer keeps the garbage of a busy MX low (it grows by GROWTH_STEP at least).
 */
const INITIAL = 16 * 1024;
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
export type DataProblem = "too-big" | "bare-newline" | "no-memory";

/** Decodes one message's DATA content. */
export class DotDecoder {
  #state = State.LineStart;
  #out: Uint8Array;
  #length = 0;
  #done = false;
  #problem: DataProblem | undefined;
  #reserved = 0;

  /**
   * @param maxSize octets of decoded content allowed; more sets the "too-big" problem and stops
   *   keeping content (the rest is still scanned for the end marker, RFC 5321 §4.5.3.1.10 asks
   *   servers to read it before replying)
   * @param reserve asked before the buffer grows; `release` takes it all back when a grow is
   *   refused (the message will be refused; its buffer is dropped)
   * @param sizeHint the client's SIZE=, to size the buffer at once
   */
  constructor(
    readonly maxSize: number,
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
    const n = chunk.length;
    while (i < n && !this.#done) {
      if (this.#state === State.Mid) {
        // The common case: a run of octets inside a line, copied at once up to the next CR or
        // LF, so long lines cost a scan and a copy rather than a step per octet.
        let j = i;
        while (j < n) {
          const c = chunk[j];
          if (c === CR || c === LF) break;
          j++;
        }
        if (j > i) {
          this.#emitRun(chunk, i, j);
          i = j;
          continue;
        }
      }
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
    if (HEADROOM + this.#length === this.#out.length && !this.#grow(this.#length + 1)) return;
    this.#out[HEADROOM + this.#length++] = b;
  }

  /** Emits `chunk[from, to)`, octets that are neither CR nor LF; the same limits as `#emit`. */
  #emitRun(chunk: Uint8Array, from: number, to: number): void {
    if (this.#problem === "no-memory") return;
    const take = Math.min(to - from, this.maxSize - this.#length);
    if (take > 0) {
      if (HEADROOM + this.#length + take > this.#out.length && !this.#grow(this.#length + take)) {
        return;
      }
      this.#out.set(chunk.subarray(from, from + take), HEADROOM + this.#length);
      this.#length += take;
    }
    if (take < to - from) this.#flag("too-big");
  }

  /**
   * Grows the buffer until `length` octets of content fit, in the steps single octets would
   * take (so the budget is charged alike however the input was split). False when the budget
   * refuses: then the message keeps being scanned for its end marker, stores nothing more, and
   * what it held goes back at once, so the others growing beside it can finish.
   */
  #grow(length: number): boolean {
    let size = this.#out.length;
    let taken = 0;
    while (HEADROOM + length > size) {
      // Grow by a quarter (at least a step): what is reserved stays within 25% of the content.
      const next = Math.min(
        Math.max(size + GROWTH_STEP, Math.ceil(size * 1.25)),
        HEADROOM + this.maxSize + 2,
      );
      if (!this.reserve(next - size)) {
        this.#problem = "no-memory";
        this.release(this.#reserved + taken);
        this.#reserved = 0;
        this.#out = new Uint8Array(0);
        this.#length = 0;
        return false;
      }
      taken += next - size;
      size = next;
    }
    this.#reserved += taken;
    const bigger = new Uint8Array(size);
    bigger.set(this.#out);
    this.#out = bigger;
    return true;
  }
}

/**
 * Checks raw content (BDAT chunks carry no dot-stuffing) for the problem the decoder flags on
 * the way: a bare CR or LF (RFC 5321 §2.3.8). Lines may be of any length, as in DATA.
 */
export function scanLines(content: Uint8Array): DataProblem | undefined {
  for (let i = content.indexOf(CR); i >= 0; i = content.indexOf(CR, i + 2)) {
    if (content[i + 1] !== LF) return "bare-newline";
  }
  // Every CR is followed by LF now; an LF anywhere else is bare.
  for (let i = content.indexOf(LF); i >= 0; i = content.indexOf(LF, i + 1)) {
    if (i === 0 || content[i - 1] !== CR) return "bare-newline";
  }
  return undefined;
}

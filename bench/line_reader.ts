/**
 * A buffered reader of CRLF lines and dot-terminated multi-line bodies (RFC 1939 §3, RFC 5321
 * §4.5.2) over a TCP connection, for the benchmark's own clients. It works on bytes in one
 * growing buffer and decodes only status lines, so it costs the client little per message.
 */

const LF = 10;
const CR = 13;
const DOT = 46;
const decoder = new TextDecoder();

/** Reads lines and dot-terminated bodies from one connection. */
export class LineReader {
  #buf = new Uint8Array(256 * 1024);
  /** First unread byte. */
  #start = 0;
  /** One past the last byte read from the socket. */
  #end = 0;

  constructor(private readonly conn: Deno.Conn) {}

  /** Reads more bytes from the socket, compacting or growing the buffer first when full. */
  async #fill(): Promise<void> {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else {
        const bigger = new Uint8Array(this.#buf.length * 2);
        bigger.set(this.#buf);
        this.#buf = bigger;
      }
    }
    const n = await this.conn.read(this.#buf.subarray(this.#end));
    if (n === null) throw new Error("the server closed the connection");
    this.#end += n;
  }

  /** The next line as text, without its line end (CRLF, or a bare LF). */
  async line(): Promise<string> {
    let scanned = 0; // relative to #start, which only moves on compaction
    for (;;) {
      const i = this.#buf.indexOf(LF, this.#start + scanned);
      if (i >= 0 && i < this.#end) {
        const stop = i > this.#start && this.#buf[i - 1] === CR ? i - 1 : i;
        const text = decoder.decode(this.#buf.subarray(this.#start, stop));
        this.#start = i + 1;
        return text;
      }
      scanned = this.#end - this.#start;
      await this.#fill();
    }
  }

  /** Skips `octets` octets (an IMAP literal's content). */
  async skip(octets: number): Promise<void> {
    while (octets > 0) {
      if (this.#start === this.#end) await this.#fill();
      const n = Math.min(octets, this.#end - this.#start);
      this.#start += n;
      octets -= n;
    }
  }

  /** The lines of a dot-terminated body, dot-unstuffed, without the terminating `.` line. */
  async lines(): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.line();
      if (line === ".") return lines;
      lines.push(line.startsWith(".") ? line.slice(1) : line);
    }
  }

  /**
   * Skips a dot-terminated body (the lines after a multi-line `+OK`, up to and with the `.`
   * line) and returns its size in octets once dot-unstuffed, counting each line's CRLF: the
   * size of the message as sent.
   */
  async body(): Promise<number> {
    let line = 0; // start of the current line, relative to #start
    let stuffed = 0;
    for (;;) {
      const p = this.#start + line;
      // A line's first three bytes tell the terminator (".\r\n") and a stuffed line (".."); the
      // terminator always follows, so waiting for three bytes never waits for nothing.
      if (p + 2 < this.#end) {
        const buf = this.#buf;
        if (buf[p] === DOT && buf[p + 1] === CR && buf[p + 2] === LF) {
          this.#start = p + 3;
          return line - stuffed;
        }
        const i = buf.indexOf(LF, p);
        if (i >= 0 && i < this.#end) {
          if (buf[p] === DOT && buf[p + 1] === DOT) stuffed++;
          line = i + 1 - this.#start;
          continue;
        }
      }
      await this.#fill();
    }
  }
}

/**
 * The IMAP client of the benchmark, the same for every server: raw TCP (or TLS), lines and
 * literals read with the bench's LineReader (RFC 3501 §4.3, RFC 9051 §4.3), pipelined commands, so that one
 * `UID FETCH 1:*` is one round trip and the client costs little per message. Literal contents
 * are skipped, only counted; only the text around them is decoded.
 */

import { LineReader } from "./line_reader.ts";

const encoder = new TextEncoder();

/** Where to connect: a port on 127.0.0.1, with TLS from the first byte when `tls` is given. */
export interface ImapTarget {
  port: number;
  /** Implicit TLS (RFC 8314): the name to check the certificate against, and its CA (PEM). */
  tls?: { hostname: string; caCerts: string[] };
}

/** One response: its text with literal contents left out, and their total size. */
export interface ImapResponse {
  /** The response's lines joined, each literal's `{N}` kept and its N octets left out. */
  text: string;
  /** Octets of the literals in the response. */
  literalOctets: number;
}

/** What a command's untagged responses added up to. */
export interface CommandResult {
  /** The tagged completion line (`OK ...`). */
  status: string;
  /** Untagged `FETCH` responses. */
  fetches: number;
  /** Octets of every literal in the untagged responses. */
  literalOctets: number;
  /** The untagged responses' text, when asked for. */
  untagged: string[];
}

/** One IMAP connection. Commands get tags `a1`, `a2`, … */
export class ImapClient {
  #tags = 0;
  readonly #reader: LineReader;

  private constructor(private readonly conn: Deno.Conn) {
    this.#reader = new LineReader(conn);
  }

  /** Connects and reads the greeting; throws unless it is `* OK`. */
  static async connect(target: ImapTarget): Promise<ImapClient> {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: target.port });
    tcp.setNoDelay(true);
    let conn: Deno.Conn = tcp;
    try {
      if (target.tls) conn = await Deno.startTls(tcp, target.tls);
      const client = new ImapClient(conn);
      const greeting = await client.response();
      if (!greeting.text.startsWith("* OK")) {
        throw new Error(`greeting ${JSON.stringify(greeting.text)}`);
      }
      return client;
    } catch (e) {
      try {
        conn.close();
      } catch { /* closed */ }
      throw e;
    }
  }

  /** The next tag. */
  tag(): string {
    return `a${++this.#tags}`;
  }

  /** Writes all of `data`. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }

  /**
   * Reads one response: a line, and when it ends in a literal's `{N}` (or `{N+}`), the N octets
   * and the rest of the response after them, and so on (RFC 3501 §7.5: a literal ends a line).
   */
  async response(): Promise<ImapResponse> {
    let text = "";
    let literalOctets = 0;
    for (;;) {
      text += await this.#reader.line();
      const literal = text.endsWith("}") ? /\{(\d+)\+?\}$/.exec(text) : null;
      if (!literal) return { text, literalOctets };
      const octets = Number(literal[1]);
      literalOctets += octets;
      await this.#reader.skip(octets);
    }
  }

  /**
   * Reads responses until the tagged one of `tag`; throws unless it is OK. Counts the untagged
   * FETCH responses and the literal octets; keeps the untagged text when `keep`.
   */
  async until(tag: string, keep = false): Promise<CommandResult> {
    const result: CommandResult = { status: "", fetches: 0, literalOctets: 0, untagged: [] };
    const prefix = `${tag} `;
    for (;;) {
      const r = await this.response();
      if (r.text.startsWith(prefix)) {
        result.status = r.text.slice(prefix.length);
        if (!result.status.startsWith("OK")) throw new Error(`${tag}: ${r.text}`);
        return result;
      }
      if (r.text.startsWith("* ")) {
        if (/^\* \d+ FETCH /.test(r.text)) result.fetches++;
        result.literalOctets += r.literalOctets;
        if (keep) result.untagged.push(r.text);
      }
    }
  }

  /** Sends one command and reads up to its completion (see `until`). */
  async command(command: string, keep = false): Promise<CommandResult> {
    const tag = this.tag();
    await this.write(`${tag} ${command}\r\n`);
    return await this.until(tag, keep);
  }

  /** LOGIN with both arguments as quoted strings (RFC 3501 §6.2.3). */
  async login(user: string, password: string): Promise<void> {
    await this.command(`LOGIN ${quote(user)} ${quote(password)}`);
  }

  /**
   * Sends SELECT INBOX and then `fetch` (a UID FETCH command) without waiting in between, and
   * reads both answers; returns the FETCH's.
   */
  async selectAndFetch(fetch: string): Promise<CommandResult> {
    const select = this.tag();
    const fetchTag = this.tag();
    await this.write(`${select} SELECT INBOX\r\n${fetchTag} ${fetch}\r\n`);
    await this.until(select);
    return await this.until(fetchTag);
  }

  /**
   * APPENDs `messages` (CRLF text) to `mailbox` with non-synchronizing literals (LITERAL+,
   * RFC 7888), `window` commands in flight at once.
   */
  async appendAll(mailbox: string, messages: string[], window = 32): Promise<void> {
    const tags: string[] = [];
    let done = 0;
    for (let sent = 0; sent < messages.length || done < sent;) {
      if (sent < messages.length && sent - done < window) {
        const chunks: Uint8Array[] = [];
        while (sent < messages.length && sent - done < window) {
          const body = encoder.encode(messages[sent++]);
          const tag = this.tag();
          tags.push(tag);
          chunks.push(encoder.encode(`${tag} APPEND ${mailbox} {${body.length}+}\r\n`), body);
          chunks.push(encoder.encode("\r\n"));
        }
        await this.write(concat(chunks));
      }
      await this.until(tags[done++]);
    }
  }

  /** Enters IDLE (RFC 2177) and waits for the continuation; returns the tag to end it with. */
  async idle(): Promise<string> {
    const tag = this.tag();
    await this.write(`${tag} IDLE\r\n`);
    for (;;) {
      const r = await this.response();
      if (r.text.startsWith("+")) return tag;
      if (r.text.startsWith(`${tag} `)) throw new Error(`IDLE: ${r.text}`);
    }
  }

  /** LOGOUT, reading its BYE and OK, then closes. */
  async logout(): Promise<void> {
    try {
      await this.command("LOGOUT");
    } finally {
      this.close();
    }
  }

  /** Closes the connection (no LOGOUT). */
  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

/** An IMAP quoted string (RFC 3501 §4.3): backslash before `"` and `\`. */
export function quote(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

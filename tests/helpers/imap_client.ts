/**
 * A small raw IMAP client for tests that must see every byte the server sends: tagged
 * commands with their untagged responses, literals in responses (RFC 3501 §4.3), synchronising
 * and non-synchronising literals in commands (RFC 7888), IDLE (RFC 2177), and the server
 * hanging up. Every wait has a deadline; nothing sleeps for a fixed time.
 *
 * Text is decoded as latin1, so one character is one octet and literal sizes can be checked
 * against string lengths.
 */

/** A tagged completion with the untagged responses that came before it. */
export interface ImapReply {
  tag: string;
  status: "OK" | "NO" | "BAD";
  /** The response code without brackets ("TOOBIG", "APPENDUID 7 3"), when there is one. */
  code?: string;
  /** The completion line after the tag. */
  text: string;
  /** Untagged responses ("* ..."), literals inlined, without the final CRLF. */
  untagged: string[];
}

/** A literal in a command: `{N}` waits for "+", `{N+}` does not (RFC 7888). */
export interface Literal {
  literal: Uint8Array | string;
  sync?: boolean;
}

/** How to connect. */
export interface ImapConnectOptions {
  /** Implicit TLS (the imaps port); `caCert` verifies the server as "mx.test.example". */
  tls?: { caCert: string };
}

const latin1 = new TextDecoder("latin1");
const encoder = new TextEncoder();
const LF = 10;

/** One IMAP connection. */
export class ImapClient {
  #buf = new Uint8Array(0);
  #ended = false;
  #wake: (() => void) | undefined;
  #tagCounter = 0;
  #closed = false;
  /** Untagged responses read while no command was waiting (IDLE, or before a command). */
  readonly unsolicited: string[] = [];
  /** The greeting, once read by `open`. */
  greeting = "";

  private constructor(private conn: Deno.Conn) {
    this.#pump();
  }

  /** Connects to 127.0.0.1:`port` without reading anything. */
  static async connect(port: number, opts: ImapConnectOptions = {}): Promise<ImapClient> {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    if (!opts.tls) return new ImapClient(tcp);
    const secure = await Deno.startTls(tcp, {
      hostname: "mx.test.example",
      caCerts: [opts.tls.caCert],
    });
    return new ImapClient(secure);
  }

  /** Connects and reads the greeting, which must be `* OK`. */
  static async open(port: number, opts: ImapConnectOptions = {}): Promise<ImapClient> {
    const c = await ImapClient.connect(port, opts);
    const greeting = await c.response();
    if (!greeting?.startsWith("* OK ")) {
      c.close();
      throw new Error(`bad greeting ${greeting}`);
    }
    c.greeting = greeting;
    return c;
  }

  /** Opens a connection and logs in; throws unless LOGIN succeeds. */
  static async login(port: number, user: string, password: string): Promise<ImapClient> {
    const c = await ImapClient.open(port);
    const r = await c.command(`LOGIN ${quote(user)} ${quote(password)}`);
    if (r.status !== "OK") {
      c.close();
      throw new Error(`LOGIN failed: ${r.text}`);
    }
    return c;
  }

  async #pump(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.conn.read(chunk);
        if (n === null) break;
        const next = new Uint8Array(this.#buf.length + n);
        next.set(this.#buf);
        next.set(chunk.subarray(0, n), this.#buf.length);
        this.#buf = next;
        this.#notify();
      }
    } catch {
      // Reset, or closed by us: both end the stream.
    }
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits until `ready()` gives a value, the stream ends (undefined) or the deadline (throws). */
  async #until<T>(ready: () => T | undefined, ms: number, what: string): Promise<T | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      if (this.#ended) return undefined;
      if (Date.now() >= deadline) {
        throw new Error(`timed out after ${ms} ms waiting for ${what}; pending: ${this.pending}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Bytes received and not yet consumed, as text. */
  get pending(): string {
    return latin1.decode(this.#buf);
  }

  /** True once the server closed the connection (or it was reset). */
  get ended(): boolean {
    return this.#ended;
  }

  /** A new tag, unique within this connection. */
  nextTag(): string {
    return `T${String(++this.#tagCounter).padStart(3, "0")}`;
  }

  /** Sends bytes as they are. */
  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let at = 0;
    while (at < bytes.length) at += await this.conn.write(bytes.subarray(at));
  }

  /**
   * Reads one whole response: a line, and when it ends with a literal marker `{N}` the N
   * octets and the rest of the response after them. Without the final CRLF; undefined when the
   * connection ended first.
   */
  async response(ms = 10_000): Promise<string | undefined> {
    return await this.#until(() => this.#takeResponse(), ms, "a response");
  }

  /** A complete response from the buffer, consumed; undefined when it is not all here yet. */
  #takeResponse(): string | undefined {
    let at = 0;
    for (;;) {
      const lf = this.#buf.indexOf(LF, at);
      if (lf < 0) return undefined;
      const line = latin1.decode(this.#buf.subarray(at, lf + 1));
      const marker = /\{(\d+)\}\r\n$/.exec(line);
      if (!marker) {
        const end = lf > 0 && this.#buf[lf - 1] === 13 ? lf - 1 : lf;
        const text = latin1.decode(this.#buf.subarray(0, end));
        this.#buf = this.#buf.slice(lf + 1);
        return text;
      }
      at = lf + 1 + Number(marker[1]);
      if (at > this.#buf.length) return undefined;
    }
  }

  /**
   * Reads responses until the tagged completion of `tag`; untagged ones are collected. A
   * command continuation ("+") here is an error: this command sent no literal.
   */
  async completion(tag: string, ms = 10_000): Promise<ImapReply> {
    const deadline = Date.now() + ms;
    const untagged: string[] = [];
    for (;;) {
      const line = await this.response(Math.max(1, deadline - Date.now()));
      if (line === undefined) {
        throw new Error(`connection closed before ${tag} completed; got ${untagged.join(" | ")}`);
      }
      if (line.startsWith("* ")) {
        untagged.push(line);
        continue;
      }
      const reply = parseTagged(line);
      if (reply?.tag === tag) return { ...reply, untagged };
      throw new Error(`unexpected response while waiting for ${tag}: ${line}`);
    }
  }

  /** Sends `TAG text` and waits for its completion. */
  async command(text: string, ms = 10_000): Promise<ImapReply> {
    const tag = this.nextTag();
    await this.send(`${tag} ${text}\r\n`);
    return await this.completion(tag, ms);
  }

  /**
   * Sends a command made of text and literals: after a synchronising literal's marker it
   * waits for "+" (a tagged reply instead, e.g. NO [TOOBIG], ends the command there).
   */
  async commandWithLiterals(parts: (string | Literal)[], ms = 30_000): Promise<ImapReply> {
    const tag = this.nextTag();
    const untagged: string[] = [];
    let text = `${tag} `;
    for (const part of parts) {
      if (typeof part === "string") {
        text += part;
        continue;
      }
      const bytes = typeof part.literal === "string" ? encoder.encode(part.literal) : part.literal;
      const sync = part.sync ?? true;
      await this.send(`${text}{${bytes.length}${sync ? "" : "+"}}\r\n`);
      text = "";
      if (sync) {
        const refused = await this.#continuation(tag, untagged, ms);
        if (refused) return refused;
      }
      await this.send(bytes);
    }
    await this.send(`${text}\r\n`);
    const done = await this.completion(tag, ms);
    return { ...done, untagged: [...untagged, ...done.untagged] };
  }

  /** Waits for "+"; returns the tagged reply instead when the server refused the command. */
  async #continuation(tag: string, untagged: string[], ms: number): Promise<ImapReply | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const line = await this.response(Math.max(1, deadline - Date.now()));
      if (line === undefined) throw new Error(`connection closed before "+" for ${tag}`);
      if (line.startsWith("+")) return undefined;
      if (line.startsWith("* ")) {
        untagged.push(line);
        continue;
      }
      const reply = parseTagged(line);
      if (reply?.tag === tag) return { ...reply, untagged };
      throw new Error(`unexpected response while waiting for "+": ${line}`);
    }
  }

  /** Waits for a command continuation request ("+ ..."), collecting untagged responses. */
  async expectContinuation(ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const line = await this.response(Math.max(1, deadline - Date.now()));
      if (line === undefined) throw new Error(`connection closed before "+"`);
      if (line.startsWith("+")) return line;
      if (line.startsWith("* ")) this.unsolicited.push(line);
      else throw new Error(`expected "+", got ${line}`);
    }
  }

  /** APPEND `message` to `mailbox` with a synchronising (or LITERAL+) literal. */
  async append(
    mailbox: string,
    message: string | Uint8Array,
    opts: { flags?: string; sync?: boolean } = {},
  ): Promise<ImapReply> {
    const flags = opts.flags ? `(${opts.flags}) ` : "";
    return await this.commandWithLiterals([
      `APPEND ${quote(mailbox)} ${flags}`,
      { literal: message, sync: opts.sync },
    ]);
  }

  /** Starts IDLE: sends it and waits for "+"; returns the tag to finish with `done`. */
  async idle(ms = 10_000): Promise<string> {
    const tag = this.nextTag();
    await this.send(`${tag} IDLE\r\n`);
    await this.expectContinuation(ms);
    return tag;
  }

  /** Ends IDLE with DONE and waits for its completion. */
  async done(tag: string, ms = 10_000): Promise<ImapReply> {
    await this.send("DONE\r\n");
    return await this.completion(tag, ms);
  }

  /**
   * Waits for an unsolicited untagged response matching `pattern` (IDLE pushes, or responses
   * that came in before); it and every one before it are taken off `unsolicited`.
   */
  async waitUntagged(pattern: RegExp, ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.unsolicited.findIndex((l) => pattern.test(l));
      if (i >= 0) return this.unsolicited.splice(0, i + 1)[i];
      const line = await this.response(Math.max(1, deadline - Date.now()));
      if (line === undefined) {
        throw new Error(`connection closed waiting for ${pattern}; had ${this.unsolicited}`);
      }
      if (!line.startsWith("* ")) throw new Error(`expected an untagged response, got ${line}`);
      this.unsolicited.push(line);
    }
  }

  /**
   * True when the server closes the connection within `ms`; whatever it sent meanwhile is
   * kept in `unsolicited` (a BYE, say).
   */
  async closedByServer(ms = 10_000): Promise<boolean> {
    const deadline = Date.now() + ms;
    try {
      for (;;) {
        const line = await this.response(Math.max(1, deadline - Date.now()));
        if (line === undefined) return true;
        this.unsolicited.push(line);
      }
    } catch {
      return false;
    }
  }

  /** Closes the socket (idempotent): the client vanishes without LOGOUT. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/** Parses `tag OK|NO|BAD [code] text`; undefined for anything else. */
export function parseTagged(line: string): Omit<ImapReply, "untagged"> | undefined {
  const m = /^([^ *+]+) (OK|NO|BAD)(?: \[([^\]]*)\])? ?(.*)$/i.exec(line);
  if (!m) return undefined;
  return {
    tag: m[1],
    status: m[2].toUpperCase() as ImapReply["status"],
    code: m[3],
    text: m[4],
  };
}

/** A quoted string (RFC 3501 §4.3): backslash and quote escaped. */
export function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

/** The literal contents in a response, in order (`{N}\r\n` followed by N octets). */
export function literalsOf(response: string): string[] {
  const out: string[] = [];
  const re = /\{(\d+)\}\r\n/g;
  for (let m = re.exec(response); m; m = re.exec(response)) {
    const start = m.index + m[0].length;
    out.push(response.slice(start, start + Number(m[1])));
    re.lastIndex = start + Number(m[1]);
  }
  return out;
}

/** The numbers of untagged responses like `* 3 EXPUNGE` (`kind` = "EXPUNGE"). */
export function numbered(untagged: readonly string[], kind: string): number[] {
  const re = new RegExp(`^\\* (\\d+) ${kind}\\b`, "i");
  return untagged.flatMap((l) => {
    const m = re.exec(l);
    return m ? [Number(m[1])] : [];
  });
}

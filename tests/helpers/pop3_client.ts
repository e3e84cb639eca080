/**
 * A minimal POP3 line client for tests that must see every byte the server sends: status
 * lines, multi-line responses (dot-unstuffed, or raw), STLS, and the server hanging up. Built
 * on node:net/node:tls so a test can also pick its local address (127.0.0.2 …) and look like
 * another client IP. Also a small SMTP sender to put mail into a test server's store.
 */
import net from "node:net";
import tls from "node:tls";
import { RawClient } from "./raw_client.ts";
import { TestServer, type TestServerOptions } from "./test_server.ts";

/** Where and how to connect. */
export interface Pop3ConnectOptions {
  /** Implicit TLS (the pop3s port). */
  tls?: boolean;
  /** PEM to verify the server's certificate with (hostname "mx.test.example"); none: no check. */
  caCert?: string;
  /** Local address to connect from, e.g. "127.0.0.2". */
  localAddress?: string;
}

/** A multi-line response: its status line and its content lines (unstuffed, without CRLF). */
export interface Pop3Multi {
  status: string;
  lines: string[];
}

const CRLF_DOT_CRLF = new Uint8Array([13, 10, 46, 13, 10]);
const latin1 = new TextDecoder("latin1");
const utf8 = new TextEncoder();

/** One POP3 connection. */
export class Pop3Client {
  #buf = new Uint8Array(0);
  #ended = false;
  #wake: (() => void) | undefined;
  #socket: net.Socket;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  /** Connects to 127.0.0.1:`port` and waits for the connection (TLS handshake included). */
  static async connect(port: number, opts: Pop3ConnectOptions = {}): Promise<Pop3Client> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const base = { host: "127.0.0.1", port, localAddress: opts.localAddress };
      const s = opts.tls
        ? tls.connect({ ...base, ...tlsOptions(opts.caCert) }, () => resolve(s))
        : net.connect(base, () => resolve(s));
      s.once("error", reject);
    });
    return new Pop3Client(socket);
  }

  /** Connects and reads the greeting, which must be `+OK`. */
  static async open(port: number, opts: Pop3ConnectOptions = {}): Promise<Pop3Client> {
    const c = await Pop3Client.connect(port, opts);
    const greeting = await c.line();
    if (!greeting.startsWith("+OK ")) throw new Error(`bad greeting ${greeting}`);
    return c;
  }

  /** True once TLS is up on this connection. */
  get encrypted(): boolean {
    return this.#socket instanceof tls.TLSSocket && this.#socket.encrypted === true;
  }

  #attach(socket: net.Socket): void {
    socket.on("data", (chunk: Uint8Array) => {
      const next = new Uint8Array(this.#buf.length + chunk.length);
      next.set(this.#buf);
      next.set(chunk, this.#buf.length);
      this.#buf = next;
      this.#notify();
    });
    const end = () => {
      this.#ended = true;
      this.#notify();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits until `ready()` holds, more data arrives, or the deadline; throws at the deadline. */
  async #waitFor<T>(ready: () => T | undefined, ms: number, what: string): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      if (this.#ended) {
        throw new Error(`connection closed while waiting for ${what}; got ${this.pending}`);
      }
      if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what}: ${this.pending}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Sends bytes as they are. */
  send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? utf8.encode(data) : data;
    return new Promise((resolve, reject) =>
      this.#socket.write(bytes, (err) => err ? reject(err) : resolve())
    );
  }

  /** Reads one line (without its CRLF; latin1, so every byte is one character). */
  async line(ms = 10_000): Promise<string> {
    return await this.#waitFor(
      () => {
        const lf = this.#buf.indexOf(10);
        if (lf < 0) return undefined;
        const end = lf > 0 && this.#buf[lf - 1] === 13 ? lf - 1 : lf;
        const text = latin1.decode(this.#buf.subarray(0, end));
        this.#buf = this.#buf.slice(lf + 1);
        return text;
      },
      ms,
      "a line",
    );
  }

  /** Sends a command and reads the one-line reply. */
  async command(line: string, ms = 10_000): Promise<string> {
    await this.send(line + "\r\n");
    return await this.line(ms);
  }

  /** Reads a status line and, when it is `+OK`, the multi-line content after it. */
  async multi(ms = 10_000): Promise<Pop3Multi> {
    const status = await this.line(ms);
    if (!status.startsWith("+OK")) return { status, lines: [] };
    const raw = await this.rawBody(ms);
    const text = latin1.decode(raw);
    const lines = text === "" ? [] : text.slice(0, -2).split("\r\n");
    return { status, lines };
  }

  /** Sends a command and reads a multi-line reply. */
  async commandMulti(line: string, ms = 10_000): Promise<Pop3Multi> {
    await this.send(line + "\r\n");
    return await this.multi(ms);
  }

  /**
   * Reads the content of a multi-line response up to and including `CRLF.CRLF` (after its
   * status line was read) and returns it unstuffed, with its final CRLF but not the dot line.
   */
  async rawBody(ms = 30_000): Promise<Uint8Array> {
    const wire = await this.#waitFor(
      () => {
        if (this.#buf.length >= 3 && this.#buf[0] === 46 && this.#buf[1] === 13) {
          if (this.#buf[2] === 10) return 3; // empty body: ".\r\n" at once
        }
        const at = indexOf(this.#buf, CRLF_DOT_CRLF);
        return at < 0 ? undefined : at + 5;
      },
      ms,
      "the end of a multi-line response",
    );
    const bytes = this.#buf.slice(0, wire);
    this.#buf = this.#buf.slice(wire);
    return unstuff(bytes);
  }

  /**
   * Sends STLS, expects `+OK`, and upgrades (no certificate check unless `caCert`). `injected`
   * is sent in clear in the same packet right after STLS, as a man in the middle would.
   */
  async stls(caCert?: string, injected = ""): Promise<void> {
    await this.send("STLS\r\n" + injected);
    const reply = await this.line();
    if (!reply.startsWith("+OK")) throw new Error(`STLS refused: ${reply}`);
    const plain = this.#socket;
    plain.removeAllListeners("data");
    plain.removeAllListeners("end");
    plain.removeAllListeners("close");
    plain.removeAllListeners("error");
    this.#buf = new Uint8Array(0);
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, ...tlsOptions(caCert) }, () => resolve(s));
      s.once("error", reject);
    });
    this.#socket = secure;
    this.#ended = false;
    this.#attach(secure);
  }

  /** Resolves true when the server closes the connection within `ms`. */
  async closedByServer(ms = 10_000): Promise<boolean> {
    try {
      await this.#waitFor(() => undefined, ms, "the server to close");
    } catch {
      return this.#ended;
    }
    return this.#ended;
  }

  /** Whatever was received but not consumed yet. */
  get pending(): string {
    return JSON.stringify(latin1.decode(this.#buf));
  }

  /** Drops the connection without QUIT (idempotent). */
  close(): void {
    this.#socket.destroy();
  }

  /** Logs in with USER/PASS; returns PASS's reply. */
  async login(user: string, password: string): Promise<string> {
    const u = await this.command(`USER ${user}`);
    if (!u.startsWith("+OK")) return u;
    return await this.command(`PASS ${password}`);
  }
}

function tlsOptions(caCert: string | undefined): tls.ConnectionOptions {
  return caCert
    ? { ca: caCert, servername: "mx.test.example", rejectUnauthorized: true }
    : { rejectUnauthorized: false };
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  for (let i = haystack.indexOf(first); i >= 0; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) return -1;
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/**
 * Undoes POP3 byte-stuffing of a dot-terminated response (`wire` ends with `.CRLF`): drops
 * the terminating dot line and one leading dot of every line that starts with one.
 */
export function unstuff(wire: Uint8Array): Uint8Array {
  const body = wire.subarray(0, wire.length - 3);
  const out = new Uint8Array(body.length);
  let at = 0;
  for (let i = 0; i < body.length; i++) {
    const lineStart = i === 0 || body[i - 1] === 10;
    if (lineStart && body[i] === 46) continue;
    out[at++] = body[i];
  }
  return out.subarray(0, at);
}

/** Sends one message over SMTP (dot-stuffed DATA) to `to`; throws unless it gets 250. */
export async function sendMail(
  smtpPort: number,
  to: string,
  message: Uint8Array | string,
): Promise<void> {
  const c = await RawClient.connect(smtpPort);
  try {
    await c.reply();
    await expectCode(c, "EHLO pop3-test.example", 250);
    await expectCode(c, "MAIL FROM:<sender@remote.test> BODY=8BITMIME SMTPUTF8", 250);
    await expectCode(c, `RCPT TO:<${to}>`, 250);
    await expectCode(c, "DATA", 354);
    const bytes = typeof message === "string" ? utf8.encode(message) : message;
    await c.send(smtpStuff(bytes));
    const r = await c.reply(60_000);
    if (r.code !== 250) throw new Error(`message refused: ${r.text}`);
    await c.command("QUIT");
  } finally {
    c.close();
  }
}

async function expectCode(c: RawClient, line: string, code: number): Promise<void> {
  const r = await c.command(line);
  if (r.code !== code) throw new Error(`${line} → ${r.text}`);
}

/** SMTP transparency (RFC 5321 §4.5.2) and the end marker; `message` must end with CRLF. */
function smtpStuff(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(message.length * 2 + 3);
  let at = 0;
  for (let i = 0; i < message.length; i++) {
    if (message[i] === 46 && (i === 0 || message[i - 1] === 10)) out[at++] = 46;
    out[at++] = message[i];
  }
  out.set([46, 13, 10], at);
  return out.subarray(0, at + 3);
}

/**
 * `TestServer.start`, tried again when a port picked by `freePort()` was taken by another
 * process before the server bound it (parallel test files race for ephemeral ports).
 */
export async function startServer(opts: TestServerOptions = {}): Promise<TestServer> {
  for (let attempt = 1;; attempt++) {
    try {
      return await TestServer.start(opts);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test((err as Error).message)) throw err;
    }
  }
}

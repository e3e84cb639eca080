/**
 * One outbound SMTP connection (RFC 5321): the greeting, EHLO with HELO fallback, STARTTLS
 * (RFC 3207), AUTH PLAIN/LOGIN (RFC 4954), and mail transactions with PIPELINING (RFC 2920).
 * Every wait has the timeout of RFC 5321 §4.5.3.2. A transcript of the conversation goes to
 * `onLine`, with AUTH secrets masked and message content never included.
 */
import type { Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { ReplyReader, replyText, type SmtpReply } from "./reply_reader.ts";
import { type Envelope, type PeerCapabilities, precheck } from "./envelope.ts";
import { runTransaction, type SendResult } from "./transaction.ts";
import {
  type ClientTimeouts,
  type ConnectOptions,
  DEFAULT_TIMEOUTS,
  SmtpClientError,
  type TlsInfo,
  type TlsOptions,
  type TranscriptDirection,
  type TranscriptListener,
} from "./options.ts";
import { openSocket, tlsConnectOptions } from "./socket.ts";

export type { Envelope } from "./envelope.ts";
export type { RecipientResult, SendResult } from "./transaction.ts";
export {
  type ClientTimeouts,
  type ConnectOptions,
  DEFAULT_TIMEOUTS,
  SmtpClientError,
  type SmtpClientErrorKind,
  type TlsInfo,
  type TlsOptions,
  type TranscriptDirection,
  type TranscriptListener,
} from "./options.ts";

const encoder = new TextEncoder();

/** One SMTP session over one socket. Methods must not be called concurrently. */
export class SmtpClientConnection implements PeerCapabilities {
  #socket: Socket;
  #reader = new ReplyReader();
  #wake: (() => void) | undefined;
  #failure: SmtpClientError | undefined;
  #closing = false;
  #extensions = new Map<string, string>();
  #esmtp = false;
  #heloName: string | undefined;
  #tls: TlsInfo | undefined;
  #timeouts: ClientTimeouts;
  #onLine: TranscriptListener | undefined;
  /** A MAIL was accepted and its transaction not finished: RSET before the next. */
  #inTransaction = false;
  /** The greeting (RFC 5321 §4.2, code 220). */
  greeting: SmtpReply | undefined;

  private constructor(
    socket: Socket,
    /** The address or name connected to. */
    readonly host: string,
    readonly port: number,
    timeouts: ClientTimeouts,
    onLine: TranscriptListener | undefined,
  ) {
    this.#socket = socket;
    this.#timeouts = timeouts;
    this.#onLine = onLine;
    this.#attach(socket);
  }

  /**
   * Connects and reads the greeting.
   * @throws SmtpClientError "connect" or "timeout" when no session starts, "reply" (with the
   *   reply) when the greeting is not 220 (RFC 5321 §3.1: the client then sends QUIT)
   */
  static async connect(
    host: string,
    port: number,
    opts: ConnectOptions = {},
  ): Promise<SmtpClientConnection> {
    const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    const socket = await openSocket(host, port, opts.implicitTls, timeouts.connect);
    const conn = new SmtpClientConnection(socket, host, port, timeouts, opts.onLine);
    if (opts.implicitTls) conn.#tlsUp(socket as TLSSocket);
    try {
      conn.greeting = await conn.#read(timeouts.greeting, "the greeting");
    } catch (err) {
      conn.close();
      throw err;
    }
    if (conn.greeting.code !== 220) {
      await conn.quit();
      throw replyError("greeting", conn.greeting);
    }
    return conn;
  }

  /** The EHLO keywords offered (upper case) with their parameters. */
  get extensions(): ReadonlyMap<string, string> {
    return this.#extensions;
  }

  /** True when EHLO was accepted (not the HELO fallback). */
  get esmtp(): boolean {
    return this.#esmtp;
  }

  /** TLS parameters once TLS is up. */
  get tls(): TlsInfo | undefined {
    return this.#tls;
  }

  /** True while the connection can carry another command. */
  get isOpen(): boolean {
    return this.#failure === undefined && !this.#closing;
  }

  /** True when the EHLO reply lists `keyword`. */
  supports(keyword: string): boolean {
    return this.#extensions.has(keyword.toUpperCase());
  }

  /** The SIZE limit (RFC 1870 §4); undefined when none or 0 ("no fixed maximum"). */
  get maxSize(): number | undefined {
    const n = Number(this.#extensions.get("SIZE") ?? "");
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  }

  /** The SASL mechanisms of the AUTH keyword (RFC 4954 §3), upper case. */
  get authMechanisms(): string[] {
    return (this.#extensions.get("AUTH") ?? "").toUpperCase().split(/\s+/).filter((m) => m);
  }

  /**
   * Sends EHLO, or HELO when the server rejects EHLO with a 5xx (RFC 5321 §3.2, §4.1.4), and
   * records the extensions offered.
   * @throws SmtpClientError "reply" when both are refused (or EHLO gets a 4xx)
   */
  async ehlo(name: string): Promise<SmtpReply> {
    this.#heloName = name;
    this.#extensions = new Map();
    this.#esmtp = false;
    const reply = await this.#command(`EHLO ${name}`, this.#timeouts.command, "EHLO");
    if (reply.code === 250) {
      this.#esmtp = true;
      // Each line after the first is "keyword [params]" (RFC 5321 §4.1.1.1).
      for (const line of reply.lines.slice(1)) {
        const m = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?$/.exec(line.trim());
        if (m) this.#extensions.set(m[1].toUpperCase(), (m[2] ?? "").trim());
      }
      return reply;
    }
    // A 554 ("no SMTP service here", §3.1) will not be cured by HELO.
    if (reply.code < 500 || reply.code === 554 || !this.isOpen) throw replyError("EHLO", reply);
    const helo = await this.#command(`HELO ${name}`, this.#timeouts.command, "HELO");
    if (helo.code !== 250) throw replyError("HELO", helo);
    return helo;
  }

  /**
   * Upgrades to TLS (RFC 3207) and sends EHLO again, as the server forgets everything it was
   * told before (§4.2).
   * @throws SmtpClientError "reply" when the server refuses STARTTLS (the plain session is
   *   still usable), "tls"/"protocol"/"timeout" when the upgrade fails (the connection is gone)
   */
  async starttls(opts: TlsOptions = {}): Promise<TlsInfo> {
    const reply = await this.#command("STARTTLS", this.#timeouts.command, "STARTTLS");
    if (reply.code !== 220) throw replyError("STARTTLS", reply);
    if (this.#reader.buffered > 0) {
      // Bytes after the 220 were sent in clear and would be read as if inside TLS: a man in
      // the middle's injection (the client side of CVE-2011-0411). Refuse the session.
      throw this.#fail(new SmtpClientError("data after the 220 to STARTTLS", "protocol"));
    }
    const plain = this.#socket;
    this.#detach(plain);
    // The TLS socket reports what happens below it; keep stray plain-socket errors quiet.
    plain.on("error", () => {});
    const secure = tlsConnect({
      socket: plain,
      ...tlsConnectOptions(opts),
    });
    this.#socket = secure;
    this.#attach(secure);
    await this.#handshake(secure, this.#timeouts.command);
    const info = this.#tlsUp(secure);
    this.#extensions = new Map();
    this.#esmtp = false;
    if (this.#heloName !== undefined) await this.ehlo(this.#heloName);
    return info;
  }

  /**
   * Authenticates with PLAIN (RFC 4616) or else LOGIN, as offered (RFC 4954). Refuses to send
   * a password without TLS unless `allowPlaintext`. The transcript shows the secrets masked.
   * @throws SmtpClientError "reply" with the server's refusal (535 5.7.8 and the like)
   */
  async auth(user: string, password: string, allowPlaintext = false): Promise<SmtpReply> {
    if (!this.#tls && !allowPlaintext) {
      throw new SmtpClientError("refusing to send a password without TLS", "protocol");
    }
    const mechanisms = this.authMechanisms;
    const timeout = this.#timeouts.command;
    let reply: SmtpReply;
    if (mechanisms.includes("PLAIN") || !mechanisms.includes("LOGIN")) {
      // RFC 4616 §2: authzid NUL authcid NUL passwd, as an initial response (RFC 4954 §4).
      const token = base64(`\0${user}\0${password}`);
      reply = await this.#command(`AUTH PLAIN ${token}`, timeout, "AUTH", "AUTH PLAIN ****");
    } else {
      reply = await this.#command("AUTH LOGIN", timeout, "AUTH");
      for (const secret of [user, password]) {
        if (reply.code !== 334) break;
        reply = await this.#command(base64(secret), timeout, "AUTH", "****");
      }
    }
    if (reply.code === 334) {
      // A challenge we do not expect: cancel the exchange (RFC 4954 §4, "*").
      reply = await this.#command("*", timeout, "AUTH");
    }
    if (reply.code !== 235) throw replyError("AUTH", reply);
    return reply;
  }

  /**
   * Sends one message: MAIL, the RCPTs (in one batch under PIPELINING, RFC 2920 §3.1), then
   * DATA with the content dot-stuffed (RFC 5321 §4.5.2). Never rejects for what the peer or
   * the network does: every recipient comes back delivered, deferred or failed, and `isOpen`
   * says whether the connection can take another message. Recipients are expected unique.
   */
  async send(envelope: Envelope, message: Uint8Array): Promise<SendResult> {
    const unsendable = precheck(envelope, message.length, this);
    if (unsendable) {
      return {
        recipients: envelope.recipients.map((address) => ({
          address,
          status: "failed",
          reply: unsendable,
        })),
        dsn: false,
      };
    }
    return await runTransaction(this, envelope, message, this.#timeouts);
  }

  /** Ends a transaction (RFC 5321 §4.1.1.5). @throws SmtpClientError unless 250 */
  async rset(): Promise<void> {
    const reply = await this.#command("RSET", this.#timeouts.command, "RSET");
    if (reply.code !== 250) throw replyError("RSET", reply);
    this.#inTransaction = false;
  }

  /** Says QUIT (RFC 5321 §4.1.1.10) when the session is still up, then closes. Never throws. */
  async quit(): Promise<void> {
    if (this.isOpen) {
      try {
        await this.#command("QUIT", Math.min(this.#timeouts.command, 10_000), "QUIT");
      } catch {
        // Closing anyway.
      }
    }
    await this.#close();
  }

  /** Drops the connection at once. */
  close(): void {
    this.#fail(new SmtpClientError("connection closed by the client", "closed"));
  }

  // ---- used by the transaction ----

  /** @internal Whether a MAIL is open; set by the transaction. */
  get inTransaction(): boolean {
    return this.#inTransaction;
  }

  /** @internal */
  set inTransaction(open: boolean) {
    this.#inTransaction = open;
  }

  /**
   * @internal Writes command lines in one write; `shown` replaces them in the transcript.
   */
  async writeLines(lines: string[], timeoutMs: number, shown?: string[]): Promise<void> {
    for (const [i, line] of lines.entries()) this.#onLine?.("C", shown?.[i] ?? line);
    await this.writeBytes(encoder.encode(lines.map((l) => `${l}\r\n`).join("")), timeoutMs);
  }

  /** @internal Writes bytes, waiting for the socket to drain within `timeoutMs`. */
  async writeBytes(bytes: Uint8Array, timeoutMs: number): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (this.#socket.write(bytes)) return;
    const socket = this.#socket;
    const deadline = Date.now() + timeoutMs;
    let drained = false;
    const onDrain = () => {
      drained = true;
      this.#notify();
    };
    socket.once("drain", onDrain);
    try {
      while (!drained) {
        if (this.#failure) throw this.#failure;
        await this.#wait(deadline - Date.now(), "the connection to take more data");
      }
    } finally {
      socket.off("drain", onDrain);
    }
  }

  /** @internal Logs a transcript line of the client's that is not a command. */
  note(dir: TranscriptDirection, text: string): void {
    this.#onLine?.(dir, text);
  }

  /** @internal Reads one reply within `timeoutMs`; a 421 marks the session as closing. */
  async read(timeoutMs: number, what: string): Promise<SmtpReply> {
    return await this.#read(timeoutMs, what);
  }

  // ---- internals ----

  async #command(
    line: string,
    timeoutMs: number,
    what: string,
    shown?: string,
  ): Promise<SmtpReply> {
    await this.writeLines([line], timeoutMs, shown === undefined ? undefined : [shown]);
    return await this.#read(timeoutMs, `the reply to ${what}`);
  }

  async #read(timeoutMs: number, what: string): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let reply: SmtpReply | undefined;
      try {
        reply = this.#reader.next();
      } catch (err) {
        throw this.#fail(new SmtpClientError((err as Error).message, "protocol"));
      }
      if (reply) {
        const last = reply.lines.length - 1;
        for (const [i, text] of reply.lines.entries()) {
          this.#onLine?.("S", `${reply.code}${i === last ? " " : "-"}${text}`);
        }
        // RFC 5321 §3.8: 421 may answer any command; the server closes the channel after it.
        if (reply.code === 421) this.#closing = true;
        return reply;
      }
      if (this.#failure) throw this.#failure;
      await this.#wait(deadline - Date.now(), what);
    }
  }

  /** Waits for input, a drain or the end of the socket; fails the connection on timeout. */
  async #wait(timeoutMs: number, what: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        reject(
          this.#fail(new SmtpClientError(`timed out waiting for ${what}`, "timeout")),
        );
      }, Math.max(0, timeoutMs));
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #onData = (chunk: Uint8Array): void => {
    this.#reader.push(chunk);
    this.#notify();
  };

  #onClose = (): void => {
    this.#failure ??= new SmtpClientError("connection closed by the server", "closed");
    this.#notify();
  };

  #onError = (err: Error): void => {
    this.#failure ??= new SmtpClientError(`connection error: ${err.message}`, "closed");
    this.#notify();
  };

  #attach(socket: Socket): void {
    socket.on("data", this.#onData);
    socket.on("close", this.#onClose);
    socket.on("error", this.#onError);
  }

  #detach(socket: Socket): void {
    socket.off("data", this.#onData);
    socket.off("close", this.#onClose);
    socket.off("error", this.#onError);
  }

  async #handshake(secure: TLSSocket, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let done = false;
    const onSecure = () => {
      done = true;
      this.#notify();
    };
    secure.once("secureConnect", onSecure);
    try {
      while (!done) {
        if (this.#failure) {
          throw this.#fail(
            new SmtpClientError(`TLS handshake failed: ${this.#failure.message}`, "tls"),
          );
        }
        await this.#wait(deadline - Date.now(), "the TLS handshake");
      }
    } finally {
      secure.off("secureConnect", onSecure);
    }
  }

  #tlsUp(secure: TLSSocket): TlsInfo {
    this.#tls = {
      protocol: secure.getProtocol() ?? "TLS",
      cipher: secure.getCipher()?.name ?? "",
      authorized: secure.authorized,
    };
    const { protocol, cipher, authorized } = this.#tls;
    this.#onLine?.(
      "TLS",
      `${protocol} ${cipher}, certificate ${authorized ? "verified" : "not verified"}`,
    );
    return this.#tls;
  }

  /** Marks the connection failed (first reason wins), destroys the socket, returns the reason. */
  #fail(err: SmtpClientError): SmtpClientError {
    this.#failure ??= err;
    this.#socket.destroy();
    this.#notify();
    return this.#failure;
  }

  /** Half-closes, then waits (briefly) for the socket to be gone so nothing leaks. */
  async #close(): Promise<void> {
    const socket = this.#socket;
    this.#failure ??= new SmtpClientError("connection closed by the client", "closed");
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, 2000);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }
}

function replyError(step: string, reply: SmtpReply): SmtpClientError {
  return new SmtpClientError(`${step} refused: ${replyText(reply)}`, "reply", reply);
}

function base64(text: string): string {
  const bytes = encoder.encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

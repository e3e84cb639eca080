/**
 * A scripted SMTP server for the outbound client's tests (and tests of that server itself):
 * node:net on a loopback address and a free port, STARTTLS with a self-signed certificate,
 * AUTH PLAIN/LOGIN, and hooks that choose each reply. It records every command line, every
 * transaction and whether MAIL arrived with its RCPTs already behind it (PIPELINING).
 */
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { DnsError, type MxRecord, type Resolver } from "../../src/dns/resolver.ts";
import { createSelfSignedCertificate } from "../../src/tls/self_signed.ts";

/** What the peer does; every hook returns a whole reply ("550 5.1.1 no") or undefined. */
export interface PeerScript {
  /** The greeting, CRLF-separated lines with codes; default "220 peer.test ESMTP". */
  greeting?: string;
  /** EHLO keywords; null: EHLO is unknown (502), only HELO works. */
  extensions?: string[] | null;
  /** Offer STARTTLS with this certificate. */
  tls?: { certPem: string; keyPem: string };
  /** Accept these credentials, announcing `mechanisms` (default "PLAIN LOGIN"). */
  auth?: { user: string; password: string; mechanisms?: string };
  mail?: (from: string, params: string) => string | undefined;
  rcpt?: (to: string) => string | undefined;
  data?: () => string | undefined;
  message?: (content: Uint8Array) => string | undefined;
  /** Never answer at this point. */
  hang?: "greeting" | "data-end";
  /** Say 354 to DATA even when no recipient was accepted (a server RFC 2920 §3.1 warns of). */
  acceptEmptyData?: boolean;
  /** TLS from the first byte (RFC 8314, port 465) with the `tls` certificate. */
  implicitTls?: boolean;
  /** Say 220 to STARTTLS, then drop the connection instead of a handshake. */
  brokenTls?: boolean;
}

/** One transaction as the peer saw it. */
export interface PeerTransaction {
  from: string;
  params: string;
  rcpts: string[];
  /** RCPT lines were already buffered when MAIL was read: the client pipelined. */
  pipelined: boolean;
  tls: boolean;
  /** The content as sent (dot-stuffed, without the final ".") and as meant (unstuffed). */
  raw?: Uint8Array;
  content?: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A running scripted peer. */
export class FakePeer {
  /** Every command line received, in order, across connections. */
  readonly commands: string[] = [];
  readonly transactions: PeerTransaction[] = [];
  connections = 0;
  /** Logins that succeeded. */
  readonly logins: string[] = [];
  #sockets = new Set<Socket>();
  #context: SecureContext | undefined;

  private constructor(readonly server: Server, readonly port: number, readonly script: PeerScript) {
    if (script.tls) {
      this.#context = createSecureContext({ cert: script.tls.certPem, key: script.tls.keyPem });
    }
  }

  /** Listens on `host` ("127.0.0.1" or "::1") and `port` (0: any free one). */
  static async start(script: PeerScript = {}, host = "127.0.0.1", port = 0): Promise<FakePeer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const peer = new FakePeer(server, (server.address() as AddressInfo).port, script);
    server.on("connection", (socket: Socket) => peer.#serve(socket));
    return peer;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #serve(plain: Socket): void {
    this.connections++;
    this.#sockets.add(plain);
    plain.setNoDelay(true);
    plain.on("close", () => this.#sockets.delete(plain));
    plain.on("error", () => {});
    const s = this.script;
    let socket: Socket = plain;
    let buf = new Uint8Array(0);
    let tls = false;
    let tx: PeerTransaction | undefined;
    let inData = false;
    let authStep: undefined | "plain" | "login-user" | "login-pass";
    let loginUser = "";
    const send = (text: string) => socket.write(`${text}\r\n`);
    const extensions = () => {
      const list = s.extensions === undefined
        ? ["PIPELINING", "8BITMIME", "SIZE 1000000", "ENHANCEDSTATUSCODES"]
        : [...s.extensions ?? []];
      if (s.tls && !tls && !s.implicitTls) list.push("STARTTLS");
      if (s.auth) list.push(`AUTH ${s.auth.mechanisms ?? "PLAIN LOGIN"}`);
      return list;
    };
    const checkLogin = (user: string, password: string) => {
      const ok = user === s.auth?.user && password === s.auth?.password;
      if (ok) this.logins.push(user);
      send(ok ? "235 2.7.0 Authentication successful" : "535 5.7.8 Authentication failed");
    };
    const onLine = (line: string, more: boolean): "tls" | void => {
      if (authStep) {
        const text = atob(line);
        if (authStep === "plain") {
          authStep = undefined;
          const [, user, password] = text.split("\0");
          return checkLogin(user, password);
        }
        if (authStep === "login-user") {
          loginUser = text;
          authStep = "login-pass";
          return void send("334 UGFzc3dvcmQ6");
        }
        authStep = undefined;
        return checkLogin(loginUser, text);
      }
      this.commands.push(line);
      const [verb, ...rest] = line.split(" ");
      const arg = rest.join(" ");
      switch (verb.toUpperCase()) {
        case "EHLO": {
          if (s.extensions === null) return void send("502 5.5.2 EHLO not implemented");
          const lines = [`peer.test greets ${arg}`, ...extensions()];
          return void send(
            lines.map((l, i) => `250${i < lines.length - 1 ? "-" : " "}${l}`)
              .join("\r\n"),
          );
        }
        case "HELO":
          return void send("250 peer.test");
        case "STARTTLS":
          if (!s.tls || tls) return void send("502 5.5.1 no STARTTLS here");
          send("220 2.0.0 Ready to start TLS");
          if (s.brokenTls) return void socket.destroy();
          return "tls";
        case "AUTH": {
          const [mech, initial] = rest;
          authStep = mech === "PLAIN" ? "plain" : "login-user";
          if (mech === "PLAIN" && initial) return onLine(initial, more);
          return void send(mech === "PLAIN" ? "334 " : "334 VXNlcm5hbWU6");
        }
        case "MAIL": {
          const m = /^FROM:<([^>]*)>\s*(.*)$/i.exec(arg);
          const from = m?.[1] ?? "";
          const params = m?.[2] ?? "";
          const reply = s.mail?.(from, params) ?? "250 2.1.0 OK";
          if (reply.startsWith("2")) {
            tx = { from, params, rcpts: [], pipelined: more, tls };
          }
          return void send(reply);
        }
        case "RCPT": {
          if (!tx) return void send("503 5.5.1 MAIL first");
          const to = /^TO:<([^>]*)>/i.exec(arg)?.[1] ?? "";
          const reply = s.rcpt?.(to) ?? "250 2.1.5 OK";
          if (reply.startsWith("2")) tx.rcpts.push(to);
          return void send(reply);
        }
        case "DATA": {
          if (!tx || (tx.rcpts.length === 0 && !s.acceptEmptyData)) {
            return void send("503 5.5.1 no valid recipients");
          }
          const reply = s.data?.() ?? "354 go ahead";
          if (reply.startsWith("354")) inData = true;
          return void send(reply);
        }
        case "RSET":
          tx = undefined;
          return void send("250 2.0.0 OK");
        case "NOOP":
          return void send("250 2.0.0 OK");
        case "QUIT":
          send("221 2.0.0 Bye");
          socket.end();
          return;
        default:
          return void send("500 5.5.2 unknown command");
      }
    };
    const onData = (chunk: Uint8Array) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
      for (;;) {
        if (inData) {
          const end = findEnd(buf);
          if (end < 0) return;
          const raw = buf.slice(0, end);
          buf = buf.slice(end + (end === 0 ? 3 : 5));
          inData = false;
          const t = tx!;
          t.raw = raw;
          t.content = unstuff(raw);
          this.transactions.push(t);
          tx = undefined;
          if (s.hang === "data-end") return;
          send(s.message?.(t.content) ?? "250 2.0.0 queued as X1");
          continue;
        }
        const lf = buf.indexOf(10);
        if (lf < 0) return;
        const line = decoder.decode(buf.subarray(0, lf)).replace(/\r$/, "");
        buf = buf.slice(lf + 1);
        if (onLine(line, buf.indexOf(10) >= 0) === "tls") {
          // RFC 3207 §4.2: anything sent before the handshake is discarded.
          buf = new Uint8Array(0);
          socket.off("data", onData);
          const secure = new TLSSocket(plain, { isServer: true, secureContext: this.#context });
          secure.on("error", () => {});
          secure.once("secure", () => {
            tls = true;
          });
          secure.on("data", onData);
          socket = secure;
          return;
        }
      }
    };
    if (s.implicitTls) {
      const secure = new TLSSocket(plain, { isServer: true, secureContext: this.#context });
      secure.on("error", () => {});
      tls = true;
      secure.on("data", onData);
      socket = secure;
    } else plain.on("data", onData);
    if (s.hang !== "greeting") send(s.greeting ?? "220 peer.test ESMTP fake");
  }
}

/** Where ".CRLF" ends the content: the index of the CRLF before it, 0 for empty content. */
function findEnd(buf: Uint8Array): number {
  if (buf.length >= 3 && buf[0] === 46 && buf[1] === 13 && buf[2] === 10) return 0;
  for (let i = 0; i + 4 < buf.length; i++) {
    if (
      buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 46 && buf[i + 3] === 13 &&
      buf[i + 4] === 10
    ) return i;
  }
  return -1;
}

/** Content without the dot-stuffing (RFC 5321 §4.5.2), with its last CRLF. */
function unstuff(raw: Uint8Array): Uint8Array {
  const text = decoder.decode(raw);
  return encoder.encode(
    text.split("\r\n").map((l) => l.startsWith(".") ? l.slice(1) : l)
      .join("\r\n") + (raw.length > 0 ? "\r\n" : ""),
  );
}

/** A certificate for the peers, made once per process. */
let certificate: Promise<{ certPem: string; keyPem: string }> | undefined;

/** The self-signed certificate of `peer.test`, shared by every test of the process. */
export function peerCertificate(): Promise<{ certPem: string; keyPem: string }> {
  certificate ??= createSelfSignedCertificate("peer.test");
  return certificate;
}

/** An in-memory Resolver: MX records (or a DnsError) per domain, addresses per host. */
export function stubResolver(
  mx: Record<string, MxRecord[] | DnsError>,
  addresses: Record<string, string[]> = {},
): Resolver {
  return {
    mx: (domain) => {
      const r = mx[domain] ?? [];
      return r instanceof DnsError ? Promise.reject(r) : Promise.resolve(r);
    },
    addresses: (host) => Promise.resolve(addresses[host] ?? []),
    txt: () => Promise.resolve([]),
  };
}

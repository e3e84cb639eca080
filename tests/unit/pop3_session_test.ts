/**
 * The POP3 session machine fed with bytes over an in-memory socket, with stub ports and a fake
 * maildrop: states, every command, wrong-state errors, garbage, CAPA, AUTH PLAIN, DELE/RSET/
 * QUIT semantics and byte-stuffing.
 */
import assert from "node:assert/strict";
import type { SecureContext } from "node:tls";
import type { Login } from "../../src/auth/authenticator.ts";
import type { UnlockedUserKeys } from "../../src/crypto/user_keys.ts";
import { createLogger } from "../../src/log.ts";
import type { Maildrop } from "../../src/mail/maildrop.ts";
import { Connection } from "../../src/net/connection.ts";
import { type Pop3Ports, Pop3Session } from "../../src/pop3/session.ts";
import type { MessageMeta } from "../../src/store/mail_store.ts";
import { MemorySocket } from "../helpers/memory_socket.ts";
import { unstuff } from "../helpers/pop3_client.ts";

const USER = "alice@example.org";
const PASSWORD = "secret pass phrase";
const enc = new TextEncoder();
const b64 = (s: string) => btoa(String.fromCharCode(...enc.encode(s)));
type LoginResult = Awaited<ReturnType<Pop3Ports["login"]>>;

/** Also keeps the raw bytes the server wrote. */
class ByteSocket extends MemorySocket {
  chunks: Uint8Array[] = [];
  override _write(chunk: Uint8Array | string, e: string, done: () => void): void {
    this.chunks.push(typeof chunk === "string" ? enc.encode(chunk) : new Uint8Array(chunk));
    super._write(chunk, e, done);
  }
  get bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** The default maildrop: three messages with dot lines and a message without a final CRLF. */
const MESSAGES = [
  "Subject: one\r\nFrom: a@remote.test\r\n\r\nfirst body\r\n",
  "Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle . dot\r\n...\r\nlast\r\n",
  "Subject: three\r\nX-Long: yes\r\n\r\nl1\r\nl2\r\nl3\r\nl4\r\n",
];

interface FakeDrop {
  drop: Maildrop;
  expunged: number[][];
  released: number;
  failRead: boolean;
  failExpunge: boolean;
}

function fakeDrop(contents: string[] = MESSAGES): FakeDrop {
  const bytes = contents.map((c) => enc.encode(c));
  const messages: MessageMeta[] = bytes.map((b, i) => ({
    mailboxId: "inbox-of-alice",
    uid: 11 + i * 2,
    size: b.length,
    internalDate: 0,
    flags: [],
    modSeq: 1,
  }));
  const state: FakeDrop = {
    drop: undefined as unknown as Maildrop,
    expunged: [],
    released: 0,
    failRead: false,
    failExpunge: false,
  };
  state.drop = {
    messages,
    mailboxId: "inbox-of-alice",
    uidValidity: 4242,
    read: (meta: MessageMeta) =>
      state.failRead
        ? Promise.reject(new Error("disk on fire"))
        : Promise.resolve(bytes[(meta.uid - 11) / 2]),
    expunge: (uids: number[]) => {
      if (state.failExpunge) return Promise.reject(new Error("disk on fire"));
      state.expunged.push(uids);
      return Promise.resolve();
    },
    readAhead: () => {},
    release: () => {
      state.released++;
    },
  } as unknown as Maildrop;
  return state;
}

interface Options {
  plaintext?: boolean;
  /** A TLS context to offer STLS with (never used for a handshake here). */
  tls?: boolean;
  /** The connection already runs TLS (as on pop3s). */
  onTls?: boolean;
  maxErrors?: number;
  maxLineLength?: number;
  timeoutMs?: number;
  login?: (address: string, password: string) => LoginResult;
  open?: () => Promise<Maildrop | "in-use">;
  contents?: string[];
}

function start(opts: Options = {}) {
  const socket = new ByteSocket();
  const fake = fakeDrop(opts.contents);
  const logins: { address: string; password: string; ip: string }[] = [];
  const opened: Login[] = [];
  const ports: Pop3Ports = {
    hostname: "pop.example.org",
    tls: opts.tls ? ({} as SecureContext) : undefined,
    plaintextAllowed: (conn) => conn.tls !== undefined || (opts.plaintext ?? true),
    login: (address, password, ip) => {
      logins.push({ address, password, ip });
      if (opts.login) return Promise.resolve(opts.login(address, password));
      return Promise.resolve(
        address.toLowerCase() === USER && password === PASSWORD
          ? { address: USER, keys: {} as UnlockedUserKeys }
          : "bad",
      );
    },
    openMaildrop: (login) => {
      opened.push(login);
      return opts.open ? opts.open() : Promise.resolve(fake.drop);
    },
    maxLoginFailures: 3,
    maxErrors: opts.maxErrors ?? 50,
    handshakeTimeoutMs: 1000,
  };
  const conn = new Connection(socket.asSocket(), {
    maxLineLength: opts.maxLineLength ?? 1000,
    timeoutMs: opts.timeoutMs ?? 5000,
  });
  if (opts.onTls) {
    Object.defineProperty(conn, "tls", { get: () => ({ protocol: "TLSv1.3", cipher: "test" }) });
  }
  const session = new Pop3Session(conn, ports, createLogger("error", () => {}));
  const done = session.run();
  return { socket, fake, logins, opened, session, done };
}

type Started = ReturnType<typeof start>;

/** Sends `input` and returns the new output once it matches `expect`. */
async function exchange(s: Started, input: string | Uint8Array, expect: RegExp): Promise<string> {
  const before = s.socket.output.length;
  s.socket.send(input);
  await s.socket.waitFor(new RegExp(`^[\\s\\S]{${before}}[\\s\\S]*?${expect.source}`));
  return s.socket.output.slice(before);
}

/** One command, one status line. */
const line = (s: Started, cmd: string) => exchange(s, cmd + "\r\n", /\r\n$/);
/** One command with a multi-line answer (or a -ERR line). */
const multi = (s: Started, cmd: string) =>
  exchange(s, cmd + "\r\n", /(^|\r\n)(-ERR [^\r\n]*|\.)\r\n$/);

async function greeted(opts: Options = {}): Promise<Started> {
  const s = start(opts);
  await s.socket.waitFor(/\r\n$/);
  return s;
}

async function loggedIn(opts: Options = {}): Promise<Started> {
  const s = await greeted(opts);
  assert.equal(await line(s, `USER ${USER}`), "+OK Send PASS\r\n");
  assert.match(await line(s, `PASS ${PASSWORD}`), /^\+OK Logged in/);
  return s;
}

async function quit(s: Started): Promise<string> {
  const out = await line(s, "QUIT");
  await s.done;
  return out;
}

const LOGIN_COMMANDS = [`USER ${USER}`, `PASS ${PASSWORD}`, "AUTH PLAIN", "APOP a b"];
const TRANSACTION_COMMANDS = [
  "STAT",
  "LIST",
  "LIST 1",
  "UIDL",
  "UIDL 1",
  "RETR 1",
  "TOP 1 0",
  "DELE 1",
  "RSET",
  "NOOP",
];

Deno.test("pop3 session: AUTHORIZATION state", async (t) => {
  const s = await greeted();
  await t.step("greeting", () => {
    assert.equal(s.socket.output, "+OK pop.example.org fsmtp POP3 server ready\r\n");
    assert.equal(s.session.state, "authorization");
  });
  await t.step("transaction commands before login", async () => {
    for (const cmd of TRANSACTION_COMMANDS) {
      assert.equal(await line(s, cmd), "-ERR Log in first (USER/PASS or AUTH)\r\n", cmd);
    }
    assert.equal(s.opened.length, 0);
  });
  await t.step("PASS without USER", async () => {
    assert.equal(await line(s, "PASS whatever"), "-ERR Send USER first\r\n");
    assert.equal(s.logins.length, 0);
  });
  await t.step("USER then USER again: the last name counts", async () => {
    assert.equal(await line(s, "USER bob@example.org"), "+OK Send PASS\r\n");
    assert.equal(await line(s, `USER ${USER}`), "+OK Send PASS\r\n");
    assert.match(await line(s, `PASS ${PASSWORD}`), /^\+OK Logged in, 3 messages \(\d+ octets\)/);
    assert.deepEqual(s.logins, [{ address: USER, password: PASSWORD, ip: "127.0.0.1" }]);
    assert.equal(s.session.state, "transaction");
  });
  await t.step("QUIT", async () => {
    assert.equal(await quit(s), "+OK pop.example.org fsmtp POP3 server signing off\r\n");
    assert.equal(s.fake.released, 1);
    assert.deepEqual(s.fake.expunged, []);
  });
});

Deno.test("pop3 session: QUIT in AUTHORIZATION closes without touching a maildrop", async () => {
  const s = await greeted();
  assert.match(await quit(s), /^\+OK .*signing off\r\n$/);
  assert.equal(s.opened.length, 0);
});

Deno.test("pop3 session: TRANSACTION state refuses login commands and STLS", async (t) => {
  const s = await loggedIn({ tls: true });
  await t.step("login commands get the original server's words", async () => {
    for (const cmd of LOGIN_COMMANDS) {
      assert.equal(
        await line(s, cmd),
        "-ERR Order Error: Client already authenticated.\r\n",
        cmd,
      );
    }
    assert.equal(s.logins.length, 1);
  });
  await t.step("STLS after login", async () => {
    assert.equal(await line(s, "STLS"), "-ERR STLS is only allowed before login\r\n");
  });
  await t.step("still in TRANSACTION", async () => {
    assert.equal(await line(s, "NOOP"), "+OK \r\n");
    await quit(s);
  });
});

Deno.test("pop3 session: unknown commands, syntax errors and garbage", async (t) => {
  const s = await loggedIn();
  await t.step("unknown commands", async () => {
    for (const cmd of ["FOO", "", "XTND XMIT", "LAST", "EHLO x", "__proto__", "constructor"]) {
      assert.equal(await line(s, cmd), "-ERR Unknown command\r\n", JSON.stringify(cmd));
    }
  });
  await t.step("syntax errors", async () => {
    const cases: [string, string][] = [
      ["RETR", "-ERR Syntax: RETR message-number"],
      ["RETR 0", "-ERR Syntax: RETR message-number"],
      ["DELE x", "-ERR Syntax: DELE message-number"],
      ["LIST 1 2", "-ERR Syntax: LIST [message-number]"],
      ["UIDL -1", "-ERR Syntax: UIDL [message-number]"],
      ["TOP 1", "-ERR Syntax: TOP message-number lines"],
      ["STAT 1", "-ERR STAT takes no arguments"],
      ["QUIT now", "-ERR QUIT takes no arguments"],
    ];
    for (const [cmd, reply] of cases) assert.equal(await line(s, cmd), reply + "\r\n", cmd);
  });
  await t.step("bytes that are not UTF-8, control characters", async () => {
    assert.equal(
      await exchange(s, new Uint8Array([0xff, 0xfe, 0x80, 13, 10]), /\r\n$/),
      "-ERR Command is not UTF-8 text\r\n",
    );
    assert.equal(await line(s, "ST\0AT"), "-ERR Command holds control characters\r\n");
    assert.equal(await line(s, "\x1b[2J"), "-ERR Command holds control characters\r\n");
  });
  await t.step("a bare LF ends a command too", async () => {
    assert.match(await exchange(s, "STAT\n", /\r\n$/), /^\+OK 3 \d+\r\n$/);
  });
  await t.step("no message numbered so", async () => {
    assert.equal(await line(s, "RETR 4"), "-ERR No such message 4\r\n");
    assert.equal(await line(s, "LIST 99"), "-ERR No such message 99\r\n");
    assert.equal(await line(s, "UIDL 4"), "-ERR No such message 4\r\n");
    assert.equal(await line(s, "TOP 4 1"), "-ERR No such message 4\r\n");
    assert.equal(await line(s, "DELE 4"), "-ERR No such message 4\r\n");
  });
  await t.step("the session still works", async () => {
    assert.match(await line(s, "STAT"), /^\+OK 3 /);
    await quit(s);
    assert.deepEqual(s.fake.expunged, []);
  });
});

Deno.test("pop3 session: too many errors close the session", async () => {
  const s = await greeted({ maxErrors: 3 });
  const out = await exchange(s, "FOO\r\nBAR\r\nBAZ\r\nSTAT\r\n", /Too many errors[^\r\n]*\r\n/);
  assert.equal(
    out,
    "-ERR Unknown command\r\n-ERR Unknown command\r\n-ERR Unknown command\r\n" +
      "-ERR Too many errors, closing connection\r\n",
  );
  await s.done;
});

Deno.test("pop3 session: over-long lines", async (t) => {
  const s = await loggedIn({ maxLineLength: 100 });
  await t.step("a long line with its CRLF in one chunk", async () => {
    assert.equal(await line(s, "LIST " + "1".repeat(200)), "-ERR Line too long\r\n");
  });
  await t.step("a long line arriving in pieces is answered once", async () => {
    const before = s.socket.output.length;
    s.socket.send("NOOP " + "x".repeat(150));
    await s.socket.waitFor(/Line too long\r\n$/);
    s.socket.send("y".repeat(500));
    s.socket.send("z".repeat(500) + "\r\nSTAT\r\n");
    await s.socket.waitFor(/\+OK 3 \d+\r\n$/);
    assert.match(s.socket.output.slice(before), /^-ERR Line too long\r\n\+OK 3 \d+\r\n$/);
  });
  await t.step("exactly at the limit is fine", async () => {
    assert.equal(await line(s, "NOOP" + " ".repeat(96)), "+OK \r\n");
  });
  await quit(s);
});

Deno.test("pop3 session: CAPA", async (t) => {
  const capa = async (opts: Options, login = false) => {
    const s = login ? await loggedIn(opts) : await greeted(opts);
    const out = await multi(s, "CAPA");
    await quit(s);
    assert.match(out, /^\+OK Capability list follows\r\n/);
    assert.match(out, /\r\n\.\r\n$/);
    return out.split("\r\n").slice(1, -2);
  };
  const BASE = ["TOP", "UIDL", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE"];
  await t.step("before login, plaintext allowed, TLS available", async () => {
    const caps = await capa({ tls: true, plaintext: true });
    for (const c of [...BASE, "USER", "SASL PLAIN", "STLS", "EXPIRE NEVER"]) {
      assert.ok(caps.includes(c), c);
    }
    assert.ok(caps.some((c) => c.startsWith("IMPLEMENTATION ")));
  });
  await t.step(
    "before login, plaintext not allowed: USER and SASL hidden, STLS shown",
    async () => {
      const caps = await capa({ tls: true, plaintext: false });
      for (const c of [...BASE, "STLS"]) assert.ok(caps.includes(c), c);
      assert.ok(!caps.includes("USER"));
      assert.ok(!caps.some((c) => c.startsWith("SASL")));
    },
  );
  await t.step("without a TLS context there is no STLS", async () => {
    const caps = await capa({ tls: false, plaintext: true });
    assert.ok(!caps.includes("STLS"));
    assert.ok(caps.includes("USER"));
  });
  await t.step("on a TLS connection: USER and SASL, no STLS", async () => {
    const caps = await capa({ tls: true, plaintext: false, onTls: true });
    assert.ok(caps.includes("USER"));
    assert.ok(caps.includes("SASL PLAIN"));
    assert.ok(!caps.includes("STLS"));
  });
  await t.step("after login: no login capabilities, no STLS", async () => {
    const caps = await capa({ tls: true, plaintext: true }, true);
    for (const c of BASE) assert.ok(caps.includes(c), c);
    assert.ok(!caps.includes("USER"));
    assert.ok(!caps.includes("STLS"));
    assert.ok(!caps.some((c) => c.startsWith("SASL")));
  });
});

Deno.test("pop3 session: STLS refusals", async (t) => {
  await t.step("no TLS context", async () => {
    const s = await greeted({ tls: false });
    assert.equal(await line(s, "STLS"), "-ERR TLS is not available\r\n");
    await quit(s);
  });
  await t.step("TLS already active", async () => {
    const s = await greeted({ tls: true, onTls: true });
    assert.equal(await line(s, "STLS"), "-ERR TLS is already active\r\n");
    await quit(s);
  });
});

Deno.test("pop3 session: plaintext login refused when not allowed", async () => {
  const s = await greeted({ plaintext: false, tls: true });
  const refusal = "-ERR [AUTH] Plaintext login is disabled: use STLS first, or port 995\r\n";
  assert.equal(await line(s, `USER ${USER}`), refusal);
  assert.equal(await line(s, `PASS ${PASSWORD}`), refusal);
  assert.equal(await line(s, `AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`), refusal);
  assert.equal(await line(s, "AUTH PLAIN"), refusal);
  assert.equal(s.logins.length, 0);
  assert.equal(s.session.state, "authorization");
  await quit(s);
});

Deno.test("pop3 session: USER/PASS failures", async (t) => {
  await t.step("a wrong password, then the right one", async () => {
    const s = await greeted();
    await line(s, `USER ${USER}`);
    assert.equal(await line(s, "PASS wrong"), "-ERR [AUTH] Invalid user name or password\r\n");
    assert.equal(await line(s, "PASS again"), "-ERR Send USER first\r\n");
    await line(s, `USER ${USER}`);
    assert.match(await line(s, `PASS ${PASSWORD}`), /^\+OK Logged in/);
    await quit(s);
  });
  await t.step("the third failure closes the session", async () => {
    const s = await greeted();
    for (let i = 0; i < 2; i++) {
      await line(s, `USER ${USER}`);
      assert.match(await line(s, "PASS wrong"), /^-ERR \[AUTH\] /);
    }
    await line(s, `USER ${USER}`);
    assert.match(await line(s, "PASS wrong"), /^-ERR \[AUTH\] /);
    await s.done;
    assert.equal(s.logins.length, 3);
  });
  await t.step("a blocked address is told so and disconnected", async () => {
    const s = await greeted({ login: () => "blocked" });
    await line(s, `USER ${USER}`);
    assert.equal(
      await line(s, `PASS ${PASSWORD}`),
      "-ERR [AUTH] Too many failed logins from your address; try again later\r\n",
    );
    await s.done;
    assert.equal(s.opened.length, 0);
  });
  await t.step("a locked maildrop answers [IN-USE] and the session may retry", async () => {
    let inUse = true;
    const fake = fakeDrop();
    const s = await greeted({
      open: () => Promise.resolve(inUse ? "in-use" : fake.drop),
    });
    await line(s, `USER ${USER}`);
    assert.equal(
      await line(s, `PASS ${PASSWORD}`),
      "-ERR [IN-USE] Maildrop is locked by another session\r\n",
    );
    assert.equal(s.session.state, "authorization");
    inUse = false;
    await line(s, `USER ${USER}`);
    assert.match(await line(s, `PASS ${PASSWORD}`), /^\+OK Logged in/);
    await quit(s);
    assert.equal(fake.released, 1);
  });
  await t.step("a maildrop that cannot be opened answers [SYS/TEMP]", async () => {
    const s = await greeted({ open: () => Promise.reject(new Error("store gone")) });
    await line(s, `USER ${USER}`);
    assert.equal(
      await line(s, `PASS ${PASSWORD}`),
      "-ERR [SYS/TEMP] Cannot open the maildrop now, try again later\r\n",
    );
    assert.equal(s.session.state, "authorization");
    await quit(s);
  });
});

Deno.test("pop3 session: AUTH PLAIN", async (t) => {
  const plain = (authz: string, user: string, pw: string) => b64(`${authz}\0${user}\0${pw}`);
  await t.step("AUTH alone lists PLAIN", async () => {
    const s = await greeted();
    assert.equal(await multi(s, "AUTH"), "+OK Mechanisms follow\r\nPLAIN\r\n.\r\n");
    await quit(s);
  });
  await t.step("with an initial response", async () => {
    const s = await greeted();
    assert.match(await line(s, `AUTH PLAIN ${plain("", USER, PASSWORD)}`), /^\+OK Logged in/);
    assert.deepEqual(s.logins.map((l) => l.password), [PASSWORD]);
    assert.equal(s.session.state, "transaction");
    await quit(s);
  });
  await t.step("with the authorization identity equal to the user", async () => {
    const s = await greeted();
    assert.match(await line(s, `auth plain ${plain(USER, USER, PASSWORD)}`), /^\+OK Logged in/);
    await quit(s);
  });
  await t.step("with a continuation", async () => {
    const s = await greeted();
    assert.equal(await line(s, "AUTH PLAIN"), "+ \r\n");
    assert.match(await line(s, plain("", USER, PASSWORD)), /^\+OK Logged in/);
    await quit(s);
  });
  await t.step("pipelined: AUTH PLAIN and its response in one packet", async () => {
    const s = await greeted();
    const out = await exchange(
      s,
      `AUTH PLAIN\r\n${plain("", USER, PASSWORD)}\r\nSTAT\r\n`,
      /\+OK 3 \d+\r\n$/,
    );
    assert.match(out, /^\+ \r\n\+OK Logged in[^\r\n]*\r\n\+OK 3 \d+\r\n$/);
    await quit(s);
  });
  await t.step("cancelled with *", async () => {
    const s = await greeted();
    assert.equal(await line(s, "AUTH PLAIN"), "+ \r\n");
    assert.equal(await line(s, "*"), "-ERR Authentication cancelled\r\n");
    assert.equal(s.session.state, "authorization");
    assert.equal(s.logins.length, 0);
    assert.match(await line(s, `AUTH PLAIN ${plain("", USER, PASSWORD)}`), /^\+OK Logged in/);
    await quit(s);
  });
  await t.step("wrong password", async () => {
    const s = await greeted();
    assert.equal(
      await line(s, `AUTH PLAIN ${plain("", USER, "nope")}`),
      "-ERR [AUTH] Invalid user name or password\r\n",
    );
    await quit(s);
  });
  await t.step("malformed responses", async () => {
    const s = await greeted();
    for (
      const response of [
        "not*base64!",
        "=",
        b64(`${USER}\0${PASSWORD}`),
        plain("bob@example.org", USER, PASSWORD),
        plain("", "", PASSWORD),
      ]
    ) {
      assert.equal(
        await line(s, `AUTH PLAIN ${response}`),
        "-ERR [AUTH] Malformed PLAIN response\r\n",
        response,
      );
    }
    assert.equal(await line(s, "AUTH PLAIN"), "+ \r\n");
    assert.equal(await line(s, "%%%"), "-ERR [AUTH] Malformed PLAIN response\r\n");
    assert.equal(s.logins.length, 0);
    await quit(s);
  });
  await t.step("other mechanisms", async () => {
    const s = await greeted();
    for (const m of ["LOGIN", "CRAM-MD5", "XOAUTH2 abc", "GSSAPI"]) {
      assert.equal(
        await line(s, `AUTH ${m}`),
        "-ERR Unsupported authentication mechanism\r\n",
        m,
      );
    }
    await quit(s);
  });
  await t.step("hanging up during the continuation", async () => {
    const s = await greeted();
    assert.equal(await line(s, "AUTH PLAIN"), "+ \r\n");
    s.socket.hangUp();
    await s.done;
    assert.equal(s.logins.length, 0);
  });
});

Deno.test("pop3 session: APOP is refused", async () => {
  const s = await greeted();
  assert.equal(
    await line(s, "APOP alice@example.org c4c9334bac560ecc979e58001b3e22fb"),
    "-ERR APOP is not supported; use USER/PASS or AUTH PLAIN over TLS\r\n",
  );
  assert.equal(s.logins.length, 0);
  assert.equal(s.session.state, "authorization");
  await quit(s);
});

Deno.test("pop3 session: STAT, LIST, UIDL, RETR, TOP", async (t) => {
  const s = await loggedIn();
  const sizes = MESSAGES.map((m) => enc.encode(m).length);
  const total = sizes.reduce((a, b) => a + b, 0);
  await t.step("STAT", async () => {
    assert.equal(await line(s, "STAT"), `+OK 3 ${total}\r\n`);
  });
  await t.step("LIST", async () => {
    assert.equal(
      await multi(s, "LIST"),
      `+OK 3 messages (${total} octets)\r\n1 ${sizes[0]}\r\n2 ${sizes[1]}\r\n3 ${
        sizes[2]
      }\r\n.\r\n`,
    );
    assert.equal(await line(s, "LIST 2"), `+OK 2 ${sizes[1]}\r\n`);
  });
  await t.step("UIDL: uidvalidity.uid, one per message", async () => {
    assert.equal(
      await multi(s, "UIDL"),
      "+OK Unique-ID listing follows\r\n1 4242.11\r\n2 4242.13\r\n3 4242.15\r\n.\r\n",
    );
    assert.equal(await line(s, "UIDL 3"), "+OK 3 4242.15\r\n");
  });
  await t.step("RETR: byte-stuffed, and as many octets as LIST says", async () => {
    for (let n = 1; n <= 3; n++) {
      const before = s.socket.bytes.length;
      const out = await multi(s, `RETR ${n}`);
      assert.ok(out.startsWith(`+OK ${sizes[n - 1]} octets\r\n`), out);
      const wire = s.socket.bytes.subarray(before + `+OK ${sizes[n - 1]} octets\r\n`.length);
      const content = unstuff(wire);
      assert.equal(content.length, sizes[n - 1]);
      assert.equal(new TextDecoder().decode(content), MESSAGES[n - 1]);
    }
  });
  await t.step("RETR of the dot message, on the wire", async () => {
    assert.equal(
      await multi(s, "RETR 2"),
      `+OK ${sizes[1]} octets\r\n` +
        "Subject: dots\r\n\r\n..\r\n...\r\n..leading\r\nmiddle . dot\r\n....\r\nlast\r\n.\r\n",
    );
  });
  await t.step("TOP", async () => {
    assert.equal(
      await multi(s, "TOP 3 0"),
      "+OK Top of message follows\r\nSubject: three\r\nX-Long: yes\r\n\r\n.\r\n",
    );
    assert.equal(
      await multi(s, "TOP 3 2"),
      "+OK Top of message follows\r\nSubject: three\r\nX-Long: yes\r\n\r\nl1\r\nl2\r\n.\r\n",
    );
    assert.equal(
      await multi(s, "TOP 3 100"),
      `+OK Top of message follows\r\n${MESSAGES[2]}.\r\n`,
    );
    assert.equal(
      await multi(s, "TOP 2 2"),
      "+OK Top of message follows\r\nSubject: dots\r\n\r\n..\r\n...\r\n.\r\n",
    );
  });
  await t.step("NOOP", async () => {
    assert.equal(await line(s, "NOOP"), "+OK \r\n");
  });
  await t.step("nothing was deleted by reading", async () => {
    await quit(s);
    assert.deepEqual(s.fake.expunged, []);
  });
});

Deno.test("pop3 session: an empty maildrop", async () => {
  const s = await loggedIn({ contents: [] });
  assert.equal(await line(s, "STAT"), "+OK 0 0\r\n");
  assert.equal(await multi(s, "LIST"), "+OK 0 messages (0 octets)\r\n.\r\n");
  assert.equal(await multi(s, "UIDL"), "+OK Unique-ID listing follows\r\n.\r\n");
  assert.equal(await line(s, "RETR 1"), "-ERR No such message 1\r\n");
  await quit(s);
  assert.deepEqual(s.fake.expunged, []);
});

Deno.test("pop3 session: DELE, RSET and QUIT", async (t) => {
  const sizes = MESSAGES.map((m) => enc.encode(m).length);
  await t.step("DELE marks, hides and refuses; RSET restores; QUIT expunges", async () => {
    const s = await loggedIn();
    assert.equal(await line(s, "DELE 2"), "+OK Message 2 deleted\r\n");
    assert.equal(await line(s, "DELE 2"), "-ERR Message 2 is deleted\r\n");
    assert.equal(await line(s, "RETR 2"), "-ERR Message 2 is deleted\r\n");
    assert.equal(await line(s, "TOP 2 0"), "-ERR Message 2 is deleted\r\n");
    assert.equal(await line(s, "LIST 2"), "-ERR Message 2 is deleted\r\n");
    assert.equal(await line(s, "UIDL 2"), "-ERR Message 2 is deleted\r\n");
    assert.equal(await line(s, "STAT"), `+OK 2 ${sizes[0] + sizes[2]}\r\n`);
    assert.equal(
      await multi(s, "LIST"),
      `+OK 2 messages (${sizes[0] + sizes[2]} octets)\r\n1 ${sizes[0]}\r\n3 ${sizes[2]}\r\n.\r\n`,
    );
    assert.equal(
      await multi(s, "UIDL"),
      "+OK Unique-ID listing follows\r\n1 4242.11\r\n3 4242.15\r\n.\r\n",
    );
    const total = sizes.reduce((a, b) => a + b, 0);
    assert.equal(await line(s, "RSET"), `+OK Maildrop has 3 messages (${total} octets)\r\n`);
    assert.equal(await line(s, "LIST 2"), `+OK 2 ${sizes[1]}\r\n`);
    assert.equal(await line(s, "DELE 1"), "+OK Message 1 deleted\r\n");
    assert.equal(await line(s, "DELE 3"), "+OK Message 3 deleted\r\n");
    assert.equal(await line(s, "STAT"), `+OK 1 ${sizes[1]}\r\n`);
    assert.deepEqual(s.fake.expunged, []);
    assert.match(await quit(s), /^\+OK .*signing off\r\n$/);
    assert.deepEqual(s.fake.expunged.map((ids) => [...ids].sort((a, b) => a - b)), [[11, 15]]);
    assert.equal(s.fake.released, 1);
  });
  await t.step("a hang-up after DELE deletes nothing and releases the lock", async () => {
    const s = await loggedIn();
    await line(s, "DELE 1");
    s.socket.hangUp();
    await s.done;
    assert.deepEqual(s.fake.expunged, []);
    assert.equal(s.fake.released, 1);
  });
  await t.step("QUIT with nothing deleted does not expunge", async () => {
    const s = await loggedIn();
    await quit(s);
    assert.deepEqual(s.fake.expunged, []);
  });
  await t.step("a failed UPDATE says so", async () => {
    const s = await loggedIn();
    s.fake.failExpunge = true;
    await line(s, "DELE 1");
    assert.equal(await quit(s), "-ERR [SYS/TEMP] Some deleted messages were not removed\r\n");
    assert.equal(s.fake.released, 1);
  });
  await t.step("an unreadable message answers [SYS/TEMP] and the session goes on", async () => {
    const s = await loggedIn();
    s.fake.failRead = true;
    assert.equal(await line(s, "RETR 1"), "-ERR [SYS/TEMP] Cannot read the message now\r\n");
    assert.equal(await line(s, "TOP 1 0"), "-ERR [SYS/TEMP] Cannot read the message now\r\n");
    s.fake.failRead = false;
    assert.match(await multi(s, "RETR 1"), /^\+OK \d+ octets\r\n/);
    await quit(s);
  });
});

Deno.test("pop3 session: pipelined commands are answered in order", async () => {
  const s = await greeted();
  const out = await exchange(
    s,
    `CAPA\r\nUSER ${USER}\r\nPASS ${PASSWORD}\r\nSTAT\r\nLIST 1\r\nUIDL 1\r\nDELE 1\r\nQUIT\r\n`,
    /signing off\r\n$/,
  );
  const lines = out.split("\r\n");
  const afterCapa = lines.slice(lines.indexOf(".") + 1);
  assert.equal(afterCapa[0], "+OK Send PASS");
  assert.match(afterCapa[1], /^\+OK Logged in/);
  assert.match(afterCapa[2], /^\+OK 3 \d+$/);
  assert.match(afterCapa[3], /^\+OK 1 \d+$/);
  assert.equal(afterCapa[4], "+OK 1 4242.11");
  assert.equal(afterCapa[5], "+OK Message 1 deleted");
  assert.match(afterCapa[6], /signing off$/);
  await s.done;
  assert.deepEqual(s.fake.expunged, [[11]]);
});

Deno.test("pop3 session: an idle client is logged out and nothing is deleted", async () => {
  const s = await loggedIn({ timeoutMs: 150 });
  await line(s, "DELE 1");
  await s.socket.waitFor(/-ERR Autologout: idle for too long\r\n$/, 3000);
  await s.done;
  assert.deepEqual(s.fake.expunged, []);
  assert.equal(s.fake.released, 1);
});

Deno.test("pop3 session: shutdown ends an idle session without UPDATE", async () => {
  const s = await loggedIn();
  await line(s, "DELE 1");
  s.session.requestShutdown();
  await s.socket.waitFor(/-ERR \[SYS\/TEMP\] Server shutting down\r\n$/);
  await s.done;
  assert.deepEqual(s.fake.expunged, []);
  assert.equal(s.fake.released, 1);
});

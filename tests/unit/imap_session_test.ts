/**
 * The IMAP session machine fed with bytes over an in-memory socket, on an in-memory SQLite
 * store with one real user: the greeting, state rules (RFC 9051 §3, §6), LOGINDISABLED and
 * PRIVACYREQUIRED, garbage and the error limit, literal framing (RFC 3501 §4.3, RFC 7888),
 * the literal and line limits, LOGOUT, AUTHENTICATE PLAIN (RFC 4959) and IDLE's end.
 */
import assert from "node:assert/strict";
import type { SecureContext } from "node:tls";
import { Authenticator } from "../../src/auth/authenticator.ts";
import { createUserKeys } from "../../src/crypto/user_keys.ts";
import { UserMail } from "../../src/imap/user_mail.ts";
import { UserSessionCounter } from "../../src/imap/user_sessions.ts";
import { type ImapPorts, ImapSession } from "../../src/imap/session.ts";
import { createLogger } from "../../src/log.ts";
import { Connection } from "../../src/net/connection.ts";
import { OctetBudget } from "../../src/net/octet_budget.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";
import { MemorySocket } from "../helpers/memory_socket.ts";

const USER = "alice@example.org";
const PASSWORD = "imap session pass";
const MAX_LITERAL = 1_000;
const MAX_MESSAGE = 20_000;
const MAX_LINE = 2_000;
const b64 = (s: string) => btoa(s);

const store = SqliteMailStore.open(":memory:");
await store.createUser({
  address: USER,
  keys: (await createUserKeys(PASSWORD, { iterations: 1_000 })).keys,
  createdAt: Date.now(),
});
const authenticator = new Authenticator(store, { dummyIterations: 1_000 });

interface Options {
  plaintext?: boolean;
  /** Offer STARTTLS (a context that is never used for a handshake here). */
  tls?: boolean;
  maxErrors?: number;
  /** Octets the process may hold in literals at once. */
  memory?: number;
}

function start(opts: Options = {}) {
  const socket = new MemorySocket();
  const ports: ImapPorts = {
    hostname: "imap.example.org",
    tls: opts.tls ? ({} as SecureContext) : undefined,
    store,
    plaintextAllowed: () => opts.plaintext ?? true,
    login: async (address, password) => (await authenticator.login(address, password)) ?? "bad",
    openMail: (login) => new UserMail(store, login.address, login.keys),
    userSessions: new UserSessionCounter(() => 10),
    memory: new OctetBudget(opts.memory ?? 1_000_000),
    limits: {
      maxMessageSize: MAX_MESSAGE,
      maxLiteral: MAX_LITERAL,
      maxErrors: opts.maxErrors ?? 50,
      preLoginTimeoutMs: 10_000,
      idleTimeoutMs: 10_000,
      quotaOctets: 0,
    },
    handshakeTimeoutMs: 1_000,
  };
  const conn = new Connection(socket.asSocket(), { maxLineLength: MAX_LINE, timeoutMs: 10_000 });
  const session = new ImapSession(conn, ports, createLogger("error", () => {}));
  const done = session.run();
  return { socket, session, done };
}

type Started = ReturnType<typeof start>;

/** Sends `input`; returns the new output once it matches `expect` (anchored after `before`). */
async function exchange(s: Started, input: string, expect: RegExp): Promise<string> {
  const before = s.socket.output.length;
  s.socket.send(input);
  await s.socket.waitFor(new RegExp(`^[\\s\\S]{${before}}[\\s\\S]*?${expect.source}`));
  return s.socket.output.slice(before);
}

/** Sends one tagged command line; the output up to and including its completion. */
function cmd(s: Started, tag: string, text: string): Promise<string> {
  return exchange(s, `${tag} ${text}\r\n`, completion(tag));
}

/** The pattern of `tag`'s completion line at the end of the output. */
function completion(tag: string): RegExp {
  return new RegExp(`(?<=^|\\n)${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n$`);
}

/** The completion line of `tag` in `out`. */
function tagged(out: string, tag: string): string {
  const line = out.split("\r\n").find((l) => l.startsWith(tag + " "));
  assert.ok(line, `no completion for ${tag} in ${JSON.stringify(out)}`);
  return line;
}

async function greeted(opts: Options = {}): Promise<Started> {
  const s = start(opts);
  await s.socket.waitFor(/\r\n$/);
  return s;
}

async function loggedIn(opts: Options = {}): Promise<Started> {
  const s = await greeted(opts);
  assert.match(tagged(await cmd(s, "L1", `LOGIN ${USER} "${PASSWORD}"`), "L1"), /^L1 OK /);
  return s;
}

/** True once the server has closed its side (BYE, LOGOUT, a fatal limit). */
function serverClosed(s: Started): boolean {
  return s.socket.writableEnded || s.socket.destroyed;
}

async function logout(s: Started): Promise<void> {
  await cmd(s, "Z", "LOGOUT");
  await s.done;
}

Deno.test("imap session: greeting and the Not Authenticated state", async (t) => {
  const s = await greeted({ tls: true });
  await t.step("the greeting is OK with a CAPABILITY code (RFC 9051 §7.1)", () => {
    const m = /^\* OK \[CAPABILITY ([^\]]+)\] imap\.example\.org ready\r\n$/.exec(s.socket.output);
    assert.ok(m, s.socket.output);
    const caps = m[1].split(" ");
    for (const c of ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "IDLE", "STARTTLS", "AUTH=PLAIN"]) {
      assert.ok(caps.includes(c), `${c} missing from ${m[1]}`);
    }
    assert.ok(!caps.includes("LOGINDISABLED"));
  });
  await t.step("CAPABILITY answers untagged then OK", async () => {
    const out = await cmd(s, "c1", "CAPABILITY");
    assert.match(out, /^\* CAPABILITY IMAP4rev1 [^\r\n]*\r\nc1 OK [^\r\n]*\r\n$/);
  });
  await t.step("commands of later states get BAD and change nothing", async () => {
    const wrong = [
      "SELECT INBOX",
      "EXAMINE INBOX",
      "CREATE foo",
      "DELETE foo",
      "RENAME foo bar",
      "SUBSCRIBE INBOX",
      'LIST "" *',
      'LSUB "" *',
      "STATUS INBOX (MESSAGES)",
      "NAMESPACE",
      "ENABLE CONDSTORE",
      "IDLE",
      "FETCH 1 FLAGS",
      "UID FETCH 1 FLAGS",
      "STORE 1 +FLAGS (\\Seen)",
      "SEARCH ALL",
      "COPY 1 INBOX",
      "MOVE 1 INBOX",
      "EXPUNGE",
      "CLOSE",
      "UNSELECT",
      "CHECK",
    ];
    for (const [i, text] of wrong.entries()) {
      const tag = `w${i}`;
      assert.match(tagged(await cmd(s, tag, text), tag), new RegExp(`^${tag} BAD `), text);
    }
    assert.equal(s.session.state, "not-authenticated");
  });
  await t.step("APPEND before login gets BAD (its literal is read, not run)", async () => {
    const out = await exchange(s, "a1 APPEND INBOX {5+}\r\nhello\r\n", completion("a1"));
    assert.match(tagged(out, "a1"), /^a1 BAD /);
  });
  await t.step("garbage lines get BAD and the session goes on", async () => {
    for (const junk of ["", "   ", "\x01\x02\x7f", "*", "+ x", "tag", "tag NOTACOMMAND x"]) {
      const out = await exchange(s, junk + "\r\n", /BAD [^\r\n]*\r\n$/);
      assert.match(out, /^(\*|tag) BAD /, JSON.stringify(junk));
    }
    assert.match(tagged(await cmd(s, "n1", "NOOP"), "n1"), /^n1 OK /);
    assert.equal(serverClosed(s), false);
  });
  await t.step("a wrong password is NO [AUTHENTICATIONFAILED]", async () => {
    const out = await cmd(s, "l0", `LOGIN ${USER} wrong`);
    assert.match(tagged(out, "l0"), /^l0 NO \[AUTHENTICATIONFAILED\] /);
    assert.equal(s.session.state, "not-authenticated");
  });
  await logout(s);
});

Deno.test("imap session: Authenticated and Selected states", async (t) => {
  const s = await greeted();
  await t.step("LOGIN enters Authenticated, with the new CAPABILITY in the OK", async () => {
    const out = await cmd(s, "L1", `LOGIN ${USER} "${PASSWORD}"`);
    assert.match(out, /^L1 OK \[CAPABILITY IMAP4rev1 [^\]]*\] /);
    assert.ok(!/AUTH=PLAIN|STARTTLS|LOGINDISABLED/.test(out));
    assert.equal(s.session.state, "authenticated");
  });
  await t.step("not-authenticated commands get BAD once logged in", async () => {
    for (
      const [tag, text] of [
        ["x1", `LOGIN ${USER} "${PASSWORD}"`],
        ["x2", `AUTHENTICATE PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`],
        ["x3", "STARTTLS"],
      ]
    ) {
      assert.match(tagged(await cmd(s, tag, text), tag), new RegExp(`^${tag} BAD `), text);
    }
  });
  await t.step("message commands without a selected mailbox get BAD", async () => {
    const wrong = [
      "FETCH 1 FLAGS",
      "UID FETCH 1:* FLAGS",
      "STORE 1 +FLAGS (\\Deleted)",
      "SEARCH ALL",
      "COPY 1 Trash",
      "MOVE 1 Trash",
      "EXPUNGE",
      "UID EXPUNGE 1",
      "CLOSE",
      "UNSELECT",
      "CHECK",
    ];
    for (const [i, text] of wrong.entries()) {
      const tag = `s${i}`;
      assert.match(tagged(await cmd(s, tag, text), tag), new RegExp(`^${tag} BAD `), text);
    }
    assert.equal(s.session.state, "authenticated");
  });
  await t.step("ENABLE works in Authenticated (RFC 5161 §3.1)", async () => {
    const out = await cmd(s, "e1", "ENABLE CONDSTORE");
    assert.match(out, /^\* ENABLED CONDSTORE\r\ne1 OK /);
  });
  await t.step("SELECT enters Selected; ENABLE there gets BAD", async () => {
    const out = await cmd(s, "s1", "SELECT INBOX");
    assert.match(tagged(out, "s1"), /^s1 OK \[READ-WRITE\] /);
    assert.match(out, /^\* \d+ EXISTS\r$/m);
    assert.match(out, /^\* OK \[UIDVALIDITY \d+\]/m);
    assert.equal(s.session.state, "selected");
    assert.match(tagged(await cmd(s, "e2", "ENABLE QRESYNC"), "e2"), /^e2 BAD /);
    assert.match(tagged(await cmd(s, "x4", `LOGIN ${USER} x`), "x4"), /^x4 BAD /);
    assert.match(tagged(await cmd(s, "f1", "UID FETCH 1:* FLAGS"), "f1"), /^f1 OK /);
  });
  await t.step("UNSELECT goes back to Authenticated", async () => {
    assert.match(tagged(await cmd(s, "u1", "UNSELECT"), "u1"), /^u1 OK /);
    assert.equal(s.session.state, "authenticated");
    assert.match(tagged(await cmd(s, "f2", "FETCH 1 FLAGS"), "f2"), /^f2 BAD /);
  });
  await t.step("IDLE ends with DONE; anything else is BAD", async () => {
    assert.match(await exchange(s, "i1 IDLE\r\n", /\+ [^\r\n]*\r\n$/), /^\+ /);
    assert.match(await exchange(s, "DONE\r\n", completion("i1")), /^i1 OK /);
    await exchange(s, "i2 IDLE\r\n", /\+ [^\r\n]*\r\n$/);
    assert.match(await exchange(s, "NOOP\r\n", completion("i2")), /^i2 BAD /);
    assert.match(tagged(await cmd(s, "n1", "NOOP"), "n1"), /^n1 OK /);
  });
  await t.step("LOGOUT: untagged BYE, then the tagged OK, then the server closes", async () => {
    const out = await cmd(s, "z1", "LOGOUT");
    assert.match(out, /^\* BYE [^\r\n]*\r\nz1 OK [^\r\n]*\r\n$/);
    await s.done;
    assert.equal(serverClosed(s), true);
  });
});

Deno.test("imap session: plaintext logins refused without TLS", async (t) => {
  const s = await greeted({ plaintext: false, tls: true });
  await t.step("LOGINDISABLED and STARTTLS are advertised, AUTH=PLAIN is not", () => {
    assert.match(s.socket.output, /[ \[]LOGINDISABLED[ \]]/);
    assert.match(s.socket.output, / STARTTLS[ \]]/);
    assert.ok(!s.socket.output.includes("AUTH=PLAIN"));
  });
  await t.step("LOGIN gets NO [PRIVACYREQUIRED] and the password is not checked", async () => {
    const out = await cmd(s, "l1", `LOGIN ${USER} "${PASSWORD}"`);
    assert.match(tagged(out, "l1"), /^l1 NO \[PRIVACYREQUIRED\] /);
    assert.equal(s.session.state, "not-authenticated");
  });
  await t.step("AUTHENTICATE PLAIN too", async () => {
    const out = await cmd(s, "a1", `AUTHENTICATE PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`);
    assert.match(tagged(out, "a1"), /^a1 NO \[PRIVACYREQUIRED\] /);
    assert.equal(s.session.state, "not-authenticated");
  });
  await logout(s);
});

Deno.test("imap session: too many errors end the session with BYE", async () => {
  const s = await greeted({ maxErrors: 3 });
  await exchange(s, "a BOGUS\r\n", completion("a"));
  await exchange(s, "b SELECT INBOX\r\n", completion("b"));
  const out = await exchange(s, "\x00\x01garbage\r\n", /\* BYE [^\r\n]*\r\n$/);
  assert.match(out, /BAD [^\r\n]*\r\n\* BYE /);
  await s.done;
  assert.equal(serverClosed(s), true);
});

Deno.test("imap session: literals", async (t) => {
  const s = await greeted();
  await t.step("a synchronising literal is invited with +", async () => {
    const out = await exchange(s, `l1 LOGIN {${USER.length}}\r\n`, /\+ [^\r\n]*\r\n$/);
    assert.match(out, /^\+ /);
    const rest = await exchange(
      s,
      `${USER} {${PASSWORD.length}}\r\n`,
      /\+ [^\r\n]*\r\n$/,
    );
    assert.match(rest, /^\+ /);
    const done = await exchange(s, `${PASSWORD}\r\n`, completion("l1"));
    assert.match(done, /^l1 OK /);
  });
  await t.step("a non-synchronising literal gets no + (RFC 7888)", async () => {
    const out = await exchange(
      s,
      "n1 SELECT {5+}\r\nINBOX\r\nn2 STATUS {5+}\r\nINBOX (MESSAGES)\r\n",
      completion("n2"),
    );
    assert.ok(!/(^|\r\n)\+/.test(out), out);
    assert.match(tagged(out, "n1"), /^n1 OK /);
    assert.match(tagged(out, "n2"), /^n2 OK /);
  });
  await t.step("an APPEND literal may be as large as the message limit", async () => {
    const message = "Subject: big\r\n\r\n" + "x".repeat(MAX_LITERAL * 3) + "\r\n";
    assert.match(
      await exchange(s, `ap1 APPEND INBOX {${message.length}}\r\n`, /\+ [^\r\n]*\r\n$/),
      /^\+ /,
    );
    const out = await exchange(s, message + "\r\n", completion("ap1"));
    assert.match(tagged(out, "ap1"), /^ap1 OK \[APPENDUID \d+ 1\] /);
  });
  await t.step(
    "a sync literal over the limit: NO [TOOBIG], no +, the session goes on",
    async () => {
      const out = await exchange(s, `t1 LOGIN {${MAX_LITERAL + 1}}\r\n`, completion("t1"));
      assert.match(out, /^t1 NO \[TOOBIG\] [^\r\n]*\r\n$/);
      const append = await exchange(
        s,
        `t2 APPEND INBOX {${MAX_MESSAGE + 1}}\r\n`,
        completion("t2"),
      );
      assert.match(append, /^t2 NO \[TOOBIG\] [^\r\n]*\r\n$/);
      assert.match(tagged(await cmd(s, "t3", "NOOP"), "t3"), /^t3 OK /);
      assert.equal(serverClosed(s), false);
    },
  );
  await t.step("a line over the line limit: BYE and close", async () => {
    const out = await exchange(
      s,
      `x1 NOOP ${"a".repeat(MAX_LINE * 2)}\r\n`,
      /\* BYE [^\r\n]*\r\n$/,
    );
    assert.match(out, /^\* BYE /);
    await s.done;
    assert.equal(serverClosed(s), true);
  });
});

Deno.test("imap session: non-synchronising literal over the limit: BYE and close", async () => {
  const s = await greeted();
  const out = await exchange(s, `a1 LOGIN {${MAX_LITERAL + 1}+}\r\nxxx`, /\* BYE [^\r\n]*\r\n$/);
  assert.match(out, /^\* BYE /);
  await s.done;
  assert.equal(serverClosed(s), true);
});

Deno.test("imap session: a literal that would pass the memory budget is refused", async () => {
  const s = await loggedIn({ memory: 500 });
  const out = await exchange(s, "m1 APPEND INBOX {600}\r\n", completion("m1"));
  assert.match(out, /^m1 NO \[TOOBIG\] [^\r\n]*\r\n$/);
  const fits = "Subject: s\r\n\r\nsmall\r\n";
  assert.match(
    await exchange(s, `m2 APPEND INBOX {${fits.length}}\r\n`, /\+ [^\r\n]*\r\n$/),
    /^\+/,
  );
  assert.match(await exchange(s, fits + "\r\n", completion("m2")), /^m2 OK /);
  await logout(s);
});

Deno.test("imap session: the client hangs up mid-literal", async () => {
  const s = await loggedIn();
  await exchange(s, "h1 APPEND INBOX {100}\r\n", /\+ [^\r\n]*\r\n$/);
  s.socket.send("Subject: half\r\n");
  s.socket.hangUp();
  await s.done;
  assert.ok(!/h1 (OK|NO|BAD)/.test(s.socket.output));
});

Deno.test("imap session: AUTHENTICATE PLAIN", async (t) => {
  await t.step("with an initial response (RFC 4959)", async () => {
    const s = await greeted();
    const out = await cmd(s, "a1", `AUTHENTICATE PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`);
    assert.match(out, /^a1 OK \[CAPABILITY /);
    assert.equal(s.session.state, "authenticated");
    await logout(s);
  });
  await t.step("without: an empty + challenge, then the response", async () => {
    const s = await greeted();
    assert.equal(await exchange(s, "a2 AUTHENTICATE PLAIN\r\n", /\+ [^\r\n]*\r\n$/), "+ \r\n");
    const out = await exchange(s, b64(`${USER}\0${USER}\0${PASSWORD}`) + "\r\n", completion("a2"));
    assert.match(out, /^a2 OK /);
    assert.equal(s.session.state, "authenticated");
    await logout(s);
  });
  await t.step('"*" cancels with BAD (RFC 3501 §6.2.2); a wrong password is NO', async () => {
    const s = await greeted();
    await exchange(s, "a3 AUTHENTICATE PLAIN\r\n", /\+ [^\r\n]*\r\n$/);
    assert.match(await exchange(s, "*\r\n", completion("a3")), /^a3 BAD /);
    assert.equal(s.session.state, "not-authenticated");
    const wrong = await cmd(s, "a4", `AUTHENTICATE PLAIN ${b64(`\0${USER}\0nope`)}`);
    assert.match(tagged(wrong, "a4"), /^a4 NO \[AUTHENTICATIONFAILED\] /);
    const junk = await cmd(s, "a5", "AUTHENTICATE PLAIN !!!notbase64");
    assert.match(tagged(junk, "a5"), /^a5 (BAD|NO) /);
    const other = await cmd(s, "a6", "AUTHENTICATE CRAM-MD5");
    assert.match(tagged(other, "a6"), /^a6 NO /);
    assert.equal(s.session.state, "not-authenticated");
    await logout(s);
  });
});

Deno.test("imap session: a hang-up in IDLE ends the session", async () => {
  const s = await loggedIn();
  await cmd(s, "s1", "SELECT INBOX");
  await exchange(s, "i1 IDLE\r\n", /\+ [^\r\n]*\r\n$/);
  s.socket.hangUp();
  await s.done;
  assert.ok(!/i1 (OK|NO|BAD)/.test(s.socket.output));
});

Deno.test("imap session: bodies opened before IDLE are not kept through it", async () => {
  const s = await loggedIn();
  const message = "Subject: kept?\r\n\r\nbody\r\n";
  const added = await exchange(
    s,
    `a1 APPEND INBOX {${message.length}+}\r\n${message}\r\n`,
    completion("a1"),
  );
  const uid = /APPENDUID \d+ (\d+)/.exec(added)![1];
  await cmd(s, "s1", "SELECT INBOX");
  const read = store.getMessage.bind(store);
  let reads = 0;
  store.getMessage = (box, n) => {
    reads++;
    return read(box, n);
  };
  try {
    await cmd(s, "f1", `UID FETCH ${uid} BODY.PEEK[]`);
    await cmd(s, "f2", `UID FETCH ${uid} BODY.PEEK[TEXT]`);
    assert.equal(reads, 1, "the second part came from the session's body cache");
    await exchange(s, "i1 IDLE\r\n", /\+ [^\r\n]*\r\n$/);
    await exchange(s, "DONE\r\n", completion("i1"));
    assert.match(await cmd(s, "f3", `UID FETCH ${uid} BODY.PEEK[]`), /body\r\n/);
    assert.equal(reads, 2, "IDLE let go of the cached body");
  } finally {
    store.getMessage = read;
  }
  await logout(s);
});

Deno.test("imap session: whole bodies of many messages come in one read, no summary opened", async () => {
  const s = await loggedIn();
  await cmd(s, "c1", "CREATE Bulk");
  const messages = [1, 2, 3, 4, 5].map((n) => `Subject: bulk ${n}\r\n\r\nbody ${n}\r\n`);
  for (const [i, m] of messages.entries()) {
    await exchange(s, `a${i} APPEND Bulk {${m.length}+}\r\n${m}\r\n`, completion(`a${i}`));
  }
  await cmd(s, "s1", "SELECT Bulk");
  const calls = { getBodies: 0, getMessage: 0, getMessages: 0 };
  const saved = {
    getBodies: store.getBodies.bind(store),
    getMessage: store.getMessage.bind(store),
    getMessages: store.getMessages.bind(store),
  };
  store.getBodies = (box, uids) => (calls.getBodies++, saved.getBodies(box, uids));
  store.getMessage = (box, uid) => (calls.getMessage++, saved.getMessage(box, uid));
  store.getMessages = (box, uids, b) => (calls.getMessages++, saved.getMessages(box, uids, b));
  try {
    // Out of order and with a gap: each response still carries its own message.
    const out = await cmd(s, "f1", "FETCH 5,1,3,2 BODY.PEEK[]");
    assert.match(tagged(out, "f1"), /^f1 OK /);
    for (const n of [5, 1, 3, 2]) {
      const m = messages[n - 1];
      assert.ok(out.includes(`* ${n} FETCH (BODY[] {${m.length}}\r\n${m})`), `message ${n}`);
    }
    assert.ok(!out.includes("* 4 FETCH"));
    assert.deepEqual(calls, { getBodies: 1, getMessage: 0, getMessages: 0 });
    // A section still opens the summary for the structure.
    const text = await cmd(s, "f2", "FETCH 1:2 (BODY.PEEK[TEXT] BINARY.PEEK[])");
    assert.ok(text.includes(`BODY[TEXT] {8}\r\nbody 2\r\n BINARY[] {${messages[1].length}}`));
    // A message expunged by another session since the view was taken: NO, the rest answered.
    const box = (await store.getMailbox(USER, "Bulk"))!;
    await store.expunge(box.id, [(await store.listMessages(box.id))[2].uid]);
    const gone = await cmd(s, "f3", "FETCH 1:5 RFC822");
    assert.match(tagged(gone, "f3"), /^f3 NO /);
    assert.ok(gone.includes(`* 4 FETCH (RFC822 {${messages[3].length}}`));
    assert.ok(!gone.includes("* 3 FETCH"));
  } finally {
    Object.assign(store, saved);
  }
  await logout(s);
});

import assert from "node:assert/strict";
import {
  createLogger,
  formatLine,
  loginUserFields,
  logLoginFailure,
  userHash,
} from "../../src/log.ts";

const T = new Date(Date.UTC(2026, 10, 26, 23, 30, 0, 123));
const STAMP = "2026-11-26T23:30:00.123Z";

/** A logger writing into an array. */
function capture(level?: "debug" | "info" | "warn" | "error") {
  const lines: string[] = [];
  return { lines, log: createLogger(level, (line) => lines.push(line)) };
}

/** The text after the timestamp and level of a captured line. */
function body(line: string): string {
  return line.replace(/^\S+ \S+\s+/, "");
}

Deno.test("formatLine", async (t) => {
  await t.step("time, padded level, event, then key=value pairs", () => {
    assert.equal(
      formatLine(T, "info", "smtp.connect", { conn: "c1", port: 25, tls: false }),
      `${STAMP} INFO  smtp.connect conn=c1 port=25 tls=false`,
    );
    assert.equal(formatLine(T, "debug", "e", {}), `${STAMP} DEBUG e`);
    assert.equal(formatLine(T, "warn", "e", {}), `${STAMP} WARN  e`);
    assert.equal(formatLine(T, "error", "e", {}), `${STAMP} ERROR e`);
  });

  await t.step("undefined fields are left out", () => {
    assert.equal(formatLine(T, "info", "e", { a: undefined, b: 1 }), `${STAMP} INFO  e b=1`);
  });

  await t.step("plain printable values stay bare", () => {
    assert.equal(
      formatLine(T, "info", "e", { to: "<a@b.example>", n: -1.5, ok: true }),
      `${STAMP} INFO  e to=<a@b.example> n=-1.5 ok=true`,
    );
  });

  await t.step("spaces, quotes, '=', backslashes and the empty string are quoted", () => {
    const line = formatLine(T, "info", "e", {
      a: "two words",
      b: 'say "hi"',
      c: "k=v",
      d: "back\\slash",
      e: "",
    });
    assert.equal(
      line,
      `${STAMP} INFO  e a="two words" b="say \\"hi\\"" c="k=v" d="back\\\\slash" e=""`,
    );
  });

  await t.step("non-ASCII values are quoted", () => {
    assert.equal(formatLine(T, "info", "e", { helo: "jörg" }), `${STAMP} INFO  e helo="jörg"`);
  });

  await t.step("newlines and CRs cannot forge a second line", () => {
    const hostile = "x\r\n2026-11-26T23:30:00.000Z ERROR forged admin=yes";
    const line = formatLine(T, "info", "smtp.helo", { helo: hostile });
    assert.ok(!/[\r\n]/.test(line), JSON.stringify(line));
    assert.equal(line.split("\n").length, 1);
    assert.ok(line.includes('helo="x\\r\\n2026'), line);
  });

  await t.step("a value cannot forge another field", () => {
    const line = formatLine(T, "info", "e", { user: "bob admin=true" });
    assert.equal(line, `${STAMP} INFO  e user="bob admin=true"`);
    assert.equal(
      formatLine(T, "info", "e", { user: 'bob" admin="true' }),
      `${STAMP} INFO  e user="bob\\" admin=\\"true"`,
    );
  });

  await t.step("other C0 control characters are escaped", () => {
    const line = formatLine(T, "info", "e", { v: "a\x00b\x1bc\td\x0be\x0cf" });
    assert.ok(!/[\x00-\x1f]/.test(line), JSON.stringify(line));
    assert.equal(line, `${STAMP} INFO  e v="a\\u0000b\\u001bc\\td\\u000be\\ff"`);
  });

  await t.step({
    // Unicode and several log tools (e.g. Python's str.splitlines) treat NEL and the line and
    // paragraph separators as line breaks.
    name: "DEL, C1 controls and U+2028/U+2029 are escaped too",
    fn: () => {
      const line = formatLine(T, "info", "e", { v: "a\x7fb\x85c\u2028d\u2029" });
      assert.ok(!/[\x7f-\x9f\u2028\u2029]/.test(line), JSON.stringify(line));
    },
  });

  await t.step("a bidi override cannot show a value reversed", () => {
    // "user=" followed by RIGHT-TO-LEFT OVERRIDE: a viewer would draw the rest backwards.
    const line = formatLine(T, "info", "imap.login.failed", { user: "\u202Emoc.elpmaxe@bob" });
    assert.equal(line, `${STAMP} INFO  imap.login.failed user="\\u202emoc.elpmaxe@bob"`);
  });

  await t.step("every bidi control, mark, BOM and invisible format character is escaped", () => {
    const hostile = [
      "\u061c", // ARABIC LETTER MARK
      "\u200b\u200c\u200d\u200e\u200f", // zero-width space/joiners, LRM, RLM
      "\u202a\u202b\u202c\u202d\u202e", // embeddings and overrides
      "\u2060\u2066\u2067\u2068\u2069", // word joiner, isolates
      "\ufeff", // BOM
      "\u00ad", // soft hyphen (Cf)
      "\u{e0001}", // LANGUAGE TAG (astral Cf)
      "\u00a0\u3000", // spaces that pass for U+0020
      "\ue000", // private use
      "\ud800", // lone surrogate
    ].join("");
    const line = formatLine(T, "info", "e", { v: `a${hostile}b` });
    assert.ok(/^[\x20-\x7e]+$/.test(line), JSON.stringify(line));
    assert.match(line, /\\u202e/);
    assert.match(line, /\\udb40\\udc01/, "astral code points escape as a surrogate pair");
  });

  await t.step("readable non-ASCII stays as it is", () => {
    assert.equal(
      formatLine(T, "info", "e", { from: "jörg@bücher.example", note: "日本 語" }),
      `${STAMP} INFO  e from="jörg@bücher.example" note="日本 語"`,
    );
  });

  await t.step("keys and the event name are escaped too", () => {
    const line = formatLine(T, "info", "ev\u202ent x=y", { "k\u202e y=z": 1, ok_key: 2 });
    assert.ok(/^[\x20-\x7e]+$/.test(line), JSON.stringify(line));
    assert.equal(
      line,
      `${STAMP} INFO  ev\\u202ent\\u0020x\\u003dy k\\u202e\\u0020y\\u003dz=1 ok_key=2`,
    );
  });
});

Deno.test("createLogger", async (t) => {
  await t.step("defaults to info", () => {
    const { lines, log } = capture();
    log.debug("d");
    log.info("i");
    assert.deepEqual(lines.map(body), ["i"]);
  });

  await t.step("each level keeps itself and what is above it", () => {
    const order = ["debug", "info", "warn", "error"] as const;
    for (const [rank, level] of order.entries()) {
      const { lines, log } = capture(level);
      for (const l of order) log[l](`event.${l}`);
      assert.deepEqual(
        lines.map(body),
        order.slice(rank).map((l) => `event.${l}`),
        `level ${level}`,
      );
    }
  });

  await t.step("lines carry the level and a current ISO timestamp", () => {
    const { lines, log } = capture("debug");
    const before = Date.now();
    log.warn("w", { a: 1 });
    const after = Date.now();
    assert.equal(lines.length, 1);
    const m = /^(\S+) WARN {2}w a=1$/.exec(lines[0]);
    assert.ok(m, lines[0]);
    const at = Date.parse(m[1]);
    assert.ok(at >= before && at <= after, lines[0]);
  });

  await t.step("with() binds fields to every line, call fields after them", () => {
    const { lines, log } = capture("info");
    const conn = log.with({ conn: "c7", ip: "192.0.2.1" });
    conn.info("smtp.mail", { from: "a@b.example" });
    conn.error("smtp.fail");
    assert.deepEqual(lines.map(body), [
      "smtp.mail conn=c7 ip=192.0.2.1 from=a@b.example",
      "smtp.fail conn=c7 ip=192.0.2.1",
    ]);
  });

  await t.step("with() nests, and a call field overrides a bound one in place", () => {
    const { lines, log } = capture("info");
    const inner = log.with({ conn: "c1" }).with({ user: "bob" });
    inner.info("e", { conn: "c2", extra: "x" });
    assert.deepEqual(lines.map(body), ["e conn=c2 user=bob extra=x"]);
  });

  await t.step("with() does not change the parent and keeps the level", () => {
    const { lines, log } = capture("warn");
    const child = log.with({ conn: "c1" });
    child.info("dropped");
    child.warn("kept");
    log.warn("parent");
    assert.deepEqual(lines.map(body), ["kept conn=c1", "parent"]);
  });

  await t.step("bound values are quoted like call values", () => {
    const { lines, log } = capture("info");
    log.with({ helo: "evil\nline" }).info("e");
    assert.equal(lines.length, 1);
    assert.ok(!lines[0].includes("\n"));
    assert.ok(lines[0].endsWith('e helo="evil\\nline"'), lines[0]);
  });
});

Deno.test("createLogger base fields (node identity)", async (t) => {
  /** A logger writing into an array, with `base` fields. */
  function node(base: Record<string, string>, level: "debug" | "info" = "debug") {
    const lines: string[] = [];
    return { lines, log: createLogger(level, (line) => lines.push(line), base) };
  }

  await t.step("node= closes every line at every level, also with no fields", () => {
    const { lines, log } = node({ node: "node-2" });
    log.debug("d");
    log.info("i", { a: 1 });
    log.warn("w");
    log.error("e", { b: "x" });
    assert.deepEqual(lines.map(body), [
      "d node=node-2",
      "i a=1 node=node-2",
      "w node=node-2",
      "e b=x node=node-2",
    ]);
  });

  await t.step("with() children keep it, after their bound and call fields", () => {
    const { lines, log } = node({ node: "n1" });
    log.with({ cid: "c7" }).with({ user: "bob" }).info("smtp.mail", { from: "a@b.example" });
    assert.deepEqual(lines.map(body), ["smtp.mail cid=c7 user=bob from=a@b.example node=n1"]);
  });

  await t.step("neither with() nor a call field can change, move or drop it", () => {
    const { lines, log } = node({ node: "n1" });
    log.with({ node: "forged", cid: "c1" }).info("a");
    log.info("b", { node: "forged", x: 1 });
    log.info("c", { node: undefined });
    assert.deepEqual(lines.map(body), ["a cid=c1 node=n1", "b x=1 node=n1", "c node=n1"]);
  });

  await t.step("the level filter still applies", () => {
    const { lines, log } = node({ node: "n1" }, "info");
    log.debug("dropped");
    assert.deepEqual(lines, []);
  });

  await t.step("a hostile node id is quoted and escaped like any value", () => {
    const { lines, log } = node({ node: "a b\nx=1\u202e" });
    log.info("e", { k: "v" });
    assert.equal(lines.length, 1);
    assert.ok(/^[\x20-\x7e]+$/.test(lines[0]), JSON.stringify(lines[0]));
    assert.equal(body(lines[0]), 'e k=v node="a b\\nx=1\\u202e"');
  });

  await t.step("without base fields lines are as before", () => {
    const { lines, log } = capture("info");
    log.info("e", { a: 1 });
    assert.deepEqual(lines.map(body), ["e a=1"]);
  });
});

Deno.test("failed-login user fields", async (t) => {
  await t.step("userHash: 12 hex digits, stable in a process, distinct per name", () => {
    const h = userHash("hunter2");
    assert.match(h, /^[0-9a-f]{12}$/);
    assert.equal(userHash("hunter2"), h);
    assert.notEqual(userHash("hunter3"), h);
    assert.ok(!h.includes("hunter2"));
  });

  await t.step("userHash is keyed: not a plain SHA-256 of the name", async () => {
    const plain = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode("hunter2")),
    );
    const hex = Array.from(plain, (b) => b.toString(16).padStart(2, "0")).join("");
    assert.notEqual(userHash("hunter2"), hex.slice(0, 12));
  });

  await t.step("a known user is logged by name, anything else by hash", async () => {
    const known = (name: string) => Promise.resolve(name === "alice@test.example");
    assert.deepEqual(await loginUserFields("alice@test.example", known), {
      user: "alice@test.example",
    });
    assert.deepEqual(await loginUserFields("S3cret!pass", known), {
      user_hash: userHash("S3cret!pass"),
    });
  });

  await t.step("no lookup, or a failing one, logs the hash", async () => {
    assert.deepEqual(await loginUserFields("alice"), { user_hash: userHash("alice") });
    const broken = () => Promise.reject(new Error("store down"));
    assert.deepEqual(await loginUserFields("alice", broken), { user_hash: userHash("alice") });
  });

  await t.step("logLoginFailure writes one line at the level asked", async () => {
    const { lines, log } = capture("info");
    await logLoginFailure(log, "warn", "pop3.login.blocked", "my password", undefined);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^\S+ WARN {2}pop3\.login\.blocked user_hash=[0-9a-f]{12}$/);
    assert.ok(!lines[0].includes("password"));
  });
});

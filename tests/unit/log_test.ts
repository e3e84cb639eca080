import assert from "node:assert/strict";
import { createLogger, formatLine } from "../../src/log.ts";

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

/** FETCH items: parsing every item and section form, modifiers, and the response item names. */
import assert from "node:assert/strict";
import type { FetchItem, ImapCommand } from "../../src/imap/parse/command.ts";
import { isParseFailure } from "../../src/imap/parse/command.ts";
import { fetchItemName } from "../../src/imap/parse/fetch_items.ts";
import { parseCommand } from "../../src/imap/parse/parse_command.ts";

const enc = new TextEncoder();

type Fetch = Extract<ImapCommand, { name: "FETCH" }>;

function fetch(line: string, literals: string[] = []): Fetch | string {
  // Lines are split at "\n", each but the last followed by the next literal.
  const raw = {
    lines: line.split("\n").map((l) => enc.encode(l)),
    literals: literals.map((l) => enc.encode(l)),
  };
  const r = parseCommand(raw, { utf8: false });
  if (isParseFailure(r)) return r.message;
  assert.equal(r.name, "FETCH");
  return r as Fetch;
}

function items(spec: string): FetchItem[] {
  const r = fetch(`a FETCH 1 ${spec}`);
  if (typeof r === "string") throw new Error(`${spec}: ${r}`);
  return r.items;
}

const fails = (spec: string) => assert.equal(typeof fetch(`a FETCH 1 ${spec}`), "string", spec);

Deno.test("imap fetch: simple items and macros", async (t) => {
  await t.step("every simple item, any case", () => {
    for (
      const kind of [
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
        "BODYSTRUCTURE",
        "BODY",
        "UID",
        "MODSEQ",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
      ]
    ) {
      assert.deepEqual(items(kind), [{ kind }]);
      assert.deepEqual(items(kind.toLowerCase()), [{ kind }]);
      assert.deepEqual(items(`(UID ${kind})`), [{ kind: "UID" }, { kind }]);
      assert.equal(fetchItemName({ kind } as FetchItem), kind);
    }
  });
  await t.step("macros expand, and only stand alone", () => {
    const kinds = (spec: string) => items(spec).map((i) => i.kind);
    assert.deepEqual(kinds("ALL"), ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]);
    assert.deepEqual(kinds("fast"), ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]);
    assert.deepEqual(kinds("FULL"), ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]);
    fails("(ALL)");
    fails("(FLAGS FAST)");
    fails("ALLX");
  });
  await t.step("unknown and malformed items", () => {
    assert.equal(fetch("a FETCH 1 FOO"), "Unknown FETCH item FOO");
    fails("BODY.PEEK");
    fails("BINARY");
    fails("()");
    fails("(FLAGS");
    fails("(FLAGS  UID)");
    fails("FLAGS UID");
    fails("FLAGS[]");
    fails("UID<0.1>");
    fails("");
    assert.equal(fetch("a FETCH 1"), "Expected a space");
  });
});

Deno.test("imap fetch: BODY sections", async (t) => {
  const one = (spec: string) => items(spec)[0];
  await t.step("whole message, parts, texts", () => {
    assert.deepEqual(one("BODY[]"), { kind: "BODY[]", section: { part: [] }, peek: false });
    assert.deepEqual(one("BODY.PEEK[]"), { kind: "BODY[]", section: { part: [] }, peek: true });
    assert.deepEqual(one("body[header]"), {
      kind: "BODY[]",
      section: { part: [], text: "HEADER" },
      peek: false,
    });
    assert.deepEqual(one("BODY[TEXT]"), {
      kind: "BODY[]",
      section: { part: [], text: "TEXT" },
      peek: false,
    });
    assert.deepEqual(one("BODY[1.2.3]"), {
      kind: "BODY[]",
      section: { part: [1, 2, 3] },
      peek: false,
    });
    assert.deepEqual(one("BODY[2.MIME]"), {
      kind: "BODY[]",
      section: { part: [2], text: "MIME" },
      peek: false,
    });
    assert.deepEqual(one("BODY[4.1.HEADER]"), {
      kind: "BODY[]",
      section: { part: [4, 1], text: "HEADER" },
      peek: false,
    });
  });
  await t.step("header field lists", () => {
    assert.deepEqual(
      one('BODY.PEEK[HEADER.FIELDS (From "To" Cc)]'),
      {
        kind: "BODY[]",
        section: { part: [], text: "HEADER.FIELDS", fields: ["FROM", "TO", "CC"] },
        peek: true,
      },
    );
    assert.deepEqual(one("BODY[1.HEADER.FIELDS.NOT (Received)]"), {
      kind: "BODY[]",
      section: { part: [1], text: "HEADER.FIELDS.NOT", fields: ["RECEIVED"] },
      peek: false,
    });
    const lit = fetch("a FETCH 1 BODY[HEADER.FIELDS ({4}\n)]", ["Date"]);
    assert.notEqual(typeof lit, "string", String(lit));
    assert.deepEqual((lit as Fetch).items[0], {
      kind: "BODY[]",
      section: { part: [], text: "HEADER.FIELDS", fields: ["DATE"] },
      peek: false,
    });
  });
  await t.step("partial ranges", () => {
    assert.deepEqual(one("BODY[]<0.1024>"), {
      kind: "BODY[]",
      section: { part: [] },
      peek: false,
      partial: { offset: 0, length: 1024 },
    });
    assert.deepEqual(one("BODY.PEEK[1]<0.0>"), {
      kind: "BODY[]",
      section: { part: [1] },
      peek: true,
      partial: { offset: 0, length: 0 },
    });
    fails("BODY[]<0>");
    fails("BODY[]<.5>");
    fails("BODY[]<1.5");
    fails("BODY[]<-1.5>");
  });
  await t.step("malformed sections", () => {
    assert.equal(fetch("a FETCH 1 BODY[MIME]"), "MIME needs a part number");
    fails("BODY[0]");
    fails("BODY[1.]");
    fails("BODY[.1]");
    fails("BODY[1..2]");
    fails("BODY[HEADER.FIELDS]");
    fails("BODY[HEADER.FIELDS ()]");
    fails("BODY[HEADER.FIELDS (From]");
    fails("BODY[HEADERS]");
    fails("BODY[TEXT.MIME]");
    fails("BODY[1 ]");
    fails("BODY[");
    fails("BODY[1]x");
    fails("BODY[4294967296]");
  });
});

Deno.test("imap fetch: BINARY (RFC 3516)", async (t) => {
  await t.step("BINARY, BINARY.PEEK, BINARY.SIZE", () => {
    assert.deepEqual(items("BINARY[1.2]"), [{ kind: "BINARY", part: [1, 2], peek: false }]);
    assert.deepEqual(items("BINARY.PEEK[]<5.10>"), [{
      kind: "BINARY",
      part: [],
      peek: true,
      partial: { offset: 5, length: 10 },
    }]);
    assert.deepEqual(items("BINARY.SIZE[3]"), [{ kind: "BINARY.SIZE", part: [3] }]);
    fails("BINARY.SIZE[3]<0.1>");
    fails("BINARY[1.TEXT]");
    fails("BINARY[1.]");
    fails("BINARY.SIZE");
  });
});

Deno.test("imap fetch: modifiers (RFC 7162)", async (t) => {
  await t.step("CHANGEDSINCE and VANISHED", () => {
    const f = fetch("a UID FETCH 1:* FLAGS (CHANGEDSINCE 12345 VANISHED)") as Fetch;
    assert.equal(f.uid, true);
    assert.equal(f.changedSince, 12345);
    assert.equal(f.vanished, true);
    const g = fetch("a FETCH 1 (FLAGS) (changedsince 7)") as Fetch;
    assert.equal(g.changedSince, 7);
    assert.equal(g.vanished, false);
    const h = fetch("a FETCH 1 FLAGS") as Fetch;
    assert.equal(h.changedSince, undefined);
    assert.equal(h.vanished, false);
  });
  await t.step("VANISHED needs UID FETCH and CHANGEDSINCE", () => {
    assert.equal(
      fetch("a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)"),
      "VANISHED needs UID FETCH with CHANGEDSINCE",
    );
    assert.equal(
      fetch("a UID FETCH 1 FLAGS (VANISHED)"),
      "VANISHED needs UID FETCH with CHANGEDSINCE",
    );
  });
  await t.step("malformed modifiers", () => {
    assert.match(fetch("a FETCH 1 FLAGS (FOO)") as string, /Unknown FETCH modifier/);
    assert.equal(typeof fetch("a FETCH 1 FLAGS ()"), "string");
    assert.equal(typeof fetch("a FETCH 1 FLAGS (CHANGEDSINCE)"), "string");
    assert.equal(typeof fetch("a FETCH 1 FLAGS (CHANGEDSINCE 9007199254740992)"), "string");
  });
});

Deno.test("imap fetch: response item names (RFC 3501 §7.4.2)", async (t) => {
  const name = (spec: string) => fetchItemName(items(spec)[0]);
  await t.step("sections", () => {
    assert.equal(name("BODY.PEEK[]"), "BODY[]");
    assert.equal(name("body[header]"), "BODY[HEADER]");
    assert.equal(name("BODY[1.2.MIME]"), "BODY[1.2.MIME]");
    assert.equal(name("BODY[3]"), "BODY[3]");
    assert.equal(
      name("BODY.PEEK[1.2.HEADER.FIELDS (From to)]<0.100>"),
      "BODY[1.2.HEADER.FIELDS (FROM TO)]<0>",
    );
    assert.equal(name('BODY[HEADER.FIELDS.NOT ("X Y" Z)]'), 'BODY[HEADER.FIELDS.NOT ("X Y" Z)]');
    assert.equal(name("BODY[TEXT]<100.5>"), "BODY[TEXT]<100>");
  });
  await t.step("binary", () => {
    assert.equal(name("BINARY.PEEK[1]<0.5>"), "BINARY[1]<0>");
    assert.equal(name("BINARY[]"), "BINARY[]");
    assert.equal(name("BINARY.SIZE[2.1]"), "BINARY.SIZE[2.1]");
  });
});

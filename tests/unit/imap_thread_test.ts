/** THREAD: msg-id parsing, ORDEREDSUBJECT, REFERENCES, the response syntax and the parser. */
import assert from "node:assert/strict";
import {
  parseMessageIds,
  renderThreads,
  type ThreadInput,
  threadOrderedSubject,
  threadReferences,
} from "../../src/imap/sort/thread.ts";
import type { ImapCommand } from "../../src/imap/parse/command.ts";
import { isParseFailure } from "../../src/imap/parse/command.ts";
import { parseCommand } from "../../src/imap/parse/parse_command.ts";

/** A message: seq = id, date defaults to 0 so that sequence order decides. */
function m(
  seq: number,
  fields: { id?: string; refs?: string[]; subject?: string; date?: number } = {},
): ThreadInput {
  const input: ThreadInput = {
    id: seq,
    seq,
    date: fields.date ?? 0,
    subject: fields.subject ?? "",
    references: fields.refs ?? [],
  };
  if (fields.id !== undefined) input.messageId = fields.id;
  return input;
}

const refs = (list: ThreadInput[]) => renderThreads(threadReferences(list));
const ordered = (list: ThreadInput[]) => renderThreads(threadOrderedSubject(list));

Deno.test("imap thread: msg-ids", () => {
  assert.deepEqual(parseMessageIds("<a@b> <c@d>"), ["a@b", "c@d"]);
  assert.deepEqual(parseMessageIds(" <a@b>\r\n\t<c (x) @d>"), ["a@b", "c@d"]);
  assert.deepEqual(parseMessageIds("<nohost> <@x> <y@> <> a@b"), []);
  assert.deepEqual(parseMessageIds(""), []);
  assert.deepEqual(parseMessageIds("<<a@b>>"), ["a@b"]);
});

Deno.test("imap thread: response syntax (RFC 5256 §4)", () => {
  const leaf = (id: number) => ({ message: m(id), children: [] });
  assert.equal(renderThreads([]), "");
  assert.equal(renderThreads([leaf(1), leaf(2)]), "(1)(2)");
  assert.equal(
    renderThreads([{ message: m(1), children: [{ message: m(2), children: [leaf(3)] }] }]),
    "(1 2 3)",
  );
  assert.equal(
    renderThreads([{ message: m(1), children: [{ message: m(2), children: [leaf(4)] }, leaf(3)] }]),
    "(1 (2 4)(3))",
  );
  assert.equal(renderThreads([{ children: [leaf(2), leaf(3)] }]), "((2)(3))");
  assert.equal(renderThreads([{ children: [leaf(2)] }]), "((2))");
});

Deno.test("imap thread: ORDEREDSUBJECT (RFC 5256 §3)", async (t) => {
  await t.step("the imaptest thread-orderedsubject mailbox", () => {
    const subjects = [
      "a",
      "C",
      "b",
      "_",
      "[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)",
      "b (a)",
      "Re: [FWD: c]",
      "[xyz]",
      "",
      " ",
      "Re: b",
      "RE: C",
      "Re: c",
      "Ad: Re: Ad: Re: Ad: x",
      "re: [fwd: [fwd: re: [fwd: babylon]]]",
    ];
    assert.equal(
      ordered(subjects.map((subject, i) => m(i + 1, { subject }))),
      "(1)(2 (7)(12)(13))(3 (5)(11))(4)(6)(8)(9 10)(14)(15)",
    );
  });
  await t.step("dates order children and threads (thread-orderedsubject2)", () => {
    const dates = [10, 9, 8, 7, 30, 29, 28, 27];
    const list = dates.map((date, i) => m(i + 1, { subject: i % 2 === 0 ? "a" : "b", date }));
    assert.equal(ordered(list), "(4 (2)(8)(6))(3 (1)(7)(5))");
  });
  await t.step("nothing to thread", () => {
    assert.equal(ordered([]), "");
  });
});

Deno.test("imap thread: REFERENCES (RFC 5256 §3)", async (t) => {
  await t.step("a reply chain; In-Reply-To as given by the caller", () => {
    assert.equal(
      refs([m(1, { id: "1@b" }), m(2, { id: "2@b", refs: ["1@b"] }), m(3, { refs: ["2@b"] })]),
      "(1 2 3)",
    );
  });
  await t.step(
    "a link that would loop is not made; the older link breaks (imaptest thread)",
    () => {
      const list = [
        m(1, { id: "a@b", date: 17 }),
        m(2, { id: "b@b", refs: ["a@b", "c@b"], date: 15 }),
        m(3, { id: "c@b", refs: ["b@b"], date: 16 }),
      ];
      assert.equal(refs(list), "(3 2)(1)");
      assert.equal(
        refs(list.slice(1).map((x) => ({ ...x, id: x.id - 1, seq: x.seq - 1 }))),
        "(2 1)",
      );
    },
  );
  await t.step("duplicate and missing Message-IDs are unique messages", () => {
    assert.equal(refs([m(1, { id: "a@b" }), m(2, { id: "a@b" })]), "(1)(2)");
    assert.equal(refs([m(1), m(2)]), "(1)(2)");
    // thread7: a duplicate of b replies to a as well.
    const list = [
      m(1, { id: "a@b" }),
      m(2, { id: "b@b", refs: ["a@b"] }),
      m(3, { id: "c@b", refs: ["b@b"] }),
      m(4, { id: "b@b", refs: ["a@b"] }),
    ];
    assert.equal(refs(list), "(1 (2 3)(4))");
  });
  await t.step("dummies: kept at the root with several children, else promoted", () => {
    // thread6: two messages referring to one that is not there.
    assert.equal(refs([m(1, { refs: ["a@b"] }), m(2, { refs: ["a@b"] })]), "((1)(2))");
    // thread5 after expunges: two absent parents with one child each.
    assert.equal(
      refs([m(1, { id: "3@b", refs: ["1@b"] }), m(2, { id: "4@b", refs: ["2@b"] })]),
      "(1)(2)",
    );
    assert.equal(
      refs([
        m(1, { id: "3@b", refs: ["1@b"] }),
        m(2, { id: "4@b", refs: ["2@b"] }),
        m(3, { id: "5@b", refs: ["2@b"] }),
      ]),
      "(1)((2)(3))",
    );
    // A dummy in the middle of a chain gives way to its child.
    assert.equal(refs([m(1, { id: "a@b" }), m(2, { refs: ["a@b", "gone@b"] })]), "(1 2)");
  });
  await t.step("subject grouping: a reply goes under its original (thread3, thread4)", () => {
    assert.equal(
      refs([m(1, { id: "a@b", subject: "foo" }), m(2, { id: "a@b", subject: "Re: foo" })]),
      "(1 2)",
    );
    assert.equal(
      refs([m(1, { subject: "Re: foo" }), m(2, { subject: "foo", date: 5 })]),
      "(2 1)",
    );
    assert.equal(
      refs([
        m(1, { id: "a@b", subject: "foo" }),
        m(2, { id: "b@b", refs: ["c@b"], subject: "Re: foo" }),
      ]),
      "(1 2)",
    );
  });
  await t.step("subject grouping: neither a reply, or both, become siblings", () => {
    assert.equal(refs([m(1, { subject: "foo" }), m(2, { subject: "FOO" })]), "((1)(2))");
    assert.equal(refs([m(1, { subject: "Re: foo" }), m(2, { subject: "Re: foo" })]), "((1)(2))");
    assert.equal(
      refs([m(1, { subject: "foo" }), m(2, { subject: "foo" }), m(3, { subject: "foo" })]),
      "((1)(2)(3))",
    );
    // Empty base subjects are never grouped.
    assert.equal(refs([m(1, { subject: "Re:" }), m(2, { subject: "" })]), "(1)(2)");
  });
  await t.step("subject grouping: a dummy root takes messages and dummies", () => {
    const list = [
      m(1, { refs: ["x@b"], subject: "topic" }),
      m(2, { refs: ["x@b"], subject: "topic" }),
      m(3, { subject: "Re: topic" }),
      m(4, { refs: ["y@b"], subject: "topic" }),
      m(5, { refs: ["y@b"], subject: "topic" }),
    ];
    assert.equal(refs(list), "((1)(2)(3)(4)(5))");
  });
  await t.step("children and roots by date, then sequence", () => {
    const list = [
      m(1, { id: "r@b", date: 50 }),
      m(2, { refs: ["r@b"], date: 30 }),
      m(3, { refs: ["r@b"], date: 20 }),
      m(4, { date: 40 }),
    ];
    assert.equal(refs(list), "(4)(1 (3)(2))");
  });
  await t.step("a self-reference and a reference loop do not hang", () => {
    assert.equal(refs([m(1, { id: "a@b", refs: ["a@b"] })]), "(1)");
    assert.equal(
      refs([m(1, { id: "a@b", refs: ["b@b"] }), m(2, { id: "b@b", refs: ["a@b"] })]),
      "(2 1)",
    );
  });
  await t.step("a 50 000-message chain does not exhaust the stack", () => {
    const n = 50_000;
    const list = Array.from(
      { length: n },
      (_, i) => m(i + 1, { id: `${i}@x`, refs: i === 0 ? [] : [`${i - 1}@x`] }),
    );
    const out = refs(list);
    assert.ok(out.startsWith("(1 2 3 "));
    assert.ok(out.endsWith(` ${n})`));
  });
  await t.step("nothing to thread", () => {
    assert.equal(refs([]), "");
  });
});

function parse(line: string): ImapCommand | { message: string } {
  return parseCommand({ lines: [new TextEncoder().encode(line)], literals: [] }, { utf8: false });
}

Deno.test("imap thread: THREAD parser (RFC 5256 §4)", async (t) => {
  await t.step("algorithm, charset and program", () => {
    const c = parse("a THREAD references US-ASCII ALL") as Extract<ImapCommand, { name: "THREAD" }>;
    assert.equal(c.name, "THREAD");
    assert.equal(c.algorithm, "REFERENCES");
    assert.equal(c.charset, "US-ASCII");
    assert.equal(c.uid, false);
    const u = parse('a UID THREAD ORDEREDSUBJECT "UTF-8" SUBJECT x') as Extract<
      ImapCommand,
      { name: "THREAD" }
    >;
    assert.equal(u.uid, true);
    assert.equal(u.algorithm, "ORDEREDSUBJECT");
    assert.deepEqual(u.program, { op: "header", field: "SUBJECT", value: "x" });
  });
  await t.step("malformed THREAD", () => {
    for (
      const line of [
        "a THREAD",
        "a THREAD REFERENCES",
        "a THREAD REFERENCES UTF-8",
        "a THREAD REFS UTF-8 ALL",
        "a THREAD (REFERENCES) UTF-8 ALL",
        "a THREAD REFERENCES UTF-8 ALL )",
      ]
    ) {
      assert.ok(isParseFailure(parse(line) as ImapCommand), line);
    }
  });
});

/** SORT: base subjects, collation, sort keys and order, ESORT sets, and the SORT parser. */
import assert from "node:assert/strict";
import { baseSubject, casemap, compareCasemap } from "../../src/imap/sort/subject.ts";
import {
  displayName,
  formatOrderedSet,
  type SortInput,
  sortMessages,
  sortValue,
} from "../../src/imap/sort/sort_keys.ts";
import type { ImapCommand, SortCriterion } from "../../src/imap/parse/command.ts";
import { isParseFailure } from "../../src/imap/parse/command.ts";
import { parseCommand } from "../../src/imap/parse/parse_command.ts";

const enc = new TextEncoder();

Deno.test("imap sort: base subject (RFC 5256 §2.1)", async (t) => {
  const base = (s: string) => baseSubject(s).subject;
  await t.step("leaders, blobs, trailers and [fwd: ] wrappers go", () => {
    assert.equal(base("Re: hello"), "hello");
    assert.equal(base("RE:  FW: Fwd: hello"), "hello");
    assert.equal(base("re [list]: hello"), "hello");
    assert.equal(base("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)"), "b");
    assert.equal(base("Re: [FWD: c]"), "c");
    assert.equal(base("re: [fwd: [fwd: re: [fwd: babylon]]]"), "babylon");
    assert.equal(base("[list] hello"), "hello");
    assert.equal(base("  hello \t world  "), "hello world");
    assert.equal(base("hello\r\n world"), "hello world");
  });
  await t.step("what only looks like a leader stays", () => {
    assert.equal(base("Ad: Re: Ad: x"), "Ad: Re: Ad: x");
    assert.equal(base("b (a)"), "b (a)");
    assert.equal(base("Rex: hi"), "Rex: hi");
    assert.equal(base("Re hi"), "Re hi");
    assert.equal(base("hello (fwd) there"), "hello (fwd) there");
  });
  await t.step("a blob that is all there is stays", () => {
    assert.equal(base("[xyz]"), "[xyz]");
    assert.equal(base("Re: [xyz]"), "[xyz]");
    assert.equal(base("[a] [b]"), "[b]");
  });
  await t.step("empty and white space only", () => {
    assert.equal(base(""), "");
    assert.equal(base(" "), "");
    assert.equal(base("Re:"), "");
    assert.equal(base("(fwd)"), "");
  });
  await t.step("reply or forward is noted", () => {
    assert.equal(baseSubject("Re: x").reply, true);
    assert.equal(baseSubject("x (fwd)").reply, true);
    assert.equal(baseSubject("[fwd: x]").reply, true);
    assert.equal(baseSubject("[list] x").reply, false);
    assert.equal(baseSubject("x").reply, false);
  });
  await t.step("malformed brackets do not hang or throw", () => {
    assert.equal(base("[[[[ Re: x"), "[[[[ Re: x");
    assert.equal(base("[fwd:]"), "[fwd:]");
    assert.equal(base("[fwd: ]"), "[fwd: ]");
    assert.equal(base("[fwd: x"), "[fwd: x");
    assert.equal(base("Re: ".repeat(10_000) + "x"), "x");
  });
});

Deno.test("imap sort: i;ascii-casemap", async (t) => {
  await t.step("only ASCII letters are mapped", () => {
    assert.equal(casemap("abc ÄÖ äö xyz"), "ABC ÄÖ äö XYZ");
  });
  await t.step("order by code point after mapping", () => {
    assert.equal(compareCasemap("abc", "ABC"), 0);
    assert.ok(compareCasemap("a", "B") < 0);
    // "[" and "_" come after the upper-case letters.
    assert.ok(compareCasemap("z", "[") < 0);
    assert.ok(compareCasemap("[", "_") < 0);
    assert.ok(compareCasemap("ab", "abc") < 0);
    assert.ok(compareCasemap("", "a") < 0);
    // U+1F600 (a surrogate pair) is above U+FFFD.
    assert.ok(compareCasemap("\u{fffd}", "\u{1f600}") < 0);
    assert.ok(compareCasemap("\u{1f600}", "\u{fffd}") > 0);
  });
});

function msg(seq: number, header: string, extra: Partial<SortInput> = {}): SortInput {
  return {
    seq,
    internalDate: 1_000,
    size: 100,
    header: enc.encode(header.replaceAll("\n", "\r\n") + "\r\n"),
    ...extra,
  };
}

const by = (...keys: string[]): SortCriterion[] => {
  const out: SortCriterion[] = [];
  let reverse = false;
  for (const k of keys) {
    if (k === "REVERSE") reverse = true;
    else {
      out.push({ key: k as SortCriterion["key"], reverse });
      reverse = false;
    }
  }
  return out;
};

const seqs = (list: SortInput[]) => list.map((m) => m.seq);

Deno.test("imap sort: sort values", async (t) => {
  await t.step("SUBJECT is the decoded, case-mapped base subject", () => {
    assert.equal(sortValue("SUBJECT", msg(1, "Subject: =?us-ascii?b?UmU6IGM=?=\n")), "C");
    assert.equal(sortValue("SUBJECT", msg(1, "Subject: =?iso-8859-1?q?_?=\n")), "");
    assert.equal(sortValue("SUBJECT", msg(1, "From: a@b\n")), "");
  });
  await t.step("FROM, TO, CC: the first address's mailbox; a group's name", () => {
    const m = msg(
      1,
      "From: Foo <foo@x.org>, bar@y.org\nTo: list: a@b.c;\nCc: cc@z.org (Comment)\n",
    );
    assert.equal(sortValue("FROM", m), "FOO");
    assert.equal(sortValue("TO", m), "LIST");
    assert.equal(sortValue("CC", m), "CC");
    assert.equal(sortValue("FROM", msg(1, "Subject: x\n")), "");
  });
  await t.step("DISPLAYFROM / DISPLAYTO (RFC 5957)", () => {
    assert.equal(
      sortValue("DISPLAYFROM", msg(1, "From: =?iso-8859-1?q?foo_aar?= <e@f.g>\n")),
      "FOO AAR",
    );
    assert.equal(sortValue("DISPLAYFROM", msg(1, "From: b@c.d\n")), "B@C.D");
    assert.equal(sortValue("DISPLAYTO", msg(1, "To: empty:;\n")), "EMPTY");
    assert.equal(sortValue("DISPLAYTO", msg(1, 'To: "" <q@r.s>\n')), "Q@R.S");
    assert.equal(displayName(undefined), "");
  });
  await t.step("DATE falls back to INTERNALDATE; ARRIVAL and SIZE from metadata", () => {
    assert.equal(sortValue("DATE", msg(1, "", { sentDate: 5, internalDate: 9 })), 5);
    assert.equal(sortValue("DATE", msg(1, "", { internalDate: 9 })), 9);
    assert.equal(sortValue("ARRIVAL", msg(1, "", { internalDate: 7 })), 7);
    assert.equal(sortValue("SIZE", msg(1, "", { size: 42 })), 42);
  });
  await t.step("no header at all sorts as empty", () => {
    const m: SortInput = { seq: 1, internalDate: 3, size: 1 };
    assert.equal(sortValue("SUBJECT", m), "");
    assert.equal(sortValue("DISPLAYTO", m), "");
    assert.equal(sortValue("DATE", m), 3);
  });
});

Deno.test("imap sort: order", async (t) => {
  const arrival = [0, 2, 1, 2, 2].map((h, i) => msg(i + 1, "", { internalDate: h * 3600_000 }));
  await t.step("ties fall back to sequence order, which REVERSE does not flip", () => {
    assert.deepEqual(seqs(sortMessages(arrival, by("ARRIVAL"))), [1, 3, 2, 4, 5]);
    assert.deepEqual(seqs(sortMessages(arrival, by("REVERSE", "ARRIVAL"))), [2, 4, 5, 3, 1]);
  });
  await t.step("a later key breaks ties of an earlier one", () => {
    const sized = arrival.map((m, i) => ({ ...m, size: [10, 20, 30, 40, 50][i] }));
    assert.deepEqual(seqs(sortMessages(sized, by("ARRIVAL", "REVERSE", "SIZE"))), [
      1,
      3,
      5,
      4,
      2,
    ]);
  });
  await t.step("subjects (the imaptest sort-subject mailbox)", () => {
    const subjects = [
      "a",
      "C",
      "b",
      "_",
      "[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)",
      "b (a)",
      "Re: [FWD: c]",
      "[xyz]",
      undefined,
      "=?iso-8859-1?q?_?=",
      "Re: =?utf-8?q?b?=",
      "=?iso-8859-1?q?RE:_C?=",
      "=?us-ascii?b?UmU6IGM=?=",
      "Ad: Re: Ad: Re: Ad: x",
      "re: [fwd: [fwd: re: [fwd: babylon]]]",
    ];
    const list = subjects.map((s, i) => msg(i + 1, s === undefined ? "" : `Subject: ${s}\n`));
    assert.deepEqual(
      seqs(sortMessages(list, by("SUBJECT"))),
      [9, 10, 1, 14, 3, 5, 11, 6, 15, 2, 7, 12, 13, 8, 4],
    );
  });
  await t.step("an empty list and an input left unchanged", () => {
    assert.deepEqual(sortMessages([], by("SUBJECT")), []);
    const input = [msg(2, "Subject: b\n"), msg(1, "Subject: a\n")];
    sortMessages(input, by("SUBJECT"));
    assert.deepEqual(seqs(input), [2, 1]);
  });
});

Deno.test("imap sort: ESORT ALL keeps sort order", () => {
  assert.equal(formatOrderedSet([1, 2, 3, 4, 5]), "1:5");
  assert.equal(formatOrderedSet([3, 1, 2]), "3,1:2");
  assert.equal(formatOrderedSet([5, 4, 3]), "5,4,3");
  assert.equal(formatOrderedSet([7]), "7");
  assert.equal(formatOrderedSet([]), "");
});

function parse(line: string): ImapCommand | { message: string } {
  return parseCommand({ lines: [enc.encode(line)], literals: [] }, { utf8: false });
}

Deno.test("imap sort: SORT parser (RFC 5256 §4, RFC 5267 §3)", async (t) => {
  await t.step("criteria, charset and program", () => {
    const c = parse("a SORT (REVERSE arrival subject) UTF-8 ALL") as Extract<
      ImapCommand,
      { name: "SORT" }
    >;
    assert.equal(c.name, "SORT");
    assert.equal(c.uid, false);
    assert.deepEqual(c.criteria, [
      { key: "ARRIVAL", reverse: true },
      { key: "SUBJECT", reverse: false },
    ]);
    assert.equal(c.charset, "UTF-8");
    assert.deepEqual(c.program, { op: "all" });
    assert.equal(c.returns, undefined);
  });
  await t.step("UID SORT and RETURN", () => {
    const c = parse("a UID SORT RETURN (min COUNT) (DISPLAYFROM) us-ascii 1:5 SEEN") as Extract<
      ImapCommand,
      { name: "SORT" }
    >;
    assert.equal(c.uid, true);
    assert.deepEqual(c.returns, ["MIN", "COUNT"]);
    assert.deepEqual(c.criteria, [{ key: "DISPLAYFROM", reverse: false }]);
    assert.equal(c.program.op, "and");
    const d = parse("a SORT RETURN () (SIZE) UTF-8 ALL") as { returns: string[] };
    assert.deepEqual(d.returns, ["ALL"]);
  });
  await t.step("malformed SORT", () => {
    for (
      const line of [
        "a SORT",
        "a SORT () UTF-8 ALL",
        "a SORT (REVERSE) UTF-8 ALL",
        "a SORT (REVERSE REVERSE DATE) UTF-8 ALL",
        "a SORT (NAME) UTF-8 ALL",
        "a SORT (DATE) ALL",
        "a SORT (DATE) UTF-8",
        "a SORT DATE UTF-8 ALL",
        "a SORT RETURN (SAVE) (DATE) UTF-8 ALL",
        "a SORT RETURN (PARTIAL 1:5) (DATE) UTF-8 ALL",
        "a SORT (DATE) UTF-8 ALL extra",
      ]
    ) {
      assert.ok(isParseFailure(parse(line) as ImapCommand), line);
    }
  });
});

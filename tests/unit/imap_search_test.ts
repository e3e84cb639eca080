/** SEARCH: parsing every key (RFC 3501 §6.4.4, RFC 7162, RFC 5032, RFC 4731) and the matcher. */
import assert from "node:assert/strict";
import type { ImapCommand, SearchKey } from "../../src/imap/parse/command.ts";
import { isParseFailure, STAR } from "../../src/imap/parse/command.ts";
import { parseCommand } from "../../src/imap/parse/parse_command.ts";
import {
  matchSearch,
  searchNeeds,
  type SearchTarget,
  sentDay,
} from "../../src/imap/parse/search_match.ts";

const enc = new TextEncoder();
type Search = Extract<ImapCommand, { name: "SEARCH" }>;

/** Parses `a SEARCH <args>`; "\n" splits lines, each but the last followed by a literal. */
function search(args: string, literals: string[] = [], utf8 = false): Search | string {
  const raw = {
    lines: `a SEARCH ${args}`.split("\n").map((l) => enc.encode(l)),
    literals: literals.map((l) => enc.encode(l)),
  };
  const r = parseCommand(raw, { utf8 });
  if (isParseFailure(r)) return r.message;
  return r as Search;
}

function program(args: string, literals: string[] = []): SearchKey {
  const r = search(args, literals);
  if (typeof r === "string") throw new Error(`${args}: ${r}`);
  return r.program;
}

const fails = (args: string) => assert.equal(typeof search(args), "string", args);

Deno.test("imap search parse: keys", async (t) => {
  await t.step("flag keys", () => {
    const cases: Array<[string, string, boolean]> = [
      ["ANSWERED", "\\Answered", true],
      ["UNANSWERED", "\\Answered", false],
      ["DELETED", "\\Deleted", true],
      ["UNDELETED", "\\Deleted", false],
      ["DRAFT", "\\Draft", true],
      ["UNDRAFT", "\\Draft", false],
      ["FLAGGED", "\\Flagged", true],
      ["UNFLAGGED", "\\Flagged", false],
      ["seen", "\\Seen", true],
      ["UNSEEN", "\\Seen", false],
      ["KEYWORD $Junk", "$Junk", true],
      ["UNKEYWORD Work", "Work", false],
    ];
    for (const [text, flag, set] of cases) {
      assert.deepEqual(program(text), { op: "flag", flag, set });
    }
    assert.deepEqual(program("ALL"), { op: "all" });
    assert.deepEqual(program("RECENT"), { op: "recent", set: true });
    assert.deepEqual(program("OLD"), { op: "recent", set: false });
    assert.deepEqual(program("NEW"), {
      op: "and",
      keys: [{ op: "recent", set: true }, { op: "flag", flag: "\\Seen", set: false }],
    });
  });
  await t.step("string keys: atoms, quoted, literals", () => {
    for (const f of ["FROM", "TO", "CC", "BCC", "SUBJECT"]) {
      assert.deepEqual(program(`${f.toLowerCase()} alice`), {
        op: "header",
        field: f,
        value: "alice",
      });
    }
    assert.deepEqual(program('BODY "two words"'), { op: "body", value: "two words" });
    assert.deepEqual(program("TEXT x"), { op: "text", value: "x" });
    assert.deepEqual(program("HEADER list-id {3}\n", ["abc"]), {
      op: "header",
      field: "LIST-ID",
      value: "abc",
    });
    assert.deepEqual(program('HEADER X-Spam ""'), { op: "header", field: "X-SPAM", value: "" });
    assert.deepEqual(program("CHARSET UTF-8 SUBJECT {6}\n", ["Grüß"]), {
      op: "header",
      field: "SUBJECT",
      value: "Grüß",
    });
  });
  await t.step("dates", () => {
    const cases: Array<[string, "internal" | "sent", "before" | "on" | "since"]> = [
      ["BEFORE", "internal", "before"],
      ["ON", "internal", "on"],
      ["SINCE", "internal", "since"],
      ["SENTBEFORE", "sent", "before"],
      ["SENTON", "sent", "on"],
      ["SENTSINCE", "sent", "since"],
    ];
    for (const [key, field, cmp] of cases) {
      assert.deepEqual(program(`${key} 1-Feb-2024`), { op: "date", field, cmp, day: "2024-02-01" });
    }
    assert.deepEqual(program('ON "29-feb-2024"'), {
      op: "date",
      field: "internal",
      cmp: "on",
      day: "2024-02-29",
    });
    fails("ON 29-Feb-2023");
    fails("ON 1-Foo-2024");
    fails("ON 1-Feb-24");
    fails("ON 001-Feb-2024");
    fails('ON "1-Feb-2024');
    fails("ON");
  });
  await t.step("sizes, sets, MODSEQ, YOUNGER/OLDER", () => {
    assert.deepEqual(program("LARGER 1000"), { op: "size", cmp: "larger", n: 1000 });
    assert.deepEqual(program("SMALLER 0"), { op: "size", cmp: "smaller", n: 0 });
    assert.deepEqual(program("1:3,*"), { op: "seq", set: { ranges: [[1, 3], [STAR, STAR]] } });
    assert.deepEqual(program("UID 5:*"), { op: "uid", set: { ranges: [[5, STAR]] } });
    assert.deepEqual(program("MODSEQ 620162338"), { op: "modseq", modSeq: 620162338 });
    assert.deepEqual(program('MODSEQ "/flags/\\\\draft" all 620162338'), {
      op: "modseq",
      modSeq: 620162338,
      entry: { name: "/flags/\\draft", type: "all" },
    });
    assert.deepEqual(program("YOUNGER 3600"), { op: "younger", seconds: 3600 });
    assert.deepEqual(program("OLDER 60"), { op: "older", seconds: 60 });
    fails("LARGER x");
    fails("LARGER");
    fails("UID 0");
    fails("0");
    fails("$");
    fails('MODSEQ "/flags/\\\\draft" every 1');
    fails("YOUNGER 0");
    fails("KEYWORD \\Seen");
  });
  await t.step("NOT, OR, parentheses, implicit AND", () => {
    assert.deepEqual(program("NOT SEEN"), {
      op: "not",
      key: { op: "flag", flag: "\\Seen", set: true },
    });
    assert.deepEqual(program("OR SEEN (FLAGGED DRAFT)"), {
      op: "or",
      a: { op: "flag", flag: "\\Seen", set: true },
      b: {
        op: "and",
        keys: [
          { op: "flag", flag: "\\Flagged", set: true },
          { op: "flag", flag: "\\Draft", set: true },
        ],
      },
    });
    assert.deepEqual(program("((SEEN))"), { op: "flag", flag: "\\Seen", set: true });
    assert.deepEqual(program("SEEN 2 UNDELETED"), {
      op: "and",
      keys: [
        { op: "flag", flag: "\\Seen", set: true },
        { op: "seq", set: { ranges: [[2, 2]] } },
        { op: "flag", flag: "\\Deleted", set: false },
      ],
    });
  });
  await t.step("malformed programs", () => {
    for (
      const bad of [
        "",
        "(SEEN",
        "SEEN)",
        "()",
        "(SEEN))",
        "OR SEEN",
        "NOT",
        "FOO",
        "SEEN  DRAFT",
        "SEEN ",
        "SUBJECT",
        "HEADER X",
        'SUBJECT "a\\b"',
        "CHARSET",
        "CHARSET UTF-8",
      ]
    ) fails(bad);
    assert.equal(search("FROM x (SEEN"), "Expected a space or )");
    assert.equal(search("BOGUS"), "Unknown search key BOGUS");
  });
});

Deno.test("imap search parse: RETURN, CHARSET, UID", async (t) => {
  await t.step("ESEARCH return options (RFC 4731)", () => {
    assert.deepEqual((search("RETURN (MIN MAX COUNT) ALL") as Search).returns, [
      "MIN",
      "MAX",
      "COUNT",
    ]);
    assert.deepEqual((search("RETURN () ALL") as Search).returns, ["ALL"]);
    assert.deepEqual((search("return (save all) ALL") as Search).returns, ["SAVE", "ALL"]);
    assert.equal((search("ALL") as Search).returns, undefined);
    assert.match(search("RETURN (FOO) ALL") as string, /Unknown SEARCH return option/);
    fails("RETURN ALL");
    fails("RETURN (MIN)");
  });
  await t.step("charsets", () => {
    const s = search("CHARSET utf-8 ALL") as Search;
    assert.equal(s.charset, "utf-8");
    assert.equal((search("ALL") as Search).charset, undefined);
    // Another charset parses (the session refuses it with [BADCHARSET]).
    const latin = search("CHARSET ISO-8859-1 SUBJECT {2}\n", ["\u00e9"]) as Search;
    assert.equal(latin.charset, "ISO-8859-1");
    assert.equal(
      (search("RETURN (COUNT) CHARSET US-ASCII SEEN") as Search).returns?.[0],
      "COUNT",
    );
    fails("CHARSET US-ASCII RETURN (COUNT) SEEN");
  });
  await t.step("UID SEARCH and UTF-8 mode", () => {
    const r = parseCommand({ lines: [enc.encode("a UID SEARCH UID 1:*")], literals: [] }, {
      utf8: false,
    });
    assert.ok(!isParseFailure(r) && r.name === "SEARCH" && r.uid);
    assert.deepEqual((search('SUBJECT "Grüße"', [], true) as Search).program, {
      op: "header",
      field: "SUBJECT",
      value: "Grüße",
    });
    assert.equal(search('SUBJECT "Grüße"'), "8-bit character in quoted string");
    const invalid = parseCommand({
      lines: [enc.encode("a SEARCH SUBJECT {1}"), new Uint8Array()],
      literals: [new Uint8Array([0xff])],
    }, { utf8: false });
    assert.deepEqual(invalid, { tag: "a", message: "Invalid UTF-8 in string" });
  });
});

/** A message for the matcher; overrides what a case needs. */
function target(over: Partial<SearchTarget> & { headers?: Record<string, string[]> } = {}) {
  const headers = over.headers ?? {
    FROM: ['"Alice Example" <alice@example.org>'],
    TO: ["bob@example.net"],
    SUBJECT: ["Grüße aus Köln"],
  };
  const msg: SearchTarget = {
    seq: 3,
    uid: 30,
    flags: ["\\Seen", "$Work"],
    recent: false,
    internalDate: Date.UTC(2024, 1, 10, 23, 30),
    size: 2048,
    modSeq: 100,
    header: (name) => headers[name.toUpperCase()] ?? [],
    sentDate: Date.UTC(2024, 1, 9),
    headerText: () => "From: Alice\r\nSubject: Grüße aus Köln",
    bodyText: () => "The quick brown FOX jumps.\nCafe\u0301 ok",
    largestSeq: 5,
    largestUid: 50,
    ...over,
  };
  return msg;
}

const m = (args: string, msg = target(), now?: number) => matchSearch(program(args), msg, now);

Deno.test("imap search match: every key", async (t) => {
  await t.step("flags, keywords, recent", () => {
    assert.equal(m("SEEN"), true);
    assert.equal(m("UNSEEN"), false);
    assert.equal(m("ANSWERED"), false);
    assert.equal(m("UNANSWERED"), true);
    assert.equal(m("DELETED"), false);
    assert.equal(m("UNDELETED"), true);
    assert.equal(m("DRAFT"), false);
    assert.equal(m("UNDRAFT"), true);
    assert.equal(m("FLAGGED"), false);
    assert.equal(m("UNFLAGGED"), true);
    assert.equal(m("KEYWORD $work"), true);
    assert.equal(m("KEYWORD $Junk"), false);
    assert.equal(m("UNKEYWORD $Junk"), true);
    assert.equal(m("RECENT"), false);
    assert.equal(m("OLD"), true);
    assert.equal(m("NEW"), false);
    assert.equal(m("NEW", target({ recent: true, flags: [] })), true);
    assert.equal(m("NEW", target({ recent: true })), false);
    assert.equal(m("ALL"), true);
  });
  await t.step("sequence numbers and UIDs, with *", () => {
    assert.equal(m("3"), true);
    assert.equal(m("1:2,4:*"), false);
    assert.equal(m("*", target({ seq: 5 })), true);
    assert.equal(m("UID 30"), true);
    assert.equal(m("UID 31:*"), false);
    assert.equal(m("UID *:10"), true);
    assert.equal(m("UID 60:*", target({ uid: 50 })), true);
  });
  await t.step("headers: substring, case-insensitive, Unicode", () => {
    assert.equal(m("FROM alice"), true);
    assert.equal(m("FROM ALICE@EXAMPLE"), true);
    assert.equal(m("FROM bob"), false);
    assert.equal(m("TO bob"), true);
    assert.equal(m("CC bob"), false);
    assert.equal(m("BCC x"), false);
    assert.equal(matchSearch(program("CHARSET UTF-8 SUBJECT {5}\n", ["köln"]), target()), true);
    assert.equal(matchSearch(program("SUBJECT {5}\n", ["kéln"]), target()), false);
    assert.equal(matchSearch({ op: "header", field: "SUBJECT", value: "GRÜSSE" }, target()), false);
    assert.equal(matchSearch({ op: "header", field: "SUBJECT", value: "GRÜß" }, target()), true);
    assert.equal(m('HEADER To ""'), true);
    assert.equal(m('HEADER Cc ""'), false);
    assert.equal(m("HEADER subject AUS"), true);
  });
  await t.step("BODY and TEXT, with NFC", () => {
    assert.equal(m("BODY fox"), true);
    assert.equal(m("BODY alice"), false);
    assert.equal(m("TEXT alice"), true);
    assert.equal(m("TEXT fox"), true);
    assert.equal(m("TEXT zebra"), false);
    assert.equal(matchSearch({ op: "body", value: "café" }, target()), true);
  });
  await t.step("internal dates by UTC day", () => {
    assert.equal(m("ON 10-Feb-2024"), true);
    assert.equal(m("ON 11-Feb-2024"), false);
    assert.equal(m("BEFORE 10-Feb-2024"), false);
    assert.equal(m("BEFORE 11-Feb-2024"), true);
    assert.equal(m("SINCE 10-Feb-2024"), true);
    assert.equal(m("SINCE 11-Feb-2024"), false);
  });
  await t.step("sent dates", () => {
    assert.equal(m("SENTON 9-Feb-2024"), true);
    assert.equal(m("SENTBEFORE 9-Feb-2024"), false);
    assert.equal(m("SENTBEFORE 10-Feb-2024"), true);
    assert.equal(m("SENTSINCE 9-Feb-2024"), true);
    assert.equal(m("SENTSINCE 10-Feb-2024"), false);
    assert.equal(m("SENTSINCE 1-Jan-1970", target({ sentDate: undefined })), false);
    assert.equal(m("NOT SENTON 9-Feb-2024", target({ sentDate: undefined })), true);
  });
  await t.step("sizes and MODSEQ", () => {
    assert.equal(m("LARGER 2047"), true);
    assert.equal(m("LARGER 2048"), false);
    assert.equal(m("SMALLER 2049"), true);
    assert.equal(m("SMALLER 2048"), false);
    assert.equal(m("MODSEQ 100"), true);
    assert.equal(m("MODSEQ 101"), false);
    assert.equal(m('MODSEQ "/flags/\\\\seen" priv 0'), true);
  });
  await t.step("YOUNGER and OLDER (RFC 5032)", () => {
    const now = Date.UTC(2024, 1, 10, 23, 40);
    assert.equal(m("YOUNGER 600", target(), now), true);
    assert.equal(m("YOUNGER 599", target(), now), false);
    assert.equal(m("OLDER 599", target(), now), true);
    assert.equal(m("OLDER 600", target(), now), false);
  });
  await t.step("NOT, OR, AND", () => {
    assert.equal(m("NOT SEEN"), false);
    assert.equal(m("OR FLAGGED SEEN"), true);
    assert.equal(m("OR FLAGGED DRAFT"), false);
    assert.equal(m("SEEN FROM alice 3"), true);
    assert.equal(m("SEEN FROM alice 4"), false);
    assert.equal(m("(OR 1 2) SEEN"), false);
  });
});

Deno.test("imap search match: searchNeeds and lazy loading", async (t) => {
  await t.step("needs", () => {
    assert.deepEqual(searchNeeds(program("SEEN 1:3 UID 4 LARGER 5")), {
      header: false,
      text: false,
    });
    assert.deepEqual(searchNeeds(program("OR SEEN NOT FROM x")), { header: true, text: false });
    assert.deepEqual(searchNeeds(program("SENTON 1-Jan-2024")), { header: true, text: false });
    assert.deepEqual(searchNeeds(program("ON 1-Jan-2024")), { header: false, text: false });
    assert.deepEqual(searchNeeds(program("(SEEN (BODY x))")), { header: false, text: true });
    assert.deepEqual(searchNeeds(program("TEXT x SUBJECT y")), { header: true, text: true });
  });
  await t.step("text is not asked for when not needed", () => {
    const msg = target({
      headerText: () => {
        throw new Error("asked");
      },
      bodyText: () => {
        throw new Error("asked");
      },
    });
    assert.equal(m("SEEN FROM alice", msg), true);
  });
});

Deno.test("imap search match: sentDay", () => {
  assert.equal(sentDay("Tue, 1 Jul 2003 10:52:37 +0200"), Date.UTC(2003, 6, 1));
  assert.equal(sentDay("1 Jul 2003 23:52:37 -0800"), Date.UTC(2003, 6, 1));
  assert.equal(sentDay("Wed, 31 Dec 99 23:00 GMT"), Date.UTC(1999, 11, 31));
  assert.equal(sentDay("Wed, 01 Jan 03 00:00 GMT"), Date.UTC(2003, 0, 1));
  assert.equal(sentDay("Mon, 31 Feb 2024 10:00 +0000"), undefined);
  assert.equal(sentDay("yesterday"), undefined);
  assert.equal(sentDay(""), undefined);
});

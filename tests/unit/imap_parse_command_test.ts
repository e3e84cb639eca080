/** The IMAP command parser: every command, literals and framing, and malformed input. */
import assert from "node:assert/strict";
import type { ImapCommand, ParseFailure } from "../../src/imap/parse/command.ts";
import { isParseFailure, STAR } from "../../src/imap/parse/command.ts";
import { literalAtEnd, parseCommand } from "../../src/imap/parse/parse_command.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Frames wire text as the session does: lines, and after a literal marker its octets. */
function frame(wire: string | Uint8Array): { lines: Uint8Array[]; literals: Uint8Array[] } {
  const bytes = typeof wire === "string" ? enc.encode(wire) : wire;
  const lines: Uint8Array[] = [];
  const literals: Uint8Array[] = [];
  let pos = 0;
  for (;;) {
    let eol = pos;
    while (eol < bytes.length && !(bytes[eol] === 0x0d && bytes[eol + 1] === 0x0a)) eol++;
    const line = bytes.subarray(pos, eol);
    lines.push(line);
    const marker = literalAtEnd(line);
    if (marker === undefined || marker === "bad") return { lines, literals };
    const start = eol + 2;
    literals.push(bytes.subarray(start, start + marker.size));
    pos = start + marker.size;
  }
}

const parse = (wire: string | Uint8Array, utf8 = false) => parseCommand(frame(wire), { utf8 });

function ok(wire: string | Uint8Array, utf8 = false): ImapCommand {
  const r = parse(wire, utf8);
  if (isParseFailure(r)) throw new Error(`${JSON.stringify(wire)} failed: ${r.message}`);
  return r;
}

function bad(wire: string | Uint8Array, utf8 = false): ParseFailure {
  const r = parse(wire, utf8);
  assert.ok(isParseFailure(r), `${JSON.stringify(wire)} should fail, got ${JSON.stringify(r)}`);
  return r;
}

Deno.test("imap parse: literalAtEnd", async (t) => {
  const at = (s: string) => literalAtEnd(enc.encode(s));
  await t.step("markers", () => {
    assert.deepEqual(at("a LOGIN {5}"), { size: 5, sync: true, binary: false });
    assert.deepEqual(at("a LOGIN {5+}"), { size: 5, sync: false, binary: false });
    assert.deepEqual(at("a APPEND x ~{12}"), { size: 12, sync: true, binary: true });
    assert.deepEqual(at("a APPEND x ~{0+}"), { size: 0, sync: false, binary: true });
    assert.deepEqual(at("{7}"), { size: 7, sync: true, binary: false });
  });
  await t.step("no marker", () => {
    assert.equal(at("a NOOP"), undefined);
    assert.equal(at(""), undefined);
    assert.equal(at("a CREATE foo}"), undefined);
    assert.equal(at("a CREATE {x}"), undefined);
  });
  await t.step("malformed markers and huge sizes", () => {
    assert.equal(at("a LOGIN {}"), "bad");
    assert.equal(at("a LOGIN {+}"), "bad");
    assert.equal(at("a LOGIN {1+2}"), "bad");
    assert.equal(at("a LOGIN {5++}"), "bad");
    assert.equal(at("a LOGIN {9007199254740992}"), "bad");
    assert.equal(at("a LOGIN {99999999999999999999}"), "bad");
    assert.deepEqual(at("a LOGIN {9007199254740991}"), {
      size: 9007199254740991,
      sync: true,
      binary: false,
    });
  });
});

Deno.test("imap parse: tags and command names", async (t) => {
  await t.step("tags of any ASTRING-CHAR but +", () => {
    assert.equal(ok("A001 NOOP").tag, "A001");
    assert.equal(ok("a.b]c NOOP").tag, "a.b]c");
    assert.deepEqual(bad("a+b NOOP"), { message: "Invalid tag" });
    assert.deepEqual(bad("* NOOP"), { message: "Missing or invalid tag" });
    assert.deepEqual(bad(""), { message: "Missing or invalid tag" });
    assert.deepEqual(bad("abc"), { message: "Missing command" });
    assert.deepEqual(bad(" NOOP"), { message: "Missing or invalid tag" });
  });
  await t.step("names in any case; unknown names", () => {
    assert.equal(ok("a noop").name, "NOOP");
    assert.equal(ok("a NoOp").name, "NOOP");
    assert.deepEqual(bad("a FROB"), { tag: "a", message: "Unknown command" });
    assert.deepEqual(bad("a toString"), { tag: "a", message: "Unknown command" });
    assert.deepEqual(bad("a "), { tag: "a", message: "Expected a command name" });
    assert.equal(bad("a UID NOOP").tag, "a");
    assert.equal(bad("a UID").tag, "a");
  });
  await t.step("commands without arguments refuse any", () => {
    for (const name of ["CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "CHECK", "CLOSE", "UNSELECT"]) {
      assert.deepEqual(ok(`t ${name}`), { tag: "t", name });
      assert.equal(bad(`t ${name} x`).message, "Unexpected text after the command");
      assert.equal(bad(`t ${name} `).message, "Unexpected text after the command");
    }
    for (const name of ["IDLE", "NAMESPACE"]) assert.deepEqual(ok(`t ${name}`), { tag: "t", name });
    assert.deepEqual(ok("t EXPUNGE"), { tag: "t", name: "EXPUNGE", uid: false });
    assert.equal(parse("t EXPUNGE 1").tag, "t");
  });
});

Deno.test("imap parse: LOGIN and AUTHENTICATE", async (t) => {
  await t.step("atoms, quoted strings and literals", () => {
    assert.deepEqual(ok("a LOGIN alice secret"), {
      tag: "a",
      name: "LOGIN",
      user: "alice",
      password: "secret",
    });
    assert.deepEqual(ok('a LOGIN "al ice" "p\\"w\\\\d"'), {
      tag: "a",
      name: "LOGIN",
      user: "al ice",
      password: 'p"w\\d',
    });
    assert.deepEqual(ok("a LOGIN {5}\r\nalice {6+}\r\nse cr}"), {
      tag: "a",
      name: "LOGIN",
      user: "alice",
      password: "se cr}",
    });
    assert.deepEqual(ok("a LOGIN {0}\r\n {0}\r\n"), {
      tag: "a",
      name: "LOGIN",
      user: "",
      password: "",
    });
  });
  await t.step("a UTF-8 password, quoted or as a literal", () => {
    assert.equal((ok('a LOGIN bob "Grüße"') as { password: string }).password, "Grüße");
    assert.equal((ok("a LOGIN bob {7}\r\nGrüße") as { password: string }).password, "Grüße");
  });
  await t.step("malformed", () => {
    assert.equal(bad("a LOGIN alice").message, "Expected a space");
    assert.equal(bad("a LOGIN").message, "Expected a space");
    assert.equal(bad("a LOGIN alice  pw").message, "Expected a string or atom");
    assert.equal(bad('a LOGIN alice "pw').message, "Unterminated quoted string");
    assert.equal(bad('a LOGIN alice "p\\w"').message, "Invalid escape in quoted string");
    assert.equal(bad("a LOGIN alice pw extra").message, "Unexpected text after the command");
    assert.equal(
      bad("a LOGIN alice {3}\r\npwd extra").message,
      "Unexpected text after the command",
    );
    assert.equal(bad("a LOGIN alice ~{3}\r\npwd").message, "A literal8 is not allowed here");
    assert.equal(bad("a LOGIN alice {3}\r\np\0d").message, "NUL in a literal (use literal8)");
    assert.equal(
      bad(new Uint8Array([0x61, 0x20, ...enc.encode("LOGIN a {2}\r\n"), 0xff, 0xfe]))
        .message,
      "Invalid UTF-8 in string",
    );
  });
  await t.step("framing that does not match the markers", () => {
    const r = parseCommand(
      { lines: [enc.encode("a LOGIN {3}"), enc.encode("")], literals: [enc.encode("toolong")] },
      { utf8: false },
    );
    assert.deepEqual(r, { tag: "a", message: "Literal size mismatch" });
    const r2 = parseCommand({ lines: [enc.encode("a LOGIN {3}")], literals: [enc.encode("abc")] }, {
      utf8: false,
    });
    assert.deepEqual(r2, { message: "Malformed command framing" });
    const r3 = parseCommand(
      { lines: [enc.encode('a LOGIN "{3}'), enc.encode('"')], literals: [enc.encode("abc")] },
      { utf8: false },
    );
    assert.ok(isParseFailure(r3));
  });
  await t.step("AUTHENTICATE with and without an initial response", () => {
    assert.deepEqual(ok("a authenticate plain"), {
      tag: "a",
      name: "AUTHENTICATE",
      mechanism: "PLAIN",
    });
    assert.deepEqual(ok("a AUTHENTICATE PLAIN AGFsaWNlAHB3"), {
      tag: "a",
      name: "AUTHENTICATE",
      mechanism: "PLAIN",
      initialResponse: "AGFsaWNlAHB3",
    });
    assert.deepEqual(ok("a AUTHENTICATE PLAIN ="), {
      tag: "a",
      name: "AUTHENTICATE",
      mechanism: "PLAIN",
      initialResponse: "",
    });
    assert.equal(bad("a AUTHENTICATE PLAIN a$b").message, "The initial response is not base64");
    assert.equal(bad("a AUTHENTICATE").message, "Expected a space");
    assert.equal(bad("a AUTHENTICATE PLAIN x y").message, "Unexpected text after the command");
  });
});

Deno.test("imap parse: mailbox names", async (t) => {
  const box = (wire: string, utf8 = false) => (ok(wire, utf8) as { mailbox: string }).mailbox;
  await t.step("INBOX in any case", () => {
    assert.equal(box("a SELECT inbox"), "INBOX");
    assert.equal(box('a SELECT "InBoX"'), "INBOX");
    assert.equal(box("a SELECT {5}\r\niNbOx"), "INBOX");
    assert.equal(box("a SELECT INBOX.sub"), "INBOX.sub");
    assert.equal(box("a DELETE inboxes"), "inboxes");
  });
  await t.step("modified UTF-7 decoded outside UTF-8 mode", () => {
    assert.equal(box("a SELECT &-"), "&");
    assert.equal(box("a SELECT Caf&AOk-"), "Café");
    assert.equal(box('a SELECT "Tom &- Jerry"'), "Tom & Jerry");
    assert.equal(box("a SELECT Caf&AOk-", true), "Caf&AOk-");
    assert.equal(box('a SELECT "Café"', true), "Café");
  });
  await t.step("malformed names", () => {
    // Not valid modified UTF-7: marked, so they name no mailbox (NO, not BAD).
    assert.equal(box("a SELECT Caf&AOk"), "\u0000Caf&AOk");
    assert.equal(box("a SELECT &AGE-"), "\u0000&AGE-");
    assert.equal(box("a SELECT {5}\r\nCafé"), "\u0000Café");
    assert.equal(bad('a SELECT "Café"').message, "8-bit character in quoted string");
    assert.equal(bad("a SELECT foo(").message, "Unexpected text after the command");
    assert.equal(bad("a SELECT foo*").message, "Unexpected text after the command");
    assert.equal(bad("a SELECT").message, "Expected a space");
  });
  await t.step("a ] is an astring char", () => {
    assert.equal(box("a SELECT a]b"), "a]b");
  });
});

Deno.test("imap parse: SELECT and EXAMINE parameters", async (t) => {
  await t.step("plain, CONDSTORE", () => {
    assert.deepEqual(ok("a EXAMINE x"), {
      tag: "a",
      name: "EXAMINE",
      mailbox: "x",
      condstore: false,
    });
    assert.deepEqual(ok("a SELECT x (condstore)"), {
      tag: "a",
      name: "SELECT",
      mailbox: "x",
      condstore: true,
    });
  });
  await t.step("QRESYNC in its forms (RFC 7162 §3.2.5)", () => {
    assert.deepEqual(ok("a SELECT x (QRESYNC (67890007 90060115))"), {
      tag: "a",
      name: "SELECT",
      mailbox: "x",
      condstore: false,
      qresync: { uidValidity: 67890007, modSeq: 90060115 },
    });
    const q = ok("a SELECT x (QRESYNC (1 2 41,43:211,214:541) CONDSTORE)") as {
      qresync: unknown;
      condstore: boolean;
    };
    assert.deepEqual(q.qresync, {
      uidValidity: 1,
      modSeq: 2,
      knownUids: { ranges: [[41, 41], [43, 211], [214, 541]] },
    });
    assert.equal(q.condstore, true);
    assert.deepEqual(
      (ok("a SELECT x (QRESYNC (1 2 1:9 (1:3 4:6)))") as { qresync: unknown }).qresync,
      {
        uidValidity: 1,
        modSeq: 2,
        knownUids: { ranges: [[1, 9]] },
        seqMatch: { seqs: { ranges: [[1, 3]] }, uids: { ranges: [[4, 6]] } },
      },
    );
    assert.deepEqual((ok("a SELECT x (QRESYNC (1 2 (1 4)))") as { qresync: unknown }).qresync, {
      uidValidity: 1,
      modSeq: 2,
      seqMatch: { seqs: { ranges: [[1, 1]] }, uids: { ranges: [[4, 4]] } },
    });
  });
  await t.step("malformed parameters", () => {
    assert.match(bad("a SELECT x (FOO)").message, /Unknown select parameter/);
    assert.equal(bad("a SELECT x (CONDSTORE").message, "Expected a space or )");
    assert.ok(isParseFailure(parse("a SELECT x (QRESYNC (0 2))")));
    assert.ok(isParseFailure(parse("a SELECT x (QRESYNC (1))")));
    assert.ok(isParseFailure(parse("a SELECT x (QRESYNC (1 2 3 4))")));
    assert.ok(isParseFailure(parse("a SELECT x (QRESYNC (1 2 (1:3)))")));
    assert.ok(isParseFailure(parse("a SELECT x (QRESYNC (4294967296 2))")));
  });
});

Deno.test("imap parse: CREATE, DELETE, RENAME, SUBSCRIBE, STATUS", async (t) => {
  await t.step("CREATE with special use (RFC 6154)", () => {
    assert.deepEqual(ok("a CREATE Sent"), { tag: "a", name: "CREATE", mailbox: "Sent" });
    assert.deepEqual(ok("a CREATE Sent (USE (\\sent \\ARCHIVE))"), {
      tag: "a",
      name: "CREATE",
      mailbox: "Sent",
      specialUse: ["\\Sent", "\\Archive"],
    });
    assert.ok(isParseFailure(parse("a CREATE Sent (USE ())")));
    assert.ok(isParseFailure(parse("a CREATE Sent (FOO (\\Sent))")));
    assert.ok(isParseFailure(parse("a CREATE Sent (USE (Sent))")));
  });
  await t.step("DELETE, SUBSCRIBE, UNSUBSCRIBE, RENAME", () => {
    assert.deepEqual(ok("a DELETE x"), { tag: "a", name: "DELETE", mailbox: "x" });
    assert.deepEqual(ok("a SUBSCRIBE x"), { tag: "a", name: "SUBSCRIBE", mailbox: "x" });
    assert.deepEqual(ok("a UNSUBSCRIBE x"), { tag: "a", name: "UNSUBSCRIBE", mailbox: "x" });
    assert.deepEqual(ok('a RENAME "a b" {1}\r\nc'), {
      tag: "a",
      name: "RENAME",
      from: "a b",
      to: "c",
    });
    assert.ok(isParseFailure(parse("a RENAME x")));
    assert.ok(isParseFailure(parse("a DELETE x y")));
  });
  await t.step("STATUS items", () => {
    assert.deepEqual(ok("a STATUS INBOX (messages uidnext UIDVALIDITY UNSEEN RECENT)"), {
      tag: "a",
      name: "STATUS",
      mailbox: "INBOX",
      items: ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "RECENT"],
    });
    assert.deepEqual(
      (ok("a STATUS x (HIGHESTMODSEQ SIZE DELETED APPENDLIMIT)") as { items: string[] }).items,
      ["HIGHESTMODSEQ", "SIZE", "DELETED", "APPENDLIMIT"],
    );
    assert.match(bad("a STATUS x (MESSAGES FOO)").message, /Unknown status item FOO/);
    assert.ok(isParseFailure(parse("a STATUS x ()")));
    assert.ok(isParseFailure(parse("a STATUS x MESSAGES")));
    assert.ok(isParseFailure(parse("a STATUS x (MESSAGES")));
  });
});

Deno.test("imap parse: LIST and LSUB", async (t) => {
  await t.step("basic LIST", () => {
    assert.deepEqual(ok('a LIST "" *'), {
      tag: "a",
      name: "LIST",
      reference: "",
      patterns: ["*"],
      selection: [],
      returns: { subscribed: false, children: false, specialUse: false },
      extended: false,
    });
    const l = ok("a LIST Archive/ %/&AOk-]*") as { reference: string; patterns: string[] };
    assert.equal(l.reference, "Archive/");
    assert.deepEqual(l.patterns, ["%/é]*"]);
  });
  await t.step("extended LIST (RFC 5258, 5819, 6154)", () => {
    const l = ok(
      'a LIST (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" %) RETURN (CHILDREN SUBSCRIBED SPECIAL-USE STATUS (MESSAGES UNSEEN))',
    );
    assert.deepEqual(l, {
      tag: "a",
      name: "LIST",
      reference: "",
      patterns: ["INBOX", "%"],
      selection: ["SUBSCRIBED", "RECURSIVEMATCH"],
      returns: {
        subscribed: true,
        children: true,
        specialUse: true,
        status: ["MESSAGES", "UNSEEN"],
      },
      extended: true,
    });
    assert.equal((ok('a LIST () "" %') as { extended: boolean }).extended, true);
    assert.equal((ok('a LIST "" % RETURN ()') as { extended: boolean }).extended, true);
    assert.deepEqual((ok('a LIST (special-use) "" *') as { selection: string[] }).selection, [
      "SPECIAL-USE",
    ]);
  });
  await t.step("malformed LIST", () => {
    assert.match(bad('a LIST (FOO) "" *').message, /selection option/);
    assert.match(bad('a LIST (RECURSIVEMATCH) "" *').message, /RECURSIVEMATCH/);
    assert.match(bad('a LIST "" * RETURN (FOO)').message, /return option/);
    assert.ok(isParseFailure(parse('a LIST "" * FOO (CHILDREN)')));
    assert.ok(isParseFailure(parse('a LIST "" ()')));
    assert.ok(isParseFailure(parse('a LIST ""')));
    assert.ok(isParseFailure(parse('a LIST "" % RETURN (STATUS (FOO))')));
  });
  await t.step("LSUB", () => {
    assert.deepEqual(ok('a LSUB "" *'), { tag: "a", name: "LSUB", reference: "", pattern: "*" });
    assert.ok(isParseFailure(parse('a LSUB "" (* %)')));
  });
});

type Append = Extract<ImapCommand, { name: "APPEND" }>;

Deno.test("imap parse: APPEND", async (t) => {
  await t.step("message literals: sync, non-sync, binary, empty", () => {
    const a = ok("a APPEND INBOX {12}\r\nHello\r\nWorld") as Append;
    assert.equal(a.mailbox, "INBOX");
    assert.equal(a.messages.length, 1);
    assert.equal(dec.decode(a.messages[0].message), "Hello\r\nWorld");
    assert.equal(a.messages[0].binary, false);
    assert.equal(a.messages[0].flags, undefined);
    assert.equal(a.messages[0].date, undefined);
    const b = ok("a APPEND x ~{3+}\r\na\0b") as Append;
    assert.deepEqual([...b.messages[0].message], [0x61, 0, 0x62]);
    assert.equal(b.messages[0].binary, true);
    assert.equal((ok("a APPEND x {0}\r\n") as Append).messages[0].message.length, 0);
  });
  await t.step("flags and date-time", () => {
    const a = ok(
      'a APPEND x (\\seen \\DRAFT $Label) "05-Jan-2021 13:14:15 -0230" {1}\r\nx',
    ) as Append;
    assert.deepEqual(a.messages[0].flags, ["\\Seen", "\\Draft", "$Label"]);
    assert.equal(a.messages[0].date, Date.UTC(2021, 0, 5, 15, 44, 15));
    const b = ok('a APPEND x " 5-Jan-2021 13:14:15 +0100" {1}\r\nx') as Append;
    assert.equal(b.messages[0].date, Date.UTC(2021, 0, 5, 12, 14, 15));
    assert.deepEqual((ok("a APPEND x () {1}\r\nx") as Append).messages[0].flags, []);
  });
  await t.step("MULTIAPPEND: several messages, each with its own flags and date", () => {
    const a = ok("a APPEND x {1}\r\nx {1}\r\ny") as Append;
    assert.deepEqual(a.messages.map((m) => dec.decode(m.message)), ["x", "y"]);
    const b = ok(
      'a APPEND x (\\Seen) {1+}\r\na "05-Jan-2021 13:14:15 +0000" ~{1}\r\nb (\\Flagged) {1}\r\nc',
    ) as Append;
    assert.equal(b.messages.length, 3);
    assert.deepEqual(b.messages[0].flags, ["\\Seen"]);
    assert.equal(b.messages[0].date, undefined);
    assert.equal(b.messages[1].flags, undefined);
    assert.equal(b.messages[1].date, Date.UTC(2021, 0, 5, 13, 14, 15));
    assert.equal(b.messages[1].binary, true);
    assert.deepEqual(b.messages[2].flags, ["\\Flagged"]);
    assert.equal(dec.decode(b.messages[2].message), "c");
  });
  await t.step("malformed APPEND", () => {
    assert.equal(bad('a APPEND x "hello"').message, "APPEND needs the message as a literal");
    assert.equal(bad("a APPEND x hello").message, "APPEND needs the message as a literal");
    assert.equal(bad("a APPEND x (\\Recent) {1}\r\nx").message, "\\Recent cannot be set");
    assert.match(bad("a APPEND x (\\Foo) {1}\r\nx").message, /Unknown system flag/);
    assert.equal(
      bad('a APPEND x "31-Feb-2021 13:14:15 +0100" {1}\r\nx').message,
      "Invalid date-time",
    );
    assert.equal(
      bad('a APPEND x "1-Jan-2021 25:14:15 +0100" {1}\r\nx').message,
      "Invalid date-time",
    );
    assert.equal(bad('a APPEND x "1-Jan-2021 13:14:15" {1}\r\nx').message, "Invalid date-time");
    assert.ok(isParseFailure(parse("a APPEND x {1}\r\nx y")));
    assert.ok(isParseFailure(parse("a APPEND x")));
    // MULTIAPPEND: a trailing space, a second group without its literal, or two spaces.
    assert.ok(isParseFailure(parse("a APPEND x {1}\r\nx ")));
    assert.ok(isParseFailure(parse("a APPEND x {1}\r\nx (\\Seen)")));
    assert.ok(isParseFailure(parse("a APPEND x {1}\r\nx  {1}\r\ny")));
    assert.ok(isParseFailure(parse("a APPEND x {1}\r\nx (\\Recent) {1}\r\ny")));
  });
});

Deno.test("imap parse: STORE", async (t) => {
  const store = (w: string) => ok(w) as Extract<ImapCommand, { name: "STORE" }>;
  await t.step("modes, silence, flag lists", () => {
    assert.deepEqual(store("a STORE 1:3 +FLAGS (\\Deleted)"), {
      tag: "a",
      name: "STORE",
      uid: false,
      set: { ranges: [[1, 3]] },
      mode: "add",
      silent: false,
      flags: ["\\Deleted"],
    });
    const s = store("a UID STORE 5 -flags.silent \\seen $Junk");
    assert.equal(s.uid, true);
    assert.equal(s.mode, "remove");
    assert.equal(s.silent, true);
    assert.deepEqual(s.flags, ["\\Seen", "$Junk"]);
    assert.equal(store("a STORE * FLAGS ()").mode, "replace");
    assert.deepEqual(store("a STORE * FLAGS ()").flags, []);
    assert.deepEqual(store("a STORE * FLAGS ()").set, { ranges: [[STAR, STAR]] });
  });
  await t.step("UNCHANGEDSINCE (RFC 7162)", () => {
    assert.equal(store("a STORE 1 (UNCHANGEDSINCE 12345) FLAGS (x)").unchangedSince, 12345);
    assert.match(bad("a STORE 1 (FOO 1) FLAGS (x)").message, /Unknown STORE modifier/);
  });
  await t.step("malformed STORE", () => {
    assert.equal(bad("a STORE 1 +FLAGS (\\Recent)").message, "\\Recent cannot be set");
    assert.equal(bad("a STORE 1 FLAGZ (x)").message, "Expected FLAGS or FLAGS.SILENT");
    assert.ok(isParseFailure(parse("a STORE 1 FLAGS")));
    assert.ok(isParseFailure(parse("a STORE 1 FLAGS (x")));
    assert.ok(isParseFailure(parse("a STORE 1 FLAGS (x) y")));
    assert.ok(isParseFailure(parse("a STORE 1 FLAGS (x%)")));
    assert.ok(isParseFailure(parse("a STORE 0 FLAGS (x)")));
  });
});

Deno.test("imap parse: COPY, MOVE, UID EXPUNGE and sequence sets", async (t) => {
  await t.step("commands", () => {
    assert.deepEqual(ok("a COPY 1:2,5 Trash"), {
      tag: "a",
      name: "COPY",
      uid: false,
      set: { ranges: [[1, 2], [5, 5]] },
      mailbox: "Trash",
    });
    assert.deepEqual(ok("a uid move 4:* inbox"), {
      tag: "a",
      name: "MOVE",
      uid: true,
      set: { ranges: [[4, STAR]] },
      mailbox: "INBOX",
    });
    assert.deepEqual(ok("a UID EXPUNGE 3,7:9"), {
      tag: "a",
      name: "EXPUNGE",
      uid: true,
      set: { ranges: [[3, 3], [7, 9]] },
    });
    assert.ok(isParseFailure(parse("a UID EXPUNGE")));
    assert.ok(isParseFailure(parse("a COPY 1")));
  });
  await t.step("set syntax", () => {
    const set = (s: string) => (ok(`a COPY ${s} x`) as { set: unknown }).set;
    assert.deepEqual(set("*:*"), { ranges: [[STAR, STAR]] });
    assert.deepEqual(set("9:2"), { ranges: [[9, 2]] });
    assert.deepEqual(set("4294967295"), { ranges: [[4294967295, 4294967295]] });
    for (
      const s of [
        "0",
        "1:0",
        "1:",
        ":1",
        "1,,2",
        ",1",
        "1,",
        "4294967296",
        "99999999999999999999",
        "1::2",
      ]
    ) {
      assert.ok(isParseFailure(parse(`a COPY ${s} x`)), s);
    }
    assert.equal(bad("a COPY 0 x").message, "Zero is not a valid message number");
    assert.equal(bad("a COPY 4294967296 x").message, "Message number beyond 2^32-1");
    assert.equal(bad("a COPY $ x").message, "SEARCHRES ($) is not supported");
    assert.equal(bad("a COPY x x").message, "Expected a sequence set");
  });
});

Deno.test("imap parse: ENABLE, ID, quota, COMPRESS", async (t) => {
  await t.step("ENABLE", () => {
    assert.deepEqual(ok("a ENABLE condstore utf8=accept"), {
      tag: "a",
      name: "ENABLE",
      capabilities: ["CONDSTORE", "UTF8=ACCEPT"],
    });
    assert.ok(isParseFailure(parse("a ENABLE")));
    assert.ok(isParseFailure(parse("a ENABLE ")));
    assert.ok(isParseFailure(parse("a ENABLE X  Y")));
  });
  await t.step("ID", () => {
    assert.deepEqual(ok("a ID NIL"), { tag: "a", name: "ID", params: null });
    assert.deepEqual(ok('a ID ("name" "Thunderbird" "version" NIL "os" {5}\r\nLinux)'), {
      tag: "a",
      name: "ID",
      params: { name: "Thunderbird", version: null, os: "Linux" },
    });
    assert.deepEqual(ok("a ID ()"), { tag: "a", name: "ID", params: {} });
    assert.ok(isParseFailure(parse('a ID ("name")')));
    assert.ok(isParseFailure(parse("a ID (name x)")));
    assert.ok(isParseFailure(parse("a ID")));
  });
  await t.step("GETQUOTA, GETQUOTAROOT, SETQUOTA (RFC 9208)", () => {
    assert.deepEqual(ok('a GETQUOTA ""'), { tag: "a", name: "GETQUOTA", root: "" });
    assert.deepEqual(ok("a GETQUOTAROOT inbox"), {
      tag: "a",
      name: "GETQUOTAROOT",
      mailbox: "INBOX",
    });
    assert.deepEqual(ok('a SETQUOTA "" (storage 512 MESSAGE 1000)'), {
      tag: "a",
      name: "SETQUOTA",
      root: "",
      limits: [{ resource: "STORAGE", limit: 512 }, { resource: "MESSAGE", limit: 1000 }],
    });
    assert.deepEqual((ok('a SETQUOTA "" ()') as { limits: unknown[] }).limits, []);
    assert.ok(isParseFailure(parse('a SETQUOTA "" (STORAGE)')));
    assert.ok(isParseFailure(parse('a SETQUOTA "" (STORAGE x)')));
  });
  await t.step("COMPRESS", () => {
    assert.deepEqual(ok("a COMPRESS deflate"), {
      tag: "a",
      name: "COMPRESS",
      mechanism: "DEFLATE",
    });
    assert.ok(isParseFailure(parse("a COMPRESS")));
  });
});

Deno.test("imap parse: quoted strings and UTF-8 mode", async (t) => {
  await t.step("8-bit in quoted strings only in UTF-8 mode", () => {
    assert.equal(bad('a SEARCH SUBJECT "Grüße"').message, "8-bit character in quoted string");
    assert.equal(ok('a SEARCH SUBJECT "Grüße"', true).name, "SEARCH");
    assert.equal(
      bad(new Uint8Array([...enc.encode('a SEARCH SUBJECT "'), 0xff, 0x22]), true).message,
      "Invalid UTF-8 in string",
    );
  });
  await t.step("CR, LF and NUL are never quoted", () => {
    assert.ok(isParseFailure(parse(enc.encode('a LOGIN "a\0b" c'))));
    assert.ok(
      isParseFailure(parse(new Uint8Array([...enc.encode('a LOGIN "a'), 0x0a, 0x22, 0x20, 0x63]))),
    );
  });
});

Deno.test("imap parse: long lines stay linear", async (t) => {
  const timed = (wire: string) => {
    const start = performance.now();
    const r = parse(wire);
    return { r, ms: performance.now() - start };
  };
  await t.step("a 100 KB sequence set", () => {
    const set = Array.from({ length: 20000 }, (_, i) => String(i * 2 + 1)).join(",");
    const { r, ms } = timed(`a FETCH ${set} FLAGS`);
    assert.ok(!isParseFailure(r));
    assert.equal((r as { set: { ranges: unknown[] } }).set.ranges.length, 20000);
    assert.ok(ms < 1000, `${ms} ms`);
  });
  await t.step("a 100 KB search program of ORs, keys and parens", () => {
    const flat = timed(`a SEARCH ${"SEEN ".repeat(20000)}ALL`);
    assert.ok(!isParseFailure(flat.r));
    assert.ok(flat.ms < 1000, `${flat.ms} ms`);
    const deep = timed(`a SEARCH ${"(".repeat(100000)}`);
    assert.deepEqual(deep.r, { tag: "a", message: "Search program nested too deeply" });
    const nots = timed(`a SEARCH ${"NOT ".repeat(25000)}ALL`);
    assert.deepEqual(nots.r, { tag: "a", message: "Search program nested too deeply" });
  });
  await t.step("100 KB quoted strings, atoms and garbage", () => {
    const q = timed(`a LOGIN "${'\\"'.repeat(50000)}" x`);
    assert.equal((q.r as { user: string }).user.length, 50000);
    const atom = timed(`a SELECT ${"x".repeat(100000)}`);
    assert.equal((atom.r as { mailbox: string }).mailbox.length, 100000);
    const junk = timed(`a LIST "" ${"(".repeat(100000)}`);
    assert.ok(isParseFailure(junk.r));
    for (const t of [q, atom, junk]) assert.ok(t.ms < 1000, `${t.ms} ms`);
  });
});

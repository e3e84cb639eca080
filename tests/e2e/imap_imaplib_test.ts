/**
 * Python's imaplib against the real IMAP server, over STARTTLS and over implicit TLS
 * (IMAP4_SSL), the server's certificate verified both ways. Hard messages go in with smtplib;
 * what comes back must be the sent bytes (after the server's trace headers): whole messages,
 * parts, MIME headers, header fields and partial fetches. BODYSTRUCTURE and ENVELOPE are
 * parsed and checked for shape; SEARCH runs on decrypted, decoded content; flags, COPY, MOVE,
 * EXPUNGE, STATUS, LIST special-use, non-ASCII folder names (modified UTF-7) and APPEND are
 * checked through their effects, not only their OK.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runProgram, type TestServer } from "../helpers/test_server.ts";
import { withoutTrace } from "../helpers/read_mail.ts";
import { startServer } from "../helpers/pop3_client.ts";

const IMAPLIB = new URL("./imap_imaplib.py", import.meta.url).pathname;
const SMTPLIB = new URL("./smtplib_send.py", import.meta.url).pathname;
const USER = "imaplib@test.example";
const PASSWORD = "imaplib e2e password";
const enc = new TextEncoder();

/** `text` with CRLF line ends, as UTF-8. */
function crlf(text: string): Uint8Array {
  return enc.encode(text.replace(/\r?\n/g, "\r\n"));
}

/** Octets as one-character-per-octet text (how the Python helper carries them in JSON). */
function octetText(bytes: Uint8Array): string {
  // Not TextDecoder("latin1"): that is windows-1252, which maps 0x80-0x9f elsewhere.
  let out = "";
  for (const b of bytes) out += String.fromCharCode(b);
  return out;
}

/** The inverse of `octetText`. */
function octets(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

interface Sample {
  name: string;
  data: Uint8Array;
  options: string[];
}

const BASE64_ATTACHMENT = btoa(
  String.fromCharCode(...Array.from({ length: 300 }, (_, i) => i % 256)),
)
  .replace(/.{76}/g, "$&\n");

/** The messages delivered first, in UID order (UID n is MESSAGES[n - 1]). */
const MESSAGES: Sample[] = [
  {
    name: "plain",
    data: crlf(
      "From: Alice Example <alice@remote.test>\nTo: Imap User <imaplib@test.example>\n" +
        "Subject: Plain ASCII hello\nDate: Mon, 03 Mar 2025 10:00:00 +0000\n" +
        "Message-ID: <m1@remote.test>\n\nHello from the plain message.\n" +
        "The word zebrafish appears only here.\n",
    ),
    options: [],
  },
  {
    name: "latin1",
    data: new Uint8Array([
      ...crlf(
        "From: Bernd <bernd@remote.test>\nSubject: Latin-1 body\nMIME-Version: 1.0\n" +
          "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n",
      ),
      ...octets("Gr\xfc\xdfe aus M\xfcnchen\r\n\xe9t\xe9 \xa0 \xff\r\n"),
    ]),
    options: ["BODY=8BITMIME"],
  },
  {
    name: "rfc2047",
    data: crlf(
      "From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@remote.test>\n" +
        "Subject: =?UTF-8?B?R3LDvMOfZSB2b20gQm9kZW5zZWU=?=\nMIME-Version: 1.0\n" +
        "Content-Type: text/plain; charset=us-ascii\n\nEncoded words only in the header.\n",
    ),
    options: [],
  },
  {
    name: "utf8",
    data: crlf(
      "From: Zoë <zoë@remote.test>\nSubject: Smörgåsbord für alle ✉\nMIME-Version: 1.0\n" +
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
        "Ein Stück Käse, 日本語\n",
    ),
    options: ["SMTPUTF8", "BODY=8BITMIME"],
  },
  {
    name: "alternative",
    data: crlf(
      "From: carol@remote.test\nSubject: Alternative parts\nMIME-Version: 1.0\n" +
        'Content-Type: multipart/alternative; boundary="alt-1"\n\npreamble\n--alt-1\n' +
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n" +
        "\nWir backen K=C3=A4sekuchen heute.\n--alt-1\nContent-Type: text/html; charset=utf-8\n\n" +
        "<p>Wir backen <b>Kuchen</b></p>\n--alt-1--\nepilogue\n",
    ),
    options: [],
  },
  {
    name: "attachment",
    data: crlf(
      "From: dave@remote.test\nSubject: With attachment\nMIME-Version: 1.0\n" +
        'Content-Type: multipart/mixed; boundary="mix-2"\n\n--mix-2\n' +
        "Content-Type: text/plain\n\nSee the attached file.\n--mix-2\n" +
        'Content-Type: application/octet-stream; name="data.bin"\n' +
        'Content-Disposition: attachment; filename="data.bin"\n' +
        "Content-Transfer-Encoding: base64\n\n" + BASE64_ATTACHMENT + "\n--mix-2--\n",
    ),
    options: [],
  },
  {
    name: "forward",
    data: crlf(
      "From: erin@remote.test\nSubject: Forwarded message\nMIME-Version: 1.0\n" +
        'Content-Type: multipart/mixed; boundary="out-3"\n\n--out-3\n' +
        "Content-Type: text/plain\n\nForwarding this.\n--out-3\nContent-Type: message/rfc822\n\n" +
        "From: frank@remote.test\nSubject: Inner forwarded subject\nMIME-Version: 1.0\n" +
        'Content-Type: multipart/alternative; boundary="in-4"\n\n--in-4\n' +
        "Content-Type: text/plain\n\ninner quokka text\n--in-4\nContent-Type: text/html\n\n" +
        "<i>inner</i>\n--in-4--\n\n--out-3--\n",
    ),
    options: [],
  },
  {
    name: "dots",
    data: crlf("From: g@remote.test\nSubject: dots\n\n.\n..\n.leading dot\n...three\n. \nend.\n"),
    options: [],
  },
];

/** A parsed IMAP value: atom or string (as octet text), NIL, or parenthesized list. */
type Value = string | null | Value[];

/** Parses IMAP response data (atoms, quoted strings, literals, lists) into values. */
function parseValues(text: string): Value[] {
  let i = 0;
  const skip = () => {
    while (i < text.length && /[ \r\n]/.test(text[i])) i++;
  };
  const value = (): Value => {
    if (text[i] === "(") {
      i++;
      const list: Value[] = [];
      for (skip(); text[i] !== ")"; skip()) {
        if (i >= text.length) throw new Error(`unbalanced list in ${text}`);
        list.push(value());
      }
      i++;
      return list;
    }
    if (text[i] === '"') {
      let s = "";
      for (i++; text[i] !== '"'; i++) {
        if (text[i] === "\\") i++;
        s += text[i];
      }
      i++;
      return s;
    }
    const literal = /^\{(\d+)\+?\}\r\n/.exec(text.slice(i, i + 30));
    if (literal) {
      i += literal[0].length;
      const s = text.slice(i, i + Number(literal[1]));
      i += s.length;
      return s;
    }
    let atom = "";
    while (i < text.length && !/[ ()\r\n]/.test(text[i])) {
      if (text[i] === "[") {
        const end = text.indexOf("]", i);
        atom += text.slice(i, end + 1);
        i = end + 1;
      } else atom += text[i++];
    }
    if (atom === "") throw new Error(`cannot parse at ${i}: ${text.slice(i, i + 40)}`);
    return atom === "NIL" ? null : atom;
  };
  const out: Value[] = [];
  for (skip(); i < text.length; skip()) out.push(value());
  return out;
}

/** imaplib's response data (lines, and [line, literal] pairs) as the wire text it came from. */
function wire(data: unknown[]): string {
  return data.map((d) => Array.isArray(d) ? `${d[0]}\r\n${d[1]}` : `${d}\r\n`).join("");
}

/** FETCH responses as maps of upper-cased item name to value, in response order. */
function fetched(data: unknown[]): Map<string, Value>[] {
  const values = parseValues(wire(data));
  const out: Map<string, Value>[] = [];
  for (let n = 0; n < values.length; n += 2) {
    const items = values[n + 1];
    assert.ok(Array.isArray(items), `FETCH data: ${wire(data)}`);
    const map = new Map<string, Value>();
    for (let k = 0; k < items.length; k += 2) map.set(String(items[k]).toUpperCase(), items[k + 1]);
    out.push(map);
  }
  return out;
}

/** The one FETCH item `name` of a single-message response. */
function item(data: unknown[], name: string): Value {
  const all = fetched(data);
  assert.equal(all.length, 1, wire(data));
  assert.ok(all[0].has(name), `no ${name} in ${wire(data)}`);
  return all[0].get(name)!;
}

/** FLAGS of a FETCH response, without \Recent (which depends on who looked first). */
function flagsOf(items: Map<string, Value>): Value[] {
  const flags = items.get("FLAGS");
  assert.ok(Array.isArray(flags), "no FLAGS");
  return flags.filter((f) => f !== "\\Recent");
}

/** A BODYSTRUCTURE's shape: "type/subtype", multiparts as "subtype(child,...)". */
function shape(body: Value): string {
  assert.ok(Array.isArray(body));
  if (Array.isArray(body[0])) {
    // RFC 3501 §7.4.2: the parts come first, then the subtype, then extension data.
    const parts = body.slice(0, body.findIndex((v) => !Array.isArray(v)));
    return `${String(body[parts.length]).toLowerCase()}(${parts.map(shape).join(",")})`;
  }
  const type = `${String(body[0])}/${String(body[1])}`.toLowerCase();
  if (type === "message/rfc822") return `${type}[${shape(body[8])}]`;
  return type;
}

interface ImaplibResult {
  welcome: string;
  capabilities_before: string[];
  capabilities_after_tls?: string[];
  capabilities_logged_in: string[];
  starttls?: [string, string[]];
  tls: string;
  login?: [string, string[]];
  login_error?: string;
  results: { typ?: string; data?: unknown[]; error?: string }[];
}

type Command = { m: string; a?: (string | null | { octets: string })[]; literal?: string };

/** Runs `commands` in one imaplib session; each result must be OK unless `allowNo`. */
async function imaplib(
  server: TestServer,
  mode: "starttls" | "ssl",
  commands: Command[],
  password = PASSWORD,
): Promise<ImaplibResult> {
  const port = String(mode === "ssl" ? server.imapsPort : server.imapPort);
  const cert = join(server.dir, "keys", "cert.pem");
  const r = await runProgram(
    "python3",
    [IMAPLIB, mode, port, USER, password, cert],
    JSON.stringify(commands),
  );
  assert.ok(r.code === 0 || r.code === 3, r.stdout + r.stderr);
  return JSON.parse(r.stdout) as ImaplibResult;
}

/** The data of result `n`, which must be OK. */
function okData(result: ImaplibResult, n: number): unknown[] {
  const r = result.results[n];
  assert.equal(r.typ, "OK", JSON.stringify(r));
  return r.data!;
}

Deno.test("imaplib end to end", async (t) => {
  const server = await startServer();
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-imaplib-" });
  const select = (box = "INBOX"): Command => ({ m: "select", a: [box] });
  const uid = (...a: string[]): Command => ({ m: "uid", a });
  try {
    await server.addUser(USER, PASSWORD);

    await t.step("hard messages go in with smtplib", async () => {
      for (const m of MESSAGES) {
        const file = join(dir, `${m.name}.eml`);
        await Deno.writeFile(file, m.data);
        const r = await runProgram("python3", [
          SMTPLIB,
          String(server.smtpPort),
          "starttls",
          "sender@remote.test",
          USER,
          file,
          ...m.options,
        ]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
      }
    });

    await t.step("STARTTLS (verified): UID FETCH BODY.PEEK[] is byte-identical", async () => {
      const r = await imaplib(server, "starttls", [
        select(),
        uid("FETCH", "1:*", "(UID BODY.PEEK[])"),
        uid("FETCH", "1:*", "(FLAGS)"),
      ]);
      assert.match(r.welcome, /^\* OK .*mx\.test\.example/);
      assert.ok(r.capabilities_before.includes("STARTTLS"));
      assert.ok(r.capabilities_before.includes("AUTH=PLAIN"), "plaintext login from loopback");
      assert.deepEqual(r.starttls?.[0], "OK");
      assert.ok(!r.capabilities_after_tls!.includes("STARTTLS"), "no STARTTLS once TLS is up");
      assert.match(r.tls, /^TLSv1\.[23]$/);
      assert.equal(r.login?.[0], "OK");
      assert.ok(r.capabilities_logged_in.includes("MOVE"));
      assert.ok(!r.capabilities_logged_in.includes("AUTH=PLAIN"));
      assert.deepEqual(okData(r, 0), [String(MESSAGES.length)]);
      const bodies = fetched(okData(r, 1));
      assert.equal(bodies.length, MESSAGES.length);
      for (const [i, m] of MESSAGES.entries()) {
        assert.equal(bodies[i].get("UID"), String(i + 1));
        const got = octets(bodies[i].get("BODY[]") as string);
        assert.deepEqual(withoutTrace(got), m.data, `${m.name} differs`);
      }
      for (const f of fetched(okData(r, 2))) {
        assert.deepEqual(flagsOf(f), [], "BODY.PEEK must not set \\Seen");
      }
    });

    await t.step("IMAP4_SSL: BODYSTRUCTURE shapes and nested envelope", async () => {
      const r = await imaplib(server, "ssl", [select(), uid("FETCH", "1:*", "(BODYSTRUCTURE)")]);
      const shapes = fetched(okData(r, 1)).map((f) => shape(f.get("BODYSTRUCTURE")!));
      assert.deepEqual(shapes, [
        "text/plain",
        "text/plain",
        "text/plain",
        "text/plain",
        "alternative(text/plain,text/html)",
        "mixed(text/plain,application/octet-stream)",
        "mixed(text/plain,message/rfc822[alternative(text/plain,text/html)])",
        "text/plain",
      ]);
      const all = fetched(okData(r, 1));
      const latin = all[1].get("BODYSTRUCTURE") as Value[];
      assert.deepEqual((latin[2] as Value[]).map((v) => String(v).toLowerCase()), [
        "charset",
        "iso-8859-1",
      ]);
      assert.equal(String(latin[5]).toUpperCase(), "8BIT");
      const attachment = (all[5].get("BODYSTRUCTURE") as Value[])[1] as Value[];
      assert.equal(String(attachment[5]).toUpperCase(), "BASE64");
      assert.equal(Number(attachment[6]), crlf(BASE64_ATTACHMENT).length);
      const forwarded = (all[6].get("BODYSTRUCTURE") as Value[])[1] as Value[];
      const envelope = forwarded[7] as Value[];
      assert.equal(envelope[1], "Inner forwarded subject");
      assert.deepEqual(envelope[2], [[null, null, "frank", "remote.test"]]);
    });

    await t.step("sections: [1], [2.MIME], HEADER.FIELDS, partial, ENVELOPE", async () => {
      const [alt, att] = [MESSAGES[4].data, MESSAGES[5].data];
      const r = await imaplib(server, "ssl", [
        select(),
        uid("FETCH", "5", "(BODY.PEEK[1])"),
        uid("FETCH", "6", "(BODY.PEEK[2.MIME])"),
        uid("FETCH", "4", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"),
        uid("FETCH", "1", "(BODY.PEEK[]<0.10>)"),
        uid("FETCH", "3", "(ENVELOPE)"),
        uid("FETCH", "7", "(BODY.PEEK[2.1])"),
        uid("FETCH", "6", "(BODY.PEEK[2]<100.20>)"),
        uid("FETCH", "4", "(ENVELOPE)"),
      ]);
      const text = octetText(alt);
      assert.equal(
        item(okData(r, 1), "BODY[1]"),
        text.slice(
          text.indexOf("Wir backen K=C3"),
          text.indexOf("\r\n--alt-1", text.indexOf("Wir")),
        ),
      );
      const attText = octetText(att);
      const mimeStart = attText.indexOf("Content-Type: application");
      assert.equal(
        item(okData(r, 2), "BODY[2.MIME]"),
        attText.slice(mimeStart, attText.indexOf("\r\n\r\n", mimeStart) + 4),
      );
      assert.deepEqual(
        octets(item(okData(r, 3), "BODY[HEADER.FIELDS (SUBJECT)]") as string),
        enc.encode("Subject: Smörgåsbord für alle ✉\r\n\r\n"),
      );
      const first10 = item(okData(r, 4), "BODY[]<0>") as string;
      assert.equal(first10, "Return-Pat");
      const envelope = item(okData(r, 5), "ENVELOPE") as Value[];
      assert.equal(envelope[1], "=?UTF-8?B?R3LDvMOfZSB2b20gQm9kZW5zZWU=?=");
      assert.deepEqual(envelope[2], [[
        "=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=",
        null,
        "joerg",
        "remote.test",
      ]]);
      assert.equal(item(okData(r, 6), "BODY[2.1]"), "inner quokka text");
      const attBody = attText.slice(attText.indexOf("\r\n\r\n", mimeStart) + 4);
      assert.equal(item(okData(r, 7), "BODY[2]<100>"), attBody.slice(100, 120));
      // Raw UTF-8 in a header (RFC 6532) reaches the envelope as the same octets.
      const raw = item(okData(r, 8), "ENVELOPE") as Value[];
      assert.deepEqual(octets(raw[1] as string), enc.encode("Smörgåsbord für alle ✉"));
      assert.deepEqual(
        (raw[2] as Value[][])[0].map((v) => v === null ? v : octets(v as string)),
        [enc.encode("Zoë"), null, enc.encode("zoë"), enc.encode("remote.test")],
      );
    });

    await t.step("STORE +FLAGS, SEARCH on flags and decrypted, decoded content", async () => {
      const r = await imaplib(server, "ssl", [
        select(),
        uid("STORE", "1,5", "+FLAGS", "(\\Flagged)"),
        { m: "search", a: [null, "FLAGGED"] },
        { m: "search", a: [null, "FROM", "alice@remote.test"] },
        { m: "search", a: [null, "SUBJECT", '"forwarded"'] },
        { m: "search", a: [null, "BODY", "zebrafish"] },
        { m: "search", a: [null, "TEXT", "quokka"] },
        { m: "search", a: ["UTF-8", "BODY"], literal: octetText(enc.encode("Käsekuchen")) },
        { m: "search", a: ["UTF-8", "BODY"], literal: octetText(enc.encode("München")) },
        { m: "search", a: ["UTF-8", "SUBJECT"], literal: octetText(enc.encode("Grüße")) },
        { m: "search", a: ["UTF-8", "FROM"], literal: octetText(enc.encode("zoë")) },
        { m: "search", a: [null, "BODY", "nothing-matches-this"] },
        uid("FETCH", "3", "(BODY[HEADER.FIELDS (SUBJECT)])"),
        { m: "search", a: [null, "UNSEEN", "NOT", "FLAGGED"] },
      ]);
      const flags = fetched(okData(r, 1));
      assert.deepEqual(flags.map(flagsOf), [["\\Flagged"], ["\\Flagged"]]);
      const hits = (n: number) => okData(r, n)[0];
      assert.equal(hits(2), "1 5");
      assert.equal(hits(3), "1");
      assert.equal(hits(4), "7", "SUBJECT matches case-insensitively");
      assert.equal(hits(5), "1");
      assert.equal(hits(6), "7", "TEXT reaches the encapsulated message");
      assert.equal(hits(7), "5", "quoted-printable is decoded before matching");
      assert.equal(hits(8), "2", "the latin1 body is charset-decoded before matching");
      assert.equal(hits(9), "3", "RFC 2047 words are decoded before matching");
      assert.equal(hits(10), "4", "raw UTF-8 header");
      assert.equal(hits(11), "");
      const seen = fetched(okData(r, 12))[0];
      assert.deepEqual(flagsOf(seen), ["\\Seen"], "a non-PEEK BODY[] fetch sets \\Seen");
      assert.equal(hits(13), "2 4 6 7 8");
    });

    await t.step("LIST special-use, non-ASCII CREATE/RENAME/DELETE", async () => {
      // "Entwürfe" and "Bücher" in modified UTF-7 (RFC 3501 §5.1.3).
      const r = await imaplib(server, "ssl", [
        { m: "list", a: ['""', '"*"'] },
        { m: "create", a: ["Entw&APw-rfe"] },
        { m: "list", a: ['""', '"Entw*"'] },
        { m: "rename", a: ["Entw&APw-rfe", "B&APw-cher"] },
        { m: "list", a: ['""', '"*"'] },
        { m: "create", a: ["B&APw-cher"] },
        { m: "delete", a: ["B&APw-cher"] },
        { m: "list", a: ['""', '"B*"'] },
      ]);
      const list = (n: number) =>
        okData(r, n).filter((l) => l !== null).map((l) => parseValues(String(l)));
      const attributes = new Map(list(0).map((v) => [v[2], (v[0] as string[]).join(" ")]));
      for (const [box, use] of Object.entries(SPECIAL)) {
        assert.match(attributes.get(box) ?? "", new RegExp(`\\${use}\\b`), `${box}: ${use}`);
      }
      assert.ok(attributes.has("INBOX"));
      assert.deepEqual(list(2).map((v) => v[2]), ["Entw&APw-rfe"]);
      const names = list(4).map((v) => v[2]);
      assert.ok(names.includes("B&APw-cher") && !names.includes("Entw&APw-rfe"), `${names}`);
      assert.equal(r.results[5].typ, "NO");
      assert.match(String(r.results[5].data?.[0]), /^\[ALREADYEXISTS\] /);
      assert.equal(r.results[6].typ, "OK");
      assert.deepEqual(okData(r, 7), [null]);
    });

    await t.step("COPY to Archive, MOVE to Trash, EXPUNGE, STATUS counts", async () => {
      const r = await imaplib(server, "ssl", [
        select(),
        uid("COPY", "1", "Archive"),
        { m: "response", a: ["COPYUID"] },
        uid("MOVE", "8", "Trash"),
        { m: "response", a: ["COPYUID"] },
        uid("STORE", "2", "+FLAGS.SILENT", "(\\Deleted)"),
        { m: "expunge" },
        { m: "status", a: ["INBOX", "(MESSAGES UIDNEXT UNSEEN)"] },
        { m: "status", a: ["Archive", "(MESSAGES UNSEEN)"] },
        { m: "status", a: ["Trash", "(MESSAGES)"] },
        select("Archive"),
        { m: "fetch", a: ["1", "(FLAGS BODY.PEEK[])"] },
        select("Trash"),
        { m: "fetch", a: ["1", "(BODY.PEEK[])"] },
        select(),
        uid("SEARCH", "ALL"),
      ]);
      // imaplib keeps response codes aside; response() hands them over (RFC 4315 §3 COPYUID).
      assert.match(String(r.results[2].data), /^\d+ 1 1$/);
      assert.match(String(r.results[4].data), /^\d+ 8 1$/);
      // imaplib collects every untagged EXPUNGE since MOVE: MOVE's (RFC 6851 §4.3), then ours.
      assert.deepEqual(okData(r, 6), ["8", "2"]);
      assert.deepEqual(parseValues(String(okData(r, 7)[0])), [
        "INBOX",
        ["MESSAGES", "6", "UIDNEXT", "9", "UNSEEN", "5"],
      ]);
      assert.deepEqual(parseValues(String(okData(r, 8)[0])), [
        "Archive",
        ["MESSAGES", "1", "UNSEEN", "1"],
      ]);
      assert.deepEqual(parseValues(String(okData(r, 9)[0])), ["Trash", ["MESSAGES", "1"]]);
      const archived = fetched(okData(r, 11))[0];
      assert.deepEqual(flagsOf(archived), ["\\Flagged"], "COPY keeps the flags");
      assert.deepEqual(withoutTrace(octets(archived.get("BODY[]") as string)), MESSAGES[0].data);
      const trashed = item(okData(r, 13), "BODY[]") as string;
      assert.deepEqual(withoutTrace(octets(trashed)), MESSAGES[7].data);
      assert.equal(okData(r, 15)[0], "1 3 4 5 6 7");
    });

    await t.step("APPEND with flags and a date, then FETCH it back byte-identical", async () => {
      const draft = new Uint8Array([
        ...crlf("From: imaplib@test.example\nSubject: Entwurf über alles\nX-Bin: "),
        0xe9,
        0xff,
        ...crlf("\n\n.starts with a dot\n\nno final line end"),
      ]);
      const r = await imaplib(server, "starttls", [
        {
          m: "append",
          a: ["Drafts", "(\\Draft \\Seen $Custom)", '"14-Jul-2021 09:08:07 +0200"', {
            octets: octetText(draft),
          }],
        },
        select("Drafts"),
        uid("FETCH", "1:*", "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"),
      ]);
      assert.match(String(okData(r, 0)[0]), /^\[APPENDUID \d+ 1\]/);
      const got = fetched(okData(r, 2));
      assert.equal(got.length, 1);
      assert.deepEqual(octets(got[0].get("BODY[]") as string), draft);
      assert.equal(got[0].get("RFC822.SIZE"), String(draft.length));
      // RFC 3501 §6.3.11: the given date-time becomes the internal date (any zone, same instant).
      const internal = String(got[0].get("INTERNALDATE")).replace(/^(\d+)-(\w+)-/, "$1 $2 ");
      assert.equal(Date.parse(internal), Date.parse("2021-07-14T09:08:07+02:00"));
      assert.deepEqual(
        flagsOf(got[0]).sort(),
        ["$Custom", "\\Draft", "\\Seen"],
      );
    });

    await t.step("a wrong password: NO [AUTHENTICATIONFAILED]", async () => {
      const r = await imaplib(server, "ssl", [], "not the password");
      assert.equal(r.login, undefined);
      assert.match(r.login_error ?? "", /^b'\[AUTHENTICATIONFAILED\] /);
    });
  } finally {
    await server.stop();
    await server.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

/** The special-use folders every account has (RFC 6154). */
const SPECIAL: Record<string, string> = {
  Sent: "\\Sent",
  Drafts: "\\Drafts",
  Trash: "\\Trash",
  Junk: "\\Junk",
  Archive: "\\Archive",
};

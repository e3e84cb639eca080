/**
 * Message lines longer than `limits.max_line_length` (RFC 5322 §2.1.1's 998 binds the programs
 * that write mail, not relays; Postfix accepts lines of any length): a line of 100,000 octets
 * in the body or the header, sent with DATA by Python's smtplib or with BDAT (RFC 3030), is
 * stored and read back byte-identical by curl over IMAP and POP3, with the inbound checks on
 * (DKIM, SPF, DMARC and ARC parse the message). POP3 TOP and IMAP's ENVELOPE and
 * BODYSTRUCTURE answer for such a message; command lines keep their limit.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RawClient } from "../helpers/raw_client.ts";
import { startServer } from "../helpers/pop3_client.ts";
import { readInbox, withoutTrace } from "../helpers/read_mail.ts";
import { runProgram } from "../helpers/test_server.ts";

const USER = "longline@test.example";
const PASSWORD = "long lines e2e password";
const HOST = "mx.test.example";
const SMTPLIB = new URL("./smtplib_send.py", import.meta.url).pathname;
const enc = new TextEncoder();
/** The command-line limit this server runs with; every long line below is 100× that. */
const MAX_LINE = 1000;
const LONG = 100_000;

/** A line of `LONG` octets: printable, with 8-bit octets and dots along the way. */
function longLine(seed: string): string {
  let line = "";
  while (line.length < LONG) line += `${seed} .. ü ${line.length} `;
  return line.slice(0, LONG);
}

/** The messages, in the order they are sent and stored. */
const MESSAGES = {
  dataBody: enc.encode(
    `From: a@remote.test\r\nTo: ${USER}\r\nSubject: data body\r\n\r\nfirst\r\n` +
      `${longLine("body")}\r\n.${longLine("dot")}\r\nlast\r\n`,
  ),
  dataHeader: enc.encode(
    `From: a@remote.test\r\nSubject: ${longLine("subject")}\r\nX-Long: ${longLine("x")}\r\n` +
      `To: ${USER}\r\n\r\nshort body\r\n`,
  ),
  bdatBody: enc.encode(
    `From: b@remote.test\r\nSubject: bdat body\r\n\r\n${longLine("chunked")}\r\n` +
      `${longLine("no final newline")}`,
  ),
  bdatHeader: enc.encode(
    `From: b@remote.test\r\nSubject: ${longLine("bdat subject")}\r\n\r\nbody\r\n`,
  ),
};

Deno.test("lines longer than max_line_length in DATA and BDAT", async (t) => {
  const server = await startServer({ limits: { max_line_length: MAX_LINE } });
  const work = await Deno.makeTempDir({ prefix: "fsmtp-long-lines-" });
  const cert = join(server.dir, "keys", "cert.pem");
  const curl = async (url: string, extra: string[] = []) => {
    const out = await new Deno.Command("curl", {
      args: [
        "-sS",
        "--max-time",
        "60",
        "--cacert",
        cert,
        "--resolve",
        `${HOST}:${server.imapsPort}:127.0.0.1`,
        "--resolve",
        `${HOST}:${server.pop3sPort}:127.0.0.1`,
        "-u",
        `${USER}:${PASSWORD}`,
        ...extra,
        url,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return out.stdout;
  };
  const smtplib = async (message: Uint8Array) => {
    const file = join(work, "message.eml");
    await Deno.writeFile(file, message);
    const r = await runProgram("python3", [
      SMTPLIB,
      String(server.smtpPort),
      "plain",
      "a@remote.test",
      USER,
      file,
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  };
  const bdat = async (message: Uint8Array) => {
    const c = await RawClient.connect(server.smtpPort);
    try {
      await c.reply();
      assert.match((await c.command("EHLO bdat.test")).text, /CHUNKING/);
      assert.equal((await c.command("MAIL FROM:<b@remote.test>")).code, 250);
      assert.equal((await c.command(`RCPT TO:<${USER}>`)).code, 250);
      // Two chunks cut in the middle of the long line.
      const cut = Math.floor(message.length / 2);
      await c.send(`BDAT ${cut}\r\n`);
      await c.send(message.subarray(0, cut));
      assert.equal((await c.reply(60_000)).code, 250);
      await c.send(`BDAT ${message.length - cut} LAST\r\n`);
      await c.send(message.subarray(cut));
      const r = await c.reply(60_000);
      assert.equal(r.code, 250, r.text);
      await c.command("QUIT");
    } finally {
      c.close();
    }
  };
  try {
    await server.addUser(USER, PASSWORD);

    await t.step("DATA (smtplib) and BDAT with 100,000-octet lines are accepted", async () => {
      await smtplib(MESSAGES.dataBody);
      await smtplib(MESSAGES.dataHeader);
      await bdat(MESSAGES.bdatBody);
      await bdat(MESSAGES.bdatHeader);
    });

    const stored = await readInbox(server.dbPath, USER, PASSWORD);
    await t.step("stored byte for byte below the trace headers", () => {
      assert.equal(stored.length, 4);
      const sent = Object.values(MESSAGES);
      // BDAT content without a final CRLF gets one (RFC 5322 §2.1: lines end in CRLF).
      sent[2] = new Uint8Array([...sent[2], 13, 10]);
      for (const [i, m] of stored.entries()) {
        assert.deepEqual(withoutTrace(m), sent[i], `message ${i + 1}`);
      }
      // The checks ran over the long lines and recorded their results.
      for (const m of stored) {
        assert.match(new TextDecoder().decode(m.subarray(0, 2000)), /Authentication-Results:/);
      }
    });

    await t.step("IMAP (curl imaps://) reads each back identical to what is stored", async () => {
      for (const [i, m] of stored.entries()) {
        const got = await curl(`imaps://${HOST}:${server.imapsPort}/INBOX;UID=${i + 1}`);
        assert.deepEqual(got, m, `UID ${i + 1}`);
      }
    });

    await t.step("IMAP ENVELOPE and BODYSTRUCTURE (imaplib) of a long-header message", async () => {
      const r = await runProgram("python3", [
        "-c",
        IMAPLIB_FETCH,
        String(server.imapPort),
        USER,
        PASSWORD,
        "2",
        "(ENVELOPE BODYSTRUCTURE)",
      ]);
      assert.equal(r.code, 0, r.stderr);
      // The Subject comes whole (as a literal), and the structure is there.
      assert.ok(r.stdout.includes(longLine("subject")), r.stdout.slice(0, 300));
      assert.match(r.stdout, /BODYSTRUCTURE \("TEXT" "PLAIN"/i);
    });

    await t.step("POP3 (curl pop3s://) RETR and TOP give the same bytes", async () => {
      for (const [i, m] of stored.entries()) {
        const got = await curl(`pop3s://${HOST}:${server.pop3sPort}/${i + 1}`);
        assert.deepEqual(got, m, `message ${i + 1}`);
      }
      const top = await curl(`pop3s://${HOST}:${server.pop3sPort}/`, ["-X", "TOP 2 0"]);
      const header = stored[1].subarray(0, headerEnd(stored[1]));
      assert.deepEqual(top, header);
    });

    await t.step("command lines over max_line_length are still refused", async () => {
      const c = await RawClient.connect(server.smtpPort);
      try {
        await c.reply();
        assert.equal((await c.command("EHLO limits.test")).code, 250);
        const long = await c.command(`MAIL FROM:<${"a".repeat(MAX_LINE + 10)}@remote.test>`);
        assert.equal(long.code, 500, long.text);
        const huge = await c.command(`NOOP ${"x".repeat(LONG)}`);
        assert.equal(huge.code, 500, huge.text);
        // The session goes on after the refused lines.
        assert.equal((await c.command("MAIL FROM:<a@remote.test>")).code, 250);
        assert.equal((await c.command("QUIT")).code, 221);
      } finally {
        c.close();
      }
    });
  } finally {
    await server.stop();
    await server.cleanup();
    await Deno.remove(work, { recursive: true });
  }
});

/** Python's imaplib: log in (plain, loopback), FETCH argv[4] of INBOX, print it as UTF-8. */
const IMAPLIB_FETCH = `
import imaplib, sys
port, user, password, seq, items = sys.argv[1:6]
c = imaplib.IMAP4("127.0.0.1", int(port))
c.login(user, password)
c.select("INBOX", readonly=True)
typ, data = c.fetch(seq, items)
assert typ == "OK", (typ, data)
out = b""
for part in data:
    out += b"".join(part) if isinstance(part, tuple) else part
sys.stdout.write(out.decode("utf-8", "replace"))
c.logout()
`;

/** Where the header ends: just past the blank line. */
function headerEnd(message: Uint8Array): number {
  for (let i = 0; i + 3 < message.length; i++) {
    if (message[i] === 13 && message[i + 1] === 10 && message[i + 2] === 13) return i + 4;
  }
  return message.length;
}

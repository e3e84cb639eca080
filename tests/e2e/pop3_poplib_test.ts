/**
 * Python's poplib over STLS and over implicit TLS (POP3_SSL), both verifying the server's
 * certificate: hard messages sent with smtplib come back byte-identical through RETR (the
 * server's Return-Path/Received trace headers removed), LIST sizes equal RETR octets, and
 * DELE + QUIT removes what was deleted.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runProgram } from "../helpers/test_server.ts";
import { countMessages, withoutTrace } from "../helpers/read_mail.ts";
import { Pop3Client, startServer } from "../helpers/pop3_client.ts";

const POPLIB = new URL("./pop3_poplib.py", import.meta.url).pathname;
const SMTPLIB = new URL("./smtplib_send.py", import.meta.url).pathname;
const USER = "poppy@test.example";
const PASSWORD = "poplib e2e password";
const enc = new TextEncoder();

function crlf(text: string): Uint8Array {
  return enc.encode(text.replace(/\r?\n/g, "\r\n"));
}

/** A message of exactly `size` octets of short CRLF lines, some starting with dots. */
function sized(size: number, subject: string): Uint8Array {
  const head = `From: a@remote.test\r\nSubject: ${subject}\r\n\r\n`;
  const lines = [
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,-+*/=\r\n",
    ".a line that starts with a dot and must be stuffed by the server\r\n",
  ];
  let body = "";
  for (let i = 0; head.length + body.length + lines[i % 2].length <= size - 2; i++) {
    body += lines[i % 2];
  }
  body += "p".repeat(size - 2 - head.length - body.length) + "\r\n";
  const out = enc.encode(head + body);
  assert.equal(out.length, size);
  return out;
}

const HARD: { name: string; data: Uint8Array; options: string[] }[] = [
  {
    name: "8bit",
    data: new Uint8Array([
      ...crlf("From: a@remote.test\nSubject: 8bit\nContent-Type: text/plain; charset=latin1\n\n"),
      0xe9,
      0xe8,
      0xff,
      0x80,
      0x2e,
      ...crlf("\n.\xa0starts with a dot\nend\n"),
    ]),
    options: ["BODY=8BITMIME"],
  },
  {
    name: "utf8",
    data: crlf(
      "From: Jörg <jörg@remote.test>\nSubject: Grüße aus Köln ✉\n" +
        "Content-Type: text/plain; charset=utf-8\n\nÄpfel, Birnen, 日本語\n.日本\n",
    ),
    options: ["SMTPUTF8", "BODY=8BITMIME"],
  },
  {
    name: "dots",
    data: crlf("Subject: dots\n\n.\n..\n.leading dot\n...three\n. \nend.\n"),
    options: [],
  },
  { name: "5mib", data: sized(5 * 1024 * 1024, "five MiB"), options: [] },
];

interface PoplibResult {
  welcome: string;
  capa_before: string[];
  capa_after_tls?: string[];
  capa_logged_in: string[];
  stls?: string;
  tls: string;
  login: string;
  error?: string;
  stat: [number, number];
  list: string[];
  uidl: string[];
  retr_octets: [string, number][];
  dele?: string[];
  quit: string;
}

Deno.test("poplib end to end", async (t) => {
  const server = await startServer();
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-poplib-" });
  const cert = join(server.dir, "keys", "cert.pem");
  const poplib = async (mode: "stls" | "ssl", out: string, ...extra: string[]) => {
    await Deno.mkdir(out, { recursive: true });
    const port = String(mode === "ssl" ? server.pop3sPort : server.pop3Port);
    const r = await runProgram("python3", [POPLIB, mode, port, USER, PASSWORD, out, ...extra]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return JSON.parse(r.stdout) as PoplibResult;
  };
  /** Checks every retrieved message against what was sent and LIST against RETR. */
  const checkRetrieved = async (result: PoplibResult, out: string) => {
    assert.deepEqual(result.stat, [HARD.length, result.stat[1]]);
    const sizes = result.list.map((l) => Number(l.split(" ")[1]));
    assert.deepEqual(result.list.map((l) => l.split(" ")[0]), ["1", "2", "3", "4"]);
    assert.equal(sizes.reduce((a, b) => a + b, 0), result.stat[1]);
    for (const [i, sent] of HARD.entries()) {
      const got = await Deno.readFile(join(out, `${i + 1}.eml`));
      assert.deepEqual(withoutTrace(got), sent.data, `${sent.name} differs`);
      assert.equal(result.retr_octets[i][0], `+OK ${sizes[i]} octets`);
      assert.equal(result.retr_octets[i][1], sizes[i], `${sent.name}: LIST size != RETR octets`);
      const top = new TextDecoder("latin1").decode(await Deno.readFile(join(out, `${i + 1}.top`)));
      const text = new TextDecoder("latin1").decode(got);
      assert.equal(top, text.slice(0, text.indexOf("\r\n\r\n") + 4), `${sent.name}: TOP n 0`);
    }
  };
  try {
    await server.addUser(USER, PASSWORD);

    await t.step("hard messages go in with smtplib", async () => {
      for (const m of HARD) {
        const file = join(dir, `${m.name}.eml`);
        await Deno.writeFile(file, m.data);
        const sender = m.options.includes("SMTPUTF8") ? "jörg@remote.test" : "s@remote.test";
        const r = await runProgram("python3", [
          SMTPLIB,
          String(server.smtpPort),
          "starttls",
          sender,
          USER,
          file,
          ...m.options,
        ]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
      }
    });

    let uidls: string[] = [];
    await t.step("poplib over STLS (certificate verified): byte-identical RETR", async () => {
      const out = join(dir, "stls");
      const r = await poplib("stls", out, "--cafile", cert);
      assert.match(r.welcome, /^\+OK mx\.test\.example /);
      assert.ok(r.capa_before.includes("STLS"));
      assert.ok(r.capa_before.includes("USER"), "plaintext login is allowed from loopback");
      assert.match(r.stls!, /^\+OK/);
      assert.ok(!r.capa_after_tls!.includes("STLS"), "no STLS once TLS is up");
      assert.ok(r.capa_after_tls!.includes("USER"));
      assert.ok(r.capa_after_tls!.includes("SASL"));
      assert.ok(!r.capa_logged_in.includes("USER"));
      assert.ok(!r.capa_logged_in.includes("SASL"));
      assert.match(r.tls, /^TLSv1\.[23]$/);
      assert.match(r.login, /^\+OK Logged in, 4 messages/);
      await checkRetrieved(r, out);
      uidls = r.uidl;
      assert.equal(new Set(uidls.map((l) => l.split(" ")[1])).size, 4);
      assert.match(r.quit, /^\+OK /);
    });

    await t.step(
      "POP3_SSL (implicit TLS, verified), AUTH PLAIN, same bytes, same UIDLs",
      async () => {
        const out = join(dir, "ssl");
        const r = await poplib("ssl", out, "--cafile", cert, "--auth-plain");
        assert.ok(!r.capa_before.includes("STLS"));
        assert.ok(r.capa_before.includes("USER"));
        assert.match(r.login, /^\+OK Logged in/);
        await checkRetrieved(r, out);
        assert.deepEqual(r.uidl, uidls);
      },
    );

    await t.step("POP3_SSL without certificate checks, with a wrong password", async () => {
      const r = await runProgram("python3", [
        POPLIB,
        "ssl",
        String(server.pop3sPort),
        USER,
        "not the password",
        dir,
      ]);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.equal(JSON.parse(r.stdout).error, "-ERR [AUTH] Invalid user name or password");
    });

    await t.step("DELE 2 and 4 then QUIT removes exactly those", async () => {
      const out = join(dir, "dele");
      const r = await poplib("ssl", out, "--dele", "2", "--dele", "4");
      assert.deepEqual(r.dele, ["+OK Message 2 deleted", "+OK Message 4 deleted"]);
      assert.match(r.quit, /^\+OK /);
      assert.equal(await countMessages(server.dbPath, USER), 2);
      const again = await poplib("stls", join(dir, "after"));
      assert.deepEqual(again.uidl, [uidls[0], `2 ${uidls[2].split(" ")[1]}`]);
      assert.deepEqual(
        withoutTrace(await Deno.readFile(join(dir, "after", "2.eml"))),
        HARD[2].data,
      );
    });

    await t.step({
      name: "a BDAT message without a final CRLF: LIST size equals RETR octets",
      // The server completes the last line on receipt, so the stored size is what RETR sends.
      fn: async () => {
        const c = await Pop3Client.connect(server.smtpPort);
        try {
          assert.match(await c.line(), /^220 /);
          for (const cmd of ["EHLO bdat.test", "MAIL FROM:<b@remote.test>", `RCPT TO:<${USER}>`]) {
            await c.send(cmd + "\r\n");
            while (!/^\d{3} /.test(await c.line()));
          }
          const body = "Subject: no final CRLF\r\n\r\nlast line without CRLF";
          await c.send(`BDAT ${body.length} LAST\r\n${body}`);
          assert.match(await c.line(), /^250 /);
        } finally {
          c.close();
        }
        const r = await poplib("ssl", join(dir, "bdat"));
        const size = Number(r.list[r.list.length - 1].split(" ")[1]);
        assert.equal(r.retr_octets[r.retr_octets.length - 1][1], size);
      },
    });
  } finally {
    await server.stop();
    await server.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Python's smtplib, plain and over STARTTLS, sends hard messages; each is read back through
 * the store with the user's password and must be byte-identical to what was sent.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runProgram, TestServer } from "../helpers/test_server.ts";
import { readInbox, withoutTrace } from "../helpers/read_mail.ts";
import { RawClient } from "../helpers/raw_client.ts";

const SCRIPT = new URL("./smtplib_send.py", import.meta.url).pathname;
const LIMIT = 6 * 1024 * 1024;
const USER = "alice@test.example";
const PASSWORD = "smtplib e2e password";
const enc = new TextEncoder();

function crlf(text: string): Uint8Array {
  return enc.encode(text.replace(/\r?\n/g, "\r\n"));
}

/** A message of exactly `size` octets of short CRLF lines. */
function sized(size: number, subject: string): Uint8Array {
  const head = `From: a@remote.test\r\nSubject: ${subject}\r\n\r\n`;
  const line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,-+*/=\r\n";
  let body = "";
  while (head.length + body.length + line.length <= size - 2) body += line;
  const pad = size - 2 - head.length - body.length;
  body += "p".repeat(pad) + "\r\n";
  const out = enc.encode(head + body);
  assert.equal(out.length, size);
  return out;
}

Deno.test("smtplib end to end", async (t) => {
  const server = await TestServer.start({ limits: { max_message_size: LIMIT } });
  const dir = await Deno.makeTempDir();
  let expected: Uint8Array[] = [];
  const send = async (name: string, data: Uint8Array, mode: string, options: string[] = []) => {
    const file = join(dir, name);
    await Deno.writeFile(file, data);
    return await runProgram("python3", [
      SCRIPT,
      String(server.smtpPort),
      mode,
      options.includes("SMTPUTF8") ? "jörg@remote.test" : "sender@remote.test",
      USER,
      file,
      ...options,
    ]);
  };
  try {
    await server.addUser(USER, PASSWORD);

    await t.step("plain: 8-bit body with BODY=8BITMIME", async () => {
      const data = new Uint8Array([
        ...crlf("From: a@remote.test\nSubject: 8bit\nContent-Type: text/plain; charset=latin1\n\n"),
        0xe9,
        0xe8,
        0xff,
        0x80,
        ...crlf("\nend\n"),
      ]);
      const r = await send("8bit.eml", data, "plain", ["BODY=8BITMIME"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      expected.push(data);
    });

    await t.step("STARTTLS: UTF-8 headers and sender with SMTPUTF8", async () => {
      const data = crlf(
        "From: Jörg <jörg@remote.test>\nSubject: Grüße aus Köln ✉\n" +
          "Content-Type: text/plain; charset=utf-8\n\nÄpfel, Birnen, 日本語\n",
      );
      const r = await send("utf8.eml", data, "starttls", ["SMTPUTF8", "BODY=8BITMIME"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /TLS TLSv1\.[23]/);
      expected.push(data);
    });

    await t.step("lines starting with dots survive transparency", async () => {
      const data = crlf("Subject: dots\n\n.\n..\n.leading dot\n...three\nend.\n");
      const r = await send("dots.eml", data, "plain");
      assert.equal(r.code, 0, r.stdout + r.stderr);
      expected.push(data);
    });

    await t.step("a 5 MiB message over STARTTLS", async () => {
      const data = sized(5 * 1024 * 1024, "five MiB");
      const r = await send("5m.eml", data, "starttls");
      assert.equal(r.code, 0, r.stdout + r.stderr);
      expected.push(data);
    });

    await t.step("exactly at the size limit is accepted", async () => {
      const data = sized(LIMIT, "at the limit");
      const r = await send("limit.eml", data, "plain");
      assert.equal(r.code, 0, r.stdout + r.stderr);
      expected.push(data);
    });

    await t.step("one octet over is refused at SIZE= with 552 5.3.4", async () => {
      const r = await send("over.eml", sized(LIMIT + 1, "over"), "plain");
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stdout, /^552 5\.3\.4/m);
    });

    await t.step("one octet over without SIZE= is refused while reading", async () => {
      const c = await RawClient.connect(server.smtpPort);
      try {
        await c.reply();
        await c.command("EHLO raw.test");
        await c.command("MAIL FROM:<s@remote.test>");
        await c.command(`RCPT TO:<${USER}>`);
        assert.equal((await c.command("DATA")).code, 354);
        await c.send(sized(LIMIT + 1, "over"));
        const r = await c.command(".");
        assert.equal(r.code, 552);
        assert.match(r.text, /5\.3\.4/);
        assert.equal((await c.command("QUIT")).code, 221);
      } finally {
        c.close();
      }
    });

    await t.step("what is stored is byte-identical to what was sent", async () => {
      const stored = (await readInbox(server.dbPath, USER, PASSWORD)).map(withoutTrace);
      assert.equal(stored.length, expected.length);
      stored.forEach((m, i) => assert.deepEqual(m, expected[i], `message ${i}`));
      expected = [];
    });

    await t.step("the store file holds neither subject nor body in clear", async () => {
      for (const suffix of ["", "-wal"]) {
        const raw = await Deno.readFile(server.dbPath + suffix).catch(() => new Uint8Array());
        const text = new TextDecoder("latin1").decode(raw);
        for (const needle of ["Grüße", "Gr\xc3\xbc\xc3\x9fe", "leading dot", "five MiB"]) {
          assert.equal(text.includes(needle), false, `${needle} found in ${suffix || "db"}`);
        }
      }
    });
  } finally {
    await server.stop();
    await server.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

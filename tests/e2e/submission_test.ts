/**
 * Submission (RFC 6409) as Thunderbird uses it, with Python's smtplib and swaks: AUTH PLAIN
 * and LOGIN after STARTTLS on the submission port and over implicit TLS on submissions; no
 * relaying without AUTH; no sending as someone else; a copy lands in the sender's Sent.
 */
import assert from "node:assert/strict";
import { runProgram, TestServer } from "../helpers/test_server.ts";
import { readMailboxText } from "../helpers/read_mail.ts";
import { RawClient } from "../helpers/raw_client.ts";

const SCRIPT = new URL("./submission_send.py", import.meta.url).pathname;
const IVY = "ivy@test.example";
const JON = "jon@test.example";
const PW = "ivy's submission password";

Deno.test("submission end to end", async (t) => {
  const server = await TestServer.start();
  const submit = (port: number, ...args: string[]) =>
    runProgram("python3", [SCRIPT, String(port), ...args]);
  try {
    await server.addUser(IVY, PW);
    await server.addUser(JON, "jon's password");

    await t.step("587: STARTTLS + AUTH PLAIN delivers locally and keeps a Sent copy", async () => {
      const r = await submit(server.submissionPort, "starttls", "PLAIN", IVY, PW, IVY, JON);
      assert.equal(r.stdout.trim(), "OK", r.stdout + r.stderr);
    });

    await t.step("587: STARTTLS + AUTH LOGIN", async () => {
      const r = await submit(server.submissionPort, "starttls", "LOGIN", IVY, PW, IVY, JON);
      assert.equal(r.stdout.trim(), "OK", r.stdout + r.stderr);
    });

    await t.step("465: implicit TLS + AUTH PLAIN", async () => {
      const r = await submit(server.submissionsPort, "ssl", "PLAIN", IVY, PW, IVY, JON);
      assert.equal(r.stdout.trim(), "OK", r.stdout + r.stderr);
    });

    await t.step("a wrong password gets 535 5.7.8", async () => {
      const r = await submit(server.submissionPort, "starttls", "PLAIN", IVY, "wrong!", IVY, JON);
      assert.match(r.stdout, /^AUTH 535 5\.7\.8/);
    });

    await t.step("no AUTH: MAIL gets 530 5.7.0 (no relaying for strangers)", async () => {
      const r = await submit(server.submissionPort, "starttls", "PLAIN", "", "", IVY, JON);
      assert.match(r.stdout, /^530 5\.7\.0/);
    });

    await t.step("MAIL FROM someone else's address gets 553 5.7.1", async () => {
      const r = await submit(server.submissionPort, "starttls", "PLAIN", IVY, PW, JON, JON);
      assert.match(r.stdout, /^553 5\.7\.1/);
    });

    await t.step("a From: header naming someone else gets 553 5.7.1", async () => {
      const r = await submit(server.submissionPort, "starttls", "PLAIN", IVY, PW, IVY, JON, JON);
      assert.match(r.stdout, /^553 5\.7\.1/);
    });

    await t.step("AUTH is not offered before TLS when plaintext is not allowed", async () => {
      const c = await RawClient.connect(server.submissionPort);
      try {
        await c.reply();
        const ehlo = await c.command("EHLO raw.test");
        // From loopback the default policy allows it; the MX port never offers AUTH.
        assert.match(ehlo.text, /AUTH PLAIN LOGIN/);
      } finally {
        c.close();
      }
      const mx = await RawClient.connect(server.smtpPort);
      try {
        await mx.reply();
        assert.doesNotMatch((await mx.command("EHLO raw.test")).text, /AUTH/);
        assert.equal((await mx.command("AUTH PLAIN AGl2eUB0ZXN0LmV4YW1wbGUAeA==")).code, 503);
      } finally {
        mx.close();
      }
    });

    await t.step("STARTTLS forgets a login made before it (RFC 3207 §4.2)", async () => {
      const c = await RawClient.connect(server.submissionPort);
      try {
        await c.reply();
        await c.command("EHLO raw.test");
        const plain = btoa(`\0${IVY}\0${PW}`);
        assert.equal((await c.command(`AUTH PLAIN ${plain}`)).code, 235);
        assert.equal((await c.command("STARTTLS")).code, 220);
        const cert = await Deno.readTextFile(`${server.dir}/keys/cert.pem`);
        await c.startTls("mx.test.example", cert);
        await c.command("EHLO raw.test");
        assert.equal((await c.command(`MAIL FROM:<${IVY}>`)).code, 530);
      } finally {
        c.close();
      }
    });

    await t.step("swaks --tls --auth PLAIN", async () => {
      const r = await runProgram("swaks", [
        "--server",
        `127.0.0.1:${server.submissionPort}`,
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        IVY,
        "--auth-password",
        PW,
        "--from",
        IVY,
        "--to",
        JON,
        "--header",
        `From: ${IVY}`,
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /235 2\.7\.0/);
    });

    await t.step("the recipient got 4 messages, the sender's Sent holds 4 copies", async () => {
      const inbox = await readMailboxText(server.dbPath, JON, "jon's password", "INBOX");
      assert.equal(inbox.length, 4);
      assert.match(inbox[0], /with ESMTPSA \(TLSv1\.3/);
      assert.match(inbox[2], /Subject: submitted via ssl PLAIN/);
      const sent = await readMailboxText(server.dbPath, IVY, PW, "Sent");
      assert.equal(sent.length, 4);
      assert.match(sent[0], /Subject: submitted via starttls PLAIN/);
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

Deno.test("submission with allow_plaintext = never: AUTH only after STARTTLS", async () => {
  const server = await TestServer.start({ auth: { allow_plaintext: "never" } });
  try {
    await server.addUser(IVY, PW);
    const c = await RawClient.connect(server.submissionPort);
    try {
      await c.reply();
      const ehlo = await c.command("EHLO raw.test");
      assert.doesNotMatch(ehlo.text, /AUTH/);
      assert.match(ehlo.text, /STARTTLS/);
      const refused = await c.command("AUTH PLAIN AGl2eUB0ZXN0LmV4YW1wbGUAeA==");
      assert.equal(refused.code, 538);
      assert.match(refused.text, /5\.7\.11/);
      assert.equal((await c.command("MAIL FROM:<ivy@test.example>")).code, 530);
    } finally {
      c.close();
    }
    const r = await runProgram("python3", [
      SCRIPT,
      String(server.submissionPort),
      "starttls",
      "LOGIN",
      IVY,
      PW,
      IVY,
      IVY,
    ]);
    assert.equal(r.stdout.trim(), "OK", r.stdout + r.stderr);
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

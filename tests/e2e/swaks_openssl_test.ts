/**
 * swaks (with --pipeline and --tls) and `openssl s_client -starttls smtp` against the real
 * server; the mail they send is read back and checked.
 */
import assert from "node:assert/strict";
import { runProgram, TestServer } from "../helpers/test_server.ts";
import { readInbox } from "../helpers/read_mail.ts";

const USER = "bob@test.example";
const PASSWORD = "swaks and openssl";

Deno.test("swaks and openssl s_client end to end", async (t) => {
  const server = await TestServer.start();
  const swaks = (...extra: string[]) =>
    runProgram("swaks", [
      "--server",
      `127.0.0.1:${server.smtpPort}`,
      "--to",
      USER,
      "--from",
      "swaks@remote.test",
      "--helo",
      "swaks.test",
      ...extra,
    ]);
  try {
    await server.addUser(USER, PASSWORD);

    await t.step("swaks --pipeline", async () => {
      const r = await swaks("--pipeline", "--header", "Subject: pipelined");
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /<[-~]\s+250 2\.0\.0 OK queued as/);
    });

    await t.step("swaks --tls (STARTTLS)", async () => {
      const r = await swaks("--tls", "--header", "Subject: over tls");
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /TLS started with cipher TLSv1\.[23]/);
      assert.match(r.stdout, /<[-~]\s+250 2\.0\.0 OK queued as/);
    });

    await t.step("swaks --tls --pipeline", async () => {
      const r = await swaks("--tls", "--pipeline", "--header", "Subject: tls and pipelining");
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /<[-~]\s+250 2\.0\.0 OK queued as/);
    });

    await t.step("swaks to an unknown user and to a foreign domain", async () => {
      const unknown = await runProgram("swaks", [
        "--server",
        `127.0.0.1:${server.smtpPort}`,
        "--to",
        "nobody@test.example",
        "--from",
        "swaks@remote.test",
      ]);
      assert.notEqual(unknown.code, 0);
      assert.match(unknown.stdout, /550 5\.1\.1/);
      const relay = await runProgram("swaks", [
        "--server",
        `127.0.0.1:${server.smtpPort}`,
        "--to",
        "victim@elsewhere.example",
        "--from",
        "swaks@remote.test",
      ]);
      assert.notEqual(relay.code, 0);
      assert.match(relay.stdout, /550 5\.7\.1/);
    });

    await t.step("openssl s_client -starttls smtp", async () => {
      const input = [
        "EHLO openssl.test",
        "MAIL FROM:<openssl@remote.test>",
        `RCPT TO:<${USER}>`,
        "DATA",
        "Subject: via openssl",
        "",
        "sent through openssl s_client",
        ".",
        "QUIT",
        "",
      ].join("\n");
      const r = await runProgram("openssl", [
        "s_client",
        "-starttls",
        "smtp",
        "-connect",
        `127.0.0.1:${server.smtpPort}`,
        "-crlf",
        "-quiet",
      ], input);
      assert.match(r.stdout, /250 2\.0\.0 OK queued as/, r.stdout + r.stderr);
      assert.match(r.stdout, /221 2\.0\.0/);
    });

    await t.step("the mail arrived, with TLS recorded in Received:", async () => {
      const texts = (await readInbox(server.dbPath, USER, PASSWORD)).map((m) =>
        new TextDecoder().decode(m)
      );
      assert.equal(texts.length, 4);
      assert.match(texts[0], /with ESMTP\r\n/);
      assert.match(texts[0], /Subject: pipelined/);
      assert.match(texts[1], /with ESMTPS \(TLSv1\.3 TLS_[A-Z0-9_]+\)/);
      assert.match(texts[3], /Subject: via openssl\r\n\r\nsent through openssl s_client\r\n$/);
      assert.match(texts[3], /Return-Path: <openssl@remote\.test>\r\n/);
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

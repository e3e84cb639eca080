/**
 * Inbound checks on the MX listener against a real DNS server (dnsmasq): SPF, DMARC and
 * DKIM results in Authentication-Results (RFC 8601), DMARC p=reject refused, p=quarantine
 * filed in Junk, and a forged Authentication-Results claiming to be this host removed.
 */
import assert from "node:assert/strict";
import { runProgram, TestServer } from "../helpers/test_server.ts";
import { readMailboxText } from "../helpers/read_mail.ts";

const USER = "kim@test.example";
const PW = "inbound checks pw";

Deno.test("inbound SPF/DKIM/DMARC checks", async (t) => {
  const server = await TestServer.start({
    dns: {
      txt: {
        "strict.example": "v=spf1 -all",
        "_dmarc.strict.example": "v=DMARC1; p=reject",
        "soft.example": "v=spf1 -all",
        "_dmarc.soft.example": "v=DMARC1; p=quarantine",
        "good.example": "v=spf1 ip4:127.0.0.1 -all",
        "_dmarc.good.example": "v=DMARC1; p=reject",
      },
    },
  });
  const swaks = (from: string, ...extra: string[]) =>
    runProgram("swaks", [
      "--server",
      `127.0.0.1:${server.smtpPort}`,
      "--helo",
      "client.test",
      "--from",
      from,
      "--to",
      USER,
      "--header",
      `From: ${from}`,
      ...extra,
    ]);
  try {
    await server.addUser(USER, PW);

    await t.step("SPF pass and DMARC pass: delivered with the results recorded", async () => {
      const r = await swaks("alice@good.example", "--header", "Subject: good");
      assert.equal(r.code, 0, r.stdout);
      const [mail] = await readMailboxText(server.dbPath, USER, PW, "INBOX");
      assert.match(
        mail,
        /^Return-Path: <alice@good\.example>\r\nReceived-SPF: pass [^]*\r\nAuthentication-Results: mx\.test\.example;\r\n/,
      );
      assert.match(mail, /spf=pass/);
      assert.match(mail, /dmarc=pass/);
    });

    await t.step("DMARC p=reject with SPF fail: 550 5.7.1 and nothing stored", async () => {
      const r = await swaks("mallory@strict.example", "--header", "Subject: spoofed");
      assert.notEqual(r.code, 0);
      assert.match(r.stdout, /550 5\.7\.1 Rejected: DMARC policy of strict\.example is reject/);
      assert.equal((await readMailboxText(server.dbPath, USER, PW, "INBOX")).length, 1);
    });

    await t.step("DMARC p=quarantine: filed in Junk", async () => {
      const r = await swaks("eve@soft.example", "--header", "Subject: doubtful");
      assert.equal(r.code, 0, r.stdout);
      const junk = await readMailboxText(server.dbPath, USER, PW, "Junk");
      assert.equal(junk.length, 1);
      assert.match(junk[0], /dmarc=fail/);
    });

    await t.step("a forged Authentication-Results for this host is removed", async () => {
      const r = await swaks(
        "alice@good.example",
        "--add-header",
        "Authentication-Results: mx.test.example; dkim=pass header.d=bank.example",
        "--header",
        "Subject: forged",
      );
      assert.equal(r.code, 0, r.stdout);
      const inbox = await readMailboxText(server.dbPath, USER, PW, "INBOX");
      const forged = inbox.at(-1)!;
      assert.match(forged, /Subject: forged/);
      assert.doesNotMatch(forged, /bank\.example/);
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

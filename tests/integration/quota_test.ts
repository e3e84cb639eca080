/**
 * `[quota] max_octets`: IMAP advertises QUOTA and reports usage (RFC 9208), APPEND and COPY
 * past the quota get NO [OVERQUOTA], and SMTP refuses mail for a full mailbox with 452 4.2.2
 * so the sender retries later. Without a quota, QUOTA is not advertised.
 */
import assert from "node:assert/strict";
import { ImapClient } from "../helpers/imap_client.ts";
import { RawClient } from "../helpers/raw_client.ts";
import { TestServer } from "../helpers/test_server.ts";

const USER = "quota@test.example";
const PASSWORD = "quota password 1";
const QUOTA = 8192;

async function smtpDeliver(port: number, octets: number): Promise<number> {
  const c = await RawClient.connect(port);
  try {
    await c.reply();
    await c.send("EHLO client.example\r\n");
    await c.reply();
    await c.send("MAIL FROM:<sender@example.net>\r\n");
    await c.reply();
    await c.send(`RCPT TO:<${USER}>\r\n`);
    const rcpt = await c.reply();
    if (rcpt.code !== 250) return rcpt.code;
    await c.send("DATA\r\n");
    await c.reply();
    const line = "y".repeat(98) + "\r\n";
    await c.send(`Subject: filler\r\n\r\n${line.repeat(Math.ceil(octets / 100))}.\r\n`);
    return (await c.reply()).code;
  } finally {
    c.close();
  }
}

Deno.test("quota: IMAP QUOTA, OVERQUOTA and SMTP 452 4.2.2", async (t) => {
  const server = await TestServer.start({
    tables: { quota: { max_octets: QUOTA }, inbound: { checks: false } },
  });
  let imap: ImapClient | undefined;
  try {
    await server.addUser(USER, PASSWORD);
    imap = await ImapClient.login(server.imapPort, USER, PASSWORD);

    await t.step("QUOTA is advertised and usage starts at 0", async () => {
      const caps = await imap!.command("CAPABILITY");
      assert.match(caps.untagged.join("\n"), /\bQUOTA\b/);
      const root = await imap!.command("GETQUOTAROOT INBOX");
      assert.equal(root.status, "OK");
      assert.ok(root.untagged.includes('* QUOTAROOT "INBOX" ""'), root.untagged.join("\n"));
      assert.ok(root.untagged.includes(`* QUOTA "" (STORAGE 0 ${QUOTA / 1024})`));
    });

    await t.step("mail under the quota is accepted and counted", async () => {
      assert.equal(await smtpDeliver(server.smtpPort, 5000), 250);
      const quota = await imap!.command('GETQUOTA ""');
      const used = /STORAGE (\d+) /.exec(quota.untagged.join("\n"));
      assert.ok(used && Number(used[1]) >= 5, quota.untagged.join("\n"));
    });

    await t.step("APPEND past the quota is refused with OVERQUOTA", async () => {
      const big = `Subject: big\r\n\r\n${("z".repeat(98) + "\r\n").repeat(40)}`;
      const reply = await imap!.append("INBOX", big);
      assert.equal(reply.status, "NO");
      assert.equal(reply.code, "OVERQUOTA");
    });

    await t.step("COPY past the quota is refused with OVERQUOTA", async () => {
      await imap!.command("SELECT INBOX");
      const reply = await imap!.command("COPY 1 Archive");
      assert.equal(reply.status, "NO");
      assert.equal(reply.code, "OVERQUOTA");
    });

    await t.step("once full, SMTP says 452 4.2.2 at RCPT", async () => {
      assert.equal(await smtpDeliver(server.smtpPort, 4000), 250); // now at or past the quota
      assert.equal(await smtpDeliver(server.smtpPort, 10), 452);
      await server.waitForOutput(/smtp\.rcpt\.over_quota/);
    });

    await t.step("deleting mail makes room again", async () => {
      await imap!.command("STORE 1:* +FLAGS.SILENT (\\Deleted)");
      assert.equal((await imap!.command("EXPUNGE")).status, "OK");
      assert.equal(await smtpDeliver(server.smtpPort, 10), 250);
    });
  } finally {
    imap?.close();
    await server.stop();
    await server.cleanup();
  }
});

Deno.test("quota: none configured, none advertised", async () => {
  const server = await TestServer.start();
  let imap: ImapClient | undefined;
  try {
    await server.addUser(USER, PASSWORD);
    imap = await ImapClient.login(server.imapPort, USER, PASSWORD);
    const caps = await imap.command("CAPABILITY");
    assert.doesNotMatch(caps.untagged.join("\n"), /\bQUOTA\b/);
    const root = await imap.command("GETQUOTAROOT INBOX");
    assert.ok(root.untagged.includes('* QUOTAROOT "INBOX"'), root.untagged.join("\n"));
  } finally {
    imap?.close();
    await server.stop();
    await server.cleanup();
  }
});

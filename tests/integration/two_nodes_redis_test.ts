/**
 * Two fsmtp processes on one SQLite data folder and one real redis-server: mail delivered
 * through node A is read through node B (POP3 and IMAP); an IDLE on B hears a delivery on A
 * within a second; `--sync` after FLUSHALL restores the cached STATUS figures; Redis killed
 * mid-session loses no mail and says so, and service comes back with it; a POP3 lock held on A
 * refuses B until A is SIGKILLed and its lock expires.
 */
import assert from "node:assert/strict";
import { ImapClient } from "../helpers/imap_client.ts";
import { sendMail } from "../helpers/pop3_client.ts";
import { RedisServer, waitUntil } from "../helpers/redis_server.ts";
import { assertPop3LockMovesOnKill, pop3Login } from "../helpers/two_nodes.ts";
import { TestServer } from "../helpers/test_server.ts";

const USER = "dora@test.example";
const PASSWORD = "two nodes password";
const LOCK_TTL_MS = 3_000;

function message(subject: string): string {
  return `From: sender@remote.test\r\nTo: ${USER}\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n`;
}

/** The STATUS figures B reports for INBOX. */
async function status(c: ImapClient): Promise<string> {
  const r = await c.command(
    "STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY HIGHESTMODSEQ SIZE)",
  );
  assert.equal(r.status, "OK", r.text);
  const line = r.untagged.find((l) => l.startsWith("* STATUS "));
  assert.ok(line, r.untagged.join("\n"));
  return line;
}

Deno.test("two nodes on one store and one Redis", async (t) => {
  const redis = await RedisServer.start();
  const tables = { redis: { url: redis.url, lock_ttl: `${LOCK_TTL_MS / 1000}s` } };
  const a = await TestServer.start({ nodeId: "node-a", tables });
  const b = await TestServer.start({ nodeId: "node-b", tables, shareDataOf: a.dir });
  const clients: { close(): void }[] = [];
  try {
    await a.addUser(USER, PASSWORD);
    await a.waitForOutput(/redis\.connected/);
    await b.waitForOutput(/redis\.connected/);

    await t.step("delivered through A, read through B over POP3 and IMAP", async () => {
      await sendMail(a.smtpPort, USER, message("first"));
      const { reply, client } = await pop3Login(b.pop3Port, USER, PASSWORD);
      assert.match(reply, /^\+OK/);
      assert.match(await client.command("STAT"), /^\+OK 1 \d+$/);
      const retr = await client.commandMulti("RETR 1");
      assert.ok(retr.lines.includes("Subject: first"), retr.lines.join("\n"));
      assert.match(await client.command("QUIT"), /^\+OK/);
      client.close();

      const imap = await ImapClient.login(b.imapPort, USER, PASSWORD);
      clients.push(imap);
      const r = await imap.command("SELECT INBOX");
      assert.ok(r.untagged.includes("* 1 EXISTS"), r.untagged.join("\n"));
      const f = await imap.command("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
      assert.match(f.untagged.join("\n"), /Subject: first/);
    });

    await t.step("an IDLE on B hears a delivery on A within a second", async () => {
      const imap = await ImapClient.login(b.imapPort, USER, PASSWORD);
      clients.push(imap);
      await imap.command("SELECT INBOX");
      const latencies: number[] = [];
      for (let i = 0; i < 3; i++) {
        const tag = await imap.idle();
        // From the start of the SMTP transaction: B may hear of the mail before A's 250.
        const started = performance.now();
        await sendMail(a.smtpPort, USER, message(`idle ${i}`));
        await imap.waitUntagged(new RegExp(`^\\* ${i + 2} EXISTS$`), 1_000);
        latencies.push(performance.now() - started);
        assert.equal((await imap.done(tag)).status, "OK");
      }
      console.log(`IDLE on B after a delivery on A: ${latencies.map((ms) => ms.toFixed(0))} ms`);
      assert.ok(Math.max(...latencies) < 1_000);
    });

    await t.step("--sync after FLUSHALL restores the cached STATUS figures", async () => {
      const imap = await ImapClient.login(b.imapPort, USER, PASSWORD);
      clients.push(imap);
      const before = await status(imap); // fills the cache
      assert.match(before, /MESSAGES 4/);
      const keys = () => redis.cli("--scan", "--pattern", "fsmtp:status:*");
      assert.notEqual(await keys(), "", "STATUS filled the cache");
      assert.equal(await redis.cli("FLUSHALL"), "OK");
      assert.equal(await keys(), "");
      const sync = await b.cli(["--sync"]);
      assert.equal(sync.code, 0, sync.out);
      assert.match(sync.out, /done: 1 users, 6 mailboxes, 4 messages in [\d.]+ s/);
      assert.match(sync.out, /sync: 1\/1 users/, "plain progress lines when not a terminal");
      const restored = (await keys()).split("\n").filter((k) => k !== "");
      assert.equal(restored.length, 6, "one entry per mailbox");
      const figures = await Promise.all(restored.map((k) => redis.cli("HGET", k, "messages")));
      assert.deepEqual(figures.map(Number).sort(), [0, 0, 0, 0, 0, 4]);
      assert.equal(await status(imap), before, "served from the rebuilt cache, unchanged");
      const again = await b.cli(["--sync"]);
      assert.equal(again.code, 0, "idempotent");
      assert.equal(await status(imap), before);
    });

    await t.step("a change invalidates the entry: STATUS is never stale", async () => {
      const imap = await ImapClient.login(a.imapPort, USER, PASSWORD);
      clients.push(imap);
      await sendMail(a.smtpPort, USER, message("fifth"));
      const onB = await ImapClient.login(b.imapPort, USER, PASSWORD);
      clients.push(onB);
      assert.match(await status(onB), /MESSAGES 5/);
      await imap.command("SELECT INBOX");
      await imap.command("STORE 1:* +FLAGS (\\Seen)");
      assert.match(await status(onB), /UNSEEN 0/);
    });

    await t.step(
      "Redis killed mid-session: no mail lost, clear answers, back when it returns",
      async () => {
        const imap = await ImapClient.login(b.imapPort, USER, PASSWORD);
        clients.push(imap);
        await imap.command("SELECT INBOX");
        await redis.kill();
        // Delivery goes on (the store is the record); B sees it on its next command.
        await sendMail(a.smtpPort, USER, message("during the outage"));
        const noop = await imap.command("NOOP");
        assert.ok(noop.untagged.includes("* 6 EXISTS"), noop.untagged.join("\n"));
        assert.match(await status(imap), /MESSAGES 6/);
        // POP3 needs the lock, which cannot be decided: a temporary error (RFC 3206 SYS/TEMP).
        const { reply, client } = await pop3Login(b.pop3Port, USER, PASSWORD);
        client.close();
        assert.match(reply, /^-ERR \[SYS\/TEMP\]/);
        await b.waitForOutput(/WARN +redis\.unavailable .*maildrop locks/);
        await a.waitForOutput(/WARN +redis\.unavailable .*change feed/);
        // IMAP logins still work (session counts fall back to the node's own).
        const late = await ImapClient.login(b.imapPort, USER, PASSWORD);
        clients.push(late);
        const down = await b.cli(["--test"]);
        assert.match(
          down.out,
          /^FAIL redis: cannot reach redis:\/\/127\.0\.0\.1:\d+\/0 \(redis\.url\)/m,
        );
        assert.match(down.out, /start redis-server there or correct redis\.url/);
        assert.match(down.out, /^FAIL redis round trip: skipped: Redis is not reachable/m);
        assert.equal(down.code, 1);

        await redis.restart();
        await waitUntil(
          async () => {
            const { reply, client } = await pop3Login(b.pop3Port, USER, PASSWORD);
            if (reply.startsWith("+OK")) await client.command("QUIT");
            client.close();
            return reply.startsWith("+OK");
          },
          "POP3 on B after Redis returned",
          15_000,
        );
        await b.waitForOutput(/redis\.recovered .*maildrop locks/);
        const healthy = await b.cli(["--test"]);
        assert.match(healthy.out, /^OK {3}redis: redis:\/\/127\.0\.0\.1:\d+\/0 answers \(Redis 7/m);
        assert.match(healthy.out, /^OK {3}redis round trip: SET, GET and DEL of a probe key/m);
        assert.equal(
          await redis.cli("--scan", "--pattern", "fsmtp:selftest:*"),
          "",
          "probe deleted",
        );
        // The feed is back too: an IDLE on B hears A again.
        const idler = await ImapClient.login(b.imapPort, USER, PASSWORD);
        clients.push(idler);
        await idler.command("SELECT INBOX");
        await waitUntil(
          async () => {
            // A's publisher reconnects on its own; until then a delivery is only seen on commands.
            const tag = await idler.idle();
            await sendMail(a.smtpPort, USER, message("after the outage"));
            let heard = true;
            try {
              await idler.waitUntagged(/^\* \d+ EXISTS$/, 1_000);
            } catch {
              heard = false;
            }
            await idler.done(tag);
            return heard;
          },
          "IDLE across nodes after the outage",
          20_000,
        );
        const count = await status(idler);
        const n = Number(/MESSAGES (\d+)/.exec(count)?.[1]);
        assert.ok(n >= 7, count);
      },
    );

    await t.step(
      "a POP3 lock on A refuses B until A is SIGKILLed and its lock expires",
      async () => {
        await assertPop3LockMovesOnKill(a, b, USER, PASSWORD, LOCK_TTL_MS, clients);
      },
    );
  } finally {
    for (const c of clients) c.close();
    await b.stop();
    await a.stop();
    await redis.kill();
    await b.cleanup();
    await a.cleanup();
  }
});

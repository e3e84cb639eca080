/**
 * IMAP sessions sharing a mailbox on the real server, over sockets: one session's EXPUNGE and
 * flag changes reach the other (on NOOP and in IDLE, RFC 3501 §7.4.1, §7.4.2, RFC 2177), as
 * VANISHED with QRESYNC (RFC 7162 §3.2.10); new mail over SMTP reaches an IDLE session within
 * a second; expunges are held back during FETCH/STORE/SEARCH by sequence number (RFC 3501
 * §7.4.1); UIDs only grow and UIDVALIDITY survives restarts (RFC 3501 §2.3.1.1); and POP3 and
 * IMAP work on one mailbox at once.
 */
import assert from "node:assert/strict";
import { ImapClient, numbered } from "../helpers/imap_client.ts";
import { Pop3Client } from "../helpers/pop3_client.ts";
import { RawClient } from "../helpers/raw_client.ts";
import { TestServer } from "../helpers/test_server.ts";

const USER = "carol@test.example";
const PASSWORD = "concurrency password";

/** What SELECT reported. */
interface Selected {
  exists: number;
  uidValidity: number;
  uidNext: number;
}

async function select(c: ImapClient, box = "INBOX"): Promise<Selected> {
  const r = await c.command(`SELECT ${box}`);
  assert.equal(r.status, "OK", r.text);
  const all = r.untagged.join("\n");
  return {
    exists: numbered(r.untagged, "EXISTS")[0],
    uidValidity: Number(/\[UIDVALIDITY (\d+)\]/.exec(all)?.[1]),
    uidNext: Number(/\[UIDNEXT (\d+)\]/.exec(all)?.[1]),
  };
}

/** APPENDs a message; returns its UID from APPENDUID (RFC 4315 §3). */
async function append(c: ImapClient, subject: string): Promise<number> {
  const r = await c.append("INBOX", `Subject: ${subject}\r\nFrom: a@test.example\r\n\r\nbody\r\n`);
  assert.equal(r.status, "OK", r.text);
  const m = /^APPENDUID \d+ (\d+)$/.exec(r.code ?? "");
  assert.ok(m, `no APPENDUID in ${r.code}`);
  return Number(m[1]);
}

/** UIDs of the mailbox in sequence order, as FETCH reports them. */
async function uids(c: ImapClient): Promise<number[]> {
  const r = await c.command("UID FETCH 1:* (UID)");
  assert.equal(r.status, "OK", r.text);
  return r.untagged.flatMap((l) => {
    const m = /^\* \d+ FETCH \(UID (\d+)\)$/.exec(l);
    return m ? [Number(m[1])] : [];
  });
}

/** Deletes and expunges the message with sequence number `seq` from `c`'s session. */
async function expungeSeq(c: ImapClient, seq: number): Promise<void> {
  assert.equal((await c.command(`STORE ${seq} +FLAGS.SILENT (\\Deleted)`)).status, "OK");
  const r = await c.command("EXPUNGE");
  assert.equal(r.status, "OK", r.text);
  assert.deepEqual(numbered(r.untagged, "EXPUNGE"), [seq]);
}

/** One SMTP delivery to `USER`; when the end of DATA was sent and when its 250 arrived. */
async function deliver(port: number, subject: string): Promise<{ sent: number; acked: number }> {
  const c = await RawClient.connect(port);
  try {
    await c.reply();
    for (
      const [line, code] of [
        ["EHLO sender.test", 250],
        ["MAIL FROM:<s@remote.test>", 250],
        [`RCPT TO:<${USER}>`, 250],
        ["DATA", 354],
      ] as const
    ) {
      const r = await c.command(line);
      assert.equal(r.code, code, r.text);
    }
    const sent = Date.now();
    const r = await c.command(`Subject: ${subject}\r\n\r\nhello\r\n.`);
    const acked = Date.now();
    assert.equal(r.code, 250, r.text);
    await c.command("QUIT");
    return { sent, acked };
  } finally {
    c.close();
  }
}

Deno.test("imap: two sessions on one mailbox", async (t) => {
  let server = await TestServer.start();
  const open: ImapClient[] = [];
  const connect = async () => {
    const c = await ImapClient.login(server.imapPort, USER, PASSWORD);
    open.push(c);
    return c;
  };
  try {
    await server.addUser(USER, PASSWORD);
    const a = await connect();
    const b = await connect();
    await select(a);
    for (let i = 1; i <= 6; i++) await append(a, `m${i}`);
    assert.equal((await select(b)).exists, 6);
    await a.command("NOOP");

    await t.step("A's EXPUNGE reaches B as EXPUNGE on its next NOOP", async () => {
      await expungeSeq(a, 2);
      const r = await b.command("NOOP");
      assert.deepEqual(numbered(r.untagged, "EXPUNGE"), [2]);
      assert.equal((await uids(b)).length, 5);
    });

    await t.step("A's EXPUNGE reaches B while B is in IDLE", async () => {
      const tag = await b.idle();
      await expungeSeq(a, 1);
      assert.match(await b.waitUntagged(/^\* \d+ EXPUNGE$/, 5_000), /^\* 1 EXPUNGE$/);
      assert.equal((await b.done(tag)).status, "OK");
      b.unsolicited.length = 0;
    });

    await t.step("A's flag change reaches B as FETCH (FLAGS) on NOOP and in IDLE", async () => {
      assert.equal((await a.command("STORE 1 +FLAGS (\\Flagged)")).status, "OK");
      const r = await b.command("NOOP");
      assert.ok(
        r.untagged.some((l) => /^\* 1 FETCH \(FLAGS \([^)]*\\Flagged[^)]*\)\)$/.test(l)),
        r.untagged.join(" | "),
      );
      const tag = await b.idle();
      assert.equal((await a.command("STORE 2 +FLAGS (\\Seen $Label1)")).status, "OK");
      const pushed = await b.waitUntagged(/^\* 2 FETCH /, 5_000);
      assert.match(pushed, /\\Seen/);
      assert.match(pushed, /\$Label1/);
      assert.equal((await b.done(tag)).status, "OK");
      b.unsolicited.length = 0;
    });

    await t.step("SMTP delivery reaches B in IDLE as EXISTS within 1 s of the 250", async () => {
      const afterAck: number[] = [];
      const afterData: number[] = [];
      for (let i = 0; i < 5; i++) {
        const tag = await b.idle();
        const seen = b.waitUntagged(/^\* \d+ EXISTS$/, 5_000).then(() => Date.now());
        const { sent, acked } = await deliver(server.smtpPort, `smtp-${i}`);
        const at = await seen;
        // Negative: the EXISTS came before the client had read the 250 (the push follows the
        // durable commit, which precedes the 250).
        afterAck.push(at - acked);
        afterData.push(at - sent);
        assert.equal((await b.done(tag)).status, "OK");
        b.unsolicited.length = 0;
      }
      console.log(`IDLE EXISTS after the SMTP 250 (ms): ${afterAck.join(", ")}`);
      console.log(`IDLE EXISTS after the end of DATA was sent (ms): ${afterData.join(", ")}`);
      assert.ok(Math.max(...afterAck) <= 1_000, `EXISTS came ${afterAck} ms after the 250`);
      await a.command("NOOP");
    });

    await t.step("with QRESYNC enabled, expunges arrive as VANISHED", async () => {
      const q = await connect();
      const enabled = await q.command("ENABLE QRESYNC");
      assert.ok(enabled.untagged.some((l) => /^\* ENABLED .*QRESYNC/.test(l)));
      await select(q);
      const before = await uids(q);
      const doomed = before[2];
      await expungeSeq(a, 3);
      const r = await q.command("NOOP");
      assert.deepEqual(numbered(r.untagged, "EXPUNGE"), []);
      assert.ok(r.untagged.includes(`* VANISHED ${doomed}`), r.untagged.join(" | "));
      const tag = await q.idle();
      const next = (await uids(a))[0];
      await expungeSeq(a, 1);
      assert.equal(await q.waitUntagged(/^\* VANISHED /, 5_000), `* VANISHED ${next}`);
      assert.equal((await q.done(tag)).status, "OK");
      await b.command("NOOP");
    });

    await t.step(
      "FETCH, STORE and SEARCH by number hold expunges back; NOOP sends them",
      async () => {
        const seen = await uids(b);
        const count = seen.length;
        // A expunges B's message 2 and flags B's last message, both before B's commands.
        assert.equal(
          (await a.command(`UID STORE ${seen.at(-1)} +FLAGS (\\Answered)`)).status,
          "OK",
        );
        await expungeSeq(a, 2);
        const fetch = await b.command("FETCH 1:* (UID)");
        assert.deepEqual(numbered(fetch.untagged, "EXPUNGE"), [], fetch.untagged.join(" | "));
        // The flag change was pulled meanwhile, at the sequence number B still uses.
        assert.ok(
          fetch.untagged.some((l) => new RegExp(`^\\* ${count} FETCH .*\\\\Answered`).test(l)),
          fetch.untagged.join(" | "),
        );
        const search = await b.command("SEARCH ALL");
        assert.deepEqual(numbered(search.untagged, "EXPUNGE"), []);
        const store = await b.command(`STORE ${count} -FLAGS (\\Answered)`);
        assert.deepEqual(numbered(store.untagged, "EXPUNGE"), []);
        assert.ok(store.untagged.some((l) => l.startsWith(`* ${count} FETCH `)));
        const noop = await b.command("NOOP");
        assert.deepEqual(numbered(noop.untagged, "EXPUNGE"), [2]);
        assert.equal((await uids(b)).length, count - 1);
        await a.command("NOOP");
      },
    );

    // RFC 2180 §4.1: a FETCH by number of a message another session expunged (not yet
    // reported) gets its data, or the others' and a tagged NO (RFC 5530 [EXPUNGEISSUED]).
    await t.step({
      name: "FETCH of a message expunged elsewhere: its data, or a tagged NO (RFC 2180 §4.1)",
      fn: async () => {
        await b.command("NOOP");
        await expungeSeq(a, 2);
        const r = await b.command("FETCH 2 (BODY.PEEK[])");
        const served = r.untagged.some((l) => /^\* 2 FETCH \(.*BODY\[\] \{\d+\}/s.test(l));
        assert.ok(served || r.status === "NO", `${r.status} [${r.code}] ${r.text}`);
        if (!served) assert.equal(r.code, "EXPUNGEISSUED");
        await b.command("NOOP");
        await a.command("NOOP");
      },
    });

    await t.step("UID FETCH may send the expunges at once (RFC 3501 §7.4.1)", async () => {
      const count = (await uids(b)).length;
      await expungeSeq(a, 1);
      const r = await b.command("UID FETCH 1:* (FLAGS)");
      assert.equal(r.status, "OK");
      assert.deepEqual(numbered(r.untagged, "EXPUNGE"), [1], r.untagged.join(" | "));
      assert.equal((await uids(b)).length, count - 1);
      const noop = await b.command("NOOP");
      assert.deepEqual(numbered(noop.untagged, "EXPUNGE"), [], "an expunge was sent twice");
      await a.command("NOOP");
    });

    let lastUids: number[] = [];
    await t.step("UIDs strictly increase and are never reused after an expunge", async () => {
      const before = await uids(a);
      assert.ok(before.every((u, i) => i === 0 || u > before[i - 1]), `${before}`);
      const top = before.at(-1)!;
      await expungeSeq(a, before.length);
      const appended = await append(a, "after-expunge");
      assert.ok(appended > top, `APPEND got UID ${appended} after ${top} was expunged`);
      await deliver(server.smtpPort, "after-expunge-smtp");
      await a.command("NOOP");
      lastUids = await uids(a);
      assert.ok(lastUids.every((u, i) => i === 0 || u > lastUids[i - 1]), `${lastUids}`);
      assert.ok(!lastUids.includes(top));
      assert.ok(lastUids.at(-1)! > appended);
    });

    await t.step("UIDVALIDITY and UIDs survive a restart and a SIGKILL", async () => {
      const first = await select(a);
      for (const c of open.splice(0)) c.close();
      await server.stop();
      server = await TestServer.start({ dir: server.dir });
      const c1 = await connect();
      const second = await select(c1);
      assert.equal(second.uidValidity, first.uidValidity);
      assert.equal(second.uidNext, first.uidNext);
      assert.deepEqual(await uids(c1), lastUids);
      const fresh = await append(c1, "after-restart");
      assert.ok(fresh >= first.uidNext);
      for (const c of open.splice(0)) c.close();
      await server.kill();
      server = await TestServer.start({ dir: server.dir });
      const c2 = await connect();
      const third = await select(c2);
      assert.equal(third.uidValidity, first.uidValidity);
      assert.deepEqual(await uids(c2), [...lastUids, fresh]);
      assert.ok(await append(c2, "after-kill") > fresh);
    });
  } finally {
    for (const c of open) c.close();
    await server.stop();
    await server.cleanup();
  }
});

Deno.test("imap: POP3 and IMAP on one mailbox at once", async (t) => {
  const server = await TestServer.start();
  const imap: ImapClient[] = [];
  let pop: Pop3Client | undefined;
  try {
    await server.addUser(USER, PASSWORD);
    for (let i = 1; i <= 3; i++) await deliver(server.smtpPort, `p${i}`);
    const a = await ImapClient.login(server.imapPort, USER, PASSWORD);
    imap.push(a);
    await select(a);
    pop = await Pop3Client.open(server.pop3Port);
    const p = pop;
    assert.match(await p.login(USER, PASSWORD), /^\+OK /);
    assert.match(await p.command("STAT"), /^\+OK 3 \d+$/);

    await t.step("IMAP works while POP3 holds its lock", async () => {
      const b = await ImapClient.login(server.imapPort, USER, PASSWORD);
      imap.push(b);
      assert.equal((await select(b)).exists, 3);
      await append(b, "from-imap");
      const fetch = await b.command("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
      assert.equal(fetch.status, "OK");
      assert.equal(numbered(fetch.untagged, "FETCH").length, 4);
      assert.equal((await b.command("STORE 4 +FLAGS (\\Seen)")).status, "OK");
    });

    await t.step("POP3 keeps its snapshot: new mail waits for its next session", async () => {
      await deliver(server.smtpPort, "p4");
      assert.match(await p.command("STAT"), /^\+OK 3 \d+$/);
      const list = await p.commandMulti("UIDL");
      assert.equal(list.lines.length, 3);
    });

    await t.step("a second POP3 session is refused while the first holds the lock", async () => {
      const other = await Pop3Client.open(server.pop3Port);
      try {
        assert.match(await other.login(USER, PASSWORD), /^-ERR \[IN-USE\]/);
      } finally {
        other.close();
      }
    });

    await t.step("POP3 DELE + QUIT shows up in IMAP as EXPUNGE", async () => {
      await a.command("NOOP");
      const tag = await a.idle();
      assert.match(await p.command("DELE 1"), /^\+OK/);
      assert.match(await p.command("DELE 3"), /^\+OK/);
      assert.match(await p.command("QUIT"), /^\+OK/);
      assert.equal(await p.closedByServer(), true);
      const first = await a.waitUntagged(/^\* \d+ EXPUNGE$/, 5_000);
      const second = await a.waitUntagged(/^\* \d+ EXPUNGE$/, 5_000);
      // Highest first keeps the other number valid (3 then 1); 1 then 2 is just as correct.
      assert.ok(
        [["* 3 EXPUNGE", "* 1 EXPUNGE"], ["* 1 EXPUNGE", "* 2 EXPUNGE"]].some(([x, y]) =>
          x === first && y === second
        ),
        `${first}, ${second}`,
      );
      assert.equal((await a.done(tag)).status, "OK");
      const subjects = await a.command("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
      const text = subjects.untagged.join("\n");
      assert.ok(!/Subject: p1\b/.test(text) && !/Subject: p3\b/.test(text), text);
      assert.match(text, /Subject: p2/);
      assert.match(text, /Subject: from-imap/);
      assert.match(text, /Subject: p4/);
    });

    await t.step("the next POP3 session sees what IMAP left", async () => {
      const next = await Pop3Client.open(server.pop3Port);
      try {
        assert.match(await next.login(USER, PASSWORD), /^\+OK /);
        assert.match(await next.command("STAT"), /^\+OK 3 \d+$/);
        assert.match(await next.command("QUIT"), /^\+OK/);
      } finally {
        next.close();
      }
    });
  } finally {
    pop?.close();
    for (const c of imap) c.close();
    await server.stop();
    await server.cleanup();
  }
});

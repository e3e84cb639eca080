/**
 * The npm IMAP client imapflow (run under Deno's npm compatibility) against the real server
 * over implicit TLS, the certificate verified for mx.test.example. imapflow ENABLEs
 * CONDSTORE, QRESYNC and IMAP4rev2, so this also drives the server's IMAP4rev2 behaviour.
 * Checked: IDLE reports new mail within a second of SMTP's 250; FETCH of envelope,
 * bodyStructure and source (byte-identical to the store); flags added; MOVE with its UID map;
 * and a QRESYNC reopen reporting what another connection changed and expunged meanwhile
 * (VANISHED (EARLIER) and FETCH FLAGS during SELECT, RFC 7162 §3.2.5).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ImapFlow } from "imapflow";
import { type TestServer } from "../helpers/test_server.ts";
import { readInbox, readMailbox } from "../helpers/read_mail.ts";
import { sendMail, startServer } from "../helpers/pop3_client.ts";

const USER = "flow@test.example";
const PASSWORD = "imapflow e2e password";
const enc = new TextEncoder();

const PLAIN = enc.encode("From: Ann <ann@remote.test>\r\nSubject: first\r\n\r\nhello\r\n");
const ALTERNATIVE = enc.encode(
  "From: =?UTF-8?Q?J=C3=B6rg?= <joerg@remote.test>\r\nTo: flow@test.example\r\n" +
    "Subject: =?UTF-8?B?R3LDvMOfZSDinIk=?=\r\nMIME-Version: 1.0\r\n" +
    'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n--b1\r\n' +
    "Content-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n--b1\r\n" +
    "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Grüße</p>\r\n--b1--\r\n",
);
const IDLE_MAIL = enc.encode("From: idle@remote.test\r\nSubject: while idling\r\n\r\nping\r\n");

/** Debug messages imapflow logged, newest last (it logs "Initiated IDLE" on the server's "+"). */
const logged: string[] = [];
const note = (entry: { msg?: string }) => {
  if (entry.msg) logged.push(entry.msg);
};
const LOGGER = { debug: note, info: note, warn: note, error: note };

/** A logged-in imapflow client verifying the server's certificate. */
async function connect(server: TestServer, qresync = false): Promise<ImapFlow> {
  const client = new ImapFlow({
    host: "127.0.0.1",
    port: server.imapsPort,
    secure: true,
    servername: "mx.test.example",
    tls: { ca: [await Deno.readTextFile(join(server.dir, "keys", "cert.pem"))] },
    auth: { user: USER, pass: PASSWORD },
    logger: LOGGER,
    qresync,
  });
  await client.connect();
  return client;
}

/** Resolves with the first `event` emitted by `client`, or rejects after `ms`. */
function nextEvent<T>(client: ImapFlow, event: string, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    client.once(event, (data: T) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

Deno.test({
  name: "imapflow end to end",
  // imapflow keeps a socket-level timer or two alive briefly after logout.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const server = await startServer();
    const clients: ImapFlow[] = [];
    const open = async (qresync = false) => {
      const c = await connect(server, qresync);
      clients.push(c);
      return c;
    };
    try {
      await server.addUser(USER, PASSWORD);
      await sendMail(server.smtpPort, USER, PLAIN);
      await sendMail(server.smtpPort, USER, ALTERNATIVE);

      const client = await open();
      await t.step("login over verified TLS; IMAP4rev2 and CONDSTORE enabled", async () => {
        assert.ok(client.enabled.has("IMAP4REV2"), [...client.enabled].join(" "));
        assert.ok(client.enabled.has("CONDSTORE"));
        const box = await client.mailboxOpen("INBOX");
        assert.equal(box.exists, 2);
        assert.ok(box.uidValidity > 0n);
        assert.ok(box.highestModseq !== undefined && box.highestModseq > 0n);
      });

      await t.step("IDLE: new mail is reported within 1 s of SMTP's 250", async () => {
        const exists = nextEvent<{ count: number; prevCount: number }>(client, "exists", 10_000);
        logged.length = 0;
        const idling = client.idle();
        // Mail must arrive while the server is in IDLE: after its "+" continuation.
        for (
          const deadline = Date.now() + 5000;
          !logged.includes("Initiated IDLE, waiting for server input");
        ) {
          assert.ok(Date.now() < deadline, "the server never acknowledged IDLE");
          await new Promise((r) => setTimeout(r, 10));
        }
        await sendMail(server.smtpPort, USER, IDLE_MAIL);
        const accepted = performance.now();
        const event = await exists;
        const late = performance.now() - accepted;
        assert.ok(late < 1000, `EXISTS came ${late.toFixed(0)} ms after the 250`);
        assert.deepEqual(event, { path: "INBOX", count: 3, prevCount: 2 });
        // Any command ends the IDLE (imapflow sends DONE first).
        await client.noop();
        await idling;
      });

      await t.step("fetch envelope, bodyStructure and source (byte-identical)", async () => {
        const stored = await readInbox(server.dbPath, USER, PASSWORD);
        const got = [];
        for await (
          const m of client.fetch("1:*", {
            uid: true,
            envelope: true,
            bodyStructure: true,
            source: true,
            flags: true,
          })
        ) got.push(m);
        assert.deepEqual(got.map((m) => m.uid), [1, 2, 3]);
        for (const [i, m] of got.entries()) {
          assert.deepEqual(new Uint8Array(m.source!), stored[i], `UID ${m.uid} source`);
        }
        assert.equal(got[0].envelope?.subject, "first");
        assert.deepEqual(got[0].envelope?.from, [{ name: "Ann", address: "ann@remote.test" }]);
        assert.equal(got[1].envelope?.subject, "Grüße ✉", "RFC 2047 subject decoded");
        assert.deepEqual(got[1].envelope?.from, [{ name: "Jörg", address: "joerg@remote.test" }]);
        const structure = got[1].bodyStructure!;
        assert.equal(structure.type, "multipart/alternative");
        assert.deepEqual(
          structure.childNodes?.map((c) => [c.part, c.type, c.parameters?.charset]),
          [["1", "text/plain", "utf-8"], ["2", "text/html", "utf-8"]],
        );
        assert.equal(got[0].bodyStructure?.type, "text/plain");
        const part = await client.download("2", "1", { uid: true });
        assert.ok(part.content);
        let text = "";
        const decoder = new TextDecoder();
        for await (const chunk of part.content) text += decoder.decode(chunk, { stream: true });
        assert.equal(text + decoder.decode(), "Grüße", "part 1, transfer- and charset-decoded");
      });

      await t.step("messageFlagsAdd: \\Flagged and a keyword, seen by FETCH", async () => {
        assert.equal(
          await client.messageFlagsAdd("1", ["\\Flagged", "$Work"], { uid: true }),
          true,
        );
        const m = await client.fetchOne("1", { flags: true, uid: true }, { uid: true });
        assert.ok(m);
        assert.deepEqual([...m.flags!].sort(), ["$Work", "\\Flagged"]);
        const unflagged = await client.fetchOne("2", { flags: true }, { uid: true });
        assert.ok(unflagged);
        assert.deepEqual([...unflagged.flags!], []);
      });

      await t.step("messageMove to Archive (MOVE) with the UID map", async () => {
        const [moved] = await readInbox(server.dbPath, USER, PASSWORD).then((all) => [all[2]]);
        const expunged = nextEvent<{ seq: number }>(client, "expunge", 5000);
        const result = await client.messageMove("3", "Archive", { uid: true });
        assert.ok(result);
        assert.equal(result.destination, "Archive");
        assert.deepEqual([...(result.uidMap ?? new Map())], [[3, 1]]);
        assert.equal((await expunged).seq, 3);
        assert.equal(client.mailbox && client.mailbox.exists, 2);
        assert.deepEqual(await readMailbox(server.dbPath, USER, PASSWORD, "Archive"), [moved]);
        const status = await client.status("Archive", { messages: true, uidNext: true });
        assert.ok(status);
        assert.equal(status.messages, 1);
        assert.equal(status.uidNext, 2);
      });

      await t.step("QRESYNC: a reopen reports flags changed and messages expunged", async () => {
        await sendMail(server.smtpPort, USER, PLAIN); // UID 4
        await sendMail(server.smtpPort, USER, PLAIN); // UID 5
        const first = await open(true);
        assert.ok(first.enabled.has("QRESYNC"));
        const before = await first.mailboxOpen("INBOX");
        assert.equal(before.exists, 4);
        const saved = { uidValidity: before.uidValidity, changedSince: before.highestModseq };
        await first.logout();

        // Another connection changes things while the first is away.
        const other = await open();
        await other.mailboxOpen("INBOX");
        await other.messageFlagsAdd("2", ["\\Answered"], { uid: true });
        assert.equal(await other.messageDelete("4", { uid: true }), true);
        await other.logout();

        const again = await open(true);
        const expunges: { uid?: number; vanished: boolean; earlier?: boolean }[] = [];
        const flags: { uid?: number; flags: Set<string> }[] = [];
        again.on("expunge", (e) => expunges.push(e));
        again.on("flags", (e) => flags.push(e));
        const box = await again.mailboxOpen("INBOX", saved);
        // imapflow marks a SELECT whose QRESYNC parameters the server took (not in its types).
        assert.ok("qresync" in box && box.qresync === true, "QRESYNC parameters accepted");
        assert.equal(box.exists, 3);
        assert.ok(box.highestModseq! > saved.changedSince!);
        assert.deepEqual(expunges, [{ path: "INBOX", uid: 4, vanished: true, earlier: true }]);
        assert.deepEqual(flags.map((f) => [f.uid, [...f.flags].sort()]), [[2, ["\\Answered"]]]);

        // Nothing changed since: the same reopen reports nothing.
        const quiet = await open(true);
        let events = 0;
        quiet.on("expunge", () => events++);
        quiet.on("flags", () => events++);
        await quiet.mailboxOpen("INBOX", {
          uidValidity: box.uidValidity,
          changedSince: box.highestModseq,
        });
        assert.equal(events, 0);
      });
    } finally {
      for (const c of clients) await c.logout().catch(() => {});
      await server.stop();
      await server.cleanup();
    }
  },
});

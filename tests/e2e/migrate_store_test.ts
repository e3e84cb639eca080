/**
 * `fsmtp --migrate-store` for real: a SQLite installation built by the running server (users
 * added by the CLI, mail delivered over SMTP, flags set, a folder made and subscribed, a message
 * copied and one expunged over IMAP, a remote message queued after a failed attempt) is copied
 * into a fresh Cassandra keyspace; fsmtp then runs on that keyspace (with a real redis-server)
 * and IMAP shows the same folders, subscriptions, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, UIDs,
 * flags, sizes, dates and bodies, mail still opens with the password (keys wrapped either way),
 * new mail continues the UIDs, the queue lists the same message and recipient state, and the
 * HTTP API's token reads the same delivery status (the revoked token stays revoked). Running
 * it again copies nothing; a keyspace holding another installation's user is refused.
 *
 * Runs when FSMTP_TEST_CASSANDRA is "host:port" (FSMTP_TEST_CASSANDRA_DC names the data centre,
 * "datacenter1" when unset); otherwise reported as ignored with a line saying why.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { curl, type CurlAnswer, json } from "../helpers/http_client.ts";
import { ImapClient, quote } from "../helpers/imap_client.ts";
import { sendMail } from "../helpers/pop3_client.ts";
import { RedisServer } from "../helpers/redis_server.ts";
import { waitFor } from "../helpers/outbound.ts";
import { freePort, runCli, TestServer } from "../helpers/test_server.ts";
import { CqlSession } from "../../src/store/cassandra/session.ts";

const TARGET = Deno.env.get("FSMTP_TEST_CASSANDRA");
const DC = Deno.env.get("FSMTP_TEST_CASSANDRA_DC") ?? "datacenter1";
const ANN = "ann@test.example";
const BEN = "ben@test.example";
const PW = "migration password ann";
const BEN_PW = "migration password ben";
const PEER_DNS = {
  mx: { "peer.example": [[10, "mx.peer.example"]] as [number, string][] },
  a: { "mx.peer.example": "127.0.0.1" },
};

if (!TARGET) {
  console.log(
    "migrate_store_test: ignored: no Cassandra to migrate into; set FSMTP_TEST_CASSANDRA=" +
      "host:port (e.g. 127.0.0.1:9042) to run it",
  );
}

function message(subject: string, text: string): string {
  return `From: <sender@remote.test>\r\nTo: <${ANN}>\r\nSubject: ${subject}\r\n` +
    `Message-ID: <${crypto.randomUUID()}@remote.test>\r\n\r\n${text}\r\n`;
}

/** Runs an IMAP command that must succeed; returns its untagged responses. */
async function ok(c: ImapClient, command: string): Promise<string[]> {
  const r = await c.command(command);
  assert.equal(r.status, "OK", `${command} → ${r.status} ${r.text}`);
  return r.untagged;
}

/** The mailbox name at the end of a LIST/LSUB line. */
function listedName(line: string): string {
  const name = line.slice(line.lastIndexOf(' "/" ') + 5);
  return name.startsWith('"') ? JSON.parse(name) : name;
}

/**
 * What a client sees of one user: LIST and LSUB, and per mailbox the IMAP figures of SELECT
 * (CONDSTORE) and every message's UID, flags, modseq, size, date and, with `bodies`, content.
 */
async function snapshot(port: number, user: string, pw: string, bodies: boolean) {
  const c = await ImapClient.login(port, user, pw);
  try {
    await ok(c, "ENABLE CONDSTORE");
    const list = (await ok(c, 'LIST "" "*"')).sort();
    const lsub = (await ok(c, 'LSUB "" "*"')).sort();
    const boxes: Record<string, string[]> = {};
    for (const name of list.map(listedName)) {
      const figures = (await ok(c, `SELECT ${quote(name)}`))
        .filter((l) => /UIDVALIDITY|UIDNEXT|HIGHESTMODSEQ|EXISTS/.test(l)).sort();
      const items = `UID FLAGS MODSEQ RFC822.SIZE INTERNALDATE${bodies ? " BODY.PEEK[]" : ""}`;
      const fetched = figures.some((l) => /^\* 0 EXISTS/.test(l))
        ? []
        : await ok(c, `UID FETCH 1:* (${items})`);
      // \Recent belongs to a session (RFC 3501 §2.3.2), not to the store: left out.
      boxes[name] = [...figures, ...fetched.map((l) => l.replace(/ ?\\Recent/, ""))];
    }
    return { list, lsub, boxes };
  } finally {
    await c.command("LOGOUT").catch(() => {});
    c.close();
  }
}

/** A new API token of Ann's, made with `fsmtp --token`. */
async function makeToken(server: TestServer): Promise<string> {
  const r = await server.cli(["--token", ANN]);
  assert.equal(r.code, 0, r.out);
  return /fsmtp_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/.exec(r.out)![0];
}

/** `GET /api/v1/messages/{id}` with `token`. */
function status(port: number, token: string, id: string): Promise<CurlAnswer> {
  return curl([
    "-H",
    `Authorization: Bearer ${token}`,
    `http://127.0.0.1:${port}/api/v1/messages/${id}`,
  ]);
}

/** `--queue` with the spans of time (age, next attempt) left out: they move on. */
async function queueListing(config: string): Promise<string> {
  const r = await runCli(["--queue", "--config", config]);
  assert.equal(r.code, 0, r.out);
  return r.out.replace(/\b\d+[smhd](\d+[smh])?\b/g, "T");
}

Deno.test({
  name: "--migrate-store: a SQLite installation moves into Cassandra, clients see no change",
  ignore: !TARGET,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const keyspace = `fsmtp_mig_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
    const redis = await RedisServer.start();
    const outboundPort = freePort(); // nothing listens: the remote message stays queued
    const httpPort = freePort();
    const http = { listen: `127.0.0.1:${httpPort}` };
    const server = await TestServer.start({
      dns: PEER_DNS,
      tables: { outbound: { port: outboundPort }, http },
    });
    let token = "";
    let revokedToken = "";
    let messageId = "";
    const cassandraTables = {
      store: { backend: "cassandra" },
      cassandra: {
        contact_points: [TARGET!],
        local_dc: DC,
        keyspace,
        replication_factor: 1,
      },
      redis: { url: redis.url },
    };
    let node: TestServer | undefined;
    try {
      await t.step("build the SQLite installation with the running server", async () => {
        await server.addUser(ANN, PW);
        await server.addUser(BEN, BEN_PW);
        for (let i = 1; i <= 4; i++) {
          await sendMail(server.smtpPort, ANN, message(`note ${i}`, `body ${i} ünïcode`));
        }
        await sendMail(server.smtpPort, BEN, message("for ben", "ben's unread mail"));
        const c = await ImapClient.login(server.imapPort, ANN, PW);
        await ok(c, "CREATE Projects/2026");
        await ok(c, "SUBSCRIBE Projects/2026");
        await ok(c, "UNSUBSCRIBE Junk");
        await ok(c, "SELECT INBOX");
        await ok(c, "UID STORE 1 +FLAGS (\\Seen \\Flagged $Important)");
        await ok(c, "UID COPY 1:2 Projects/2026");
        await ok(c, "UID STORE 3 +FLAGS (\\Deleted)");
        await ok(c, "EXPUNGE");
        await ok(c, "LOGOUT");
        c.close();
        // The remote message comes through the HTTP API, so it has a delivery status; one of
        // Ann's two tokens is revoked before the migration.
        token = await makeToken(server);
        const revoked = await makeToken(server);
        const gone = await server.cli([
          "--token",
          ANN,
          "--revoke",
          /fsmtp_([0-9a-f]{16})_/.exec(revoked)![1],
        ]);
        assert.equal(gone.code, 0, gone.out);
        const sent = await curl([
          "-H",
          `Authorization: Bearer ${token}`,
          "-H",
          "Content-Type: application/json",
          "--data-binary",
          "@-",
          `http://127.0.0.1:${httpPort}/api/v1/messages`,
        ], JSON.stringify({ from: ANN, to: "carl@peer.example", subject: "out", text: "queued" }));
        assert.equal(sent.status, 202, sent.body);
        messageId = json<{ id: string }>(sent).id;
        revokedToken = revoked;
        await waitFor(
          "a failed attempt at carl@peer.example",
          async () => /1 attempt/.test(await queueListing(server.configPath)) || undefined,
        );
      });

      const annBefore = await snapshot(server.imapPort, ANN, PW, true);
      const benBefore = await snapshot(server.imapPort, BEN, BEN_PW, false);
      const queueBefore = await queueListing(server.configPath);
      const statusBefore = await status(httpPort, token, messageId);
      assert.equal(statusBefore.status, 200, statusBefore.body);
      assert.match(statusBefore.body, /"status": "deferred"/);
      assert.equal(annBefore.boxes["INBOX"].filter((l) => / FETCH /.test(l)).length, 3);
      assert.ok(!annBefore.lsub.some((l) => l.endsWith(" Junk")));
      assert.equal(await server.stop(), 0);

      const config = join(server.dir, "cassandra.toml");
      await Deno.writeTextFile(
        config,
        (await Deno.readTextFile(server.configPath)) +
          Object.entries(cassandraTables).map(([name, entries]) =>
            `[${name}]\n` +
            Object.entries(entries).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join("\n")
          ).join("\n") + "\n",
      );

      await t.step("--migrate-store copies everything and says what to do next", async () => {
        const r = await runCli(["--migrate-store", "--config", config]);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /migrate: user 1\/2 ann@test\.example: 8 mailboxes, 6 messages copied/);
        assert.match(r.out, /migrate: queue: 1 of 1 queued messages copied/);
        assert.match(r.out, /migrate: API: 1 tokens copied, 0 revoked; 1 of 1 delivery statuses/);
        // Ann: 3 in INBOX, 2 in the folder, 1 in Sent (the submitted copy); Ben: 1. Ann's
        // mailboxes: INBOX, the five defaults, Projects/2026 and its parent Projects.
        assert.match(
          r.out,
          /done: 2 users, 14 mailboxes, 7 messages copied \(0 already there, 0 with newer flags\), 1 queued/,
        );
        assert.match(r.out, /backend = "cassandra"/);
      });

      await t.step("a second run copies nothing", async () => {
        const r = await runCli(["--migrate-store", "--config", config]);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /done: 2 users, 14 mailboxes, 0 messages copied \(7 already there/);
        assert.match(r.out, /0 queued, 0 API tokens, 0 delivery statuses/);
      });

      node = await TestServer.start({
        dir: server.dir,
        dns: PEER_DNS,
        tables: { outbound: { port: outboundPort }, http, ...cassandraTables },
      });

      await t.step("IMAP on Cassandra shows exactly what SQLite showed", async () => {
        assert.deepEqual(await snapshot(node!.imapPort, ANN, PW, true), annBefore);
        assert.deepEqual(await snapshot(node!.imapPort, BEN, BEN_PW, false), benBefore);
      });

      await t.step("unread mail (key still wrapped by RSA) opens with the password", async () => {
        const c = await ImapClient.login(node!.imapPort, BEN, BEN_PW);
        await ok(c, "SELECT INBOX");
        const fetched = (await ok(c, "UID FETCH 1 BODY[]")).join("\n");
        assert.match(fetched, /ben's unread mail/);
        await ok(c, "LOGOUT");
        c.close();
      });

      await t.step("new mail continues the UIDs; the queue is the same", async () => {
        const before = annBefore.boxes["INBOX"].find((l) => /UIDNEXT/.test(l))!;
        const uidNext = Number(/UIDNEXT (\d+)/.exec(before)![1]);
        await sendMail(node!.smtpPort, ANN, message("after the move", "on cassandra"));
        const c = await ImapClient.login(node!.imapPort, ANN, PW);
        await ok(c, "SELECT INBOX");
        const fetched = (await ok(c, `UID FETCH ${uidNext} BODY.PEEK[]`)).join("\n");
        assert.match(fetched, /on cassandra/);
        await ok(c, "LOGOUT");
        c.close();
        assert.equal(await queueListing(node!.configPath), queueBefore);
      });

      await t.step("the API token works on Cassandra, the revoked one does not", async () => {
        const after = await status(httpPort, token, messageId);
        assert.equal(after.status, 200, after.body);
        assert.deepEqual(json(after), json(statusBefore));
        assert.equal((await status(httpPort, revokedToken, messageId)).status, 401);
      });

      await t.step("a keyspace holding another installation's user is refused", async () => {
        await node!.stop();
        node = undefined;
        const other = await Deno.makeTempDir({ prefix: "fsmtp-mig-other-" });
        try {
          const otherConfig = join(other, "fsmtp.toml");
          await Deno.writeTextFile(
            otherConfig,
            (await Deno.readTextFile(config))
              .replace(/^data_dir = .*$/m, `data_dir = ${JSON.stringify(join(other, "data"))}`)
              .replace(/^keys_dir = .*$/m, `keys_dir = ${JSON.stringify(join(other, "keys"))}`)
              .replace(/^backend = .*$/m, 'backend = "sqlite"'),
          );
          const add = await runCli(
            ["--adduser", ANN, "--password-stdin", "--config", otherConfig],
            "another password\n",
          );
          assert.equal(add.code, 0, add.out);
          const migrate = otherConfig + ".cassandra.toml";
          await Deno.writeTextFile(
            migrate,
            (await Deno.readTextFile(otherConfig)).replace(
              /^backend = .*$/m,
              'backend = "cassandra"',
            ),
          );
          const refused = await runCli(["--migrate-store", "--config", migrate]);
          assert.equal(refused.code, 1, refused.out);
          assert.match(refused.out, /refused, nothing written: .*ann@test\.example \(other key/);
          assert.match(refused.out, /--force/);
        } finally {
          await Deno.remove(other, { recursive: true });
        }
        // The keyspace still opens Ann's mail with her own password.
        const r = await runCli(["--migrate-store", "--config", config]);
        assert.match(r.out, /0 messages copied \(7 already there/);
      });
    } finally {
      await node?.stop();
      await server.stop().catch(() => 0);
      await redis.kill();
      await server.cleanup();
      const session = new CqlSession({
        contactPoints: [TARGET!],
        localDc: DC,
        keyspace,
        replicationFactor: 1,
        consistency: "LOCAL_QUORUM",
      });
      try {
        await session.connect();
        await session.run(`DROP KEYSPACE IF EXISTS ${keyspace}`);
      } finally {
        await session.close();
      }
    }
  },
});

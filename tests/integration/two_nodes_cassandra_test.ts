/**
 * Two fsmtp processes (nodes A and B, each with its own data and keys folders) on one real
 * Cassandra keyspace and one real redis-server: mail delivered through A is read through B over
 * POP3 and IMAP, byte for byte; a POP3 session on A makes B answer [IN-USE] until A is SIGKILLed
 * and its lock expires; an IDLE on B hears a delivery on A within a second; 500 messages queued
 * for a remote domain while both nodes run reach a counting MTA exactly once each, and when A is
 * SIGKILLed mid-delivery none is lost, whether A comes back or (with a short `outbound.lease`)
 * B takes over A's messages once A's leases run out.
 *
 * Exactly once cannot hold across a SIGKILL: a node records the outcome of a connection's
 * messages after the remote's 250s, so messages the MTA accepted from A but A had not recorded
 * stay leased to A and are sent again when A comes back (the duplicate RFC 1047 describes;
 * RFC 5321 §6.1 forbids losing mail, not sending it twice). What is asserted: nothing lost, and
 * every duplicate one of those in-flight messages, sent twice at most. B delivers everything
 * else meanwhile; A's leases last the default `outbound.lease` of 10 minutes, so the restarted A
 * (same node_id) delivers what it held, not B after the leases expire. With a lease of
 * {@link SHORT_LEASE} and A not restarted, B sends what A held, never before A's lease on it ran
 * out, and the same duplicates are allowed.
 *
 * Runs when FSMTP_TEST_CASSANDRA is "host:port" (FSMTP_TEST_CASSANDRA_DC names the data centre,
 * "datacenter1" when unset); otherwise reported as ignored with a line saying why. Each test
 * works in a keyspace of its own, dropped at the end.
 */
import assert from "node:assert/strict";
import { ImapClient, literalsOf } from "../helpers/imap_client.ts";
import { sendMail } from "../helpers/pop3_client.ts";
import { RawClient } from "../helpers/raw_client.ts";
import { withoutTrace } from "../helpers/read_mail.ts";
import { RedisServer, waitUntil } from "../helpers/redis_server.ts";
import { assertPop3LockMovesOnKill, pop3Login } from "../helpers/two_nodes.ts";
import { TestServer, type TestServerOptions } from "../helpers/test_server.ts";
import { CqlSession, num, optStr, type Row, str } from "../../src/store/cassandra/session.ts";

const TARGET = Deno.env.get("FSMTP_TEST_CASSANDRA");
const DC = Deno.env.get("FSMTP_TEST_CASSANDRA_DC") ?? "datacenter1";
const USER = "dora@test.example";
const PASSWORD = "two nodes password";
const LOCK_TTL_MS = 3_000;
const QUEUED = 500;
/** A is SIGKILLed once the MTA has accepted this many of its messages. */
const KILL_AFTER = 40;
/** `outbound.lease` of both nodes in the take-over step. */
const SHORT_LEASE = "12s";
const SHORT_LEASE_MS = 12_000;
/**
 * How long after the last of A's leases ran out B may take to have sent everything: B's
 * runner wakes when a lease it waits for ends (not after its 60 s idle sleep), then sends.
 */
const TAKEOVER_SLACK_MS = 20_000;
const PEER_DNS = {
  mx: { "peer.example": [[10, "mx.peer.example"]] as [number, string][] },
  a: { "mx.peer.example": "127.0.0.1" },
};
const latin1 = new TextDecoder("latin1");
const encoder = new TextEncoder();

/** A cluster keyspace of its own for one test, and the config tables pointing at it. */
class Keyspace {
  readonly name = `fsmtp_2n_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  #session: CqlSession | undefined;

  /** `[store]`, `[cassandra]` and `[redis]` for a node on this keyspace. */
  tables(redis: RedisServer): NonNullable<TestServerOptions["tables"]> {
    return {
      store: { backend: "cassandra" },
      cassandra: {
        contact_points: [TARGET ?? ""],
        local_dc: DC,
        keyspace: this.name,
        replication_factor: 1,
      },
      redis: { url: redis.url, lock_ttl: `${LOCK_TTL_MS / 1000}s` },
    };
  }

  /** A session on the keyspace (made once the first node has created it). */
  async session(): Promise<CqlSession> {
    if (!this.#session) {
      const session = new CqlSession(this.#options(), this.name);
      await session.connect();
      this.#session = session;
    }
    return this.#session;
  }

  /** Closes the session and drops the keyspace. */
  async drop(): Promise<void> {
    await this.#session?.close();
    const session = new CqlSession(this.#options());
    try {
      await session.connect();
      await session.run(`DROP KEYSPACE IF EXISTS ${this.name}`);
    } finally {
      await session.close();
    }
  }

  #options() {
    return {
      contactPoints: [TARGET ?? ""],
      localDc: DC,
      keyspace: this.name,
      replicationFactor: 1,
      consistency: "LOCAL_QUORUM" as const,
    };
  }
}

/** One message the counting MTA said 250 to. */
interface Accepted {
  rcpts: string[];
  /** The EHLO name of the node that sent it. */
  helo: string;
}

/**
 * A minimal SMTP server that accepts everything and counts: each message it said 250 to, with
 * the node that sent it. Its greeting waits until `open()` so a test can queue everything first;
 * each 250 comes after `delayMs`, so deliveries are still running when a node is killed.
 */
class CountingMta {
  readonly accepted: Accepted[] = [];
  /** Called right after each 250 was written. */
  onAccept: (a: Accepted) => void = () => {};
  #gate = Promise.withResolvers<void>();
  #conns = new Set<Deno.Conn>();

  private constructor(readonly listener: Deno.Listener, readonly delayMs: number) {
    this.#accept();
  }

  /** Listens on 127.0.0.1 and a free port. */
  static start(delayMs = 0): CountingMta {
    return new CountingMta(Deno.listen({ hostname: "127.0.0.1", port: 0 }), delayMs);
  }

  /** The port it listens on. */
  get port(): number {
    return (this.listener.addr as Deno.NetAddr).port;
  }

  /** Lets waiting connections have their greeting. */
  open(): void {
    this.#gate.resolve();
  }

  /** Makes new connections wait for their greeting again, until the next `open()`. */
  hold(): void {
    this.#gate = Promise.withResolvers<void>();
  }

  /** Recipients by how many times the MTA accepted them. */
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const a of this.accepted) for (const r of a.rcpts) out.set(r, (out.get(r) ?? 0) + 1);
    return out;
  }

  /** Stops listening and drops every connection. */
  close(): void {
    this.listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* gone */ }
    }
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.listener) this.#serve(conn).catch(() => {});
    } catch { /* closed */ }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    this.#conns.add(conn);
    const say = async (text: string) => {
      const bytes = encoder.encode(text + "\r\n");
      for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    };
    try {
      await this.#gate.promise;
      await say("220 mx.peer.example ESMTP counting");
      let buf = "";
      let helo = "";
      let rcpts: string[] = [];
      let inData = false;
      const chunk = new Uint8Array(65536);
      for (;;) {
        const n = await conn.read(chunk);
        if (n === null) return;
        buf += latin1.decode(chunk.subarray(0, n));
        for (let nl = buf.indexOf("\r\n"); nl >= 0; nl = buf.indexOf("\r\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 2);
          if (inData) {
            if (line !== ".") continue;
            inData = false;
            await new Promise((r) => setTimeout(r, this.delayMs));
            await say("250 2.0.0 accepted");
            const accepted = { rcpts, helo };
            this.accepted.push(accepted);
            this.onAccept(accepted);
            rcpts = [];
            continue;
          }
          const verb = line.split(" ")[0].toUpperCase();
          if (verb === "EHLO" || verb === "HELO") {
            helo = line.slice(5).trim();
            await say(
              "250-mx.peer.example\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES",
            );
          } else if (verb === "MAIL" || verb === "RSET") {
            rcpts = [];
            await say("250 2.0.0 ok");
          } else if (verb === "RCPT") {
            rcpts.push(/<([^>]*)>/.exec(line)?.[1] ?? line);
            await say("250 2.1.5 ok");
          } else if (verb === "DATA") {
            inData = true;
            await say("354 go ahead");
          } else if (verb === "QUIT") {
            await say("221 2.0.0 bye");
            return;
          } else if (verb === "NOOP") {
            await say("250 2.0.0 ok");
          } else {
            await say("502 5.5.1 not here");
          }
        }
      }
    } finally {
      this.#conns.delete(conn);
      try {
        conn.close();
      } catch { /* gone */ }
    }
  }
}

/** Submits one message per recipient in one authenticated session (plain AUTH on loopback). */
async function submitAll(port: number, rcpts: string[]): Promise<void> {
  const c = await RawClient.connect(port);
  const expect = async (line: string | undefined, code: number) => {
    const r = line === undefined ? await c.reply() : await c.command(line);
    assert.equal(r.code, code, `${line ?? "greeting"}: ${r.text}`);
  };
  try {
    await expect(undefined, 220);
    await expect("EHLO client.test", 250);
    await expect(`AUTH PLAIN ${btoa(`\0${USER}\0${PASSWORD}`)}`, 235);
    for (const rcpt of rcpts) {
      await expect(`MAIL FROM:<${USER}>`, 250);
      await expect(`RCPT TO:<${rcpt}>`, 250);
      await expect("DATA", 354);
      await c.send(
        `From: ${USER}\r\nTo: ${rcpt}\r\nSubject: for ${rcpt}\r\n\r\nqueued for ${rcpt}\r\n.\r\n`,
      );
      await expect(undefined, 250);
    }
    await c.command("QUIT");
  } finally {
    c.close();
  }
}

/** Submits one message to each of `rcpts`, alternating between the nodes, two sessions each. */
async function queueThroughBoth(nodes: TestServer[], rcpts: string[]): Promise<void> {
  const sessions = nodes.length * 2;
  await Promise.all(
    Array.from(
      { length: sessions },
      (_, i) =>
        submitAll(
          nodes[i % nodes.length].submissionPort,
          rcpts.filter((_, j) => j % sessions === i),
        ),
    ),
  );
}

/** Polls `condition` every `everyMs` (a cluster scan is not free); throws after `ms`. */
async function poll(
  what: string,
  condition: () => Promise<boolean>,
  ms: number,
  everyMs = 250,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The outbound queue's rows as the cluster has them. */
async function queueRows(ks: Keyspace): Promise<Row[]> {
  return await (await ks.session()).rows(
    "SELECT id, lease_owner, lease_until, recipients FROM queue_messages",
  );
}

/** The recipient addresses of a queue row. */
function rowRecipients(row: Row): string[] {
  return (JSON.parse(str(row, "recipients")) as { address: string }[]).map((r) => r.address);
}

/** Test content over 300 KB (several body chunks), with dot-led lines and 8-bit text. */
function bigMessage(): Uint8Array {
  const lines = [
    `From: sender@remote.test`,
    `To: ${USER}`,
    `Subject: across nodes, byte for byte`,
    `MIME-Version: 1.0`,
    `Content-Type: text/plain; charset=utf-8`,
    `Content-Transfer-Encoding: 8bit`,
    ``,
  ];
  for (let i = 0, size = 0; size < 300_000; i++) {
    const line = i % 7 === 0
      ? `.line ${i} starts with a dot`
      : `line ${i}: grüße, 日本語, ${"x".repeat(i % 60)}`;
    lines.push(line);
    size += line.length + 2;
  }
  return encoder.encode(lines.join("\r\n") + "\r\n");
}

/**
 * Where two byte strings first differ, -1 when they are equal (a deepEqual of two large arrays
 * that differ would print a diff of every byte).
 */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** A short message with `subject`. */
function plainMessage(subject: string): string {
  return `From: sender@remote.test\r\nTo: ${USER}\r\nSubject: ${subject}\r\n\r\n` +
    `body of ${subject}\r\n`;
}

if (!TARGET) {
  console.log(
    "two-node Cassandra tests skipped: FSMTP_TEST_CASSANDRA (host:port of a running Cassandra) " +
      "is not set",
  );
  Deno.test({
    name: "two nodes on Cassandra (skipped: FSMTP_TEST_CASSANDRA is not set)",
    ignore: true,
    fn() {},
  });
} else {
  Deno.test("two nodes on one Cassandra and one Redis: reading, locks, IDLE", async (t) => {
    const ks = new Keyspace();
    const redis = await RedisServer.start();
    const nodes: TestServer[] = [];
    const clients: { close(): void }[] = [];
    try {
      const a = await TestServer.start({ nodeId: "node-a", tables: ks.tables(redis) });
      nodes.push(a);
      const b = await TestServer.start({ nodeId: "node-b", tables: ks.tables(redis) });
      nodes.push(b);
      await a.addUser(USER, PASSWORD);
      await a.waitForOutput(/redis\.connected/);
      await b.waitForOutput(/redis\.connected/);

      await t.step(
        "delivered through A, read through B over POP3 and IMAP, byte for byte",
        async () => {
          const sent = bigMessage();
          await sendMail(a.smtpPort, USER, sent);
          const { reply, client } = await pop3Login(b.pop3Port, USER, PASSWORD);
          clients.push(client);
          assert.match(reply, /^\+OK/);
          assert.match(await client.command("STAT"), /^\+OK 1 \d+$/);
          assert.match(await client.command("RETR 1"), /^\+OK/);
          const retr = await client.rawBody();
          assert.equal(firstDifference(withoutTrace(retr), sent), -1, "POP3 RETR on B");
          assert.match(await client.command("QUIT"), /^\+OK/);

          const imap = await ImapClient.login(b.imapPort, USER, PASSWORD);
          clients.push(imap);
          const r = await imap.command("SELECT INBOX");
          assert.ok(r.untagged.includes("* 1 EXISTS"), r.untagged.join("\n"));
          const f = await imap.command("FETCH 1 BODY.PEEK[]");
          assert.equal(f.status, "OK", f.text);
          const [literal] = f.untagged.flatMap(literalsOf);
          assert.ok(literal, f.untagged.join("\n").slice(0, 500));
          // The client decodes each octet to one character (one to one): equal text, equal bytes.
          assert.ok(literal === latin1.decode(retr), "IMAP FETCH on B gives what POP3 RETR gave");
          const trace = latin1.decode(retr.subarray(0, retr.length - sent.length));
          assert.match(trace, /^\tby mx\.test\.example \(fsmtp node-a\) with \w+\r$/m);
        },
      );

      await t.step("an IDLE on B hears a delivery on A within a second", async () => {
        const imap = await ImapClient.login(b.imapPort, USER, PASSWORD);
        clients.push(imap);
        await imap.command("SELECT INBOX");
        const latencies: number[] = [];
        for (let i = 0; i < 5; i++) {
          const tag = await imap.idle();
          // From the start of the SMTP transaction: B may hear of the mail before A's 250.
          const started = performance.now();
          await sendMail(a.smtpPort, USER, plainMessage(`idle ${i}`));
          await imap.waitUntagged(new RegExp(`^\\* ${i + 2} EXISTS$`), 1_000);
          latencies.push(performance.now() - started);
          assert.equal((await imap.done(tag)).status, "OK");
        }
        console.log(
          `IDLE on B after a delivery on A (Cassandra): ${
            latencies.map((ms) => ms.toFixed(0)).join(", ")
          } ms`,
        );
        assert.ok(Math.max(...latencies) < 1_000, `${latencies}`);
      });

      await t.step(
        "a POP3 session on A: B is refused, then gets in once A is SIGKILLed",
        async () => {
          await assertPop3LockMovesOnKill(a, b, USER, PASSWORD, LOCK_TTL_MS, clients);
        },
      );
    } finally {
      for (const c of clients) c.close();
      for (const n of nodes) await n.stop();
      for (const n of nodes) await n.cleanup();
      await redis.kill();
      await ks.drop();
    }
  });

  Deno.test("two nodes on one Cassandra: 500 queued messages reach the MTA", async (t) => {
    const ks = new Keyspace();
    const redis = await RedisServer.start();
    const mta = CountingMta.start(5);
    const started: TestServer[] = [];
    const node = async (id: string, dir?: string, lease?: string) => {
      const server = await TestServer.start({
        nodeId: id,
        hostname: `${id}.test.example`,
        dir,
        dns: PEER_DNS,
        tables: {
          ...ks.tables(redis),
          outbound: { port: mta.port, ...(lease === undefined ? {} : { lease }) },
        },
      });
      started.push(server);
      return server;
    };
    try {
      let a = await node("node-a");
      let b = await node("node-b");
      await a.addUser(USER, PASSWORD);

      await t.step("both nodes running: each message reaches the MTA exactly once", async () => {
        mta.open();
        const rcpts = Array.from({ length: QUEUED }, (_, i) => `r${i}@peer.example`);
        const t0 = performance.now();
        await queueThroughBoth([a, b], rcpts);
        await waitUntil(() => mta.counts().size === QUEUED, "every message at the MTA", 180_000);
        await poll("an empty queue", async () => (await queueRows(ks)).length === 0, 30_000);
        const counts = mta.counts();
        const byNode = (id: string) => mta.accepted.filter((m) => m.helo.startsWith(id)).length;
        console.log(
          `${QUEUED} queued through both nodes: ${mta.accepted.length} deliveries at the MTA ` +
            `(node-a ${byNode("node-a")}, node-b ${byNode("node-b")}) in ` +
            `${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
        assert.deepEqual([...counts.keys()].sort(), [...rcpts].sort());
        assert.deepEqual([...counts.values()].filter((n) => n !== 1), [], "duplicates");
        assert.equal(mta.accepted.length, QUEUED);
      });

      await t.step(
        "A SIGKILLed mid-delivery: nothing lost, duplicates only of A's in-flight",
        async () => {
          mta.hold();
          mta.accepted.length = 0;
          const rcpts = Array.from({ length: QUEUED }, (_, i) => `k${i}@peer.example`);
          let fromA = 0;
          let killedA = false;
          mta.onAccept = (m) => {
            if (killedA || !m.helo.startsWith("node-a") || ++fromA < KILL_AFTER) return;
            killedA = true;
            a.process.kill("SIGKILL");
          };
          await queueThroughBoth([a, b], rcpts);
          // Everything is queued (and partly leased) before the first greeting: A dies sending.
          mta.open();
          await waitUntil(() => killedA, `A to deliver ${KILL_AFTER} messages`, 120_000);
          await a.kill();
          const wall = Date.now();
          const heldByA = new Set(
            (await queueRows(ks))
              .filter((r) => optStr(r, "lease_owner") === "node-a" && num(r, "lease_until") > wall)
              .flatMap(rowRecipients),
          );
          // The survivor delivers everything not leased to the dead node.
          await poll(
            "B to deliver everything but A's leases",
            async () => (await queueRows(ks)).every((r) => optStr(r, "lease_owner") === "node-a"),
            180_000,
          );
          // What the MTA took from A before its restart, including messages A had sent on other
          // connections and that were read after it died: A never saw those 250s.
          const fromDeadA = new Set(
            mta.accepted.filter((m) => m.helo.startsWith("node-a")).flatMap((m) => m.rcpts),
          );
          const inFlight = new Set([...heldByA].filter((r) => fromDeadA.has(r)));
          const beforeRestart = mta.counts().size;
          a = await node("node-a", a.dir);
          await waitUntil(() => mta.counts().size === QUEUED, "every message at the MTA", 180_000);
          await poll("an empty queue", async () => (await queueRows(ks)).length === 0, 30_000);
          const counts = mta.counts();
          const duplicated = [...counts].filter(([, n]) => n > 1).map(([r]) => r);
          console.log(
            `A SIGKILLed at its ${KILL_AFTER}th accepted message: the MTA had ${fromDeadA.size} ` +
              `from it; ${heldByA.size} still leased to it, ${inFlight.size} of those accepted ` +
              `(in flight); B delivered ${beforeRestart - fromDeadA.size} meanwhile; after A's ` +
              `restart ${counts.size}/${QUEUED} arrived in ${mta.accepted.length} deliveries, ` +
              `${duplicated.length} duplicated`,
          );
          assert.deepEqual([...counts.keys()].sort(), [...rcpts].sort(), "no message lost");
          for (const r of duplicated) {
            assert.ok(inFlight.has(r), `${r} duplicated but was not in flight on A`);
            assert.equal(counts.get(r), 2, r);
          }
          const check = await b.cli(["--queue"]);
          assert.match(check.out, /the queue is empty/, check.out);
        },
      );

      await t.step(
        `lease ${SHORT_LEASE}, A SIGKILLed and not restarted: B sends A's messages once its ` +
          "leases run out; nothing lost, duplicates only of A's in-flight",
        async () => {
          await a.stop();
          await b.stop();
          a = await node("node-a", a.dir, SHORT_LEASE);
          b = await node("node-b", b.dir, SHORT_LEASE);
          mta.hold();
          mta.accepted.length = 0;
          const rcpts = Array.from({ length: QUEUED }, (_, i) => `l${i}@peer.example`);
          let fromA = 0;
          let killedA = false;
          let killedAt = 0;
          mta.onAccept = (m) => {
            if (killedA || !m.helo.startsWith("node-a") || ++fromA < KILL_AFTER) return;
            killedA = true;
            killedAt = performance.now();
            a.process.kill("SIGKILL");
          };
          await queueThroughBoth([a, b], rcpts);
          mta.open();
          await waitUntil(() => killedA, `A to deliver ${KILL_AFTER} messages`, 120_000);
          await a.kill();
          const wall = Date.now();
          // Each message A still held, with the wall-clock time its lease runs out.
          const leaseEnds = new Map<string, number>();
          for (const row of await queueRows(ks)) {
            if (optStr(row, "lease_owner") !== "node-a" || num(row, "lease_until") <= wall) {
              continue;
            }
            for (const r of rowRecipients(row)) leaseEnds.set(r, num(row, "lease_until"));
          }
          assert.ok(leaseEnds.size > 0, "A held no lease when it died: nothing to take over");
          const lastEnd = Math.max(...leaseEnds.values());
          assert.ok(lastEnd - wall <= SHORT_LEASE_MS, `a lease runs ${lastEnd - wall} ms more`);
          // Every message of A's that B sent: when, and whether A's lease had run out by then.
          const takenEarly: string[] = [];
          let firstTaken = 0;
          let lastTaken = 0;
          const taken = (m: Accepted) => {
            if (!m.helo.startsWith("node-b")) return;
            for (const r of m.rcpts) {
              const end = leaseEnds.get(r);
              if (end === undefined) continue;
              if (Date.now() < end) takenEarly.push(r);
              firstTaken ||= performance.now();
              lastTaken = performance.now();
            }
          };
          // Those B sent before `leaseEnds` was read broke a lease as much as the later ones.
          for (const m of mta.accepted) taken(m);
          mta.onAccept = taken;
          await waitUntil(
            () => mta.counts().size === QUEUED,
            "B to deliver every message, A's included",
            lastEnd - wall + TAKEOVER_SLACK_MS,
          );
          await poll("an empty queue", async () => (await queueRows(ks)).length === 0, 30_000);
          const fromDeadA = new Set(
            mta.accepted.filter((m) => m.helo.startsWith("node-a")).flatMap((m) => m.rcpts),
          );
          const inFlight = new Set([...leaseEnds.keys()].filter((r) => fromDeadA.has(r)));
          const counts = mta.counts();
          const duplicated = [...counts].filter(([, n]) => n > 1).map(([r]) => r);
          const s = (ms: number) => (ms / 1000).toFixed(1);
          console.log(
            `lease ${SHORT_LEASE}: A SIGKILLed at its ${KILL_AFTER}th accepted message, not ` +
              `restarted: the MTA had ${fromDeadA.size} from it; ${leaseEnds.size} still leased ` +
              `to it (leases ending ${s(Math.min(...leaseEnds.values()) - wall)}–` +
              `${s(lastEnd - wall)} s after the kill), ${inFlight.size} of those accepted (in ` +
              `flight); B took A's first ${s(firstTaken - killedAt)} s and last ` +
              `${s(lastTaken - killedAt)} s after the kill; ${counts.size}/${QUEUED} arrived in ` +
              `${mta.accepted.length} deliveries, ${duplicated.length} duplicated`,
          );
          assert.deepEqual([...counts.keys()].sort(), [...rcpts].sort(), "no message lost");
          assert.deepEqual(takenEarly, [], "B sent these while A's lease on them ran");
          for (const r of duplicated) {
            assert.ok(inFlight.has(r), `${r} duplicated but was not in flight on A`);
            assert.equal(counts.get(r), 2, r);
          }
          const check = await b.cli(["--queue"]);
          assert.match(check.out, /the queue is empty/, check.out);
        },
      );
    } finally {
      for (const n of started) await n.stop();
      for (const n of started) await n.cleanup();
      mta.close();
      await redis.kill();
      await ks.drop();
    }
  });
}

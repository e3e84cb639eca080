/**
 * The HTTP API on two fsmtp nodes sharing one Cassandra keyspace and one Redis: a token made
 * through node A's CLI sends through node B, the message's status reads the same on both
 * nodes once the test MTA has it, a revocation through B stops the token on A, and a token's
 * rate limit counts its messages on both nodes together (through Redis).
 *
 * Runs when FSMTP_TEST_CASSANDRA is "host:port" (FSMTP_TEST_CASSANDRA_DC names the data centre,
 * "datacenter1" when unset); otherwise reported as ignored with a line saying why. The test
 * works in a keyspace of its own, dropped at the end.
 */
import assert from "node:assert/strict";
import { curl, json } from "../helpers/http_client.ts";
import { waitFor } from "../helpers/outbound.ts";
import { RedisServer } from "../helpers/redis_server.ts";
import { FakePeer } from "../helpers/smtp_peer.ts";
import { freePort, TestServer } from "../helpers/test_server.ts";
import { CqlSession } from "../../src/store/cassandra/session.ts";

const TARGET = Deno.env.get("FSMTP_TEST_CASSANDRA");
const DC = Deno.env.get("FSMTP_TEST_CASSANDRA_DC") ?? "datacenter1";
const USER = "hana@test.example";
const REMOTE = "otto@peer.example";

async function dropKeyspace(name: string): Promise<void> {
  const session = new CqlSession({
    contactPoints: [TARGET ?? ""],
    localDc: DC,
    keyspace: name,
    replicationFactor: 1,
    consistency: "LOCAL_QUORUM",
  });
  try {
    await session.connect();
    await session.run(`DROP KEYSPACE IF EXISTS ${name}`);
  } finally {
    await session.close();
  }
}

async function makeToken(node: TestServer): Promise<[string, string]> {
  const r = await node.cli(["--token", USER]);
  assert.equal(r.code, 0, r.out);
  const m = /fsmtp_([0-9a-f]{16})_[A-Za-z0-9_-]{43}/.exec(r.out);
  assert.ok(m, r.out);
  return [m[0], m[1]];
}

if (!TARGET) {
  console.log(
    "HTTP two-node Cassandra test skipped: FSMTP_TEST_CASSANDRA (host:port of a running " +
      "Cassandra) is not set",
  );
  Deno.test({
    name: "http api on two Cassandra nodes (skipped: FSMTP_TEST_CASSANDRA is not set)",
    ignore: true,
    fn() {},
  });
} else {
  Deno.test("http api on two nodes: tokens, status and rate limits shared", async (t) => {
    const keyspace = `fsmtp_http_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
    const redis = await RedisServer.start();
    const peer = await FakePeer.start();
    const nodes: TestServer[] = [];
    try {
      const start = async (nodeId: string) => {
        const port = freePort();
        const node = await TestServer.start({
          nodeId,
          dns: {
            mx: { "peer.example": [[10, "mx.peer.example"]] },
            a: { "mx.peer.example": "127.0.0.1" },
          },
          tables: {
            store: { backend: "cassandra" },
            cassandra: { contact_points: [TARGET], local_dc: DC, keyspace, replication_factor: 1 },
            redis: { url: redis.url },
            outbound: { port: peer.port },
            http: { listen: `127.0.0.1:${port}`, rate_limit: 4 },
          },
        });
        nodes.push(node);
        await node.waitForOutput(/redis\.connected/);
        return { node, api: `http://127.0.0.1:${port}/api/v1/messages` };
      };
      const a = await start("node-a");
      const b = await start("node-b");
      await a.node.addUser(USER, "hana's cluster password");
      const [token, tokenId] = await makeToken(a.node);
      const auth = ["-H", `Authorization: Bearer ${token}`];
      const send = (api: string, credentials = auth) =>
        curl([
          ...credentials,
          "-H",
          "Content-Type: application/json",
          "--data-binary",
          "@-",
          api,
        ], JSON.stringify({ from: USER, to: REMOTE, subject: "cluster", text: "hi" }));

      await t.step("made on A, sent through B, the status the same on both", async () => {
        const sent = await send(b.api);
        assert.equal(sent.status, 202, sent.body);
        const id = json<{ id: string }>(sent).id;
        await waitFor("the MTA's copy", () => peer.transactions.find((x) => x.rcpts[0] === REMOTE));
        for (const node of [a, b]) {
          const status = await waitFor(`delivered, read on ${node.node.dir}`, async () => {
            const s = json<{ recipients: { status: string }[] }>(
              await curl([...auth, `${node.api}/${id}`]),
            );
            return s.recipients[0].status === "delivered" ? s : undefined;
          });
          assert.equal(status.recipients.length, 1);
        }
      });

      await t.step("a token's messages count on both nodes together", async () => {
        // One message so far (above); three more fill http.rate_limit = 4.
        assert.equal((await send(a.api)).status, 202);
        assert.equal((await send(b.api)).status, 202);
        assert.equal((await send(a.api)).status, 202);
        const over = await send(b.api);
        assert.equal(over.status, 429, over.body);
        assert.match(over.headers["retry-after"], /^\d+$/);
      });

      await t.step("revoked through B: refused on A", async () => {
        const revoke = await b.node.cli(["--token", USER, "--revoke", tokenId]);
        assert.equal(revoke.code, 0, revoke.out);
        const refused = await send(a.api);
        assert.equal(refused.status, 401);
        assert.match(refused.headers["www-authenticate"], /invalid_token/);
      });
    } finally {
      for (const node of nodes) await node.stop();
      for (const node of nodes) await node.cleanup();
      await peer.close();
      await redis.kill();
      await dropKeyspace(keyspace);
    }
  });
}

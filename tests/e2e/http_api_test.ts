/**
 * The HTTP API of a running fsmtp, driven by curl (issue 12): a message sent with one call
 * arrives at a test MTA with a DKIM signature dkimverify accepts, and its status reads
 * "delivered" afterwards; a deferred one reads "deferred" with the remote's reply. Every
 * refusal answers its status with a JSON error: bad, missing and revoked tokens (401 with
 * WWW-Authenticate), oversized bodies (413), malformed JSON and invalid fields (400), a From:
 * not the token's user (403), another user's message (404), a wrong method (405 with Allow), a
 * wrong content type (415) and too many messages a minute (429 with Retry-After). /metrics,
 * read by Prometheus' own parser, moves as the mail flows and agrees with `fsmtp --queue`; a
 * message the operator deletes from the queue reads "bounced".
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakePeer } from "../helpers/smtp_peer.ts";
import { curl, json } from "../helpers/http_client.ts";
import { dirsWithDkimKeys, waitFor } from "../helpers/outbound.ts";
import { RawClient } from "../helpers/raw_client.ts";
import { freePort, runProgram, TestServer } from "../helpers/test_server.ts";

const HERE = new URL(".", import.meta.url).pathname;
const PYTHON = "/usr/bin/python3"; // Debian's: it sees python3-dkim and python3-prometheus-client
const IVY = "ivy@test.example";
const BOB = "bob@test.example";
const REX = "rex@peer.example";
const LATER = "later@peer.example";
const MAX_MESSAGE = 64 * 1024;
const dec = new TextDecoder();

type Sample = [string, Record<string, string>, number];

/** `fsmtp --token ADDRESS`: the token printed once, and its id. */
async function makeToken(server: TestServer, address: string): Promise<[string, string]> {
  const r = await server.cli(["--token", address]);
  assert.equal(r.code, 0, r.out);
  const m = /fsmtp_([0-9a-f]{16})_[A-Za-z0-9_-]{43}/.exec(r.out);
  assert.ok(m, r.out);
  return [m[0], m[1]];
}

/** Verifies every DKIM signature of `content` with dkimpy against the server's dnsmasq. */
async function dkimResults(server: TestServer, content: Uint8Array) {
  const file = join(server.dir, `dkim-${crypto.randomUUID()}.eml`);
  await Deno.writeFile(file, content);
  const r = await runProgram(PYTHON, [join(HERE, "dkim_verify.py"), String(server.dns.port), file]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout)[file] as { ok: boolean; d: string; s: string; error: string }[];
}

/** /metrics, parsed by prometheus_client's text-format parser. */
async function scrape(base: string): Promise<Sample[]> {
  const answer = await curl([`${base}/metrics`]);
  assert.equal(answer.status, 200, answer.body);
  assert.match(answer.headers["content-type"], /^text\/plain; version=0\.0\.4/);
  const r = await runProgram(PYTHON, [join(HERE, "prom_parse.py")], answer.body);
  assert.equal(r.code, 0, `the Prometheus parser refused /metrics: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The value of one sample (0 when absent). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.find(([n, l]) =>
    n === name && Object.entries(labels).every(([k, v]) => l[k] === v)
  );
  return found ? found[2] : 0;
}

Deno.test("http api: send with curl, DKIM at the peer, status, every refusal, metrics", async (t) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const peer = await FakePeer.start({
      rcpt: (to) => to === LATER ? "451 4.3.0 <later@peer.example>: try again later" : undefined,
    });
    cleanups.push(() => peer.close());
    const { dirs, txt } = await dirsWithDkimKeys(1);
    const httpPort = freePort();
    const server = await TestServer.start({
      dir: dirs[0],
      dns: {
        mx: { "peer.example": [[10, "mx.peer.example"]] },
        a: { "mx.peer.example": "127.0.0.1" },
        txt: { "default._domainkey.test.example": txt },
      },
      limits: { max_message_size: MAX_MESSAGE },
      tables: {
        outbound: { port: peer.port },
        http: { listen: `127.0.0.1:${httpPort}`, rate_limit: 12 },
      },
    });
    cleanups.push(async () => {
      await server.stop();
      await server.cleanup();
    });
    const base = `http://127.0.0.1:${httpPort}`;
    const messages = `${base}/api/v1/messages`;
    await server.addUser(IVY, "ivy's api password");
    await server.addUser(BOB, "bob's api password");
    const [token] = await makeToken(server, IVY);
    const auth = ["-H", `Authorization: Bearer ${token}`];
    const asJson = ["-H", "Content-Type: application/json"];
    const post = (body: string, extra: string[] = []) =>
      curl([...auth, ...asJson, ...extra, "--data-binary", "@-", messages], body);
    const before = await scrape(base);
    let sentId = "";
    let laterId = "";

    await t.step(
      "one curl call: 202, the peer gets it DKIM-signed, Bcc only in the envelope",
      async () => {
        const answer = await post(JSON.stringify({
          from: `Ivy <${IVY}>`,
          to: [`Rex <${REX}>`],
          bcc: BOB,
          subject: "Report \u2615",
          text: "Hello from the API.\n",
          html: "<p>Hello from the <b>API</b>.</p>",
          attachments: [{
            filename: "data.csv",
            contentType: "text/csv",
            content: btoa("a,b\n1,2\n"),
          }],
          headers: { "X-Campaign": "api-test" },
        }));
        assert.equal(answer.status, 202, answer.body);
        const body = json<{ id: string; status: string; recipients: number }>(answer);
        assert.equal(body.status, "queued");
        assert.equal(body.recipients, 2);
        assert.equal(answer.headers.location, `/api/v1/messages/${body.id}`);
        sentId = body.id;
        const tx = await waitFor(
          "the peer's transaction",
          () => peer.transactions.find((x) => x.rcpts.includes(REX)),
        );
        assert.equal(tx.from, IVY);
        assert.deepEqual(tx.rcpts, [REX], "Bob is local: he is not sent to the peer");
        const content = dec.decode(tx.content);
        assert.match(content, /^DKIM-Signature: /);
        assert.doesNotMatch(content, /^Bcc:/im);
        assert.match(
          content,
          /^Received: from \[127\.0\.0\.1\] by mx\.test\.example \(fsmtp HTTP API\)/m,
        );
        assert.match(content, /^X-Campaign: api-test\r$/m);
        assert.match(content, /filename=data\.csv/);
        const results = await dkimResults(server, tx.content!);
        assert.equal(results.length, 1);
        assert.ok(results[0].ok, `dkimverify refused it: ${results[0].error}`);
        assert.equal(results[0].d, "test.example");
      },
    );

    await t.step("GET: delivered per recipient, after the queue has forgotten it", async () => {
      const status = await waitFor("both recipients delivered", async () => {
        const answer = await curl([...auth, `${messages}/${sentId}`]);
        assert.equal(answer.status, 200, answer.body);
        const s = json<{ recipients: { address: string; status: string; detail?: string }[] }>(
          answer,
        );
        return s.recipients.every((r) => r.status === "delivered") ? s : undefined;
      });
      assert.deepEqual(status.recipients.map((r) => r.address), [BOB, REX]);
      assert.match(status.recipients[1].detail ?? "", /^250/);
      const queue = await server.cli(["--queue"]);
      assert.match(queue.out, /the queue is empty/);
    });

    await t.step(
      "a raw message/rfc822 (LF line ends): Bcc removed, Date and Message-ID added",
      async () => {
        const raw = `From: ${IVY}\nTo: ${REX}\nBcc: ${BOB}\nSubject: raw\n\nRaw body.\n`;
        const answer = await curl([
          ...auth,
          "-H",
          "Content-Type: message/rfc822",
          "--data-binary",
          "@-",
          messages,
        ], raw);
        assert.equal(answer.status, 202, answer.body);
        const tx = await waitFor(
          "the raw message at the peer",
          () => peer.transactions.find((x) => /Subject: raw\r\n/.test(dec.decode(x.content))),
        );
        const content = dec.decode(tx.content);
        assert.doesNotMatch(content, /^Bcc:/im);
        assert.match(content, /^Date: /m);
        assert.match(content, /^Message-ID: <[^>]+@test\.example>/m);
        assert.match(content, /\r\n\r\nRaw body\.\r\n$/);
        assert.ok((await dkimResults(server, tx.content!))[0].ok);
      },
    );

    await t.step("a 451 from the peer: the status says deferred, with its reply", async () => {
      const answer = await post(JSON.stringify({ from: IVY, to: LATER, text: "later" }));
      assert.equal(answer.status, 202, answer.body);
      const id = json<{ id: string }>(answer).id;
      laterId = id;
      const later = await waitFor("the deferral", async () => {
        const s = json<{ recipients: { status: string; detail?: string }[] }>(
          await curl([...auth, `${messages}/${id}`]),
        );
        return s.recipients[0].status === "deferred" ? s.recipients[0] : undefined;
      });
      assert.match(later.detail ?? "", /451 4\.3\.0/);
    });

    await t.step("missing, bad and revoked tokens: 401 with WWW-Authenticate", async () => {
      const body = JSON.stringify({ from: IVY, to: REX, text: "x" });
      const missing = await curl([...asJson, "--data-binary", "@-", messages], body);
      assert.equal(missing.status, 401);
      assert.equal(missing.headers["www-authenticate"], 'Bearer realm="fsmtp"');
      assert.equal(json<{ error: { code: string } }>(missing).error.code, "unauthorized");
      const wrong = token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA");
      const bad = await curl(
        ["-H", `Authorization: Bearer ${wrong}`, ...asJson, "--data-binary", "@-", messages],
        body,
      );
      assert.equal(bad.status, 401);
      assert.match(bad.headers["www-authenticate"], /error="invalid_token"/);
      const [second, secondId] = await makeToken(server, IVY);
      const listed = await server.cli(["--tokens", IVY]);
      assert.match(listed.out, new RegExp(secondId));
      const revoke = await server.cli(["--token", IVY, "--revoke", secondId]);
      assert.equal(revoke.code, 0, revoke.out);
      assert.doesNotMatch((await server.cli(["--tokens", IVY])).out, new RegExp(secondId));
      const revoked = await curl([
        "-H",
        `Authorization: Bearer ${second}`,
        ...asJson,
        "--data-binary",
        "@-",
        messages,
      ], body);
      assert.equal(revoked.status, 401);
      assert.match(revoked.headers["www-authenticate"], /invalid_token/);
    });

    await t.step("oversized: 413 for a body past the limit and for a message past it", async () => {
      const huge = JSON.stringify({ from: IVY, to: REX, text: "x".repeat(200 * 1024) });
      const tooBig = await post(huge);
      assert.equal(tooBig.status, 413, tooBig.body);
      assert.equal(json<{ error: { code: string } }>(tooBig).error.code, "payload_too_large");
      const composed = JSON.stringify({ from: IVY, to: REX, text: "y ".repeat(40 * 1024) });
      const alsoTooBig = await post(composed);
      assert.equal(alsoTooBig.status, 413, alsoTooBig.body);
    });

    await t.step("malformed JSON and invalid fields: 400", async () => {
      const broken = await post('{"from": "ivy@test.example", "to": ');
      assert.equal(broken.status, 400);
      assert.equal(json<{ error: { code: string } }>(broken).error.code, "malformed_json");
      const invalid = await post(JSON.stringify({ from: IVY, text: "no recipient", colour: 1 }));
      assert.equal(invalid.status, 400);
      const error = json<{ error: { code: string; message: string } }>(invalid).error;
      assert.equal(error.code, "invalid_request");
      assert.match(error.message, /colour/);
    });

    await t.step("a From: that is not the token's user: 403", async () => {
      const answer = await post(JSON.stringify({ from: BOB, to: REX, text: "spoof" }));
      assert.equal(answer.status, 403);
      assert.equal(json<{ error: { code: string } }>(answer).error.code, "forbidden");
    });

    await t.step("another user's message: 404; PUT: 405 with Allow; text/plain: 415", async () => {
      const [bobToken] = await makeToken(server, BOB);
      const foreign = await curl([
        "-H",
        `Authorization: Bearer ${bobToken}`,
        `${messages}/${sentId}`,
      ]);
      assert.equal(foreign.status, 404);
      const put = await curl([...auth, "-X", "PUT", messages]);
      assert.equal(put.status, 405);
      assert.equal(put.headers.allow, "POST");
      const plain = await curl(
        [...auth, "-H", "Content-Type: text/plain", "--data-binary", "@-", messages],
        "hello",
      );
      assert.equal(plain.status, 415);
    });

    await t.step("over http.rate_limit a minute: 429 with Retry-After", async () => {
      const [busy] = await makeToken(server, IVY);
      const body = JSON.stringify({ from: IVY, to: BOB, text: "rate" });
      const statuses: number[] = [];
      let last;
      for (let i = 0; i < 13; i++) {
        last = await curl(
          ["-H", `Authorization: Bearer ${busy}`, ...asJson, "--data-binary", "@-", messages],
          body,
        );
        statuses.push(last.status);
      }
      assert.deepEqual(statuses, [...Array(12).fill(202), 429]);
      assert.match(last!.headers["retry-after"], /^\d+$/);
      assert.equal(json<{ error: { code: string } }>(last!).error.code, "rate_limited");
    });

    await t.step("the OpenAPI description lists what is implemented", async () => {
      const answer = await curl([`${base}/api/v1/openapi.json`]);
      assert.equal(answer.status, 200);
      const doc = json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(
        answer,
      );
      assert.equal(doc.openapi, "3.1.0");
      assert.deepEqual(Object.keys(doc.paths).sort(), [
        "/api/v1/messages",
        "/api/v1/messages/{id}",
        "/api/v1/openapi.json",
      ]);
      assert.deepEqual(Object.keys(doc.paths["/api/v1/messages"]), ["post"]);
    });

    await t.step("/metrics moves with the mail and agrees with --queue", async () => {
      const smtp = await RawClient.connect(server.smtpPort);
      assert.equal((await smtp.reply()).code, 220);
      assert.equal((await smtp.command("QUIT")).code, 221);
      smtp.close();
      const after = await waitFor("the SMTP connection counted", async () => {
        const s = await scrape(base);
        return value(s, "fsmtp_connections_total", { listener: "smtp" }) >
            value(before, "fsmtp_connections_total", { listener: "smtp" })
          ? s
          : undefined;
      });
      const grew = (name: string, labels: Record<string, string> = {}) =>
        value(after, name, labels) - value(before, name, labels);
      assert.equal(grew("fsmtp_messages_received_total", { via: "http" }), 3 + 12);
      assert.equal(grew("fsmtp_messages_sent_total"), 2, "Rex twice");
      assert.ok(grew("fsmtp_messages_deferred_total") >= 1);
      assert.equal(grew("fsmtp_delivery_latency_seconds_count"), 2);
      assert.ok(grew("fsmtp_auth_failures_total", { mechanism: "api_token" }) >= 2);
      assert.ok(grew("fsmtp_store_operation_duration_seconds_count", { operation: "deliver" }) > 0);
      assert.ok(
        value(after, "fsmtp_http_requests_total", { route: "messages.send", status: "413" }) >= 2,
      );
      // The deferred message waits: the same figures as `fsmtp --queue`, once /metrics has
      // read the queue again (it keeps a reading for a few seconds).
      const listing = (await server.cli(["--queue"])).out;
      assert.match(listing, /1 message, 1 recipient waiting/);
      const queued = await waitFor("/metrics to read the queue again", async () => {
        const s = await scrape(base);
        return value(s, "fsmtp_queue_messages") === 1 ? s : undefined;
      });
      assert.equal(value(queued, "fsmtp_queue_recipients_waiting"), 1);
      assert.ok(value(queued, "fsmtp_queue_oldest_age_seconds") > 0);
    });

    await t.step("deleted from the queue by the operator: the status says bounced", async () => {
      const deleted = await server.cli(["--queue", "delete", laterId]);
      assert.equal(deleted.code, 0, deleted.out);
      const s = json<{ recipients: { status: string; detail?: string }[] }>(
        await curl([...auth, `${messages}/${laterId}`]),
      );
      assert.equal(s.recipients[0].status, "bounced");
      assert.match(s.recipients[0].detail ?? "", /deleted from the queue by the operator/);
    });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
});

/**
 * The HTTP route table through `handle()` with stand-in ports: 404 and 405 (with Allow), who
 * may read /metrics, what /healthz tells whom, autoconfig's escaping and unknown domains, and
 * a handler that throws answering 500 without its message.
 */
import assert from "node:assert/strict";
import { defaultConfig } from "../../src/config/config.ts";
import { createLogger } from "../../src/log.ts";
import { InProcessRateCounter } from "../../src/http/rate_limit.ts";
import type { HealthCheck, HttpPorts } from "../../src/http/ports.ts";
import { handle, httpRoutes } from "../../src/http/server.ts";
import { thunderbirdConfig } from "../../src/http/autoconfig.ts";
import { StoreError } from "../../src/store/mail_store.ts";
import { newToken } from "../../src/http/api_token.ts";

function ports(health: HealthCheck[] = [], metricsToken = ""): HttpPorts {
  const config = defaultConfig();
  config.hostname = "mail.example.org";
  config.domains = ["example.org"];
  config.http.metrics_token = metricsToken;
  const unused = () => Promise.reject(new Error("not used here"));
  return {
    config: () => config,
    log: createLogger("error", () => {}),
    tokens: { addToken: unused, getToken: unused, listTokens: unused, revokeToken: unused },
    statuses: { trackMessage: unused, updateRecipients: unused, getStatus: unused },
    rate: new InProcessRateCounter(),
    userCreatedAt: unused,
    checkRecipient: unused,
    canRelay: () => false,
    mayUseAddress: () => false,
    submit: unused,
    queueSummary: () => Promise.resolve({ messages: 2, waiting: 3, oldestAgeMs: 4000 }),
    health: () => Promise.resolve(health),
  };
}

async function get(p: HttpPorts, path: string, remote = "127.0.0.1", headers = {}) {
  const response = await handle(
    httpRoutes(p),
    p,
    new Request(`http://mail.example.org${path}`, { headers }),
    remote,
  );
  return { status: response.status, headers: response.headers, body: await response.text() };
}

Deno.test("http routes", async (t) => {
  await t.step("unknown path: 404 JSON; wrong method: 405 with Allow", async () => {
    const p = ports();
    const missing = await get(p, "/nope");
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body).error.code, "not_found");
    const response = await handle(
      httpRoutes(p),
      p,
      new Request("http://mail.example.org/api/v1/messages/X", { method: "DELETE" }),
      "127.0.0.1",
    );
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "GET, HEAD");
    await response.body?.cancel();
  });

  await t.step("/metrics: loopback, or the metrics token from elsewhere", async () => {
    const open = await get(ports(), "/metrics");
    assert.equal(open.status, 200);
    assert.match(open.body, /^fsmtp_queue_messages 2$/m);
    assert.match(open.body, /^fsmtp_queue_oldest_age_seconds 4$/m);
    assert.equal((await get(ports(), "/metrics", "192.0.2.7")).status, 403, "no token set");
    const guarded = ports([], "metrics-secret");
    const without = await get(guarded, "/metrics", "192.0.2.7");
    assert.equal(without.status, 401);
    assert.match(without.headers.get("www-authenticate") ?? "", /^Bearer/);
    const wrong = await get(guarded, "/metrics", "192.0.2.7", {
      authorization: "Bearer metrics-secreT",
    });
    assert.equal(wrong.status, 401);
    const right = await get(guarded, "/metrics", "192.0.2.7", {
      authorization: "Bearer metrics-secret",
    });
    assert.equal(right.status, 200);
  });

  await t.step("/healthz: 503 on a failing check, its reason only to loopback", async () => {
    const failing = ports([
      { name: "store", ok: true, detail: "fine" },
      { name: "redis", ok: false, detail: "cannot reach redis://10.0.0.5:6379" },
    ]);
    const local = await get(failing, "/healthz");
    assert.equal(local.status, 503);
    assert.equal(JSON.parse(local.body).checks.redis.detail, "cannot reach redis://10.0.0.5:6379");
    const remote = await get(failing, "/healthz", "192.0.2.7");
    assert.equal(remote.status, 503);
    assert.doesNotMatch(remote.body, /10\.0\.0\.5/);
    assert.equal(
      (await get(ports([{ name: "store", ok: true, detail: "" }]), "/healthz")).status,
      200,
    );
  });

  await t.step("autoconfig: unknown domains 404, a missing address 400, text escaped", async () => {
    const p = ports();
    assert.equal(
      (await get(p, "/mail/config-v1.1.xml?emailaddress=a@elsewhere.example")).status,
      404,
    );
    assert.equal((await get(p, "/apple/mail.mobileconfig")).status, 400);
    assert.equal(
      (await get(p, "/autodiscover/autodiscover.xml?emailaddress=x@nope.org")).status,
      404,
    );
    const config = p.config();
    config.domains = ["example.org", "a&b.example"];
    const xml = thunderbirdConfig(config, 'a&b<"x">');
    assert.match(xml, /<domain>a&amp;b&lt;&quot;x&quot;&gt;<\/domain>/);
    assert.doesNotMatch(xml, /a&b/);
  });

  await t.step("a token made before its user (a reused address) is refused", async () => {
    const made = await newToken("ann@example.org", 1_000);
    const answer = async (createdAt: number | undefined) => {
      const p = ports();
      p.tokens.getToken = (id) => Promise.resolve(id === made.record.id ? made.record : undefined);
      p.statuses.getStatus = () => Promise.resolve(undefined);
      p.userCreatedAt = () => Promise.resolve(createdAt);
      return (await get(p, "/api/v1/messages/ABC", "127.0.0.1", {
        authorization: `Bearer ${made.token}`,
      })).status;
    };
    assert.equal(await answer(500), 404, "the user is older: the token works");
    assert.equal(await answer(1_000), 404);
    assert.equal(await answer(2_000), 401, "deleted and made again since");
    assert.equal(await answer(undefined), 401, "deleted");
  });

  await t.step("a body that trickles past limits.command_timeout: 408", async () => {
    const p = ports();
    p.config().limits.command_timeout = 100;
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("<Autodiscover>"));
      },
    });
    const response = await handle(
      httpRoutes(p),
      p,
      new Request("http://mail.example.org/autodiscover/autodiscover.xml", {
        method: "POST",
        body: stalled,
      }),
      "127.0.0.1",
    );
    assert.equal(response.status, 408);
    assert.equal(JSON.parse(await response.text()).error.code, "request_timeout");
  });

  await t.step("a handler that throws: 500 without its message", async () => {
    const p = ports();
    p.health = () => Promise.reject(new Error("secret internals"));
    const answer = await get(p, "/healthz");
    assert.equal(answer.status, 500);
    assert.doesNotMatch(answer.body, /secret internals/);
  });

  await t.step("a store that is unavailable: 503 with Retry-After", async () => {
    const p = ports();
    p.health = () => Promise.reject(new StoreError("too few replicas", "unavailable"));
    const answer = await get(p, "/healthz");
    assert.equal(answer.status, 503);
    assert.equal(answer.headers.get("retry-after"), "30");
    assert.equal(JSON.parse(answer.body).error.code, "unavailable");
  });
});

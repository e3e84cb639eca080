import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../../src/config/load_config.ts";

/** Loads `text` as the config file (no environment). */
function load(text: string) {
  const path = Deno.makeTempFileSync({ prefix: "fsmtp-config-", suffix: ".toml" });
  try {
    Deno.writeTextFileSync(path, text);
    return loadConfig(path, {}).config;
  } finally {
    Deno.removeSync(path);
  }
}

function fails(text: string, ...patterns: RegExp[]) {
  assert.throws(() => load(text), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

Deno.test("config [dns] and [dkim] rotation: defaults", () => {
  const c = load("");
  assert.deepEqual(c.dns, {
    listen: "",
    ipv4: [],
    ipv6: [],
    ttl: 1_800_000,
    mta_sts_id: "",
    rate_limit: 20,
  });
  assert.equal(c.dkim.rotate, 86_400_000);
  assert.equal(c.dkim.publish_ahead, 3_600_000);
  assert.equal(c.dkim.retire_after, 7 * 86_400_000);
});

Deno.test("config [dns] and [dkim] rotation: values and overrides", () => {
  const c = load(`
[dns]
listen = "127.0.0.1:5353"
ipv4 = ["192.0.2.1", "198.51.100.7"]
ipv6 = ["2001:db8::25"]
ttl = "0s"
mta_sts_id = "20261130"
rate_limit = 0
[dkim]
rotate = "3s"
publish_ahead = "1s"
retire_after = "6s"
`);
  assert.deepEqual(c.dns, {
    listen: "127.0.0.1:5353",
    ipv4: ["192.0.2.1", "198.51.100.7"],
    ipv6: ["2001:db8::25"],
    ttl: 0,
    mta_sts_id: "20261130",
    rate_limit: 0,
  });
  assert.deepEqual(c.dkim, {
    selector: "default",
    rotate: 3000,
    publish_ahead: 1000,
    retire_after: 6000,
  });
  for (const off of ["off", "0", ""]) {
    assert.equal(load(`[dkim]\nrotate = "${off}"`).dkim.rotate, 0);
  }
  const env = loadConfig(undefined, {
    FSMTP_DNS_LISTEN: "127.0.0.1:53",
    FSMTP_DNS_IPV4: "192.0.2.1, 192.0.2.2",
    FSMTP_DKIM_ROTATE: "off",
    FSMTP_DNS_RATE_LIMIT: "50",
  }).config;
  assert.equal(env.dns.rate_limit, 50);
  assert.deepEqual(env.dns.ipv4, ["192.0.2.1", "192.0.2.2"]);
  assert.equal(env.dns.listen, "127.0.0.1:53");
  assert.equal(env.dkim.rotate, 0);
});

Deno.test("config [dns] and [dkim] rotation: errors name the key", () => {
  fails(`[dns]\nipv4 = ["192.0.2.300"]`, /dns\.ipv4/, /IPv4/);
  fails(`[dns]\nipv6 = ["192.0.2.1"]`, /dns\.ipv6/, /IPv6/);
  fails(`[dns]\nlisten = "53"`, /dns\.listen/);
  fails(`[dns]\nttl = "1500ms"`, /dns\.ttl/, /whole seconds/);
  fails(`[dns]\nmta_sts_id = "a-b"`, /dns\.mta_sts_id/);
  fails(`[dns]\nrate_limit = -1`, /dns\.rate_limit/, /answers per second/);
  fails(`[dns]\nrate_limit = 2.5`, /dns\.rate_limit/);
  fails(`[dns]\nrate_limit = "lots"`, /dns\.rate_limit/);
  fails(`[dkim]\nrotate = "soon"`, /dkim\.rotate/);
  fails(`[dns]\nttl = "1h"`, /dkim\.publish_ahead/, /dns\.ttl/);
  fails(`[dkim]\nrotate = "30m"`, /dkim\.rotate/, /publish_ahead/);
  // With rotation off, the delays do not matter.
  assert.equal(load(`[dns]\nttl = "1h"\n[dkim]\nrotate = "off"`).dns.ttl, 3_600_000);
});

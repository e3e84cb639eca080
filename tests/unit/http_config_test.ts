/** The `[http]` keys: defaults (off, secure), file and environment values, errors naming the key. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config/load_config.ts";

function withFile<T>(text: string, fn: (path: string) => T): T {
  const dir = Deno.makeTempDirSync({ prefix: "fsmtp-http-config-" });
  const path = join(dir, "fsmtp.toml");
  Deno.writeTextFileSync(path, text);
  try {
    return fn(path);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("[http] config", async (t) => {
  await t.step("defaults: off, 60 a minute, 7 days of status, loopback-only metrics", () => {
    const { http } = withFile("", (path) => loadConfig(path, {}).config);
    assert.deepEqual(http, {
      listen: "",
      rate_limit: 60,
      status_retention: 7 * 86_400_000,
      metrics_token: "",
      tls: "auto",
    });
  });

  await t.step("file and FSMTP_HTTP_* values", () => {
    const text = '[http]\nlisten = "127.0.0.1:8080"\nrate_limit = 5\nstatus_retention = "1h"\n' +
      'tls = "always"\n';
    const { http } = withFile(
      text,
      (path) =>
        loadConfig(path, { FSMTP_HTTP_METRICS_TOKEN: "s3cret", FSMTP_HTTP_RATE_LIMIT: "7" }).config,
    );
    assert.equal(http.listen, "127.0.0.1:8080");
    assert.equal(http.rate_limit, 7);
    assert.equal(http.status_retention, 3_600_000);
    assert.equal(http.metrics_token, "s3cret");
    assert.equal(http.tls, "always");
  });

  await t.step("bad values name their key", () => {
    for (
      const [line, key] of [
        ['listen = "8080"', "http.listen"],
        ["rate_limit = 0", "http.rate_limit"],
        ['status_retention = "soon"', "http.status_retention"],
        ['tls = "never"', "http.tls"],
      ]
    ) {
      withFile(`[http]\n${line}\n`, (path) =>
        assert.throws(
          () => loadConfig(path, {}),
          (err: unknown) => err instanceof ConfigError && err.message.includes(key),
        ));
    }
  });
});

/**
 * The slow-client keys of `[limits]` (line_deadline, min_data_rate): defaults, file and
 * environment values, and errors that name the key.
 */
import assert from "node:assert/strict";
import { defaultConfig } from "../../src/config/config.ts";
import { ConfigError, loadConfig } from "../../src/config/load_config.ts";

function load(toml: string, env: Record<string, string> = {}) {
  const path = Deno.makeTempFileSync({ prefix: "fsmtp-pace-", suffix: ".toml" });
  Deno.writeTextFileSync(path, toml);
  try {
    return loadConfig(path, env).config;
  } finally {
    Deno.removeSync(path);
  }
}

function fails(toml: string, ...patterns: RegExp[]): void {
  assert.throws(() => load(toml), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

Deno.test("config: slow-client limits", async (t) => {
  await t.step("defaults: a line within a minute, content at 100 octets/s", () => {
    const limits = defaultConfig().limits;
    assert.equal(limits.line_deadline, 60_000);
    assert.equal(limits.min_data_rate, 100);
  });

  await t.step("the shipped env/fsmtp.toml states the defaults", () => {
    const shipped = loadConfig("env/fsmtp.toml", {}).config.limits;
    assert.equal(shipped.line_deadline, defaultConfig().limits.line_deadline);
    assert.equal(shipped.min_data_rate, defaultConfig().limits.min_data_rate);
  });

  await t.step("file and environment values are read", () => {
    const config = load('[limits]\nline_deadline = "20s"\nmin_data_rate = 500\n');
    assert.equal(config.limits.line_deadline, 20_000);
    assert.equal(config.limits.min_data_rate, 500);
    const env = load("", { FSMTP_LIMITS_LINE_DEADLINE: "2m", FSMTP_LIMITS_MIN_DATA_RATE: "64" });
    assert.equal(env.limits.line_deadline, 120_000);
    assert.equal(env.limits.min_data_rate, 64);
  });

  await t.step("bad values name the key", () => {
    fails('[limits]\nline_deadline = "0s"\n', /limits\.line_deadline/, /at least 1s/);
    fails("[limits]\nline_deadline = 60\n", /limits\.line_deadline/);
    fails("[limits]\nmin_data_rate = 0\n", /limits\.min_data_rate/, /octets per second/);
    fails("[limits]\nmin_data_rate = 12.5\n", /limits\.min_data_rate/);
    fails('[limits]\nmin_data_rate = "fast"\n', /limits\.min_data_rate/);
  });
});

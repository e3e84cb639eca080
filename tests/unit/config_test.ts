import assert from "node:assert/strict";
import { defaultConfig } from "../../src/config/config.ts";
import { parseDuration } from "../../src/config/duration.ts";
import {
  ConfigError,
  DEFAULT_CONFIG_PATH,
  loadConfig,
  parseListen,
} from "../../src/config/load_config.ts";

/** Writes `text` to a fresh temp file and returns its path. */
function tomlFile(text: string): string {
  const path = Deno.makeTempFileSync({ prefix: "fsmtp-config-", suffix: ".toml" });
  Deno.writeTextFileSync(path, text);
  return path;
}

/** Runs `fn` with a temp TOML file holding `text`, removing it afterwards. */
function withFile<T>(text: string, fn: (path: string) => T): T {
  const path = tomlFile(text);
  try {
    return fn(path);
  } finally {
    Deno.removeSync(path);
  }
}

/** Asserts loading throws a ConfigError whose message matches every pattern. */
function configError(load: () => unknown, ...patterns: (string | RegExp)[]): string {
  let message = "";
  assert.throws(load, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    message = err.message;
    return true;
  });
  for (const p of patterns) {
    if (typeof p === "string") assert.ok(message.includes(p), `${JSON.stringify(p)} in ${message}`);
    else assert.match(message, p);
  }
  return message;
}

Deno.test("loadConfig: sources and precedence", async (t) => {
  await t.step("defaults load when the default file is missing", async () => {
    // The default path is relative to the working directory, which is process-wide: change it
    // in a child process, not here, so parallel test files are not disturbed.
    const dir = Deno.makeTempDirSync({ prefix: "fsmtp-empty-" });
    try {
      const module = new URL("../../src/config/load_config.ts", import.meta.url).href;
      const code = `
        const { loadConfig } = await import(${JSON.stringify(module)});
        console.log(JSON.stringify(loadConfig(undefined, {})));
      `;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          "--config",
          new URL("../../deno.json", import.meta.url).pathname,
          code,
        ],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, stderr);
      const loaded = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.deepEqual(loaded, { config: defaultConfig(), overrides: [] });
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });

  await t.step("the default path is env/fsmtp.toml", () => {
    assert.equal(DEFAULT_CONFIG_PATH, "env/fsmtp.toml");
  });

  await t.step("an empty file gives the defaults and reports the path", () => {
    withFile("", (path) => {
      assert.deepEqual(loadConfig(path, {}), { config: defaultConfig(), path, overrides: [] });
    });
  });

  await t.step("a TOML file overrides the defaults, other keys keep theirs", () => {
    const text = `
hostname = "Mail.Example.ORG"
domains = ["Example.org", "example.net"]
data_dir = "/var/lib/fsmtp"
log_level = "debug"

[listen]
smtp = "127.0.0.1:25"
imap = ""
pop3 = "[::1]:110"

[tls]
cert = "/etc/cert.pem"

[auth]
allow_plaintext = "never"

[limits]
max_message_size = 1048576
max_recipients = 5
command_timeout = "1h30m"
max_connections = 10
max_connections_per_ip = 10
`;
    withFile(text, (path) => {
      const { config, path: used, overrides } = loadConfig(path, {});
      assert.equal(used, path);
      assert.deepEqual(overrides, []);
      const expected = defaultConfig();
      expected.hostname = "mail.example.org";
      expected.domains = ["example.org", "example.net"];
      expected.data_dir = "/var/lib/fsmtp";
      expected.log_level = "debug";
      expected.listen.smtp = "127.0.0.1:25";
      expected.listen.imap = "";
      expected.listen.pop3 = "[::1]:110";
      expected.tls.cert = "/etc/cert.pem";
      expected.auth.allow_plaintext = "never";
      expected.limits.max_message_size = 1_048_576;
      expected.limits.max_recipients = 5;
      expected.limits.command_timeout = 5_400_000;
      expected.limits.max_connections = 10;
      expected.limits.max_connections_per_ip = 10;
      assert.deepEqual(config, expected);
    });
  });

  await t.step("dotted keys work like sections", () => {
    withFile('limits.max_errors = 3\nlisten.smtp = "0.0.0.0:2526"\n', (path) => {
      const { config } = loadConfig(path, {});
      assert.equal(config.limits.max_errors, 3);
      assert.equal(config.listen.smtp, "0.0.0.0:2526");
    });
  });

  await t.step("FSMTP_* environment variables override the file", () => {
    withFile('[listen]\nsmtp = "127.0.0.1:25"\n[limits]\nmax_recipients = 5\n', (path) => {
      const env = {
        FSMTP_LISTEN_SMTP: "[::]:2500",
        FSMTP_LIMITS_MAX_RECIPIENTS: "7",
        FSMTP_DOMAINS: " a.example , B.example,,",
        FSMTP_DATA_DIR: "/srv/mail",
        FSMTP_LIMITS_COMMAND_TIMEOUT: "30s",
        FSMTP_AUTH_ALLOW_PLAINTEXT: "always",
        FSMTP_LOG_LEVEL: "warn",
        FSMTP_TLS_KEY: "/k.pem",
        PATH: "/usr/bin",
        NOT_FSMTP_X: "ignored",
      };
      const { config, overrides } = loadConfig(path, env);
      assert.equal(config.listen.smtp, "[::]:2500");
      assert.equal(config.limits.max_recipients, 7);
      assert.deepEqual(config.domains, ["a.example", "b.example"]);
      assert.equal(config.data_dir, "/srv/mail");
      assert.equal(config.limits.command_timeout, 30_000);
      assert.equal(config.auth.allow_plaintext, "always");
      assert.equal(config.log_level, "warn");
      assert.equal(config.tls.key, "/k.pem");
      assert.deepEqual(overrides.toSorted(), [
        "FSMTP_AUTH_ALLOW_PLAINTEXT",
        "FSMTP_DATA_DIR",
        "FSMTP_DOMAINS",
        "FSMTP_LIMITS_COMMAND_TIMEOUT",
        "FSMTP_LIMITS_MAX_RECIPIENTS",
        "FSMTP_LISTEN_SMTP",
        "FSMTP_LOG_LEVEL",
        "FSMTP_TLS_KEY",
      ]);
    });
  });

  await t.step("an FSMTP_ variable may set an empty listen address to disable it", () => {
    withFile("", (path) => {
      assert.equal(loadConfig(path, { FSMTP_LISTEN_IMAPS: "" }).config.listen.imaps, "");
    });
  });

  await t.step("loadConfig returns a fresh config each time", () => {
    withFile("", (path) => {
      const a = loadConfig(path, {}).config;
      a.domains.push("mutated.example");
      a.limits.max_errors = 1;
      assert.deepEqual(loadConfig(path, {}).config, defaultConfig());
    });
  });
});

Deno.test("loadConfig: errors name the key and the file", async (t) => {
  await t.step("an explicitly named missing file", () => {
    const dir = Deno.makeTempDirSync();
    try {
      const path = `${dir}/nope.toml`;
      configError(() => loadConfig(path, {}), "cannot read config file", path, "--config");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });

  await t.step("invalid TOML", () => {
    withFile("hostname = \n[[", (path) => {
      configError(() => loadConfig(path, {}), path, "not valid TOML");
    });
    withFile('hostname = "a"\nhostname = "b"\n', (path) => {
      configError(() => loadConfig(path, {}), path, "not valid TOML");
    });
  });

  await t.step("an unknown top-level key", () => {
    withFile('hostnme = "x"\n', (path) => {
      configError(() => loadConfig(path, {}), "unknown config key hostnme in", path, "hostname");
    });
  });

  await t.step("an unknown key in a section and an unknown section", () => {
    withFile("[limits]\nmax_recipient = 5\n", (path) => {
      configError(() => loadConfig(path, {}), "limits.max_recipient in", path);
    });
    withFile("[smtp]\nport = 25\n", (path) => {
      configError(() => loadConfig(path, {}), "smtp.port in", path);
    });
  });

  await t.step("a bad type", () => {
    const cases: [string, string][] = [
      ['[limits]\nmax_recipients = "ten"\n', "limits.max_recipients"],
      ["[limits]\nmax_recipients = 0\n", "limits.max_recipients"],
      ["[limits]\nmax_recipients = 1.5\n", "limits.max_recipients"],
      ["[limits]\nmax_message_size = 511\n", "limits.max_message_size"],
      ['domains = "example.org"\n', "domains"],
      ["domains = []\n", "domains"],
      ['domains = ["ok.example", "bad_domain"]\n', "domains"],
      ["domains = [1]\n", "domains"],
      ["hostname = 5\n", "hostname"],
      ['hostname = "under_score.example"\n', "hostname"],
      ['hostname = ""\n', "hostname"],
      ['data_dir = ""\n', "data_dir"],
      ["data_dir = true\n", "data_dir"],
      ['log_level = "verbose"\n', "log_level"],
      ['[auth]\nallow_plaintext = "sometimes"\n', "auth.allow_plaintext"],
      ["hostname = 1979-05-27\n", "hostname"],
      ["[hostname]\nx = 1\n", "hostname"],
    ];
    for (const [text, key] of cases) {
      withFile(text, (path) => {
        configError(() => loadConfig(path, {}), "invalid value", `for ${key} in ${path}`);
      });
    }
  });

  await t.step("a bad listen address", () => {
    for (const bad of ["nope", "0.0.0.0", "0.0.0.0:", "0.0.0.0:70000", "::1:25", "[zz]:25"]) {
      withFile(`[listen]\nsmtp = "${bad}"\n`, (path) => {
        configError(() => loadConfig(path, {}), `for listen.smtp in ${path}`, "host:port");
      });
    }
    withFile("[listen]\nsmtp = 25\n", (path) => {
      configError(() => loadConfig(path, {}), `listen.smtp in ${path}`);
    });
  });

  await t.step("a bad duration", () => {
    for (const bad of ['"bad"', '"500ms"', '"5"', '"0s"', "300"]) {
      withFile(`[limits]\ncommand_timeout = ${bad}\n`, (path) => {
        configError(
          () => loadConfig(path, {}),
          `for limits.command_timeout in ${path}`,
          "duration",
        );
      });
    }
  });

  await t.step("whole-config checks name the file", () => {
    withFile("[limits]\nmax_line_length = 999\n", (path) => {
      configError(() => loadConfig(path, {}), "limits.max_line_length", path, "1000");
    });
    withFile("[limits]\nmax_line_length = 1000\n", (path) => {
      assert.equal(loadConfig(path, {}).config.limits.max_line_length, 1000);
    });
    withFile("[limits]\nmax_connections = 5\nmax_connections_per_ip = 6\n", (path) => {
      configError(() => loadConfig(path, {}), "limits.max_connections_per_ip", path);
    });
  });

  await t.step("an unknown FSMTP_ environment variable", () => {
    withFile("", (path) => {
      configError(
        () => loadConfig(path, { FSMTP_NOPE: "1" }),
        "environment variable FSMTP_NOPE names no config key",
        "limits.max_recipients",
      );
      configError(() => loadConfig(path, { FSMTP_LIMITS_NOPE: "1" }), "FSMTP_LIMITS_NOPE");
      configError(() => loadConfig(path, { FSMTP_: "1" }), "FSMTP_ ");
    });
  });

  await t.step("a bad value from the environment names the variable", () => {
    withFile("", (path) => {
      configError(
        () => loadConfig(path, { FSMTP_LIMITS_MAX_RECIPIENTS: "many" }),
        "limits.max_recipients from environment variable FSMTP_LIMITS_MAX_RECIPIENTS",
      );
      configError(
        () => loadConfig(path, { FSMTP_LISTEN_SMTP: "localhost" }),
        "listen.smtp from environment variable FSMTP_LISTEN_SMTP",
      );
      configError(
        () => loadConfig(path, { FSMTP_DOMAINS: " , " }),
        "domains from environment variable FSMTP_DOMAINS",
        "at least one domain",
      );
      configError(
        () => loadConfig(path, { FSMTP_LIMITS_COMMAND_TIMEOUT: "bad" }),
        "limits.command_timeout from environment variable FSMTP_LIMITS_COMMAND_TIMEOUT",
      );
    });
  });
});

Deno.test("parseListen", async (t) => {
  await t.step("host:port and [v6]:port", () => {
    assert.deepEqual(parseListen("0.0.0.0:25"), { host: "0.0.0.0", port: 25 });
    assert.deepEqual(parseListen("localhost:2525"), { host: "localhost", port: 2525 });
    assert.deepEqual(parseListen("[::]:25"), { host: "::", port: 25 });
    assert.deepEqual(parseListen("[2001:db8::1]:65535"), { host: "2001:db8::1", port: 65535 });
  });

  await t.step("malformed addresses are undefined", () => {
    for (const bad of ["", ":25", "host", "host:", "host:65536", "::1:25", "[::1]", "h:123456"]) {
      assert.equal(parseListen(bad), undefined, bad);
    }
  });
});

Deno.test("parseDuration", async (t) => {
  await t.step("single units", () => {
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("30s"), 30_000);
    assert.equal(parseDuration("5m"), 300_000);
    assert.equal(parseDuration("1h"), 3_600_000);
    assert.equal(parseDuration("2d"), 172_800_000);
    assert.equal(parseDuration("0s"), 0);
  });

  await t.step("combined units add up", () => {
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("1m500ms"), 60_500);
    assert.equal(parseDuration("1d2h3m4s5ms"), 86_400_000 + 7_200_000 + 180_000 + 4000 + 5);
  });

  await t.step("surrounding spaces are ignored", () => {
    assert.equal(parseDuration(" 5m "), 300_000);
  });

  await t.step("anything else is undefined", () => {
    for (const bad of ["bad", "", "5", "m", "1.5h", "-5m", "5M", "1h 30m", "5 m", "5min", "h1"]) {
      assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
    }
  });
});

Deno.test("loadConfig: [store] and [cassandra]", async (t) => {
  await t.step("a cluster config loads, with overrides from the environment", () => {
    const text = '[store]\nbackend = "cassandra"\n[redis]\nurl = "redis://127.0.0.1:6379/0"\n' +
      '[cassandra]\ncontact_points = ["10.0.0.1:9042", "db2"]\nkeyspace = "Mail_1"\n' +
      'consistency = "quorum"\n';
    withFile(text, (path) => {
      const { config } = loadConfig(path, { FSMTP_CASSANDRA_LOCAL_DC: "dc-east" });
      assert.equal(config.store.backend, "cassandra");
      assert.deepEqual(config.cassandra.contact_points, ["10.0.0.1:9042", "db2"]);
      assert.equal(config.cassandra.keyspace, "mail_1");
      assert.equal(config.cassandra.consistency, "quorum");
      assert.equal(config.cassandra.local_dc, "dc-east");
      const env = loadConfig(path, { FSMTP_CASSANDRA_CONTACT_POINTS: "a:1, b" }).config;
      assert.deepEqual(env.cassandra.contact_points, ["a:1", "b"]);
    });
  });
  await t.step(
    "outbound.lease: 10m by default, at least 10s, from the file or the environment",
    () => {
      assert.equal(defaultConfig().outbound.lease, 600_000);
      withFile('[outbound]\nlease = "10s"\n', (path) => {
        assert.equal(loadConfig(path, {}).config.outbound.lease, 10_000);
        assert.equal(
          loadConfig(path, { FSMTP_OUTBOUND_LEASE: "2h" }).config.outbound.lease,
          7_200_000,
        );
      });
      for (const bad of ['"9s"', '"1s"', '"0s"', '"500ms"', '"10"', "600", '""', "true"]) {
        withFile(`[outbound]\nlease = ${bad}\n`, (path) => {
          configError(() => loadConfig(path, {}), `for outbound.lease in ${path}`, "at least 10s");
        });
      }
      withFile("", (path) => {
        configError(
          () => loadConfig(path, { FSMTP_OUTBOUND_LEASE: "5s" }),
          "outbound.lease from environment variable FSMTP_OUTBOUND_LEASE",
          "at least 10s",
        );
      });
    },
  );
  await t.step("cassandra without redis.url is refused, naming both keys", () => {
    withFile('[store]\nbackend = "cassandra"\n', (path) => {
      configError(() => loadConfig(path, {}), "store.backend", "redis.url", path);
    });
  });
  await t.step("bad values name their key", () => {
    withFile('[cassandra]\nkeyspace = "drop table"\n', (path) => {
      configError(() => loadConfig(path, {}), "cassandra.keyspace", path);
    });
    withFile("[cassandra]\ncontact_points = []\n", (path) => {
      configError(() => loadConfig(path, {}), "cassandra.contact_points", path);
    });
    withFile('[cassandra]\nconsistency = "sometimes"\n', (path) => {
      configError(() => loadConfig(path, {}), "cassandra.consistency", path);
    });
    withFile('[store]\nbackend = "mongodb"\n', (path) => {
      configError(() => loadConfig(path, {}), "store.backend", path);
    });
  });
});

Deno.test("config: inbound.check_budget", async (t) => {
  await t.step("defaults to 5s", () => {
    assert.equal(defaultConfig().inbound.check_budget, 5000);
  });
  await t.step("a duration from 100ms to 1m, from the file or the environment", () => {
    withFile('[inbound]\ncheck_budget = "2500ms"\n', (path) => {
      assert.equal(loadConfig(path, {}).config.inbound.check_budget, 2500);
    });
    withFile("", (path) => {
      const env = { FSMTP_INBOUND_CHECK_BUDGET: "1m" };
      assert.equal(loadConfig(path, env).config.inbound.check_budget, 60_000);
    });
  });
  await t.step("outside that range, or not a duration, names the key", () => {
    for (const bad of ['"50ms"', '"2m"', '"soon"', "5"]) {
      withFile(`[inbound]\ncheck_budget = ${bad}\n`, (path) => {
        configError(() => loadConfig(path, {}), "inbound.check_budget", path, "100ms to 1m");
      });
    }
  });
});

/**
 * Fuzz targets for the config loader (src/config/load_config.ts) through its whole path: TOML
 * text written to a file and read by `loadConfig`. Valid generated TOML loads with the values it
 * holds; any mutation of it loads or fails with a ConfigError naming the file, never another
 * exception; environment overrides load or fail with a ConfigError naming the variable.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type Config, defaultConfig } from "../../src/config/config.ts";
import { ConfigError, loadConfig, type LoadedConfig } from "../../src/config/load_config.ts";
import { type FuzzTarget, stringOf, target, timed, utf8, validAndMutated } from "./harness.ts";

let dir: string | undefined;

/** Writes `text` to this process's scratch config file and loads it with `env`. */
export function load(text: Uint8Array | string, env: Record<string, string> = {}): {
  path: string;
  result: LoadedConfig | unknown;
} {
  if (dir === undefined) {
    const made = Deno.makeTempDirSync({ prefix: "fsmtp-fuzz-config-" });
    dir = made;
    globalThis.addEventListener("unload", () => Deno.removeSync(made, { recursive: true }));
  }
  const path = `${dir}/fsmtp.toml`;
  Deno.writeFileSync(path, typeof text === "string" ? utf8(text) : text);
  try {
    return { path, result: timed(() => loadConfig(path, env)) };
  } catch (error) {
    return { path, result: error };
  }
}

/** A TOML basic string (TOML 1.0 §String): `"` and `\` escaped, control characters as \uXXXX. */
function tomlString(s: string): string {
  return `"${
    s.replace(/[\\"\x00-\x1f\x7f]/g, (c) =>
      c === "\\" || c === '"' ? "\\" + c : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
  }"`;
}

const label = fc.tuple(
  stringOf("abcxyzABC019", { minLength: 1, maxLength: 1 }),
  stringOf("abcxyzABC019-", { maxLength: 10 }),
  stringOf("abcz9", { minLength: 1, maxLength: 1 }),
)
  .map(([a, b, c]) => a + b + c);
const hostname = fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join("."));
const text = fc.string({ unit: "grapheme", maxLength: 20 });
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** A duration text and its milliseconds, at least `min` ms and at most `max`. */
const duration = (min: number, max: number) =>
  fc.array(fc.tuple(fc.integer({ min: 0, max: 90 }), fc.constantFrom(...Object.keys(UNITS))), {
    minLength: 1,
    maxLength: 3,
  }).map((parts) => ({
    text: parts.map(([n, u]) => `${n}${u}`).join(""),
    ms: parts.reduce((t, [n, u]) => t + n * UNITS[u], 0),
  })).filter((d) => d.ms >= min && d.ms <= max);
const listen = fc.oneof(
  fc.constant(""),
  fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 65535 })).map(([h, p]) => `${h}:${p}`),
  fc.tuple(fc.constantFrom("::1", "::", "fe80::1"), fc.integer({ min: 0, max: 65535 })).map((
    [h, p],
  ) => `[${h}]:${p}`),
);
const count = fc.integer({ min: 1, max: 1_000_000 });

/** One key's TOML value and the value the loaded config must hold. */
type Setting = [key: string, toml: string, value: unknown];

const settingArbs: fc.Arbitrary<Setting[]>[] = [
  hostname.map((h) => [["hostname", tomlString(h), h.toLowerCase()]]),
  fc.array(hostname, { minLength: 1, maxLength: 3 }).map((d) => [[
    "domains",
    `[${d.map(tomlString).join(", ")}]`,
    d.map((x) => x.toLowerCase()),
  ]]),
  fc.tuple(fc.constantFrom("data_dir", "keys_dir", "node_id"), text.filter((s) => s !== "")).map((
    [k, v],
  ) => [[k, tomlString(v), v]]),
  fc.constantFrom("debug", "info", "warn", "error").map((l) => [["log_level", tomlString(l), l]]),
  fc.tuple(fc.constantFrom("smtp", "submission", "pop3", "imaps"), listen).map((
    [k, v],
  ) => [[`listen.${k}`, tomlString(v), v]]),
  fc.constantFrom("never", "loopback", "always").map((
    v,
  ) => [["auth.allow_plaintext", tomlString(v), v]]),
  duration(0, 60_000).map((d) => [["auth.failure_delay", tomlString(d.text), d.ms]]),
  count.map((n) => [["auth.max_failures_per_ip", String(n), n]]),
  fc.boolean().map((b) => [["inbound.checks", String(b), b]]),
  duration(100, 60_000).map((d) => [["inbound.check_budget", tomlString(d.text), d.ms]]),
  label.map((l) => [["dkim.selector", tomlString(l), l]]),
  fc.integer({ min: 1, max: 65535 }).map((p) => [["outbound.port", String(p), p]]),
  text.map((t) => [["outbound.relay_user", tomlString(t), t]]),
  duration(1000, 10 * 86_400_000).map((d) => [["outbound.max_age", tomlString(d.text), d.ms]]),
  duration(1000, 86_400_000).map((d) => [["limits.command_timeout", tomlString(d.text), d.ms]]),
  fc.tuple(count, count).map(([a, b]) => [
    ["limits.max_connections", String(Math.max(a, b)), Math.max(a, b)],
    ["limits.max_connections_per_ip", String(Math.min(a, b)), Math.min(a, b)],
  ]),
  fc.integer({ min: 1000, max: 1 << 20 }).map((n) => [["limits.max_line_length", String(n), n]]),
  fc.integer({ min: 512, max: 1 << 28 }).map((n) => [["limits.max_message_size", String(n), n]]),
  fc.oneof(fc.constant(0), fc.integer({ min: 1024, max: 2 ** 40 })).map((
    n,
  ) => [["quota.max_octets", String(n), n]]),
];

/** TOML text setting some keys, as dotted keys or in [tables], and the config it must load as. */
const validToml = fc.tuple(
  fc.uniqueArray(fc.integer({ min: 0, max: settingArbs.length - 1 }), {
    maxLength: settingArbs.length,
  }).chain((picks) => fc.tuple(...picks.map((i) => settingArbs[i]))),
  fc.boolean(),
).map(([groups, tables]) => {
  const settings = groups.flat();
  const expected = defaultConfig();
  for (const [key, , value] of settings) {
    const path = key.split(".");
    let at = expected as unknown as Record<string, unknown>;
    for (const part of path.slice(0, -1)) at = at[part] as Record<string, unknown>;
    at[path[path.length - 1]] = value;
  }
  let toml: string;
  if (tables) {
    const top = settings.filter(([k]) => !k.includes("."));
    const sections = new Map<string, string[]>();
    for (const [k, v] of settings.filter(([k]) => k.includes("."))) {
      const [section, name] = k.split(".");
      sections.set(section, [...(sections.get(section) ?? []), `${name} = ${v}`]);
    }
    toml = top.map(([k, v]) => `${k} = ${v}\n`).join("") +
      [...sections].map(([s, lines]) => `\n[${s}]\n${lines.join("\n")}\n`).join("");
  } else {
    toml = settings.map(([k, v]) => `${k} = ${v}\n`).join("");
  }
  return { toml, expected };
});

/** Checks that a thrown value is the ConfigError the loader promises, naming `what`. */
export function assertConfigError(error: unknown, what: string): void {
  if (!(error instanceof ConfigError)) {
    const what = error instanceof Error ? `${error.name}: ${error.message}` : "the config loaded";
    throw new Error(`not a ConfigError: ${what}`);
  }
  assert.ok(error.message.includes(what), `the error does not name ${what}: ${error.message}`);
}

const KEYS = [
  "hostname",
  "domains",
  "data_dir",
  "log_level",
  "listen.smtp",
  "auth.failure_delay",
  "auth.max_failures_per_ip",
  "inbound.checks",
  "outbound.port",
  "limits.max_message_size",
  "limits.command_timeout",
  "quota.max_octets",
];

// Names that exist on every object: a schema looked up with `in` or `[]` finds them.
const PROTOTYPE_NAMES = [
  "constructor",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "isPrototypeOf",
  "toLocaleString",
];

const envName = fc.oneof(
  fc.constantFrom(...KEYS).map((k) => "FSMTP_" + k.replace(".", "_").toUpperCase()),
  stringOf("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", { maxLength: 20 }).map((s) => "FSMTP_" + s),
);
const envValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom("true", "0", "1", "65536", "5m", "a.example", ""),
);

/** The config targets. */
export const configTargets: FuzzTarget[] = [
  target("config", "valid", [validToml], ({ toml, expected }) => {
    const { result } = load(toml);
    if (result instanceof Error) throw new Error(`${toml}\nrefused: ${result.message}`);
    assert.deepEqual((result as LoadedConfig).config, expected as Config, toml);
  }),
  target("config", "mutation", [validAndMutated(validToml.map((v) => utf8(v.toml)))], (bytes) => {
    const { path, result } = load(bytes);
    if (
      result instanceof Error ||
      !(typeof result === "object" && result !== null && "config" in result)
    ) {
      assertConfigError(result, path);
    }
  }),
  target("config", "environment", [fc.dictionary(envName, envValue, { maxKeys: 3 })], (env) => {
    const { result } = load("", env);
    if (
      result instanceof Error ||
      !(typeof result === "object" && result !== null && "config" in result)
    ) {
      assertConfigError(result, "FSMTP_");
    }
  }),
  target(
    "config",
    "unknown-key",
    [
      fc.oneof(
        fc.constantFrom(...PROTOTYPE_NAMES),
        stringOf("abcxyz_", { minLength: 1, maxLength: 10 }),
      ),
      fc.boolean(),
    ],
    (name, viaEnv) => {
      // Every key outside the schema is refused, naming the key.
      const variable = `FSMTP_${name.toUpperCase()}`;
      const { result } = viaEnv ? load("", { [variable]: "1" }) : load(`${name} = 1\n`);
      assertConfigError(result, viaEnv ? variable : name);
    },
  ),
];

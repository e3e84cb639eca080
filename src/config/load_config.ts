/**
 * Loads the configuration: embedded defaults, then the TOML file, then `FSMTP_<SECTION>_<KEY>`
 * environment overrides; validates every value and names the key and file at fault.
 */
import { parse as parseToml } from "smol-toml";
import { type Config, defaultConfig } from "./config.ts";
import { parseDuration } from "./duration.ts";
import { parseIpv4, parseIpv6 } from "../dns_server/ip.ts";

/** A configuration problem, worded for the operator: what, where, and what to do. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Kind =
  | "string"
  | "hostname"
  | "domains"
  | "hosts"
  | "cql_name"
  | "listen"
  | "count"
  | "size"
  | "quota"
  | "duration"
  | "lease"
  | "delay"
  | "budget"
  | "rate"
  | "label"
  | "port"
  | "boolean"
  | "text"
  | "redis_url"
  | "rotate"
  | "ipv4s"
  | "ipv6s"
  | "ttl"
  | "mta_sts_id"
  | "per_second"
  | { oneOf: readonly string[] };

/** Every key the file may hold, with how to read it. Unknown keys are errors: typos must show. */
const SCHEMA: Record<string, Kind> = {
  hostname: "hostname",
  domains: "domains",
  data_dir: "string",
  keys_dir: "string",
  node_id: "string",
  log_level: { oneOf: ["debug", "info", "warn", "error"] },
  "listen.smtp": "listen",
  "listen.submission": "listen",
  "listen.submissions": "listen",
  "listen.pop3": "listen",
  "listen.pop3s": "listen",
  "listen.imap": "listen",
  "listen.imaps": "listen",
  "tls.cert": "string",
  "tls.key": "string",
  "auth.allow_plaintext": { oneOf: ["never", "loopback", "always"] },
  "auth.failure_delay": "delay",
  "auth.max_failures_per_ip": "count",
  "auth.failure_window": "duration",
  "inbound.checks": "boolean",
  "inbound.dmarc_policy": { oneOf: ["enforce", "record"] },
  "inbound.check_budget": "budget",
  "dkim.selector": "label",
  "dkim.rotate": "rotate",
  "dkim.publish_ahead": "duration",
  "dkim.retire_after": "duration",
  "dns.listen": "listen",
  "dns.ipv4": "ipv4s",
  "dns.ipv6": "ipv6s",
  "dns.ttl": "ttl",
  "dns.mta_sts_id": "mta_sts_id",
  "dns.rate_limit": "per_second",
  "outbound.resolver": "listen",
  "outbound.port": "port",
  "outbound.require_tls": "boolean",
  "outbound.relay_host": "listen",
  "outbound.relay_user": "text",
  "outbound.relay_password": "text",
  "outbound.max_age": "duration",
  "outbound.delay_warning": "duration",
  "outbound.lease": "lease",
  "limits.max_message_size": "size",
  "limits.max_recipients": "count",
  "limits.max_line_length": "size",
  "limits.command_timeout": "duration",
  "limits.line_deadline": "duration",
  "limits.min_data_rate": "rate",
  "limits.max_connections": "count",
  "limits.max_connections_per_ip": "count",
  "limits.max_errors": "count",
  "limits.max_inflight_octets": "size",
  "limits.max_connections_per_user": "count",
  "quota.max_octets": "quota",
  "store.backend": { oneOf: ["sqlite", "cassandra"] },
  "cassandra.contact_points": "hosts",
  "cassandra.local_dc": "text",
  "cassandra.keyspace": "cql_name",
  "cassandra.replication_factor": "count",
  "cassandra.consistency": {
    oneOf: ["one", "two", "three", "quorum", "all", "local_quorum", "each_quorum", "local_one"],
  },
  "cassandra.user": "text",
  "cassandra.password": "text",
  "cassandra.tls": "boolean",
  "cassandra.tls_ca": "text",
  "redis.url": "redis_url",
  "redis.lock_ttl": "duration",
  "http.listen": "listen",
  "http.rate_limit": "count",
  "http.status_retention": "duration",
  "http.metrics_token": "text",
  "http.tls": { oneOf: ["auto", "always"] },
};

/** The default config path, relative to the working directory. */
export const DEFAULT_CONFIG_PATH = "env/fsmtp.toml";

/** Where the config came from, for the start-up lines. */
export interface LoadedConfig {
  config: Config;
  /** The file read, or undefined when the embedded defaults were used. */
  path?: string;
  /** The environment variables that overrode a value. */
  overrides: string[];
}

/**
 * Reads `path` (or the default path when it exists) and the environment.
 * An explicitly named file that is missing is an error; a missing default file is not.
 */
export function loadConfig(
  path: string | undefined,
  env: Record<string, string> = Deno.env.toObject(),
): LoadedConfig {
  const config = defaultConfig();
  const file = path ?? DEFAULT_CONFIG_PATH;
  let text: string | undefined;
  try {
    text = Deno.readTextFileSync(file);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound) || path !== undefined) {
      throw new ConfigError(
        `cannot read config file ${file}: ${(err as Error).message}. ` +
          `Create it (see env/fsmtp.toml in the source) or pass --config PATH.`,
      );
    }
  }
  if (text !== undefined) {
    let table: Record<string, unknown>;
    try {
      table = parseToml(text) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`${file} is not valid TOML: ${(err as Error).message}`);
    }
    for (const [key, value] of flatten(table)) {
      apply(config, key, value, `${key} in ${file}`);
    }
  }
  const overrides: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    // FSMTP_TEST_* belong to the test suite (FSMTP_TEST_CASSANDRA, …); no config key has the
    // section "test", so they are not config and not an error.
    if (!name.startsWith("FSMTP_") || name.startsWith("FSMTP_TEST_")) continue;
    const key = envNameToKey(name);
    if (!key) {
      throw new ConfigError(
        `environment variable ${name} names no config key. Known keys: ${
          Object.keys(SCHEMA).join(", ")
        }`,
      );
    }
    apply(config, key, fromEnv(SCHEMA[key], value), `${key} from environment variable ${name}`);
    overrides.push(name);
  }
  checkWhole(config, text !== undefined ? file : "the defaults");
  return { config, path: text !== undefined ? file : undefined, overrides };
}

/** `FSMTP_LIMITS_MAX_RECIPIENTS` → `limits.max_recipients`; top-level keys win (`FSMTP_DATA_DIR`). */
function envNameToKey(name: string): string | undefined {
  const rest = name.slice("FSMTP_".length).toLowerCase();
  if (Object.hasOwn(SCHEMA, rest)) return rest;
  const cut = rest.indexOf("_");
  if (cut < 0) return undefined;
  const key = `${rest.slice(0, cut)}.${rest.slice(cut + 1)}`;
  return Object.hasOwn(SCHEMA, key) ? key : undefined;
}

function fromEnv(kind: Kind, value: string): unknown {
  if (kind === "boolean" && /^(true|false)$/.test(value.trim())) return value.trim() === "true";
  if (kind === "port" && /^\d+$/.test(value.trim())) return Number(value);
  if (kind === "domains" || kind === "hosts" || kind === "ipv4s" || kind === "ipv6s") {
    return value.split(",").map((d) => d.trim()).filter((d) => d !== "");
  }
  const numeric = kind === "count" || kind === "size" || kind === "quota" || kind === "rate" ||
    kind === "per_second";
  if (numeric && /^\d+$/.test(value.trim())) {
    return Number(value);
  }
  return value;
}

function* flatten(table: Record<string, unknown>, prefix = ""): Generator<[string, unknown]> {
  for (const [k, v] of Object.entries(table)) {
    const key = prefix + k;
    const isTable = typeof v === "object" && v !== null && !Array.isArray(v) &&
      !(v instanceof Date);
    if (isTable && !Object.hasOwn(SCHEMA, key)) {
      yield* flatten(v as Record<string, unknown>, key + ".");
    } else yield [key, v];
  }
}

function apply(config: Config, key: string, raw: unknown, where: string): void {
  // Own keys only: `constructor` or `toString` are no config keys (the fuzzer found them).
  const kind = Object.hasOwn(SCHEMA, key) ? SCHEMA[key] : undefined;
  if (!kind) {
    throw new ConfigError(
      `unknown config key ${where}. Known keys: ${Object.keys(SCHEMA).join(", ")}`,
    );
  }
  const value = convert(kind, raw, where);
  const path = key.split(".");
  let target = config as unknown as Record<string, unknown>;
  for (const part of path.slice(0, -1)) target = target[part] as Record<string, unknown>;
  target[path[path.length - 1]] = value;
}

function convert(kind: Kind, raw: unknown, where: string): unknown {
  const fail = (expected: string): never => {
    throw new ConfigError(
      `invalid value ${JSON.stringify(raw)} for ${where}: expected ${expected}`,
    );
  };
  if (typeof kind === "object") {
    if (typeof raw !== "string" || !kind.oneOf.includes(raw)) fail(`one of ${kind.oneOf}`);
    return raw;
  }
  switch (kind) {
    case "string":
      if (typeof raw !== "string" || raw === "") fail("a non-empty string");
      return raw;
    case "hostname":
      if (typeof raw !== "string" || !isHostname(raw)) {
        fail('a host name such as "mail.example.org"');
      }
      return (raw as string).toLowerCase();
    case "hosts": {
      const list = Array.isArray(raw) ? raw : fail('a list such as ["10.0.0.1:9042", "10.0.0.2"]');
      if (list.length === 0) fail("at least one host");
      return list.map((h) =>
        typeof h === "string" && (isHostname(h) || parseListen(h) !== undefined || isIp(h))
          ? h
          : fail('"host" or "host:port" entries')
      );
    }
    case "cql_name":
      // Unquoted CQL identifiers: letters, digits and underscores, at most 48 (a keyspace).
      if (typeof raw === "string" && /^[a-zA-Z][a-zA-Z0-9_]{0,47}$/.test(raw)) {
        return raw.toLowerCase();
      }
      return fail("a name of letters, digits and underscores, starting with a letter");
    case "domains": {
      const list = Array.isArray(raw) ? raw : fail('a list such as ["example.org"]');
      if (list.length === 0) fail("at least one domain");
      return list.map((d) =>
        typeof d === "string" && isHostname(d) ? d.toLowerCase() : fail("domain names")
      );
    }
    case "listen":
      if (typeof raw !== "string" || (raw !== "" && !parseListen(raw))) {
        fail('"host:port" such as "0.0.0.0:25" or "[::]:25", or "" to disable');
      }
      return raw;
    case "count":
      if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 1) fail("a whole number ≥ 1");
      return raw;
    case "per_second":
      if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 0 || raw > 1_000_000) {
        fail("a whole number of answers per second, such as 20, or 0 for no limit");
      }
      return raw;
    case "size":
      if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 512) {
        fail("a whole number of octets ≥ 512");
      }
      return raw;
    case "rate":
      if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 1) {
        fail("a whole number of octets per second ≥ 1, such as 100");
      }
      return raw;
    case "quota":
      if (typeof raw !== "number" || !Number.isInteger(raw) || (raw !== 0 && raw < 1024)) {
        fail("0 (no quota) or a whole number of octets ≥ 1024");
      }
      return raw;
    case "label":
      if (typeof raw !== "string" || !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(raw)) {
        fail('a DNS label such as "default"');
      }
      return raw;
    case "port":
      if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 1 || raw > 65535) {
        fail("a port number from 1 to 65535");
      }
      return raw;
    case "boolean":
      if (typeof raw !== "boolean") fail("true or false");
      return raw;
    case "text":
      if (typeof raw !== "string") fail("a string");
      return raw;
    case "redis_url":
      if (typeof raw !== "string" || (raw !== "" && !/^rediss?:\/\/[^\s\/]+(\/\d*)?$/.test(raw))) {
        fail('"redis://host:port/db" (or "rediss://" for TLS), or "" for no Redis');
      }
      return raw;
    case "rotate": {
      if (raw === "" || raw === "0" || raw === "off") return 0;
      const ms = typeof raw === "string" ? parseDuration(raw) : undefined;
      if (ms === undefined || ms < 1000) fail('a duration such as "1d", or "off" for a fixed key');
      return ms;
    }
    case "ipv4s":
    case "ipv6s": {
      const parse = kind === "ipv4s" ? parseIpv4 : parseIpv6;
      const list = Array.isArray(raw) ? raw : fail('a list of addresses such as ["192.0.2.1"]');
      return list.map((a) =>
        typeof a === "string" && parse(a)
          ? a
          : fail(`${kind === "ipv4s" ? "IPv4" : "IPv6"} addresses`)
      );
    }
    case "ttl": {
      // Whole seconds (RFC 2181 §8); a week is plenty for records that rotate.
      const ms = typeof raw === "string" ? parseDuration(raw) : undefined;
      if (ms === undefined || ms % 1000 !== 0 || ms > 7 * 86_400_000) {
        fail('whole seconds up to 7d, such as "30m"');
      }
      return ms;
    }
    case "mta_sts_id":
      if (typeof raw !== "string" || !/^[a-zA-Z0-9]{0,32}$/.test(raw)) {
        fail('1 to 32 letters and digits such as "20261130", or "" for no MTA-STS record');
      }
      return raw;
    case "delay": {
      const ms = typeof raw === "string" ? parseDuration(raw) : undefined;
      if (ms === undefined || ms > 60_000) fail('a duration up to 1m, such as "0s" or "2s"');
      return ms;
    }
    case "budget": {
      // Under 100 ms no DNS answer could come in time; over a minute a sender's SMTP client
      // may give up on the DATA reply (RFC 5321 §4.5.3.2.6 lets it wait 10 minutes, few do).
      const ms = typeof raw === "string" ? parseDuration(raw) : undefined;
      if (ms === undefined || ms < 100 || ms > 60_000) {
        fail('a duration from 100ms to 1m, such as "5s"');
      }
      return ms;
    }
    case "lease": {
      // Shorter than one delivery attempt (a slow peer, a large message) and another node would
      // take the message while its owner still sends it: mail sent twice.
      const ms = typeof raw === "string" ? parseDuration(raw) : undefined;
      if (ms === undefined || ms < 10_000) fail('a duration of at least 10s, such as "10m"');
      return ms;
    }
    case "duration": {
      const ms = typeof raw === "string" ? parseDuration(raw) : undefined;
      if (ms === undefined || ms < 1000) {
        fail('a duration of at least 1s, such as "30s", "5m", "1h"');
      }
      return ms;
    }
  }
}

function checkWhole(config: Config, source: string): void {
  if (config.store.backend === "cassandra" && config.redis.url === "") {
    throw new ConfigError(
      `store.backend = "cassandra" in ${source} needs redis.url: the nodes of a cluster share ` +
        `POP3 locks, session counts and the change feed through Redis. Set redis.url, or use ` +
        `store.backend = "sqlite".`,
    );
  }
  if (config.limits.max_line_length < 1000) {
    throw new ConfigError(
      `limits.max_line_length in ${source} must be at least 1000: RFC 5321 §4.5.3.1.6 lets ` +
        `clients send lines of 1000 octets`,
    );
  }
  if (config.limits.max_inflight_octets < config.limits.max_message_size) {
    throw new ConfigError(
      `limits.max_inflight_octets in ${source} is smaller than limits.max_message_size: no ` +
        `message of the largest allowed size could ever be received`,
    );
  }
  if (config.dkim.rotate > 0 && config.dkim.publish_ahead <= config.dns.ttl) {
    throw new ConfigError(
      `dkim.publish_ahead in ${source} must be longer than dns.ttl: a new DKIM key must be ` +
        `visible to every resolver before mail is signed with it`,
    );
  }
  if (config.dkim.rotate > 0 && config.dkim.rotate <= config.dkim.publish_ahead) {
    throw new ConfigError(
      `dkim.rotate in ${source} must be longer than dkim.publish_ahead, or every key would be ` +
        `replaced before it ever signs`,
    );
  }
  if (config.limits.max_connections_per_ip > config.limits.max_connections) {
    throw new ConfigError(
      `limits.max_connections_per_ip in ${source} is larger than limits.max_connections`,
    );
  }
}

function isIp(value: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(value) || /^[0-9a-fA-F:]+$/.test(value);
}

function isHostname(value: string): boolean {
  return value.length <= 253 &&
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i
      .test(value);
}

/** Splits `"host:port"` / `"[v6]:port"`; undefined when malformed. */
export function parseListen(value: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2], port };
}

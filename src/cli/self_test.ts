/**
 * `fsmtp --test`: checks the vital parts one by one and prints `OK` or `FAIL` with the reason;
 * exits 1 on any FAIL.
 */
import net from "node:net";
import { createPrivateKey } from "node:crypto";
import { join } from "node:path";
import type { Config, ListenerKey } from "../config/config.ts";
import { loadConfig, parseListen } from "../config/load_config.ts";
import { loadTlsContext } from "../net/tls_context.ts";
import { cassandraOptions, openStore, storePath } from "./setup.ts";
import { redisChecks } from "./redis_check.ts";
import { CassandraMailStore } from "../store/cassandra/cassandra_store.ts";
import { currentVersion, SCHEMA_VERSION } from "../store/cassandra/schema.ts";
import { CqlSession } from "../store/cassandra/session.ts";

type Check = { name: string; run: () => Promise<string> | string };

/** The listeners that exist so far; the rest come with their protocols. */
const BUILT_LISTENERS: ListenerKey[] = [
  "smtp",
  "submission",
  "submissions",
  "pop3",
  "pop3s",
  "imap",
  "imaps",
];

/** Runs every check; returns the exit code. */
export async function selfTest(opts: { config: string | undefined }): Promise<number> {
  let config: Config;
  try {
    const loaded = loadConfig(opts.config);
    config = loaded.config;
    report(true, "config", loaded.path ?? "embedded defaults (no config file)");
  } catch (err) {
    report(false, "config", (err as Error).message);
    return 1;
  }
  const checks: Check[] = [
    {
      name: "tls keys",
      run: () => {
        if (!exists(config.tls.cert) && !exists(config.tls.key)) {
          return `${config.tls.cert} and ${config.tls.key} do not exist yet: --run creates a ` +
            `self-signed pair at first start`;
        }
        loadTlsContext(config.tls.cert, config.tls.key);
        return `${config.tls.cert} and ${config.tls.key} form a usable pair`;
      },
    },
    {
      name: "dkim key",
      run: () => {
        const path = join(config.keys_dir, "dkim-private.pem");
        if (!exists(path)) return `${path} does not exist yet: --run creates it at first start`;
        const key = createPrivateKey(Deno.readTextFileSync(path));
        return `${path} (${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.modulusLength})`;
      },
    },
    config.store.backend === "cassandra" ? cassandraCheck(config) : {
      name: "store",
      run: async () => {
        const store = await openStore(config);
        try {
          await store.selfCheck();
        } finally {
          await store.close();
        }
        return `${storePath(config)} opens and round-trips a write`;
      },
    },
    ...redisChecks(config),
    ...BUILT_LISTENERS.map((key) => ({
      name: `port ${key}`,
      run: () => canBind(`listen.${key}`, config.listen[key]),
    })),
    { name: "port http", run: () => canBind("http.listen", config.http.listen) },
  ];
  let failed = 0;
  for (const check of checks) {
    try {
      report(true, check.name, await check.run());
    } catch (err) {
      failed++;
      report(false, check.name, (err as Error).message);
    }
  }
  return failed > 0 ? 1 : 0;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function report(ok: boolean, name: string, detail: string): void {
  console.log(`${ok ? "OK  " : "FAIL"} ${name}: ${detail}`);
}

async function canBind(key: string, address: string): Promise<string> {
  if (address === "") return `${key} is disabled`;
  const where = parseListen(address)!;
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: Error) =>
      reject(
        new Error(`cannot bind ${address} (${key}): ${err.message}; is fsmtp running?`),
      ));
    server.listen({ host: where.host, port: where.port }, () => resolve());
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `${address} is free to bind`;
}

/** A clock further apart than this from Cassandra's makes flag changes unsafe across nodes. */
const MAX_CLOCK_SKEW_MS = 500;

/**
 * Cassandra reachable (contact points, local data centre), its schema version, a write/read/
 * delete round trip, and this node's clock against the cluster's: conditional writes order by
 * timestamps, so clocks must agree (run NTP); and how many of the cluster's nodes are up.
 */
function cassandraCheck(config: Config): Check {
  return {
    name: "cassandra",
    run: async () => {
      const nodes = await clusterNodes(config);
      try {
        return `${await cassandraRoundTrip(config)}; ${nodes}`;
      } catch (err) {
        throw new Error(`${(err as Error).message}; ${nodes}`);
      }
    },
  };
}

/**
 * The nodes the driver learnt of (system.local and system.peers) and which of them it could
 * open connections to, e.g. "2 of 3 nodes up (down: 127.0.0.12:9042)": with replication 3 at
 * LOCAL_QUORUM (and the quorum every LWT needs) one node may be down, two may not.
 */
async function clusterNodes(config: Config): Promise<string> {
  const session = new CqlSession(cassandraOptions(config));
  try {
    await session.connect();
    const known = session.client.hosts.values().map((h) => h.address);
    const up = new Set(session.client.getState().getConnectedHosts().map((h) => h.address));
    const down = known.filter((address) => !up.has(address));
    return `${known.length - down.length} of ${known.length} nodes up` +
      (down.length > 0 ? ` (down: ${down.join(", ")}; see nodetool status)` : "");
  } finally {
    await session.close();
  }
}

/** Schema version, a write/read/delete round trip and the clock against the cluster. */
async function cassandraRoundTrip(config: Config): Promise<string> {
  const store = await CassandraMailStore.open({
    ...cassandraOptions(config),
    nodeId: config.node_id,
  });
  try {
    const version = await currentVersion(store.session);
    if (version !== SCHEMA_VERSION) {
      throw new Error(
        `keyspace ${config.cassandra.keyspace} is at schema ${version}, ` +
          `this fsmtp writes ${SCHEMA_VERSION}`,
      );
    }
    await store.selfCheck();
    const before = Date.now();
    const row = await store.session.row("SELECT toUnixTimestamp(now()) AS t FROM system.local");
    const after = Date.now();
    const theirs = Number(row?.get("t") ?? NaN);
    const skew = Math.round(theirs - (before + after) / 2);
    if (!Number.isFinite(skew) || Math.abs(skew) > MAX_CLOCK_SKEW_MS) {
      throw new Error(
        `this node's clock is ${skew} ms off Cassandra's (at most ${MAX_CLOCK_SKEW_MS}): ` +
          `run NTP (systemd-timesyncd or chrony) on every node`,
      );
    }
    return `${config.cassandra.contact_points.join(", ")} (dc ${config.cassandra.local_dc}), ` +
      `keyspace ${config.cassandra.keyspace} at schema ${version}, round trip OK, ` +
      `clock ${skew >= 0 ? "+" : ""}${skew} ms`;
  } finally {
    await store.close();
  }
}

/** Start-up pieces shared by the commands: the store and the key files. */
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import type { ChangeFeed } from "../store/change_feed.ts";
import { ensureKeys } from "../tls/ensure_keys.ts";
import { SqliteMailStore } from "../store/sqlite/sqlite_store.ts";
import { CassandraMailStore } from "../store/cassandra/cassandra_store.ts";
import type { CassandraOptions, ConsistencyName } from "../store/cassandra/session.ts";
import type { MailStore } from "../store/mail_store.ts";
import type { QueueStore } from "../queue/queue_store.ts";
import type { ApiTokenStore } from "../store/api_tokens.ts";
import type { DeliveryStatusStore } from "../store/delivery_status.ts";

/** The embedded store's file inside `data_dir`. */
export function storePath(config: Config): string {
  return join(config.data_dir, "fsmtp.db");
}

/** The primary store with its outbound queue and HTTP API data, whichever backend holds them. */
export type OpenedStore = MailStore & {
  readonly queue: QueueStore;
  readonly apiTokens: ApiTokenStore;
  readonly deliveryStatus: DeliveryStatusStore;
};

/**
 * Opens the configured store (`store.backend`), publishing changes on `changes` (an
 * in-process feed when absent); errors name the file or the Cassandra keys to check.
 */
export async function openStore(config: Config, changes?: ChangeFeed): Promise<OpenedStore> {
  if (config.store.backend === "cassandra") {
    const c = config.cassandra;
    try {
      return await CassandraMailStore.open({
        ...cassandraOptions(config),
        changes,
        nodeId: config.node_id,
        queueLeaseMs: config.outbound.lease,
      });
    } catch (err) {
      throw new Error(
        `cannot open the Cassandra store (cassandra.contact_points = ` +
          `${JSON.stringify(c.contact_points)}, keyspace "${c.keyspace}", local_dc ` +
          `"${c.local_dc}"): ${(err as Error).message}. Check that the nodes run and ` +
          `cassandra.local_dc names their data centre.`,
      );
    }
  }
  const path = storePath(config);
  try {
    return SqliteMailStore.open(path, { changes });
  } catch (err) {
    throw new Error(
      `cannot open the store ${path} (data_dir = "${config.data_dir}"): ` +
        `${(err as Error).message}. Check that the folder is writable by this user.`,
    );
  }
}

/** The `[cassandra]` keys as the store's options. */
export function cassandraOptions(config: Config): CassandraOptions {
  const c = config.cassandra;
  return {
    contactPoints: c.contact_points,
    localDc: c.local_dc,
    keyspace: c.keyspace,
    replicationFactor: c.replication_factor,
    consistency: c.consistency.toUpperCase() as ConsistencyName,
    user: c.user || undefined,
    password: c.password || undefined,
    tls: c.tls,
    tlsCa: c.tls_ca || undefined,
  };
}

/** Creates the TLS certificate and DKIM keys when missing; returns what was created. */
export function prepareKeys(config: Config): Promise<string[]> {
  return ensureKeys({
    keysDir: config.keys_dir,
    certPath: config.tls.cert,
    keyPath: config.tls.key,
    hostname: config.hostname,
  });
}

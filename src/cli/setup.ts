/** Start-up pieces shared by the commands: the store and the key files. */
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import type { ChangeFeed } from "../store/change_feed.ts";
import { ensureKeys } from "../tls/ensure_keys.ts";
import { SqliteMailStore } from "../store/sqlite/sqlite_store.ts";

/** The embedded store's file inside `data_dir`. */
export function storePath(config: Config): string {
  return join(config.data_dir, "fsmtp.db");
}

/**
 * Opens the store, publishing changes on `changes` (an in-process feed when absent); errors
 * name the file and the config key.
 */
export function openStore(config: Config, changes?: ChangeFeed): SqliteMailStore {
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

/** Creates the TLS certificate and DKIM keys when missing; returns what was created. */
export function prepareKeys(config: Config): Promise<string[]> {
  return ensureKeys({
    keysDir: config.keys_dir,
    certPath: config.tls.cert,
    keyPath: config.tls.key,
    hostname: config.hostname,
  });
}

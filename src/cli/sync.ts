/**
 * `fsmtp -s / --sync`: rebuilds the Redis STATUS cache from the primary store, for every user
 * and mailbox. Idempotent (each entry is overwritten with what the store says now) and safe while
 * nodes run: an entry is served only while it matches its mailbox's UIDNEXT and HIGHESTMODSEQ
 * (see `status_cache.ts`), so one written just before a change is never served.
 */
import type { Config } from "../config/config.ts";
import { loadConfig } from "../config/load_config.ts";
import type { MailStore } from "../store/mail_store.ts";
import { closeRedis, connectRedis, whenReady } from "../store/redis/redis_link.ts";
import { RedisStatusCache } from "../store/redis/status_cache.ts";
import { createLogger } from "../log.ts";
import { openStore } from "./setup.ts";
import { redisUrlForDisplay } from "./redis_services.ts";

/** What a sync did. */
export interface SyncSummary {
  users: number;
  mailboxes: number;
  messages: number;
  seconds: number;
}

/** Reports progress: after each user, with the running totals. */
export type SyncProgress = (done: number, total: number, mailboxes: number) => void;

/** Writes every mailbox's STATUS figures of `store` into `cache`. */
export async function syncStatusCache(
  store: MailStore,
  cache: RedisStatusCache,
  progress: SyncProgress,
): Promise<SyncSummary> {
  const started = performance.now();
  const users = await store.listUsers();
  let mailboxes = 0;
  let messages = 0;
  for (const [i, address] of users.entries()) {
    for (const box of await store.listMailboxes(address)) {
      const status = await store.mailboxStatus(box.id);
      if (!status) continue; // deleted meanwhile
      await cache.put(status);
      mailboxes++;
      messages += status.messages;
    }
    progress(i + 1, users.length, mailboxes);
  }
  const seconds = (performance.now() - started) / 1000;
  return { users: users.length, mailboxes, messages, seconds };
}

/** A bar redrawn in place on a terminal. */
export function progressBar(done: number, total: number, mailboxes: number, width = 30): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  const bar = "#".repeat(filled) + ".".repeat(width - filled);
  return `[${bar}] ${done}/${total} users, ${mailboxes} mailboxes`;
}

/** Progress as lines: at most about twenty, plus the last. */
function lineProgress(): SyncProgress {
  let nextAt = 0;
  return (done, total, mailboxes) => {
    if (done < nextAt && done !== total) return;
    nextAt = done + Math.max(1, Math.ceil(total / 20));
    console.log(`sync: ${done}/${total} users, ${mailboxes} mailboxes`);
  };
}

function terminalProgress(): SyncProgress {
  const encoder = new TextEncoder();
  return (done, total, mailboxes) => {
    Deno.stdout.writeSync(encoder.encode(`\r${progressBar(done, total, mailboxes)}`));
    if (done === total) Deno.stdout.writeSync(encoder.encode("\n"));
  };
}

/** Runs the command; returns the exit code. */
export async function syncCommand(opts: { config: string | undefined }): Promise<number> {
  const config: Config = loadConfig(opts.config).config;
  if (config.redis.url === "") {
    console.error(
      "fsmtp: --sync rebuilds the Redis cache, but redis.url is not set: set [redis] url = " +
        '"redis://host:port/0" in the config (or FSMTP_REDIS_URL) and run it again',
    );
    return 1;
  }
  const shown = redisUrlForDisplay(config.redis.url);
  const redis = connectRedis(config.redis.url, { name: `fsmtp-${config.node_id}-sync` });
  redis.on("error", () => {}); // reported below through whenReady and the failed writes
  try {
    try {
      await whenReady(redis, 5_000);
    } catch (err) {
      console.error(
        `fsmtp: cannot reach Redis at ${shown} (redis.url): ${(err as Error).message}. ` +
          `Is redis-server running there?`,
      );
      return 1;
    }
    const log = createLogger("warn", undefined, { node: config.node_id });
    const cache = new RedisStatusCache(redis, log);
    const store = await openStore(config);
    try {
      const progress = Deno.stdout.isTerminal() ? terminalProgress() : lineProgress();
      const summary = await syncStatusCache(store, cache, progress);
      if (redis.status !== "ready") {
        console.error(`fsmtp: Redis at ${shown} went away during the sync; run it again`);
        return 1;
      }
      console.log(
        `sync: done: ${summary.users} users, ${summary.mailboxes} mailboxes, ` +
          `${summary.messages} messages in ${summary.seconds.toFixed(2)} s`,
      );
      return 0;
    } finally {
      await store.close();
    }
  } finally {
    await closeRedis(redis);
  }
}

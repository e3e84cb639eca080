/**
 * What `redis.url` turns on for a running node: the change feed over Redis pub/sub, the STATUS
 * and message list caches in front of the primary store, and the coordinator (maildrop locks,
 * IMAP session counts, failed-login counts) shared by the nodes. Without it: the in-process
 * feed and coordinator.
 *
 * The primary store is opened by the caller's function with the feed it must publish on, so
 * this works with any MailStore backend.
 */
import type { Config } from "../config/config.ts";
import type { Logger } from "../log.ts";
import type { ChangeFeed } from "../store/change_feed.ts";
import { type Coordinator, InProcessCoordinator } from "../store/coordinator.ts";
import type { MailStore } from "../store/mail_store.ts";
import { RedisChangeFeed } from "../store/redis/redis_change_feed.ts";
import { RedisCoordinator } from "../store/redis/redis_coordinator.ts";
import { whenReady } from "../store/redis/redis_link.ts";
import { InvalidatingFeed, RedisStatusCache } from "../store/redis/status_cache.ts";
import { StatusCachingStore } from "../store/redis/status_caching_store.ts";
import { RedisMessageListCache } from "../store/redis/message_list_cache.ts";

/** How long start-up waits for Redis before going on without it (it may come later). */
const START_WAIT_MS = 3_000;

/** The store the sessions use, the coordinator, and how to close what was opened here. */
export interface NodeServices<S extends MailStore> {
  /** The primary store as opened (its queue and other extras stay reachable). */
  primary: S;
  /** What the sessions use: the primary store, behind the STATUS cache with Redis. */
  store: MailStore;
  coordinator: Coordinator;
  /** Closes the coordinator, the feed and the store. */
  close(): Promise<void>;
}

/** The credentials of a Redis URL left out, for messages and logs. */
export function redisUrlForDisplay(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//");
}

/**
 * Opens the primary store with `open(feed)` and, when `redis.url` is set, the Redis services
 * around it. A Redis that is down at start-up is waited for a moment, then left to reconnect
 * on its own: the node serves meanwhile, with the warnings of each fallback.
 */
export async function openNodeServices<S extends MailStore>(
  config: Config,
  log: Logger,
  open: (changes: ChangeFeed | undefined) => S | Promise<S>,
): Promise<NodeServices<S>> {
  if (config.redis.url === "") {
    const primary = await open(undefined);
    const coordinator = new InProcessCoordinator();
    return { primary, store: primary, coordinator, close: () => primary.close() };
  }
  const url = config.redis.url;
  const feed = new RedisChangeFeed({ url, nodeId: config.node_id, log });
  const coordinator = new RedisCoordinator({
    url,
    nodeId: config.node_id,
    log,
    leaseMs: config.redis.lock_ttl,
  });
  const cache = new RedisStatusCache(coordinator.redis, log);
  let primary: S;
  try {
    primary = await open(new InvalidatingFeed(feed, cache));
  } catch (err) {
    await Promise.all([coordinator.close(), feed.close()]);
    throw err;
  }
  try {
    await Promise.all([whenReady(coordinator.redis, START_WAIT_MS), feed.ready(START_WAIT_MS)]);
    log.info("redis.connected", { url: redisUrlForDisplay(url) });
  } catch (err) {
    log.warn("redis.unavailable", {
      what: "start-up",
      url: redisUrlForDisplay(url),
      error: (err as Error).message,
      meanwhile: "serving from the store; POP3 logins answer -ERR [SYS/TEMP] until it is back",
    });
  }
  return {
    primary,
    store: new StatusCachingStore(
      primary,
      cache,
      new RedisMessageListCache(coordinator.redis, log),
    ),
    coordinator,
    close: async () => {
      await coordinator.close();
      await feed.close();
      await primary.close();
    },
  };
}

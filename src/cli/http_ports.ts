/**
 * The HTTP server's ports on a running node: the store's API tables, submission through the
 * runtime (as SMTP submission does it), the queue's figures as `--queue` sums them, and the
 * health checks of `--test` (the store's self-check, the Redis checks).
 */
import type { Logger } from "../log.ts";
import type { HttpPorts } from "../http/ports.ts";
import { InProcessRateCounter, type RateCounter } from "../http/rate_limit.ts";
import { cachedQueueSummary } from "../queue/queue_summary_cache.ts";
import type { Coordinator } from "../store/coordinator.ts";
import { RedisCoordinator } from "../store/redis/redis_coordinator.ts";
import { RedisRateCounter } from "../store/redis/redis_rate_limit.ts";
import { redisChecks } from "./redis_check.ts";
import type { Runtime } from "./runtime.ts";
import type { OpenedStore } from "./setup.ts";

/** The ports for `runtime`, whose primary store is `primary`. */
export function httpPorts(
  runtime: Runtime,
  primary: OpenedStore,
  coordinator: Coordinator,
  log: Logger,
): HttpPorts {
  // With Redis, a token's messages are counted once across the nodes.
  const rate: RateCounter = coordinator instanceof RedisCoordinator
    ? new RedisRateCounter(coordinator.redis, log)
    : new InProcessRateCounter();
  return {
    config: () => runtime.config,
    log,
    tokens: primary.apiTokens,
    statuses: primary.deliveryStatus,
    rate,
    userCreatedAt: async (address) => (await runtime.store.getUser(address))?.createdAt,
    checkRecipient: (address) => runtime.delivery.checkRecipient(address),
    canRelay: () => runtime.submission.canRelay,
    mayUseAddress: (user, address) => runtime.submission.mayUseAddress({ address: user }, address),
    submit: (message) => runtime.submission.submit(message, { address: message.user }),
    // Cached for a few seconds: summing the queue is a full scan of it (Cassandra's too).
    queueSummary: cachedQueueSummary(() => runtime.queue.list()),
    health: async () => {
      const checks = [{
        name: "store",
        run: async () => {
          await runtime.store.selfCheck();
          return `${runtime.config.store.backend} store round-trips a write`;
        },
      }, ...(runtime.config.redis.url === "" ? [] : redisChecks(runtime.config))];
      const results = [];
      for (const check of checks) {
        try {
          results.push({ name: check.name, ok: true, detail: await check.run() });
        } catch (err) {
          results.push({ name: check.name, ok: false, detail: (err as Error).message });
        }
      }
      return results;
    },
  };
}

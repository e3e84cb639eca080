/**
 * The HTTP API's per-token rate counter in Redis, shared by the nodes: one key per token,
 * INCR'd and given the window's life at its first hit, in one script (Redis keeps the time, so
 * the nodes' clocks need not agree). When Redis cannot be asked the hit is counted by this
 * node alone, with a warning once per outage: a Redis outage must not stop the API.
 */
import type { Logger } from "../../log.ts";
import { InProcessRateCounter, type RateCounter } from "../../http/rate_limit.ts";
import { KEY_PREFIX, OutageLog, type RedisClient } from "./redis_link.ts";

/** Counts a hit; the key's window starts with its first hit. Returns {count, ms left}. */
const HIT = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}`;

/** Rate counts in Redis. */
export class RedisRateCounter implements RateCounter {
  readonly #outage: OutageLog;
  readonly #local = new InProcessRateCounter();

  constructor(private readonly redis: RedisClient, log: Logger) {
    this.#outage = new OutageLog(log, "API rate limits", "each node counts its own requests");
  }

  async hit(key: string, windowMs: number): Promise<{ count: number; resetMs: number }> {
    try {
      const reply = await this.redis.eval(HIT, 1, `${KEY_PREFIX}ratelimit:${key}`, windowMs);
      this.#outage.succeeded();
      const [count, resetMs] = reply as [number, number];
      return { count, resetMs };
    } catch (err) {
      this.#outage.failed(err);
      return this.#local.hit(key, windowMs);
    }
  }
}

/**
 * The HTTP API's per-token rate counter in Redis, shared by the nodes: one key per token and
 * window, INCR'd and given the window's remaining life in one script (Redis server time, so
 * the nodes' clocks need not agree). When Redis cannot be asked the hit is counted by this
 * node alone, with a warning once per outage: a Redis outage must not stop the API.
 */
import type { Logger } from "../../log.ts";
import { InProcessRateCounter, type RateCounter } from "../../http/rate_limit.ts";
import { KEY_PREFIX, OutageLog, type RedisClient } from "./redis_link.ts";

/** Returns {count, ms left in the window}. */
const HIT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local start = now - (now % window)
local key = KEYS[1] .. ':' .. start
local n = redis.call('INCR', key)
if n == 1 then redis.call('PEXPIRE', key, window) end
return {n, start + window - now}`;

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

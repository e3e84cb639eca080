/**
 * Failed logins per client address, shared by the nodes: one sorted set per address of the
 * failures' times (Redis server time), each forgotten after `auth.failure_window`. The login
 * guard of each node keeps its own list and its turn-taking; this only lets a guesser who
 * spreads attempts over the nodes be counted once.
 *
 * When Redis cannot be asked, the count is 0 and the guard decides on its own failures (with a
 * warning once per outage).
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../../log.ts";
import type { SharedFailures } from "../coordinator.ts";
import { KEY_PREFIX, OutageLog, type RedisClient } from "./redis_link.ts";

/** The key of `ip`'s failures. */
export function failuresKey(ip: string): string {
  return `${KEY_PREFIX}authfail:${ip}`;
}

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** Adds ARGV[2] now, drops what left the ARGV[1] window. */
const RECORD = `${NOW}
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

/** Failures within the ARGV[1] window. */
const COUNT = `${NOW}
return redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')`;

/** Failure counts in Redis. */
export class RedisAuthFailures implements SharedFailures {
  readonly #outage: OutageLog;
  #next = 0;

  constructor(private readonly redis: RedisClient, log: Logger, private readonly origin: string) {
    this.#outage = new OutageLog(
      log,
      "failed-login counts",
      "each node counts only the failed logins it saw",
    );
  }

  /** Failures of `ip` on every node within the window; 0 when Redis cannot be asked. */
  async count(ip: string, windowMs: number): Promise<number> {
    try {
      const n = await this.redis.eval(COUNT, 1, failuresKey(ip), windowMs);
      this.#outage.succeeded();
      return typeof n === "number" ? n : 0;
    } catch (err) {
      this.#outage.failed(err);
      return 0;
    }
  }

  /** Records a failure of `ip`. */
  async record(ip: string, windowMs: number): Promise<void> {
    const member = `${this.origin}:${++this.#next}:${randomBytes(3).toString("hex")}`;
    try {
      await this.redis.eval(RECORD, 1, failuresKey(ip), windowMs, member);
      this.#outage.succeeded();
    } catch (err) {
      this.#outage.failed(err);
    }
  }
}

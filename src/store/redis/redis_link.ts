/**
 * The one place that knows how fsmtp talks to Redis (npm:ioredis): how a connection is made,
 * and how an outage is noticed and reported.
 *
 * Commands fail fast when Redis is unreachable instead of queueing until it returns (no offline
 * queue, one attempt, a command timeout): every caller has a fallback (the local feed, the
 * local counters, the primary store) or answers "try again later", and a login or a POP3 USER
 * must not hang for as long as Redis is down. ioredis keeps reconnecting on its own, with a
 * back-off capped at two seconds, and re-subscribes a subscriber connection.
 */
import { Redis } from "ioredis";
import type { Logger } from "../../log.ts";

/** A connection to Redis (the ioredis client). */
export type RedisClient = Redis;

/** How long one command may take before it counts as failed. */
export const COMMAND_TIMEOUT_MS = 1_000;

/** Longest pause between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 2_000;

/** How a connection is made. */
export interface RedisLinkOptions {
  /** Connection name shown by `CLIENT LIST` (the node id and the connection's role). */
  name?: string;
  /** A subscriber connection: commands never time out (it only waits for messages). */
  subscriber?: boolean;
}

/**
 * Opens a connection to `url` ("redis://host:port/db", "rediss://" for TLS). Connecting goes on
 * in the background; until it succeeds, commands fail at once.
 */
export function connectRedis(url: string, options: RedisLinkOptions = {}): RedisClient {
  return new Redis(url, {
    connectionName: options.name,
    enableOfflineQueue: options.subscriber ?? false,
    maxRetriesPerRequest: options.subscriber ? null : 0,
    commandTimeout: options.subscriber ? undefined : COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    autoResubscribe: true,
    retryStrategy: (times: number) => Math.min(100 * times, MAX_RECONNECT_DELAY_MS),
  });
}

/** Resolves once `client` is ready, or rejects with why after `ms`. */
export function whenReady(client: RedisClient, ms: number): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError = "no answer";
    const onError = (err: Error) => lastError = err.message;
    const done = (err?: Error) => {
      clearTimeout(timer);
      client.off("ready", onReady);
      client.off("error", onError);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const timer = setTimeout(
      () => done(new Error(`Redis not ready after ${ms} ms: ${lastError}`)),
      ms,
    );
    client.on("ready", onReady);
    client.on("error", onError);
  });
}

/** Closes a connection: politely when it is up, at once otherwise. */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status === "ready") {
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}

/**
 * Reports an outage once: the first failure of a run of failures logs a warning with what
 * falls back to what, and the first success after it logs the recovery. Without it, a Redis
 * outage under load would log a warning per command.
 */
export class OutageLog {
  #down = false;

  constructor(
    private readonly log: Logger,
    /** What is affected, e.g. "change feed", for the log lines. */
    private readonly what: string,
    /** What happens meanwhile, e.g. "local sessions only". */
    private readonly fallback: string,
  ) {}

  /** True while the last attempt failed. */
  get down(): boolean {
    return this.#down;
  }

  /** A command failed. */
  failed(err: unknown): void {
    if (this.#down) return;
    this.#down = true;
    this.log.warn("redis.unavailable", {
      what: this.what,
      error: err instanceof Error ? err.message : String(err),
      meanwhile: this.fallback,
    });
  }

  /** A command succeeded. */
  succeeded(): void {
    if (!this.#down) return;
    this.#down = false;
    this.log.info("redis.recovered", { what: this.what });
  }
}

/** The key prefix of everything fsmtp keeps in Redis, so one Redis may serve other programs. */
export const KEY_PREFIX = "fsmtp:";

/**
 * The {@link Coordinator} on Redis: maildrop locks, IMAP session counts, connection counts per
 * IP and failed-login counts shared by every node, on one command connection.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../../log.ts";
import type { Coordinator, SessionSlots } from "../coordinator.ts";
import { RedisAuthFailures } from "./redis_auth_failures.ts";
import { RedisMaildropLocks } from "./redis_locks.ts";
import { closeRedis, connectRedis, type RedisClient } from "./redis_link.ts";
import { IP_CONNECTIONS, RedisSessionSlots } from "./redis_sessions.ts";

/** Default lifetime of a lock or session count after its node's last refresh. */
export const DEFAULT_LEASE_MS = 30_000;

/** How to start a {@link RedisCoordinator}. */
export interface RedisCoordinatorOptions {
  url: string;
  /** This node's id (config `node_id`). */
  nodeId: string;
  log: Logger;
  /** How long a dead node's locks and sessions keep counting; 30 s by default. */
  leaseMs?: number;
}

/** Coordination of several nodes through one Redis. */
export class RedisCoordinator implements Coordinator {
  readonly maildropLocks: RedisMaildropLocks;
  readonly authFailures: RedisAuthFailures;
  /** This process, in lock tokens and member ids. */
  readonly origin: string;
  readonly #redis: RedisClient;
  readonly #slots: RedisSessionSlots[] = [];
  readonly #log: Logger;
  readonly #leaseMs: number;

  constructor(options: RedisCoordinatorOptions) {
    this.origin = `${options.nodeId}/${randomBytes(4).toString("hex")}`;
    this.#log = options.log;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#redis = connectRedis(options.url, { name: `fsmtp-${options.nodeId}-coord` });
    // Connection errors reach the callers as failed commands, which report them once per
    // outage; an "error" event without a listener would be thrown instead.
    this.#redis.on("error", () => {});
    this.maildropLocks = new RedisMaildropLocks(this.#redis, options.log, this.#leaseMs);
    this.authFailures = new RedisAuthFailures(this.#redis, options.log, this.origin);
  }

  /** The connection, for readiness checks. */
  get redis(): RedisClient {
    return this.#redis;
  }

  /** IMAP session slots counted across the nodes. */
  userSessions(limit: () => number): SessionSlots {
    const slots = new RedisSessionSlots(this.#redis, this.#log, this.origin, limit, this.#leaseMs);
    this.#slots.push(slots);
    return slots;
  }

  /** Open connections per client address counted across the nodes, against `limit()`. */
  connectionsPerIp(limit: () => number): SessionSlots {
    const slots = new RedisSessionSlots(
      this.#redis,
      this.#log,
      this.origin,
      limit,
      this.#leaseMs,
      IP_CONNECTIONS,
    );
    this.#slots.push(slots);
    return slots;
  }

  /** Frees this node's locks, stops refreshing, closes the connection. */
  async close(): Promise<void> {
    for (const slots of this.#slots) slots.stop();
    await this.maildropLocks.releaseAll();
    await closeRedis(this.#redis);
  }
}

/**
 * What the HTTP handlers reach the rest of fsmtp through: the config, the API's stores, the
 * submission path, the queue's figures and the health checks. Built from the running server
 * in `src/cli/run.ts`; tests may build their own.
 */
import type { Config } from "../config/config.ts";
import type { Logger } from "../log.ts";
import type { RecipientCheck, SubmittedMessage } from "../mail/message_types.ts";
import type { QueueSummary } from "../queue/queue_summary.ts";
import type { ApiTokenStore } from "../store/api_tokens.ts";
import type { DeliveryStatusStore } from "../store/delivery_status.ts";
import type { RateCounter } from "./rate_limit.ts";

/** One health check: its name and OK detail, or the reason it failed. */
export interface HealthCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** The ports. */
export interface HttpPorts {
  /** The current config (SIGHUP may replace it). */
  config(): Config;
  log: Logger;
  tokens: ApiTokenStore;
  statuses: DeliveryStatusStore;
  rate: RateCounter;
  /**
   * When the user was created (milliseconds since the epoch), or undefined when there is no
   * such user: a deleted user's tokens stop working, and stay dead if the address is reused.
   */
  userCreatedAt(address: string): Promise<number | undefined>;
  checkRecipient(address: string): Promise<RecipientCheck>;
  /** Remote recipients can be queued (a queue runner is running). */
  canRelay(): boolean;
  /** May `user` send as `address` (submission's rule)? */
  mayUseAddress(user: string, address: string): boolean;
  /** Delivers locally and queues the rest, as submission does; resolves once durable. */
  submit(message: SubmittedMessage): Promise<void>;
  /** The queue's totals, as `fsmtp --queue` prints them. */
  queueSummary(): Promise<QueueSummary>;
  /** The checks of `/healthz`: the store, and Redis when configured. */
  health(): Promise<HealthCheck[]>;
}

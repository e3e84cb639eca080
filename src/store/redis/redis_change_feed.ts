/**
 * The change feed across nodes: local subscribers hear local changes at once, as with the
 * in-process feed, and every change also goes out on one Redis pub/sub channel so the other
 * nodes wake their own subscribers.
 *
 * One channel carries every mailbox (the mailbox id is in the message) and each process has one
 * subscriber connection: subscribing per mailbox would cost a SUBSCRIBE/UNSUBSCRIBE round trip
 * per SELECT, and the events are tiny. A message carries the publishing process's origin id, so
 * a node ignores its own messages instead of waking its sessions twice.
 *
 * Pub/sub is at most once: events published while Redis is down, or while this node's
 * subscriber is reconnecting, are lost. Events only wake sessions, which then pull what changed
 * from the store's journal, so when the subscriber is back every local subscriber is woken once
 * and catches up on what it missed.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../../log.ts";
import { type ChangeFeed, InProcessChangeFeed, type MailboxEvent } from "../change_feed.ts";
import type { MailboxId } from "../mail_store.ts";
import { closeRedis, connectRedis, KEY_PREFIX, OutageLog, type RedisClient } from "./redis_link.ts";

/** The channel every node publishes on. */
export const CHANGES_CHANNEL = `${KEY_PREFIX}changes`;

const KINDS: readonly MailboxEvent["kind"][] = ["added", "flags", "expunged", "deleted"];

/** What goes over the channel. */
interface WireEvent {
  /** Origin: the publishing process. */
  o: string;
  m: MailboxId;
  k: MailboxEvent["kind"];
  s: number;
}

/** Encodes an event with its origin for the channel. */
export function encodeEvent(origin: string, event: MailboxEvent): string {
  const wire: WireEvent = { o: origin, m: event.mailboxId, k: event.kind, s: event.modSeq };
  return JSON.stringify(wire);
}

/** Decodes a channel message; undefined for anything malformed (another program's, a bug's). */
export function decodeEvent(text: string): { origin: string; event: MailboxEvent } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const w = value as Record<string, unknown>;
  if (typeof w.o !== "string" || typeof w.m !== "string" || w.m === "") return undefined;
  if (typeof w.k !== "string" || !(KINDS as readonly string[]).includes(w.k)) return undefined;
  if (typeof w.s !== "number" || !Number.isSafeInteger(w.s) || w.s < 0) return undefined;
  return {
    origin: w.o,
    event: { mailboxId: w.m, kind: w.k as MailboxEvent["kind"], modSeq: w.s },
  };
}

/** How to start a {@link RedisChangeFeed}. */
export interface RedisChangeFeedOptions {
  url: string;
  /** This node's id (config `node_id`); a random suffix tells two processes apart. */
  nodeId: string;
  log: Logger;
}

/** A {@link ChangeFeed} shared by every node on one Redis. */
export class RedisChangeFeed implements ChangeFeed {
  /** This process on the channel. */
  readonly origin: string;
  readonly #local = new InProcessChangeFeed();
  readonly #publisher: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #outage: OutageLog;
  #subscribedOnce = false;

  constructor(options: RedisChangeFeedOptions) {
    this.origin = `${options.nodeId}/${randomBytes(4).toString("hex")}`;
    this.#outage = new OutageLog(
      options.log,
      "change feed",
      "changes reach only this node's sessions; others see them on their next command",
    );
    this.#publisher = connectRedis(options.url, { name: `fsmtp-${options.nodeId}-feed` });
    this.#subscriber = connectRedis(options.url, {
      name: `fsmtp-${options.nodeId}-sub`,
      subscriber: true,
    });
    // ioredis reports connection errors as events; unhandled, they would be thrown.
    this.#publisher.on("error", (err: Error) => this.#outage.failed(err));
    this.#subscriber.on("error", (err: Error) => this.#outage.failed(err));
    this.#subscriber.on("message", (channel: string, text: string) => {
      if (channel === CHANGES_CHANNEL) this.#received(text);
    });
    // "ready" follows every (re)connection once ioredis has re-subscribed.
    this.#subscriber.on("ready", () => {
      if (this.#subscribedOnce) this.#wakeAll();
    });
    this.#subscriber.subscribe(CHANGES_CHANNEL).then(
      () => this.#subscribedOnce = true,
      (err: Error) => this.#outage.failed(err),
    );
  }

  /** Resolves once the subscription is in place (tests and start-up wait on it). */
  async ready(ms = 5_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.#subscribedOnce || this.#subscriber.status !== "ready") {
      if (Date.now() > deadline) throw new Error(`Redis subscription not ready after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Wakes local subscribers now and tells the other nodes through Redis. */
  publish(event: MailboxEvent): void {
    this.#local.publish(event);
    this.#publisher.publish(CHANGES_CHANNEL, encodeEvent(this.origin, event)).then(
      () => this.#outage.succeeded(),
      (err: Error) => this.#outage.failed(err),
    );
  }

  /** Calls `listener` for each event of `mailboxId`, from this node or another. */
  subscribe(mailboxId: MailboxId, listener: (event: MailboxEvent) => void): () => void {
    return this.#local.subscribe(mailboxId, listener);
  }

  /** Listeners now, for tests. */
  get listenerCount(): number {
    return this.#local.listenerCount;
  }

  /** Closes both connections. */
  async close(): Promise<void> {
    await Promise.all([closeRedis(this.#publisher), closeRedis(this.#subscriber)]);
  }

  #received(text: string): void {
    const decoded = decodeEvent(text);
    if (!decoded || decoded.origin === this.origin) return;
    this.#outage.succeeded();
    this.#local.publish(decoded.event);
  }

  /**
   * After a reconnection: events may have been missed, so every local subscriber is woken to
   * pull from the journal. The modseq is 0 because the event is a wake-up, not a change.
   */
  #wakeAll(): void {
    this.#outage.succeeded();
    for (const mailboxId of this.#local.mailboxIds()) {
      this.#local.publish({ mailboxId, kind: "flags", modSeq: 0 });
    }
  }
}

/**
 * IMAP sessions per user across nodes: one sorted set per user whose members are this
 * cluster's open sessions, scored by when each stops counting. Every node re-scores its own
 * sessions every third of the lifetime, so a node that dies stops counting within one lifetime.
 * Times come from the Redis server (`TIME` inside the scripts), never from the nodes' clocks.
 *
 * When Redis cannot be asked, the decision falls back to this node's own count (with a warning
 * once per outage): a user may then hold the limit on each node, which is better than locking
 * every user out. Sessions opened meanwhile are put into Redis by the next refresh.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../../log.ts";
import type { SessionSlots } from "../coordinator.ts";
import { KEY_PREFIX, OutageLog, type RedisClient } from "./redis_link.ts";

/** The key of `address`'s session set. */
export function sessionsKey(address: string): string {
  return `${KEY_PREFIX}sessions:${address}`;
}

/** The key of `ip`'s set of open connections. */
export function connectionsKey(ip: string): string {
  return `${KEY_PREFIX}conns:${ip}`;
}

/** What a set of slots counts: its keys, and the words of its outage warning. */
export interface SlotKind {
  key(id: string): string;
  what: string;
  fallback: string;
}

/** IMAP sessions per user (`limits.max_connections_per_user`). */
export const IMAP_SESSIONS: SlotKind = {
  key: sessionsKey,
  what: "IMAP session counts",
  fallback: "each node counts only its own sessions against limits.max_connections_per_user",
};

/** Connections per client address (`limits.max_connections_per_ip`). */
export const IP_CONNECTIONS: SlotKind = {
  key: connectionsKey,
  what: "connection counts per IP",
  fallback: "each node counts only its own connections against limits.max_connections_per_ip",
};

/** Drops expired members, then adds ARGV[2] unless ARGV[1] members remain; 1 when added. */
const ENTER = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/** Re-scores (or re-adds) ARGV[2..] to live ARGV[1] more milliseconds. */
const REFRESH = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

/** Session slots (or connection slots, see {@link SlotKind}) counted in Redis. */
export class RedisSessionSlots implements SessionSlots {
  /** This node's sessions: member ids per user. */
  readonly #mine = new Map<string, string[]>();
  readonly #outage: OutageLog;
  readonly #timer: ReturnType<typeof setInterval>;
  #next = 0;

  constructor(
    private readonly redis: RedisClient,
    log: Logger,
    /** This process, in member ids. */
    private readonly origin: string,
    private readonly limit: () => number,
    /** How long a session counts after its node's last refresh. */
    readonly ttlMs: number,
    private readonly kind: SlotKind = IMAP_SESSIONS,
  ) {
    this.#outage = new OutageLog(log, kind.what, kind.fallback);
    this.#timer = setInterval(() => this.refresh(), ttlMs / 3);
  }

  /** Takes a slot when the user's sessions on every node are below the limit. */
  async enter(address: string): Promise<boolean> {
    const member = `${this.origin}:${++this.#next}:${randomBytes(3).toString("hex")}`;
    let admitted: boolean;
    try {
      const added = await this.redis.eval(
        ENTER,
        1,
        this.kind.key(address),
        this.limit(),
        member,
        this.ttlMs,
      );
      this.#outage.succeeded();
      admitted = added === 1;
    } catch (err) {
      this.#outage.failed(err);
      admitted = (this.#mine.get(address)?.length ?? 0) < this.limit();
    }
    if (admitted) {
      // Looked up after the await: another enter for this user may have made the list meanwhile.
      const mine = this.#mine.get(address) ?? [];
      mine.push(member);
      this.#mine.set(address, mine);
    }
    return admitted;
  }

  /** Gives a slot back, here and in Redis. */
  leave(address: string): void {
    const mine = this.#mine.get(address);
    const member = mine?.pop();
    if (!member) return;
    if (mine!.length === 0) this.#mine.delete(address);
    this.redis.zrem(this.kind.key(address), member).then(
      () => this.#outage.succeeded(),
      (err: Error) => this.#outage.failed(err),
    );
  }

  /** Sessions this node has open for `address`. */
  localCount(address: string): number {
    return this.#mine.get(address)?.length ?? 0;
  }

  /** Keeps this node's sessions counted (also puts back those opened during an outage). */
  async refresh(): Promise<void> {
    const all = [...this.#mine.entries()];
    if (all.length === 0) return;
    try {
      const pipeline = this.redis.pipeline();
      for (const [address, members] of all) {
        pipeline.eval(REFRESH, 1, this.kind.key(address), this.ttlMs, ...members);
      }
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0];
      this.#outage.succeeded();
    } catch (err) {
      this.#outage.failed(err);
    }
  }

  /** Stops refreshing; the sessions expire from Redis within the lifetime (shutdown, tests). */
  stop(): void {
    clearInterval(this.#timer);
  }
}

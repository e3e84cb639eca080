/**
 * POP3 maildrop locks across nodes (RFC 1939 §8 lets a server hold one session per maildrop).
 *
 * A lock is one Redis key set with `SET NX PX` to a random token: only the holder knows the
 * token, so only the holder can refresh or delete it (both check the token in one script). The
 * holder refreshes it every third of its lifetime; a node that dies (SIGKILL, power loss) stops
 * refreshing and its locks expire within one lifetime. When Redis cannot be reached, `acquire`
 * throws: a POP3 session answers "try again later" rather than risk two sessions deleting from
 * one maildrop.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../../log.ts";
import type { MaildropLockPort } from "../coordinator.ts";
import { StoreError } from "../mail_store.ts";
import { KEY_PREFIX, OutageLog, type RedisClient } from "./redis_link.ts";

/** The key of `address`'s maildrop lock. */
export function maildropLockKey(address: string): string {
  return `${KEY_PREFIX}lock:maildrop:${address}`;
}

/** Extends the lock's life when the token is still ours; 1 when it was. */
const REFRESH = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** Deletes the lock when the token is still ours. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

interface Held {
  token: string;
  timer: ReturnType<typeof setInterval> | undefined;
}

/** Maildrop locks in Redis. */
export class RedisMaildropLocks implements MaildropLockPort {
  readonly #held = new Map<string, Held>();
  readonly #outage: OutageLog;

  constructor(
    private readonly redis: RedisClient,
    private readonly log: Logger,
    /** How long a lock outlives its last refresh. */
    readonly ttlMs: number,
  ) {
    this.#outage = new OutageLog(log, "maildrop locks", "POP3 logins answer -ERR [SYS/TEMP]");
  }

  /** Takes the lock in Redis; false when held anywhere, throws when Redis cannot be asked. */
  async acquire(address: string): Promise<boolean> {
    // A second session here needs no round trip, and must not overwrite the first's token.
    if (this.#held.has(address)) return false;
    const token = randomBytes(12).toString("hex");
    const placeholder: Held = { token, timer: undefined };
    this.#held.set(address, placeholder);
    let answer: string | null;
    try {
      answer = await this.redis.set(maildropLockKey(address), token, "PX", this.ttlMs, "NX");
      this.#outage.succeeded();
    } catch (err) {
      this.#held.delete(address);
      this.#outage.failed(err);
      throw new StoreError(
        `the maildrop lock cannot be taken: ${(err as Error).message}`,
        "unavailable",
      );
    }
    if (answer !== "OK") {
      this.#held.delete(address);
      return false;
    }
    placeholder.timer = setInterval(() => this.#refresh(address, token), this.ttlMs / 3);
    return true;
  }

  /** Deletes the lock if it is still ours; when Redis is down it expires on its own. */
  release(address: string): void {
    const held = this.#held.get(address);
    if (!held) return;
    this.#held.delete(address);
    clearInterval(held.timer);
    this.redis.eval(RELEASE, 1, maildropLockKey(address), held.token).then(
      () => this.#outage.succeeded(),
      (err: Error) => this.#outage.failed(err),
    );
  }

  /** Addresses locked by this process. */
  get held(): string[] {
    return [...this.#held.keys()];
  }

  /** Stops refreshing and deletes every lock of this process (shutdown). */
  async releaseAll(): Promise<void> {
    const all = [...this.#held.entries()];
    this.#held.clear();
    await Promise.all(all.map(([address, held]) => {
      clearInterval(held.timer);
      return this.redis.eval(RELEASE, 1, maildropLockKey(address), held.token).catch(() => {});
    }));
  }

  /** Stops refreshing without deleting: what a killed process leaves behind (tests). */
  abandonAll(): void {
    for (const held of this.#held.values()) clearInterval(held.timer);
    this.#held.clear();
  }

  async #refresh(address: string, token: string): Promise<void> {
    try {
      const kept = await this.redis.eval(REFRESH, 1, maildropLockKey(address), token, this.ttlMs);
      this.#outage.succeeded();
      if (kept !== 1 && this.#held.get(address)?.token === token) {
        // Expired during an outage longer than its lifetime, or removed by hand: another node
        // may hold it now. The session goes on; its deletions at QUIT are by UID, and a UID
        // already expunged by the other session is skipped by the store.
        this.log.warn("pop3.lock.lost", { user: address });
      }
    } catch (err) {
      this.#outage.failed(err);
    }
  }
}

/**
 * The coordinator port: what sessions on several nodes must agree on beyond the store — the
 * POP3 maildrop lock (RFC 1939 §8: one session per maildrop), the number of IMAP sessions a
 * user has open, and the failed logins per client address.
 *
 * In one process the answers live in memory ({@link InProcessCoordinator}); with `redis.url`
 * set they live in Redis (`src/store/redis/redis_coordinator.ts`), with expiry so a node that
 * dies without cleaning up stops counting within seconds.
 */
import { MaildropLocks } from "../mail/maildrop.ts";
import { UserSessionCounter } from "../imap/user_sessions.ts";

/** The exclusive lock of a POP3 maildrop, one holder per address. */
export interface MaildropLockPort {
  /**
   * Takes the lock; false when another session (here or on another node) holds it. Throws
   * when it cannot be decided now (the coordinator is unreachable): the caller answers "try
   * again later" rather than risk two sessions on one maildrop.
   */
  acquire(address: string): boolean | Promise<boolean>;
  /** Gives the lock back; a lock not held is ignored. */
  release(address: string): void;
}

/** IMAP sessions per user, counted against a limit. */
export interface SessionSlots {
  /** Takes a slot for `address`; false when the user has too many sessions. */
  enter(address: string): boolean | Promise<boolean>;
  /** Gives back a slot taken by `enter`. */
  leave(address: string): void;
}

/** Failed logins per client address, shared by the nodes (the login guard keeps its own too). */
export interface SharedFailures {
  /** Failures recorded for `ip` by any node within the last `windowMs`; 0 when unknown. */
  count(ip: string, windowMs: number): Promise<number>;
  /** Records a failure of `ip`, forgotten after `windowMs`. Never throws. */
  record(ip: string, windowMs: number): Promise<void>;
}

/** The port. */
export interface Coordinator {
  readonly maildropLocks: MaildropLockPort;
  /** The IMAP session slots, with a limit read at each login (SIGHUP may change it). */
  userSessions(limit: () => number): SessionSlots;
  /** Shared failure counts; undefined when there is nothing beyond the local guard. */
  readonly authFailures: SharedFailures | undefined;
  /**
   * Connections per client address counted across the nodes, on top of the listener's own
   * count; absent when there is nothing beyond it (one process).
   */
  connectionsPerIp?(limit: () => number): SessionSlots;
  close(): Promise<void>;
}

/** One process on its own: today's behaviour, everything in memory. */
export class InProcessCoordinator implements Coordinator {
  readonly maildropLocks = new MaildropLocks();
  readonly authFailures = undefined;

  userSessions(limit: () => number): SessionSlots {
    return new UserSessionCounter(limit);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

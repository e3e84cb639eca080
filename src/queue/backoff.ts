/**
 * The retry schedule: minutes at first (greylisting, RFC 6647 §2.1, usually lifts within
 * minutes), growing to hours, then every 4 hours until the message is older than `max_age`
 * (RFC 5321 §4.5.4.1: retry at least 30 minutes apart, give up after 4-5 days).
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Delay after the 1st, 2nd, … failed attempt; the last one repeats. */
export const RETRY_SCHEDULE_MS: readonly number[] = [
  1 * MINUTE,
  5 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  1 * HOUR,
  2 * HOUR,
  4 * HOUR,
];

/** Spread of retry times, so mail deferred together does not all come back at once. */
export interface Jitter {
  /** Fraction of the delay added at most, e.g. 0.1 for up to +10%; 0 for none. */
  fraction: number;
  /** A number in [0, 1); `Math.random` by default. */
  random?: () => number;
}

/**
 * The wait after `attempts` attempts (1 or more) that left the message pending, in
 * milliseconds.
 */
export function retryDelay(attempts: number, jitter?: Jitter): number {
  const index = Math.min(Math.max(Math.floor(attempts), 1), RETRY_SCHEDULE_MS.length) - 1;
  const base = RETRY_SCHEDULE_MS[index];
  if (!jitter || jitter.fraction <= 0) return base;
  return base + Math.floor(base * jitter.fraction * (jitter.random ?? Math.random)());
}

/** When a message that arrived at `arrivedAt` expires (`outbound.max_age`). */
export function expiresAt(arrivedAt: number, maxAgeMs: number): number {
  return arrivedAt + maxAgeMs;
}

/** Has the message outlived `max_age` at `now`? */
export function isExpired(now: number, arrivedAt: number, maxAgeMs: number): boolean {
  return now >= expiresAt(arrivedAt, maxAgeMs);
}

/**
 * The next attempt after `attempts` attempts at `now`, but never past the expiry time: the
 * last attempt happens when the message expires, and a deferral then fails it.
 */
export function nextAttemptAt(
  now: number,
  attempts: number,
  arrivedAt: number,
  maxAgeMs: number,
  jitter?: Jitter,
): number {
  return Math.min(now + retryDelay(attempts, jitter), expiresAt(arrivedAt, maxAgeMs));
}

/** A duration in words for people: "5 days", "1 day", "36 hours", "90 minutes". */
export function formatDuration(ms: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (ms >= DAY && ms % DAY === 0) return plural(ms / DAY, "day");
  if (ms >= HOUR && ms % HOUR === 0) return plural(ms / HOUR, "hour");
  if (ms >= MINUTE) return plural(Math.round(ms / MINUTE), "minute");
  return plural(Math.round(ms / 1000), "second");
}

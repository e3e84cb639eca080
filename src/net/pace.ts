/**
 * How slowly a client may send. The idle timeout alone is reset by every octet, so a client
 * trickling one octet a second ("slowloris") would hold its connection, and its slot, forever.
 * Two rules bound that, in the spirit of Postfix's per-read timeout plus a deadline for the
 * whole request: a command line must arrive whole within a fixed time of its first octet, and
 * message content (SMTP DATA and BDAT, IMAP literals) must keep a minimum average rate once a
 * grace period has passed. Pure functions; the connection applies them to its waits.
 */

/** The pacing limits of a connection (`[limits]` line_deadline, min_data_rate). */
export interface PaceLimits {
  /** Milliseconds a command line may take from its first octet to its LF. */
  lineDeadlineMs: number;
  /** Octets per second message content must average after the grace period. */
  minDataRate: number;
  /** Milliseconds at the start of a transfer that need no octets (the command timeout). */
  dataGraceMs: number;
}

/** What is being read under a deadline. */
export type PacedRead = "line" | "data";

/** A read in progress: when it began and the connection's octet count at that moment. */
export interface Pace {
  read: PacedRead;
  /** Milliseconds since the epoch. */
  startedAt: number;
  /** The connection's received-octet count when the read began (already buffered excluded). */
  base: number;
}

/** Why a read was cut for slowness: for the log, never the octets themselves. */
export interface TooSlow {
  read: PacedRead;
  /** Octets of the line or transfer received when it was cut. */
  octets: number;
  /** Milliseconds the line or transfer had lasted. */
  elapsedMs: number;
}

/**
 * When a read must have made progress by, given the `octets` it received so far. A line has a
 * fixed deadline. A transfer may last the grace period plus one second for every
 * `minDataRate` octets received: a client keeping the minimum average rate after the grace
 * never reaches its deadline, one that falls below it does.
 */
export function paceDeadline(pace: Pace, octets: number, limits: PaceLimits): number {
  if (pace.read === "line") return pace.startedAt + limits.lineDeadlineMs;
  return pace.startedAt + limits.dataGraceMs + (octets * 1000) / limits.minDataRate;
}

/**
 * How long the connection waits for more input: the idle timeout, or less when the read's
 * deadline comes first (then `slow` is true, and the wait ending means the client was too
 * slow rather than idle). A deadline already past gives a wait of 0.
 */
export function nextWait(
  idleMs: number,
  deadline: number | undefined,
  now: number,
): { ms: number; slow: boolean } {
  if (deadline === undefined || deadline - now >= idleMs) return { ms: idleMs, slow: false };
  return { ms: Math.max(0, deadline - now), slow: true };
}

/**
 * Slows down and then stops password guessing: every failed login costs the client a delay,
 * and an address with too many recent failures is refused for a while, whichever protocol it
 * uses (POP3 and IMAP logins, SMTP AUTH).
 *
 * The check and the count are one synchronous step: an attempt takes a slot of its address's
 * budget before its password is looked at, so attempts in flight count as if they had failed.
 * A burst of simultaneous guesses therefore cannot all pass the check before the first failure
 * is recorded: at most `maxFailuresPerIp` of them ever reach a password check.
 *
 * The costly check (the password KDF) runs for one attempt per address at a time; the others
 * from that address wait their turn. The wait needs no bound of its own: only attempts holding a
 * slot wait, so at most `maxFailuresPerIp` per address do, and everything past the budget is
 * refused at once without any work. A cheap check (the login cache) runs at once, so a client
 * that logged in before is not held up behind the KDF of another connection.
 */

/** Settings of a {@link LoginGuard}; changed in place on a config reload. */
export interface LoginGuardOptions {
  /** Pause before answering a failed login. */
  failureDelayMs: number;
  /** Failed and in-flight logins from one IP within `windowMs` after which it is refused. */
  maxFailuresPerIp: number;
  /** How long a failure counts against its address. */
  windowMs: number;
  /** Clock in milliseconds; injectable for tests. */
  now?: () => number;
}

/** The two ways an attempt can be checked; each resolves to undefined when it cannot admit. */
export interface LoginCheck<T> {
  /**
   * Cheap and unable to fail a good password (a login-cache lookup): run at once, beside other
   * attempts of the same address. Undefined means "not known here", not "wrong".
   */
  quick?: () => Promise<T | undefined>;
  /** The real check (the KDF), run one at a time per address. Undefined means wrong. */
  full: () => Promise<T | undefined>;
}

/** What an attempt came to: the check's value, a wrong password, or refused untried. */
export type GuardedResult<T> = T | "bad" | "blocked";

interface Peer {
  /** Times of recent failures, oldest first. */
  failures: number[];
  /** Attempts holding a slot: started and not yet ended as a success or a failure. */
  inFlight: number;
  /** Settles when the last full check queued for this address has ended. */
  tail: Promise<void>;
}

/** Counts login attempts and failures per client IP and runs their checks under that count. */
export class LoginGuard {
  readonly #peers = new Map<string, Peer>();
  readonly #now: () => number;
  #nextSweep = 0;

  /** Creates a guard; `opts` stays live, so a reload may change its fields. */
  constructor(public opts: LoginGuardOptions) {
    this.#now = opts.now ?? Date.now;
  }

  /** Addresses tracked now (with failures in the window or attempts in flight). */
  get size(): number {
    return this.#peers.size;
  }

  /**
   * Runs one login attempt from `ip`. It is refused ("blocked") without any check when the
   * address's recent failures plus its attempts in flight reach the limit; otherwise it holds
   * a slot until it ends: a success gives the slot back, a failure keeps it as a failure and
   * then waits out the failure delay. Errors of the checks give the slot back and propagate.
   */
  async attempt<T>(ip: string, check: LoginCheck<T>): Promise<GuardedResult<T>> {
    const peer = this.#enter(ip);
    if (!peer) return "blocked";
    let holding = true;
    try {
      const known = await check.quick?.();
      if (known !== undefined) return known;
      const previous = peer.tail;
      let done!: () => void;
      peer.tail = new Promise((resolve) => done = resolve);
      try {
        await previous;
        const result = await check.full();
        if (result !== undefined) return result;
        // The slot becomes the failure in the same step: the budget never shows a gap.
        holding = false;
        peer.inFlight--;
        peer.failures.push(this.#now());
      } finally {
        // The next attempt's KDF may start now; this one's delay below is not KDF work.
        done();
      }
      await new Promise((resolve) => setTimeout(resolve, this.opts.failureDelayMs));
      return "bad";
    } finally {
      if (holding) peer.inFlight--;
      // A sweep may have replaced this record meanwhile (during the failure delay).
      const idle = peer.inFlight === 0 && peer.failures.length === 0;
      if (idle && this.#peers.get(ip) === peer) this.#peers.delete(ip);
    }
  }

  /** Takes a slot for `ip`, or undefined when its budget is spent. Synchronous on purpose. */
  #enter(ip: string): Peer | undefined {
    const now = this.#now();
    if (now >= this.#nextSweep) this.#sweep(now);
    let peer = this.#peers.get(ip);
    if (peer) {
      this.#expire(peer, now);
    } else {
      peer = { failures: [], inFlight: 0, tail: Promise.resolve() };
    }
    if (peer.failures.length + peer.inFlight >= this.opts.maxFailuresPerIp) return undefined;
    peer.inFlight++;
    this.#peers.set(ip, peer);
    return peer;
  }

  /** Drops failures that have left the window. */
  #expire(peer: Peer, now: number): void {
    const since = now - this.opts.windowMs;
    let old = 0;
    while (old < peer.failures.length && peer.failures[old] <= since) old++;
    if (old > 0) peer.failures.splice(0, old);
  }

  /**
   * Forgets addresses with nothing left to count, at most once a window, so addresses that
   * never come back do not stay in memory.
   */
  #sweep(now: number): void {
    for (const [ip, peer] of this.#peers) {
      this.#expire(peer, now);
      if (peer.inFlight === 0 && peer.failures.length === 0) this.#peers.delete(ip);
    }
    this.#nextSweep = now + this.opts.windowMs;
  }
}

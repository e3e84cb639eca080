/**
 * Slows down and then stops password guessing: every failed login costs the client a delay,
 * and an address with too many recent failures is refused for a while, whichever protocol it
 * uses (POP3 and IMAP logins, SMTP AUTH).
 *
 * The password KDF runs for one attempt per address at a time; the others from that address
 * wait their turn. When an attempt's turn comes, the check against the address's failures and
 * the start of its KDF are one synchronous step, and a failure is recorded before the next turn
 * begins: a burst of simultaneous guesses cannot all pass the check before the first failure
 * is recorded, so at most `maxFailuresPerIp` of them ever reach the KDF. Waiting costs nothing
 * but an open connection, which the per-address connection limit bounds.
 *
 * With several nodes, the failures can also be shared (`SharedFailures`, kept in Redis): when an
 * attempt's turn comes, the address's failures on every node are fetched first, and the check
 * uses the larger of that count and this node's own. The turns stay per node.
 *
 * The login cache proves a password without any KDF, so it is asked at once, before the turn
 * and again when the turn comes: many connections of one client logging in together (a mail
 * client opening several, a household behind one address) are not throttled, and the one
 * whose KDF ran first lets the others in through the cache.
 */
import type { SharedFailures } from "../store/coordinator.ts";
import { metrics } from "../metrics/metrics.ts";

/** Settings of a {@link LoginGuard}; changed in place on a config reload. */
export interface LoginGuardOptions {
  /** Pause before answering a failed login. */
  failureDelayMs: number;
  /** Failed logins from one IP within `windowMs` after which its logins are refused. */
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
  /** Times of recent failures here, oldest first. */
  failures: number[];
  /** Failures of this address on every node, as last fetched from the shared count. */
  shared: number;
  /** Attempts started and not yet ended. */
  inFlight: number;
  /** Settles when the last full check queued for this address has ended. */
  tail: Promise<void>;
}

/** Counts login attempts and failures per client IP and runs their checks under that count. */
export class LoginGuard {
  readonly #peers = new Map<string, Peer>();
  readonly #now: () => number;
  #nextSweep = 0;

  /**
   * Creates a guard; `opts` stays live, so a reload may change its fields. With `shared`, the
   * failures are also counted across the nodes.
   */
  constructor(public opts: LoginGuardOptions, private readonly shared?: SharedFailures) {
    this.#now = opts.now ?? Date.now;
  }

  /** Addresses tracked now (with failures in the window or attempts in flight). */
  get size(): number {
    return this.#peers.size;
  }

  /**
   * Runs one login attempt from `ip`: refused ("blocked") untried when the address has failed
   * too often; else admitted by the quick check, or by the full check in its turn. A failure is
   * counted, then waits out the failure delay. Errors of the checks propagate.
   */
  async attempt<T>(ip: string, check: LoginCheck<T>): Promise<GuardedResult<T>> {
    const peer = this.#enter(ip);
    try {
      if (this.#blocked(peer)) return "blocked";
      const known = await check.quick?.();
      if (known !== undefined) return known;
      const previous = peer.tail;
      let done!: () => void;
      peer.tail = new Promise((resolve) => done = resolve);
      try {
        await previous;
        if (this.shared) peer.shared = await this.shared.count(ip, this.opts.windowMs);
        // The turn has come: check and start the KDF in one step (no await in between but
        // the cache lookup, which cannot start a KDF).
        if (this.#blocked(peer)) return "blocked";
        const cached = await check.quick?.();
        if (cached !== undefined) return cached;
        if (this.#blocked(peer)) return "blocked";
        const result = await check.full();
        if (result !== undefined) return result;
        peer.failures.push(this.#now());
        metrics.authFailures.inc({ mechanism: "password" });
        await this.shared?.record(ip, this.opts.windowMs);
      } finally {
        // The next attempt's KDF may start now; this one's delay below is not KDF work.
        done();
      }
      await new Promise((resolve) => setTimeout(resolve, this.opts.failureDelayMs));
      return "bad";
    } finally {
      peer.inFlight--;
      // A sweep may have replaced this record meanwhile (during the failure delay).
      const idle = peer.inFlight === 0 && peer.failures.length === 0;
      if (idle && this.#peers.get(ip) === peer) this.#peers.delete(ip);
    }
  }

  /** The record of `ip`, counting one more attempt in flight. */
  #enter(ip: string): Peer {
    const now = this.#now();
    if (now >= this.#nextSweep) this.#sweep(now);
    let peer = this.#peers.get(ip);
    if (!peer) {
      peer = { failures: [], shared: 0, inFlight: 0, tail: Promise.resolve() };
      this.#peers.set(ip, peer);
    }
    peer.inFlight++;
    return peer;
  }

  /** True when the address's failures in the window have reached the limit. */
  #blocked(peer: Peer): boolean {
    this.#expire(peer, this.#now());
    return Math.max(peer.failures.length, peer.shared) >= this.opts.maxFailuresPerIp;
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

/**
 * Slows down and then stops password guessing: every failed login costs the client a delay,
 * and an address with too many recent failures is refused for a while, whichever protocol it
 * uses (POP3 and IMAP logins, SMTP AUTH).
 */

/** Settings of a {@link LoginGuard}. */
export interface LoginGuardOptions {
  /** Pause before answering a failed login. */
  failureDelayMs: number;
  /** Failures from one IP within `windowMs` after which its logins are refused. */
  maxFailuresPerIp: number;
  windowMs: number;
  now?: () => number;
}

/** Counts failed logins per client IP. */
export class LoginGuard {
  #failures = new Map<string, number[]>();
  #now: () => number;

  constructor(public opts: LoginGuardOptions) {
    this.#now = opts.now ?? Date.now;
  }

  /** True when `ip` has failed too often lately; its logins must be refused untried. */
  blocked(ip: string): boolean {
    return this.#recent(ip).length >= this.opts.maxFailuresPerIp;
  }

  /** Records a failure and waits out the failure delay. */
  async failed(ip: string): Promise<void> {
    const recent = this.#recent(ip);
    recent.push(this.#now());
    this.#failures.set(ip, recent);
    await new Promise((resolve) => setTimeout(resolve, this.opts.failureDelayMs));
  }

  #recent(ip: string): number[] {
    const since = this.#now() - this.opts.windowMs;
    const recent = (this.#failures.get(ip) ?? []).filter((t) => t > since);
    if (recent.length === 0) this.#failures.delete(ip);
    return recent;
  }
}

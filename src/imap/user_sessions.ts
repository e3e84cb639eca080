/**
 * Open IMAP sessions per user, across the process: Thunderbird opens several, but a client
 * gone wild (or an attacker with a password) must not hold hundreds.
 */
import type { SessionSlots } from "../store/coordinator.ts";

/** Counts sessions per user against a limit read at each login (SIGHUP may change it). */
export class UserSessionCounter implements SessionSlots {
  #open = new Map<string, number>();

  constructor(readonly limit: () => number) {}

  enter(address: string): boolean {
    const n = this.#open.get(address) ?? 0;
    if (n >= this.limit()) return false;
    this.#open.set(address, n + 1);
    return true;
  }

  leave(address: string): void {
    const n = (this.#open.get(address) ?? 1) - 1;
    if (n <= 0) this.#open.delete(address);
    else this.#open.set(address, n);
  }

  /** Sessions open for `address` now. */
  count(address: string): number {
    return this.#open.get(address) ?? 0;
  }
}

import type { CollectionScheduler } from "./collect_garbage.ts";

/**
 * A process-wide budget of message octets held in memory: every session receiving a message
 * takes from it as the content grows and gives back when the message is stored or refused, so
 * many clients sending large messages at once cannot exhaust the server's memory; the one that
 * would overdraw it is told to try later (452 4.3.1, RFC 3463 "mail system full").
 */
export class OctetBudget {
  #used = 0;

  /**
   * @param release told of every give-back, so the memory of large messages is collected soon
   *   after they are done (see collect_garbage.ts); none in tests that do not need it.
   */
  constructor(public limit: number, readonly release?: CollectionScheduler) {}

  /** Octets taken now. */
  get used(): number {
    return this.#used;
  }

  /** Octets that can still be taken. */
  get available(): number {
    return Math.max(0, this.limit - this.#used);
  }

  /** Takes `octets`; false (and nothing taken) when that would pass the limit. */
  take(octets: number): boolean {
    if (this.#used + octets > this.limit) return false;
    this.#used += octets;
    return true;
  }

  /** Gives `octets` back. */
  give(octets: number): void {
    this.#used = Math.max(0, this.#used - octets);
    this.release?.released(octets);
  }
}

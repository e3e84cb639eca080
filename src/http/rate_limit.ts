/**
 * Messages per minute per API token (`http.rate_limit`), counted in fixed one-minute windows:
 * in this process by default, or in Redis (src/store/redis/redis_rate_limit.ts) when the nodes
 * share one, so a token sending through several nodes is counted once.
 */

/** Counts hits of a key per window. */
export interface RateCounter {
  /**
   * Counts one hit of `key` in the current window of `windowMs`; resolves with the hits so far
   * (this one included) and the milliseconds until the window ends.
   */
  hit(key: string, windowMs: number): Promise<{ count: number; resetMs: number }>;
}

/** The in-process counter: one entry per key, dropped when its window is over. */
export class InProcessRateCounter implements RateCounter {
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  hit(key: string, windowMs: number): Promise<{ count: number; resetMs: number }> {
    const now = this.now();
    const start = now - (now % windowMs);
    for (const [k, w] of this.#windows) {
      if (w.start < start) this.#windows.delete(k);
    }
    const w = this.#windows.get(key) ?? { start, count: 0 };
    w.count++;
    this.#windows.set(key, w);
    return Promise.resolve({ count: w.count, resetMs: start + windowMs - now });
  }
}

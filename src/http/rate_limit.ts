/**
 * Messages per minute per API token (`http.rate_limit`), counted in windows that start with a
 * token's first message and last a minute: in this process by default, or in Redis
 * (src/store/redis/redis_rate_limit.ts) when the nodes share one, so a token sending through
 * several nodes is counted once.
 */

/** Counts hits of a key per window. */
export interface RateCounter {
  /**
   * Counts one hit of `key` in its current window of `windowMs` (which starts at the first hit
   * after the last window ended); resolves with the hits so far (this one included) and the
   * milliseconds until the window ends.
   */
  hit(key: string, windowMs: number): Promise<{ count: number; resetMs: number }>;
}

/** The in-process counter: one entry per key, dropped when its window is over. */
export class InProcessRateCounter implements RateCounter {
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  hit(key: string, windowMs: number): Promise<{ count: number; resetMs: number }> {
    const now = this.now();
    for (const [k, w] of this.#windows) {
      if (w.start + windowMs <= now) this.#windows.delete(k);
    }
    const w = this.#windows.get(key) ?? { start: now, count: 0 };
    w.count++;
    this.#windows.set(key, w);
    return Promise.resolve({ count: w.count, resetMs: w.start + windowMs - now });
  }
}

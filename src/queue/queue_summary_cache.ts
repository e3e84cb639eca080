/**
 * The queue's figures for `/metrics`, read at most once per `maxAgeMs`. Summing the queue
 * means `QueueStore.list()`, a full table scan on Cassandra; a Prometheus scraping every few
 * seconds (or several scrapers) must not turn into one scan per scrape. Scrapes that arrive
 * while a read runs share it. The oldest message's age keeps growing between reads, so it stays
 * exact; the counts may lag the queue by up to `maxAgeMs`.
 */
import { type QueueSummary, summarizeQueue } from "./queue_summary.ts";
import type { QueuedMessage } from "./types.ts";

/** How long `/metrics` reuses one reading of the queue. */
export const QUEUE_FIGURES_MAX_AGE_MS = 5_000;

/** A `queueSummary()` that reads the queue through `list` at most once per `maxAgeMs`. */
export function cachedQueueSummary(
  list: () => Promise<QueuedMessage[]>,
  maxAgeMs: number = QUEUE_FIGURES_MAX_AGE_MS,
  now: () => number = Date.now,
): () => Promise<QueueSummary> {
  let last: { at: number; summary: QueueSummary } | undefined;
  let reading: Promise<{ at: number; summary: QueueSummary }> | undefined;
  const read = () => {
    reading ??= list()
      .then((messages) => {
        const at = now();
        last = { at, summary: summarizeQueue(messages, at) };
        return last;
      })
      .finally(() => reading = undefined);
    return reading;
  };
  return async () => {
    const fresh = last && now() - last.at < maxAgeMs ? last : await read();
    const { messages, waiting, oldestAgeMs } = fresh.summary;
    const aged = messages > 0 ? oldestAgeMs + Math.max(0, now() - fresh.at) : 0;
    return { messages, waiting, oldestAgeMs: aged };
  };
}

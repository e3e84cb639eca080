/** The queue's totals, as `fsmtp --queue` ends its listing and `/metrics` reports them. */
import type { QueuedMessage } from "./types.ts";

/** Messages queued, recipients still waiting, and the age of the oldest message. */
export interface QueueSummary {
  messages: number;
  /** Recipients pending delivery. */
  waiting: number;
  /** Milliseconds since the oldest message arrived; 0 for an empty queue. */
  oldestAgeMs: number;
}

/** Sums up `messages` (from `QueueStore.list()`) at `now`. */
export function summarizeQueue(messages: QueuedMessage[], now: number): QueueSummary {
  let waiting = 0;
  let oldest = now;
  for (const m of messages) {
    waiting += m.recipients.filter((r) => r.status === "pending").length;
    oldest = Math.min(oldest, m.arrivedAt);
  }
  return { messages: messages.length, waiting, oldestAgeMs: Math.max(0, now - oldest) };
}

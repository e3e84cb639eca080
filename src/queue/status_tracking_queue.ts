/**
 * A QueueStore that also keeps the delivery status of messages sent through the HTTP API
 * (`GET /api/v1/messages/{id}`): each attempt the runner records for a tracked message is
 * copied into the DeliveryStatusStore, which keeps it after the queue has forgotten the
 * message. Messages not tracked (from SMTP submission, DSNs) pass through unchanged.
 *
 * The status is written after the queue's own record is durable: a crash in between leaves the
 * status one attempt behind, never ahead of what the queue knows.
 */
import type { DeliveryStatusStore, RecipientState } from "../store/delivery_status.ts";
import type { QueueStore } from "./queue_store.ts";
import type { RecipientResult } from "./types.ts";

/** Wraps `queue`; every method but `recordResults` is the queue's own. */
export function trackDeliveryStatus(
  queue: QueueStore,
  statuses: DeliveryStatusStore,
  onError: (err: unknown) => void,
): QueueStore {
  return {
    enqueue: (item) => queue.enqueue(item),
    due: (now, limit) => queue.due(now, limit),
    nextDue: () => queue.nextDue(),
    content: (id) => queue.content(id),
    async recordResults(id, results, next) {
      await queue.recordResults(id, results, next);
      if (results.length === 0) return;
      try {
        await statuses.updateRecipients(id, results.map(toState));
      } catch (err) {
        // The delivery itself is recorded; a status that lags is no reason to retry it.
        onError(err);
      }
    },
    markReported: (id, addresses) => queue.markReported(id, addresses),
    markWarned: (id) => queue.markWarned(id),
    list: () => queue.list(),
    retry: (id) => queue.retry(id),
    remove: (id) => queue.remove(id),
  };
}

/** An attempt's outcome as the API reports it. */
function toState(r: RecipientResult): RecipientState {
  const state = r.status === "delivered"
    ? "delivered"
    : r.status === "failed"
    ? "bounced"
    : "deferred";
  return { address: r.address, state, detail: r.reply, updatedAt: r.at };
}

/**
 * The DeliveryStatusStore port: what became of each recipient of a message sent through the
 * HTTP API (`GET /api/v1/messages/{id}`). The queue forgets a message once it is done; this
 * small record (no content, no headers) outlives it for `http.status_retention`, so a status
 * can be read after delivery.
 *
 * Written when the API accepts a message, and by `StatusTrackingQueue` (src/queue/) whenever
 * the queue records an attempt for a tracked message. Lives in the primary store beside the
 * queue, so every node of a cluster reads the same status.
 *
 * Implementations: `src/store/sqlite/sqlite_delivery_status.ts`,
 * `src/store/cassandra/cassandra_delivery_status.ts`; they pass
 * `tests/contract/api_token_store_contract.ts` (which covers both ports of the HTTP API).
 */

/** Where one recipient stands. */
export type DeliveryState = "queued" | "deferred" | "delivered" | "bounced";

/** One recipient's status. */
export interface RecipientState {
  address: string;
  state: DeliveryState;
  /** The last reply (a deferral's or a bounce's reason); absent before any attempt. */
  detail?: string;
  /** Milliseconds since the epoch of the last change. */
  updatedAt: number;
}

/** A tracked message. */
export interface DeliveryStatusRecord {
  /** The message id the API answered (also its queue id). */
  id: string;
  /** The user who sent it: only their tokens may read it. */
  owner: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  recipients: RecipientState[];
}

/** The port. */
export interface DeliveryStatusStore {
  /**
   * Records a new message with its recipients' first states; records older than `retainMs`
   * are forgotten from then on (pruned or expired, as the backend does it).
   */
  trackMessage(record: DeliveryStatusRecord, retainMs: number): Promise<void>;
  /**
   * Changes recipients of a tracked message; a message not tracked (mail from SMTP
   * submission, or expired) is left alone, and so is an address it does not have.
   */
  updateRecipients(id: string, changes: RecipientState[]): Promise<void>;
  /** The message's record, or undefined when not tracked (or no longer). */
  getStatus(id: string): Promise<DeliveryStatusRecord | undefined>;
}
